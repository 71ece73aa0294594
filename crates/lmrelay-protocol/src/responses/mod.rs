//! The OpenAI Responses API (`POST /v1/responses`, protocols.md §1.11), both directions.
//!
//! Client side: [`decode_request`], [`encode_response`], [`StreamWriter`], [`render_error`];
//! [`history`] for a gateway that keeps responses.
//! Upstream side: [`encode_request`], [`decode_response`], [`StreamReader`], [`decode_error`]
//! (an `openai` provider asked through Responses).
//!
//! Reasoning items carry their `encrypted_content` in the canonical reasoning signature. On
//! the way in from OpenAI it is tagged `openai:` (see [`crate::signature`]) so no other
//! upstream ever sees it; a Responses client gets OpenAI's value back byte-exact, and another
//! provider's signature behind its tag (Anthropic's as `anthropic:`), so that whatever the
//! client sends back reaches the provider that made it.

mod error;
pub mod history;
mod reader;
mod request;
mod response;
mod upstream_request;
mod wire;
mod writer;

pub use error::{decode_error, render_error};
pub use reader::StreamReader;
pub use request::decode_request;
pub use response::{decode_response, encode_response};
pub use upstream_request::encode_request;
pub use writer::StreamWriter;

use crate::signature::{is_tagged, openai, parse_openai};

/// The tag of a bare (Anthropic) signature shown to a Responses client.
const ANTHROPIC: &str = "anthropic:";

/// A canonical reasoning signature as a client's `encrypted_content`.
pub(crate) fn signature_to_client(signature: &str) -> String {
    if let Some(raw) = parse_openai(signature) {
        raw.to_owned()
    } else if is_tagged(signature) {
        signature.to_owned()
    } else {
        format!("{ANTHROPIC}{signature}")
    }
}

/// A client's `encrypted_content` as a canonical reasoning signature: untagged values are
/// OpenAI's own.
pub(crate) fn signature_from_client(encrypted: &str) -> String {
    if let Some(bare) = encrypted.strip_prefix(ANTHROPIC) {
        bare.to_owned()
    } else if is_tagged(encrypted) {
        encrypted.to_owned()
    } else {
        openai(encrypted)
    }
}

#[cfg(test)]
mod tests;
