//! The request path after decoding: resolve candidates, try them in order (the attempt
//! loop), and relay the answer — whole, or as a stream translated event by event.
//!
//! Nothing reaches the client before the first upstream stream event with content, so until
//! then every failure can still move on to the next candidate and still becomes a proper
//! HTTP status.

mod failures;
mod other;
mod stream;

pub use other::{count_tokens, embed, estimate_tokens};

use crate::error::{ErrorReply, GatewayError};
use crate::protocol::ClientProtocol;
use crate::runtime::{Provider, Runtime};
use crate::secret::Secret;
use crate::upstream::{self, transport_error, SendError};
use axum::response::{IntoResponse, Response};
use failures::Failures;
use http::{HeaderMap, HeaderValue};
use lmrelay_ir::{ApiError, ChatRequest, Extra, Usage};
use lmrelay_protocol::ResponseMeta;
use lmrelay_providers::UpstreamError;
use std::sync::Arc;
use std::time::Instant;

/// What the edge knows about one client exchange.
pub struct Exchange {
    pub protocol: ClientProtocol,
    pub request_id: String,
    pub started: Instant,
    pub started_ms: u64,
    pub headers: HeaderMap,
}

/// The header naming the provider that served a response.
pub const PROVIDER_HEADER: &str = "x-lmrelay-provider";

/// Why one attempt did not produce a response.
enum Failure {
    /// lmrelay cannot express the request for this provider (content its format cannot
    /// carry); another candidate may.
    Local(ApiError),
    /// The request itself cannot be served anywhere (an image URL that cannot be fetched).
    Client(ApiError),
    /// The upstream failed; the flag says whether it timed out.
    Upstream(UpstreamError, bool),
}

/// One request's view of its candidates: the request as the client sent it, the fields only
/// the client's own protocol understands, and the meta its encoders need.
struct Attempts<'a> {
    rt: &'a Runtime,
    ex: &'a Exchange,
    extra: Extra,
    meta: ResponseMeta,
}

/// Serves a chat request: the attempt loop over the candidates, then the answer.
pub async fn chat(rt: Arc<Runtime>, ex: Exchange, mut req: ChatRequest) -> Response {
    let candidates = rt.resolve(&req.model);
    if candidates.is_empty() {
        return ErrorReply::new(ex.protocol, GatewayError::UnknownModel(req.model)).into_response();
    }
    let attempts = Attempts {
        rt: &rt,
        ex: &ex,
        extra: std::mem::take(&mut req.extra),
        meta: ResponseMeta {
            model: req.model.clone(),
            started_ms: ex.started_ms,
            include_usage: req.include_usage,
            include_reasoning: req.wants_reasoning(),
        },
    };
    let mut failures = Failures::default();
    'candidates: for candidate in &candidates {
        let provider = &rt.providers[candidate.provider];
        // This candidate's copy, once a refused optional feature has been dropped from it.
        let mut relaxed: Option<ChatRequest> = None;
        // A key's failure (401, 403, 429) is retried on the provider's next key: each key of
        // the provider at most once, starting where the rotation stands.
        let keys = provider.keys_from_rotation();
        for key in keys {
            let outcome = attempts
                .try_relaxing(&mut req, &mut relaxed, provider, &candidate.model, key)
                .await;
            match outcome {
                Ok(response) => return response,
                Err(Failure::Client(e)) => {
                    return ErrorReply::new(ex.protocol, GatewayError::BadRequest(e))
                        .into_response()
                }
                Err(Failure::Local(e)) => {
                    failures.record_local(provider, e);
                    continue 'candidates;
                }
                Err(Failure::Upstream(err, timed_out)) => {
                    tracing::warn!(
                        request_id = %ex.request_id,
                        provider = %provider.config.name,
                        status = err.error.status,
                        retryable = err.retryable,
                        key_fault = err.key_fault,
                        "upstream attempt failed"
                    );
                    let (retryable, key_fault) = (err.retryable, err.key_fault);
                    // A provider that does not know the model says nothing of the next one.
                    let unknown_model = err.error.status == 404;
                    failures.record(provider, err, timed_out);
                    if key_fault {
                        continue;
                    }
                    if retryable || unknown_model {
                        continue 'candidates;
                    }
                    break 'candidates;
                }
            }
        }
    }
    failures.into_response(ex.protocol)
}

// === impl Attempts ===

