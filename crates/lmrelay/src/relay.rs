//! The request path after decoding: resolve candidates, try them in order (the attempt
//! loop), and relay the answer — whole, or as a stream translated event by event.
//!
//! Nothing reaches the client before the first upstream stream event, so until then every
//! failure can still move on to the next candidate and still becomes a proper HTTP status.

use crate::error::{ErrorReply, GatewayError};
use crate::protocol::ClientProtocol;
use crate::runtime::{Provider, Runtime};
use crate::upstream::{self, transport_error, SendError};
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::stream::{BoxStream, StreamExt};
use http::{HeaderMap, HeaderValue};
use lmrelay_ir::{ChatRequest, EmbedRequest, EmbedResponse, StreamEvent, Usage};
use lmrelay_protocol::{ResponseMeta, StreamDecoder, StreamEncoder};
use lmrelay_providers::UpstreamError;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// Serves a chat request: the attempt loop over the candidates, then the answer.
pub async fn chat(rt: Arc<Runtime>, ex: Exchange, mut req: ChatRequest) -> Response {
    let candidates = rt.resolve(&req.model);
    if candidates.is_empty() {
        return ErrorReply::new(ex.protocol, GatewayError::UnknownModel(req.model)).into_response();
    }
    let meta = ResponseMeta {
        model: req.model.clone(),
        started_ms: ex.started_ms,
        include_usage: req.include_usage,
        include_reasoning: req.wants_reasoning(),
    };
    // Fields only the client's own protocol understands go only to that protocol.
    let client_extra = std::mem::take(&mut req.extra);
    let mut failures = Failures::default();
    'candidates: for candidate in &candidates {
        let provider = &rt.providers[candidate.provider];
        // A key's failure (401, 403, 429) is retried on the provider's next key.
        for _ in 0..provider.config.keys.len().max(1) {
            let outcome = attempt_relaxing(
                &rt,
                &ex,
                &mut req,
                &client_extra,
                provider,
                &candidate.model,
                &meta,
            )
            .await;
            match outcome {
                Ok(response) => return response,
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
                    failures.record(provider, err, timed_out);
                    if key_fault {
                        continue;
                    }
                    if retryable {
                        continue 'candidates;
                    }
                    break 'candidates;
                }
            }
        }
    }
    failures.into_response(ex.protocol)
}

/// Why one attempt did not produce a response.
enum Failure {
    /// lmrelay could not express the request for this provider.
    Local(lmrelay_ir::ApiError),
    /// The upstream failed; the flag says whether it timed out.
    Upstream(UpstreamError, bool),
}

/// An attempt, and when the upstream refused a feature its model lacks that came from
/// another protocol (say, Claude Code's thinking sent to an Ollama model that cannot think),
/// one more without it. A client speaking the upstream's own protocol gets the refusal as is.
async fn attempt_relaxing(
    rt: &Runtime,
    ex: &Exchange,
    req: &mut ChatRequest,
    client_extra: &lmrelay_ir::Extra,
    provider: &Provider,
    model: &str,
    meta: &ResponseMeta,
) -> Result<Response, Failure> {
    let failure = match attempt(rt, ex, req, client_extra, provider, model, meta).await {
        Ok(r) => return Ok(r),
        Err(f) => f,
    };
    let Failure::Upstream(err, _) = &failure else {
        return Err(failure);
    };
    if err.retryable || provider.adapter.dialect() == ex.protocol.dialect() {
        return Err(failure);
    }
    let mut relaxed = req.clone();
    if !provider.adapter.relax(&mut relaxed, &err.error) {
        return Err(failure);
    }
    tracing::info!(
        request_id = %ex.request_id,
        provider = %provider.config.name,
        "retrying without a feature the upstream model does not support"
    );
    attempt(rt, ex, &mut relaxed, client_extra, provider, model, meta).await
}

