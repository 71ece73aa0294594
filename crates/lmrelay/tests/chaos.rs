//! Chaos: three providers failing at random for short windows (one at a time, so at every
//! moment at least two are healthy), a few thousand requests across the three client
//! protocols, streamed and not. No client may see an error, and every stream must be whole.

mod common;

use common::{Env, CLIENTS};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const REQUESTS: usize = 3000;
const CONCURRENCY: usize = 12;

const EXTRA: &str = r#"
[[routes]]
model = "chaos"
targets = ["oa/gpt-4o-mini", "an/claude-3-5-haiku-latest", "ol/llama3.2"]
"#;

/// One fault for a window: an error status, a stream that errs or breaks before content.
fn inject(faults: &lmrelay_mock::Faults, which: u32) {
    match which % 5 {
        0 => faults.fail_next(500, 1_000_000, None),
        1 => faults.fail_next(503, 1_000_000, Some(1)),
        2 => faults.fail_next(529, 1_000_000, None),
        3 => faults.set_stream_error_after(Some(0)),
        _ => faults.set_drop_after_events(Some(0)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_provider_failures_are_invisible_to_clients() {
    let top = "[health]\ninterval = \"0s\"\nfailure_threshold = 3\ncooldown = \"100ms\"\nmax_cooldown = \"400ms\"\n";
    let env = Arc::new(Env::start_with_top(top, EXTRA).await);
    let stop = Arc::new(AtomicBool::new(false));
    // The chaos monkey: bounded windows of 20–80 ms, one provider at a time.
    let monkey = {
        let (env, stop) = (env.clone(), stop.clone());
        tokio::spawn(async move {
            let mut windows = 0u32;
            let mut rng = fastrand::Rng::with_seed(7);
            while !stop.load(Ordering::Relaxed) && windows < 10_000 {
                let victim = match rng.u32(0..3) {
                    0 => &env.openai,
                    1 => &env.anthropic,
                    _ => &env.ollama,
                };
                inject(victim.faults(), rng.u32(..));
                tokio::time::sleep(Duration::from_millis(rng.u64(20..80))).await;
                victim.faults().reset();
                tokio::time::sleep(Duration::from_millis(rng.u64(0..20))).await;
                windows += 1;
            }
            windows
        })
    };
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (env, next) = (env.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut served: HashMap<String, u32> = HashMap::new();
            let mut failovers = 0u32;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= REQUESTS {
                    break;
                }
                let client = CLIENTS[i % 3];
                let stream = (i / 3) % 2 == 0;
                let body = client.chat("chaos", "hi there", stream, false);
                let (status, headers, bytes) = env.post(client, client.path(), &body).await;
                assert_eq!(
                    status,
                    200,
                    "request {i} ({client:?}, stream={stream}): {}",
                    String::from_utf8_lossy(&bytes)
                );
                let answer = if stream {
                    client.stream(&bytes)
                } else {
                    client.answer(&bytes)
                };
                assert_eq!(
                    answer.text, "echo: hi there",
                    "request {i} ({client:?}, stream={stream}) is whole"
                );
                assert!(
                    !answer.finish.is_empty(),
                    "request {i}: the stream ended properly"
                );
                let provider = headers["x-lmrelay-provider"]
                    .to_str()
                    .expect("ascii")
                    .to_owned();
                *served.entry(provider).or_default() += 1;
                let attempts: u32 = headers["x-lmrelay-attempts"]
                    .to_str()
                    .ok()
                    .and_then(|a| a.parse().ok())
                    .expect("attempts");
                failovers += attempts - 1;
            }
            (served, failovers)
        }));
    }
    let mut served: HashMap<String, u32> = HashMap::new();
    let mut failovers = 0;
    for w in workers {
        let (s, f) = w.await.expect("worker");
        for (k, v) in s {
            *served.entry(k).or_default() += v;
        }
        failovers += f;
    }
    stop.store(true, Ordering::Relaxed);
    let windows = monkey.await.expect("monkey");
    let trips: u64 = ["oa", "an", "ol"]
        .iter()
        .map(|p| env.health.provider(p).breaker.trips_total())
        .sum();
    println!(
        "chaos: {REQUESTS} requests in {:?}, served {served:?}, failovers {failovers}, breaker trips {trips}, fault windows {windows}",
        started.elapsed()
    );
    assert_eq!(served.values().sum::<u32>() as usize, REQUESTS);
    assert!(failovers > 0, "the faults were felt");
    if let Ok(env) = Arc::try_unwrap(env) {
        env.stop().await;
    }
}
