//! The response cache: a second identical request is served without an upstream call, to a
//! client of any protocol, streamed or not; `Cache-Control: no-cache` skips it; entries
//! expire after the TTL; routes without `cache = true` never cache.

mod common;

use common::{Client, Env, CLIENTS};
use serde_json::{json, Value};
use std::time::Duration;

const TOP: &str = "[cache]\nttl = \"500ms\"\n";
const EXTRA: &str = r#"
[[routes]]
model = "cached"
targets = ["oa/gpt-4o-mini"]
cache = true
"#;

async fn post(
    env: &Env,
    client: Client,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = env
        .http
        .post(format!("{}{}", env.url, client.path()))
        .header("content-type", "application/json")
        .body(body.to_string());
    if client == Client::Anthropic {
        req = req.header("anthropic-version", "2023-06-01");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("answer");
    let status = resp.status().as_u16();
    let h = resp.headers().clone();
    (status, h, resp.bytes().await.expect("body").to_vec())
}

/// The same question in each protocol, with the same length limit, so the canonical
/// requests are equal.
fn question(client: Client, text: &str, stream: bool) -> Value {
    let mut body = client.chat("cached", text, stream, false);
    match client {
        Client::OpenAi => body["max_tokens"] = json!(256),
        Client::Anthropic => {}
        Client::Ollama => body["options"] = json!({"num_predict": 256}),
    }
    body
}

fn text(client: Client, stream: bool, bytes: &[u8]) -> String {
    if stream {
        client.stream(bytes).text
    } else {
        client.answer(bytes).text
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_answer_serves_every_protocol_streamed_or_not() {
    let env = Env::start_with_top(TOP, EXTRA).await;
    let (status, headers, bytes) = post(
        &env,
        Client::Anthropic,
        &question(Client::Anthropic, "cache me", false),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(headers["x-lmrelay-cache"], "miss");
    assert_eq!(env.openai.requests().len(), 1);
    // Let the entry be written (in the background, right after the answer).
    tokio::time::sleep(Duration::from_millis(50)).await;
    for client in CLIENTS {
        for stream in [false, true] {
            let (status, headers, bytes) =
                post(&env, client, &question(client, "cache me", stream), &[]).await;
            let ctx = format!(
                "{client:?} stream={stream}: {}",
                String::from_utf8_lossy(&bytes)
            );
            assert_eq!(status, 200, "{ctx}");
            assert_eq!(headers["x-lmrelay-cache"], "hit", "{ctx}");
            assert_eq!(headers["x-lmrelay-provider"], "oa");
            assert_eq!(headers["x-lmrelay-attempts"], "0");
            assert_eq!(text(client, stream, &bytes), "echo: cache me", "{ctx}");
        }
    }
    assert_eq!(
        env.openai.requests().len(),
        1,
        "every hit came from the cache"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_answers_are_cached_no_cache_skips_and_entries_expire() {
    let env = Env::start_with_top(TOP, EXTRA).await;
    let q = |stream| question(Client::OpenAi, "stream me", stream);
    let (_, headers, _) = post(&env, Client::OpenAi, &q(true), &[]).await;
    assert_eq!(headers["x-lmrelay-cache"], "miss");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (_, headers, bytes) = post(&env, Client::OpenAi, &q(false), &[]).await;
    assert_eq!(
        headers["x-lmrelay-cache"], "hit",
        "a streamed answer was kept"
    );
    assert_eq!(text(Client::OpenAi, false, &bytes), "echo: stream me");
    // no-cache: asked upstream again.
    let before = env.openai.requests().len();
    let (_, headers, _) = post(
        &env,
        Client::OpenAi,
        &q(false),
        &[("cache-control", "no-cache")],
    )
    .await;
    assert_eq!(headers["x-lmrelay-cache"], "miss");
    assert_eq!(env.openai.requests().len(), before + 1);
    // After the TTL the entry is gone.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (_, headers, _) = post(&env, Client::OpenAi, &q(false), &[]).await;
    assert_eq!(headers["x-lmrelay-cache"], "miss");
    // A different question misses; a route without `cache` never caches.
    let (_, headers, _) = post(
        &env,
        Client::OpenAi,
        &question(Client::OpenAi, "other", false),
        &[],
    )
    .await;
    assert_eq!(headers["x-lmrelay-cache"], "miss");
    let plain = Client::OpenAi.chat("to-openai", "x", false, false);
    for _ in 0..2 {
        let (_, headers, _) = post(&env, Client::OpenAi, &plain, &[]).await;
        assert!(!headers.contains_key("x-lmrelay-cache"));
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_answers_are_not_cached() {
    let env = Env::start_with_top(TOP, EXTRA).await;
    env.openai.faults().set_stream_error_after(Some(3));
    let q = |stream| question(Client::OpenAi, "one two three four five six", stream);
    let (status, _, _) = post(&env, Client::OpenAi, &q(true), &[]).await;
    assert_eq!(status, 200, "the error came inside the stream");
    env.openai.faults().reset();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (_, headers, _) = post(&env, Client::OpenAi, &q(false), &[]).await;
    assert_eq!(
        headers["x-lmrelay-cache"], "miss",
        "a broken stream is not kept"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_are_scoped_per_key_unless_the_route_shares_them() {
    let extra = r#"
[[routes]]
model = "cached"
targets = ["oa/gpt-4o-mini"]
cache = true

[[routes]]
model = "shared"
targets = ["oa/gpt-4o-mini"]
cache = true
cache_shared = true

[[keys]]
name = "team-a"
key = "key-a"
models = ["*"]

[[keys]]
name = "team-b"
key = "key-b"
models = ["*"]
"#;
    let env = Env::start_with_top(TOP, extra).await;
    let ask = |model: &'static str, key: &'static str| {
        let body = Client::OpenAi.chat(model, "same question", false, false);
        env.http
            .post(format!("{}/v1/chat/completions", env.url))
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let cache = |r: reqwest::Response| {
        r.headers()["x-lmrelay-cache"]
            .to_str()
            .expect("ascii")
            .to_owned()
    };
    assert_eq!(cache(ask("cached", "key-a").await.expect("a")), "miss");
    assert_eq!(cache(ask("shared", "key-a").await.expect("a")), "miss");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(cache(ask("cached", "key-a").await.expect("a")), "hit");
    assert_eq!(
        cache(ask("cached", "key-b").await.expect("b")),
        "miss",
        "another team's entry"
    );
    assert_eq!(
        cache(ask("shared", "key-b").await.expect("b")),
        "hit",
        "a shared route"
    );
    env.stop().await;
}
