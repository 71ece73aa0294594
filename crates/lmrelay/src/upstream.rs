//! Sending built requests to upstreams: the shared HTTP client, time limits, and turning
//! transport failures into upstream errors the attempt loop understands.

use bytes::Bytes;
use lmrelay_ir::{ApiError, ErrorKind};
use lmrelay_providers::{FailureKind, UpstreamError, UpstreamRequest};
use std::time::Duration;

/// Why a request got no HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("timed out")]
    Timeout,
    #[error("connection failed: {0}")]
    Connect(String),
}

/// Sends a request and waits for the response head (not the body) within `timeout`.
pub async fn send(
    client: &reqwest::Client,
    req: UpstreamRequest,
    timeout: Duration,
) -> Result<reqwest::Response, SendError> {
    let req = reqwest::Request::try_from(req).map_err(|e| SendError::Connect(e.to_string()))?;
    match tokio::time::timeout(timeout, client.execute(req)).await {
        Err(_) => Err(SendError::Timeout),
        Ok(Err(e)) if e.is_timeout() => Err(SendError::Timeout),
        Ok(Err(e)) => Err(SendError::Connect(transport_message(&e))),
        Ok(Ok(r)) => Ok(r),
    }
}

/// Reads a whole response body within `timeout`.
pub async fn read_body(resp: reqwest::Response, timeout: Duration) -> Result<Bytes, SendError> {
    match tokio::time::timeout(timeout, resp.bytes()).await {
        Err(_) => Err(SendError::Timeout),
        Ok(Err(e)) if e.is_timeout() => Err(SendError::Timeout),
        Ok(Err(e)) => Err(SendError::Connect(transport_message(&e))),
        Ok(Ok(b)) => Ok(b),
    }
}

/// A transport failure as an upstream error: a timeout, or a connection that failed.
pub fn transport_error(err: &SendError) -> UpstreamError {
    let (failure, kind, status) = match err {
        SendError::Timeout => (FailureKind::Timeout, ErrorKind::Timeout, 504),
        SendError::Connect(_) => (FailureKind::Connection, ErrorKind::BadGateway, 502),
    };
    UpstreamError::new(
        failure,
        ApiError::new(kind, format!("The upstream request failed: {err}")).with_status(status),
    )
}

/// reqwest's error chain without the URL (which may carry credentials in a query string).
pub fn transport_message(e: &reqwest::Error) -> String {
    let mut msg = if e.is_connect() {
        "could not connect".to_owned()
    } else if e.is_body() || e.is_decode() {
        "the response body was cut off".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// The upstream's own request id, for the `x-upstream-request-id` header.
pub fn upstream_request_id(headers: &http::HeaderMap) -> Option<http::HeaderValue> {
    headers
        .get("x-request-id")
        .or_else(|| headers.get("request-id"))
        .or_else(|| headers.get("x-amzn-requestid"))
        .cloned()
}
