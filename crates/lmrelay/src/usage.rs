//! Usage accounting off the request path: each finished exchange adds its counts to
//! in-memory totals per (day, gateway key, provider, model) — atomics in a sharded map, no
//! store call, no task — and a background flush writes everything that changed to the state
//! store in one batch every [`FLUSH_EVERY`] (and once more at shutdown). Also the key's
//! tokens-per-minute correction and its spending, which the limits read back from the store.

use crate::limits;
use crate::outcome::{Outcome, SEP};
use crate::store::{CounterOp, StateStore};
use dashmap::DashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often totals go to the store: the most a usage report or a budget check lags.
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// How long daily usage counters are kept.
const USAGE_TTL: Duration = Duration::from_secs(400 * 24 * 3600);
const MONTH_TTL: Duration = Duration::from_secs(40 * 24 * 3600);
const WINDOW_TTL: Duration = Duration::from_secs(180);
const DAY_MS: u64 = 86_400_000;

/// (day number, key name or `-`, provider, model).
type RowKey = (u64, String, String, String);

/// requests, input, output, cached, cost in nano-dollars.
#[derive(Default)]
struct Totals([AtomicI64; 5]);

const FIELDS: [&str; 5] = ["requests", "input", "output", "cached", "cost_nano"];

/// Totals not yet written to the store.
#[derive(Default)]
pub struct UsageRecorder {
    rows: DashMap<RowKey, Totals>,
    /// (key name, minute of admission) → tokens to add to that tpm window.
    tpm: DashMap<(String, u64), AtomicI64>,
    /// (key name, day number) → nano-dollars spent.
    spend: DashMap<(String, u64), AtomicI64>,
    /// Updates a failed flush could not write (touched by the flush only).
    unwritten: std::sync::Mutex<Vec<CounterOp>>,
}

// === impl UsageRecorder ===

impl UsageRecorder {
    /// Adds an outcome to the totals.
    pub fn record(&self, o: &Outcome, now_ms: u64) {
        let day = now_ms / DAY_MS;
        let key = o.key.as_ref().map_or("-", |k| k.name.as_str());
        let cost = (o.cost_usd() * limits::NANOS_PER_USD).round() as i64;
        let u = &o.usage;
        let add = [
            1,
            u.input as i64,
            u.output as i64,
            u.cache_read as i64,
            cost,
        ];
        let row = (day, key.to_owned(), o.provider.clone(), o.model.clone());
        let totals = self.rows.entry(row).or_default();
        for (slot, n) in totals.0.iter().zip(add) {
            slot.fetch_add(n, Ordering::Relaxed);
        }
        drop(totals);
        let Some(k) = &o.key else {
            return;
        };
        if k.tpm.is_some() {
            // The limit counted the estimate; count what was really used instead.
            let delta = (u.input + u.output) as i64 - o.estimated_tokens as i64;
            if delta != 0 {
                self.tpm
                    .entry((k.name.clone(), o.admitted_ms / 60_000))
                    .or_default()
                    .fetch_add(delta, Ordering::Relaxed);
            }
        }
        if cost != 0 {
            self.spend
                .entry((k.name.clone(), day))
                .or_default()
                .fetch_add(cost, Ordering::Relaxed);
        }
    }

    /// The counter updates for everything recorded since the last call (and forgets it).
    pub fn drain(&self) -> Vec<CounterOp> {
        let mut ops =
            std::mem::take(&mut *self.unwritten.lock().unwrap_or_else(|e| e.into_inner()));
        for entry in self.rows.iter() {
            let (day, key, provider, model) = entry.key();
            let date = date(*day);
            for (field, slot) in FIELDS.iter().zip(&entry.value().0) {
                let n = slot.swap(0, Ordering::Relaxed);
                if n != 0 {
                    ops.push(CounterOp::add(
                        format!("usage:{date}:{key}{SEP}{provider}{SEP}{model}:{field}"),
                        n,
                        Some(USAGE_TTL),
                    ));
                }
            }
        }
        for entry in self.tpm.iter() {
            let n = entry.value().swap(0, Ordering::Relaxed);
            if n != 0 {
                let (name, minute) = entry.key();
                ops.push(CounterOp::add(
                    limits::tpm_key(name, minute * 60_000),
                    n,
                    Some(WINDOW_TTL),
                ));
            }
        }
        for entry in self.spend.iter() {
            let n = entry.value().swap(0, Ordering::Relaxed);
            if n != 0 {
                let (name, day) = entry.key();
                ops.push(CounterOp::add(
                    limits::budget_key(name, day * DAY_MS),
                    n,
                    Some(MONTH_TTL),
                ));
            }
        }
        // Entries of past days and minutes are done with once drained.
        let today = crate::now_ms() / DAY_MS;
        self.rows.retain(|k, _| k.0 >= today);
        let minute = crate::now_ms() / 60_000;
        self.tpm.retain(|k, _| k.1 + 2 >= minute);
        self.spend.retain(|k, _| k.1 >= today);
        ops
    }

