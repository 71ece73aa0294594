//! The Cohere v2 codec, protocols.md §7. Upstream side only: no client speaks Cohere to
//! lmrelay.
//!
//! - [`encode_request`]: a canonical request as a `POST /v2/chat` body (streamed or not).
//! - [`decode_response`], [`StreamReader`]: answers and SSE streams (`message-start` …
//!   `message-end`, recipe I of §10.10).
//! - [`decode_error`]: error bodies (`{"message": …}`), over HTTP and inside streams.
//! - [`encode_embed_request`], [`decode_embed_response`]: `POST /v2/embed`.
//!
//! Conventions at this edge: tool results become `tool` messages (ahead of the rest of the
//! user turn that carried them); an assistant's `tool_plan` is canonical reasoning text (and
//! goes back as `tool_plan` next to the tool calls it planned); tool-call arguments are
//! strings on the wire, as in OpenAI.

mod error;
mod reader;
mod request;
mod response;

#[cfg(test)]
mod tests;

pub use error::decode_error;
pub use reader::StreamReader;
pub use request::{encode_embed_request, encode_request};
pub use response::{decode_embed_response, decode_response, finish_reason};
