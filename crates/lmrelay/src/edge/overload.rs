//! Answers for more work than the gateway takes on: a request over `max_in_flight`, and a
//! connection over `max_connections`, each get a 503 with `Retry-After` in the client's
//! protocol shape (from the path), never a hang.

use crate::error::render;
use crate::error::GatewayError;
use crate::handlers::service::protocol_for_path;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body::Frame;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::Semaphore;

/// The 503 for a request the gateway has no room for.
pub fn overloaded(path: &str, what: &str) -> Response {
    let err = GatewayError::Unavailable {
        message: format!("lmrelay is at its limit of {what}; retry shortly."),
        retry_after: Some(std::time::Duration::from_secs(1)),
        overloaded: true,
    };
    let mut resp = render(protocol_for_path(path), &err.to_api_error());
    *resp.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
    resp
}

/// Paths that answer whatever the load: health checks and metrics.
fn exempt(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// Middleware: holds one of `max_in_flight` permits for each request until its response
/// body is done; without one, answers 503.
pub async fn limit_in_flight(
    axum::extract::State(permits): axum::extract::State<Arc<Semaphore>>,
    req: Request,
    next: Next,
) -> Response {
    if exempt(req.uri().path()) {
        return next.run(req).await;
    }
    let Ok(permit) = permits.try_acquire_owned() else {
        return overloaded(req.uri().path(), "requests in flight (max_in_flight)");
    };
    hold(next.run(req).await, permit)
}

/// `resp` with `guard` kept alive until its body is done (or dropped): a permit, a slot.
pub fn hold<G: Send + Sync + Unpin + 'static>(resp: Response, guard: G) -> Response {
    resp.map(|body| {
        Body::new(Holding {
            body,
            _guard: guard,
        })
    })
}

/// A response body that keeps a guard until it is done (or dropped).
struct Holding<G> {
    body: Body,
    _guard: G,
}

impl<G: Unpin> http_body::Body for Holding<G> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
