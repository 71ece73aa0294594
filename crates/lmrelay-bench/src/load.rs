//! Load shapes: an open loop at a constant arrival rate (latency), and a closed loop of many
//! connections (maximum throughput).
//!
//! The open loop's pacer is a thread of its own that sleeps to each request's due time (1 ns
//! timer slack; tokio's timer has a 1 ms grain) and hands the request to the runtime. Requests
//! leave on schedule whatever the answers do, and latency is counted from the due time, so a
//! proxy that queues shows it (no coordinated omission).

use crate::hist::{Hist, Summary};
use crate::http::{Call, HttpClient};
use crate::procs::cpu_time_of;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// Phases of a run: requests due during `warmup` are sent but not measured.
#[derive(Debug, Clone, Copy)]
pub struct Phases {
    pub warmup: Duration,
    pub measure: Duration,
}

/// The result of an open-loop run.
#[derive(Debug, Clone, Default)]
pub struct OpenLoop {
    pub rate: f64,
    /// Due time to last body byte, of measured requests answered 200.
    pub latency: Summary,
    /// How late the measured requests left (due time to the start of sending).
    pub lag: Summary,
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// CPU the watched processes (the proxy) used over the measured requests, per request
    /// answered, in µs; `None` without processes to watch.
    pub cpu_us_per_req: Option<f64>,
    latency_hist: Hist,
    lag_hist: Hist,
    cpu: Option<Duration>,
}

impl OpenLoop {
    /// Adds another run of the same path (another round).
    pub fn merge(&mut self, other: OpenLoop) {
        self.latency_hist.merge(&other.latency_hist);
        self.lag_hist.merge(&other.lag_hist);
        self.latency = self.latency_hist.summary();
        self.lag = self.lag_hist.summary();
        self.rate = other.rate;
        self.sent += other.sent;
        self.ok += other.ok;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.cpu = match (self.cpu, other.cpu) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.cpu_us_per_req = self
            .cpu
            .filter(|_| self.ok > 0)
            .map(|c| c.as_secs_f64() * 1e6 / self.ok as f64);
    }
}

/// Results that several rounds of one path add up to.
pub trait Mergeable {
    fn merge_with(&mut self, other: Self);
}

/// Adds `run` to the rounds merged so far (`None` + run = run).
pub fn merge_into<T: Mergeable>(acc: &mut Option<T>, run: T) {
    match acc {
        Some(a) => a.merge_with(run),
        None => *acc = Some(run),
    }
}

impl Mergeable for OpenLoop {
    fn merge_with(&mut self, other: Self) {
        self.merge(other);
    }
}

impl Mergeable for Throughput {
    fn merge_with(&mut self, other: Self) {
        self.merge(other);
    }
}

#[derive(Default)]
struct Tally {
    latency: Hist,
    lag: Hist,
    ok: u64,
    errors: u64,
    first_error: Option<String>,
}

/// Sends `call` at `rate` per second for `phases`, measuring the requests due in the
/// measured phase, and the CPU that `watch` (pids) used meanwhile.
pub async fn open_loop(
    client: &HttpClient,
    call: &Call,
    rate: f64,
    phases: Phases,
    watch: &[u32],
) -> OpenLoop {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let handle = Handle::current();
    let pacer = {
        let (client, call, tally, watch) = (
            client.clone(),
            Arc::new(call.clone()),
            tally.clone(),
            watch.to_vec(),
        );
        tokio::task::spawn_blocking(move || {
            pace(&handle, &client, &call, rate, phases, &tally, &watch)
        })
    };
    let (handles, sent, cpu0) = pacer.await.unwrap_or_default();
    // Let every measured request finish (bounded: a stuck one counts as an error).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stuck = 0;
    for h in handles {
        let left = deadline.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, h).await.is_err() {
            stuck += 1;
        }
    }
    let cpu1 = cpu_time_of(watch);
    let t = tally.lock().unwrap_or_else(|e| e.into_inner());
    let cpu = match (cpu0, cpu1) {
        (Some(a), Some(b)) if !watch.is_empty() => Some(b.saturating_sub(a)),
        _ => None,
    };
    let mut out = OpenLoop {
        rate,
        sent,
        errors: stuck,
        first_error: (stuck > 0).then(|| format!("{stuck} requests unanswered after 30 s")),
        ..OpenLoop::default()
    };
    out.merge(OpenLoop {
        rate,
        ok: t.ok,
        errors: t.errors,
        first_error: t.first_error.clone(),
        latency_hist: t.latency.clone(),
        lag_hist: t.lag.clone(),
        cpu,
        ..OpenLoop::default()
    });
    out
}

type Paced = (Vec<tokio::task::JoinHandle<()>>, u64, Option<Duration>);

