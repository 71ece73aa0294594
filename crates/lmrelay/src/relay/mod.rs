//! The request path after decoding: resolve candidates, try them in order (the attempt
//! loop), and relay the answer — whole, or as a stream translated event by event.
//!
//! Nothing reaches the client before the first upstream stream event with content, so until
//! then every failure can still move on to the next candidate and still becomes a proper
//! HTTP status.

mod asked;
mod failures;
mod other;
mod retries;
mod stream;

pub use asked::Asked;
pub use other::{count_tokens, embed, estimate_tokens};

use crate::cache;
use crate::config::KeyConfig;
use crate::error::{ErrorReply, GatewayError};
use crate::health::{Breaker, Standing};
use crate::metrics::{AttemptLabels, CacheLabels, Metrics, ProviderLabel};
use crate::outcome::Outcome;
use crate::protocol::ClientProtocol;
use crate::routing::{self, Candidate, RequestFacts};
use crate::runtime::{Provider, Runtime};
use crate::upstream::{self, transport_error};
use crate::upstream_keys::{KeyChoice, UpstreamKey};
use axum::response::{IntoResponse, Response};
use failures::Failures;
use http::{HeaderMap, HeaderValue};
use lmrelay_ir::{ApiError, ChatRequest, Extra, Usage};
use lmrelay_protocol::ResponseMeta;
use lmrelay_providers::{FailureKind, Next, RateLimits, UpstreamError};
use retries::{Admission, Tried};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the edge knows about one client exchange.
pub struct Exchange {
    pub protocol: ClientProtocol,
    pub request_id: String,
    pub started: Instant,
    pub started_ms: u64,
    pub headers: HeaderMap,
    /// The gateway key the client presented, if access needs one.
    pub key: Option<Arc<KeyConfig>>,
    /// The request's input tokens as estimated before the call (what limits counted).
    pub estimated_tokens: u64,
    /// The exchange's trace, when traces are exported and this one is sampled.
    pub trace: Option<Arc<crate::telemetry::ExchangeTrace>>,
}

/// The header naming the provider that served a response.
pub const PROVIDER_HEADER: &str = "x-lmrelay-provider";
/// The header counting the upstream requests made for a response.
pub const ATTEMPTS_HEADER: &str = "x-lmrelay-attempts";

/// Why one attempt did not produce a response.
enum Failure {
    /// lmrelay cannot express the request for this provider (content its format cannot
    /// carry); another candidate may.
    Local(ApiError),
    /// The request itself cannot be served anywhere (an image URL that cannot be fetched).
    Client(ApiError),
    /// The upstream failed.
    Upstream(UpstreamError),
}

/// One request's view of its candidates: the exchange, and the meta the client's encoders
/// need.
struct Attempts<'a> {
    rt: &'a Runtime,
    ex: &'a Exchange,
    meta: ResponseMeta,
    /// Upstream requests sent so far, and the most that may be sent.
    made: AtomicU32,
    limit: u32,
    /// Where the answer goes in the cache, when the route caches.
    cache_key: Option<String>,
    /// Time spent waiting on upstreams, in nanoseconds (the rest is the gateway's).
    upstream_ns: AtomicU64,
    /// The prompt for the audit log, when it keeps content.
    prompt: Option<String>,
    /// When the answer must have started, across every attempt (`request_timeout`).
    deadline: Instant,
}

/// A candidate in the attempt queue; `deferred` once it was put back because another
/// request holds its breaker's probe.
struct Queued {
    candidate: Candidate,
    deferred: bool,
}

/// Holds a half-open breaker's probe slot for one attempt and gives it back when dropped
/// (after a verdict that is a no-op; without one, say when the client left, the next
/// request may probe).
struct ProbeSlot<'a>(&'a Breaker);

impl Drop for ProbeSlot<'_> {
    fn drop(&mut self) {
        self.0.release_probe();
    }
}

