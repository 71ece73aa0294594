//! Service endpoints: liveness, readiness, and the protocol-shaped 404/405 for everything
//! else.

use crate::error::render;
use crate::protocol::ClientProtocol;
use crate::server::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, Uri};
use lmrelay_ir::{ApiError, ErrorKind};

pub async fn healthz() -> Response {
    super::json(br#"{"status":"ok"}"#.to_vec())
}

/// Ready when a config is loaded and at least one provider is healthy: it passed an active
/// check or served a request, and is not failing (with checks off: not known to fail).
pub async fn readyz(State(st): State<AppState>) -> Response {
    let rt = st.runtime.load();
    let reason: &[u8] = if rt.providers.is_empty() {
        br#"{"status":"not ready","reason":"no provider is configured"}"#
    } else if !rt
        .providers
        .iter()
        .any(|p| p.health.healthy(&rt.config.health))
    {
        br#"{"status":"not ready","reason":"no provider is healthy yet"}"#
    } else {
        return super::json(br#"{"status":"ready"}"#.to_vec());
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(http::header::CONTENT_TYPE, "application/json")],
        reason.to_vec(),
    )
        .into_response()
}

/// `GET /metrics`: the Prometheus text exposition.
pub async fn metrics(State(st): State<AppState>) -> Response {
    let rt = st.runtime.load_full();
    let body = rt.live.metrics.render(&rt);
    (
        [(
            http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// The protocol a path belongs to, for shaping errors on unknown paths.
pub fn protocol_for_path(path: &str) -> ClientProtocol {
    if path.starts_with("/api/") {
        ClientProtocol::Ollama
    } else if path.starts_with("/anthropic/") || path.starts_with("/v1/messages") {
        ClientProtocol::Anthropic
    } else {
        ClientProtocol::OpenAi
    }
}

pub async fn not_found(uri: Uri) -> Response {
    let err = ApiError::new(
        ErrorKind::NotFound,
        format!("lmrelay has no endpoint at `{}`.", uri.path()),
    );
    render(protocol_for_path(uri.path()), &err)
}

pub async fn method_not_allowed(uri: Uri) -> Response {
    let err = ApiError::invalid(format!(
        "This HTTP method is not allowed on `{}`.",
        uri.path()
    ))
    .with_status(405);
    render(protocol_for_path(uri.path()), &err)
}
