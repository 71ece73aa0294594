//! The AWS Bedrock Converse codec, protocols.md §6. Upstream side only: no client speaks
//! Converse to lmrelay.
//!
//! - [`encode_request`]: a canonical request as a `Converse` / `ConverseStream` body.
//! - [`decode_response`]: a `Converse` answer.
//! - [`StreamReader`]: a `ConverseStream` answer, the AWS binary event-stream
//!   ([`eventstream`] does the framing), as canonical events (recipe H of §10.10).
//! - [`decode_error`]: error bodies with the `x-amzn-errortype` header, and exception frames.
//!
//! Conventions at this edge: roles are `user`/`assistant`, strictly alternating, starting
//! with `user`; tool results are `toolResult` blocks in user turns; reasoning signatures and
//! redacted reasoning from Bedrock travel behind the `bedrock:` tag of `crate::signature`
//! and go back byte-exact to Bedrock only; `inputTokens` excludes cache reads and writes, as
//! Anthropic's `input_tokens` does.

mod error;
pub mod eventstream;
mod reader;
mod request;
mod response;

#[cfg(test)]
mod tests;

pub use error::{decode_error, error_type};
pub use reader::StreamReader;
pub use request::{encode_count_tokens_request, encode_request, is_claude};
pub use response::{decode_count_tokens, decode_response};
