//! The outcome of one exchange: one record per served request, made when the answer is
//! complete (a whole body, or a stream's end), that feeds the log line and the accounting
//! ([`crate::usage`]: usage per key, provider and model, the key's tokens-per-minute
//! correction and its monthly spending), the metrics, the audit log and the dashboard's
//! recent activity ([`crate::activity`]). A request that ends in an error has its
//! [`Failure`], which feeds the audit log and the activity the same way.

use crate::activity;
use crate::config::{KeyConfig, Price};
use crate::live::Live;
use crate::metrics::{CostLabels, Metrics, TokenLabels};
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
    /// The client protocol's family name (metrics).
    pub protocol: &'static str,
    /// The model as a metrics label (`other` outside the configured names).
    pub model_label: String,
    /// What only the audit log shows.
    pub audit: AuditFields,
}

/// One audit line, borrowed from the outcome.
#[derive(serde::Serialize)]
struct AuditLine<'a> {
    time: String,
    request_id: &'a str,
    key: Option<&'a str>,
    protocol: &'a str,
    model: &'a str,
    provider: &'a str,
    provider_model: &'a str,
    upstream_key: Option<&'a str>,
    attempts: u32,
    status: u16,
    result: &'a str,
    input_tokens: u64,
    output_tokens: u64,
    cached_tokens: u64,
    cost_usd: f64,
    latency_ms: u64,
    ttft_ms: Option<u64>,
    cache: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completion: Option<&'a str>,
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
        if let Some(audit) = &live.audit {
            audit.write_line(self.audit_line());
        }
        live.activity.record(&self.activity_record(now));
    }

    /// This exchange as the dashboard's activity keeps it.
    fn activity_record(&self, now_ms: u64) -> activity::Record<'_> {
        let a = &self.audit;
        activity::Record {
            now_ms,
            request_id: &self.request_id,
            key: self.key.as_ref().map(|k| k.name.as_str()),
            protocol: self.protocol,
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

    /// The audit log's line for this exchange, serialised in one pass.
    fn audit_line(&self) -> String {
        let a = &self.audit;
        let line = AuditLine {
            time: lmrelay_protocol::time::rfc3339_from_unix_ms(crate::now_ms()),
            request_id: &self.request_id,
            key: self.key.as_ref().map(|k| k.name.as_str()),
            protocol: self.protocol,
            model: &a.model_asked,
            provider: &self.provider,
            provider_model: &self.model,
            upstream_key: a.key_id.as_deref(),
            attempts: a.attempts,
            status: 200,
            result: self.result,
            input_tokens: self.usage.input,
            output_tokens: self.usage.output,
            cached_tokens: self.usage.cache_read,
            cost_usd: self.cost_usd(),
            latency_ms: self.started.elapsed().as_millis() as u64,
            ttft_ms: a.ttft_ms,
            cache: a.cache,
            prompt: a.prompt.as_deref(),
            completion: a.completion.as_deref(),
        };
        serde_json::to_string(&line).unwrap_or_default()
    }

    /// Adds the exchange to the metrics.
    fn count(&self, m: &Metrics) {
        m.observe_duration(self.protocol, self.started.elapsed());
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

/// A request answered with an error: what its audit line and the dashboard show.
pub struct Failure<'a> {
    pub request_id: &'a str,
    pub protocol: &'static str,
    pub key: Option<&'a str>,
    /// The model the client asked for (empty when the body was not read).
    pub model: &'a str,
    /// The provider tried last, if any.
    pub provider: Option<&'a str>,
    pub attempts: u32,
    pub status: u16,
    pub started: Instant,
}

// === impl Failure ===

impl Failure<'_> {
    /// Writes the audit line and adds the request to the recent activity.
    pub fn finish(self, live: &Live) {
        let latency_ms = self.started.elapsed().as_millis() as u64;
        if let Some(audit) = &live.audit {
            let mut m = crate::audit::record(self.request_id, self.protocol, self.key, self.model);
            m.insert("provider".into(), self.provider.into());
            m.insert("attempts".into(), self.attempts.into());
            m.insert("status".into(), self.status.into());
            m.insert("result".into(), "error".into());
            m.insert("latency_ms".into(), latency_ms.into());
            audit.write(m);
        }
        live.activity.record(&activity::Record {
            now_ms: crate::now_ms(),
            request_id: self.request_id,
            key: self.key,
            protocol: self.protocol,
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
