//! One exchange's trace: the ids it runs under, the upstream attempts it made, and the spans
//! they become when the exchange is over (a server span for the request, a client span per
//! attempt, with the OpenTelemetry GenAI attributes).

use super::traceparent::TraceParent;
use http::HeaderValue;
use lmrelay_ir::FinishReason;
use opentelemetry::trace::{SpanId, SpanKind, Status, TraceId};
use opentelemetry::{KeyValue, Value};
use std::sync::Mutex;
use std::time::SystemTime;

/// A traced exchange, made when the request arrives (only when it is sampled).
#[derive(Debug)]
pub struct ExchangeTrace {
    pub trace_id: TraceId,
    /// lmrelay's span for the request.
    pub span_id: SpanId,
    /// The client's span, when it sent a `traceparent`.
    pub parent: Option<SpanId>,
    pub started: SystemTime,
    attempts: Mutex<Vec<Attempt>>,
}

/// One upstream attempt, from the request sent to its answer (or the stream's end).
#[derive(Debug)]
struct Attempt {
    span_id: SpanId,
    provider: String,
    system: &'static str,
    model: String,
    key_id: Option<String>,
    started: SystemTime,
    /// When and how it failed; an attempt that served ends with the exchange.
    failed: Option<(SystemTime, &'static str, u16)>,
}

/// What the exchange's span says about how it ended.
#[derive(Debug, Default)]
pub struct Summary<'a> {
    pub request_id: &'a str,
    /// The client protocol's family name.
    pub protocol: &'static str,
    /// `chat` or `text_completion`.
    pub operation: &'static str,
    pub model_asked: &'a str,
    /// The serving provider's name, its `gen_ai.provider.name`, and its model name.
    pub provider: Option<&'a str>,
    pub system: Option<&'static str>,
    pub response_model: Option<&'a str>,
    pub gateway_key: Option<&'a str>,
    pub status: u16,
    /// `complete`, `stream`, `client disconnected`, `error`, …
    pub result: &'static str,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    pub finish: Option<FinishReason>,
    pub ttft_ms: Option<u64>,
    pub cache: Option<&'static str>,
}

// === impl ExchangeTrace ===

impl ExchangeTrace {
    pub(super) fn new(parent: Option<TraceParent>) -> ExchangeTrace {
        ExchangeTrace {
            trace_id: parent.map_or_else(random_trace_id, |p| p.trace_id),
            span_id: random_span_id(),
            parent: parent.map(|p| p.span_id),
            started: SystemTime::now(),
            attempts: Mutex::new(Vec::new()),
        }
    }

    /// Opens an attempt's span and returns the `traceparent` that names it upstream.
    pub fn start_attempt(
        &self,
        provider: &str,
        provider_type: &str,
        model: &str,
        key_id: Option<&str>,
    ) -> HeaderValue {
        let span_id = random_span_id();
        self.lock().push(Attempt {
            span_id,
            provider: provider.to_owned(),
            system: gen_ai_provider(provider_type),
            model: model.to_owned(),
            key_id: key_id.map(str::to_owned),
            started: SystemTime::now(),
            failed: None,
        });
        TraceParent::header(self.trace_id, span_id, true)
    }

