//! The [`StateStore`] contract as one test that every implementation runs unchanged:
//! `conformance::run(&store).await` from a `#[tokio::test(flavor = "multi_thread")]` (the
//! concurrency checks run on real threads). It panics on the first violation, naming the
//! rule.
//!
//! Each check uses its own keys under `lmrelay-conformance:<random>:`, so a shared backend
//! (Redis) works and runs do not see each other; records are deleted at the end, and
//! counters get a TTL except where the check is about having none. On timing: values that
//! should expire get a TTL of 150 ms and are looked at again after a sleep of 400 ms; a value
//! is asserted to be still there only when less than its TTL has been measured to pass since
//! it was written, so a slow machine skips that assertion rather than failing it.

use super::{CounterOp, StateStore};
use bytes::Bytes;
use std::time::{Duration, Instant};
use tokio::runtime::{Handle, RuntimeFlavor};

/// The TTL of values a check waits to see expire.
const SHORT: Duration = Duration::from_millis(150);
/// How long a check waits for [`SHORT`] values to expire.
const WAIT: Duration = Duration::from_millis(400);
/// The TTL of counters whose TTL does not matter to the check, so a shared backend forgets
/// them.
const KEEP: Option<Duration> = Some(Duration::from_secs(3600));
const THREADS: usize = 8;
const INCREMENTS: usize = 500;
const CAS_INCREMENTS: usize = 50;

/// Checks `store` against the whole [`StateStore`] contract. Needs a multi-thread runtime.
pub async fn run(store: &dyn StateStore) {
    let handle = Handle::current();
    assert_ne!(
        handle.runtime_flavor(),
        RuntimeFlavor::CurrentThread,
        "conformance::run needs a multi-thread runtime: #[tokio::test(flavor = \"multi_thread\")]"
    );
    let s = Checked(store);
    let ns = format!("lmrelay-conformance:{:016x}:", fastrand::u64(..));
    tokio::join!(
        counters_basics(s, &ns),
        counters_batch(s, &ns),
        counters_ttl(s, &ns),
        records_basics(s, &ns),
        records_ttl(s, &ns),
        compare_and_set(s, &ns),
        compare_and_set_ttl(s, &ns),
        scans(s, &ns),
    );
    counters_concurrent(s, &handle, &ns).await;
    compare_and_set_concurrent(s, &handle, &ns).await;
    for (key, _) in s.scan(&ns).await {
        s.delete(&key).await;
    }
}

async fn counters_basics(s: Checked<'_>, ns: &str) {
    let p = format!("{ns}counters-basics:");
    let (a, b) = (format!("{p}a"), format!("{p}b"));
    assert_eq!(s.read(&a).await, 0, "a missing counter must read 0");
    let read_with_ttl = CounterOp {
        key: a.clone(),
        add: 0,
        ttl: KEEP,
    };
    assert_eq!(
        s.one(read_with_ttl).await,
        0,
        "a missing counter must read 0"
    );
    assert_eq!(
        s.scan_counters(&p).await,
        [],
        "reading a counter (add = 0) must not create it"
    );
    assert_eq!(s.add(&a, 5, KEEP).await, 5, "a new counter must start at 0");
    assert_eq!(s.add(&a, -2, KEEP).await, 3, "adds must accumulate");
    assert_eq!(s.read(&a).await, 3, "add = 0 must read the current value");
    assert_eq!(s.add(&b, -7, KEEP).await, -7, "a counter must go negative");
    assert_eq!(s.add(&b, 7, KEEP).await, 0, "adds must accumulate");
    assert_eq!(
        s.scan_counters(&p).await,
        [(a, 3), (b, 0)],
        "a counter back at 0 must still be listed"
    );
}

async fn counters_batch(s: Checked<'_>, ns: &str) {
    let p = format!("{ns}counters-batch:");
    let (a, b, c) = (format!("{p}a"), format!("{p}b"), format!("{p}c"));
    assert_eq!(
        s.counters(&[]).await,
        Vec::<i64>::new(),
        "no ops must give no values"
    );
    let ops = [
        CounterOp::add(&a, 1, KEEP),
        CounterOp::add(&b, 10, KEEP),
        CounterOp::add(&a, 2, KEEP),
        CounterOp::read(&a),
        CounterOp::add(&b, -3, KEEP),
        CounterOp::read(&c),
    ];
    assert_eq!(
        s.counters(&ops).await,
        [1, 10, 3, 3, 7, 0],
        "the ops of one call must apply in order, each seeing the ones before"
    );
    assert_eq!(
        s.scan_counters(&p).await,
        [(a, 3), (b, 7)],
        "a batch must leave its counters, and not create read-only ones"
    );
}

