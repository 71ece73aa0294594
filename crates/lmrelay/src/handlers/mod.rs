//! HTTP handlers, thin by design: accept (request id, body limit, gateway key), decode with
//! the client protocol's codec, hand over to [`crate::relay`], encode.

pub mod anthropic;
pub mod ollama;
pub mod openai;
pub mod service;

use crate::auth;
use crate::body::Gathered;
use crate::error::{ErrorReply, GatewayError};
use crate::limits;
use crate::protocol::ClientProtocol;
use crate::relay::{self, Exchange};
use crate::runtime::Runtime;
use crate::server::{AppState, RequestId};
use axum::extract::ConnectInfo;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Instant;

/// A request past the edge checks.
pub(crate) struct Accepted {
    pub rt: Arc<Runtime>,
    pub ex: Exchange,
    pub body: Bytes,
}

/// Runs the edge checks every API request goes through: gateway key, then the body limit.
pub(crate) async fn accept(
    st: &AppState,
    protocol: ClientProtocol,
    req: Request,
) -> Result<Accepted, Response> {
    let started = Instant::now();
    let rt = st.runtime.load_full();
    let (parts, body) = req.into_parts();
    let fail = |e: GatewayError| ErrorReply::new(protocol, e).into_response();
    let key = match auth::authenticate(&rt, &parts.headers) {
        Ok(k) => k,
        Err(e) => {
            // Read the body off first, so the connection stays usable for the client's next
            // request (answering mid-body would force hyper to close it).
            discard_body(body).await;
            return Err(fail(e));
        }
    };
    if key.is_none() {
        if let (Some(rpm), Some(ConnectInfo(peer))) = (
            rt.config.anonymous_rpm,
            parts.extensions.get::<ConnectInfo<std::net::SocketAddr>>(),
        ) {
            if limits::anonymous_applies(peer.ip(), rt.config.anonymous_loopback) {
                let admitted = limits::admit_anonymous(
                    &*rt.live.store,
                    peer.ip(),
                    rpm,
                    crate::now_ms(),
                    rt.config.limits_on_failure,
                )
                .await;
                if let Err(e) = admitted {
                    count_limited(&rt, &e);
                    discard_body(body).await;
                    return Err(fail(e));
                }
            }
        }
    }
    let limit = rt.config.max_body;
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let body = read_limited(body, limit, declared).await.map_err(fail)?;
    // The gateway key stops here: adapters see the client's headers, never its credentials.
    let mut headers = parts.headers;
    for name in ["authorization", "x-api-key", "api-key"] {
        headers.remove(name);
    }
    let request_id = parts
        .extensions
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let trace = rt.live.telemetry.as_ref().and_then(|t| t.begin(&headers));
    Ok(Accepted {
        rt,
        ex: Exchange {
            protocol,
            request_id,
            started,
            started_ms: crate::now_ms(),
            trace,
            headers,
            key,
            estimated_tokens: 0,
        },
        body,
    })
}

/// How much of an oversized body is still read (and thrown away) before answering 413, so
/// that a client still sending gets a clean answer instead of a broken pipe.
const DRAIN_LIMIT: usize = 8 * 1024 * 1024;

/// How long reading a request body may take in all (a client trickling bytes does not hold
/// a connection for ever).
const BODY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);
/// How long an oversized body is drained, in all.
const DRAIN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads a body that will not be used and throws it away, bounded in bytes and time
/// ([`DRAIN_LIMIT`], [`DRAIN_DEADLINE`]), so that a refused request leaves its connection
/// ready for the next one.
pub(crate) async fn discard_body(mut body: axum::body::Body) {
    let deadline = tokio::time::Instant::now() + DRAIN_DEADLINE;
    let mut seen = 0usize;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, body.frame()).await {
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen > DRAIN_LIMIT {
                break;
            }
        }
    }
}

/// Reads a request body of at most `limit` bytes. Past the limit it keeps reading, bounded
/// in bytes and time, and throws the rest away, then reports the body as too large.
async fn read_limited(
    mut body: axum::body::Body,
    limit: usize,
    declared: Option<usize>,
) -> Result<Bytes, GatewayError> {
    let too_large = || GatewayError::BodyTooLarge { limit };
    let unreadable = |why: &str| {
        GatewayError::BadRequest(lmrelay_ir::ApiError::invalid(format!(
            "The request body could not be read: {why}."
        )))
    };
    if declared.is_some_and(|n| n > limit.saturating_add(DRAIN_LIMIT)) {
        return Err(too_large());
    }
    // The declared length is the client's word: reserve no more than a modest amount on it.
    let mut buf = Gathered::with_hint(declared.unwrap_or(0).min(limit).min(64 * 1024));
    let mut seen = 0usize;
    let mut deadline = tokio::time::Instant::now() + BODY_DEADLINE;
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(None) => break,
            // While draining, any trouble just ends the drain.
            _ if seen > limit => break,
            Ok(Some(Err(_))) => return Err(unreadable("the connection failed")),
            Err(_) => return Err(unreadable("it did not arrive within 60 seconds")),
        };
        if let Ok(data) = frame.into_data() {
            let was_over = seen > limit;
            seen += data.len();
            if seen <= limit {
                buf.push(data);
            } else if seen > limit.saturating_add(DRAIN_LIMIT) {
                break;
            } else if !was_over {
                // Over the limit from here on: drain for a short while at most.
                deadline = deadline.min(tokio::time::Instant::now() + DRAIN_DEADLINE);
            }
        }
    }
    if seen > limit {
        return Err(too_large());
    }
    Ok(buf.into_bytes())
}

