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

/// Ready when a config is loaded and at least one provider is configured. (Active health
/// checks will narrow this to "healthy" providers.)
pub async fn readyz(State(st): State<AppState>) -> Response {
    let rt = st.runtime.load();
    if rt.providers.is_empty() {
        let body = br#"{"status":"not ready","reason":"no provider is configured"}"#.to_vec();
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
    }
    super::json(br#"{"status":"ready"}"#.to_vec())
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
