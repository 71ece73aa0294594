//! The Google Gemini (Generative Language API, `v1beta`) codec, protocols.md §4. Upstream
//! side only: no client speaks Gemini to lmrelay.
//!
//! - [`encode_request`]: a canonical request as a `generateContent` body (also used for
//!   `streamGenerateContent?alt=sse`); [`encode_count_tokens_request`] for `countTokens`.
//! - [`decode_response`], [`StreamReader`]: answers and SSE streams.
//! - [`decode_error`]: error bodies, over HTTP and inside streams.
//! - [`encode_embed_request`], [`decode_embed_response`], [`decode_count_tokens`],
//!   [`decode_models`]: the other endpoints.
//! - [`clean_schema`], [`function_parameters`]: JSON Schema → Gemini's OpenAPI subset.
//!
//! Layout: `wire` holds the private serde mirrors; `request`, `response`, `reader`, `error`,
//! `schema` and `other` translate.
//!
//! Conventions at this edge: roles are `user`/`model`; function calls carry no id (ids are
//! made up stably for the canonical form, results are matched by name); thought signatures
//! travel in the canonical reasoning signature behind a Gemini tag (`crate::signature`).

mod error;
mod other;
mod reader;
mod request;
mod response;
mod schema;
mod wire;

#[cfg(test)]
mod tests;

pub use error::decode_error;
pub use other::{decode_count_tokens, decode_embed_response, decode_models, encode_embed_request};
pub use reader::StreamReader;
pub use request::{encode_count_tokens_request, encode_request, SKIP_SIGNATURE};
pub use response::decode_response;
pub use schema::{clean_schema, function_parameters};