impl Attempts<'_> {
    /// An attempt, and when the upstream refused a feature its model lacks that came from
    /// another protocol (say, Claude Code's thinking sent to an Ollama model that cannot
    /// think), one more without it; the relaxed request then serves the candidate's other
    /// keys. A client speaking the upstream's own protocol gets the refusal as is.
    async fn try_relaxing(
        &self,
        req: &mut ChatRequest,
        relaxed: &mut Option<ChatRequest>,
        provider: &Provider,
        model: &str,
        key: Option<&Secret>,
    ) -> Result<Response, Failure> {
        if let Some(r) = relaxed.as_mut() {
            return self.attempt(r, provider, model, key).await;
        }
        let failure = match self.attempt(req, provider, model, key).await {
            Ok(r) => return Ok(r),
            Err(f) => f,
        };
        let Failure::Upstream(err, _) = &failure else {
            return Err(failure);
        };
        if err.retryable || provider.adapter.dialect() == self.ex.protocol.dialect() {
            return Err(failure);
        }
        let mut copy = req.clone();
        if !provider.adapter.relax(&mut copy, &err.error) {
            return Err(failure);
        }
        tracing::info!(
            request_id = %self.ex.request_id,
            provider = %provider.config.name,
            "retrying without a feature the upstream model does not support"
        );
        let r = relaxed.insert(copy);
        self.attempt(r, provider, model, key).await
    }

    /// One attempt: build the request for `provider`, send it, and relay the answer.
    async fn attempt(
        &self,
        req: &mut ChatRequest,
        provider: &Provider,
        model: &str,
        key: Option<&Secret>,
    ) -> Result<Response, Failure> {
        let (rt, ex) = (self.rt, self.ex);
        if provider.adapter.needs_inline_images() && crate::images::has_url_images(req) {
            // Done in place: the inlined images serve later candidates as well. A URL that
            // cannot be fetched is the client's to fix, whichever provider is tried.
            crate::images::inline_url_images(req, rt.config.fetch_private_images)
                .await
                .map_err(Failure::Client)?;
        }
        if provider.adapter.dialect() == ex.protocol.dialect() {
            req.extra.clone_from(&self.extra);
        }
        let target = provider.target(model, key, ex.protocol.dialect(), &ex.headers);
        let built = provider.adapter.chat_request(req, &target);
        req.extra.clear();
        let http_req = built.map_err(Failure::Local)?;
        let timeout = provider.config.timeout;
        let resp = upstream::send(&rt.client, http_req, timeout)
            .await
            .map_err(|e| Failure::Upstream(transport_error(&e), matches!(e, SendError::Timeout)))?;
        let status = resp.status();
        let upstream_id = upstream::upstream_request_id(resp.headers());
        if !status.is_success() {
            let headers = resp.headers().clone();
            let body = upstream::read_body(resp, timeout).await.unwrap_or_default();
            let err = provider.adapter.error(status.as_u16(), &headers, &body);
            return Err(Failure::Upstream(err, false));
        }
        let result = if req.stream {
            stream::start(ex, provider, resp, self.meta.clone()).await
        } else {
            self.complete(provider, resp).await
        };
        let mut response = result.map_err(|(err, timed_out)| Failure::Upstream(err, timed_out))?;
        let h = response.headers_mut();
        set_provider(h, &provider.config.name);
        if let Some(id) = upstream_id {
            h.insert("x-upstream-request-id", id);
        }
        Ok(response)
    }

    /// Reads a whole upstream answer and encodes it for the client.
    async fn complete(
        &self,
        provider: &Provider,
        resp: reqwest::Response,
    ) -> Result<Response, (UpstreamError, bool)> {
        let body = upstream::read_body(resp, provider.config.timeout)
            .await
            .map_err(|e| (transport_error(&e), matches!(e, SendError::Timeout)))?;
        let answer = provider
            .adapter
            .chat_response(&body)
            .map_err(|e| (UpstreamError::retryable(e), false))?;
        log_done(self.ex, &provider.config.name, &answer.usage, "complete");
        let bytes = self
            .ex
            .protocol
            .encode_response(&answer, &self.meta, crate::now_ms());
        Ok(([(http::header::CONTENT_TYPE, "application/json")], bytes).into_response())
    }
}

/// Logs the end of an exchange, with its token counts.
fn log_done(ex: &Exchange, provider: &str, usage: &Usage, outcome: &str) {
    tracing::info!(
        request_id = %ex.request_id,
        provider,
        input_tokens = usage.input,
        output_tokens = usage.output,
        cached_tokens = usage.cache_read,
        duration_ms = ex.started.elapsed().as_millis() as u64,
        outcome,
        "request finished"
    );
}

/// Sets `x-lmrelay-provider`.
pub fn set_provider(headers: &mut HeaderMap, provider: &str) {
    if let Ok(v) = HeaderValue::from_str(provider) {
        headers.insert(PROVIDER_HEADER, v);
    }
}
