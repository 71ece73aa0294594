//! The outcome of one exchange: one record per served request, made when the answer is
//! complete (a whole body, or a stream's end), that feeds the log line and the accounting
//! ([`crate::usage`]: usage per key, provider and model, the key's tokens-per-minute
//! correction and its monthly spending), the metrics, the audit log, the trace and the
//! dashboard's recent activity ([`crate::activity`]). A request that ends in an error has its
//! [`Failure`], which feeds the audit log, the trace and the activity the same way.

use crate::activity;
use crate::audit::AuditRecord;
use crate::config::{KeyConfig, Price};
use crate::live::Live;
use crate::metrics::{CostLabels, Metrics, TokenLabels};
use crate::protocol::ClientProtocol;
use crate::telemetry::{ExchangeTrace, Summary};
use lmrelay_ir::FinishReason;
use lmrelay_ir::Usage;
use std::sync::Arc;
use std::time::Instant;

/// Separates key, provider and model in usage counter names (none of them contains it).
pub const SEP: char = '\u{1f}';

/// What one exchange did.
pub struct Outcome {
    pub request_id: String,
    pub key: Option<Arc<KeyConfig>>,
    pub provider: String,
    /// The provider's `gen_ai.provider.name` (from its type).
    pub system: &'static str,
    /// The provider's model name.
    pub model: String,
    pub usage: Usage,
    /// The input tokens the limits counted before the call.
    pub estimated_tokens: u64,
    pub price: Option<Price>,
    pub started: Instant,
    /// When the request was admitted (Unix ms): its limit windows.
    pub admitted_ms: u64,
    /// `complete`, `stream`, `client disconnected`, …
    pub result: &'static str,
    /// The client protocol (metrics, traces).
    pub protocol: ClientProtocol,
    /// Why the model stopped, when the answer said.
    pub finish_reason: Option<FinishReason>,
    /// The exchange's trace, when it is traced.
    pub trace: Option<Arc<ExchangeTrace>>,
    /// The model as a metrics label (`other` outside the configured names).
    pub model_label: String,
    /// What only the audit log shows.
    pub audit: AuditFields,
}

/// The fields of an outcome that only the audit log shows.
#[derive(Debug, Default)]
pub struct AuditFields {
    /// The model the client asked for.
    pub model_asked: String,
    /// The upstream key's short id.
    pub key_id: Option<String>,
    pub attempts: u32,
    pub ttft_ms: Option<u64>,
    /// `hit` or `miss` on routes that cache.
    pub cache: Option<&'static str>,
    /// The prompt and the completion, only with `[audit] include_content`, already capped.
    pub prompt: Option<String>,
    pub completion: Option<String>,
}

// === impl Outcome ===

impl Outcome {
    /// The cost in USD from the provider's prices; cached input tokens at the input price.
    pub fn cost_usd(&self) -> f64 {
        self.price.map_or(0.0, |p| {
            (self.usage.input as f64 * p.input + self.usage.output as f64 * p.output) / 1e6
        })
    }

    /// Logs the exchange and adds it to the usage totals (written to the store in the
    /// background, see [`crate::usage`]).
    pub fn finish(self, live: &Live) {
        tracing::debug!(
            request_id = %self.request_id,
            provider = %self.provider,
            model = %self.model,
            key = self.key.as_ref().map(|k| k.name.as_str()),
            input_tokens = self.usage.input,
            output_tokens = self.usage.output,
            cached_tokens = self.usage.cache_read,
            duration_ms = self.started.elapsed().as_millis() as u64,
            outcome = self.result,
            "request finished"
        );
        let now = crate::now_ms();
        live.usage.record(&self, now);
        self.count(&live.metrics);
        if let (Some(t), Some(trace)) = (&live.telemetry, &self.trace) {
            t.finish(trace, &self.trace_summary());
        }
        live.activity.record(&self.activity_record(now));
        if let Some(audit) = &live.audit {
            audit.write(self.into_audit_record(now));
        }
    }