/// The one chat path: accept, decode, check the allowlist and the key's limits, relay.
pub(crate) async fn chat(st: AppState, protocol: ClientProtocol, req: Request) -> Response {
    let started = Instant::now();
    let rt = st.runtime.load_full();
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let mut seen = Seen::default();
    let response = serve_chat(&st, protocol, req, &mut seen).await;
    count_request(&rt, protocol, seen.model.as_deref(), &response, started);
    if response.status() != http::StatusCode::OK {
        finish_failure(&rt, protocol, &request_id, &seen, &response, started);
    }
    response
}

/// What the chat path learnt about a request before it was answered.
#[derive(Default)]
struct Seen {
    model: Option<String>,
    key: Option<Arc<crate::config::KeyConfig>>,
    trace: Option<Arc<crate::telemetry::ExchangeTrace>>,
}

/// The failure record of a request that got an error (a success's comes from its outcome).
fn finish_failure(
    rt: &Runtime,
    protocol: ClientProtocol,
    request_id: &str,
    seen: &Seen,
    response: &Response,
    started: Instant,
) {
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
    let provider = header(relay::PROVIDER_HEADER).filter(|p| *p != "lmrelay");
    crate::outcome::Failure {
        request_id,
        protocol,
        key: seen.key.as_ref(),
        model: seen.model.as_deref().unwrap_or(""),
        provider,
        system: provider
            .and_then(|p| rt.providers.iter().find(|x| x.config.name == p))
            .map(|p| crate::telemetry::gen_ai_provider(&p.config.type_name)),
        attempts: header(relay::ATTEMPTS_HEADER)
            .and_then(|a| a.parse().ok())
            .unwrap_or(0),
        status: response.status().as_u16(),
        started,
        trace: seen.trace.as_deref(),
    }
    .finish(&rt.live);
}

