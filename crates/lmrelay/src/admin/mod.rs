//! The admin API under `/admin`, behind `[admin] token` (a bearer token compared in
//! constant time). Without a token in the current config the routes answer 404, as if absent.
//! Answers are JSON; errors are `{"error": {"message", "field"?}}` with 400 (not JSON),
//! 401 (token), 404 (unknown), 409 (conflict) or 422 (a missing, unknown or invalid field). Secrets never appear
//! in an answer, except a new gateway key's, once, in the answer that creates it.

mod config;
mod events;
mod keys;
mod providers;
mod usage;

use crate::runtime::Runtime;
use crate::server::AppState;
use crate::store::StoreError;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub use providers::load_upstream_keys;

/// The admin routes (mounted always; [`require_token`] hides them without a token).
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/admin/keys", get(keys::list).post(keys::create))
        .route("/admin/keys/rotate", post(providers::rotate))
        .route("/admin/keys/{id}", get(keys::show).delete(keys::delete))
        .route("/admin/keys/{id}/disable", post(keys::disable))
        .route("/admin/keys/{id}/enable", post(keys::enable))
        .route("/admin/providers", get(providers::list))
        .route("/admin/providers/{name}/keys", post(providers::add_key))
        .route(
            "/admin/providers/{name}/keys/{id}",
            axum::routing::delete(providers::remove_key),
        )
        .route("/admin/usage", get(usage::report))
        .route("/admin/reload", post(reload))
        .route("/admin/config", get(config::show))
        .route("/admin/openapi.json", get(openapi))
        .route("/admin/activity", get(events::activity))
        .route("/admin/events", get(events::events))
        .layer(middleware::from_fn_with_state(state, require_token))
}

/// `POST /admin/reload`: 200 with a summary, or 422 with every config error (the old config
/// keeps serving).
async fn reload(State(st): State<AppState>) -> Response {
    match crate::reload::reload(&st).await {
        Ok(s) => axum::Json(json!({
            "reloaded": true,
            "source": s.source,
            "providers": s.providers,
            "routes": s.routes,
            "keys": s.keys,
            "needs_restart": s.needs_restart,
        }))
        .into_response(),
        Err(crate::reload::ReloadError::Invalid(errs)) => {
            let errors: Vec<Value> = errs
                .0
                .iter()
                .map(|e| json!({"file": e.file, "line": e.line, "field": e.field, "message": e.message}))
                .collect();
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(json!({
                    "error": {"message": format!("The config has {} error(s); the old config keeps serving.", errors.len())},
                    "errors": errors,
                })),
            )
                .into_response()
        }
        // Files the config names that cannot be used (a certificate, a CA file).
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({
                "error": {"message": format!("{e}; the old config keeps serving.")},
                "errors": [{"message": e.to_string()}],
            })),
        )
            .into_response(),
    }
}

/// `GET /admin/openapi.json`: the admin API's OpenAPI document.
async fn openapi() -> Response {
    (
        [(http::header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
        .into_response()
}

/// Answers 404 when no admin token is configured, 401 without the right bearer token.
async fn require_token(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let rt = st.runtime.load();
    let Some(token) = &rt.config.admin_token else {
        return error(
            StatusCode::NOT_FOUND,
            "lmrelay has no endpoint here (the admin API needs [admin] token).",
            None,
        );
    };
    let presented = bearer(req.headers());
    if presented.is_some_and(|p| constant_time_eq(p, token.expose())) {
        return next.run(req).await;
    }
    crate::handlers::discard_body(req.into_body()).await;
    error(
        StatusCode::UNAUTHORIZED,
        "The admin API needs `Authorization: Bearer <admin token>`.",
        None,
    )
}

/// The bearer token of `Authorization`, if any.
fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// Compares two strings in time that does not depend on where they differ (their SHA-256
/// digests, byte by byte, without an early exit).
fn constant_time_eq(a: &str, b: &str) -> bool {
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}

/// An admin error answer.
pub(crate) fn error(status: StatusCode, message: &str, field: Option<&str>) -> Response {
    let mut e = json!({"message": message});
    if let Some(f) = field {
        e["field"] = Value::from(f);
    }
    (status, axum::Json(json!({ "error": e }))).into_response()
}

/// A store failure as an admin answer.
pub(crate) fn store_error(e: StoreError) -> Response {
    error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None)
}

/// Parses a JSON body, naming the field at fault: 400 for text that is not one JSON value,
/// 422 for a missing, unknown or mistyped field.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let status = if inner.is_data() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::BAD_REQUEST
        };
        // A missing or unknown field is reported at its parent; its name is in the message.
        let message = inner.to_string();
        let field = if field == "." {
            named_field(&message)
        } else {
            Some(field)
        };
        error(
            status,
            &format!("Invalid request body: {inner}"),
            field.as_deref(),
        )
    })?;
    de.end().map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            "Invalid request body: text after the JSON value.",
            None,
        )
    })?;
    Ok(value)
}

/// The field serde names in "missing field `x`" or "unknown field `x`".
fn named_field(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("unknown field `"))?;
    Some(rest.split('`').next()?.to_owned())
}

/// The current runtime.
pub(crate) fn runtime(st: &AppState) -> std::sync::Arc<Runtime> {
    st.runtime.load_full()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", ""));
    }

    #[test]
    fn missing_and_unknown_fields_are_named() {
        assert_eq!(
            named_field("missing field `models`").as_deref(),
            Some("models")
        );
        assert_eq!(
            named_field("unknown field `colour`, expected one of `name`").as_deref(),
            Some("colour")
        );
        assert_eq!(named_field("invalid type"), None);
    }
}