/// Serves a chat request: plans the candidates, runs the attempt loop, answers.
pub async fn chat(rt: Arc<Runtime>, ex: Exchange, mut asked: Asked) -> Response {
    let refuse = |e: ApiError| ErrorReply::new(ex.protocol, GatewayError::BadRequest(e));
    let facts = RequestFacts {
        model: asked.model(),
        key: ex.key.as_deref(),
        protocol: ex.protocol.family(),
        headers: &ex.headers,
        estimated_tokens: ex.estimated_tokens,
        max_output_tokens: asked.max_tokens().map(u64::from),
        stream: asked.stream(),
    };
    let plan = match routing::plan(&rt, &facts) {
        Ok(p) => p,
        Err(e) => return ErrorReply::new(ex.protocol, e).into_response(),
    };
    let affinity = asked.opening();
    let audit_content = rt.live.audit.as_ref().filter(|a| a.include_content);
    let caches = plan.cache && rt.config.cache.enabled;
    // The cache's key and the audit log's prompt are read from the canonical form.
    let canonical = if caches || audit_content.is_some() {
        match asked.canonical() {
            Ok(req) => Some(&*req),
            Err(e) => return refuse(e).into_response(),
        }
    } else {
        None
    };
    let cache_key = canonical.filter(|_| caches).map(|req| {
        // `*` is no key's name (names are checked): the scope of a shared route.
        let scope = match &ex.key {
            _ if plan.cache_shared => "*",
            Some(k) => k.name.as_str(),
            None => "-",
        };
        cache::key(req, scope)
    });
    let prompt = audit_content
        .zip(canonical)
        .map(|(a, req)| a.cap(&prompt_text(req)));
    if let Some(key) = cache_key
        .as_deref()
        .filter(|_| !cache::refused(&ex.headers))
    {
        let hit = cache::get(&rt.live, key).await;
        let result = if hit.is_some() { "hit" } else { "miss" };
        rt.live
            .metrics
            .cache
            .get_or_create(&CacheLabels { result })
            .inc();
        if let (Some((provider, answer)), Ok(req)) = (hit, asked.canonical()) {
            return serve_cached(&rt, &ex, req, &provider, &answer);
        }
    }
    let attempts = Attempts {
        rt: &rt,
        ex: &ex,
        meta: asked.meta(ex.started_ms),
        made: AtomicU32::new(0),
        limit: plan.max_attempts.unwrap_or(u32::MAX),
        cache_key,
        upstream_ns: AtomicU64::new(0),
        deadline: ex.started + rt.config.request_timeout,
        prompt,
    };
    let mut queue: VecDeque<Queued> = plan
        .candidates
        .into_iter()
        .map(|(candidate, standing)| Queued {
            candidate,
            deferred: standing == Standing::Blocked,
        })
        .collect();
    let mut failures = Failures::default();
    let mut tried = Tried::default();
    'candidates: while let Some(q) = queue.pop_front() {
        let provider = &rt.providers[q.candidate.provider];
        let breaker = &provider.health.breaker;
        // A breaker that is not closed lets one probe through at a time; a candidate whose
        // probe another request holds waits at the back, and is tried there only when
        // nothing else served (so a wrong verdict never causes an outage).
        let _probe = if breaker.is_closed() {
            None
        } else if breaker.try_probe(crate::now_ms(), &provider.config.name) {
            Some(ProbeSlot(breaker))
        } else if !q.deferred && !queue.is_empty() {
            queue.push_back(Queued {
                deferred: true,
                ..q
            });
            continue;
        } else {
            None
        };
        let candidate = &q.candidate;
        // This candidate's copy, once a refused optional feature has been dropped from it.
        let mut relaxed: Option<ChatRequest> = None;
        // A key's failure (401, 403, 429) is retried on the provider's next key: each usable
        // key at most once, the conversation's own key (or the rotation's) first.
        let choice = provider.keys.choose(affinity, crate::now_ms());
        if !choice.keyless && choice.keys.is_empty() {
            failures.record(provider, no_usable_key(provider, &choice));
            continue;
        }
        let keys: Vec<Option<Arc<UpstreamKey>>> = if choice.keyless {
            vec![None]
        } else {
            choice.keys.into_iter().map(Some).collect()
        };
        for key in keys {
            if attempts.made.load(Ordering::Relaxed) >= attempts.limit
                || Instant::now() >= attempts.deadline
            {
                break 'candidates;
            }
            let index = q.candidate.provider;
            match tried.admit(index, provider, &rt.config.retry, crate::now_ms()) {
                Admission::First => {}
                Admission::Retry(wait) if wait.is_zero() => {}
                Admission::Retry(wait) => {
                    if Instant::now() + wait >= attempts.deadline {
                        break 'candidates;
                    }
                    tokio::time::sleep(wait).await;
                }
                Admission::Refused => {
                    tracing::debug!(
                        request_id = %ex.request_id,
                        provider = %provider.config.name,
                        "retry not sent: the provider's retry budget is spent"
                    );
                    rt.live
                        .metrics
                        .retries_refused
                        .get_or_create(&ProviderLabel {
                            provider: provider.config.name.clone(),
                        })
                        .inc();
                    continue 'candidates;
                }
            }
            let key = key.as_deref();
            let adapter = provider.chat_adapter(&candidate.model);
            let fast = asked
                .as_raw()
                .filter(|_| attempts.passes_through(provider, adapter))
                .and_then(|raw| attempts.raw_request(raw, provider, candidate, key));
            let outcome = match fast {
                Some((stream, built)) => {
                    attempts
                        .dispatch(stream, built, provider, candidate, key)
                        .await
                }
                None => match asked.canonical() {
                    Ok(req) => {
                        attempts
                            .try_relaxing(req, &mut relaxed, provider, candidate, key)
                            .await
                    }
                    Err(e) => Err(Failure::Client(e)),
                },
            };
            let err = match outcome {
                Ok(mut response) => {
                    attempts.count(provider, "ok");
                    attempts.set_attempts(response.headers_mut());
                    if attempts.cache_key.is_some() {
                        response
                            .headers_mut()
                            .insert(cache::CACHE_HEADER, HeaderValue::from_static("miss"));
                    }
                    return response;
                }
                Err(Failure::Client(e)) => {
                    let mut r =
                        ErrorReply::new(ex.protocol, GatewayError::BadRequest(e)).into_response();
                    attempts.set_attempts(r.headers_mut());
                    return r;
                }
                Err(Failure::Local(e)) => {
                    failures.record_local(provider, e);
                    continue 'candidates;
                }
                Err(Failure::Upstream(err)) => err,
            };
            tracing::warn!(
                request_id = %ex.request_id,
                provider = %provider.config.name,
                status = err.error.status,
                failure = err.kind.as_str(),
                "upstream attempt failed"
            );
            provider.health.record_failure(
                &rt.config.health,
                &candidate.stats,
                err.kind,
                crate::now_ms(),
            );
            attempts.count(provider, err.kind.as_str());
            tried.failed(index, err.kind);
            if let Some(k) = key {
                mark_key(&rt, provider, k, &err);
            }
            let next = err.action().next;
            failures.record(provider, err);
            match next {
                Next::NextKey => continue,
                Next::NextCandidate => continue 'candidates,
                Next::AnswerClient => break 'candidates,
            }
        }
    }
    let mut response = failures.into_response(ex.protocol);
    attempts.set_attempts(response.headers_mut());
    response
}

