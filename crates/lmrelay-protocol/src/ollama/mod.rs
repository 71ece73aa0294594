//! The Ollama native API (`/api/*`, NDJSON streams), in both roles.
//!
//! Client side (lmrelay serves Ollama clients such as the `ollama` Python library and
//! Open WebUI): [`decode_request`], [`decode_generate`], [`encode_response`],
//! [`encode_generate_response`], [`StreamWriter`], [`render_error`], the listing endpoints
//! ([`encode_tags`], [`encode_show`], [`encode_ps`], [`encode_version`], [`decode_show`]) and
//! embeddings ([`decode_embed`], [`encode_embed`], [`decode_embeddings_legacy`],
//! [`encode_embeddings_legacy`]).
//!
//! Upstream side (lmrelay calls an Ollama server): [`encode_request`], [`decode_response`],
//! [`StreamReader`], [`decode_error`], [`encode_embed_request`], [`decode_embed_response`].
//!
//! Ollama specifics handled here: `stream` defaults to true; tool-call arguments are JSON
//! objects; tool results are `tool` messages naming the tool; images are bare base64;
//! `done_reason` is `stop` even after tool calls; durations are nanoseconds (synthesized
//! from wall-clock time, since lmrelay has no real ones).

mod chat;
mod embed;
mod error;
mod generate;
mod models;
mod options;
mod reader;
mod response;
mod wire;
mod writer;

pub use chat::{decode_request, encode_request};
pub use embed::{
    decode_embed, decode_embed_response, decode_embeddings_legacy, encode_embed,
    encode_embed_request, encode_embeddings_legacy,
};
pub use error::{decode_error, render_error};
pub use generate::{decode_generate, encode_generate_response};
pub use models::{
    decode_show, digest, encode_ps, encode_show, encode_tags, encode_version, ollama_name,
};
pub use reader::StreamReader;
pub use response::{decode_response, encode_load, encode_response};
pub use writer::StreamWriter;

#[cfg(test)]
mod tests;
