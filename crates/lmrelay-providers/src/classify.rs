//! Classifies upstream failures: whether a retry may help, whether the API key is at fault,
//! and how long to wait.

use http::HeaderMap;
use lmrelay_ir::{ApiError, ErrorKind};
use std::time::Duration;

/// An upstream failure, with what the attempt loop needs to decide what to do next.
#[derive(Debug, Clone)]
pub struct UpstreamError {
    pub error: ApiError,
    /// Another attempt (another key or provider) may succeed.
    pub retryable: bool,
    /// The failure belongs to the API key (401, 403, 429): try another key of the provider.
    pub key_fault: bool,
    pub retry_after: Option<Duration>,
}

// === impl UpstreamError ===

impl UpstreamError {
    /// A failure another attempt may fix, such as an answer lmrelay could not read.
    pub fn retryable(error: ApiError) -> Self {
        UpstreamError {
            error,
            retryable: true,
            key_fault: false,
            retry_after: None,
        }
    }
}

/// Classifies a failed upstream response from its status, headers and decoded error.
pub fn classify(status: u16, headers: &HeaderMap, error: ApiError) -> UpstreamError {
    let mut retryable = matches!(status, 408 | 409 | 429 | 500 | 502 | 503 | 504 | 529)
        && error.kind != ErrorKind::QuotaExceeded;
    if let Some(v) = header_str(headers, "x-should-retry") {
        retryable = v.eq_ignore_ascii_case("true");
    }
    let retry_after = retry_after(headers);
    let mut error = error;
    if error.retry_after.is_none() {
        error.retry_after = retry_after.map(|d| d.as_secs().max(1));
    }
    UpstreamError {
        key_fault: matches!(status, 401 | 403 | 429),
        retryable,
        retry_after,
        error,
    }
}

/// Reads `retry-after-ms`, then `retry-after` (seconds).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) =
        header_str(headers, "retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok())
    {
        if ms.is_finite() && ms >= 0.0 {
            return Some(Duration::from_millis(ms as u64));
        }
    }
    header_str(headers, "retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, http::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn retryable_statuses_and_key_faults() {
        let cases = [
            (400, false, false),
            (401, false, true),
            (404, false, false),
            (429, true, true),
            (500, true, false),
            (529, true, false),
            (503, true, false),
        ];
        for (status, retryable, key_fault) in cases {
            let e = classify(
                status,
                &HeaderMap::new(),
                ApiError::new(ErrorKind::from_status(status), "x"),
            );
            assert_eq!(e.retryable, retryable, "{status}");
            assert_eq!(e.key_fault, key_fault, "{status}");
        }
    }

    #[test]
    fn quota_is_not_retried_and_headers_override() {
        let quota = ApiError::new(ErrorKind::QuotaExceeded, "quota").with_status(429);
        assert!(!classify(429, &HeaderMap::new(), quota).retryable);
        let e = classify(
            400,
            &headers(&[("x-should-retry", "true")]),
            ApiError::invalid("x"),
        );
        assert!(e.retryable);
        let e = classify(
            429,
            &headers(&[("retry-after", "7")]),
            ApiError::new(ErrorKind::RateLimited, "x"),
        );
        assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
        assert_eq!(e.error.retry_after, Some(7));
        let e = classify(
            429,
            &headers(&[("retry-after-ms", "250"), ("retry-after", "7")]),
            ApiError::new(ErrorKind::RateLimited, "x"),
        );
        assert_eq!(e.retry_after, Some(Duration::from_millis(250)));
    }
}
