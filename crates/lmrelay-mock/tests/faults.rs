//! Fault knobs: fail_next, latency, stall, drop_after_events,
//! stream_error_after, event pacing, the `/mock/*` control endpoint and the binary.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::BufRead;
use std::time::{Duration, Instant};

use common::{client, get, json, parse_ndjson, parse_sse, post, read_chunks};
use lmrelay_mock::{spawn, Flavor, MockConfig, MockServer};
use serde_json::{json, Value};

const AUTH: (&str, &str) = ("authorization", "Bearer sk-test");
const KEY: (&str, &str) = ("x-api-key", "sk-ant");
const VERSION: (&str, &str) = ("anthropic-version", "2023-06-01");

async fn openai() -> MockServer {
    spawn(Flavor::OpenAi, MockConfig::default()).await.unwrap()
}

fn chat(stream: bool) -> Value {
    json!({"model": "gpt-4o-mini", "stream": stream, "messages": [{"role": "user", "content": "one two three four"}]})
}

fn messages(stream: bool) -> Value {
    json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "stream": stream,
           "messages": [{"role": "user", "content": "one two three four"}]})
}

#[tokio::test]
async fn fail_next_counts_down_then_clears() {
    let s = openai().await;
    let url = format!("{}/chat/completions", s.base_url());
    s.faults().fail_next(429, 2, Some(3));
    for remaining in [1, 0] {
        let (st, h, t) = post(&url, &[AUTH], &chat(false)).await;
        assert_eq!(st, 429);
        assert_eq!(h["retry-after"], "3");
        assert_eq!(h["x-ratelimit-remaining-requests"], "0");
        assert_eq!(h["x-ratelimit-reset-requests"], "3s");
        let v = json(&t);
        assert_eq!(v["error"]["code"], "rate_limit_exceeded");
        assert_eq!(
            s.faults().get().fail_next.map(|f| f.count).unwrap_or(0),
            remaining
        );
    }
    assert!(s.faults().get().fail_next.is_none());
    assert_eq!(post(&url, &[AUTH], &chat(false)).await.0, 200);

    s.faults()
        .fail_next_typed(429, 1, None, "insufficient_quota");
    let (st, h, t) = post(&url, &[AUTH], &chat(false)).await;
    assert_eq!(st, 429);
    assert!(!h.contains_key("retry-after"));
    assert_eq!(json(&t)["error"]["type"], "insufficient_quota");
    s.faults().fail_next(500, 1, None);
    let (st, _, t) = post(&url, &[AUTH], &chat(false)).await;
    assert_eq!(
        (st, json(&t)["error"]["type"].clone()),
        (500, json!("server_error"))
    );
    s.faults().fail_next(503, 1, Some(2));
    let (st, h, _) = post(&url, &[AUTH], &chat(false)).await;
    assert_eq!((st, h["retry-after"].to_str().unwrap()), (503, "2"));
}

