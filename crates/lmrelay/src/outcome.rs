//! The outcome of one exchange: one record per served request, written when the answer is
//! complete (a whole body, or a stream's end), that feeds the log line and the accounting —
//! usage per key, provider and model, the key's tokens-per-minute correction and its
//! monthly spending. The store write happens in the background, after the answer.

use crate::config::{KeyConfig, Price};
use crate::limits::{self, NANOS_PER_USD};
use crate::store::{CounterOp, StateStore};
use lmrelay_ir::Usage;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long daily usage counters are kept.
const USAGE_TTL: Duration = Duration::from_secs(400 * 24 * 3600);
const MONTH_TTL: Duration = Duration::from_secs(40 * 24 * 3600);
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
}

// === impl Outcome ===

impl Outcome {
    /// The cost in USD from the provider's prices; cached input tokens at the input price.
    pub fn cost_usd(&self) -> f64 {
        self.price.map_or(0.0, |p| {
            (self.usage.input as f64 * p.input + self.usage.output as f64 * p.output) / 1e6
        })
    }

    /// Logs the exchange and records its usage in the background.
    pub fn finish(self, store: &Arc<dyn StateStore>) {
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
        let ops = self.counter_ops(crate::now_ms());
        let store = store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.counters(&ops).await {
                tracing::warn!(error = %e, "usage not recorded: the state store failed");
            }
        });
    }

    /// The counter updates for this outcome, at `now_ms`.
    pub fn counter_ops(&self, now_ms: u64) -> Vec<CounterOp> {
        let key = self.key.as_ref().map_or("-", |k| k.name.as_str());
        let day = &lmrelay_protocol::time::rfc3339_from_unix_ms(now_ms)[..10];
        let base = format!("usage:{day}:{key}{SEP}{}{SEP}{}", self.provider, self.model);
        let cost = (self.cost_usd() * NANOS_PER_USD).round() as i64;
        let u = &self.usage;
        let mut ops = Vec::with_capacity(7);
        for (field, n) in [
            ("requests", 1),
            ("input", u.input as i64),
            ("output", u.output as i64),
            ("cached", u.cache_read as i64),
            ("cost_nano", cost),
        ] {
            ops.push(CounterOp::add(
                format!("{base}:{field}"),
                n,
                Some(USAGE_TTL),
            ));
        }
        if let Some(k) = &self.key {
            if k.tpm.is_some() {
                // The limit counted the estimate; count what was really used instead.
                let real = (u.input + u.output) as i64;
                let delta = real - self.estimated_tokens as i64;
                if delta != 0 {
                    ops.push(CounterOp::add(
                        limits::tpm_key(&k.name, self.admitted_ms),
                        delta,
                        Some(Duration::from_secs(180)),
                    ));
                }
            }
            if cost != 0 {
                ops.push(CounterOp::add(
                    limits::budget_key(&k.name, now_ms),
                    cost,
                    Some(MONTH_TTL),
                ));
            }
        }
        ops
    }
}
