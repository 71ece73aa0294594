//! Open-loop load at a fixed rate: requests leave on a schedule, each in its own task, so a
//! slow answer never delays the next send (no coordinated omission from the generator).

use crate::cpu::process_cpu;
use crate::http::{Call, HttpClient};
use crate::stats::Summary;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one run measured.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Per-request latency, send to last body byte, of the requests that got a 200.
    pub latency: Summary,
    /// Non-200 answers and transport failures.
    pub errors: usize,
    /// The first error, for the report.
    pub first_error: Option<String>,
    /// How late, at the 99th percentile, requests left relative to their schedule (µs).
    pub lag_p99: f64,
    /// Requests per second actually sent.
    pub achieved_rate: f64,
    /// Process CPU per request during the run (client, mock and, when used, gateway), in µs;
    /// `None` if `/proc/self/stat` is unreadable.
    pub cpu_per_request: Option<f64>,
}

/// Sends `count` copies of `call` at `rate` per second and records each one's latency.
pub async fn open_loop(client: &HttpClient, call: &Call, count: usize, rate: f64) -> RunResult {
    let call = Arc::new(call.clone());
    let mut tasks = Vec::with_capacity(count);
    let start = Instant::now();
    for i in 0..count {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let client = client.clone();
        let call = Arc::clone(&call);
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let outcome = match client.send(&call).await {
                Ok(r) if r.status == 200 => Ok(()),
                Ok(r) => Err(format!(
                    "status {}: {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                )),
                Err(e) => Err(e),
            };
            (sent.saturating_duration_since(due), sent.elapsed(), outcome)
        }));
    }
    let sent_for = start.elapsed();
    let mut latencies = Vec::with_capacity(count);
    let mut lags = Vec::with_capacity(count);
    let mut errors = 0;
    let mut first_error = None;
    for task in tasks {
        match task.await {
            Ok((lag, latency, Ok(()))) => {
                lags.push(lag);
                latencies.push(latency);
            }
            Ok((lag, _, Err(e))) => {
                lags.push(lag);
                errors += 1;
                first_error.get_or_insert(e);
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(format!("task failed: {e}"));
            }
        }
    }
    RunResult {
        latency: Summary::of(&latencies),
        errors,
        first_error,
        lag_p99: Summary::of(&lags).p99,
        achieved_rate: count.saturating_sub(1) as f64 / sent_for.as_secs_f64().max(1e-9),
        cpu_per_request: None,
    }
}

/// A warm-up run (discarded) followed by the measured run, with its process CPU.
pub async fn measure(
    client: &HttpClient,
    call: &Call,
    warmup: usize,
    count: usize,
    rate: f64,
) -> RunResult {
    if warmup > 0 {
        open_loop(client, call, warmup, rate).await;
    }
    let cpu0 = process_cpu();
    let mut result = open_loop(client, call, count, rate).await;
    if let (Some(before), Some(after)) = (cpu0, process_cpu()) {
        let used = after.saturating_sub(before).as_secs_f64() * 1e6;
        result.cpu_per_request = Some(used / count.max(1) as f64);
    }
    result
}
