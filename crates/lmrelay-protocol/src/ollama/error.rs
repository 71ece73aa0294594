//! Errors in Ollama's shape, `{"error":"message"}`: rendering them for Ollama clients, and
//! reading them from an Ollama upstream (as an HTTP error body or an in-stream line).

use lmrelay_ir::{ApiError, ErrorKind};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// Renders an error for an Ollama client: `(status, {"error":"message"})`. Ollama clients
/// do not know 529, so it becomes 503.
pub fn render_error(err: &ApiError) -> (u16, Vec<u8>) {
    let status = match err.status {
        529 => 503,
        s => s,
    };
    (status, crate::json::to_vec(&json!({"error": err.message})))
}

/// Reads an Ollama upstream's error response: a `{"error":"…"}` body or plain text. The
/// kind follows the status, which is kept.
pub fn decode_error(status: u16, body: &[u8]) -> ApiError {
    let message = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map.get("error").map(error_text),
        _ => None,
    }
    .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    let message = if message.is_empty() {
        format!("The Ollama upstream answered with HTTP status {status}.")
    } else {
        message
    };
    let mut err = ApiError::new(ErrorKind::from_status(status), message).with_status(status);
    if status == 404 && err.message.contains("not found") && err.message.contains("model") {
        err = err.with_code("model_not_found");
    }
    err
}

/// The text of an `error` value: a string, or an object's `message`, or the JSON itself.
fn error_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) => match m.get("message") {
            Some(Value::String(s)) => s.clone(),
            _ => v.to_string(),
        },
        other => other.to_string(),
    }
}

/// An `{"error":…}` found inside a 200 answer or stream. Its kind is guessed from the text;
/// `Server` when nothing more specific shows.
pub(super) fn in_band_error(v: &Value) -> ApiError {
    let message = error_text(v);
    let lower = message.to_ascii_lowercase();
    let kind = if lower.contains("not found") {
        ErrorKind::NotFound
    } else if lower.contains("rate limit") || lower.contains("too many requests") {
        ErrorKind::RateLimited
    } else if lower.contains("overloaded") || lower.contains("server busy") {
        ErrorKind::Overloaded
    } else if lower.contains("timed out") || lower.contains("timeout") {
        ErrorKind::Timeout
    } else if lower.contains("unauthorized") {
        ErrorKind::Authentication
    } else {
        ErrorKind::Server
    };
    ApiError::new(kind, message)
}

/// Parses a body an Ollama upstream sent. A body that does not fit is the upstream's fault,
/// so the error is a 502, not a 400.
pub(super) fn upstream_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorKind::BadGateway,
            format!("The Ollama upstream sent a response lmrelay cannot read: {e}"),
        )
    })
}