/// The pacer thread: releases request `i` at `start + i / rate`.
fn pace(
    handle: &Handle,
    client: &HttpClient,
    call: &Arc<Call>,
    rate: f64,
    phases: Phases,
    tally: &Arc<Mutex<Tally>>,
    watch: &[u32],
) -> Paced {
    crate::procs::tighten_timer_slack();
    let start = Instant::now() + Duration::from_millis(5);
    let measure_from = start + phases.warmup;
    let end = measure_from + phases.measure;
    let mut handles = Vec::new();
    let mut cpu0 = None;
    let mut measuring = false;
    let mut sent = 0;
    for i in 0u64.. {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        if due >= end {
            break;
        }
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if !measuring && due >= measure_from {
            measuring = true;
            cpu0 = cpu_time_of(watch);
        }
        let measured = measuring;
        let (client, call, tally) = (client.clone(), call.clone(), tally.clone());
        let task = handle.spawn(async move {
            let began = Instant::now();
            let outcome = match client.send(&call).await {
                Ok(r) if r.status == 200 => Ok(()),
                Ok(r) => Err(format!(
                    "status {}: {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                )),
                Err(e) => Err(e),
            };
            let done = Instant::now();
            if measured {
                let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
                t.lag.record(began.saturating_duration_since(due));
                match outcome {
                    Ok(()) => {
                        t.ok += 1;
                        t.latency.record(done.saturating_duration_since(due));
                    }
                    Err(e) => {
                        t.errors += 1;
                        t.first_error.get_or_insert(e);
                    }
                }
            }
        });
        if measured {
            sent += 1;
            handles.push(task);
        }
    }
    (handles, sent, cpu0)
}

/// The result of a closed-loop throughput run (or of several, merged).
#[derive(Debug, Clone, Default)]
pub struct Throughput {
    pub connections: usize,
    /// Requests answered 200 per second of the measured phase.
    pub rate: f64,
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Share of one core the proxy's processes used (0..=1 per core); `None` without any.
    pub proxy_busy: Option<f64>,
    /// Share of one core the load side (the mock and this generator) used.
    pub load_busy: Option<f64>,
    pub latency: Summary,
    latency_hist: Hist,
    /// Measured seconds, and the CPU seconds of each side over them.
    seconds: f64,
    proxy_cpu: Option<f64>,
    load_cpu: Option<f64>,
}

impl Throughput {
    /// Adds another run of the same path (another round).
    pub fn merge(&mut self, other: Throughput) {
        let add = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.connections = other.connections;
        self.ok += other.ok;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.latency_hist.merge(&other.latency_hist);
        self.latency = self.latency_hist.summary();
        self.seconds += other.seconds;
        self.proxy_cpu = add(self.proxy_cpu, other.proxy_cpu);
        self.load_cpu = add(self.load_cpu, other.load_cpu);
        let secs = self.seconds.max(1e-9);
        self.rate = self.ok as f64 / secs;
        self.proxy_busy = self.proxy_cpu.map(|c| c / secs);
        self.load_busy = self.load_cpu.map(|c| c / secs);
    }
}

/// `connections` loops each sending `call` as soon as the previous answer is in, for
/// `phases`; counts the answers of the measured phase.
pub async fn closed_loop(
    client: &HttpClient,
    call: &Call,
    connections: usize,
    phases: Phases,
    proxy: &[u32],
    load: &[u32],
) -> Throughput {
    let start = Instant::now();
    let measure_from = start + phases.warmup;
    let end = measure_from + phases.measure;
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let latency = Arc::new(Mutex::new(Hist::new()));
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (client, call) = (client.clone(), call.clone());
        let (ok, errors, first_error, latency) = (
            ok.clone(),
            errors.clone(),
            first_error.clone(),
            latency.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut local = Hist::new();
            while Instant::now() < end {
                let sent = Instant::now();
                let outcome = client.send(&call).await;
                let done = Instant::now();
                if sent < measure_from || done > end {
                    continue;
                }
                match outcome {
                    Ok(r) if r.status == 200 => {
                        ok.fetch_add(1, Ordering::Relaxed);
                        local.record(done - sent);
                    }
                    other => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        let e = match other {
                            Ok(r) => format!("status {}", r.status),
                            Err(e) => e,
                        };
                        first_error
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                        // Do not spin on a refusing server.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }
            latency
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .merge(&local);
        }));
    }
    tokio::time::sleep_until(measure_from.into()).await;
    let t0 = Instant::now();
    let (p0, l0) = (cpu_time_of(proxy), cpu_time_of(load));
    tokio::time::sleep_until(end.into()).await;
    let wall = t0.elapsed().as_secs_f64();
    let (p1, l1) = (cpu_time_of(proxy), cpu_time_of(load));
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
    }
    let used = |a: Option<Duration>, b: Option<Duration>, pids: &[u32]| match (a, b) {
        (Some(a), Some(b)) if !pids.is_empty() => Some(b.saturating_sub(a).as_secs_f64()),
        _ => None,
    };
    let latency_hist = latency.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let first_error = first_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let mut out = Throughput::default();
    out.merge(Throughput {
        connections,
        ok: ok.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        first_error,
        latency_hist,
        seconds: wall,
        proxy_cpu: used(p0, p1, proxy),
        load_cpu: used(l0, l1, load),
        ..Throughput::default()
    });
    out
}
