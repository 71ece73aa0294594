//! ollama codec.