// === impl Attempts ===

impl Attempts<'_> {
    /// The outcome of an exchange this request's attempts got an answer for, before its
    /// usage is known.
    fn outcome(
        &self,
        provider: &Provider,
        candidate: &Candidate,
        key: Option<&UpstreamKey>,
    ) -> Outcome {
        let mut o = pending_outcome(self.rt, self.ex, provider, candidate);
        o.audit.model_asked.clone_from(&self.meta.model);
        o.audit.key_id = key.map(|k| k.id.clone());
        o.audit.attempts = self.made.load(Ordering::Relaxed);
        o.audit.cache = self.cache_key.as_ref().map(|_| "miss");
        o.audit.prompt.clone_from(&self.prompt);
        o
    }

    /// Counts an upstream attempt's outcome.
    fn count(&self, provider: &Provider, outcome: &'static str) {
        self.rt
            .live
            .metrics
            .attempts
            .get_or_create(&AttemptLabels {
                provider: provider.config.name.clone(),
                outcome,
            })
            .inc();
    }

    fn add_upstream_time(&self, d: Duration) {
        self.upstream_ns
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    fn set_attempts(&self, headers: &mut HeaderMap) {
        headers.insert(
            ATTEMPTS_HEADER,
            HeaderValue::from(self.made.load(Ordering::Relaxed)),
        );
    }

    /// An attempt, and when the upstream refused a feature its model lacks that came from
    /// another protocol (say, Claude Code's thinking sent to an Ollama model that cannot
    /// think), one more without it; the relaxed request then serves the candidate's other
    /// keys. A client speaking the upstream's own protocol gets the refusal as is.
    async fn try_relaxing(
        &self,
        req: &mut ChatRequest,
        relaxed: &mut Option<ChatRequest>,
        provider: &Provider,
        candidate: &Candidate,
        key: Option<&UpstreamKey>,
    ) -> Result<Response, Failure> {
        if let Some(r) = relaxed.as_mut() {
            return self.attempt(r, provider, candidate, key).await;
        }
        let failure = match self.attempt(req, provider, candidate, key).await {
            Ok(r) => return Ok(r),
            Err(f) => f,
        };
        let Failure::Upstream(err) = &failure else {
            return Err(failure);
        };
        let adapter = provider.chat_adapter(&candidate.model);
        if err.retryable() || adapter.dialect() == self.ex.protocol.dialect() {
            return Err(failure);
        }
        if self.made.load(Ordering::Relaxed) >= self.limit {
            return Err(failure);
        }
        let mut copy = req.clone();
        if !adapter.relax(&mut copy, &err.error) {
            return Err(failure);
        }
        tracing::debug!(
            request_id = %self.ex.request_id,
            provider = %provider.config.name,
            "retrying without a feature the upstream model does not support"
        );
        let r = relaxed.insert(copy);
        self.attempt(r, provider, candidate, key).await
    }

    /// One attempt: build the request for `provider`, send it, and relay the answer.
    async fn attempt(
        &self,
        req: &mut ChatRequest,
        provider: &Provider,
        candidate: &Candidate,
        key: Option<&UpstreamKey>,
    ) -> Result<Response, Failure> {
        let (rt, ex) = (self.rt, self.ex);
        let adapter = provider.chat_adapter(&candidate.model);
        if adapter.needs_inline_images() && crate::images::has_url_images(req) {
            // Done in place: the inlined images serve later candidates as well. A URL that
            // cannot be fetched is the client's to fix, whichever provider is tried.
            crate::images::inline_url_images(req, rt.config.fetch_private_images)
                .await
                .map_err(Failure::Client)?;
        }
        let target = provider.target(
            &candidate.model,
            key.map(|k| &k.secret),
            ex.protocol.dialect(),
            &ex.headers,
        );
        // The fields only the client's own protocol knows reach only an upstream of it.
        let own = adapter.dialect() == ex.protocol.dialect();
        let extra = if own {
            Extra::new()
        } else {
            std::mem::take(&mut req.extra)
        };
        let built = adapter.chat_request(req, &target);
        if !own {
            req.extra = extra;
        }
        self.dispatch(req.stream, built, provider, candidate, key)
            .await
    }

    /// The same-protocol fast path's request: the client's body with the candidate's model
    /// spliced in, with the adapter's URL and headers, and whether it streams. `None` when
    /// the adapter has no such request (the canonical path then serves).
    fn raw_request(
        &self,
        raw: &asked::Raw,
        provider: &Provider,
        candidate: &Candidate,
        key: Option<&UpstreamKey>,
    ) -> Option<(bool, Result<lmrelay_providers::UpstreamRequest, ApiError>)> {
        let target = provider.target(
            &candidate.model,
            key.map(|k| &k.secret),
            self.ex.protocol.dialect(),
            &self.ex.headers,
        );
        let body = raw.envelope.body_for(&raw.body, &candidate.model);
        let built = provider
            .chat_adapter(&candidate.model)
            .passthrough_request(body, &target)?;
        Some((raw.envelope.stream, built))
    }

    /// Sends an attempt's built request (traced) and relays the answer; a request that
    /// could not be built is this candidate's local failure.
    async fn dispatch(
        &self,
        stream: bool,
        built: Result<lmrelay_providers::UpstreamRequest, ApiError>,
        provider: &Provider,
        candidate: &Candidate,
        key: Option<&UpstreamKey>,
    ) -> Result<Response, Failure> {
        let mut http_req = built.map_err(Failure::Local)?;
        self.propagate_trace(&mut http_req, provider, candidate, key);
        let result = self.send(stream, http_req, provider, candidate, key).await;
        if let (Some(t), Err(Failure::Upstream(e))) = (&self.ex.trace, &result) {
            t.fail_attempt(e.kind.as_str(), e.error.status);
        }
        result
    }

    /// Opens the attempt's span and names it upstream in `traceparent`; without a trace of
    /// its own, passes the client's trace context on unchanged.
    fn propagate_trace(
        &self,
        http_req: &mut lmrelay_providers::UpstreamRequest,
        provider: &Provider,
        candidate: &Candidate,
        key: Option<&UpstreamKey>,
    ) {
        use crate::telemetry::{TRACEPARENT, TRACESTATE};
        let headers = http_req.headers_mut();
        if let Some(t) = &self.ex.trace {
            let tp = t.start_attempt(
                &provider.config.name,
                &provider.config.type_name,
                &candidate.model,
                key.map(|k| k.id.as_str()),
            );
            headers.insert(TRACEPARENT, tp);
        } else if let Some(tp) = self.ex.headers.get(TRACEPARENT) {
            headers.insert(TRACEPARENT, tp.clone());
        } else {
            return;
        }
        if let Some(ts) = self.ex.headers.get(TRACESTATE) {
            headers.insert(TRACESTATE, ts.clone());
        }
    }

    /// Sends an attempt's upstream request and relays the answer.
    async fn send(
        &self,
        stream: bool,
        http_req: lmrelay_providers::UpstreamRequest,
        provider: &Provider,
        candidate: &Candidate,
        key: Option<&UpstreamKey>,
    ) -> Result<Response, Failure> {
        let limits = &provider.config.timeouts;
        // The head is due within `header_timeout`, and never after the first token (streams)
        // or the whole answer (otherwise) is due.
        // Never past the request's own deadline, across attempts.
        let head_limit = limits
            .header
            .min(if stream {
                limits.first_token
            } else {
                limits.total
            })
            .min(self.deadline.saturating_duration_since(Instant::now()));
        self.made.fetch_add(1, Ordering::Relaxed);
        let sent = Instant::now();
        let resp = upstream::send(&provider.client, http_req, head_limit).await;
        self.add_upstream_time(sent.elapsed());
        let resp = resp.map_err(|e| Failure::Upstream(transport_error(&e)))?;
        let status = resp.status();
        let upstream_id = upstream::upstream_request_id(resp.headers());
        let now = crate::now_ms();
        let rate_limits = RateLimits::read(resp.headers(), now);
        if let Some(k) = key {
            k.state.observe(&rate_limits, now);
        }
        if !status.is_success() {
            let headers = resp.headers().clone();
            let body = upstream::read_error_body(resp, limits.idle).await;
            let adapter = provider.chat_adapter(&candidate.model);
            let mut err = adapter.error(status.as_u16(), &headers, &body);
            // A rate limit without `retry-after` lasts until the spent budget resets.
            if err.retry_after.is_none() {
                err.retry_after = rate_limits.reset_of_spent();
            }
            return Err(Failure::Upstream(err));
        }
        let result = if stream {
            stream::start(self, provider, candidate, key, resp, sent).await
        } else {
            self.complete(provider, candidate, key, resp, sent).await
        };
        let mut response = result.map_err(Failure::Upstream)?;
        let h = response.headers_mut();
        set_provider(h, &provider.config.name);
        if let Some(id) = upstream_id {
            h.insert("x-upstream-request-id", id);
        }
        Ok(response)
    }

    /// Reads a whole upstream answer, within what is left of the provider's `timeout`, and
    /// encodes it for the client.
    async fn complete(
        &self,
        provider: &Provider,
        candidate: &Candidate,
        key: Option<&UpstreamKey>,
        resp: reqwest::Response,
        sent: Instant,
    ) -> Result<Response, UpstreamError> {
        let left = provider
            .config
            .timeouts
            .total
            .saturating_sub(sent.elapsed())
            .min(self.deadline.saturating_duration_since(Instant::now()));
        let reading = Instant::now();
        let body = upstream::read_body(resp, left).await;
        self.add_upstream_time(reading.elapsed());
        let body = body.map_err(|e| transport_error(&e))?;
        let adapter = provider.chat_adapter(&candidate.model);
        if self.passes_through(provider, adapter) {
            if let Some(summary) = adapter.answer_summary(&body) {
                let summary = summary.map_err(UpstreamError::unreadable)?;
                provider
                    .health
                    .record_success(&candidate.stats, Some(sent.elapsed()), None);
                let mut outcome = self.outcome(provider, candidate, key);
                outcome.usage = summary.usage;
                outcome.finish_reason = Some(summary.finish);
                outcome.finish(&self.rt.live);
                self.observe_overhead();
                return Ok(
                    ([(http::header::CONTENT_TYPE, "application/json")], body).into_response()
                );
            }
        }
        let answer = adapter
            .chat_response(&body)
            .map_err(UpstreamError::unreadable)?;
        provider
            .health
            .record_success(&candidate.stats, Some(sent.elapsed()), None);
        let mut outcome = self.outcome(provider, candidate, key);
        outcome.usage = answer.usage;
        outcome.finish_reason = Some(answer.finish);
        if let Some(a) = self.rt.live.audit.as_ref().filter(|a| a.include_content) {
            outcome.audit.completion = Some(a.cap(&answer_text(&answer)));
        }
        outcome.finish(&self.rt.live);
        if let Some(key) = &self.cache_key {
            cache::put_later(
                self.rt.live.clone(),
                self.rt.config.cache,
                key.clone(),
                provider.config.name.clone(),
                answer.clone(),
            );
        }
        let bytes = self
            .ex
            .protocol
            .encode_response(&answer, &self.meta, crate::now_ms());
        self.observe_overhead();
        Ok(([(http::header::CONTENT_TYPE, "application/json")], bytes).into_response())
    }

    /// Whether `provider` takes the same-protocol fast path: the request goes upstream as
    /// the client sent it (the model renamed) and the answer comes back as the upstream sent
    /// it. So when the client speaks the upstream's own chat protocol, the provider needs
    /// nothing rewritten (a plain `openai` or `anthropic` provider — no vendor preset, no
    /// Azure filter results, not the Responses API — that keeps `passthrough`), and nothing
    /// here needs the answer built (the cache, the audit log's content). What the canonical
    /// path would drop — further choices, logprobs, `system_fingerprint`, `service_tier`,
    /// annotations, fields lmrelay does not know — then reaches both ends unchanged.
    fn passes_through(
        &self,
        provider: &Provider,
        adapter: &dyn lmrelay_providers::Adapter,
    ) -> bool {
        matches!(
            self.ex.protocol,
            ClientProtocol::OpenAiChat | ClientProtocol::Anthropic
        ) && adapter.dialect() == self.ex.protocol.dialect()
            && adapter.passes_answers_through()
            && provider.config.passthrough
            && provider.preset.is_none()
            && self.cache_key.is_none()
            && self.prompt.is_none()
    }

    /// Records the time this exchange spent in lmrelay (upstream time excluded).
    fn observe_overhead(&self) {
        let upstream = Duration::from_nanos(self.upstream_ns.load(Ordering::Relaxed));
        self.rt.live.metrics.overhead.observe(
            self.ex
                .started
                .elapsed()
                .saturating_sub(upstream)
                .as_secs_f64(),
        );
    }
}

