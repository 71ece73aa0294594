//! Soak: steady mixed traffic — three client protocols plus Responses, streamed and not,
//! tools, injected upstream failures, slow readers and clients that vanish mid-stream — for a
//! bounded time, with the process's resident memory, open descriptors and live tasks sampled
//! at the start and the end. Growth beyond the stated bounds fails the test.
//!
//! `LMRELAY_SOAK_SECS` sets the duration (default 45 s, what CI runs); `scripts/soak` runs it
//! longer in a release build.

mod common;

use common::{Client, Env};
use futures_util::StreamExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Memory the process may gain between the warm sample and the end.
const MAX_RSS_GROWTH_MB: i64 = 48;
/// Descriptors and tasks it may hold above the warm sample once traffic stops.
const MAX_FD_GROWTH: i64 = 16;
const MAX_TASK_GROWTH: i64 = 16;

fn rss_mb() -> i64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: i64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096 / (1024 * 1024)
}

fn fds() -> i64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as i64)
}

fn tasks() -> i64 {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks() as i64
}

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    errors: AtomicU64,
    vanished: AtomicU64,
}

/// One worker's request `i`: what it sends and how it reads depends on `i`.
async fn one(env: &Env, i: u64, counts: &Counts) {
    let clients = [Client::OpenAi, Client::Anthropic, Client::Ollama];
    // The OpenAI upstream fails now and then; only routes with another candidate reach it.
    let routes = ["failover", "to-anthropic", "to-ollama", "failover"];
    let client = clients[(i % 3) as usize];
    let route = routes[((i / 3) % 4) as usize];
    let stream = i.is_multiple_of(2);
    let tools = i.is_multiple_of(7);
    let (path, body) = if i.is_multiple_of(11) {
        let body =
            serde_json::json!({"model": route, "input": format!("soak {i}"), "stream": stream});
        ("/v1/responses", body)
    } else {
        (
            client.path(),
            client.chat(route, &format!("soak request {i}"), stream, tools),
        )
    };
    let mut req = env
        .http
        .post(format!("{}{path}", env.url))
        .header("content-type", "application/json")
        .body(body.to_string());
    if client == Client::Anthropic && path == "/v1/messages" {
        req = req.header("anthropic-version", "2023-06-01");
    }
    let Ok(resp) = req.send().await else {
        counts.errors.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let ok = resp.status().is_success();
    let mut body = resp.bytes_stream();
    match i % 13 {
        // Vanishes after the first chunk.
        0 => {
            let _ = body.next().await;
            counts.vanished.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // Reads slowly.
        1 => {
            while let Some(Ok(_)) = body.next().await {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        _ => while let Some(Ok(_)) = body.next().await {},
    }
    if ok {
        counts.ok.fetch_add(1, Ordering::Relaxed);
    } else {
        counts.errors.fetch_add(1, Ordering::Relaxed);
    }
}

fn forget_requests(env: &Env) {
    env.openai.clear_requests();
    env.anthropic.clear_requests();
    env.ollama.clear_requests();
}

/// Twelve workers sending mixed requests for `length`.
async fn traffic(env: &Arc<Env>, counts: &Arc<Counts>, length: Duration) {
    let until = Instant::now() + length;
    let mut workers = Vec::new();
    for w in 0..12u64 {
        let (env, counts) = (env.clone(), counts.clone());
        workers.push(tokio::spawn(async move {
            let mut i = w;
            while Instant::now() < until {
                // Every so often the OpenAI upstream fails a request (failover serves it).
                if i.is_multiple_of(29) {
                    env.openai.faults().fail_next(503, 1, Some(0));
                }
                // The in-process mocks record every request; that is theirs, not the
                // gateway's memory.
                if i.is_multiple_of(600) {
                    forget_requests(&env);
                }
                one(&env, i, &counts).await;
                i += 12;
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_mixed_traffic_leaks_nothing() {
    let secs: u64 = std::env::var("LMRELAY_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(45);
    let extra = "[[routes]]\nmodel = \"failover\"\ntargets = [\"oa/gpt-4o-mini\", \"an/claude-3-5-haiku-latest\"]\n";
    let env = Arc::new(
        Env::start_with_top(
            "[health]\ninterval = \"0s\"\nfailure_threshold = 1000\n",
            extra,
        )
        .await,
    );
    let counts = Arc::new(Counts::default());
    // Warm up at full concurrency (connection pools on both sides, lazily built state),
    // then take the start sample once the traffic has stopped.
    traffic(&env, &counts, Duration::from_secs(3)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    forget_requests(&env);
    let (rss0, fds0, tasks0) = (rss_mb(), fds(), tasks());
    println!("soak start: rss {rss0} MiB, fds {fds0}, tasks {tasks0}, {secs} s of traffic");
    let counts = Arc::new(Counts::default());
    traffic(&env, &counts, Duration::from_secs(secs)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    forget_requests(&env);
    let (rss1, fds1, tasks1) = (rss_mb(), fds(), tasks());
    let (ok, errors, vanished) = (
        counts.ok.load(Ordering::Relaxed),
        counts.errors.load(Ordering::Relaxed),
        counts.vanished.load(Ordering::Relaxed),
    );
    println!(
        "soak end: rss {rss1} MiB ({:+}), fds {fds1} ({:+}), tasks {tasks1} ({:+}); \
         {ok} answered, {errors} errors, {vanished} vanished clients",
        rss1 - rss0,
        fds1 - fds0,
        tasks1 - tasks0
    );
    assert!(ok > 100, "the traffic flowed");
    assert_eq!(errors, 0, "failover and limits kept every answer");
    assert!(
        rss1 - rss0 <= MAX_RSS_GROWTH_MB,
        "memory grew {} MiB",
        rss1 - rss0
    );
    assert!(
        fds1 - fds0 <= MAX_FD_GROWTH,
        "descriptors grew {}",
        fds1 - fds0
    );
    assert!(
        tasks1 - tasks0 <= MAX_TASK_GROWTH,
        "tasks grew {}",
        tasks1 - tasks0
    );
    match Arc::try_unwrap(env) {
        Ok(env) => env.stop().await,
        Err(_) => panic!("workers still hold the environment"),
    }
}
