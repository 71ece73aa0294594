//! Codec tests for the Gemini module: requests (with schema cleaning), answers, streams fed
//! in pieces, errors and the other endpoints.

mod errors;
mod reader;
mod request;
mod response;
mod schema;

use serde_json::Value;

/// Parses a JSON body.
pub(super) fn value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("valid JSON")
}