    /// Ends the latest attempt as failed, with the failure table's kind and the status.
    pub fn fail_attempt(&self, kind: &'static str, status: u16) {
        if let Some(a) = self.lock().last_mut().filter(|a| a.failed.is_none()) {
            a.failed = Some((SystemTime::now(), kind, status));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Attempt>> {
        self.attempts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The spans of this exchange, ended now: the request's, then one per attempt.
    pub(super) fn spans(&self, s: &Summary<'_>) -> Vec<SpanRecord> {
        let now = SystemTime::now();
        let attempts = std::mem::take(&mut *self.lock());
        let system = s.system;
        let mut out = Vec::with_capacity(1 + attempts.len());
        let mut root = vec![
            KeyValue::new("gen_ai.operation.name", s.operation),
            KeyValue::new("gen_ai.request.model", s.model_asked.to_owned()),
            KeyValue::new("http.response.status_code", i64::from(s.status)),
            KeyValue::new("lmrelay.request_id", s.request_id.to_owned()),
            KeyValue::new("lmrelay.protocol", s.protocol),
            KeyValue::new("lmrelay.result", s.result),
            KeyValue::new("lmrelay.attempts", attempts.len() as i64),
        ];
        if let Some(system) = system {
            root.push(KeyValue::new("gen_ai.provider.name", system));
            root.push(KeyValue::new("gen_ai.system", system));
        }
        if let Some(p) = s.provider {
            root.push(KeyValue::new("lmrelay.provider", p.to_owned()));
        }
        if let Some(k) = s.gateway_key {
            root.push(KeyValue::new("lmrelay.gateway_key", k.to_owned()));
        }
        if let Some(c) = s.cache {
            root.push(KeyValue::new("lmrelay.cache", c));
        }
        let answer = answer_attributes(s);
        root.extend(answer.iter().cloned());
        let failed = s.status >= 400 || s.result.contains("error");
        out.push(SpanRecord {
            span_id: self.span_id,
            parent: self.parent,
            kind: SpanKind::Server,
            name: format!("{} {}", s.operation, s.model_asked),
            start: self.started,
            end: now,
            attributes: root,
            status: if failed {
                Status::error(s.result)
            } else {
                Status::Unset
            },
        });
        for a in attempts {
            let mut attrs = vec![
                KeyValue::new("gen_ai.operation.name", s.operation),
                KeyValue::new("gen_ai.provider.name", a.system),
                KeyValue::new("gen_ai.system", a.system),
                KeyValue::new("gen_ai.request.model", a.model.clone()),
                KeyValue::new("lmrelay.provider", a.provider),
            ];
            if let Some(k) = a.key_id {
                attrs.push(KeyValue::new("lmrelay.upstream_key", k));
            }
            let (end, status) = match a.failed {
                Some((at, kind, status)) => {
                    attrs.push(KeyValue::new("error.type", kind));
                    attrs.push(KeyValue::new(
                        "http.response.status_code",
                        i64::from(status),
                    ));
                    (at, Status::error(kind))
                }
                None => {
                    attrs.push(KeyValue::new("http.response.status_code", 200i64));
                    attrs.extend(answer.iter().cloned());
                    (now, Status::Unset)
                }
            };
            out.push(SpanRecord {
                span_id: a.span_id,
                parent: Some(self.span_id),
                kind: SpanKind::Client,
                name: format!("{} {}", s.operation, a.model),
                start: a.started,
                end,
                attributes: attrs,
                status,
            });
        }
        out
    }
}

/// A finished span, ready for the exporter.
pub(super) struct SpanRecord {
    pub span_id: SpanId,
    pub parent: Option<SpanId>,
    pub kind: SpanKind,
    pub name: String,
    pub start: SystemTime,
    pub end: SystemTime,
    pub attributes: Vec<KeyValue>,
    pub status: Status,
}

/// The attributes of the answer, on the request's span and the attempt that served it.
fn answer_attributes(s: &Summary<'_>) -> Vec<KeyValue> {
    let mut v = Vec::with_capacity(6);
    if let Some(m) = s.response_model {
        v.push(KeyValue::new("gen_ai.response.model", m.to_owned()));
    }
    if s.status == 200 {
        v.push(KeyValue::new(
            "gen_ai.usage.input_tokens",
            s.input_tokens as i64,
        ));
        v.push(KeyValue::new(
            "gen_ai.usage.output_tokens",
            s.output_tokens as i64,
        ));
        if s.cached_tokens > 0 {
            v.push(KeyValue::new(
                "gen_ai.usage.cache_read.input_tokens",
                s.cached_tokens as i64,
            ));
        }
    }
    if let Some(f) = s.finish {
        v.push(KeyValue::new(
            "gen_ai.response.finish_reasons",
            Value::Array(vec![opentelemetry::StringValue::from(finish_reason(f))].into()),
        ));
    }
    if let Some(ms) = s.ttft_ms {
        v.push(KeyValue::new(
            "gen_ai.server.time_to_first_token",
            ms as f64 / 1000.0,
        ));
    }
    v
}

/// The GenAI semantic conventions' finish reason names.
fn finish_reason(f: FinishReason) -> &'static str {
    match f {
        FinishReason::Stop | FinishReason::StopSequence | FinishReason::Pause => "stop",
        FinishReason::Length | FinishReason::ContextExceeded => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::ContentFilter => "content_filter",
        FinishReason::Error => "error",
    }
}

/// `gen_ai.provider.name` for a provider type: the conventions' well-known names, else the
/// type's own.
pub fn gen_ai_provider(provider_type: &str) -> &'static str {
    match provider_type {
        "openai" => "openai",
        "anthropic" => "anthropic",
        "azure" => "azure.ai.openai",
        "bedrock" => "aws.bedrock",
        "gemini" => "gcp.gemini",
        "cohere" => "cohere",
        "mistral" => "mistral_ai",
        "groq" => "groq",
        "deepseek" => "deepseek",
        "xai" => "x_ai",
        "perplexity" => "perplexity",
        "ollama" => "ollama",
        "openrouter" => "openrouter",
        _ => "openai_compatible",
    }
}

fn random_trace_id() -> TraceId {
    loop {
        let id = TraceId::from(fastrand::u128(..));
        if id != TraceId::INVALID {
            return id;
        }
    }
}

fn random_span_id() -> SpanId {
    loop {
        let id = SpanId::from(fastrand::u64(..));
        if id != SpanId::INVALID {
            return id;
        }
    }
}
