//! Sending built requests to upstreams: the shared HTTP client, time limits, and turning
//! transport failures into upstream errors the attempt loop understands.

use bytes::Bytes;
use lmrelay_ir::{ApiError, ErrorKind};
use lmrelay_providers::{FailureKind, UpstreamError, UpstreamRequest};
use std::time::Duration;

/// The most bytes of a whole upstream answer lmrelay reads (a model's answer, embeddings,
/// a model list); a larger one is a failed attempt, not a memory hazard.
pub const MAX_ANSWER: usize = 64 * 1024 * 1024;
/// The most bytes of an upstream error body that are read (the rest is dropped).
pub const MAX_ERROR_BODY: usize = 64 * 1024;

/// Why a request got no HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("timed out")]
    Timeout,
    /// What the client is told, and the error chain (host names, addresses, OS errors) that
    /// only the log gets.
    #[error("{summary}")]
    Connect {
        summary: &'static str,
        detail: String,
    },
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
}

/// Sends a request and waits for the response head (not the body) within `timeout`.
pub async fn send(
    client: &reqwest::Client,
    req: UpstreamRequest,
    timeout: Duration,
) -> Result<reqwest::Response, SendError> {
    let req = reqwest::Request::try_from(req).map_err(|e| SendError::Connect {
        summary: "the request could not be built",
        detail: e.to_string(),
    })?;
    match tokio::time::timeout(timeout, client.execute(req)).await {
        Err(_) => Err(SendError::Timeout),
        Ok(Err(e)) if e.is_timeout() => Err(SendError::Timeout),
        Ok(Err(e)) => Err(transport_failure(&e)),
        Ok(Ok(r)) => Ok(r),
    }
}

/// Reads a whole answer within `timeout`, at most [`MAX_ANSWER`] bytes.
pub async fn read_body(resp: reqwest::Response, timeout: Duration) -> Result<Bytes, SendError> {
    read_limited(resp, timeout, MAX_ANSWER).await
}

/// Reads an error body within `timeout`, at most [`MAX_ERROR_BODY`] bytes (every provider's
/// error object fits); a longer or unreadable one is dropped, and the status alone
/// classifies the failure.
pub async fn read_error_body(resp: reqwest::Response, timeout: Duration) -> Bytes {
    match read_limited(resp, timeout, MAX_ERROR_BODY).await {
        Ok(b) => b,
        Err(_) => Bytes::new(),
    }
}

/// Reads a body chunk by chunk, refusing it past `limit` bytes (the declared length is
/// checked first, so an honest oversized answer is not read at all).
async fn read_limited(
    mut resp: reqwest::Response,
    timeout: Duration,
    limit: usize,
) -> Result<Bytes, SendError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(SendError::TooLarge(limit));
    }
    let read = async {
        let mut buf = crate::body::Gathered::with_hint(0);
        while let Some(chunk) = resp.chunk().await? {
            if buf.len() + chunk.len() > limit {
                return Ok(Err(SendError::TooLarge(limit)));
            }
            buf.push(chunk);
        }
        Ok::<_, reqwest::Error>(Ok(buf.into_bytes()))
    };
    match tokio::time::timeout(timeout, read).await {
        Err(_) => Err(SendError::Timeout),
        Ok(Err(e)) if e.is_timeout() => Err(SendError::Timeout),
        Ok(Err(e)) => Err(transport_failure(&e)),
        Ok(Ok(result)) => result,
    }
}

/// A transport failure as an upstream error: a timeout, or a connection that failed.
pub fn transport_error(err: &SendError) -> UpstreamError {
    let (failure, kind, status) = match err {
        SendError::Timeout => (FailureKind::Timeout, ErrorKind::Timeout, 504),
        SendError::Connect { .. } | SendError::TooLarge(_) => {
            (FailureKind::Connection, ErrorKind::BadGateway, 502)
        }
    };
    if let SendError::Connect { detail, .. } = err {
        tracing::debug!(error = %detail, "upstream transport failure");
    }
    UpstreamError::new(
        failure,
        ApiError::new(kind, format!("The upstream request failed: {err}")).with_status(status),
    )
}

/// A reqwest failure: a summary for the client, and the error chain without the URL (which
/// may carry credentials in a query string) for the log.
pub fn transport_failure(e: &reqwest::Error) -> SendError {
    let summary = if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the response body was cut off"
    } else {
        "the request failed"
    };
    let mut msg = summary.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    SendError::Connect {
        summary,
        detail: msg,
    }
}

/// The upstream's own request id, for the `x-upstream-request-id` header.
pub fn upstream_request_id(headers: &http::HeaderMap) -> Option<http::HeaderValue> {
    headers
        .get("x-request-id")
        .or_else(|| headers.get("request-id"))
        .or_else(|| headers.get("x-amzn-requestid"))
        .cloned()
}
