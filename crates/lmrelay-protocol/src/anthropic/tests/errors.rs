//! `render_error`, `decode_error`, models and count_tokens bodies.

use super::value;
use crate::anthropic::{
    decode_error, encode_count_tokens, encode_model, encode_models, error_type, render_error,
};
use lmrelay_ir::{ApiError, ErrorKind, ModelInfo};
use serde_json::json;

#[test]
fn renders_errors_with_anthropic_types_and_statuses() {
    let cases = [
        (ApiError::invalid("bad"), 400, "invalid_request_error"),
        (
            ApiError::new(ErrorKind::Authentication, "m"),
            401,
            "authentication_error",
        ),
        (
            ApiError::new(ErrorKind::QuotaExceeded, "m").with_status(402),
            402,
            "billing_error",
        ),
        (
            ApiError::new(ErrorKind::PermissionDenied, "m"),
            403,
            "permission_error",
        ),
        (
            ApiError::new(ErrorKind::NotFound, "m"),
            404,
            "not_found_error",
        ),
        (
            ApiError::new(ErrorKind::RequestTooLarge, "m"),
            413,
            "request_too_large",
        ),
        (
            ApiError::new(ErrorKind::InvalidRequest, "m").with_status(422),
            422,
            "invalid_request_error",
        ),
        (
            ApiError::new(ErrorKind::RateLimited, "m"),
            429,
            "rate_limit_error",
        ),
        (
            ApiError::new(ErrorKind::QuotaExceeded, "m"),
            429,
            "rate_limit_error",
        ),
        (ApiError::new(ErrorKind::Server, "m"), 500, "api_error"),
        (ApiError::new(ErrorKind::BadGateway, "m"), 502, "api_error"),
        (ApiError::new(ErrorKind::Timeout, "m"), 504, "api_error"),
        // The gateway's own "every upstream is overloaded" answer is a 503 (product.md).
        (
            ApiError::new(ErrorKind::Overloaded, "m"),
            503,
            "overloaded_error",
        ),
        (
            ApiError::new(ErrorKind::Server, "m").with_status(529),
            529,
            "overloaded_error",
        ),
    ];
    for (err, status, kind) in cases {
        let (got_status, body) = render_error(&err);
        assert_eq!(got_status, status, "{err}");
        assert_eq!(error_type(&err), kind);
        assert_eq!(
            value(&body),
            json!({"type": "error", "error": {"type": kind, "message": err.message}})
        );
    }
}

#[test]
fn decodes_upstream_errors() {
    let body = |t: &str| {
        json!({"type": "error", "error": {"type": t, "message": "msg"}, "request_id": "req_1"})
            .to_string()
    };
    let cases = [
        (400, "invalid_request_error", ErrorKind::InvalidRequest),
        (401, "authentication_error", ErrorKind::Authentication),
        (402, "billing_error", ErrorKind::QuotaExceeded),
        (403, "permission_error", ErrorKind::PermissionDenied),
        (404, "not_found_error", ErrorKind::NotFound),
        (413, "request_too_large", ErrorKind::RequestTooLarge),
        (429, "rate_limit_error", ErrorKind::RateLimited),
        (500, "api_error", ErrorKind::Server),
        (529, "overloaded_error", ErrorKind::Overloaded),
        (409, "conflict_error", ErrorKind::InvalidRequest), // unknown type: from the status
    ];
    for (status, t, kind) in cases {
        let err = decode_error(status, body(t).as_bytes());
        assert_eq!(
            (err.kind, err.status, err.message.as_str()),
            (kind, status, "msg"),
            "{t}"
        );
    }

    let html = format!("<html>{}</html>", "x".repeat(500));
    let err = decode_error(502, html.as_bytes());
    assert_eq!(err.kind, ErrorKind::BadGateway);
    assert_eq!(err.status, 502);
    assert!(
        err.message
            .starts_with("Anthropic returned HTTP 502: <html>"),
        "{}",
        err.message
    );
    assert!(err.message.chars().count() < 260, "{}", err.message.len());

    let err = decode_error(503, b"");
    assert_eq!(err.kind, ErrorKind::Overloaded);
    assert!(err.message.contains("503"), "{}", err.message);
}

#[test]
fn model_listing_and_count_tokens() {
    let models = [
        ModelInfo {
            id: "claude-a".into(),
            owned_by: "anthropic".into(),
            created_secs: 1_700_000_000,
        },
        ModelInfo {
            id: "fast".into(),
            owned_by: "lmrelay".into(),
            created_secs: 0,
        },
    ];
    assert_eq!(
        value(&encode_models(&models)),
        json!({
            "data": [
                {"type": "model", "id": "claude-a", "display_name": "claude-a", "created_at": "2023-11-14T22:13:20Z"},
                {"type": "model", "id": "fast", "display_name": "fast", "created_at": "1970-01-01T00:00:00Z"}
            ],
            "has_more": false, "first_id": "claude-a", "last_id": "fast"
        })
    );
    assert_eq!(
        value(&encode_models(&[])),
        json!({"data": [], "has_more": false, "first_id": null, "last_id": null})
    );
    assert_eq!(value(&encode_model(&models[1]))["id"], "fast");
    assert_eq!(
        value(&encode_count_tokens(123)),
        json!({"input_tokens": 123})
    );
}