/// One attempt: build the request for `provider`, send it, and relay the answer.
async fn attempt(
    rt: &Runtime,
    ex: &Exchange,
    req: &mut ChatRequest,
    client_extra: &lmrelay_ir::Extra,
    provider: &Provider,
    model: &str,
    meta: &ResponseMeta,
) -> Result<Response, Failure> {
    if provider.adapter.needs_inline_images() && crate::images::has_url_images(req) {
        // Done in place: the inlined images serve later candidates as well.
        crate::images::inline_url_images(req, &rt.client, rt.config.fetch_private_images)
            .await
            .map_err(Failure::Local)?;
    }
    if provider.adapter.dialect() == ex.protocol.dialect() {
        req.extra.clone_from(client_extra);
    }
    let target = provider.target(model, ex.protocol.dialect(), &ex.headers);
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
        start_stream(ex, provider, resp, meta.clone()).await
    } else {
        complete(ex, provider, resp, meta).await
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
    ex: &Exchange,
    provider: &Provider,
    resp: reqwest::Response,
    meta: &ResponseMeta,
) -> Result<Response, (UpstreamError, bool)> {
    let body = upstream::read_body(resp, provider.config.timeout)
        .await
        .map_err(|e| (transport_error(&e), matches!(e, SendError::Timeout)))?;
    let answer = provider.adapter.chat_response(&body).map_err(|e| {
        (
            UpstreamError {
                error: e,
                retryable: true,
                key_fault: false,
                retry_after: None,
            },
            false,
        )
    })?;
    log_done(ex, &provider.config.name, &answer.usage, "complete");
    let now = crate::now_ms();
    let bytes = ex.protocol.encode_response(&answer, meta, now);
    Ok(([(http::header::CONTENT_TYPE, "application/json")], bytes).into_response())
}