#[tokio::test]
async fn fail_next_anthropic_and_ollama_bodies() {
    let a = spawn(Flavor::Anthropic, MockConfig::default())
        .await
        .unwrap();
    let url = format!("{}/v1/messages", a.base_url());
    for (status, kind) in [
        (529, "overloaded_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
    ] {
        a.faults().fail_next(status, 1, Some(1));
        let (st, h, t) = post(&url, &[KEY, VERSION], &messages(false)).await;
        assert_eq!(st, status);
        assert_eq!(h["retry-after"], "1");
        let v = json(&t);
        assert_eq!(
            (v["type"].clone(), v["error"]["type"].clone()),
            (json!("error"), json!(kind))
        );
        assert_eq!(
            v["request_id"].as_str().unwrap(),
            h["request-id"].to_str().unwrap()
        );
    }
    let o = spawn(Flavor::Ollama, MockConfig::default()).await.unwrap();
    o.faults().fail_next(503, 1, None);
    let (st, _, t) = post(
        &format!("{}/api/chat", o.base_url()),
        &[],
        &json!({"model": "llama3.2", "messages": []}),
    )
    .await;
    assert_eq!(st, 503);
    assert!(json(&t)["error"].is_string());
}

#[tokio::test]
async fn drop_after_events_cuts_the_stream() {
    let s = openai().await;
    s.faults().set_drop_after_events(Some(2));
    let resp = client()
        .post(format!("{}/chat/completions", s.base_url()))
        .header(AUTH.0, AUTH.1)
        .body(chat(true).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (chunks, failed) = read_chunks(resp).await;
    assert!(failed, "the body must end in an error, not a clean EOF");
    let text = String::from_utf8(chunks.concat()).unwrap();
    assert_eq!(parse_sse(&text).len(), 2);
    assert!(!text.contains("[DONE]"));

    let a = spawn(Flavor::Anthropic, MockConfig::default())
        .await
        .unwrap();
    a.faults().set_drop_after_events(Some(3));
    let resp = client()
        .post(format!("{}/v1/messages", a.base_url()))
        .header(KEY.0, KEY.1)
        .header(VERSION.0, VERSION.1)
        .body(messages(true).to_string())
        .send()
        .await
        .unwrap();
    let (chunks, failed) = read_chunks(resp).await;
    assert!(failed);
    assert!(!String::from_utf8(chunks.concat())
        .unwrap()
        .contains("message_stop"));
}

#[tokio::test]
async fn stream_error_after_in_each_flavor() {
    let s = openai().await;
    s.faults().set_stream_error_after(Some(2));
    let (st, _, t) = post(
        &format!("{}/chat/completions", s.base_url()),
        &[AUTH],
        &chat(true),
    )
    .await;
    assert_eq!(st, 200);
    let events = parse_sse(&t);
    assert_eq!(events.len(), 3);
    assert_eq!(events[2].json()["error"]["type"], "server_error");
    assert!(!t.contains("[DONE]"));

    let a = spawn(Flavor::Anthropic, MockConfig::default())
        .await
        .unwrap();
    a.faults().set_stream_error_after(Some(3));
    let (st, _, t) = post(
        &format!("{}/v1/messages", a.base_url()),
        &[KEY, VERSION],
        &messages(true),
    )
    .await;
    assert_eq!(st, 200);
    let events = parse_sse(&t);
    assert_eq!(events.len(), 4);
    assert_eq!(events[3].event.as_deref(), Some("error"));
    assert_eq!(events[3].json()["error"]["type"], "overloaded_error");
    assert!(!t.contains("message_stop"));

    let o = spawn(Flavor::Ollama, MockConfig::default()).await.unwrap();
    o.faults().set_stream_error_after(Some(1));
    let body = json!({"model": "llama3.2", "messages": [{"role": "user", "content": "a b c"}]});
    let (st, _, t) = post(&format!("{}/api/chat", o.base_url()), &[], &body).await;
    assert_eq!(st, 200);
    let lines = parse_ndjson(&t);
    assert_eq!(lines.len(), 2);
    assert!(lines[1]["error"].is_string());
}

#[tokio::test]
async fn stall_latency_and_event_pacing() {
    let s = openai().await;
    let url = format!("{}/chat/completions", s.base_url());
    s.faults().set_stall_ms(300);
    let started = Instant::now();
    let resp = client()
        .post(&url)
        .header(AUTH.0, AUTH.1)
        .body(chat(true).to_string())
        .send()
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "stall delays the response head"
    );
    assert_eq!(resp.status().as_u16(), 200);
    let _ = resp.text().await.unwrap();
    let started = Instant::now();
    assert_eq!(post(&url, &[AUTH], &chat(false)).await.0, 200);
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "stall only applies to streams"
    );

    s.faults().reset();
    s.faults().set_latency_ms(200);
    let started = Instant::now();
    assert_eq!(post(&url, &[AUTH], &chat(false)).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));

    s.faults().reset();
    s.faults().set_event_delay_ms(20);
    let resp = client()
        .post(&url)
        .header(AUTH.0, AUTH.1)
        .body(chat(true).to_string())
        .send()
        .await
        .unwrap();
    let (chunks, failed) = read_chunks(resp).await;
    assert!(!failed);
    assert!(
        chunks.len() >= 7,
        "each event arrives as its own chunk, got {}",
        chunks.len()
    );
    assert!(chunks.iter().all(|c| c.ends_with(b"\n\n")));
}

#[tokio::test]
async fn client_disconnect_does_not_wedge_the_server() {
    let s = openai().await;
    s.faults().set_event_delay_ms(200);
    let url = format!("{}/chat/completions", s.base_url());
    let resp = client()
        .post(&url)
        .header(AUTH.0, AUTH.1)
        .body(chat(true).to_string())
        .send()
        .await
        .unwrap();
    drop(resp);
    s.faults().reset();
    assert_eq!(post(&url, &[AUTH], &chat(false)).await.0, 200);
}

#[tokio::test]
async fn control_endpoint() {
    let s = openai().await;
    let root = format!("http://{}", s.addr());
    let (st, _, t) = post(
        &format!("{root}/mock/faults"),
        &[],
        &json!({"fail_next": {"status": 500, "count": 1}, "latency_ms": 1}),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(json(&t)["fail_next"]["status"], 500);
    assert_eq!(s.faults().get().latency_ms, 1);
    let (_, _, t) = get(&format!("{root}/mock/faults"), &[]).await;
    assert_eq!(json(&t)["latency_ms"], 1);
    let url = format!("{}/chat/completions", s.base_url());
    assert_eq!(post(&url, &[AUTH], &chat(false)).await.0, 500);
    assert_eq!(post(&url, &[AUTH], &chat(false)).await.0, 200);
    let (st, _, _) = post(&format!("{root}/mock/faults"), &[], &json!({"bogus": true})).await;
    assert_eq!(st, 400);

    let (_, _, t) = get(&format!("{root}/mock/requests"), &[]).await;
    let recs = json(&t);
    assert_eq!(
        recs.as_array().unwrap().len(),
        2,
        "control calls are not recorded"
    );
    assert_eq!(recs[0]["path"], "/v1/chat/completions");
    assert_eq!(recs[0]["body"]["model"], "gpt-4o-mini");
    assert!(recs[0]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h[0] == "authorization"));

    let (st, _, _) = post(&format!("{root}/mock/reset"), &[], &json!({})).await;
    assert_eq!(st, 200);
    assert!(s.requests().is_empty());
    assert_eq!(s.faults().get(), lmrelay_mock::FaultSettings::default());
}

