//! The gateway's errors, and the one place they become HTTP responses.
//!
//! Every client-visible failure is a [`GatewayError`]; [`ErrorReply`] renders it in the
//! client's own protocol (OpenAI, Anthropic or Ollama shape) with the right status and
//! `Retry-After`. No handler builds an error body itself.

use crate::protocol::ClientProtocol;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use lmrelay_ir::{ApiError, ErrorKind};
use std::time::Duration;

/// What went wrong while serving a request.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The request itself is malformed (decoded by a codec).
    #[error("{0}")]
    BadRequest(ApiError),
    #[error("request body is larger than the {limit}-byte limit")]
    BodyTooLarge { limit: usize },
    #[error("no model named `{0}` is configured")]
    UnknownModel(String),
    #[error("missing or unknown gateway key")]
    Unauthorized,
    #[error("key `{key}` may not use model `{model}`")]
    ModelNotAllowed { key: String, model: String },
    /// An upstream answered with an error that another attempt would not fix.
    #[error("upstream `{provider}` failed: {error}")]
    Upstream { provider: String, error: ApiError },
    /// Every candidate failed with errors a later retry may fix.
    #[error("no upstream could serve the request: {message}")]
    Unavailable {
        message: String,
        retry_after: Option<Duration>,
        overloaded: bool,
    },
    #[error("upstream `{provider}` timed out")]
    Timeout { provider: String },
    #[error("not found: {0}")]
    NoRoute(String),
    /// A gateway key (or an address without one) is over a limit.
    #[error("{message}")]
    RateLimited {
        key: String,
        /// `rpm`, `tpm`, `budget_usd` or `anonymous_rpm`.
        limit: &'static str,
        message: String,
        retry_after: Duration,
    },
    /// The state store failed and the config says limits fail closed.
    #[error("the state store is unavailable")]
    StoreUnavailable,
    /// Residency restrictions leave no provider for the model.
    #[error("no provider of `{model}` is in the allowed regions: {regions}")]
    RegionNotAllowed { model: String, regions: String },
}

/// A rendered error: the protocol to speak, the error, and the provider that failed (if any).
pub struct ErrorReply {
    pub protocol: ClientProtocol,
    pub error: GatewayError,
}

// === impl GatewayError ===

impl GatewayError {
    /// The protocol-neutral form clients see.
    pub fn to_api_error(&self) -> ApiError {
        match self {
            GatewayError::BadRequest(e) => e.clone(),
            GatewayError::BodyTooLarge { limit } => ApiError::new(
                ErrorKind::RequestTooLarge,
                format!("The request body is larger than this gateway's {limit}-byte limit (max_body)."),
            ),
            GatewayError::UnknownModel(m) => ApiError::new(
                ErrorKind::NotFound,
                format!("The model `{m}` does not exist on this gateway. List the available models at GET /v1/models."),
            )
            .with_code("model_not_found")
            .with_param("model"),
            GatewayError::Unauthorized => ApiError::new(
                ErrorKind::Authentication,
                "Missing or unknown gateway key. Send it as `Authorization: Bearer <key>`, `x-api-key` or `api-key`.",
            ),
            GatewayError::ModelNotAllowed { key, model } => ApiError::new(
                ErrorKind::PermissionDenied,
                format!("The key `{key}` is not allowed to use the model `{model}`."),
            ),
            GatewayError::Upstream { provider, error } => upstream_to_client(provider, error),
            GatewayError::Unavailable {
                message,
                retry_after,
                overloaded,
            } => {
                let kind = if *overloaded {
                    ErrorKind::Overloaded
                } else {
                    ErrorKind::Unavailable
                };
                ApiError::new(kind, message.clone())
                    .with_status(503)
                    .with_retry_after(Some(retry_after.map_or(1, whole_seconds)))
            }
            GatewayError::Timeout { provider } => ApiError::new(
                ErrorKind::Timeout,
                format!("The upstream provider `{provider}` did not answer in time."),
            ),
            GatewayError::NoRoute(m) => ApiError::new(ErrorKind::NotFound, m.clone()),
            GatewayError::RateLimited {
                message,
                retry_after,
                limit,
                ..
            } => ApiError::new(ErrorKind::RateLimited, message.clone())
                .with_status(429)
                .with_code(match *limit {
                    "budget_usd" => "budget_exceeded",
                    _ => "rate_limit_exceeded",
                })
                .with_retry_after(Some(whole_seconds(*retry_after))),
            GatewayError::StoreUnavailable => ApiError::new(
                ErrorKind::Unavailable,
                "The gateway cannot check this key's limits now (its state store is unavailable); retry shortly.",
            )
            .with_status(503)
            .with_retry_after(Some(1)),
            GatewayError::RegionNotAllowed { model, regions } => ApiError::new(
                ErrorKind::PermissionDenied,
                format!("No provider of the model `{model}` is in an allowed region; allowed: {regions}."),
            )
            .with_code("region_not_allowed"),
        }
    }
}

/// A wait in whole seconds for `Retry-After`: rounded up (a client that waits what it is told
/// must not come back early), at least 1.
pub fn whole_seconds(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000).max(1) as u64
}

/// A non-retryable upstream error as the client sees it: its own 4xx when the request was at
/// fault, otherwise 502.
fn upstream_to_client(provider: &str, error: &ApiError) -> ApiError {
    // A rejected upstream key is the operator's problem, and the upstream's message may quote
    // part of the key: say what happened without repeating it.
    if matches!(error.status, 401 | 403) {
        return ApiError::new(
            ErrorKind::BadGateway,
            format!(
                "The upstream provider `{provider}` rejected lmrelay's credentials ({}); the gateway's operator needs to check its keys.",
                error.status
            ),
        );
    }
    let client_fault = matches!(error.status, 400 | 404 | 409 | 413 | 422);
    if client_fault {
        let mut e = error.clone();
        e.message = format!("{} (from upstream `{provider}`)", error.message);
        e
    } else {
        ApiError::new(
            ErrorKind::BadGateway,
            format!(
                "The upstream provider `{provider}` returned an error ({}): {}",
                error.status, error.message
            ),
        )
    }
}

// === impl ErrorReply ===

impl ErrorReply {
    pub fn new(protocol: ClientProtocol, error: GatewayError) -> Self {
        ErrorReply { protocol, error }
    }
}

impl IntoResponse for ErrorReply {
    fn into_response(self) -> Response {
        let api = self.error.to_api_error();
        render(self.protocol, &api)
    }
}

/// Renders an [`ApiError`] as a response in `protocol`'s shape.
pub fn render(protocol: ClientProtocol, api: &ApiError) -> Response {
    let (status, body) = protocol.render_error(api);
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    )
        .into_response();
    let headers = resp.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(secs) = api.retry_after {
        headers.insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}
