//! Upstream failures: what kind of failure each one is, and the one table that says what
//! the gateway does about each kind (next key, next candidate, cool the key, feed the
//! provider's breaker, or answer the client).
//!
//! Adapters decode their provider's error bodies (also those that arrive with status 200 or
//! inside a stream) into an [`ApiError`]; [`classify`] then names the [`FailureKind`] from
//! the status, the error's kind and code, and a few message patterns every provider uses.

use http::HeaderMap;
use lmrelay_ir::{ApiError, ErrorKind};
use std::time::Duration;

/// The kinds of upstream failure the gateway tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// 429: this key is over its provider's rate limit for now.
    RateLimited,
    /// The key's quota or credit is exhausted (OpenAI `insufficient_quota`, 402, Anthropic's
    /// "credit balance is too low"): waiting a minute does not help, another key may.
    QuotaExhausted,
    /// The provider is overloaded (529, 503).
    Overloaded,
    /// 500, 502, 504 from the provider, or an answer lmrelay could not read.
    ServerError,
    /// No answer in time (connect, head, first token, idle or whole-request limit).
    Timeout,
    /// The connection was refused, reset or cut.
    Connection,
    /// An error event inside a stream before its first content.
    StreamError,
    /// The prompt is longer than the model's context window.
    ContextLength,
    /// The provider refused the content (a content filter or policy).
    ContentRefused,
    /// 401/403: the provider rejected this key.
    BadKey,
    /// 404: this provider does not know the model.
    ModelNotFound,
    /// Anything else the request itself is at fault for (400, 422, …).
    BadRequest,
}

/// What to try after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The same provider with its next key, then the next candidate.
    NextKey,
    /// The next candidate.
    NextCandidate,
    /// Nothing: answer the client with this error.
    AnswerClient,
}

/// The gateway's response to one failure kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    pub next: Next,
    /// Cool the key until its reset time (rate limit) or for a long while (quota).
    pub cool_key: bool,
    /// Take the key out until an admin rotation or a reload.
    pub invalidate_key: bool,
    /// Count against the provider's health and breaker.
    pub feeds_breaker: bool,
}

/// An upstream failure, with what the attempt loop needs to decide what to do next.
#[derive(Debug, Clone)]
pub struct UpstreamError {
    pub error: ApiError,
    pub kind: FailureKind,
    pub retry_after: Option<Duration>,
}

// === impl FailureKind ===

impl FailureKind {
    /// Every kind, for tables and tests.
    pub const ALL: [FailureKind; 12] = [
        FailureKind::RateLimited,
        FailureKind::QuotaExhausted,
        FailureKind::Overloaded,
        FailureKind::ServerError,
        FailureKind::Timeout,
        FailureKind::Connection,
        FailureKind::StreamError,
        FailureKind::ContextLength,
        FailureKind::ContentRefused,
        FailureKind::BadKey,
        FailureKind::ModelNotFound,
        FailureKind::BadRequest,
    ];

    /// The one table of what each failure leads to.
    pub const fn action(self) -> Action {
        const fn act(next: Next, cool_key: bool, invalidate_key: bool, breaker: bool) -> Action {
            Action {
                next,
                cool_key,
                invalidate_key,
                feeds_breaker: breaker,
            }
        }
        use FailureKind::*;
        use Next::*;
        match self {
            RateLimited => act(NextKey, true, false, false),
            QuotaExhausted => act(NextKey, true, false, false),
            BadKey => act(NextKey, false, true, false),
            Overloaded | ServerError | Timeout | Connection | StreamError => {
                act(NextCandidate, false, false, true)
            }
            // Another candidate may be a model with a larger window, or one that knows it.
            ContextLength | ModelNotFound => act(NextCandidate, false, false, false),
            ContentRefused | BadRequest => act(AnswerClient, false, false, false),
        }
    }

    /// A label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::RateLimited => "rate_limited",
            FailureKind::QuotaExhausted => "quota_exhausted",
            FailureKind::Overloaded => "overloaded",
            FailureKind::ServerError => "server_error",
            FailureKind::Timeout => "timeout",
            FailureKind::Connection => "connection",
            FailureKind::StreamError => "stream_error",
            FailureKind::ContextLength => "context_length",
            FailureKind::ContentRefused => "content_refused",
            FailureKind::BadKey => "bad_key",
            FailureKind::ModelNotFound => "model_not_found",
            FailureKind::BadRequest => "bad_request",
        }
    }
}

// === impl UpstreamError ===

