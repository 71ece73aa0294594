//! Upstream keys: traffic spread over a provider's keys, a rate-limited key cooled and moved
//! off within the same request and back after its time, a rejected key taken out until a
//! rotation, rate-limit headers steering traffic away before any 429, conversations sticking
//! to their keys, every key cooling giving 503 with the earliest Retry-After. And the per-IP
//! limit for callers without a gateway key.

mod common;

use common::{Client, Env};
use lmrelay_mock::{spawn, Flavor, MockConfig, MockServer};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

const TOP: &str =
    "[admin]\ntoken = \"admin-token\"\n[health]\ninterval = \"0s\"\nfailure_threshold = 1000\n";

/// A provider `two` with keys `key-a` and `key-b`, and `rev` with a revoked key first, both
/// on their own OpenAI mock that knows `key-a` and `key-b`.
async fn start() -> (MockServer, Env) {
    let mock = spawn(
        Flavor::OpenAi,
        MockConfig {
            keys: vec!["key-a".into(), "key-b".into()],
            ..MockConfig::default()
        },
    )
    .await
    .expect("mock");
    let extra = format!(
        r#"
[[providers]]
name = "two"
type = "openai"
base_url = "{url}"
keys = ["key-a", "key-b"]
models = ["gpt-4o-mini"]

[[providers]]
name = "rev"
type = "openai"
base_url = "{url}"
keys = ["revoked", "key-a"]
models = ["gpt-4o-mini"]

[[routes]]
model = "two-keys"
targets = ["two/gpt-4o-mini"]

[[routes]]
model = "with-revoked"
targets = ["rev/gpt-4o-mini"]
"#,
        url = mock.base_url()
    );
    let env = Env::start_with_top(TOP, &extra).await;
    (mock, env)
}

/// A one-turn chat whose conversation starts with `prompt`.
async fn ask(env: &Env, model: &str, prompt: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let body = Client::OpenAi.chat(model, prompt, false, false);
    env.post(Client::OpenAi, "/v1/chat/completions", &body)
        .await
}

/// The key of the mock's last request.
fn last_key(mock: &MockServer) -> String {
    mock.last_request()
        .and_then(|r| {
            r.header("authorization")
                .map(|h| h.trim_start_matches("Bearer ").to_owned())
        })
        .unwrap_or_default()
}

/// How many model requests each key made since the log was cleared.
fn per_key(mock: &MockServer) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for r in mock.requests().iter().filter(|r| r.method == "POST") {
        let k = r
            .header("authorization")
            .unwrap_or("")
            .trim_start_matches("Bearer ")
            .to_owned();
        *out.entry(k).or_default() += 1;
    }
    out
}

