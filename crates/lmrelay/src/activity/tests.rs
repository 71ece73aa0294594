//! The series' buckets (per second, stale ones read as empty) and the ring's order and bound.

use super::*;

fn rec(now_ms: u64, id: &str, status: u16, latency_ms: u64, ttft_ms: Option<u64>) -> Record<'_> {
    Record {
        now_ms,
        request_id: id,
        key: Some("team"),
        protocol: "openai",
        model: "chat",
        provider: "oa",
        upstream_key: Some("key_1a2b3c4d"),
        status,
        result: if status == 200 { "complete" } else { "error" },
        attempts: 1,
        input_tokens: 10,
        output_tokens: 5,
        latency_ms,
        ttft_ms,
    }
}

#[test]
fn series_sum_each_second() {
    let a = Activity::default();
    let t = 1_700_000_000_000;
    a.record(&rec(t, "a", 200, 100, Some(40)));
    a.record(&rec(t + 500, "b", 502, 300, None));
    a.record(&rec(t + 2_000, "c", 200, 50, Some(20)));
    let s = a.series(t + 2_100, 4);
    assert_eq!(s.end, t / 1000 + 2);
    assert_eq!(s.requests, vec![0, 2, 0, 1]);
    assert_eq!(s.errors, vec![0, 1, 0, 0]);
    assert_eq!(s.latency_ms, vec![None, Some(200), None, Some(50)]);
    assert_eq!(s.ttft_ms, vec![None, Some(40), None, Some(20)]);
}

#[test]
fn a_stream_cut_by_an_error_counts_as_an_error() {
    let a = Activity::default();
    let mut r = rec(5_000, "a", 200, 10, Some(5));
    r.result = "stream error";
    a.record(&r);
    assert_eq!(a.series(5_000, 1).errors, vec![1]);
}

#[test]
fn old_seconds_are_forgotten() {
    let a = Activity::default();
    let t = 1_000_000;
    a.record(&rec(t, "old", 200, 10, None));
    // The same bucket, one lap later: the old totals are gone, not added to.
    let later = t + SECONDS as u64 * 1000;
    a.record(&rec(later, "new", 200, 30, None));
    let s = a.series(later, SECONDS);
    assert_eq!(s.requests.len(), SECONDS);
    assert_eq!(s.requests.iter().sum::<u32>(), 1);
    assert_eq!(s.latency_ms.last(), Some(&Some(30)));
    // Asked long after, nothing is left.
    let s = a.series(later + 2 * SECONDS as u64 * 1000, SECONDS);
    assert_eq!(s.requests.iter().sum::<u32>(), 0);
}

#[test]
fn the_ring_keeps_the_latest_newest_first() {
    let a = Activity::default();
    assert!(a.recent(10).is_empty());
    let ids: Vec<String> = (0..RECENT + 25).map(|i| format!("req_{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        a.record(&rec(1_000 + i as u64, id, 200, 1, None));
    }
    let recent = a.recent(RECENT + 50);
    assert_eq!(recent.len(), RECENT);
    assert_eq!(recent[0].request_id, format!("req_{}", RECENT + 24));
    assert_eq!(recent[RECENT - 1].request_id, "req_25");
    assert_eq!(a.recent(2)[1].request_id, format!("req_{}", RECENT + 23));
}

#[test]
fn a_partly_filled_ring_is_newest_first() {
    let a = Activity::default();
    for id in ["a", "b", "c"] {
        a.record(&rec(1_000, id, 200, 1, None));
    }
    let ids: Vec<String> = a.recent(10).into_iter().map(|e| e.request_id).collect();
    assert_eq!(ids, ["c", "b", "a"]);
    let e = &a.recent(1)[0];
    assert_eq!(
        (e.key.as_str(), e.upstream_key.as_str()),
        ("team", "key_1a2b3c4d")
    );
}
