//! The in-memory [`StateStore`], the embedded default: one process, nothing shared. Counters
//! and records are two sharded maps ([`DashMap`]), so operations on different keys rarely
//! contend and none waits on a global lock; each operation locks one shard for a few
//! instructions and never across an await (nothing here awaits). Expired entries count as
//! absent and are removed when touched, and a sweep run by every [`SWEEP_EVERY`]th insert
//! removes the rest once the map has doubled since the last sweep or [`SWEEP_INTERVAL`] has
//! passed, so memory stays bounded at amortized constant cost per insert.

use super::{CounterOp, StateStore, StoreError};
use bytes::Bytes;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How many inserts into a map between checks whether it is due for a sweep.
const SWEEP_EVERY: u64 = 1024;
/// The longest a map goes without a sweep while it is being inserted into.
const SWEEP_INTERVAL: Duration = Duration::from_secs(10);

/// The in-memory [`StateStore`].
#[derive(Debug)]
pub struct MemoryStore {
    counters: DashMap<Box<str>, Counter>,
    records: DashMap<Box<str>, Record>,
    counter_sweep: Sweep,
    record_sweep: Sweep,
    /// The zero of [`Sweep::last_ms`].
    epoch: Instant,
}

#[derive(Debug)]
struct Counter {
    value: i64,
    expires: Option<Instant>,
}

#[derive(Debug)]
struct Record {
    value: Bytes,
    expires: Option<Instant>,
}

/// When one map was last swept.
#[derive(Debug, Default)]
struct Sweep {
    inserts: AtomicU64,
    /// Entries the last sweep left.
    kept: AtomicUsize,
    /// When the last sweep ran, in milliseconds since [`MemoryStore::epoch`].
    last_ms: AtomicU64,
    running: AtomicBool,
}

trait Expiring {
    fn expires(&self) -> Option<Instant>;

    fn live(&self, now: Instant) -> bool {
        self.expires().is_none_or(|at| now < at)
    }
}

/// When a value written at `now` with `ttl` expires (`None`: never, also for a TTL too long
/// to represent).
fn deadline(now: Instant, ttl: Option<Duration>) -> Option<Instant> {
    ttl.and_then(|ttl| now.checked_add(ttl))
}

// === impl MemoryStore ===

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            counters: DashMap::new(),
            records: DashMap::new(),
            counter_sweep: Sweep::default(),
            record_sweep: Sweep::default(),
            epoch: Instant::now(),
        }
    }
}

impl MemoryStore {
    /// One counter operation; the new value, and whether it inserted an entry. Allocates
    /// only to insert.
    fn counter(&self, op: &CounterOp, now: Instant) -> (i64, bool) {
        if let Some(mut counter) = self.counters.get_mut(op.key.as_str()) {
            if counter.live(now) || op.add != 0 {
                return (counter.apply(op, now), false);
            }
        } else if op.add == 0 {
            return (0, false);
        }
        if op.add == 0 {
            // Expired and only read: remove it unless a writer revived it meanwhile.
            self.counters
                .remove_if(op.key.as_str(), |_, c| !c.live(now));
            return (0, false);
        }
        // Missing: insert, unless another writer did since the lookup.
        match self.counters.entry(op.key.as_str().into()) {
            Entry::Occupied(mut entry) => (entry.get_mut().apply(op, now), false),
            Entry::Vacant(entry) => {
                entry.insert(Counter {
                    value: op.add,
                    expires: deadline(now, op.ttl),
                });
                (op.add, true)
            }
        }
    }

    /// Called after each insert, with no entry of `map` held.
    fn inserted<V: Expiring>(&self, map: &DashMap<Box<str>, V>, sweep: &Sweep) {
        if sweep.inserts.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY != SWEEP_EVERY - 1 {
            return;
        }
        let now = Instant::now();
        let now_ms = u64::try_from(now.duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX);
        let grown = map.len() >= 2 * sweep.kept.load(Ordering::Relaxed);
        let stale = now_ms.saturating_sub(sweep.last_ms.load(Ordering::Relaxed))
            >= SWEEP_INTERVAL.as_millis() as u64;
        if !(grown || stale) || sweep.running.swap(true, Ordering::Acquire) {
            return;
        }
        // Locks one shard at a time.
        map.retain(|_, v| v.live(now));
        sweep.kept.store(map.len(), Ordering::Relaxed);
        sweep.last_ms.store(now_ms, Ordering::Relaxed);
        sweep.running.store(false, Ordering::Release);
    }

    /// Entries held, expired or not: (counters, records).
    #[cfg(test)]
    fn held(&self) -> (usize, usize) {
        (self.counters.len(), self.records.len())
    }
}

#[async_trait::async_trait]
impl StateStore for MemoryStore {
    async fn counters(&self, ops: &[CounterOp]) -> Result<Vec<i64>, StoreError> {
        let now = Instant::now();
        let mut values = Vec::with_capacity(ops.len());
        for op in ops {
            let (value, inserted) = self.counter(op, now);
            if inserted {
                self.inserted(&self.counters, &self.counter_sweep);
            }
            values.push(value);
        }
        Ok(values)
    }

