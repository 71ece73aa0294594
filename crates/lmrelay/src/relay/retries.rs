//! One request's attempts per provider: which providers it has tried and how the last try
//! there ended — what makes the next attempt at a provider a retry, charged to that
//! provider's budget and, after the provider failed as a whole, sent only after a backoff
//! (`health::retry`).

use crate::config::RetryConfig;
use crate::runtime::Provider;
use lmrelay_providers::FailureKind;
use smallvec::SmallVec;
use std::time::Duration;

/// The providers one request has tried.
#[derive(Default)]
pub(super) struct Tried {
    seen: SmallVec<[Seen; 4]>,
}

struct Seen {
    /// Index into `Runtime::providers`.
    provider: usize,
    /// Retries at this provider so far.
    retries: u32,
    /// Whether the last failure here was the provider's as a whole (5xx, overload, a
    /// timeout, a cut connection) rather than a key's (429, 401): only those back off.
    backs_off: bool,
}

/// What the next attempt at a provider may do.
#[derive(Debug, PartialEq)]
pub(super) enum Admission {
    /// The request's first attempt there.
    First,
    /// A retry, after waiting this long.
    Retry(Duration),
    /// A retry the provider's budget has no room for.
    Refused,
}

// === impl Tried ===

impl Tried {
    /// Admits an attempt at `provider` (index `index`): deposits into its budget the first
    /// time, withdraws a retry after that.
    pub(super) fn admit(
        &mut self,
        index: usize,
        provider: &Provider,
        cfg: &RetryConfig,
        now_ms: u64,
    ) -> Admission {
        let budget = &provider.health.retries;
        let Some(seen) = self.seen.iter_mut().find(|s| s.provider == index) else {
            budget.deposit(cfg);
            self.seen.push(Seen {
                provider: index,
                retries: 0,
                backs_off: false,
            });
            return Admission::First;
        };
        if !budget.try_withdraw(cfg, now_ms) {
            return Admission::Refused;
        }
        seen.retries += 1;
        let wait = if seen.backs_off {
            crate::health::retry::backoff(cfg, seen.retries, fastrand::f64())
        } else {
            Duration::ZERO
        };
        Admission::Retry(wait)
    }

    /// The attempt at `index` failed with `kind`.
    pub(super) fn failed(&mut self, index: usize, kind: FailureKind) {
        if let Some(s) = self.seen.iter_mut().find(|s| s.provider == index) {
            s.backs_off = kind.action().feeds_breaker;
        }
    }
}
