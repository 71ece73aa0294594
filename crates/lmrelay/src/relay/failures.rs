//! What the attempts for one request have seen, and the client's error when every one
//! failed (product.md): 503 with `Retry-After` when the upstreams failed retryably, 504 when
//! they all timed out, the upstream's own 4xx when the request was at fault, else 502.

use super::set_provider;
use crate::error::{ErrorReply, GatewayError};
use crate::protocol::ClientProtocol;
use crate::runtime::Provider;
use axum::response::{IntoResponse, Response};
use lmrelay_ir::{ApiError, ErrorKind};
use lmrelay_providers::{FailureKind, UpstreamError};
use std::time::Duration;

/// Failures so far. Local refusals (content a provider's format cannot carry) and unknown
/// models (404) say nothing about availability, so they count only when nothing else failed.
#[derive(Default)]
pub(super) struct Failures {
    /// The last upstream failure and its provider.
    last: Option<(String, UpstreamError)>,
    /// The last failure that was not retryable: what the client hears when the failures
    /// were mixed (product.md: "the last non-retryable upstream error").
    last_fatal: Option<(String, UpstreamError)>,
    /// The first local refusal and its provider.
    local: Option<(String, ApiError)>,
    /// The last "no such model" (404): like a local refusal, it says nothing about whether
    /// the other candidates are available.
    not_found: Option<(String, UpstreamError)>,
    all_retryable: bool,
    all_timed_out: bool,
    any_overloaded: bool,
    upstream_count: usize,
    /// The earliest time any upstream asked to wait before retrying.
    earliest_retry: Option<Duration>,
}

// === impl Failures ===

impl Failures {
    pub(super) fn record(&mut self, provider: &Provider, err: UpstreamError) {
        if matches!(
            err.kind,
            FailureKind::ModelNotFound | FailureKind::ContextLength
        ) {
            self.not_found = Some((provider.config.name.clone(), err));
            return;
        }
        if self.upstream_count == 0 {
            self.all_retryable = true;
            self.all_timed_out = true;
        }
        self.upstream_count += 1;
        self.all_retryable &= err.retryable();
        self.all_timed_out &= err.kind == FailureKind::Timeout;
        if let Some(d) = err.retry_after {
            self.earliest_retry = Some(self.earliest_retry.map_or(d, |e| e.min(d)));
        }
        self.any_overloaded |= err.error.kind == ErrorKind::Overloaded;
        if !err.retryable() {
            self.last_fatal = Some((provider.config.name.clone(), err.clone()));
        }
        self.last = Some((provider.config.name.clone(), err));
    }

    /// lmrelay could not build the request for this provider.
    pub(super) fn record_local(&mut self, provider: &Provider, error: ApiError) {
        if self.local.is_none() {
            self.local = Some((provider.config.name.clone(), error));
        }
    }

    pub(super) fn into_response(self, protocol: ClientProtocol) -> Response {
        let last = self.last.or(self.not_found);
        let (provider, error) = match (last, self.local) {
            (None, Some((provider, local))) => (provider, GatewayError::BadRequest(local)),
            (None, None) => (
                String::new(),
                GatewayError::Unavailable {
                    message: "No provider could be tried for this model.".into(),
                    retry_after: None,
                    overloaded: false,
                },
            ),
            (Some((provider, _)), _) if self.all_timed_out => {
                let e = GatewayError::Timeout {
                    provider: provider.clone(),
                };
                (provider, e)
            }
            (Some((provider, err)), _) if self.all_retryable => {
                let e = GatewayError::Unavailable {
                    message: format!(
                        "Every upstream for this model failed; the last, `{provider}`, said: {}",
                        relayable_message(&err.error)
                    ),
                    retry_after: self.earliest_retry.or(err.retry_after),
                    overloaded: self.any_overloaded,
                };
                (provider, e)
            }
            (Some(last), _) => {
                let (provider, err) = self.last_fatal.unwrap_or(last);
                let e = GatewayError::Upstream {
                    provider: provider.clone(),
                    error: err.error,
                };
                (provider, e)
            }
        };
        let mut resp = ErrorReply::new(protocol, error).into_response();
        if !provider.is_empty() {
            set_provider(resp.headers_mut(), &provider);
        }
        resp
    }
}

/// An upstream's error message, unless it is about lmrelay's own credentials (which the
/// upstream may quote in part).
fn relayable_message(e: &ApiError) -> String {
    if matches!(e.status, 401 | 403) {
        format!("it rejected lmrelay's credentials ({})", e.status)
    } else {
        e.message.clone()
    }
}