impl UpstreamError {
    /// A failure of a given kind.
    pub fn new(kind: FailureKind, error: ApiError) -> Self {
        UpstreamError {
            error,
            kind,
            retry_after: None,
        }
    }

    /// An answer lmrelay could not read: the provider misbehaved, another may not.
    pub fn unreadable(error: ApiError) -> Self {
        UpstreamError::new(FailureKind::ServerError, error)
    }

    pub fn action(&self) -> Action {
        self.kind.action()
    }

    /// Whether another key or candidate may succeed where this failed, and the provider
    /// is to blame: what makes the client's final answer a 503 rather than the error itself.
    pub fn retryable(&self) -> bool {
        matches!(
            self.kind,
            FailureKind::RateLimited
                | FailureKind::Overloaded
                | FailureKind::ServerError
                | FailureKind::Timeout
                | FailureKind::Connection
                | FailureKind::StreamError
        )
    }

    /// Whether the failure belongs to the key rather than the provider.
    pub fn key_fault(&self) -> bool {
        self.action().next == Next::NextKey
    }
}

/// Classifies a failed upstream answer from its status, headers and decoded error.
pub fn classify(status: u16, headers: &HeaderMap, error: ApiError) -> UpstreamError {
    let mut kind = kind_of(status, &error);
    // OpenAI's `x-should-retry: true` marks an error its SDK would retry.
    if header_str(headers, "x-should-retry").is_some_and(|v| v.eq_ignore_ascii_case("true"))
        && kind.action().next == Next::AnswerClient
    {
        kind = FailureKind::ServerError;
    }
    let retry_after = retry_after(headers);
    let mut error = error;
    if error.retry_after.is_none() {
        error.retry_after = retry_after.map(|d| d.as_secs().max(1));
    }
    UpstreamError {
        error,
        kind,
        retry_after,
    }
}

