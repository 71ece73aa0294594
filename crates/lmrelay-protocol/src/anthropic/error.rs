//! Anthropic error bodies, both ways: rendering canonical errors for Anthropic clients, and
//! reading Anthropic's error bodies (HTTP errors and in-stream `error` events) into canonical
//! errors.

use super::wire::{OutError, OutFrame, WireErrorBody};
use crate::json;
use lmrelay_ir::{ApiError, ErrorKind};

/// How many characters of a non-JSON error body an error message quotes.
const BODY_EXCERPT_CHARS: usize = 200;

/// The Anthropic `error.type` for a canonical error (also used by the stream writer).
pub fn error_type(err: &ApiError) -> &'static str {
    if err.kind == ErrorKind::Overloaded {
        return "overloaded_error";
    }
    match err.status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        500.. => "api_error",
        _ => "invalid_request_error",
    }
}

/// The status an Anthropic client gets for `err`: the one lmrelay decided (an upstream 529
/// stays 529 inside streams; when every upstream failed the gateway answers 503, as
/// product.md says, with `overloaded_error` as the type).
pub fn status_for(err: &ApiError) -> u16 {
    err.status
}

/// Renders `err` as an Anthropic error response: (status, body).
pub fn render_error(err: &ApiError) -> (u16, Vec<u8>) {
    (status_for(err), json::to_vec(&error_frame(err)))
}

/// Reads an upstream Anthropic error response. The status is kept as given; the kind comes
/// from `error.type`, or from the status when the body does not say.
pub fn decode_error(status: u16, body: &[u8]) -> ApiError {
    let parsed = serde_json::from_slice::<serde_json::Value>(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let (kind_name, message) = match error {
        Some(serde_json::Value::Object(e)) => (
            e.get("type").and_then(|t| t.as_str()),
            e.get("message").and_then(|m| m.as_str()).map(str::to_owned),
        ),
        Some(serde_json::Value::String(s)) => (None, Some(s.clone())),
        _ => (
            None,
            parsed
                .as_ref()
                .and_then(|v| v.get("message"))
                .and_then(|m| m.as_str())
                .map(str::to_owned),
        ),
    };
    let kind = kind_name
        .and_then(kind_for_type)
        .unwrap_or_else(|| ErrorKind::from_status(status));
    let message = match message {
        Some(m) if !m.trim().is_empty() => m,
        _ => fallback_message(status, body),
    };
    ApiError::new(kind, message).with_status(status)
}

/// The error an in-stream `error` event carries.
pub(super) fn stream_error(body: &WireErrorBody) -> ApiError {
    let kind = body
        .kind
        .as_deref()
        .and_then(kind_for_type)
        .unwrap_or(ErrorKind::Server);
    let status = match kind {
        ErrorKind::Overloaded => 529,
        ErrorKind::QuotaExceeded => 402,
        other => other.default_status(),
    };
    let message = match body.message.as_deref() {
        Some(m) if !m.trim().is_empty() => m.to_owned(),
        _ => format!(
            "Anthropic reported an error in the stream ({}).",
            body.kind.as_deref().unwrap_or("unknown")
        ),
    };
    ApiError::new(kind, message).with_status(status)
}

/// The `{"type":"error","error":{…}}` frame for `err`.
pub(super) fn error_frame(err: &ApiError) -> OutFrame<'_> {
    OutFrame::Error {
        error: OutError {
            kind: error_type(err),
            message: &err.message,
        },
    }
}

/// The canonical kind of an Anthropic `error.type`.
fn kind_for_type(kind: &str) -> Option<ErrorKind> {
    Some(match kind {
        "invalid_request_error" => ErrorKind::InvalidRequest,
        "authentication_error" => ErrorKind::Authentication,
        "billing_error" => ErrorKind::QuotaExceeded,
        "permission_error" => ErrorKind::PermissionDenied,
        "not_found_error" => ErrorKind::NotFound,
        "request_too_large" => ErrorKind::RequestTooLarge,
        "rate_limit_error" => ErrorKind::RateLimited,
        "api_error" => ErrorKind::Server,
        "overloaded_error" => ErrorKind::Overloaded,
        "timeout_error" => ErrorKind::Timeout,
        _ => return None,
    })
}

fn fallback_message(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return format!("Anthropic returned HTTP {status} with an empty body.");
    }
    let mut excerpt: String = text.chars().take(BODY_EXCERPT_CHARS).collect();
    if text.chars().nth(BODY_EXCERPT_CHARS).is_some() {
        excerpt.push('…');
    }
    format!("Anthropic returned HTTP {status}: {excerpt}")
}