/// How long a key cools when the provider gave no time: a rate limit passes in seconds, an
/// exhausted quota does not.
const RATE_LIMIT_COOLING: Duration = Duration::from_secs(1);
const QUOTA_COOLING: Duration = Duration::from_secs(600);
const MAX_COOLING: Duration = Duration::from_secs(3600);

/// Applies the failure table's key marks: cooling after a rate limit or spent quota, invalid
/// after the provider rejected the key. Each change is logged once, by its key id.
fn mark_key(rt: &Runtime, provider: &Provider, key: &UpstreamKey, err: &UpstreamError) {
    let action = err.action();
    let name = &provider.config.name;
    let shared = matches!(rt.config.store, crate::config::StoreBackend::Redis { .. });
    if action.cool_key {
        let default = if err.kind == FailureKind::QuotaExhausted {
            QUOTA_COOLING
        } else {
            RATE_LIMIT_COOLING
        };
        let cooling = err.retry_after.unwrap_or(default).min(MAX_COOLING);
        let now = crate::now_ms();
        if shared {
            let mark = crate::upstream_keys::shared::Mark {
                cooling_until_ms: now + cooling.as_millis() as u64,
                invalid: false,
            };
            crate::upstream_keys::shared::publish(rt.live.store.clone(), name, &key.id, mark);
        }
        if key.state.cool(now, cooling) {
            tracing::warn!(
                provider = %name,
                key = %key.id,
                cooling_ms = cooling.as_millis() as u64,
                failure = err.kind.as_str(),
                "upstream key cooling"
            );
        }
    }
    if action.invalidate_key && shared {
        let mark = crate::upstream_keys::shared::Mark {
            cooling_until_ms: 0,
            invalid: true,
        };
        crate::upstream_keys::shared::publish(rt.live.store.clone(), name, &key.id, mark);
    }
    if action.invalidate_key && key.state.invalidate() {
        tracing::warn!(
            provider = %name,
            key = %key.id,
            status = err.error.status,
            "upstream key rejected by the provider; out of rotation until an admin rotation or a reload"
        );
    }
}

