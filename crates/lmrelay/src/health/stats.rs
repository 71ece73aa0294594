//! Passive health signals of one target (a provider, or a provider's model): moving
//! averages of latency and time to first token, and the run of consecutive failures. All
//! atomics, so recording an outcome never takes a lock.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Weight of the newest sample in the moving averages.
const ALPHA: f64 = 0.3;

/// An exponentially weighted moving average in an atomic (f64 bits; `u64::MAX` = no
/// sample yet).
#[derive(Debug)]
pub struct Ewma(AtomicU64);

/// Outcome counters and moving averages of one target.
#[derive(Debug, Default)]
pub struct TargetStats {
    /// Whole non-streamed requests, in milliseconds.
    pub latency: Ewma,
    /// Time to the first streamed content, in milliseconds.
    pub ttft: Ewma,
    consecutive_failures: AtomicU32,
    successes: AtomicU64,
    failures: AtomicU64,
}

// === impl Ewma ===

impl Default for Ewma {
    fn default() -> Self {
        Ewma(AtomicU64::new(u64::MAX))
    }
}

impl Ewma {
    pub fn record(&self, sample: f64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                let next = if bits == u64::MAX {
                    sample
                } else {
                    let old = f64::from_bits(bits);
                    old + ALPHA * (sample - old)
                };
                Some(next.to_bits())
            });
    }

    pub fn get(&self) -> Option<f64> {
        let bits = self.0.load(Ordering::Relaxed);
        (bits != u64::MAX).then(|| f64::from_bits(bits))
    }
}

// === impl TargetStats ===

impl TargetStats {
    /// A success; returns how many failures in a row it ended.
    pub fn success(&self) -> u32 {
        self.successes.fetch_add(1, Ordering::Relaxed);
        self.consecutive_failures.swap(0, Ordering::Relaxed)
    }

    /// A failure; returns the run of consecutive failures including this one.
    pub fn failure(&self) -> u32 {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures.load(Ordering::Relaxed)
    }

    pub fn successes(&self) -> u64 {
        self.successes.load(Ordering::Relaxed)
    }

    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// The latency that matters for a request: time to first token for streams, the whole
    /// request otherwise, each falling back to the other when it has no sample yet.
    pub fn latency_ms(&self, stream: bool) -> Option<f64> {
        if stream {
            self.ttft.get().or_else(|| self.latency.get())
        } else {
            self.latency.get().or_else(|| self.ttft.get())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ewma_starts_at_the_first_sample_and_moves_towards_new_ones() {
        let e = Ewma::default();
        assert_eq!(e.get(), None);
        e.record(100.0);
        assert_eq!(e.get(), Some(100.0));
        for _ in 0..30 {
            e.record(10.0);
        }
        let v = e.get().expect("sampled");
        assert!((v - 10.0).abs() < 0.1, "{v}");
    }

    #[test]
    fn failures_run_until_a_success() {
        let s = TargetStats::default();
        assert_eq!(s.failure(), 1);
        assert_eq!(s.failure(), 2);
        assert_eq!(s.success(), 2);
        assert_eq!(s.consecutive_failures(), 0);
        assert_eq!((s.successes(), s.failures()), (1, 2));
    }
}
