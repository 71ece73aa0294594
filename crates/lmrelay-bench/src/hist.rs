//! Latency histograms (HDR, microseconds) and their summaries.

use hdrhistogram::Histogram;
use std::time::Duration;

/// The largest value recorded exactly: an hour, in microseconds (larger values saturate).
const MAX_US: u64 = 3_600_000_000;

/// An HDR histogram of durations in microseconds, 3 significant digits.
#[derive(Debug, Clone)]
pub struct Hist {
    inner: Histogram<u64>,
}

/// Percentiles of one histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Default for Hist {
    fn default() -> Self {
        Self::new()
    }
}

impl Hist {
    pub fn new() -> Self {
        let inner = Histogram::new_with_bounds(1, MAX_US, 3)
            .unwrap_or_else(|e| unreachable!("constant histogram bounds: {e}"));
        Hist { inner }
    }

    /// Records `d` (at least 1 µs; beyond an hour it saturates).
    pub fn record(&mut self, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, MAX_US);
        self.inner.saturating_record(us);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Hist) {
        // Both have the same bounds, so this cannot fail.
        let _ = self.inner.add(&other.inner);
    }

    pub fn count(&self) -> u64 {
        self.inner.len()
    }

    /// The value at quantile `q` (0..=1), in µs; 0 when empty.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.inner.is_empty() {
            return 0.0;
        }
        self.inner.value_at_quantile(q) as f64
    }

    pub fn summary(&self) -> Summary {
        if self.inner.is_empty() {
            return Summary::default();
        }
        Summary {
            count: self.inner.len(),
            p50: self.quantile(0.50),
            p90: self.quantile(0.90),
            p99: self.quantile(0.99),
            p999: self.quantile(0.999),
            max: self.inner.max() as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_in_micros() {
        let mut h = Hist::new();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert_eq!(s.p50, 500.0);
        assert_eq!(s.p99, 990.0);
        assert_eq!(s.p999, 999.0);
        assert_eq!(s.max, 1000.0);
        assert_eq!(Hist::new().summary(), Summary::default());
    }

    #[test]
    fn tiny_and_huge_values_are_kept() {
        let mut h = Hist::new();
        h.record(Duration::from_nanos(10));
        h.record(Duration::from_secs(10_000));
        let s = h.summary();
        assert_eq!(s.count, 2);
        assert_eq!(s.p50, 1.0);
        assert!(s.max >= 3.5e9);
    }
}