/// The failure of a provider none of whose keys may be used now: a rate limit until the
/// first cooling key is back (so the client's 503 carries the earliest `Retry-After`), or,
/// when every key was rejected, a bad key.
fn no_usable_key(provider: &Provider, choice: &KeyChoice) -> UpstreamError {
    let name = &provider.config.name;
    if choice.all_invalid {
        return UpstreamError::new(
            FailureKind::BadKey,
            ApiError::new(
                lmrelay_ir::ErrorKind::Authentication,
                format!("Every API key of provider `{name}` was rejected; rotate them (POST /admin/keys/rotate)."),
            )
            .with_status(401),
        );
    }
    let wait = choice.cooling_until.map(|t| {
        Duration::from_millis(t.saturating_sub(crate::now_ms())).max(Duration::from_millis(1))
    });
    let mut err = UpstreamError::new(
        FailureKind::RateLimited,
        ApiError::new(
            lmrelay_ir::ErrorKind::RateLimited,
            format!("Every API key of provider `{name}` is cooling down after a rate limit."),
        )
        .with_status(429),
    );
    err.retry_after = wait;
    err
}

/// A hash of how a conversation begins (its system prompt and first user turn), so that its
/// later requests go to the same upstream key and find the provider's prompt cache warm.
fn conversation_affinity(req: &ChatRequest) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let first_user = req
        .messages
        .iter()
        .position(|m| m.role == lmrelay_ir::Role::User)?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for m in &req.messages[..=first_user] {
        for part in &m.content {
            if let lmrelay_ir::ContentPart::Text { text, .. } = part {
                text.hash(&mut h);
            }
        }
    }
    Some(h.finish())
}

