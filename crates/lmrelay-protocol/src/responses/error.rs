//! Responses errors. Before a stream starts they are ordinary OpenAI error bodies
//! (`{"error":{message,type,param,code}}`); after, a failed response's `error` is
//! `{code, message}` with the codes Codex classifies.

use super::wire::ResponseError;
use lmrelay_ir::{ApiError, ErrorKind};

/// Renders an error for a Responses client: the status and the OpenAI error body.
pub fn render_error(err: &ApiError) -> (u16, Vec<u8>) {
    crate::openai::render_error(err)
}

/// Reads an OpenAI Responses upstream's error body (the same shape as chat's).
pub fn decode_error(status: u16, body: &[u8]) -> ApiError {
    crate::openai::decode_error(status, body)
}

/// The `error` of a `response.failed` for a canonical error.
pub(crate) fn failed_error(err: &ApiError) -> ResponseError {
    let code = err.code.clone().unwrap_or_else(|| {
        match err.kind {
            ErrorKind::RateLimited => "rate_limit_exceeded",
            ErrorKind::QuotaExceeded => "insufficient_quota",
            ErrorKind::InvalidRequest => "invalid_prompt",
            _ => "server_error",
        }
        .to_owned()
    });
    ResponseError {
        code: Some(code),
        message: err.message.clone(),
    }
}