/// Waits for the first upstream stream event; only then commits the response head.
async fn start_stream(
    ex: &Exchange,
    provider: &Provider,
    resp: reqwest::Response,
    meta: ResponseMeta,
) -> Result<Response, (UpstreamError, bool)> {
    let idle = provider.config.timeout;
    let mut upstream = resp.bytes_stream().boxed();
    let mut decoder = provider.adapter.stream_decoder();
    let mut events = Vec::new();
    let mut ended = false;
    // Read until the first event with content: `Start` and `Usage` alone (Anthropic's
    // `message_start`, OpenAI's role chunk) commit nothing, so an overload reported right
    // after them still fails over.
    while !ended && !events.iter().any(has_content) {
        match tokio::time::timeout(idle, upstream.next()).await {
            Err(_) => return Err((transport_error(&SendError::Timeout), true)),
            Ok(Some(Ok(chunk))) => decoder.feed(&chunk, &mut events),
            Ok(Some(Err(e))) => {
                let msg = upstream::transport_message(&e);
                return Err((transport_error(&SendError::Connect(msg)), false));
            }
            Ok(None) => {
                decoder.finish(&mut events);
                ended = true;
            }
        }
    }
    let first_error = events.iter().find_map(|e| match e {
        StreamEvent::Error(err) => Some(err),
        _ => None,
    });
    let before_content = events
        .iter()
        .take_while(|e| !matches!(e, StreamEvent::Error(_)))
        .all(|e| !has_content(e));
    if let (Some(e), true) = (first_error, before_content) {
        let err = UpstreamError {
            retryable: e.status >= 500 || e.status == 429,
            key_fault: e.status == 429,
            error: e.clone(),
            retry_after: None,
        };
        return Err((err, false));
    }
    let encoder = ex.protocol.stream_encoder(meta);
    let content_type = encoder.content_type();
    let relay = StreamRelay {
        upstream,
        decoder,
        encoder,
        events,
        out: BytesMut::with_capacity(4096),
        idle,
        ended,
        done: false,
        usage: Usage::default(),
        request_id: ex.request_id.clone(),
        provider: provider.config.name.clone(),
        started: ex.started,
    };
    let body = Body::from_stream(futures_util::stream::unfold(relay, StreamRelay::next_frame));
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// Whether an event carries something for the client (beyond the stream's start and usage).
fn has_content(e: &StreamEvent) -> bool {
    !matches!(e, StreamEvent::Start { .. } | StreamEvent::Usage(_))
}

/// Pulls upstream bytes only as fast as the client takes translated frames (backpressure),
/// and drops the upstream request when the client goes away (cancellation).
struct StreamRelay {
    upstream: BoxStream<'static, reqwest::Result<Bytes>>,
    decoder: Box<dyn StreamDecoder>,
    encoder: Box<dyn StreamEncoder>,
    events: Vec<StreamEvent>,
    out: BytesMut,
    idle: Duration,
    ended: bool,
    done: bool,
    usage: Usage,
    request_id: String,
    provider: String,
    started: Instant,
}

impl StreamRelay {
    async fn next_frame(mut self) -> Option<(Result<Bytes, std::io::Error>, Self)> {
        loop {
            if self.done {
                return None;
            }
            for e in self.events.drain(..) {
                if let StreamEvent::Usage(u) = &e {
                    self.usage = *u;
                }
                self.encoder.push(&e, &mut self.out);
            }
            if self.ended && !self.encoder.is_closed() {
                self.encoder.finish(crate::now_ms(), &mut self.out);
            }
            if self.encoder.is_closed() {
                self.done = true;
            }
            if !self.out.is_empty() {
                let frame = self.out.split().freeze();
                return Some((Ok(frame), self));
            }
            if self.done {
                return None;
            }
            match tokio::time::timeout(self.idle, self.upstream.next()).await {
                Ok(Some(Ok(chunk))) => self.decoder.feed(&chunk, &mut self.events),
                Ok(Some(Err(_))) | Ok(None) => {
                    self.decoder.finish(&mut self.events);
                    self.ended = true;
                }
                Err(_) => {
                    self.events.push(StreamEvent::Error(
                        transport_error(&SendError::Timeout).error,
                    ));
                    self.ended = true;
                }
            }
        }
    }
}

impl Drop for StreamRelay {
    fn drop(&mut self) {
        let outcome = if self.done {
            "stream"
        } else {
            "client disconnected"
        };
        tracing::info!(
            request_id = %self.request_id,
            provider = %self.provider,
            input_tokens = self.usage.input,
            output_tokens = self.usage.output,
            cached_tokens = self.usage.cache_read,
            duration_ms = self.started.elapsed().as_millis() as u64,
            outcome,
            "request finished"
        );
    }
}

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

/// What the attempts so far have seen; becomes the client's error when all have failed.
#[derive(Default)]
struct Failures {
    /// The last failure, its provider, and whether lmrelay itself refused to build the
    /// request (the request cannot be expressed for that provider).
    last: Option<(String, UpstreamError, bool)>,
    all_retryable: bool,
    all_timed_out: bool,
    any_overloaded: bool,
    count: usize,
}

impl Failures {
    fn record(&mut self, provider: &Provider, err: UpstreamError, timed_out: bool) {
        if self.count == 0 {
            self.all_retryable = true;
            self.all_timed_out = true;
        }
        self.count += 1;
        self.all_retryable &= err.retryable;
        self.all_timed_out &= timed_out;
        self.any_overloaded |= err.error.kind == lmrelay_ir::ErrorKind::Overloaded;
        self.last = Some((provider.config.name.clone(), err, false));
    }

    /// The request could not be built for this provider (for example, content its format
    /// cannot carry).
    fn record_local(&mut self, provider: &Provider, error: lmrelay_ir::ApiError) {
        let err = UpstreamError {
            error,
            retryable: false,
            key_fault: false,
            retry_after: None,
        };
        self.record(provider, err, false);
        if let Some(last) = self.last.as_mut() {
            last.2 = true;
        }
    }

    fn into_response(self, protocol: ClientProtocol) -> Response {
        let Some((provider, err, local)) = self.last else {
            return ErrorReply::new(
                protocol,
                GatewayError::Unavailable {
                    message: "No provider could be tried for this model.".into(),
                    retry_after: None,
                    overloaded: false,
                },
            )
            .into_response();
        };
        let error = if self.all_timed_out {
            GatewayError::Timeout {
                provider: provider.clone(),
            }
        } else if self.all_retryable {
            GatewayError::Unavailable {
                message: format!(
                    "Every upstream for this model failed; the last, `{provider}`, said: {}",
                    err.error.message
                ),
                retry_after: err.retry_after,
                overloaded: self.any_overloaded,
            }
        } else if local {
            GatewayError::BadRequest(err.error)
        } else {
            GatewayError::Upstream {
                provider: provider.clone(),
                error: err.error,
            }
        };
        let mut resp = ErrorReply::new(protocol, error).into_response();
        set_provider(resp.headers_mut(), &provider);
        resp
    }
}

/// Serves an embeddings request from the first candidate that can embed.
pub async fn embed(
    rt: Arc<Runtime>,
    ex: &Exchange,
    req: &EmbedRequest,
) -> Result<(EmbedResponse, String), Response> {
    let candidates = rt.resolve(&req.model);
    if candidates.is_empty() {
        return Err(
            ErrorReply::new(ex.protocol, GatewayError::UnknownModel(req.model.clone()))
                .into_response(),
        );
    }
    let mut failures = Failures::default();
    for c in &candidates {
        let provider = &rt.providers[c.provider];
        let target = provider.target(&c.model, ex.protocol.dialect(), &ex.headers);
        let http_req = match provider.adapter.embed_request(req, &target) {
            Ok(r) => r,
            Err(e) => {
                failures.record_local(provider, e);
                continue;
            }
        };
        let timeout = provider.config.timeout;
        let result = match upstream::send(&rt.client, http_req, timeout).await {
            Ok(resp) if resp.status().is_success() => {
                match upstream::read_body(resp, timeout).await {
                    Ok(body) => provider.adapter.embed_response(&body).map_err(|e| {
                        (
                            UpstreamError {
                                error: e,
                                retryable: true,
                                key_fault: false,
                                retry_after: None,
                            },
                            false,
                        )
                    }),
                    Err(e) => Err((transport_error(&e), matches!(e, SendError::Timeout))),
                }
            }
            Ok(resp) => {
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let body = upstream::read_body(resp, timeout).await.unwrap_or_default();
                Err((provider.adapter.error(status, &headers, &body), false))
            }
            Err(e) => Err((transport_error(&e), matches!(e, SendError::Timeout))),
        };
        match result {
            Ok(answer) => return Ok((answer, provider.config.name.clone())),
            Err((err, timed_out)) => failures.record(provider, err, timed_out),
        }
    }
    Err(failures.into_response(ex.protocol))
}

/// Counts a request's input tokens: asks the first candidate when its type can count,
/// otherwise estimates (about four characters a token). Also returns the provider that
/// counted, or `None` for an estimate.
pub async fn count_tokens(
    rt: Arc<Runtime>,
    ex: &Exchange,
    req: &ChatRequest,
) -> Result<(u64, Option<String>), Response> {
    let candidates = rt.resolve(&req.model);
    let Some(c) = candidates.first() else {
        return Err(
            ErrorReply::new(ex.protocol, GatewayError::UnknownModel(req.model.clone()))
                .into_response(),
        );
    };
    let provider = &rt.providers[c.provider];
    let target = provider.target(&c.model, ex.protocol.dialect(), &ex.headers);
    if let Some(Ok(http_req)) = provider.adapter.count_tokens_request(req, &target) {
        if let Ok(resp) = upstream::send(&rt.client, http_req, provider.config.timeout).await {
            if resp.status().is_success() {
                if let Ok(body) = upstream::read_body(resp, provider.config.timeout).await {
                    if let Ok(n) = provider.adapter.count_tokens_response(&body) {
                        return Ok((n, Some(provider.config.name.clone())));
                    }
                }
            }
        }
    }
    Ok((estimate_tokens(req), None))
}

/// A rough token estimate: characters of text, tool calls and tool schemas, over four.
pub fn estimate_tokens(req: &ChatRequest) -> u64 {
    use lmrelay_ir::ContentPart;
    fn chars(parts: &[ContentPart]) -> usize {
        parts
            .iter()
            .map(|p| match p {
                ContentPart::Text { text, .. } | ContentPart::Reasoning { text, .. } => text.len(),
                ContentPart::ToolCall {
                    name, arguments, ..
                } => name.len() + arguments.len(),
                ContentPart::ToolResult { content, .. } => chars(content),
                ContentPart::Image { .. } => 1600 * 4,
                _ => 0,
            })
            .sum()
    }
    let mut n: usize = req.messages.iter().map(|m| chars(&m.content) + 16).sum();
    for t in &req.tools {
        n += t.name.len() + t.description.as_ref().map_or(0, String::len);
        n += t.parameters.as_ref().map_or(0, |p| p.to_string().len());
    }
    (n as u64).div_ceil(4).max(1)
}