/// Answers from the cache: whole, or played back as a stream, in the client's protocol.
fn serve_cached(
    rt: &Runtime,
    ex: &Exchange,
    req: &ChatRequest,
    provider: &str,
    answer: &lmrelay_ir::ChatResponse,
) -> Response {
    let meta = ResponseMeta {
        model: req.model.clone(),
        started_ms: ex.started_ms,
        include_usage: req.include_usage,
        include_reasoning: req.wants_reasoning(),
        tool_namespaces: req.tool_namespaces.clone(),
    };
    let now = crate::now_ms();
    let mut response = if req.stream {
        let mut encoder = ex.protocol.stream_encoder(meta);
        let mut out = bytes::BytesMut::with_capacity(1024);
        for e in answer.to_events() {
            encoder.push(&e, &mut out);
        }
        encoder.finish(now, &mut out);
        let mut r = Response::new(axum::body::Body::from(out.freeze()));
        let h = r.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(encoder.content_type()),
        );
        h.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        );
        r
    } else {
        let body = ex.protocol.encode_response(answer, &meta, now);
        ([(http::header::CONTENT_TYPE, "application/json")], body).into_response()
    };
    // A hit uses no upstream tokens and costs nothing.
    Outcome {
        request_id: ex.request_id.clone(),
        key: ex.key.clone(),
        provider: provider.to_owned(),
        model: answer.model.clone(),
        usage: Usage::default(),
        estimated_tokens: ex.estimated_tokens,
        price: None,
        started: ex.started,
        admitted_ms: ex.started_ms,
        result: "cache hit",
        protocol: ex.protocol,
        system: rt
            .providers
            .iter()
            .find(|p| p.config.name == provider)
            .map_or("", |p| {
                crate::telemetry::gen_ai_provider(&p.config.type_name)
            }),
        finish_reason: Some(answer.finish),
        trace: ex.trace.clone(),
        model_label: Metrics::model_label(rt, &req.model),
        audit: crate::outcome::AuditFields {
            model_asked: req.model.clone(),
            cache: Some("hit"),
            ..Default::default()
        },
    }
    .finish(&rt.live);
    let h = response.headers_mut();
    h.insert(cache::CACHE_HEADER, HeaderValue::from_static("hit"));
    h.insert(ATTEMPTS_HEADER, HeaderValue::from(0u32));
    set_provider(h, provider);
    response
}

