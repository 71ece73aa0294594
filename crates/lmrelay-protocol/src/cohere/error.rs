//! Cohere error bodies: an HTTP status with `{"message": …}` (protocols.md §7; some
//! gateways in front of Cohere answer with `{"error": …}` or plain text, read too).

use crate::json;
use lmrelay_ir::{ApiError, ErrorKind};
use serde_json::Value;

/// Reads an upstream Cohere error response.
pub fn decode_error(status: u16, body: &[u8]) -> ApiError {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let message = parsed.as_ref().and_then(|v| {
        v.get("message")
            .or_else(|| v.get("error").and_then(|e| e.get("message").or(Some(e))))
            .and_then(Value::as_str)
            .filter(|m| !m.trim().is_empty())
            .map(str::to_owned)
    });
    let message = match message {
        Some(m) => m,
        None if body.iter().all(u8::is_ascii_whitespace) => {
            format!("Cohere returned HTTP {status} with an empty body.")
        }
        None => format!("Cohere returned HTTP {status}: {}", json::snippet(body)),
    };
    let kind = match status {
        // Cohere's "invalid token" status.
        498 => ErrorKind::Authentication,
        // Payment required: the trial or billing limit is spent.
        402 => ErrorKind::QuotaExceeded,
        // Client closed request: nothing the client did wrong.
        499 => ErrorKind::Server,
        s => ErrorKind::from_status(s),
    };
    let status = if status == 498 { 401 } else { status };
    ApiError::new(kind, message).with_status(status)
}
