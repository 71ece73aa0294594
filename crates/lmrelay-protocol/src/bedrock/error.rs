//! Reading Bedrock errors (protocols.md §6.5): the body is `{"message": …}` (sometimes
//! `Message`), the exception's name is in the `x-amzn-ErrorType` header (`Name:http://…`,
//! only the part before `:` counts), or in a stream's `:exception-type` header.
//!
//! The status comes from the exception's name where it says more than the HTTP status:
//! `ModelNotReadyException` is the model's state, not the key's, so it is an overload (503)
//! rather than a 429 that would cool the key; `ModelErrorException` is a server error; a
//! `ValidationException` saying the model identifier is invalid is a 404 (model unknown).

use crate::json;
use lmrelay_ir::{ApiError, ErrorKind};
use serde_json::Value;

/// The exception name of an `x-amzn-ErrorType` header value (`ThrottlingException:http://…`).
pub fn error_type(header: &str) -> &str {
    header.split(':').next().unwrap_or("").trim()
}

/// Reads an upstream Bedrock error. `error_type` is the `x-amzn-ErrorType` header value (or
/// a stream frame's `:exception-type`), when there was one.
pub fn decode_error(status: u16, error_type_header: Option<&str>, body: &[u8]) -> ApiError {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let field = |k: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let name = error_type_header
        .map(error_type)
        .map(str::to_owned)
        .filter(|n| !n.is_empty())
        .or_else(|| field("__type").map(|t| t.rsplit('#').next().unwrap_or("").to_owned()))
        .unwrap_or_default();
    let message = field("message")
        .or_else(|| field("Message"))
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| {
            if body.iter().all(u8::is_ascii_whitespace) {
                format!("Bedrock returned HTTP {status} with an empty body.")
            } else {
                format!("Bedrock returned HTTP {status}: {}", json::snippet(body))
            }
        });
    let (mut kind, mut status) = kind_of(&name, status);
    // Bedrock answers a model id it does not know with a 400; the next candidate may know it.
    if kind == ErrorKind::InvalidRequest
        && message
            .to_ascii_lowercase()
            .contains("model identifier is invalid")
    {
        (kind, status) = (ErrorKind::NotFound, 404);
    }
    let error = ApiError::new(kind, message).with_status(status);
    if name.is_empty() {
        error
    } else {
        error.with_code(name)
    }
}

/// The canonical kind and status of an exception name (either capitalisation: streams
/// name them `throttlingException`).
fn kind_of(name: &str, status: u16) -> (ErrorKind, u16) {
    let mut chars = name.chars();
    let upper: String = match chars.next() {
        Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    };
    match upper.as_str() {
        "ValidationException" => (ErrorKind::InvalidRequest, 400),
        "ServiceQuotaExceededException" => (ErrorKind::QuotaExceeded, 400),
        "AccessDeniedException" => (ErrorKind::PermissionDenied, 403),
        "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "ExpiredTokenException"
        | "IncompleteSignatureException"
        | "MissingAuthenticationTokenException" => (ErrorKind::Authentication, 401),
        "ResourceNotFoundException" => (ErrorKind::NotFound, 404),
        "ModelTimeoutException" => (ErrorKind::Timeout, 408),
        "ThrottlingException" => (ErrorKind::RateLimited, 429),
        "ModelNotReadyException" | "ServiceUnavailableException" => (ErrorKind::Overloaded, 503),
        "ModelErrorException" | "ModelStreamErrorException" => (ErrorKind::Server, 502),
        "InternalServerException" => (ErrorKind::Server, 500),
        _ => (ErrorKind::from_status(status), status),
    }
}