async fn rotate(env: &Env, provider: &str) -> Value {
    let (status, body) = env
        .post_admin("/admin/keys/rotate", &json!({ "provider": provider }))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_spreads_and_a_rate_limited_key_cools_then_returns() {
    let (mock, env) = start().await;
    for i in 0..20 {
        let (status, _, _) = ask(&env, "two-keys", &format!("conversation {i}")).await;
        assert_eq!(status, 200);
    }
    let spread = per_key(&mock);
    println!("20 conversations over two keys: {spread:?}");
    assert!(spread.get("key-a").copied().unwrap_or(0) >= 3, "{spread:?}");
    assert!(spread.get("key-b").copied().unwrap_or(0) >= 3, "{spread:?}");

    // A 429 with retry-after: the same request moves to the other key.
    mock.clear_requests();
    mock.faults().fail_next(429, 1, Some(1));
    let (status, headers, _) = ask(&env, "two-keys", "conversation 0").await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-lmrelay-attempts"], "2");
    let log = mock.requests();
    let cooled = log[0].header("authorization").expect("key").to_owned();
    let other = log[1].header("authorization").expect("key").to_owned();
    assert_ne!(cooled, other);
    // While it cools, every conversation goes to the other key.
    mock.clear_requests();
    for i in 0..8 {
        assert_eq!(
            ask(&env, "two-keys", &format!("conversation {i}")).await.0,
            200
        );
    }
    assert!(
        mock.requests()
            .iter()
            .all(|r| r.header("authorization") == Some(other.as_str())),
        "the cooling key is skipped"
    );
    // The admin view shows it cooling, by id only.
    let providers = env.get_admin("/admin/providers").await;
    let keys = providers["providers"]
        .as_array()
        .expect("providers")
        .iter()
        .find(|p| p["name"] == "two")
        .expect("two")["keys"]
        .clone();
    assert!(
        keys.as_array()
            .expect("keys")
            .iter()
            .any(|k| k["state"] == "cooling" && k["until"].is_string()),
        "{keys}"
    );
    assert!(!keys.to_string().contains("key-a") && !keys.to_string().contains("key-b"));
    // After its retry-after the key serves again.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    mock.clear_requests();
    for i in 0..8 {
        assert_eq!(
            ask(&env, "two-keys", &format!("conversation {i}")).await.0,
            200
        );
    }
    assert!(
        mock.requests()
            .iter()
            .any(|r| r.header("authorization") == Some(cooled.as_str())),
        "the cooled key is back"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_key_is_taken_out_until_a_rotation() {
    let (mock, env) = start().await;
    for i in 0..6 {
        let (status, _, _) = ask(&env, "with-revoked", &format!("c{i}")).await;
        assert_eq!(status, 200);
    }
    let revoked = per_key(&mock).get("revoked").copied().unwrap_or(0);
    assert_eq!(revoked, 1, "tried once, then out of rotation");
    let body = rotate(&env, "rev").await;
    assert_eq!(body["keys"].as_array().map(Vec::len), Some(2));
    assert!(body["keys"][0]["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("key_")));
    assert!(
        !body.to_string().contains("revoked"),
        "keys only by id: {body}"
    );
    mock.clear_requests();
    for i in 0..6 {
        assert_eq!(ask(&env, "with-revoked", &format!("c{i}")).await.0, 200);
    }
    assert_eq!(
        per_key(&mock).get("revoked").copied(),
        Some(1),
        "back after the rotation, and out again"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_headers_steer_traffic_away_before_any_429() {
    let (mock, env) = start().await;
    mock.faults().set_key_request_limit("key-a", 3);
    mock.faults().set_key_request_limit("key-b", 1000);
    for i in 0..16 {
        let (status, headers, _) = ask(&env, "two-keys", &format!("steer {i}")).await;
        assert_eq!(status, 200);
        assert_eq!(
            headers["x-lmrelay-attempts"], "1",
            "request {i}: no 429 was ever met"
        );
    }
    let counts = per_key(&mock);
    println!("steering: {counts:?}");
    assert!(counts.get("key-a").copied().unwrap_or(0) <= 3, "{counts:?}");
    assert!(
        counts.get("key-b").copied().unwrap_or(0) >= 13,
        "{counts:?}"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_stick_to_their_keys() {
    let (mock, env) = start().await;
    // Two conversations that start on different keys.
    let mut starts: HashMap<String, String> = HashMap::new();
    for i in 0..40 {
        let prompt = format!("topic {i}");
        assert_eq!(ask(&env, "two-keys", &prompt).await.0, 200);
        starts.entry(last_key(&mock)).or_insert(prompt);
        if starts.len() == 2 {
            break;
        }
    }
    assert_eq!(starts.len(), 2, "two conversations on two keys");
    for (key, prompt) in &starts {
        // Later turns of the same conversation: same leading messages, more history.
        for turn in 0..5 {
            let body = json!({"model": "two-keys", "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": format!("answer {turn}")},
                {"role": "user", "content": format!("follow-up {turn}")}]});
            let (status, _, _) = env
                .post(Client::OpenAi, "/v1/chat/completions", &body)
                .await;
            assert_eq!(status, 200);
            assert_eq!(&last_key(&mock), key, "turn {turn} of `{prompt}`");
        }
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_cooling_gives_503_with_the_earliest_retry_after() {
    let (mock, env) = start().await;
    mock.faults().fail_next(429, 2, Some(7));
    let (status, headers, bytes) = ask(&env, "two-keys", "hello").await;
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(headers["retry-after"], "7");
    assert_eq!(headers["x-lmrelay-attempts"], "2");
    // Now nothing is sent at all until a key is back; the client hears when.
    mock.clear_requests();
    for client in common::CLIENTS {
        let body = client.chat("two-keys", "hello", false, false);
        let (status, headers, bytes) = env.post(client, client.path(), &body).await;
        assert_eq!(status, 503, "{}", String::from_utf8_lossy(&bytes));
        let wait: u64 = headers["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("secs");
        assert!((5..=7).contains(&wait), "{wait}");
        assert!(client.error_message(&bytes).contains("cooling"));
    }
    assert!(
        mock.requests().is_empty(),
        "no request while every key cools"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_without_a_key_are_limited_per_address_when_configured() {
    let top = "[limits]\nanonymous_rpm = 2\nanonymous_loopback = true\n";
    let env = Env::start_with_top(top, "").await;
    for _ in 0..2 {
        assert_eq!(ask(&env, "to-openai", "hi").await.0, 200);
    }
    let (status, headers, bytes) = ask(&env, "to-openai", "hi").await;
    assert_eq!(status, 429);
    assert!(headers.contains_key("retry-after"));
    assert!(Client::OpenAi.error_message(&bytes).contains("127.0.0.1"));
    env.stop().await;
    // Off on loopback by default.
    let env = Env::start_with_top("[limits]\nanonymous_rpm = 1\n", "").await;
    for _ in 0..3 {
        assert_eq!(ask(&env, "to-openai", "hi").await.0, 200);
    }
    env.stop().await;
}
