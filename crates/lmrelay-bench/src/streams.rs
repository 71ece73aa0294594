//! Streams: many concurrent streams (time to first token, the gap between tokens), and very
//! many slow ones held open while the proxy's memory is read.

use crate::hist::{Hist, Summary};
use crate::http::{has_content, Call, HttpClient};
use crate::procs::status_kb;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The result of a concurrent-streams run (or of several, merged).
#[derive(Debug, Clone, Default)]
pub struct Streams {
    pub concurrency: usize,
    /// Send to the first frame with generated text.
    pub ttft: Summary,
    /// Between two consecutive frames with generated text.
    pub gap: Summary,
    /// Streams started in the measured phase and read to the end.
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    ttft_hist: Hist,
    gap_hist: Hist,
}

impl crate::load::Mergeable for Streams {
    fn merge_with(&mut self, other: Self) {
        self.concurrency = other.concurrency;
        self.ttft_hist.merge(&other.ttft_hist);
        self.gap_hist.merge(&other.gap_hist);
        self.ttft = self.ttft_hist.summary();
        self.gap = self.gap_hist.summary();
        self.ok += other.ok;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

#[derive(Default)]
struct Tally {
    ttft: Hist,
    gap: Hist,
    ok: u64,
    errors: u64,
    first_error: Option<String>,
}

/// `concurrency` loops, each reading one stream of `call` after another for `warmup +
/// measure`, their starts spread over `spread` (about one stream's length) so that they do not
/// move in lockstep. Streams that start in the measured phase are measured.
pub async fn concurrent(
    client: &HttpClient,
    call: &Call,
    concurrency: usize,
    spread: Duration,
    warmup: Duration,
    measure: Duration,
) -> Streams {
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + measure;
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut tasks = Vec::with_capacity(concurrency);
    for i in 0..concurrency {
        let (client, call, tally) = (client.clone(), call.clone(), tally.clone());
        let offset = spread.mul_f64(i as f64 / concurrency.max(1) as f64);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(offset).await;
            let mut local = Tally::default();
            while Instant::now() < end {
                let sent = Instant::now();
                let measured = sent >= measure_from;
                let mut first = None::<Instant>;
                let mut last = None::<Instant>;
                let mut gaps = Vec::with_capacity(64);
                let outcome = client
                    .stream(&call, |at, frame| {
                        if !has_content(frame) {
                            return;
                        }
                        if first.is_none() {
                            first = Some(at);
                        }
                        if let Some(prev) = last {
                            gaps.push(at - prev);
                        }
                        last = Some(at);
                    })
                    .await;
                if !measured {
                    continue;
                }
                match (outcome, first) {
                    (Ok(_), Some(first)) => {
                        local.ok += 1;
                        local.ttft.record(first - sent);
                        for g in gaps {
                            local.gap.record(g);
                        }
                    }
                    (Ok(_), None) => {
                        local.errors += 1;
                        local
                            .first_error
                            .get_or_insert_with(|| "a stream without text".to_owned());
                    }
                    (Err(e), _) => {
                        local.errors += 1;
                        local.first_error.get_or_insert(e);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
            t.ttft.merge(&local.ttft);
            t.gap.merge(&local.gap);
            t.ok += local.ok;
            t.errors += local.errors;
            if t.first_error.is_none() {
                t.first_error = local.first_error;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let t = tally.lock().unwrap_or_else(|p| p.into_inner());
    Streams {
        concurrency,
        ttft: t.ttft.summary(),
        gap: t.gap.summary(),
        ok: t.ok,
        errors: t.errors,
        first_error: t.first_error.clone(),
        ttft_hist: t.ttft.clone(),
        gap_hist: t.gap.clone(),
    }
}

/// The result of holding many slow streams open.
#[derive(Debug, Clone, Default)]
pub struct Held {
    pub target: usize,
    /// Streams that had received at least one frame when the memory was read, and were still
    /// open.
    pub open_at_peak: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Resident memory before the streams, the highest sampled while they were open, and the
    /// kernel's high-water mark at the end, in kB.
    pub rss_before_kb: u64,
    pub rss_peak_kb: u64,
    pub hwm_kb: u64,
    /// Frames received in all.
    pub frames: u64,
}

/// Opens `count` streams of `call` over `ramp`, holds them `hold` more, sampling the resident
/// memory of `pid` every 100 ms, then drops them all.
pub async fn hold(
    client: &HttpClient,
    call: &Call,
    count: usize,
    ramp: Duration,
    hold: Duration,
    pid: u32,
) -> Held {
    let rss_before_kb = status_kb(pid, "VmRSS").unwrap_or(0);
    let frames = Arc::new(AtomicU64::new(0));
    let open = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    let sampler = tokio::spawn(async move {
        let mut peak = 0;
        loop {
            if let Some(kb) = status_kb(pid, "VmRSS") {
                peak = peak.max(kb);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            if start.elapsed() >= ramp + hold {
                return peak;
            }
        }
    });
    for i in 0..count {
        let due = start + ramp.mul_f64(i as f64 / count.max(1) as f64);
        tokio::time::sleep_until(due.into()).await;
        let (client, call) = (client.clone(), call.clone());
        let (frames, open, errors, first_error) = (
            frames.clone(),
            open.clone(),
            errors.clone(),
            first_error.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut counted = false;
            let outcome = client
                .stream(&call, |_, _| {
                    frames.fetch_add(1, Ordering::Relaxed);
                    if !counted {
                        counted = true;
                        open.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .await;
            if counted {
                open.fetch_sub(1, Ordering::Relaxed);
            }
            if let Err(e) = outcome {
                errors.fetch_add(1, Ordering::Relaxed);
                first_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(e);
            }
        }));
    }
    tokio::time::sleep_until((start + ramp + hold).into()).await;
    let open_at_peak = open.load(Ordering::Relaxed);
    let hwm_kb = status_kb(pid, "VmHWM").unwrap_or(0);
    let rss_peak_kb = sampler.await.unwrap_or(0).max(rss_before_kb);
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
    let first_error = first_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Held {
        target: count,
        open_at_peak,
        errors: errors.load(Ordering::Relaxed),
        first_error,
        rss_before_kb,
        rss_peak_kb,
        hwm_kb,
        frames: frames.load(Ordering::Relaxed),
    }
}
