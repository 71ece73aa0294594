//! Retries a provider can take: a budget per provider, so that a storm of 429s or 5xx never
//! multiplies the load sent to it, and the jittered backoff before asking it again.
//!
//! A retry is an attempt at a provider the same request has already tried (its next key,
//! another of its models, the same model on another route target). Each request's first
//! attempt at a provider deposits `[retry] budget` (a share of one retry) into that
//! provider's budget and each retry withdraws one, so retries stay near that share of the
//! traffic; `min_per_second` retries a second are allowed whatever the balance, so quiet
//! gateways still retry. Failing over to another provider is not a retry: it moves load
//! rather than multiplying it (the breakers bound it).

use crate::config::RetryConfig;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// The most retries a provider's budget holds (in thousandths), so a calm hour does not
/// store up a storm's worth.
const CAP_MILLI: i64 = 100 * 1000;
/// Bits of [`RetryBudget::floor`] that count the retries of its second.
const COUNT_BITS: u32 = 24;

/// One provider's retry budget.
#[derive(Debug, Default)]
pub struct RetryBudget {
    /// Retries available, in thousandths (at most [`CAP_MILLI`]).
    balance: AtomicI64,
    /// The floor's current second (high bits) and the retries it allowed (low bits).
    floor: AtomicU64,
}

// === impl RetryBudget ===

impl RetryBudget {
    /// A request's first attempt at this provider.
    pub fn deposit(&self, cfg: &RetryConfig) {
        let milli = (cfg.budget * 1000.0) as i64;
        if milli > 0 {
            let _ = self
                .balance
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                    (b < CAP_MILLI).then_some((b + milli).min(CAP_MILLI))
                });
        }
    }

    /// Takes one retry: from this second's floor, else from the balance. `false`: the
    /// budget is spent, and the retry must not be sent.
    pub fn try_withdraw(&self, cfg: &RetryConfig, now_ms: u64) -> bool {
        let second = now_ms / 1000;
        let floor = u64::from(cfg.min_per_second);
        let took_floor = self
            .floor
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                let used = if v >> COUNT_BITS == second {
                    v & ((1 << COUNT_BITS) - 1)
                } else {
                    0
                };
                (used < floor).then_some((second << COUNT_BITS) | (used + 1))
            })
            .is_ok();
        took_floor
            || self
                .balance
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                    (b >= 1000).then_some(b - 1000)
                })
                .is_ok()
    }
}

/// The wait before the `nth` retry (1-based) at a provider that has just failed as a whole
/// (5xx, overload, timeout, a cut connection): `backoff` doubled each time, at most
/// `max_backoff`, half of it fixed and half random ("equal jitter"), so that the requests
/// a failure hit together do not come back together. `random` is uniform in [0, 1).
pub fn backoff(cfg: &RetryConfig, nth: u32, random: f64) -> Duration {
    let doubled = cfg
        .backoff
        .saturating_mul(1 << nth.saturating_sub(1).min(16));
    let full = doubled.min(cfg.max_backoff);
    full / 2 + full.mul_f64(random.clamp(0.0, 1.0) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(budget: f64, min_per_second: u32) -> RetryConfig {
        RetryConfig {
            budget,
            min_per_second,
            ..RetryConfig::default()
        }
    }

    #[test]
    fn retries_stay_near_the_budgeted_share_of_first_attempts() {
        let c = cfg(0.2, 0);
        let b = RetryBudget::default();
        assert!(!b.try_withdraw(&c, 0), "an empty budget allows nothing");
        let mut allowed = 0;
        for _ in 0..1000 {
            b.deposit(&c);
            // Every request would retry: only one in five may.
            if b.try_withdraw(&c, 0) {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 200);
    }

    #[test]
    fn the_floor_allows_a_few_retries_each_second_whatever_the_balance() {
        let c = cfg(0.0, 3);
        let b = RetryBudget::default();
        let in_second = |ms| (0..10).filter(|_| b.try_withdraw(&c, ms)).count();
        assert_eq!(in_second(5_000), 3);
        assert_eq!(in_second(5_999), 0, "the same second");
        assert_eq!(in_second(6_000), 3, "a new second");
    }

    #[test]
    fn the_balance_is_capped() {
        let c = cfg(1.0, 0);
        let b = RetryBudget::default();
        for _ in 0..10_000 {
            b.deposit(&c);
        }
        assert_eq!((0..1000).filter(|_| b.try_withdraw(&c, 0)).count(), 100);
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let c = RetryConfig {
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(700),
            ..RetryConfig::default()
        };
        assert_eq!(backoff(&c, 1, 0.0), Duration::from_millis(50));
        assert_eq!(backoff(&c, 1, 0.999_999).as_millis(), 99);
        assert_eq!(backoff(&c, 2, 0.0), Duration::from_millis(100));
        assert_eq!(backoff(&c, 3, 0.5), Duration::from_millis(300));
        // Capped: 800 ms would exceed 700.
        assert_eq!(backoff(&c, 4, 0.0), Duration::from_millis(350));
        assert_eq!(backoff(&c, 60, 0.0), Duration::from_millis(350));
    }
}