    async fn scan_counters(&self, prefix: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let now = Instant::now();
        let mut found: Vec<(String, i64)> = self
            .counters
            .iter()
            .filter(|e| e.key().starts_with(prefix) && e.value().live(now))
            .map(|e| (e.key().to_string(), e.value().value))
            .collect();
        found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        let now = Instant::now();
        match self
            .records
            .view(key, |_, r| r.live(now).then(|| r.value.clone()))
        {
            None => Ok(None),
            Some(Some(value)) => Ok(Some(value)),
            Some(None) => {
                self.records.remove_if(key, |_, r| !r.live(now));
                Ok(None)
            }
        }
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<(), StoreError> {
        let now = Instant::now();
        let record = Record {
            value,
            expires: deadline(now, ttl),
        };
        // Overwriting does not allocate a key.
        let record = match self.records.get_mut(key) {
            Some(mut held) => {
                *held = record;
                return Ok(());
            }
            None => record,
        };
        if self.records.insert(key.into(), record).is_none() {
            self.inserted(&self.records, &self.record_sweep);
        }
        Ok(())
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<Bytes>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let now = Instant::now();
        let new = new.map(|value| Record {
            value,
            expires: deadline(now, ttl),
        });
        let (replaced, inserted) = match self.records.entry(key.into()) {
            Entry::Occupied(mut entry) => {
                let live = entry.get().live(now);
                let current = live.then(|| &entry.get().value[..]);
                match (current == expected, new) {
                    (true, Some(new)) => {
                        entry.insert(new);
                        (true, false)
                    }
                    (true, None) => {
                        entry.remove();
                        (true, false)
                    }
                    (false, _) => {
                        if !live {
                            entry.remove();
                        }
                        (false, false)
                    }
                }
            }
            Entry::Vacant(entry) => match (expected, new) {
                (Some(_), _) => (false, false),
                (None, None) => (true, false),
                (None, Some(new)) => {
                    entry.insert(new);
                    (true, true)
                }
            },
        };
        if inserted {
            self.inserted(&self.records, &self.record_sweep);
        }
        Ok(replaced)
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let now = Instant::now();
        Ok(self.records.remove(key).is_some_and(|(_, r)| r.live(now)))
    }

    async fn scan(&self, prefix: &str) -> Result<Vec<(String, Bytes)>, StoreError> {
        let now = Instant::now();
        let mut found: Vec<(String, Bytes)> = self
            .records
            .iter()
            .filter(|e| e.key().starts_with(prefix) && e.value().live(now))
            .map(|e| (e.key().to_string(), e.value().value.clone()))
            .collect();
        found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }
}

// === impl Counter ===

impl Counter {
    /// Adds to a held counter; an expired one starts again at 0 with the op's TTL.
    fn apply(&mut self, op: &CounterOp, now: Instant) -> i64 {
        if self.live(now) {
            self.value = self.value.saturating_add(op.add);
        } else {
            *self = Counter {
                value: op.add,
                expires: deadline(now, op.ttl),
            };
        }
        self.value
    }
}

impl Expiring for Counter {
    fn expires(&self) -> Option<Instant> {
        self.expires
    }
}

// === impl Record ===

impl Expiring for Record {
    fn expires(&self) -> Option<Instant> {
        self.expires
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::conformance;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory_store_conforms() {
        conformance::run(&MemoryStore::default()).await
    }

    #[tokio::test]
    async fn sweep_removes_expired_entries() {
        let store = MemoryStore::default();
        let short = Some(Duration::from_millis(20));
        let expiring: Vec<CounterOp> = (0..1000)
            .map(|i| CounterOp::add(format!("old:{i}"), 1, short))
            .collect();
        store.counters(&expiring).await.unwrap();
        for i in 0..1000 {
            store
                .set(&format!("old:{i}"), Bytes::from_static(b"x"), short)
                .await
                .unwrap();
        }
        assert_eq!(store.held(), (1000, 1000));
        tokio::time::sleep(Duration::from_millis(60)).await;

        // The 1024th insert sweeps; nothing else touched the expired entries.
        let fresh: Vec<CounterOp> = (0..24)
            .map(|i| CounterOp::add(format!("new:{i}"), 1, None))
            .collect();
        store.counters(&fresh).await.unwrap();
        for i in 0..24 {
            store
                .set(&format!("new:{i}"), Bytes::from_static(b"y"), None)
                .await
                .unwrap();
        }
        assert_eq!(store.held(), (24, 24));
        assert_eq!(store.scan_counters("").await.unwrap().len(), 24);
        assert_eq!(store.scan("").await.unwrap().len(), 24);
    }

    #[tokio::test]
    async fn touching_an_expired_entry_removes_it() {
        let store = MemoryStore::default();
        let short = Some(Duration::from_millis(10));
        store
            .counters(&[CounterOp::add("c", 1, short)])
            .await
            .unwrap();
        store
            .set("r", Bytes::from_static(b"x"), short)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(store.counters(&[CounterOp::read("c")]).await.unwrap(), [0]);
        assert_eq!(store.get("r").await.unwrap(), None);
        assert_eq!(store.held(), (0, 0));
    }

    #[tokio::test]
    async fn counters_saturate_and_huge_ttls_never_expire() {
        let store = MemoryStore::default();
        let forever = Some(Duration::MAX);
        let ops = [
            CounterOp::add("max", i64::MAX, forever),
            CounterOp::add("max", 1, None),
            CounterOp::add("min", i64::MIN, None),
            CounterOp::add("min", -1, None),
        ];
        assert_eq!(
            store.counters(&ops).await.unwrap(),
            [i64::MAX, i64::MAX, i64::MIN, i64::MIN]
        );
        store.set("r", Bytes::new(), forever).await.unwrap();
        assert_eq!(store.get("r").await.unwrap(), Some(Bytes::new()));
    }
}