async fn counters_ttl(s: Checked<'_>, ns: &str) {
    let p = format!("{ns}counters-ttl:");
    let (a, b, c) = (format!("{p}a"), format!("{p}b"), format!("{p}c"));
    let t0 = Instant::now();
    assert_eq!(
        s.add(&a, 1, Some(SHORT)).await,
        1,
        "a new counter must start at 0"
    );
    let a2 = s.add(&a, 1, KEEP).await;
    assert_eq!(
        s.add(&b, 1, Some(SHORT)).await,
        1,
        "a new counter must start at 0"
    );
    let b2 = s.add(&b, 1, None).await;
    assert!(
        matches!((a2, b2), (1 | 2, 1 | 2)),
        "a counter must start at 0 and add; got {a2} and {b2} after two adds of 1"
    );
    assert_eq!(s.add(&c, 1, None).await, 1, "a new counter must start at 0");
    if t0.elapsed() < SHORT {
        assert_eq!(a2, 2, "a counter must not expire before its TTL");
        assert_eq!(b2, 2, "a counter must not expire before its TTL");
    }
    tokio::time::sleep(WAIT).await;
    // Had a counter expired already (a slow machine), the second add created it anew.
    let (a_now, b_now) = (if a2 == 2 { 0 } else { 1 }, if b2 == 2 { 0 } else { 1 });
    assert_eq!(
        s.read(&a).await,
        a_now,
        "a counter must expire after the TTL it was created with; a later add must not extend it"
    );
    assert_eq!(
        s.read(&b).await,
        b_now,
        "a counter must expire after the TTL it was created with; a later add with ttl None must not remove it"
    );
    assert_eq!(
        s.read(&c).await,
        1,
        "a counter without a TTL must not expire"
    );
    assert_eq!(
        s.read(&a).await,
        a_now,
        "reading an expired counter must not revive it"
    );
    let expected: Vec<(String, i64)> = [(&a, a_now), (&b, b_now), (&c, 1)]
        .into_iter()
        .filter(|&(_, v)| v != 0)
        .map(|(k, v)| (k.clone(), v))
        .collect();
    assert_eq!(
        s.scan_counters(&p).await,
        expected,
        "scan_counters must skip expired counters"
    );
    assert_eq!(
        s.add(&a, 5, KEEP).await,
        a_now + 5,
        "an expired counter must start again at 0"
    );
}

async fn records_basics(s: Checked<'_>, ns: &str) {
    let p = format!("{ns}records-basics:");
    let (a, empty, binary) = (format!("{p}a"), format!("{p}empty"), format!("{p}binary"));
    assert_eq!(s.get(&a).await, None, "a missing record must be None");
    assert!(
        !s.delete(&a).await,
        "deleting a missing record must report false"
    );
    s.set(&a, b"one", None).await;
    assert_eq!(
        s.get(&a).await,
        Some(bytes(b"one")),
        "get must return what set wrote"
    );
    s.set(&a, b"two", None).await;
    assert_eq!(s.get(&a).await, Some(bytes(b"two")), "set must overwrite");
    s.set(&empty, b"", None).await;
    assert_eq!(
        s.get(&empty).await,
        Some(Bytes::new()),
        "an empty record must be present"
    );
    let all: Vec<u8> = (0..=255).collect();
    s.set(&binary, &all, None).await;
    assert_eq!(
        s.get(&binary).await,
        Some(Bytes::from(all)),
        "records must be binary-safe"
    );
    assert!(s.delete(&a).await, "deleting a record must report true");
    assert_eq!(s.get(&a).await, None, "a deleted record must be gone");
    assert!(
        !s.delete(&a).await,
        "deleting a deleted record must report false"
    );
}