    /// Writes what was recorded to the store; on failure the counts are kept for the next
    /// flush.
    pub async fn flush(&self, store: &dyn StateStore) {
        let ops = self.drain();
        if ops.is_empty() {
            return;
        }
        if let Err(e) = store.counters(&ops).await {
            tracing::warn!(error = %e, "usage not written yet: the state store failed");
            // Kept for the next flush.
            self.unwritten
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(ops);
        }
    }
}

/// `YYYY-MM-DD` of a day number.
fn date(day: u64) -> String {
    lmrelay_protocol::time::rfc3339_from_unix_ms(day * DAY_MS)[..10].to_owned()
}

/// Flushes `recorder` into `store` every [`FLUSH_EVERY`] until aborted.
pub fn spawn_flusher(
    recorder: Arc<UsageRecorder>,
    store: Arc<dyn StateStore>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(FLUSH_EVERY).await;
            recorder.flush(&*store).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{KeyConfig, KeyMatcher, Price};
    use crate::store::MemoryStore;
    use lmrelay_ir::Usage;
    use std::time::Instant;

    fn outcome(key: Option<Arc<KeyConfig>>, input: u64, output: u64) -> Outcome {
        Outcome {
            request_id: "r".into(),
            key,
            provider: "p".into(),
            model: "m".into(),
            usage: Usage {
                input,
                output,
                cache_read: 1,
                ..Usage::default()
            },
            estimated_tokens: 10,
            price: Some(Price {
                input: 1.0,
                output: 2.0,
            }),
            started: Instant::now(),
            admitted_ms: crate::now_ms(),
            result: "complete",
            protocol: crate::protocol::ClientProtocol::OpenAiChat,
            system: "openai",
            finish_reason: None,
            trace: None,
            model_label: "m".into(),
            audit: Default::default(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn totals_reach_the_store_in_one_flush() {
        let key = Arc::new(KeyConfig {
            name: "team".into(),
            key: KeyMatcher::Sha256("0".repeat(64)),
            models: vec![],
            rpm: None,
            tpm: Some(1000),
            budget_usd: Some(1.0),
            regions: vec![],
            max_concurrent: None,
            direct: true,
        });
        let r = UsageRecorder::default();
        let store = MemoryStore::default();
        let now = crate::now_ms();
        r.record(&outcome(Some(key.clone()), 100, 50), now);
        r.record(&outcome(Some(key), 100, 50), now);
        r.record(&outcome(None, 1, 1), now);
        r.flush(&store).await;
        let usage = store.scan_counters("usage:").await.expect("scan");
        let find = |who: &str, field: &str| {
            usage
                .iter()
                .find(|(k, _)| k.contains(who) && k.ends_with(field))
                .map(|(_, v)| *v)
        };
        assert_eq!(find("team", ":requests"), Some(2));
        assert_eq!(find("team", ":input"), Some(200));
        assert_eq!(find("team", ":output"), Some(100));
        // (100 × 1 + 50 × 2) / 1e6 USD each = 200 µ$ = 200 000 n$.
        assert_eq!(find("team", ":cost_nano"), Some(400_000));
        assert_eq!(find("-\u{1f}", ":requests"), Some(1));
        let spend = store
            .counters(&[CounterOp::read(limits::budget_key("team", now))])
            .await
            .expect("read");
        assert_eq!(spend, vec![400_000]);
        let tpm = store
            .counters(&[CounterOp::read(limits::tpm_key("team", now))])
            .await
            .expect("read");
        assert_eq!(
            tpm,
            vec![2 * (150 - 10)],
            "the estimate corrected to the real use"
        );
        // Nothing new: nothing written.
        assert!(r.drain().is_empty());
    }
}
