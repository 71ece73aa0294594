//! Provider health: live state, not config. Passive signals from every exchange (outcome,
//! latency and time-to-first-token averages, failures in a row), active checks against each
//! provider's cheap endpoint ([`checker`]), and a circuit breaker per provider
//! ([`breaker`]). Everything is keyed by provider (and model) name and kept in a
//! [`HealthStore`] outside the immutable `Runtime`, so a reload keeps it; the runtime holds
//! `Arc`s into the store, so recording an outcome is a few atomic operations and never a
//! lookup or a lock.

pub mod breaker;
pub mod checker;
pub mod retry;
pub mod shared;
mod stats;

pub use breaker::{Breaker, BreakerState};
pub use retry::RetryBudget;
pub use stats::{Ewma, TargetStats};

use crate::config::HealthConfig;
use lmrelay_providers::FailureKind;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const UNKNOWN: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

/// Where health lives. The in-memory store is the embedded default; a shared store (Redis)
/// keeps the same atomics locally and merges its peers' verdicts in the background, so the
/// request path stays free of network round trips for health.
pub trait HealthStore: Send + Sync {
    /// The health of a provider, created on first use and kept across reloads.
    fn provider(&self, name: &str) -> Arc<ProviderHealth>;
    /// The stats of one model of a provider, created on first use and kept across reloads.
    fn target(&self, provider: &str, model: &str) -> Arc<TargetStats>;
}

/// The in-memory [`HealthStore`]. Its maps are touched only when a runtime is built.
#[derive(Default)]
pub struct MemoryHealth {
    providers: Mutex<HashMap<String, Arc<ProviderHealth>>>,
    targets: Mutex<HashMap<(String, String), Arc<TargetStats>>>,
}

/// One provider's health.
#[derive(Debug)]
pub struct ProviderHealth {
    name: Box<str>,
    /// Outcomes of every model of the provider together.
    pub stats: TargetStats,
    pub breaker: Breaker,
    /// The last active check: unknown, up or down.
    check: AtomicU8,
    /// The model names the provider's last successful check listed (model discovery).
    discovered: arc_swap::ArcSwap<Vec<String>>,
    /// Retries this provider may still take.
    pub retries: RetryBudget,
}

/// How a target stands for routing, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Standing {
    /// Healthy, and its breaker lets a request through now.
    Ready,
    /// Failing checks or failing in a row: tried after every ready target.
    Unhealthy,
    /// Its breaker is open (or half-open with a probe under way): tried last.
    Blocked,
}

// === impl MemoryHealth ===

impl HealthStore for MemoryHealth {
    fn provider(&self, name: &str) -> Arc<ProviderHealth> {
        let mut map = self.providers.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(name.to_owned())
            .or_insert_with(|| Arc::new(ProviderHealth::new(name)))
            .clone()
    }

    fn target(&self, provider: &str, model: &str) -> Arc<TargetStats> {
        let mut map = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        map.entry((provider.to_owned(), model.to_owned()))
            .or_default()
            .clone()
    }
}

// === impl ProviderHealth ===

impl ProviderHealth {
    pub fn new(name: &str) -> Self {
        ProviderHealth {
            name: name.into(),
            stats: TargetStats::default(),
            breaker: Breaker::default(),
            check: AtomicU8::new(UNKNOWN),
            discovered: arc_swap::ArcSwap::from_pointee(Vec::new()),
            retries: RetryBudget::default(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A successful exchange: feeds the averages, ends failure runs, closes the breaker,
    /// and overrides a failed active check (the API answers, whatever its model list does).
    pub fn record_success(
        &self,
        model: &TargetStats,
        latency: Option<Duration>,
        ttft: Option<Duration>,
    ) {
        for s in [&self.stats, model] {
            if let Some(l) = latency {
                s.latency.record(l.as_secs_f64() * 1e3);
            }
            if let Some(t) = ttft {
                s.ttft.record(t.as_secs_f64() * 1e3);
            }
            s.success();
        }
        self.breaker.on_success(&self.name);
        if self.check.load(Ordering::Relaxed) != UP
            && self.check.swap(UP, Ordering::Relaxed) == DOWN
        {
            tracing::info!(provider = %self.name, "provider healthy again: a request succeeded");
        }
    }

    /// A failed exchange. Only failures that speak of the provider's availability count.
    pub fn record_failure(
        &self,
        cfg: &HealthConfig,
        model: &TargetStats,
        kind: FailureKind,
        now_ms: u64,
    ) {
        if !kind.action().feeds_breaker {
            return;
        }
        model.failure();
        let run = self.stats.failure();
        self.breaker
            .on_failure(cfg, run, now_ms, &self.name, kind.as_str());
    }

    /// The models the provider listed at its last check.
    pub fn discovered(&self) -> Arc<Vec<String>> {
        self.discovered.load_full()
    }

    /// Keeps the model names a check listed.
    pub fn set_discovered(&self, models: Vec<String>) {
        self.discovered.store(Arc::new(models));
    }

    /// The result of an active check; a change is logged once.
    pub fn record_check(&self, ok: bool, reason: &str) {
        let new = if ok { UP } else { DOWN };
        let old = self.check.swap(new, Ordering::Relaxed);
        match (old, new) {
            (DOWN, UP) => {
                tracing::info!(provider = %self.name, "provider healthy again: active check passed")
            }
            (UNKNOWN | UP, DOWN) => {
                tracing::warn!(provider = %self.name, reason, "provider unhealthy: active check failed")
            }
            _ => {}
        }
    }

    /// Whether the provider is known to be healthy: a passed check or a served request, no
    /// failure run and a closed breaker. With active checks off, "not known bad" counts.
    pub fn healthy(&self, cfg: &HealthConfig) -> bool {
        let check = self.check.load(Ordering::Relaxed);
        let known_good = check == UP || (check == UNKNOWN && cfg.interval.is_zero());
        known_good
            && self.breaker.is_closed()
            && self.stats.consecutive_failures() < cfg.failure_threshold
    }

    /// How a target of this provider stands for routing.
    pub fn standing(&self, cfg: &HealthConfig, model: &TargetStats, now_ms: u64) -> Standing {
        let breaker = self.breaker.state(now_ms);
        if !breaker.admits() {
            return Standing::Blocked;
        }
        if self.check.load(Ordering::Relaxed) == DOWN {
            return Standing::Unhealthy;
        }
        // A breaker whose cooldown is over gets its probe in its normal place: otherwise a
        // recovered provider would only be probed once everything else failed.
        if breaker != BreakerState::Closed {
            return Standing::Ready;
        }
        let failing = |s: &TargetStats| s.consecutive_failures() >= cfg.failure_threshold;
        if failing(&self.stats) || failing(model) {
            Standing::Unhealthy
        } else {
            Standing::Ready
        }
    }
}
