//! `decode_error`: Gemini error bodies to canonical errors.

use crate::gemini::decode_error;
use lmrelay_ir::ErrorKind;

#[test]
fn statuses_and_kinds() {
    let cases: [(u16, &str, ErrorKind, u16); 8] = [
        (
            400,
            r#"{"error":{"code":400,"message":"Invalid JSON payload received.","status":"INVALID_ARGUMENT"}}"#,
            ErrorKind::InvalidRequest,
            400,
        ),
        (
            400,
            r#"{"error":{"code":400,"message":"User location is not supported.","status":"FAILED_PRECONDITION"}}"#,
            ErrorKind::InvalidRequest,
            400,
        ),
        (
            403,
            r#"{"error":{"code":403,"message":"Permission denied.","status":"PERMISSION_DENIED"}}"#,
            ErrorKind::PermissionDenied,
            403,
        ),
        (
            404,
            r#"{"error":{"code":404,"message":"models/x is not found","status":"NOT_FOUND"}}"#,
            ErrorKind::NotFound,
            404,
        ),
        (
            429,
            r#"{"error":{"code":429,"message":"Quota exceeded.","status":"RESOURCE_EXHAUSTED"}}"#,
            ErrorKind::RateLimited,
            429,
        ),
        (
            402,
            r#"{"error":{"code":402,"message":"Prepaid credit exhausted.","status":"RESOURCE_EXHAUSTED"}}"#,
            ErrorKind::QuotaExceeded,
            402,
        ),
        (
            503,
            r#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#,
            ErrorKind::Overloaded,
            503,
        ),
        (
            504,
            r#"{"error":{"code":504,"message":"Deadline expired.","status":"DEADLINE_EXCEEDED"}}"#,
            ErrorKind::Timeout,
            504,
        ),
    ];
    for (status, body, kind, want_status) in cases {
        let e = decode_error(status, body.as_bytes());
        assert_eq!((e.kind, e.status), (kind, want_status), "{body}");
        assert!(!e.message.is_empty());
    }
}

#[test]
fn an_invalid_key_is_an_authentication_failure() {
    let body = r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT",
        "details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}"#;
    let e = decode_error(400, body.as_bytes());
    assert_eq!((e.kind, e.status), (ErrorKind::Authentication, 401));
    assert_eq!(e.message, "API key not valid. Please pass a valid API key.");
}

#[test]
fn retry_info_becomes_retry_after() {
    let body = r#"{"error":{"code":429,"message":"You exceeded your current quota.","status":"RESOURCE_EXHAUSTED",
        "details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure"},
                   {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"36.5s"}]}}"#;
    assert_eq!(decode_error(429, body.as_bytes()).retry_after, Some(37));
}

#[test]
fn array_wrapped_and_unreadable_bodies() {
    let e = decode_error(
        500,
        br#"[{"error":{"code":500,"message":"Internal error.","status":"INTERNAL"}}]"#,
    );
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ErrorKind::Server, "Internal error.")
    );
    let e = decode_error(502, b"<html>Bad Gateway</html>");
    assert_eq!(e.status, 502);
    assert!(e.message.contains("Bad Gateway"), "{}", e.message);
    let e = decode_error(503, b"");
    assert!(e.message.contains("empty body"), "{}", e.message);
    // No status name: the HTTP status decides.
    let e = decode_error(429, br#"{"error":{"message":"slow down"}}"#);
    assert_eq!((e.kind, e.status), (ErrorKind::RateLimited, 429));
}