async fn records_ttl(s: Checked<'_>, ns: &str) {
    let p = format!("{ns}records-ttl:");
    let [a, b, c, d] = ["a", "b", "c", "d"].map(|k| format!("{p}{k}"));
    let t0 = Instant::now();
    s.set(&a, b"a", Some(SHORT)).await;
    s.set(&b, b"b", None).await;
    s.set(&c, b"c", Some(SHORT)).await;
    s.set(&c, b"c2", None).await;
    s.set(&d, b"d", None).await;
    s.set(&d, b"d2", Some(SHORT)).await;
    let (a_early, d_early) = (s.get(&a).await, s.get(&d).await);
    if t0.elapsed() < SHORT {
        assert_eq!(
            a_early,
            Some(bytes(b"a")),
            "a record must not expire before its TTL"
        );
        assert_eq!(
            d_early,
            Some(bytes(b"d2")),
            "a record must not expire before its TTL"
        );
    }
    tokio::time::sleep(WAIT).await;
    // Before any read, which a store may take as the moment to drop an expired record.
    assert!(
        !s.delete(&a).await,
        "deleting an expired record must report false"
    );
    assert_eq!(s.get(&a).await, None, "a record must expire after its TTL");
    assert_eq!(
        s.get(&b).await,
        Some(bytes(b"b")),
        "a record without a TTL must stay"
    );
    assert_eq!(
        s.get(&c).await,
        Some(bytes(b"c2")),
        "set with ttl None must keep the record until deleted, whatever TTL it had"
    );
    assert_eq!(
        s.get(&d).await,
        None,
        "set with a TTL must make the record expire"
    );
}

async fn compare_and_set(s: Checked<'_>, ns: &str) {
    let p = format!("{ns}cas:");
    let [a, b, c, e] = ["a", "b", "c", "empty"].map(|k| format!("{p}{k}"));
    assert!(
        s.cas(&a, None, Some(b"1"), None).await,
        "expected None must create an absent record"
    );
    assert_eq!(
        s.get(&a).await,
        Some(bytes(b"1")),
        "compare_and_set must write the new value"
    );
    assert!(
        !s.cas(&a, None, Some(b"x"), None).await,
        "expected None must fail on a present record"
    );
    assert!(
        !s.cas(&a, Some(b"2"), Some(b"x"), None).await,
        "a mismatch must fail"
    );
    assert!(
        !s.cas(&a, Some(b"12"), Some(b"x"), None).await,
        "a mismatch must fail"
    );
    assert!(
        !s.cas(&a, Some(b""), Some(b"x"), None).await,
        "a mismatch must fail"
    );
    assert_eq!(
        s.get(&a).await,
        Some(bytes(b"1")),
        "a failed compare_and_set must not write"
    );
    assert!(
        s.cas(&a, Some(b"1"), Some(b"2"), None).await,
        "a match must replace"
    );
    assert_eq!(
        s.get(&a).await,
        Some(bytes(b"2")),
        "a match must write the new value"
    );
    assert!(
        s.cas(&a, Some(b"2"), None, None).await,
        "a match with new None must delete"
    );
    assert_eq!(s.get(&a).await, None, "new None must delete");
    assert!(
        !s.cas(&a, Some(b"2"), None, None).await,
        "expected Some must fail on an absent record"
    );
    assert!(
        !s.cas(&b, Some(b"x"), Some(b"y"), None).await,
        "expected Some must fail on an absent record"
    );
    assert_eq!(
        s.get(&b).await,
        None,
        "a failed compare_and_set must not create"
    );
    // The condition holds and the record stays absent.
    assert!(
        s.cas(&c, None, None, None).await,
        "absent → absent must report true"
    );
    assert_eq!(s.get(&c).await, None, "absent → absent must not create");
    s.set(&e, b"", None).await;
    assert!(
        !s.cas(&e, None, Some(b"x"), None).await,
        "an empty record is present, not absent"
    );
    assert!(
        s.cas(&e, Some(b""), Some(b"x"), None).await,
        "an empty record must match an empty expected"
    );
    assert_eq!(
        s.get(&e).await,
        Some(bytes(b"x")),
        "a match must write the new value"
    );
}

