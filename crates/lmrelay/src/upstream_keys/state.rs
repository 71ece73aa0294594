//! The live state of one upstream API key: cooling after a rate limit, invalid after the
//! provider rejected it, and nearly spent according to the provider's rate-limit headers.
//! Atomics only, so reading and updating it on the request path takes no lock.

use lmrelay_providers::RateLimits;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// How a key stands, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyStatus {
    Ok,
    /// The provider's headers say its budget is nearly spent: used only when no key is
    /// `Ok`.
    NearLimit,
    /// Rate limited until the given time (Unix ms): not used.
    Cooling(u64),
    /// Rejected by the provider: not used until an admin rotation or a reload.
    Invalid,
}

#[derive(Debug, Default)]
pub struct KeyState {
    cooling_until_ms: AtomicU64,
    near_until_ms: AtomicU64,
    invalid: AtomicBool,
}

// === impl KeyStatus ===

impl KeyStatus {
    /// The label admin answers use: `ok`, `cooling` or `invalid` (nearly spent is `ok`).
    pub fn label(self) -> &'static str {
        match self {
            KeyStatus::Ok | KeyStatus::NearLimit => "ok",
            KeyStatus::Cooling(_) => "cooling",
            KeyStatus::Invalid => "invalid",
        }
    }

    pub fn usable(self) -> bool {
        matches!(self, KeyStatus::Ok | KeyStatus::NearLimit)
    }
}

// === impl KeyState ===

impl KeyState {
    pub fn status(&self, now_ms: u64) -> KeyStatus {
        if self.invalid.load(Ordering::Relaxed) {
            return KeyStatus::Invalid;
        }
        let cooling = self.cooling_until_ms.load(Ordering::Relaxed);
        if now_ms < cooling {
            return KeyStatus::Cooling(cooling);
        }
        if now_ms < self.near_until_ms.load(Ordering::Relaxed) {
            return KeyStatus::NearLimit;
        }
        KeyStatus::Ok
    }

    /// Cools the key for `for_`; returns whether it was not cooling before (to log once).
    pub fn cool(&self, now_ms: u64, for_: Duration) -> bool {
        let until = now_ms + for_.as_millis() as u64;
        let before = self.cooling_until_ms.fetch_max(until, Ordering::Relaxed);
        before <= now_ms
    }

    /// Cools the key until `until_ms` (a mark another replica made), unless it cools longer.
    pub fn cool_until(&self, until_ms: u64) {
        self.cooling_until_ms.fetch_max(until_ms, Ordering::Relaxed);
    }

    /// Marks the key invalid; returns whether it was valid before.
    pub fn invalidate(&self) -> bool {
        !self.invalid.swap(true, Ordering::Relaxed)
    }

    /// Takes in what a response's rate-limit headers say.
    pub fn observe(&self, limits: &RateLimits, now_ms: u64) {
        if limits.is_empty() {
            return;
        }
        let until = limits
            .nearly_spent_for()
            .map_or(0, |d| now_ms + d.as_millis() as u64);
        self.near_until_ms.store(until, Ordering::Relaxed);
    }

    /// Takes back an invalid mark (a reload brings a rejected config key back).
    pub fn revalidate(&self) {
        self.invalid.store(false, Ordering::Relaxed);
    }

    /// Clears every mark (an admin rotation).
    pub fn clear(&self) {
        self.cooling_until_ms.store(0, Ordering::Relaxed);
        self.near_until_ms.store(0, Ordering::Relaxed);
        self.invalid.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lmrelay_providers::Budget;

    #[test]
    fn cooling_invalid_and_near_limit() {
        let k = KeyState::default();
        assert_eq!(k.status(0), KeyStatus::Ok);
        assert!(k.cool(1_000, Duration::from_secs(2)));
        assert!(!k.cool(1_500, Duration::from_millis(10)), "already cooling");
        assert_eq!(
            k.status(2_000),
            KeyStatus::Cooling(3_000),
            "the later end wins"
        );
        assert_eq!(k.status(3_000), KeyStatus::Ok);
        let spent = RateLimits {
            requests: Some(Budget {
                limit: Some(100),
                remaining: 0,
                reset: Some(Duration::from_secs(5)),
            }),
            tokens: None,
        };
        k.observe(&spent, 10_000);
        assert_eq!(k.status(12_000), KeyStatus::NearLimit);
        assert_eq!(k.status(15_000), KeyStatus::Ok);
        k.observe(&spent, 20_000);
        k.observe(&RateLimits::default(), 20_001);
        assert_eq!(
            k.status(20_002),
            KeyStatus::NearLimit,
            "no headers say nothing"
        );
        assert!(k.invalidate());
        assert!(!k.invalidate());
        assert_eq!(k.status(0), KeyStatus::Invalid);
        k.clear();
        assert_eq!(k.status(20_002), KeyStatus::Ok);
    }
}