#[tokio::test]
async fn binary_prints_urls_and_serves() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lmrelay-mock"))
        .args([
            "--openai",
            "127.0.0.1:0",
            "--ollama",
            "127.0.0.1:0",
            "--gemini",
            "127.0.0.1:0",
            "--bedrock",
            "127.0.0.1:0",
            "--key",
            "k1",
            "--model",
            "m1",
            "--fail-status",
            "503",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _guard = KillOnDrop(child);
    let lines = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::task::spawn_blocking(move || {
            let mut r = std::io::BufReader::new(stdout);
            let mut out = Vec::new();
            for _ in 0..4 {
                let mut l = String::new();
                r.read_line(&mut l).unwrap();
                out.push(l.trim().to_string());
            }
            out
        }),
    )
    .await;
    let result = async {
        let lines = lines.unwrap().unwrap();
        let oa = lines[0].strip_prefix("openai ").unwrap().to_string();
        assert!(
            oa.starts_with("http://127.0.0.1:") && oa.ends_with("/v1"),
            "{oa}"
        );
        let ol = lines[1].strip_prefix("ollama ").unwrap().to_string();
        let body = json!({"model": "m1", "messages": [{"role": "user", "content": "x"}]});
        let (st, _, _) = post(
            &format!("{oa}/chat/completions"),
            &[("authorization", "Bearer k1")],
            &body,
        )
        .await;
        assert_eq!(st, 503, "fault flag applies");
        let (st, _, _) = post(
            &format!("{oa}/chat/completions"),
            &[("authorization", "Bearer k1")],
            &body,
        )
        .await;
        assert_eq!(st, 200);
        let (st, _, t) = get(&format!("{ol}/api/tags"), &[]).await;
        assert_eq!(st, 200);
        assert_eq!(json(&t)["models"][0]["name"], "m1:latest");
        let gm = lines[2].strip_prefix("gemini ").unwrap().to_string();
        let (st, _, t) = get(&format!("{gm}/v1beta/models"), &[("x-goog-api-key", "k1")]).await;
        assert_eq!(st, 200);
        assert_eq!(json(&t)["models"][0]["name"], "models/m1");
        // Bedrock: a Bedrock API key, and the 503 flag (already spent on the first server
        // only: each server has its own knobs).
        let br = lines[3].strip_prefix("bedrock ").unwrap().to_string();
        let converse = json!({"messages": [{"role": "user", "content": [{"text": "x"}]}]});
        let (st, h, _) = post(
            &format!("{br}/model/m1/converse"),
            &[("authorization", "Bearer k1")],
            &converse,
        )
        .await;
        assert_eq!(st, 503);
        assert!(h["x-amzn-errortype"]
            .to_str()
            .unwrap()
            .starts_with("ServiceUnavailableException"));
        let (st, _, t) = post(
            &format!("{br}/model/m1/converse"),
            &[("authorization", "Bearer k1")],
            &converse,
        )
        .await;
        assert_eq!(st, 200, "{t}");
        assert_eq!(
            json(&t)["output"]["message"]["content"][0]["text"],
            "echo: x"
        );
    };
    tokio::time::timeout(Duration::from_secs(20), result)
        .await
        .unwrap();
}

/// Kills the child we started, even when an assertion fails.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_key_request_limit_counts_down_then_rate_limits_that_key_only() {
    let s = openai().await;
    let url = format!("{}/chat/completions", s.base_url());
    s.faults().set_key_request_limit("sk-test", 2);
    for remaining in ["1", "0"] {
        let (st, h, _) = post(&url, &[AUTH], &chat(false)).await;
        assert_eq!(st, 200);
        assert_eq!(h["x-ratelimit-limit-requests"], "2");
        assert_eq!(h["x-ratelimit-remaining-requests"], remaining);
    }
    let (st, h, t) = post(&url, &[AUTH], &chat(false)).await;
    assert_eq!(st, 429);
    assert_eq!(h["retry-after"], "1");
    assert_eq!(json(&t)["error"]["code"], "rate_limit_exceeded");
    // Another key is not limited; listing models is not a counted request.
    let other = ("authorization", "Bearer sk-other");
    assert_eq!(post(&url, &[other], &chat(false)).await.0, 200);
    assert_eq!(
        get(&format!("{}/models", s.base_url()), &[AUTH]).await.0,
        200
    );
    s.faults().reset();
    assert_eq!(post(&url, &[AUTH], &chat(false)).await.0, 200);
}
