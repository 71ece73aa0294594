//! The Anthropic Messages codec (protocols.md §2), both directions.
//!
//! Client side (lmrelay serves Anthropic clients such as the official SDKs and Claude Code):
//! [`decode_request`], [`decode_count_tokens`], [`encode_response`], [`StreamWriter`],
//! [`render_error`], [`encode_count_tokens`], [`encode_models`], [`encode_model`].
//!
//! Upstream side (lmrelay calls api.anthropic.com): [`encode_request`], [`decode_response`],
//! [`StreamReader`], [`decode_error`].
//!
//! Layout: `wire` holds the private serde mirrors of the format; `client_request` and
//! `upstream_request` translate requests, `response` non-streamed answers, `writer` and
//! `reader` streams, `error` error bodies, `models` listings.
//!
//! Usage convention at this edge: Anthropic's `input_tokens` excludes cache reads and writes;
//! the canonical `Usage::input` includes them. Every function here converts.

mod client_request;
mod error;
mod models;
mod reader;
mod response;
mod upstream_request;
mod wire;
mod writer;

#[cfg(test)]
mod tests;

pub use client_request::{decode_count_tokens, decode_request};
pub use error::{decode_error, error_type, render_error, status_for};
pub use models::{encode_count_tokens, encode_model, encode_models};
pub use reader::StreamReader;
pub use response::{answer_summary, decode_response, encode_response};
pub use upstream_request::encode_request;
pub use writer::StreamWriter;
