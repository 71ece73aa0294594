//! A provider's circuit breaker. Closed: traffic flows. Open: after `failure_threshold`
//! failures in a row the provider is tried only when nothing else is left, for a cooldown
//! that doubles (with ±20% jitter) on each repeated trip up to `max_cooldown`. Half-open:
//! after the cooldown one request at a time probes it; a success closes the breaker, a
//! failure opens it again. All state is atomic; each transition is logged once, by the
//! request that made it.

use crate::config::HealthConfig;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::time::Duration;

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

/// The breaker's state as the router and the admin API see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    /// `ready`: the cooldown has passed and a probe may go.
    Open {
        ready: bool,
    },
    /// `probing`: a probe request is under way.
    HalfOpen {
        probing: bool,
    },
}

#[derive(Debug, Default)]
pub struct Breaker {
    state: AtomicU8,
    /// When an open breaker lets a probe through (Unix ms).
    open_until_ms: AtomicU64,
    /// Trips since the breaker was last closed.
    trips: AtomicU32,
    probing: AtomicBool,
    /// Every trip since the process started (closed → open and half-open → open).
    trips_total: AtomicU64,
}

// === impl BreakerState ===

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open { .. } => "open",
            BreakerState::HalfOpen { .. } => "half_open",
        }
    }

    /// Whether a request would be let through now (closed, or a probe is free).
    pub fn admits(self) -> bool {
        matches!(
            self,
            BreakerState::Closed
                | BreakerState::Open { ready: true }
                | BreakerState::HalfOpen { probing: false }
        )
    }
}

// === impl Breaker ===

impl Breaker {
    pub fn state(&self, now_ms: u64) -> BreakerState {
        match self.state.load(Ordering::Acquire) {
            OPEN => BreakerState::Open {
                ready: now_ms >= self.open_until_ms.load(Ordering::Acquire),
            },
            HALF_OPEN => BreakerState::HalfOpen {
                probing: self.probing.load(Ordering::Acquire),
            },
            _ => BreakerState::Closed,
        }
    }