/// The failure kind of an error: message patterns that every provider uses first (they
/// refine a generic 400), then the error's kind, then the status.
fn kind_of(status: u16, error: &ApiError) -> FailureKind {
    let code = error.code.as_deref().unwrap_or("");
    let message = error.message.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| message.contains(n));
    // Only a refusal of the request itself can be about its length or content; a 429 that
    // mentions "tokens" is a rate limit.
    let request_refused = matches!(status, 400 | 413 | 422) || status < 300;
    if request_refused
        && (code == "context_length_exceeded"
            || has(&[
                "context length",
                "context window",
                "maximum context",
                "prompt is too long",
                "too many tokens",
                "input is too long",
            ]))
    {
        return FailureKind::ContextLength;
    }
    if request_refused
        && (matches!(code, "content_filter" | "content_policy_violation")
            || has(&[
                "content management policy",
                "content filter",
                "safety system",
            ]))
    {
        return FailureKind::ContentRefused;
    }
    if error.kind == ErrorKind::QuotaExceeded
        || status == 402
        || has(&[
            "credit balance",
            "insufficient_quota",
            "exceeded your current quota",
        ])
    {
        return FailureKind::QuotaExhausted;
    }
    match status {
        401 | 403 => FailureKind::BadKey,
        404 => FailureKind::ModelNotFound,
        429 => FailureKind::RateLimited,
        503 | 529 => FailureKind::Overloaded,
        408 | 504 => FailureKind::Timeout,
        409 | 500 | 502 => FailureKind::ServerError,
        400..=499 => match error.kind {
            ErrorKind::Overloaded => FailureKind::Overloaded,
            _ => FailureKind::BadRequest,
        },
        // A 200 carrying an error (in a stream, or a body): go by the error's kind.
        _ => match error.kind {
            ErrorKind::RateLimited => FailureKind::RateLimited,
            ErrorKind::Overloaded | ErrorKind::Unavailable => FailureKind::Overloaded,
            ErrorKind::Timeout => FailureKind::Timeout,
            ErrorKind::Authentication | ErrorKind::PermissionDenied => FailureKind::BadKey,
            ErrorKind::NotFound => FailureKind::ModelNotFound,
            ErrorKind::InvalidRequest | ErrorKind::RequestTooLarge => FailureKind::BadRequest,
            _ => FailureKind::ServerError,
        },
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
    use FailureKind::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, http::HeaderValue::from_static(v));
        }
        h
    }

    fn kind(status: u16, error: ApiError) -> FailureKind {
        classify(status, &HeaderMap::new(), error).kind
    }

    /// The action table, row by row: (kind, next, cool key, invalidate key, feeds breaker).
    #[test]
    fn action_table() {
        let table = [
            (RateLimited, Next::NextKey, true, false, false),
            (QuotaExhausted, Next::NextKey, true, false, false),
            (Overloaded, Next::NextCandidate, false, false, true),
            (ServerError, Next::NextCandidate, false, false, true),
            (Timeout, Next::NextCandidate, false, false, true),
            (Connection, Next::NextCandidate, false, false, true),
            (StreamError, Next::NextCandidate, false, false, true),
            (ContextLength, Next::NextCandidate, false, false, false),
            (ContentRefused, Next::AnswerClient, false, false, false),
            (BadKey, Next::NextKey, false, true, false),
            (ModelNotFound, Next::NextCandidate, false, false, false),
            (BadRequest, Next::AnswerClient, false, false, false),
        ];
        assert_eq!(table.len(), FailureKind::ALL.len());
        for (k, next, cool, invalid, breaker) in table {
            let a = k.action();
            assert_eq!(
                (a.next, a.cool_key, a.invalidate_key, a.feeds_breaker),
                (next, cool, invalid, breaker),
                "{k:?}"
            );
        }
    }

    /// What each provider's error bodies (as their codecs decode them) classify as.
    #[test]
    fn classification_table() {
        let e = |k: ErrorKind, status: u16, msg: &str| ApiError::new(k, msg).with_status(status);
        let with_code = |status: u16, code: &str, msg: &str| {
            ApiError::new(ErrorKind::from_status(status), msg)
                .with_status(status)
                .with_code(code)
        };
        let cases = [
            (
                429,
                e(ErrorKind::RateLimited, 429, "Rate limit reached"),
                RateLimited,
            ),
            (
                429,
                with_code(429, "insufficient_quota", "You exceeded your current quota"),
                QuotaExhausted,
            ),
            (
                400,
                e(
                    ErrorKind::InvalidRequest,
                    400,
                    "Your credit balance is too low to access the Anthropic API.",
                ),
                QuotaExhausted,
            ),
            (
                402,
                e(ErrorKind::QuotaExceeded, 402, "Payment required"),
                QuotaExhausted,
            ),
            (529, e(ErrorKind::Overloaded, 529, "Overloaded"), Overloaded),
            (
                503,
                e(ErrorKind::Overloaded, 503, "unavailable"),
                Overloaded,
            ),
            (500, e(ErrorKind::Server, 500, "internal"), ServerError),
            (
                502,
                e(ErrorKind::BadGateway, 502, "bad gateway"),
                ServerError,
            ),
            (504, e(ErrorKind::Timeout, 504, "gateway timeout"), Timeout),
            (
                400,
                with_code(
                    400,
                    "context_length_exceeded",
                    "This model's maximum context length is 128000 tokens.",
                ),
                ContextLength,
            ),
            (
                400,
                e(
                    ErrorKind::InvalidRequest,
                    400,
                    "prompt is too long: 210000 tokens > 200000 maximum",
                ),
                ContextLength,
            ),
            (
                400,
                with_code(400, "content_filter", "The response was filtered"),
                ContentRefused,
            ),
            (
                401,
                e(ErrorKind::Authentication, 401, "invalid x-api-key"),
                BadKey,
            ),
            (
                403,
                e(ErrorKind::PermissionDenied, 403, "forbidden"),
                BadKey,
            ),
            (
                404,
                e(ErrorKind::NotFound, 404, "model \"x\" not found"),
                ModelNotFound,
            ),
            (
                400,
                e(ErrorKind::InvalidRequest, 400, "messages: required"),
                BadRequest,
            ),
            (
                422,
                e(ErrorKind::InvalidRequest, 422, "bad field"),
                BadRequest,
            ),
            // In-stream errors arrive with status 200 and are classified by their kind.
            (200, e(ErrorKind::Overloaded, 529, "Overloaded"), Overloaded),
            (200, e(ErrorKind::Server, 500, "boom"), ServerError),
            (
                200,
                e(ErrorKind::RateLimited, 429, "slow down"),
                RateLimited,
            ),
        ];
        for (status, error, want) in cases {
            let msg = error.message.clone();
            assert_eq!(kind(status, error), want, "{status} {msg}");
        }
    }

    #[test]
    fn retry_headers() {
        let e = classify(
            400,
            &headers(&[("x-should-retry", "true")]),
            ApiError::invalid("x"),
        );
        assert!(e.retryable());
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