async fn compare_and_set_ttl(s: Checked<'_>, ns: &str) {
    let p = format!("{ns}cas-ttl:");
    let [a, b, c] = ["a", "b", "c"].map(|k| format!("{p}{k}"));
    let t0 = Instant::now();
    let created = s.cas(&a, None, Some(b"a"), Some(SHORT)).await;
    assert!(created, "expected None must create an absent record");
    s.set(&b, b"b", None).await;
    let replaced = s.cas(&b, Some(b"b"), Some(b"b2"), Some(SHORT)).await;
    assert!(replaced, "a match must replace");
    s.set(&c, b"c", Some(SHORT)).await;
    let kept = s.cas(&c, Some(b"c"), Some(b"c2"), None).await;
    let a_early = s.get(&a).await;
    if t0.elapsed() < SHORT {
        assert!(kept, "a record must not expire before its TTL");
        assert_eq!(
            a_early,
            Some(bytes(b"a")),
            "a record must not expire before its TTL"
        );
    }
    tokio::time::sleep(WAIT).await;
    // Before any read, which a store may take as the moment to drop an expired record.
    assert!(
        !s.cas(&a, Some(b"a"), Some(b"x"), None).await,
        "compare_and_set must set the TTL it is given; an expired record must not match its old value"
    );
    assert!(
        s.cas(&b, None, Some(b"b3"), None).await,
        "compare_and_set must set the TTL it is given; an expired record must count as absent"
    );
    assert_eq!(
        s.get(&a).await,
        None,
        "compare_and_set must set the TTL it is given"
    );
    assert_eq!(
        s.get(&b).await,
        Some(bytes(b"b3")),
        "compare_and_set must write the new value"
    );
    if kept {
        assert_eq!(
            s.get(&c).await,
            Some(bytes(b"c2")),
            "compare_and_set with ttl None must keep the record until deleted"
        );
    }
    assert!(
        s.cas(&a, None, Some(b"a2"), None).await,
        "an expired record must count as absent"
    );
    assert_eq!(
        s.get(&a).await,
        Some(bytes(b"a2")),
        "compare_and_set must write the new value"
    );
}

async fn scans(s: Checked<'_>, ns: &str) {
    // Glob and regex characters in the prefix must be taken literally; the decoys match it
    // read as a glob.
    let p = format!("{ns}scan:r*[ab]?/");
    let cp = format!("{ns}scan:c*[ab]?/");
    let t0 = Instant::now();
    for (key, ttl) in [
        ("b", None),
        ("ab", None),
        ("", None),
        ("a", None),
        ("c", Some(SHORT)),
    ] {
        s.set(&format!("{p}{key}"), key.as_bytes(), ttl).await;
        s.add(&format!("{cp}{key}"), key.len() as i64 + 1, ttl.or(KEEP))
            .await;
    }
    s.set(&format!("{ns}scan:rxxa1/a"), b"decoy", None).await;
    s.set(&format!("{ns}scan:r*[ab]?"), b"decoy", None).await;
    s.add(&format!("{ns}scan:cxxb1/a"), 1, KEEP).await;
    let early = s.scan(&p).await;
    if t0.elapsed() < SHORT {
        assert_eq!(
            early.len(),
            5,
            "scan must list every live record under the prefix: {early:?}"
        );
    }
    tokio::time::sleep(WAIT).await;
    let records = |keys: &[&str]| -> Vec<(String, Bytes)> {
        keys.iter()
            .map(|k| (format!("{p}{k}"), Bytes::copy_from_slice(k.as_bytes())))
            .collect()
    };
    assert_eq!(
        s.scan(&p).await,
        records(&["", "a", "ab", "b"]),
        "scan must list the live records under the prefix, sorted by key, and nothing else"
    );
    let counters = |keys: &[&str]| -> Vec<(String, i64)> {
        keys.iter()
            .map(|k| (format!("{cp}{k}"), k.len() as i64 + 1))
            .collect()
    };
    assert_eq!(
        s.scan_counters(&cp).await,
        counters(&["", "a", "ab", "b"]),
        "scan_counters must list the live counters under the prefix, sorted by key, and nothing else"
    );
    assert_eq!(
        s.scan(&format!("{ns}scan:none/")).await,
        [],
        "an unused prefix must list nothing"
    );
    assert_eq!(
        s.scan_counters(&format!("{ns}scan:none/")).await,
        [],
        "an unused prefix must list nothing"
    );
}

/// Every increment from many threads at once counts, and each sees its own new value.
async fn counters_concurrent(s: Checked<'_>, handle: &Handle, ns: &str) {
    let p = format!("{ns}counters-concurrent:");
    let (a, b) = (format!("{p}a"), format!("{p}b"));
    let ops = [CounterOp::add(&a, 1, KEEP), CounterOp::add(&b, 2, KEEP)];
    let seen = on_threads(|| {
        handle.block_on(async {
            let mut seen = Vec::with_capacity(INCREMENTS);
            for _ in 0..INCREMENTS {
                seen.push(s.counters(&ops).await[0]);
            }
            seen
        })
    });
    for values in &seen {
        assert!(
            values.windows(2).all(|w| w[0] < w[1]),
            "one caller's increments must see increasing values"
        );
    }
    let mut all: Vec<i64> = seen.into_iter().flatten().collect();
    all.sort_unstable();
    let n = (THREADS * INCREMENTS) as i64;
    assert!(
        all.iter().copied().eq(1..=n),
        "concurrent increments must each be atomic: each must see a value no other saw"
    );
    let totals = s
        .counters(&[CounterOp::read(&a), CounterOp::read(&b)])
        .await;
    assert_eq!(totals, [n, 2 * n], "concurrent increments must all count");
}

