//! Streamed answers: wait for the first upstream event with content before committing the
//! response head, then translate event by event, pulling upstream bytes only as fast as the
//! client reads (backpressure) and dropping the upstream request when the client leaves.
//!
//! On the same-protocol fast path ([`RawPass`]) the upstream's events go to the client as they
//! came, whole; they are still decoded, for what the gateway must know (the first content,
//! usage, the finish, errors), but not re-encoded.

use super::Attempts;
use crate::cache;
use crate::config::{CacheConfig, HealthConfig};
use crate::health::{ProviderHealth, TargetStats};
use crate::live::Live;
use crate::outcome::Outcome;
use crate::routing::Candidate;
use crate::runtime::Provider;
use crate::upstream::{self, transport_error, SendError};
use axum::body::Body;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::stream::{BoxStream, StreamExt};
use http::HeaderValue;
use lmrelay_ir::{StreamCollector, StreamEvent};
use lmrelay_protocol::{StreamDecoder, StreamEncoder};
use lmrelay_providers::FailureKind;
use lmrelay_providers::UpstreamError;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most bytes an upstream may send without completing an event (an SSE event, an
/// NDJSON line, an event-stream message): what a stream makes the gateway buffer is bounded.
pub const MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;

/// Counts the bytes fed to a decoder since it last completed an event.
#[derive(Default)]
struct Pending(usize);

impl Pending {
    /// Feeds a chunk; `Err` once more than [`MAX_EVENT_BYTES`] are held without an event.
    fn feed(
        &mut self,
        decoder: &mut dyn StreamDecoder,
        chunk: &[u8],
        events: &mut Vec<StreamEvent>,
    ) -> Result<(), UpstreamError> {
        let before = events.len();
        decoder.feed(chunk, events);
        if events.len() > before {
            self.0 = 0;
        } else {
            self.0 += chunk.len();
        }
        if self.0 > MAX_EVENT_BYTES {
            return Err(event_too_large());
        }
        Ok(())
    }
}

/// The fast path of a stream whose client speaks the upstream's protocol (SSE): complete
/// events are passed on unchanged; the one OpenAI usage chunk the client did not ask for
/// (lmrelay always asks upstream, to count tokens) is left out.
struct RawPass {
    /// The bytes of an event not yet complete.
    partial: BytesMut,
    /// Whether a chunk with usage alone is left out (OpenAI's `include_usage` unset).
    drop_usage_only: bool,
    /// Whether the upstream said how the answer finished.
    saw_finish: bool,
    /// Whether the stream is committed to the client: from then on an event of content
    /// alone is passed on without being decoded (only usage, finish and errors matter).
    committed: bool,
}

// === impl RawPass ===

impl RawPass {
    /// Takes a chunk: each event it completes is decoded into `events` and, unless left
    /// out, appended to `out` as it came. Whole events are passed from the chunk itself;
    /// only an unfinished one is held (and its end looked for in the new bytes only, so a
    /// long event is scanned once, not once per chunk).
    fn feed(
        &mut self,
        chunk: &[u8],
        decoder: &mut dyn StreamDecoder,
        events: &mut Vec<StreamEvent>,
        out: &mut BytesMut,
    ) -> Result<(), UpstreamError> {
        if self.partial.is_empty() {
            return self.feed_events(chunk, decoder, events, out);
        }
        // A terminator may have begun in the last bytes held (`\n`, `\n\r`, `\n\r\n`).
        let from = self.partial.len().saturating_sub(3);
        self.partial.extend_from_slice(chunk);
        let Some(end) = lmrelay_protocol::sse::event_end(&self.partial[from..]) else {
            return self.check_held();
        };
        let held = self.partial.split_to(from + end);
        self.pass(&held, decoder, events, out);
        let rest = self.partial.split();
        self.feed_events(&rest, decoder, events, out)
    }

    /// Passes the whole events at the start of `bytes` and holds the rest.
    fn feed_events(
        &mut self,
        mut bytes: &[u8],
        decoder: &mut dyn StreamDecoder,
        events: &mut Vec<StreamEvent>,
        out: &mut BytesMut,
    ) -> Result<(), UpstreamError> {
        while let Some(end) = lmrelay_protocol::sse::event_end(bytes) {
            self.pass(&bytes[..end], decoder, events, out);
            bytes = &bytes[end..];
        }
        self.partial.extend_from_slice(bytes);
        self.check_held()
    }

    fn check_held(&self) -> Result<(), UpstreamError> {
        if self.partial.len() > MAX_EVENT_BYTES {
            return Err(event_too_large());
        }
        Ok(())
    }

    /// The upstream ended: what is left (an event without its blank line) goes as it is;
    /// then the decoder is finished. What it makes up then — the error of a stream that
    /// stopped short — never was upstream bytes: it is returned, to be said in the client's
    /// shape.
    fn finish(
        &mut self,
        decoder: &mut dyn StreamDecoder,
        events: &mut Vec<StreamEvent>,
        out: &mut BytesMut,
    ) -> Option<lmrelay_ir::ApiError> {
        let rest = self.partial.split();
        if !rest.is_empty() {
            self.pass(&rest, decoder, events, out);
        }
        let before = events.len();
        decoder.finish(events);
        let made_up = events[before..]
            .iter()
            .position(|e| matches!(e, StreamEvent::Error(_)))
            .map(|i| events.remove(before + i));
        self.note(&events[before..]);
        match made_up {
            Some(StreamEvent::Error(e)) => Some(e),
            _ => None,
        }
    }

    fn pass(
        &mut self,
        event: &[u8],
        decoder: &mut dyn StreamDecoder,
        events: &mut Vec<StreamEvent>,
        out: &mut BytesMut,
    ) {
        if self.committed && decoder.content_only(event) {
            out.extend_from_slice(event);
            return;
        }
        let before = events.len();
        decoder.feed(event, events);
        let new = &events[before..];
        self.note(new);
        let usage_only = !new.is_empty() && new.iter().all(|e| matches!(e, StreamEvent::Usage(_)));
        if !(self.drop_usage_only && usage_only) {
            out.extend_from_slice(event);
        }
    }

    fn note(&mut self, events: &[StreamEvent]) {
        self.saw_finish |= events
            .iter()
            .any(|e| matches!(e, StreamEvent::Finish { .. } | StreamEvent::Error(_)));
    }
}

fn event_too_large() -> UpstreamError {
    UpstreamError::new(
        FailureKind::StreamError,
        lmrelay_ir::ApiError::new(
            lmrelay_ir::ErrorKind::BadGateway,
            format!(
                "The upstream stream sent more than {MAX_EVENT_BYTES} bytes without completing an event."
            ),
        )
        .with_status(502),
    )
}

/// Reads the upstream stream until its first event with content, then commits the response
/// head and hands the rest to a [`StreamRelay`]. A failure before that point is returned, so
/// the attempt loop can still fail over and the client still gets a status.
pub(super) async fn start(
    attempts: &Attempts<'_>,
    provider: &Provider,
    candidate: &Candidate,
    key: Option<&crate::upstream_keys::UpstreamKey>,
    resp: reqwest::Response,
    sent: Instant,
) -> Result<Response, UpstreamError> {
    let (ex, meta) = (attempts.ex, attempts.meta.clone());
    let limits = &provider.config.timeouts;
    // Pings alone do not hold a client for ever: the first content is due within
    // `first_token_timeout` of sending the request, as a whole.
    let deadline =
        tokio::time::Instant::from_std((sent + limits.first_token).min(attempts.deadline));
    let mut upstream = resp.bytes_stream().boxed();
    let adapter = provider.chat_adapter(&candidate.model);
    let mut decoder = adapter.stream_decoder();
    let mut events = Vec::new();
    let mut pending = Pending::default();
    let mut ended = false;
    let mut raw = attempts.passes_through(provider, adapter).then(|| RawPass {
        partial: BytesMut::new(),
        drop_usage_only: ex.protocol == crate::protocol::ClientProtocol::OpenAiChat
            && !meta.include_usage,
        saw_finish: false,
        committed: false,
    });
    // What the fast path passes on once the stream is committed.
    let mut held = BytesMut::new();
    let visible = |e: &StreamEvent| has_content(e, meta.include_reasoning);
    // `Start` and `Usage` alone (Anthropic's `message_start`, OpenAI's role chunk) commit
    // nothing, so an overload reported right after them still fails over.
    while !ended && !events.iter().any(visible) {
        match tokio::time::timeout_at(deadline, upstream.next()).await {
            Err(_) => return Err(transport_error(&SendError::Timeout)),
            Ok(Some(Ok(chunk))) => match raw.as_mut() {
                Some(r) => r.feed(&chunk, &mut *decoder, &mut events, &mut held)?,
                None => pending.feed(&mut *decoder, &chunk, &mut events)?,
            },
            Ok(Some(Err(e))) => {
                return Err(transport_error(&upstream::transport_failure(&e)));
            }
            Ok(None) => {
                match raw.as_mut() {
                    Some(r) => {
                        if let Some(e) = r.finish(&mut *decoder, &mut events, &mut held) {
                            events.push(StreamEvent::Error(e));
                        }
                    }
                    None => decoder.finish(&mut events),
                }
                ended = true;
            }
        }
    }
    let early_error = events
        .iter()
        .take_while(|e| !visible(e) || matches!(e, StreamEvent::Error(_)))
        .find_map(|e| match e {
            StreamEvent::Error(err) => Some(err),
            _ => None,
        });
    if let Some(e) = early_error {
        // An in-band error before the first content: classified by what it says (a
        // rate limit stays a rate limit), and otherwise a stream error.
        let mut err = lmrelay_providers::classify(200, &http::HeaderMap::new(), e.clone());
        if err.kind == FailureKind::ServerError {
            err.kind = FailureKind::StreamError;
        }
        return Err(err);
    }
    if !events.iter().any(visible) {
        // The stream ended with no content and no error: nothing the client can use.
        return Err(UpstreamError::new(
            FailureKind::StreamError,
            lmrelay_ir::ApiError::new(
                lmrelay_ir::ErrorKind::BadGateway,
                "The upstream stream ended before any content.",
            )
            .with_status(502),
        ));
    }
    let ttft = sent.elapsed();
    provider
        .health
        .record_success(&candidate.stats, None, Some(ttft));
    attempts
        .rt
        .live
        .metrics
        .ttft
        .get_or_create(&crate::metrics::ProviderLabel {
            provider: provider.config.name.clone(),
        })
        .observe(ttft.as_secs_f64());
    if let Some(r) = raw.as_mut() {
        r.committed = true;
    }
    let encoder = ex.protocol.stream_encoder(meta);
    let content_type = encoder.content_type();
    let relay = StreamRelay {
        upstream,
        decoder,
        encoder,
        events,
        out: if raw.is_some() {
            held
        } else {
            BytesMut::with_capacity(4096)
        },
        raw,
        idle: limits.idle,
        deadline: tokio::time::Instant::from_std(sent + limits.stream),
        pending,
        ended,
        done: false,
        outcome: Some({
            let mut o = attempts.outcome(provider, candidate, key);
            o.audit.ttft_ms = Some(ttft.as_millis() as u64);
            o
        }),
        completion: attempts
            .rt
            .live
            .audit
            .as_ref()
            .filter(|a| a.include_content)
            .map(|a| (String::new(), a.max_content)),
        live: attempts.rt.live.clone(),
        cache: attempts
            .cache_key
            .clone()
            .map(|k| (k, StreamCollector::default(), attempts.rt.config.cache)),
        health: provider.health.clone(),
        stats: candidate.stats.clone(),
        health_config: attempts.rt.config.health,
        failed: false,
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

/// Whether an event puts something in front of the client: not the stream's start or usage,
/// and not reasoning the client did not ask to see (its encoder writes nothing for it).
fn has_content(e: &StreamEvent, include_reasoning: bool) -> bool {
    match e {
        StreamEvent::Start { .. } | StreamEvent::Usage(_) => false,
        StreamEvent::ReasoningDelta(_)
        | StreamEvent::ReasoningSignature(_)
        | StreamEvent::RedactedReasoning(_) => include_reasoning,
        _ => true,
    }
}

/// The rest of a committed stream.
struct StreamRelay {
    upstream: BoxStream<'static, reqwest::Result<Bytes>>,
    decoder: Box<dyn StreamDecoder>,
    encoder: Box<dyn StreamEncoder>,
    events: Vec<StreamEvent>,
    out: BytesMut,
    /// The same-protocol fast path: events passed on as they came, the encoder used only for
    /// errors of lmrelay's own.
    raw: Option<RawPass>,
    idle: Duration,
    /// When the whole stream is due (`stream_timeout`).
    deadline: tokio::time::Instant,
    pending: Pending,
    ended: bool,
    done: bool,
    /// Finished (with the stream's usage) when the relay is dropped.
    outcome: Option<Outcome>,
    /// The completion text for the audit log, and the most it keeps, when it keeps content.
    completion: Option<(String, usize)>,
    /// The answer being gathered for the cache, and its key, when the route caches.
    cache: Option<(String, StreamCollector, CacheConfig)>,
    live: Arc<Live>,
    /// Where a failure after the stream was committed is recorded.
    health: Arc<ProviderHealth>,
    stats: Arc<TargetStats>,
    health_config: HealthConfig,
    failed: bool,
}

// === impl StreamRelay ===

impl StreamRelay {
    /// The next frame for the client: encodes what has been decoded, and reads upstream only
    /// when there is nothing left to send.
    async fn next_frame(mut self) -> Option<(Result<Bytes, std::io::Error>, Self)> {
        loop {
            if self.done {
                return None;
            }
            let mut errored = false;
            for e in self.events.drain(..) {
                if let Some((_, collector, _)) = self.cache.as_mut() {
                    collector.push(&e);
                }
                if let (Some((text, max)), StreamEvent::TextDelta(t)) =
                    (self.completion.as_mut(), &e)
                {
                    if text.len() < *max {
                        text.push_str(t);
                    }
                }
                match &e {
                    StreamEvent::Usage(u) => {
                        if let Some(o) = self.outcome.as_mut() {
                            o.usage = *u;
                        }
                    }
                    StreamEvent::Finish { reason, .. } => {
                        if let Some(o) = self.outcome.as_mut() {
                            o.finish_reason = Some(*reason);
                        }
                    }
                    StreamEvent::Error(_) => errored = true,
                    _ => {}
                }
                if self.raw.is_none() {
                    self.encoder.push(&e, &mut self.out);
                }
            }
            if errored {
                self.fail(FailureKind::StreamError);
            }
            match &self.raw {
                None => {
                    if self.ended && !self.encoder.is_closed() {
                        self.encoder.finish(crate::now_ms(), &mut self.out);
                    }
                    if self.encoder.is_closed() {
                        self.done = true;
                    }
                }
                Some(raw) if self.ended => {
                    // An upstream that stopped without finishing: said in the client's
                    // shape, as the translating path says it.
                    if !raw.saw_finish && !self.encoder.is_closed() {
                        let e = lmrelay_protocol::stream::premature_end();
                        self.encoder.push(&StreamEvent::Error(e), &mut self.out);
                    }
                    self.done = true;
                }
                Some(_) => {}
            }
            if !self.out.is_empty() {
                let frame = self.out.split().freeze();
                return Some((Ok(frame), self));
            }
            if self.done {
                return None;
            }
            let due = (tokio::time::Instant::now() + self.idle).min(self.deadline);
            match tokio::time::timeout_at(due, self.upstream.next()).await {
                Ok(Some(Ok(chunk))) => {
                    let fed = match self.raw.as_mut() {
                        Some(r) => {
                            r.feed(&chunk, &mut *self.decoder, &mut self.events, &mut self.out)
                        }
                        None => self
                            .pending
                            .feed(&mut *self.decoder, &chunk, &mut self.events),
                    };
                    if let Err(e) = fed {
                        self.fail(e.kind);
                        self.own_error(e.error);
                        self.ended = true;
                    }
                }
                Ok(Some(Err(_))) => {
                    self.fail(FailureKind::Connection);
                    self.end_of_upstream(true);
                }
                Ok(None) => self.end_of_upstream(false),
                Err(_) if tokio::time::Instant::now() >= self.deadline => {
                    // Too long in all: the client gets what came, then an error; the
                    // provider's health is not blamed for a long answer.
                    self.failed = true;
                    self.own_error(
                        lmrelay_ir::ApiError::new(
                            lmrelay_ir::ErrorKind::Timeout,
                            "The stream lasted longer than the provider's stream_timeout.",
                        )
                        .with_status(504),
                    );
                    self.ended = true;
                }
                Err(_) => {
                    self.fail(FailureKind::Timeout);
                    self.own_error(transport_error(&SendError::Timeout).error);
                    self.ended = true;
                }
            }
        }
    }
}

impl StreamRelay {
    /// An error of lmrelay's own (a time limit, an oversized event): on the fast path it is
    /// encoded at once, after the last whole upstream event; otherwise it joins the events.
    fn own_error(&mut self, error: lmrelay_ir::ApiError) {
        if self.raw.is_some() {
            self.encoder.push(&StreamEvent::Error(error), &mut self.out);
        } else {
            self.events.push(StreamEvent::Error(error));
        }
    }

    /// The upstream stream ended, or broke: what the decoder holds is finished (on the fast
    /// path a broken stream's unfinished event is dropped, not passed on in part).
    fn end_of_upstream(&mut self, broken: bool) {
        match self.raw.as_mut() {
            Some(r) => {
                if broken {
                    r.partial.clear();
                }
                if let Some(e) = r.finish(&mut *self.decoder, &mut self.events, &mut self.out) {
                    self.fail(FailureKind::StreamError);
                    self.own_error(e);
                }
            }
            None => self.decoder.finish(&mut self.events),
        }
        self.ended = true;
    }

    /// Records a failure of a committed stream against the provider's health, once.
    fn fail(&mut self, kind: FailureKind) {
        if !std::mem::replace(&mut self.failed, true) {
            self.health
                .record_failure(&self.health_config, &self.stats, kind, crate::now_ms());
        }
    }
}

impl Drop for StreamRelay {
    fn drop(&mut self) {
        if let Some(mut o) = self.outcome.take() {
            o.result = match (self.done, self.failed) {
                (true, false) => "stream",
                (true, true) => "stream error",
                (false, _) => "client disconnected",
            };
            if let (Some((text, _)), Some(a)) = (self.completion.take(), self.live.audit.as_ref()) {
                o.audit.completion = Some(a.cap(&text));
            }
            if let Some((key, collector, cfg)) = self.cache.take() {
                if let Some(answer) = collector.finish().filter(|_| self.done && !self.failed) {
                    cache::put_later(self.live.clone(), cfg, key, o.provider.clone(), answer);
                }
            }
            o.finish(&self.live);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(drop_usage_only: bool, committed: bool) -> RawPass {
        RawPass {
            partial: BytesMut::new(),
            drop_usage_only,
            saw_finish: false,
            committed,
        }
    }

    const CHUNKS: [&str; 4] = [
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\r\n\r\n",
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n",
        "data: [DONE]\n\n",
    ];

    /// Runs `stream` through a fast-path pass split at `cut` (and every `step` bytes after).
    fn run(
        stream: &[u8],
        cut: usize,
        step: usize,
        drop_usage_only: bool,
        committed: bool,
    ) -> (Vec<u8>, RawPass, Vec<StreamEvent>) {
        let mut pass = raw(drop_usage_only, committed);
        let mut decoder = lmrelay_protocol::openai::StreamReader::new();
        let (mut events, mut out) = (Vec::new(), BytesMut::new());
        let mut at = 0;
        let mut next = cut;
        while at < stream.len() {
            let end = next.min(stream.len());
            pass.feed(&stream[at..end], &mut decoder, &mut events, &mut out)
                .expect("within bounds");
            at = end;
            next = end + step.max(1);
        }
        assert!(pass.finish(&mut decoder, &mut events, &mut out).is_none());
        (out.to_vec(), pass, events)
    }

    #[test]
    fn events_pass_whole_and_unchanged_whatever_the_chunk_boundaries() {
        let stream = CHUNKS.concat();
        for cut in 0..stream.len() {
            for step in [1, 7, 64, stream.len()] {
                // Committed, the content chunk is not decoded; usage and finish still are.
                for committed in [false, true] {
                    let (out, pass, events) = run(stream.as_bytes(), cut, step, false, committed);
                    assert_eq!(out, stream.as_bytes(), "cut {cut} step {step}");
                    assert!(pass.saw_finish);
                    assert!(events
                        .iter()
                        .any(|e| matches!(e, StreamEvent::Usage(u) if u.input == 3)));
                    let decoded_text = events
                        .iter()
                        .any(|e| matches!(e, StreamEvent::TextDelta(_)));
                    assert_eq!(decoded_text, !committed);
                }
            }
        }
    }

    #[test]
    fn the_usage_chunk_is_left_out_when_the_client_did_not_ask() {
        let stream = CHUNKS.concat();
        let without: String = [CHUNKS[0], CHUNKS[1], CHUNKS[3]].concat();
        for cut in [1, 100, 200, stream.len()] {
            let (out, _, _) = run(stream.as_bytes(), cut, 13, true, true);
            assert_eq!(String::from_utf8(out).expect("utf-8"), without);
        }
    }

    #[test]
    fn an_event_that_never_ends_is_bounded() {
        let mut pass = raw(false, true);
        let mut decoder = lmrelay_protocol::openai::StreamReader::new();
        let (mut events, mut out) = (Vec::new(), BytesMut::new());
        let block = vec![b'a'; 1 << 20];
        let mut result = pass.feed(b"data: ", &mut decoder, &mut events, &mut out);
        for _ in 0..9 {
            result = result.and_then(|()| pass.feed(&block, &mut decoder, &mut events, &mut out));
        }
        assert!(result.is_err());
        assert!(out.is_empty());
    }
}
