//! OpenAI error bodies: rendering gateway errors for OpenAI clients and reading upstream ones.

use crate::json::to_vec;
use lmrelay_ir::{ApiError, ErrorKind};
use serde_json::{json, Value};

/// The OpenAI `error.type` for an error.
pub fn error_type(err: &ApiError) -> &'static str {
    match err.kind {
        ErrorKind::InvalidRequest
        | ErrorKind::Authentication
        | ErrorKind::NotFound
        | ErrorKind::RequestTooLarge => "invalid_request_error",
        ErrorKind::PermissionDenied => "permission_error",
        ErrorKind::RateLimited => "rate_limit_exceeded",
        ErrorKind::QuotaExceeded => "insufficient_quota",
        ErrorKind::NotImplemented => "not_implemented",
        ErrorKind::Overloaded
        | ErrorKind::Server
        | ErrorKind::BadGateway
        | ErrorKind::Unavailable
        | ErrorKind::Timeout => "server_error",
    }
}

fn default_code(err: &ApiError) -> Option<&'static str> {
    match err.kind {
        ErrorKind::Authentication => Some("invalid_api_key"),
        ErrorKind::NotFound => Some("model_not_found"),
        ErrorKind::RateLimited => Some("rate_limit_exceeded"),
        ErrorKind::QuotaExceeded => Some("insufficient_quota"),
        _ => None,
    }
}

/// The `{"error":{…}}` object, shared by error bodies and in-stream errors.
pub(crate) fn error_object(err: &ApiError) -> Value {
    json!({"error": {
        "message": err.message,
        "type": error_type(err),
        "param": err.param,
        "code": err.code.as_deref().or(default_code(err)),
    }})
}

/// Renders an error for an OpenAI client: the status to send and the body. OpenAI clients
/// do not know 529, so overload is a 503.
pub fn render_error(err: &ApiError) -> (u16, Vec<u8>) {
    let status = if err.status == 529 { 503 } else { err.status };
    (status, to_vec(&error_object(err)))
}

/// Reads an OpenAI(-compatible) upstream's error body.
pub fn decode_error(status: u16, body: &[u8]) -> ApiError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let obj = parsed.as_ref().and_then(|v| v.get("error"));
    let message = obj
        .and_then(|e| e.get("message").and_then(Value::as_str).or(e.as_str()))
        .map(str::to_owned)
        .or_else(|| {
            parsed
                .as_ref()
                .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
        })
        .unwrap_or_else(|| crate::json::snippet(body));
    let code = obj.and_then(|e| e.get("code")).and_then(Value::as_str);
    let kind_str = obj.and_then(|e| e.get("type")).and_then(Value::as_str);
    let mut kind = ErrorKind::from_status(status);
    if code == Some("insufficient_quota") || kind_str == Some("insufficient_quota") {
        kind = ErrorKind::QuotaExceeded;
    }
    let mut err = ApiError::new(kind, message).with_status(status);
    err.code = code.map(str::to_owned);
    err.param = obj
        .and_then(|e| e.get("param"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    err
}