/// Compare-and-set from many threads at once loses no update.
async fn compare_and_set_concurrent(s: Checked<'_>, handle: &Handle, ns: &str) {
    let key = format!("{ns}cas-concurrent:n");
    s.set(&key, b"0", None).await;
    on_threads(|| {
        handle.block_on(async {
            let (mut done, mut tries) = (0, 0);
            while done < CAS_INCREMENTS {
                tries += 1;
                assert!(
                    tries < 100_000,
                    "compare_and_set never succeeds under contention"
                );
                let current = s.get(&key).await.unwrap_or_default();
                let next = number(&current) + 1;
                if s.cas(
                    &key,
                    Some(&current),
                    Some(next.to_string().as_bytes()),
                    None,
                )
                .await
                {
                    done += 1;
                }
            }
        })
    });
    let total = s.get(&key).await.unwrap_or_default();
    assert_eq!(
        number(&total),
        (THREADS * CAS_INCREMENTS) as u64,
        "concurrent compare_and_set must be atomic: every success must build on the last"
    );
}

/// Runs `work` on [`THREADS`] threads at once, from async code, without blocking the
/// runtime's other tasks (an I/O driver, a connection's task).
fn on_threads<T: Send>(work: impl Fn() -> T + Sync) -> Vec<T> {
    tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            let threads: Vec<_> = (0..THREADS).map(|_| scope.spawn(&work)).collect();
            threads
                .into_iter()
                .map(|t| {
                    t.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        })
    })
}

fn number(value: &[u8]) -> u64 {
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| panic!("the record must hold a number, not {value:?}"))
}

fn bytes(value: &'static [u8]) -> Bytes {
    Bytes::from_static(value)
}

/// The store, with every failure turned into a panic naming the call.
#[derive(Clone, Copy)]
struct Checked<'a>(&'a dyn StateStore);

// === impl Checked ===

impl Checked<'_> {
    async fn counters(self, ops: &[CounterOp]) -> Vec<i64> {
        let values = self
            .0
            .counters(ops)
            .await
            .unwrap_or_else(|e| panic!("counters({ops:?}) failed: {e}"));
        assert_eq!(
            values.len(),
            ops.len(),
            "counters must give one value per op"
        );
        values
    }

    async fn one(self, op: CounterOp) -> i64 {
        let values = self.counters(std::slice::from_ref(&op)).await;
        values[0]
    }

    async fn add(self, key: &str, add: i64, ttl: Option<Duration>) -> i64 {
        self.one(CounterOp::add(key, add, ttl)).await
    }

    async fn read(self, key: &str) -> i64 {
        self.one(CounterOp::read(key)).await
    }

    async fn scan_counters(self, prefix: &str) -> Vec<(String, i64)> {
        self.0
            .scan_counters(prefix)
            .await
            .unwrap_or_else(|e| panic!("scan_counters({prefix:?}) failed: {e}"))
    }

    async fn get(self, key: &str) -> Option<Bytes> {
        self.0
            .get(key)
            .await
            .unwrap_or_else(|e| panic!("get({key:?}) failed: {e}"))
    }

    async fn set(self, key: &str, value: &[u8], ttl: Option<Duration>) {
        self.0
            .set(key, Bytes::copy_from_slice(value), ttl)
            .await
            .unwrap_or_else(|e| panic!("set({key:?}) failed: {e}"))
    }

    async fn cas(
        self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
    ) -> bool {
        self.0
            .compare_and_set(key, expected, new.map(Bytes::copy_from_slice), ttl)
            .await
            .unwrap_or_else(|e| panic!("compare_and_set({key:?}) failed: {e}"))
    }

    async fn delete(self, key: &str) -> bool {
        self.0
            .delete(key)
            .await
            .unwrap_or_else(|e| panic!("delete({key:?}) failed: {e}"))
    }

    async fn scan(self, prefix: &str) -> Vec<(String, Bytes)> {
        self.0
            .scan(prefix)
            .await
            .unwrap_or_else(|e| panic!("scan({prefix:?}) failed: {e}"))
    }
}