    pub fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) == CLOSED
    }

    /// When an open breaker lets its next probe through (Unix ms), if it is open.
    pub fn open_until_ms(&self) -> Option<u64> {
        (self.state.load(Ordering::Acquire) == OPEN)
            .then(|| self.open_until_ms.load(Ordering::Acquire))
    }

    /// Claims the one probe slot of a breaker that is not closed; `false` when the cooldown
    /// has not passed or another request is probing. Closed breakers need no probe.
    pub fn try_probe(&self, now_ms: u64, provider: &str) -> bool {
        match self.state(now_ms) {
            BreakerState::Closed => true,
            BreakerState::Open { ready: false } | BreakerState::HalfOpen { probing: true } => false,
            BreakerState::Open { ready: true } => {
                if self
                    .state
                    .compare_exchange(OPEN, HALF_OPEN, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    return self.claim_probe();
                }
                tracing::info!(
                    provider,
                    "circuit breaker half-open: cooldown over, probing"
                );
                self.probing.store(true, Ordering::Release);
                true
            }
            BreakerState::HalfOpen { probing: false } => self.claim_probe(),
        }
    }

    fn claim_probe(&self) -> bool {
        self.state.load(Ordering::Acquire) == HALF_OPEN
            && self
                .probing
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// Gives a probe slot back without a verdict (the request ended before the upstream
    /// answered, say because the client left).
    pub fn release_probe(&self) {
        self.probing.store(false, Ordering::Release);
    }

    /// A success: closes a breaker that is not closed.
    pub fn on_success(&self, provider: &str) {
        if self.state.load(Ordering::Acquire) == CLOSED {
            return;
        }
        if self.state.swap(CLOSED, Ordering::AcqRel) != CLOSED {
            self.trips.store(0, Ordering::Release);
            self.probing.store(false, Ordering::Release);
            tracing::info!(provider, "circuit breaker closed: a request succeeded");
        }
    }

    /// A failure that counts against the provider; `consecutive` is its run of failures.
    pub fn on_failure(
        &self,
        cfg: &HealthConfig,
        consecutive: u32,
        now_ms: u64,
        provider: &str,
        reason: &str,
    ) {
        match self.state.load(Ordering::Acquire) {
            HALF_OPEN
                if self
                    .state
                    .compare_exchange(HALF_OPEN, OPEN, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok() =>
            {
                let trips = self.trips.fetch_add(1, Ordering::AcqRel) + 1;
                let cooldown = self.reopen(cfg, trips, now_ms);
                tracing::warn!(
                    provider,
                    reason,
                    cooldown_ms = cooldown.as_millis() as u64,
                    "circuit breaker re-opened: the probe failed"
                );
            }
            CLOSED
                if consecutive >= cfg.failure_threshold
                    && self
                        .state
                        .compare_exchange(CLOSED, OPEN, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok() =>
            {
                self.trips.store(1, Ordering::Release);
                let cooldown = self.reopen(cfg, 1, now_ms);
                tracing::warn!(
                    provider,
                    reason,
                    failures = consecutive,
                    cooldown_ms = cooldown.as_millis() as u64,
                    "circuit breaker opened"
                );
            }
            _ => {}
        }
    }

    /// Opens a closed breaker until `until_ms` because another replica's breaker for the
    /// same provider is open (an open one keeps the later of the two ends). Returns whether
    /// this breaker was closed.
    pub fn adopt_open(&self, until_ms: u64, provider: &str) -> bool {
        self.open_until_ms.fetch_max(until_ms, Ordering::AcqRel);
        let opened = self
            .state
            .compare_exchange(CLOSED, OPEN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if opened {
            self.probing.store(false, Ordering::Release);
            tracing::warn!(
                provider,
                "circuit breaker opened: another replica's is open"
            );
        }
        opened
    }

    /// Every trip since the process started.
    pub fn trips_total(&self) -> u64 {
        self.trips_total.load(Ordering::Relaxed)
    }

    /// Sets the cooldown for the `trips`-th trip in a row and frees the probe slot.
    fn reopen(&self, cfg: &HealthConfig, trips: u32, now_ms: u64) -> Duration {
        self.trips_total.fetch_add(1, Ordering::Relaxed);
        let cooldown = cooldown(cfg, trips, fastrand::f64());
        self.open_until_ms
            .store(now_ms + cooldown.as_millis() as u64, Ordering::Release);
        self.probing.store(false, Ordering::Release);
        cooldown
    }
}

/// The cooldown of the `trips`-th trip in a row: `cooldown × 2^(trips-1)` times a jitter
/// factor in [0.8, 1.2) from `unit` in [0, 1), never more than `max_cooldown`.
pub fn cooldown(cfg: &HealthConfig, trips: u32, unit: f64) -> Duration {
    let doubled = cfg
        .cooldown
        .saturating_mul(1u32 << trips.saturating_sub(1).min(20));
    doubled.mul_f64(0.8 + 0.4 * unit).min(cfg.max_cooldown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> HealthConfig {
        HealthConfig {
            failure_threshold: 2,
            cooldown: Duration::from_secs(1),
            max_cooldown: Duration::from_secs(4),
            ..HealthConfig::default()
        }
    }

    #[test]
    fn opens_after_the_threshold_probes_once_and_closes_on_success() {
        let (b, c) = (Breaker::default(), cfg());
        b.on_failure(&c, 1, 0, "p", "x");
        assert_eq!(b.state(0), BreakerState::Closed);
        b.on_failure(&c, 2, 0, "p", "x");
        assert_eq!(b.state(0), BreakerState::Open { ready: false });
        assert!(!b.try_probe(100, "p"), "still cooling");
        // Past the longest possible first cooldown (1 s × 1.2).
        assert!(b.try_probe(1_300, "p"));
        assert_eq!(b.state(1_300), BreakerState::HalfOpen { probing: true });
        assert!(!b.try_probe(1_300, "p"), "one probe at a time");
        b.on_success("p");
        assert_eq!(b.state(1_300), BreakerState::Closed);
    }

    #[test]
    fn a_failed_probe_reopens_with_a_longer_cooldown() {
        let (b, c) = (Breaker::default(), cfg());
        b.on_failure(&c, 2, 0, "p", "x");
        assert!(b.try_probe(1_300, "p"));
        b.on_failure(&c, 3, 1_300, "p", "x");
        let until = b.open_until_ms().expect("open");
        // Second trip: 2 s ± 20%.
        assert!((1_300 + 1_600..1_300 + 2_400).contains(&until), "{until}");
        b.release_probe();
        assert!(!b.try_probe(1_300 + 1_500, "p"));
    }

    #[test]
    fn a_released_probe_lets_the_next_request_probe() {
        let (b, c) = (Breaker::default(), cfg());
        b.on_failure(&c, 2, 0, "p", "x");
        assert!(b.try_probe(2_000, "p"));
        b.release_probe();
        assert!(b.try_probe(2_000, "p"));
    }

    #[test]
    fn cooldown_doubles_up_to_the_cap_with_jitter() {
        let c = cfg();
        assert_eq!(cooldown(&c, 1, 0.5), Duration::from_secs(1));
        assert_eq!(cooldown(&c, 2, 0.5), Duration::from_secs(2));
        assert_eq!(cooldown(&c, 3, 0.5), Duration::from_secs(4));
        assert_eq!(cooldown(&c, 30, 0.5), Duration::from_secs(4));
        assert_eq!(
            cooldown(&c, 3, 0.99),
            Duration::from_secs(4),
            "capped after jitter"
        );
        assert_eq!(cooldown(&c, 1, 0.0), Duration::from_millis(800));
    }
}