    /// This exchange as the dashboard's activity keeps it.
    fn activity_record(&self, now_ms: u64) -> activity::Record<'_> {
        let a = &self.audit;
        activity::Record {
            now_ms,
            request_id: &self.request_id,
            key: self.key.as_ref().map(|k| k.name.as_str()),
            protocol: self.protocol.family(),
            model: &a.model_asked,
            provider: &self.provider,
            upstream_key: a.key_id.as_deref(),
            status: 200,
            result: self.result,
            attempts: a.attempts,
            input_tokens: self.usage.input,
            output_tokens: self.usage.output,
            latency_ms: self.started.elapsed().as_millis() as u64,
            ttft_ms: a.ttft_ms,
        }
    }

    /// What the exchange's trace says about it.
    fn trace_summary(&self) -> Summary<'_> {
        Summary {
            request_id: &self.request_id,
            protocol: self.protocol.family(),
            operation: self.protocol.operation(),
            model_asked: &self.audit.model_asked,
            provider: Some(&self.provider),
            system: Some(self.system),
            response_model: Some(&self.model),
            gateway_key: self.key.as_ref().map(|k| k.name.as_str()),
            status: 200,
            result: self.result,
            input_tokens: self.usage.input,
            output_tokens: self.usage.output,
            cached_tokens: self.usage.cache_read,
            finish: self.finish_reason,
            ttft_ms: self.audit.ttft_ms,
            cache: self.audit.cache,
        }
    }

    /// The audit log's record of this exchange; its fields are moved, not copied (the
    /// writer thread formats them).
    fn into_audit_record(self, now_ms: u64) -> AuditRecord {
        let cost_usd = self.cost_usd();
        let latency_ms = self.started.elapsed().as_millis() as u64;
        let a = self.audit;
        AuditRecord {
            time_ms: now_ms,
            request_id: self.request_id,
            key: self.key,
            protocol: self.protocol.family(),
            model: a.model_asked,
            provider: Some(self.provider),
            provider_model: Some(self.model),
            upstream_key: a.key_id,
            attempts: a.attempts,
            status: 200,
            result: self.result,
            input_tokens: self.usage.input,
            output_tokens: self.usage.output,
            cached_tokens: self.usage.cache_read,
            cost_usd,
            latency_ms,
            ttft_ms: a.ttft_ms,
            cache: a.cache,
            prompt: a.prompt,
            completion: a.completion,
        }
    }

    /// Adds the exchange to the metrics.
    fn count(&self, m: &Metrics) {
        m.observe_duration(self.protocol.family(), self.started.elapsed());
        let u = &self.usage;
        for (kind, n) in [
            ("input", u.input),
            ("output", u.output),
            ("cached", u.cache_read),
        ] {
            if n > 0 {
                m.tokens
                    .get_or_create(&TokenLabels {
                        provider: self.provider.clone(),
                        model: self.model_label.clone(),
                        kind,
                    })
                    .inc_by(n);
            }
        }
        let cost = self.cost_usd();
        if cost > 0.0 {
            m.cost
                .get_or_create(&CostLabels {
                    provider: self.provider.clone(),
                    model: self.model_label.clone(),
                    key: self
                        .key
                        .as_ref()
                        .map_or("-", |k| k.name.as_str())
                        .to_owned(),
                })
                .inc_by(cost);
        }
    }
}

/// A request answered with an error: what its audit line, its trace and the dashboard show.
pub struct Failure<'a> {
    pub request_id: &'a str,
    pub protocol: ClientProtocol,
    pub key: Option<&'a Arc<KeyConfig>>,
    /// The model the client asked for (empty when the body was not read).
    pub model: &'a str,
    /// The provider tried last, if any, and its `gen_ai.provider.name`.
    pub provider: Option<&'a str>,
    pub system: Option<&'static str>,
    pub attempts: u32,
    pub status: u16,
    pub started: Instant,
    pub trace: Option<&'a ExchangeTrace>,
}

// === impl Failure ===

impl Failure<'_> {
    /// Writes the audit record, ends the trace and adds the request to the recent activity.
    pub fn finish(self, live: &Live) {
        let now_ms = crate::now_ms();
        let latency_ms = self.started.elapsed().as_millis() as u64;
        if let Some(audit) = &live.audit {
            audit.write(AuditRecord {
                time_ms: now_ms,
                request_id: self.request_id.to_owned(),
                key: self.key.cloned(),
                protocol: self.protocol.family(),
                model: self.model.to_owned(),
                provider: self.provider.map(str::to_owned),
                attempts: self.attempts,
                status: self.status,
                result: "error",
                latency_ms,
                ..Default::default()
            });
        }
        if let (Some(t), Some(trace)) = (&live.telemetry, self.trace) {
            t.finish(
                trace,
                &Summary {
                    request_id: self.request_id,
                    protocol: self.protocol.family(),
                    operation: self.protocol.operation(),
                    model_asked: self.model,
                    provider: self.provider,
                    system: self.system,
                    gateway_key: self.key.map(|k| k.name.as_str()),
                    status: self.status,
                    result: "error",
                    ..Default::default()
                },
            );
        }
        live.activity.record(&activity::Record {
            now_ms,
            request_id: self.request_id,
            key: self.key.map(|k| k.name.as_str()),
            protocol: self.protocol.family(),
            model: self.model,
            provider: self.provider.unwrap_or(""),
            upstream_key: None,
            status: self.status,
            result: "error",
            attempts: self.attempts,
            input_tokens: 0,
            output_tokens: 0,
            latency_ms,
            ttft_ms: None,
        });
    }
}
