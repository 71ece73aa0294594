//! Answers for more work than the gateway takes on: a request over `max_in_flight`, and a
//! connection over `max_connections`, each get a 503 with `Retry-After` in the client's
//! protocol shape (from the path), never a hang.

use crate::error::render;
use crate::error::GatewayError;
use crate::handlers::service::protocol_for_path;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http_body::Frame;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

/// One of `max_in_flight` permits for a request to `path`, to be held until its response
/// body is done ([`hold`]); `None` for paths that answer whatever the load; without a
/// permit free, the 503 to answer.
pub fn admit_in_flight(
    permits: &Arc<Semaphore>,
    path: &str,
) -> Result<Option<OwnedSemaphorePermit>, Response> {
    if exempt(path) {
        return Ok(None);
    }
    match permits.clone().try_acquire_owned() {
        Ok(permit) => Ok(Some(permit)),
        Err(_) => Err(overloaded(path, "requests in flight (max_in_flight)")),
    }
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
