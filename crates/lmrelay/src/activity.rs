//! Recent activity for the dashboard: per-second buckets over the last ten minutes
//! (requests, errors, latency, time to first token) and a ring of the latest exchanges.
//! Fed by [`crate::outcome`] — the same record that feeds usage, metrics and the audit log —
//! with one short lock per exchange that is never held across an await; ring slots reuse
//! their strings, so once the ring is full a record allocates nothing. Local to this
//! process: with several replicas each shows its own traffic.

use serde::Serialize;
use std::sync::{Mutex, MutexGuard};

/// Seconds of history the series keep.
pub const SECONDS: usize = 600;

/// Exchanges the ring keeps.
pub const RECENT: usize = 100;

/// One exchange as the ring keeps it: names and short ids only, never a secret.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Entry {
    /// When it finished (Unix ms).
    pub time_ms: u64,
    pub request_id: String,
    /// The gateway key's name (empty without one).
    pub key: String,
    pub protocol: &'static str,
    /// The model the client asked for.
    pub model: String,
    /// The provider that served it or was tried last (empty when none was).
    pub provider: String,
    /// The upstream key's short id (empty when none was used).
    pub upstream_key: String,
    pub status: u16,
    /// `complete`, `stream`, `stream error`, `client disconnected`, `cache hit`, `error`.
    pub result: &'static str,
    pub attempts: u32,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub latency_ms: u64,
    pub ttft_ms: Option<u64>,
}

/// What one finished exchange reports, borrowed from its outcome.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub now_ms: u64,
    pub request_id: &'a str,
    pub key: Option<&'a str>,
    pub protocol: &'static str,
    pub model: &'a str,
    pub provider: &'a str,
    pub upstream_key: Option<&'a str>,
    pub status: u16,
    pub result: &'static str,
    pub attempts: u32,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub latency_ms: u64,
    pub ttft_ms: Option<u64>,
}

/// The series of the last seconds, oldest first, ending with the current second.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Series {
    /// The last second covered (Unix seconds).
    pub end: u64,
    /// Requests finished in each second.
    pub requests: Vec<u32>,
    /// Of those, the ones that failed (an error status or a stream cut by an error).
    pub errors: Vec<u32>,
    /// Mean latency of each second's requests, in ms (`null` without requests).
    pub latency_ms: Vec<Option<u64>>,
    /// Mean time to first token of each second's streams, in ms (`null` without streams).
    pub ttft_ms: Vec<Option<u64>>,
}

/// Recent activity: the series and the ring, behind one short lock.
pub struct Activity {
    inner: Mutex<Inner>,
}

struct Inner {
    buckets: Vec<Bucket>,
    /// The ring; grows to [`RECENT`] and is then overwritten in place.
    recent: Vec<Entry>,
    /// Where the next entry goes once the ring is full.
    next: usize,
}

/// One second's totals.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// The Unix second these totals are for (a bucket of another second is stale).
    second: u64,
    requests: u32,
    errors: u32,
    latency_sum: u64,
    ttft_sum: u64,
    ttft_n: u32,
}

// === impl Activity ===

impl Default for Activity {
    fn default() -> Self {
        Activity {
            inner: Mutex::new(Inner {
                buckets: vec![Bucket::default(); SECONDS],
                recent: Vec::with_capacity(RECENT),
                next: 0,
            }),
        }
    }
}

impl Activity {
    /// Adds one finished exchange.
    pub fn record(&self, r: &Record<'_>) {
        let second = r.now_ms / 1000;
        let mut inner = self.lock();
        let b = &mut inner.buckets[(second % SECONDS as u64) as usize];
        if b.second != second {
            *b = Bucket {
                second,
                ..Bucket::default()
            };
        }
        b.requests = b.requests.saturating_add(1);
        if is_error(r.status, r.result) {
            b.errors = b.errors.saturating_add(1);
        }
        b.latency_sum = b.latency_sum.saturating_add(r.latency_ms);
        if let Some(t) = r.ttft_ms {
            b.ttft_sum = b.ttft_sum.saturating_add(t);
            b.ttft_n = b.ttft_n.saturating_add(1);
        }
        let inner = &mut *inner;
        let slot = if inner.recent.len() < RECENT {
            inner.recent.push(Entry::default());
            inner.recent.len() - 1
        } else {
            inner.next
        };
        fill(&mut inner.recent[slot], r);
        inner.next = (slot + 1) % RECENT;
    }

    /// The last `seconds` (at most [`SECONDS`]) up to `now_ms`, oldest first.
    pub fn series(&self, now_ms: u64, seconds: usize) -> Series {
        let seconds = seconds.clamp(1, SECONDS);
        let end = now_ms / 1000;
        let mut s = Series {
            end,
            requests: Vec::with_capacity(seconds),
            errors: Vec::with_capacity(seconds),
            latency_ms: Vec::with_capacity(seconds),
            ttft_ms: Vec::with_capacity(seconds),
        };
        let inner = self.lock();
        for back in (0..seconds as u64).rev() {
            let Some(second) = end.checked_sub(back) else {
                continue;
            };
            let b = inner.buckets[(second % SECONDS as u64) as usize];
            let b = if b.second == second {
                b
            } else {
                Bucket::default()
            };
            s.requests.push(b.requests);
            s.errors.push(b.errors);
            s.latency_ms
                .push((b.requests > 0).then(|| b.latency_sum / u64::from(b.requests)));
            s.ttft_ms
                .push((b.ttft_n > 0).then(|| b.ttft_sum / u64::from(b.ttft_n)));
        }
        s
    }

    /// The latest `n` exchanges (at most [`RECENT`]), newest first.
    pub fn recent(&self, n: usize) -> Vec<Entry> {
        let inner = self.lock();
        let len = inner.recent.len();
        // `next` is one past the newest entry (and equal to `len` until the ring is full).
        (1..=n.min(len))
            .map(|i| inner.recent[(inner.next + len - i) % len].clone())
            .collect()
    }

    /// The lock; a panic elsewhere while it was held leaves plain numbers and strings, which
    /// are still fine to read and overwrite.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Whether an exchange counts as an error on the dashboard.
fn is_error(status: u16, result: &str) -> bool {
    status >= 400 || result == "stream error"
}

/// Overwrites a ring slot, reusing its strings' buffers.
fn fill(e: &mut Entry, r: &Record<'_>) {
    fn set(s: &mut String, v: &str) {
        s.clear();
        s.push_str(v);
    }
    e.time_ms = r.now_ms;
    set(&mut e.request_id, r.request_id);
    set(&mut e.key, r.key.unwrap_or(""));
    e.protocol = r.protocol;
    set(&mut e.model, r.model);
    set(&mut e.provider, r.provider);
    set(&mut e.upstream_key, r.upstream_key.unwrap_or(""));
    e.status = r.status;
    e.result = r.result;
    e.attempts = r.attempts;
    e.input_tokens = r.input_tokens;
    e.output_tokens = r.output_tokens;
    e.latency_ms = r.latency_ms;
    e.ttft_ms = r.ttft_ms;
}

#[cfg(test)]
mod tests;
