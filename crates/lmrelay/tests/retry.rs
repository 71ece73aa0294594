//! Retries under a storm: a provider failing every request is asked again by the same
//! request only within its retry budget (`[retry] budget`), after a jittered backoff; failing
//! over to another provider is never held back by it.

mod common;

use common::{Client, Env};
use std::time::{Duration, Instant};

/// Three targets on the same provider (the OpenAI mock, as `oa`), and a route that fails
/// over to another provider (the Anthropic mock, `an`).
const ROUTES: &str = r#"
[[routes]]
model = "same-provider"
targets = ["oa/gpt-4o-mini", "oa/gpt-4o", "oa/gpt-4.1-mini"]

[[routes]]
model = "other-provider"
targets = ["oa/gpt-4o-mini", "an/claude-3-5-haiku-latest"]
"#;

/// Breakers kept closed (they would bound the storm themselves: tested in health.rs).
fn top(retry: &str) -> String {
    format!("[health]\ninterval = \"0s\"\nfailure_threshold = 100000\n[retry]\n{retry}\n")
}

async fn metric(env: &Env, name: &str) -> f64 {
    let (_, body) = env.get("/metrics", &[]).await;
    String::from_utf8_lossy(&body)
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_5xx_is_retried_only_within_the_budget() {
    let env = Env::start_with_top(
        &top("budget = 0.1\nmin_per_second = 0\nbackoff = \"1ms\"\nmax_backoff = \"2ms\""),
        ROUTES,
    )
    .await;
    env.openai.faults().fail_next(500, u32::MAX, None);
    let body = Client::OpenAi.chat("same-provider", "storm", false, false);
    let requests = 100;
    for _ in 0..requests {
        let (status, _, bytes) = env
            .post(Client::OpenAi, "/v1/chat/completions", &body)
            .await;
        assert_eq!(status, 503, "{}", String::from_utf8_lossy(&bytes));
    }
    // Without a budget each request would have asked three times (300). With one retry per
    // ten requests: the 100 first attempts and at most 10 retries.
    let sent = env.openai.requests().len();
    assert!(
        (requests..=requests + 10).contains(&sent),
        "{sent} upstream requests for {requests} client requests"
    );
    let refused = metric(&env, "lmrelay_retries_refused_total{provider=\"oa\"}").await;
    assert_eq!(refused as usize, 2 * requests - (sent - requests), "metric");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_floor_allows_retries_each_second_and_they_back_off_with_jitter() {
    let env = Env::start_with_top(
        &top("budget = 0.0\nmin_per_second = 100\nbackoff = \"200ms\"\nmax_backoff = \"1s\""),
        ROUTES,
    )
    .await;
    env.openai.faults().fail_next(500, u32::MAX, None);
    let body = Client::OpenAi.chat("same-provider", "backoff", false, false);
    let started = Instant::now();
    let (status, headers, _) = env
        .post(Client::OpenAi, "/v1/chat/completions", &body)
        .await;
    let took = started.elapsed();
    assert_eq!(status, 503);
    assert_eq!(headers["x-lmrelay-attempts"], "3");
    assert_eq!(env.openai.requests().len(), 3);
    // Waits of [100, 200) ms then [200, 400) ms: equal jitter keeps half of each.
    assert!(took >= Duration::from_millis(300), "{took:?}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_over_to_another_provider_is_not_a_retry() {
    // No budget and no floor: retries at `oa` are never sent, failover to `an` always is.
    let env = Env::start_with_top(&top("budget = 0.0\nmin_per_second = 0"), ROUTES).await;
    env.openai.faults().fail_next(503, u32::MAX, None);
    let body = Client::OpenAi.chat("other-provider", "failover", false, false);
    for _ in 0..20 {
        let (status, headers, bytes) = env
            .post(Client::OpenAi, "/v1/chat/completions", &body)
            .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
        assert_eq!(headers["x-lmrelay-provider"], "an");
    }
    assert_eq!(env.openai.requests().len(), 20);
    assert_eq!(env.anthropic.requests().len(), 20);
    env.stop().await;
}
