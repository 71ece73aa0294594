//! Reading Gemini error bodies (protocols.md §4.6): `{"error":{"code","message","status",
//! "details"}}`, also wrapped in an array (what `streamGenerateContent` without `alt=sse`
//! sends) and inside a stream.
//!
//! The kind comes from the gRPC `status` name, else from the HTTP status. Two details
//! matter: `ErrorInfo.reason = API_KEY_INVALID` (Gemini answers a bad key with 400) is an
//! authentication failure, reported as 401 so the key is rotated; a `RetryInfo.retryDelay`
//! becomes the retry-after.

use crate::json;
use lmrelay_ir::{ApiError, ErrorKind};
use serde_json::Value;

/// Reads an upstream Gemini error response.
pub fn decode_error(status: u16, body: &[u8]) -> ApiError {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let error = parsed.as_ref().and_then(|v| match v {
        Value::Array(items) => items.first().and_then(|i| i.get("error")),
        other => other.get("error"),
    });
    match error {
        Some(e) if e.is_object() => error_from_body(e, status),
        _ => {
            let message = if body.iter().all(u8::is_ascii_whitespace) {
                format!("Gemini returned HTTP {status} with an empty body.")
            } else {
                format!("Gemini returned HTTP {status}: {}", json::snippet(body))
            };
            ApiError::new(ErrorKind::from_status(status), message).with_status(status)
        }
    }
}

/// The canonical error of a Gemini `error` object; `status` is the HTTP status it came with
/// (`code` wins when present).
pub(super) fn error_from_body(error: &Value, status: u16) -> ApiError {
    let code = error
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..600).contains(c))
        .unwrap_or(status);
    let status_name = error.get("status").and_then(Value::as_str);
    let details = error
        .get("details")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let key_invalid = details
        .iter()
        .any(|d| d.get("reason").and_then(Value::as_str) == Some("API_KEY_INVALID"));
    let (kind, code) = if key_invalid {
        (ErrorKind::Authentication, 401)
    } else {
        (
            status_name
                .and_then(|s| kind_for_status(s, code))
                .unwrap_or_else(|| ErrorKind::from_status(code)),
            code,
        )
    };
    let message = match error.get("message").and_then(Value::as_str) {
        Some(m) if !m.trim().is_empty() => m.to_owned(),
        _ => format!(
            "Gemini reported an error ({}).",
            status_name.unwrap_or("no status")
        ),
    };
    ApiError::new(kind, message)
        .with_status(code)
        .with_retry_after(retry_delay(details))
}

/// The canonical kind of a gRPC status name.
fn kind_for_status(name: &str, code: u16) -> Option<ErrorKind> {
    Some(match name {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => ErrorKind::InvalidRequest,
        "UNAUTHENTICATED" => ErrorKind::Authentication,
        "PERMISSION_DENIED" => ErrorKind::PermissionDenied,
        "NOT_FOUND" => ErrorKind::NotFound,
        // 402: prepaid credit exhausted; retrying does not help.
        "RESOURCE_EXHAUSTED" if code == 402 => ErrorKind::QuotaExceeded,
        "RESOURCE_EXHAUSTED" => ErrorKind::RateLimited,
        "UNAVAILABLE" => ErrorKind::Overloaded,
        "DEADLINE_EXCEEDED" => ErrorKind::Timeout,
        "UNIMPLEMENTED" => ErrorKind::NotImplemented,
        "INTERNAL" | "UNKNOWN" | "DATA_LOSS" | "CANCELLED" | "ABORTED" => ErrorKind::Server,
        _ => return None,
    })
}

/// Seconds of a `RetryInfo.retryDelay` such as `"37s"` or `"1.5s"`, rounded up.
fn retry_delay(details: &[Value]) -> Option<u64> {
    details.iter().find_map(|d| {
        let delay = d.get("retryDelay").and_then(Value::as_str)?;
        let secs: f64 = delay.strip_suffix('s')?.trim().parse().ok()?;
        (secs.is_finite() && secs >= 0.0).then(|| (secs.ceil() as u64).max(1))
    })
}