/// Adds a chat request to `lmrelay_requests_total` (and, when it failed, its duration: a
/// success's is taken when its answer is complete).
fn count_request(
    rt: &Runtime,
    protocol: ClientProtocol,
    model: Option<&str>,
    response: &Response,
    started: Instant,
) {
    let m = &rt.live.metrics;
    let provider = response
        .headers()
        .get(relay::PROVIDER_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let status = response.status().as_u16();
    m.requests
        .get_or_create(&crate::metrics::RequestLabels {
            protocol: protocol.family(),
            model: model.map_or_else(
                || "other".to_owned(),
                |m| crate::metrics::Metrics::model_label(rt, m),
            ),
            provider,
            status,
        })
        .inc();
    if status != 200 {
        m.observe_duration(protocol.family(), started.elapsed());
    }
}

async fn serve_chat(
    st: &AppState,
    protocol: ClientProtocol,
    req: Request,
    seen: &mut Seen,
) -> Response {
    let mut a = match accept(st, protocol, req).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    seen.key.clone_from(&a.ex.key);
    seen.trace.clone_from(&a.ex.trace);
    let mut keep = None;
    let kept = a.rt.config.responses;
    if protocol == ClientProtocol::OpenAiResponses && kept.store {
        let scope = key_scope(&a.ex);
        match crate::kept_responses::prepare(&a.rt.live, kept.ttl, scope, a.body.clone()).await {
            Ok((body, k)) => (a.body, keep) = (body, k),
            Err(e) => {
                return ErrorReply::new(protocol, GatewayError::BadRequest(e)).into_response()
            }
        }
    }
    let asked = match relay::Asked::raw(protocol, &a.body) {
        Some(asked) => asked,
        None => {
            let chat = match protocol.decode(&a.body) {
                Ok(c) => c,
                Err(e) => {
                    return ErrorReply::new(protocol, GatewayError::BadRequest(e)).into_response()
                }
            };
            if let Err(e) = crate::bounds::check(&chat) {
                return ErrorReply::new(protocol, GatewayError::BadRequest(e)).into_response();
            }
            relay::Asked::decoded(protocol, chat)
        }
    };
    let model = asked.model();
    seen.model = Some(model.to_owned());
    if let Err(e) = auth::authorize_model(a.ex.key.as_deref(), model) {
        return ErrorReply::new(protocol, e).into_response();
    }
    if let Some(generate) = ollama_load(protocol, &asked) {
        if a.rt.resolve(model).is_empty() {
            return ErrorReply::new(protocol, GatewayError::UnknownModel(model.to_owned()))
                .into_response();
        }
        let body = lmrelay_protocol::ollama::encode_load(model, crate::now_ms(), generate);
        return json(body);
    }
    if let Err(r) = admit(&mut a, protocol, asked.estimated_tokens()).await {
        return r;
    }
    let slot = match a
        .ex
        .key
        .as_deref()
        .map(|k| a.rt.live.concurrency.acquire(k))
    {
        Some(Err(e)) => {
            count_limited(&a.rt, &e);
            return ErrorReply::new(protocol, e).into_response();
        }
        Some(Ok(slot)) => slot,
        None => None,
    };
    let response = relay::chat(a.rt, a.ex, asked).await;
    let response = match keep {
        Some(k) => k.watch(response),
        None => response,
    };
    match slot {
        Some(slot) => crate::edge::overload::hold(response, slot),
        None => response,
    }
}

/// The gateway key's name (`-` without one): what kept state is scoped to.
pub(crate) fn key_scope(ex: &relay::Exchange) -> &str {
    ex.key.as_ref().map_or("-", |k| k.name.as_str())
}

/// Counts a request of `tokens` estimated input tokens against its gateway key's limits
/// (429 when over one).
pub(crate) async fn admit(
    a: &mut Accepted,
    protocol: ClientProtocol,
    tokens: u64,
) -> Result<(), Response> {
    a.ex.estimated_tokens = tokens;
    let Some(key) = &a.ex.key else {
        return Ok(());
    };
    limits::admit(
        &*a.rt.live.store,
        key,
        tokens,
        a.ex.started_ms,
        a.rt.config.limits_on_failure,
    )
    .await
    .map_err(|e| {
        count_limited(&a.rt, &e);
        ErrorReply::new(protocol, e).into_response()
    })
}

/// Adds a refusal by a limit to `lmrelay_rate_limited_total`.
fn count_limited(rt: &Runtime, e: &GatewayError) {
    if let GatewayError::RateLimited { key, limit, .. } = e {
        rt.live
            .metrics
            .rate_limited
            .get_or_create(&crate::metrics::LimitLabels {
                // Callers without a key are not told apart (an address is no label).
                key: if *limit == "anonymous_rpm" {
                    "-".to_owned()
                } else {
                    key.clone()
                },
                limit,
            })
            .inc();
    }
}

/// An Ollama request with nothing to answer only loads the model (`/api/chat` with no
/// messages, `/api/generate` with no prompt); returns whether it came to `/api/generate`.
fn ollama_load(protocol: ClientProtocol, asked: &relay::Asked) -> Option<bool> {
    let chat = asked.as_decoded()?;
    match protocol {
        ClientProtocol::OllamaChat => chat.messages.is_empty().then_some(false),
        ClientProtocol::OllamaGenerate => chat
            .messages
            .iter()
            .all(lmrelay_ir::Message::is_system)
            .then_some(true),
        _ => None,
    }
}

/// Checks the key of a request that has no body worth reading (listings).
pub(crate) fn check_key(
    st: &AppState,
    protocol: ClientProtocol,
    headers: &http::HeaderMap,
) -> Result<Caller, Response> {
    let rt = st.runtime.load_full();
    let key = auth::authenticate(&rt, headers)
        .map_err(|e| ErrorReply::new(protocol, e).into_response())?;
    Ok(Caller { rt, key })
}

/// Who asked, for requests without a body (listings).
pub(crate) struct Caller {
    pub rt: Arc<Runtime>,
    pub key: Option<Arc<crate::config::KeyConfig>>,
}

impl Caller {
    /// The public models this caller's key may use.
    pub fn models(&self) -> Vec<lmrelay_ir::ModelInfo> {
        let mut models = self.rt.public_models();
        models.retain(|m| auth::authorize_model(self.key.as_deref(), &m.id).is_ok());
        models
    }

    /// A model's listing entry, when it resolves; 403 when the key may not use it.
    pub fn model(
        &self,
        protocol: ClientProtocol,
        id: String,
    ) -> Result<lmrelay_ir::ModelInfo, Response> {
        auth::authorize_model(self.key.as_deref(), &id)
            .map_err(|e| ErrorReply::new(protocol, e).into_response())?;
        openai::model_info(&self.rt, &id).ok_or_else(|| {
            ErrorReply::new(protocol, GatewayError::UnknownModel(id)).into_response()
        })
    }
}

/// A JSON response.
pub(crate) fn json(body: Vec<u8>) -> Response {
    ([(http::header::CONTENT_TYPE, "application/json")], body).into_response()
}