/// The outcome of an exchange served by `candidate`, before its usage is known.
fn pending_outcome(
    rt: &Runtime,
    ex: &Exchange,
    provider: &Provider,
    candidate: &Candidate,
) -> Outcome {
    Outcome {
        protocol: ex.protocol,
        system: crate::telemetry::gen_ai_provider(&provider.config.type_name),
        finish_reason: None,
        trace: ex.trace.clone(),
        model_label: Metrics::model_label(rt, &candidate.model),
        request_id: ex.request_id.clone(),
        key: ex.key.clone(),
        provider: provider.config.name.clone(),
        model: candidate.model.clone(),
        usage: Usage::default(),
        estimated_tokens: ex.estimated_tokens,
        price: routing::strategy::price_of(&provider.config.prices, &candidate.model).copied(),
        started: ex.started,
        admitted_ms: ex.started_ms,
        result: "complete",
        audit: Default::default(),
    }
}

/// The text of a request's messages, one per line (for the audit log).
fn prompt_text(req: &ChatRequest) -> String {
    let mut out = String::new();
    for m in &req.messages {
        for part in &m.content {
            if let lmrelay_ir::ContentPart::Text { text, .. } = part {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(text);
            }
        }
    }
    out
}

/// The text of an answer (for the audit log).
fn answer_text(answer: &lmrelay_ir::ChatResponse) -> String {
    answer
        .content
        .iter()
        .filter_map(|p| match p {
            lmrelay_ir::ContentPart::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// Sets `x-lmrelay-provider`.
pub fn set_provider(headers: &mut HeaderMap, provider: &str) {
    if let Ok(v) = HeaderValue::from_str(provider) {
        headers.insert(PROVIDER_HEADER, v);
    }
}
