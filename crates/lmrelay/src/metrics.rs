//! Prometheus metrics (`GET /metrics`), every `lmrelay_` family of product.md plus the
//! gateway's own overhead. Label values are bounded: models outside the configured set are
//! `other`, keys appear by name (gateway keys) or short id (upstream keys), and nothing
//! per-request or secret is ever a label. Live state: one registry for the process, kept
//! across reloads. Gauges of health and key availability are read at scrape time.

use crate::runtime::Runtime;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// Buckets of whole exchanges and time to first token: 5 ms to 2 min.
const SLOW: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];
/// Buckets of the gateway's own time: 25 µs to 100 ms.
const FAST: [f64; 12] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_2, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub protocol: &'static str,
    pub model: String,
    pub provider: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProtocolLabel {
    pub protocol: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabel {
    pub provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    pub provider: String,
    /// `ok`, or the failure kind.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    pub provider: String,
    pub model: String,
    /// `input`, `output` or `cached`.
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CostLabels {
    pub provider: String,
    pub model: String,
    pub key: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KeyLabels {
    pub provider: String,
    /// The key's short id, never the key.
    pub key: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// `ok` or `invalid`.
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    pub key: String,
    pub limit: &'static str,
}

/// Every metric, registered once.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub duration: Family<ProtocolLabel, Histogram>,
    pub ttft: Family<ProviderLabel, Histogram>,
    pub overhead: Histogram,
    pub attempts: Family<AttemptLabels, Counter>,
    /// Retries not sent because the provider's retry budget was spent.
    pub retries_refused: Family<ProviderLabel, Counter>,
    pub tokens: Family<TokenLabels, Counter>,
    pub cost: Family<CostLabels, Counter<f64, AtomicU64>>,
    pub provider_healthy: Family<ProviderLabel, Gauge>,
    pub key_available: Family<KeyLabels, Gauge>,
    pub cache: Family<CacheLabels, Counter>,
    pub rate_limited: Family<LimitLabels, Counter>,
    /// Limit checks the state store could not answer since the process started.
    pub store_failures: Gauge,
    pub reloads: Family<ReloadLabels, Counter>,
    /// Audit lines dropped because the writer fell behind.
    pub audit_dropped: Gauge,
}

// === impl Metrics ===

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("lmrelay");
        let m = Metrics {
            requests: Family::default(),
            duration: Family::new_with_constructor(|| Histogram::new(SLOW)),
            ttft: Family::new_with_constructor(|| Histogram::new(SLOW)),
            overhead: Histogram::new(FAST),
            attempts: Family::default(),
            retries_refused: Family::default(),
            tokens: Family::default(),
            cost: Family::default(),
            provider_healthy: Family::default(),
            key_available: Family::default(),
            cache: Family::default(),
            rate_limited: Family::default(),
            store_failures: Gauge::default(),
            reloads: Family::default(),
            audit_dropped: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "requests",
            "Client requests by protocol, model, serving provider and status",
            m.requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Whole exchanges, from the request to the last byte",
            m.duration.clone(),
        );
        registry.register(
            "time_to_first_token_seconds",
            "Time from sending upstream to the first streamed content",
            m.ttft.clone(),
        );
        registry.register(
            "gateway_overhead_seconds",
            "Time spent in lmrelay, upstream time excluded (non-streamed requests)",
            m.overhead.clone(),
        );
        registry.register(
            "upstream_attempts",
            "Upstream requests by provider and outcome",
            m.attempts.clone(),
        );
        registry.register(
            "retries_refused",
            "Retries not sent because the provider's retry budget was spent",
            m.retries_refused.clone(),
        );
        registry.register(
            "tokens",
            "Tokens by provider, model and kind",
            m.tokens.clone(),
        );
        registry.register(
            "cost_usd",
            "Cost in US dollars from provider prices",
            m.cost.clone(),
        );
        registry.register(
            "provider_healthy",
            "1 when the provider is healthy",
            m.provider_healthy.clone(),
        );
        registry.register(
            "upstream_key_available",
            "1 when the upstream key may be used now",
            m.key_available.clone(),
        );
        registry.register("cache_requests", "Cache lookups by result", m.cache.clone());
        registry.register(
            "rate_limited",
            "Requests refused by a gateway-key limit",
            m.rate_limited.clone(),
        );
        registry.register(
            "store_failures",
            "Limit checks the state store could not answer since start",
            m.store_failures.clone(),
        );
        registry.register(
            "config_reloads",
            "Config reloads by result (ok, or invalid: the old config kept serving)",
            m.reloads.clone(),
        );
        registry.register(
            "audit_dropped",
            "Audit lines dropped because the writer fell behind, since start",
            m.audit_dropped.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// A model name as a label: configured names as they are, anything else `other`.
    pub fn model_label(rt: &Runtime, model: &str) -> String {
        if rt.known_models.contains(model) {
            model.to_owned()
        } else {
            "other".to_owned()
        }
    }

    pub fn observe_duration(&self, protocol: &'static str, d: Duration) {
        self.duration
            .get_or_create(&ProtocolLabel { protocol })
            .observe(d.as_secs_f64());
    }

    /// The text exposition, with health and key gauges read from `rt` now.
    pub fn render(&self, rt: &Runtime) -> String {
        let now = crate::now_ms();
        // Only what exists now: a provider or key that a reload or the admin API removed
        // leaves no stale series behind.
        self.provider_healthy.clear();
        self.key_available.clear();
        for p in &rt.providers {
            let name = p.config.name.clone();
            self.provider_healthy
                .get_or_create(&ProviderLabel {
                    provider: name.clone(),
                })
                .set(i64::from(p.health.healthy(&rt.config.health)));
            for k in p.keys.keys().iter() {
                self.key_available
                    .get_or_create(&KeyLabels {
                        provider: name.clone(),
                        key: k.id.clone(),
                    })
                    .set(i64::from(k.state.status(now).usable()));
            }
        }
        self.store_failures
            .set(crate::limits::STORE_FAILURES.load(std::sync::atomic::Ordering::Relaxed) as i64);
        if let Some(audit) = &rt.live.audit {
            self.audit_dropped.set(audit.dropped() as i64);
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
