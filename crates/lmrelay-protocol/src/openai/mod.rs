//! The OpenAI wire format: Chat Completions, legacy Completions, Embeddings and Models.
//!
//! Client side: [`decode_request`], [`encode_response`], [`StreamWriter`], [`render_error`].
//! Upstream side: [`encode_request`], [`decode_response`], [`StreamReader`], [`decode_error`].
//! OpenAI-compatible vendors (Groq, DeepSeek, vLLM, …) use the upstream side; their quirks
//! (reasoning under `reasoning_content` or `reasoning`, usage in odd places, `finish_reason`
//! of `""` or `eos`) are absorbed here.

mod completions;
mod embed;
mod error;
mod models;
mod reader;
mod request;
mod response;
mod writer;

pub use completions::{decode_completion_request, encode_completion_response};
pub use embed::{
    decode_embed_request, decode_embed_response, encode_embed_request, encode_embed_response,
};
pub use error::{decode_error, error_type, render_error};
pub use models::{encode_model, encode_models};
pub use reader::StreamReader;
pub use request::{decode_request, encode_request};
pub use response::{answer_summary, decode_response, encode_response, finish_reason_str};
pub use writer::{StreamMode, StreamWriter};

#[cfg(test)]
mod tests;
