//! openai codec.
