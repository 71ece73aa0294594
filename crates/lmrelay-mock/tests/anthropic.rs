//! Anthropic flavor: answers, event order, thinking signatures, tools, auth,
//! validation, models and count_tokens.
#![allow(clippy::unwrap_used)]

mod common;

use common::{get, json, parse_sse, post};
use lmrelay_mock::{spawn, Flavor, MockConfig, MockServer};
use serde_json::{json, Value};

const KEY: (&str, &str) = ("x-api-key", "sk-ant-test");
const VERSION: (&str, &str) = ("anthropic-version", "2023-06-01");

async fn server(cache: u64) -> MockServer {
    spawn(
        Flavor::Anthropic,
        MockConfig {
            cache_read_tokens: cache,
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

fn body(extra: Value) -> Value {
    let mut b = json!({"model": "claude-sonnet-4-5", "max_tokens": 256, "system": "be brief",
                       "messages": [{"role": "user", "content": "hello world"}]});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

fn url(s: &MockServer) -> String {
    format!("{}/v1/messages", s.base_url())
}

fn tools() -> Value {
    json!([{"name": "get_weather", "description": "w",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}])
}

#[tokio::test]
async fn answer_shape_usage_and_headers() {
    let s = server(7).await;
    assert!(!s.base_url().ends_with("/v1"));
    let (st, h, t) = post(&url(&s), &[KEY, VERSION], &body(json!({}))).await;
    assert_eq!(st, 200, "{t}");
    assert!(h["request-id"].to_str().unwrap().starts_with("req_"));
    for kind in ["requests", "tokens", "input-tokens", "output-tokens"] {
        for part in ["limit", "remaining", "reset"] {
            assert!(h.contains_key(format!("anthropic-ratelimit-{kind}-{part}").as_str()));
        }
    }
    let reset = h["anthropic-ratelimit-requests-reset"].to_str().unwrap();
    assert!(
        reset.len() == 20 && reset.ends_with('Z') && reset.as_bytes()[10] == b'T',
        "{reset}"
    );
    let v = json(&t);
    assert_eq!(v["type"], "message");
    assert!(v["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "echo: hello world"}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["stop_sequence"].is_null());
    // 19 chars -> 5 input tokens, cache reads excluded.
    assert_eq!(v["usage"]["input_tokens"], 5);
    assert_eq!(v["usage"]["cache_read_input_tokens"], 7);
    assert_eq!(v["usage"]["cache_creation_input_tokens"], 0);
    assert_eq!(v["usage"]["output_tokens"], 3);

    let v = json(
        &post(
            &url(&s),
            &[KEY, VERSION],
            &body(json!({"stop_sequences": ["world"]})),
        )
        .await
        .2,
    );
    assert_eq!(
        (v["stop_reason"].clone(), v["stop_sequence"].clone()),
        (json!("stop_sequence"), json!("world"))
    );
    let v = json(
        &post(&url(&s), &[KEY, VERSION], &body(json!({"max_tokens": 1})))
            .await
            .2,
    );
    assert_eq!(v["stop_reason"], "max_tokens");
    assert_eq!(v["content"][0]["text"], "echo:");
}

fn names(events: &[common::Sse]) -> Vec<String> {
    events.iter().map(|e| e.event.clone().unwrap()).collect()
}

#[tokio::test]
async fn stream_event_order() {
    let s = server(2).await;
    let (st, h, t) = post(&url(&s), &[KEY, VERSION], &body(json!({"stream": true}))).await;
    assert_eq!(st, 200);
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let events = parse_sse(&t);
    for e in &events {
        assert_eq!(e.json()["type"], e.event.clone().unwrap().as_str());
    }
    assert_eq!(
        names(&events),
        vec![
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let start = events[0].json();
    assert_eq!(start["message"]["content"], json!([]));
    assert!(start["message"]["stop_reason"].is_null());
    assert_eq!(start["message"]["usage"]["input_tokens"], 5);
    assert_eq!(start["message"]["usage"]["cache_read_input_tokens"], 2);
    assert_eq!(start["message"]["usage"]["output_tokens"], 1);
    assert_eq!(
        events[2].json()["content_block"],
        json!({"type": "text", "text": ""})
    );
    let text: String = events
        .iter()
        .filter_map(|e| e.json()["delta"]["text"].as_str().map(String::from))
        .collect();
    assert_eq!(text, "echo: hello world");
    let md = events[7].json();
    assert_eq!(md["delta"]["stop_reason"], "end_turn");
    assert_eq!(md["usage"]["output_tokens"], 3);
}

#[tokio::test]
async fn thinking_with_signature() {
    let s = server(0).await;
    let b =
        body(json!({"thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 2048}));
    let v = json(&post(&url(&s), &[KEY, VERSION], &b).await.2);
    let th = &v["content"][0];
    assert_eq!(th["type"], "thinking");
    assert_eq!(th["thinking"], "Thinking about: hello world");
    let sig = th["signature"].as_str().unwrap().to_string();
    assert!(sig.starts_with("sig_"));
    assert_eq!(v["content"][1]["text"], "echo: hello world");
    assert_eq!(v["usage"]["output_tokens"], 3 + 4);

    let mut sb = b.clone();
    sb["stream"] = json!(true);
    let events = parse_sse(&post(&url(&s), &[KEY, VERSION], &sb).await.2);
    let js: Vec<Value> = events.iter().map(|e| e.json()).collect();
    assert_eq!(js[2]["content_block"]["type"], "thinking");
    let sig_pos = js
        .iter()
        .position(|e| e["delta"]["type"] == "signature_delta")
        .unwrap();
    assert_eq!(
        js[sig_pos]["delta"]["signature"],
        sig.as_str(),
        "stable signature"
    );
    assert_eq!(js[sig_pos + 1]["type"], "content_block_stop");
    assert_eq!(js[sig_pos + 1]["index"], 0);
    let thinking: String = js
        .iter()
        .filter_map(|e| e["delta"]["thinking"].as_str().map(String::from))
        .collect();
    assert_eq!(thinking, "Thinking about: hello world");
    assert!(js.iter().any(|e| e["type"] == "content_block_start"
        && e["index"] == 1
        && e["content_block"]["type"] == "text"));

    // Echoing the thinking block back in a later turn is accepted; without a signature it is not.
    let history = |block: Value| {
        body(json!({"messages": [
        {"role": "user", "content": "hello world"},
        {"role": "assistant", "content": [block, {"type": "text", "text": "echo: hello world"}]},
        {"role": "user", "content": "again"}]}))
    };
    let ok = history(
        json!({"type": "thinking", "thinking": "Thinking about: hello world", "signature": sig}),
    );
    assert_eq!(post(&url(&s), &[KEY, VERSION], &ok).await.0, 200);
    let bad = history(json!({"type": "thinking", "thinking": "x"}));
    assert_eq!(post(&url(&s), &[KEY, VERSION], &bad).await.0, 400);
}

#[tokio::test]
async fn tool_use_plain_streamed_and_result() {
    let s = server(0).await;
    let b = body(json!({"tools": tools(), "messages": [{"role": "user", "content": "Paris"}]}));
    let v = json(&post(&url(&s), &[KEY, VERSION], &b).await.2);
    assert_eq!(v["stop_reason"], "tool_use");
    let tu = &v["content"][0];
    assert_eq!(tu["type"], "tool_use");
    assert!(tu["id"].as_str().unwrap().starts_with("toolu_"));
    assert_eq!(tu["input"], json!({"city": "Paris"}));

    let mut sb = b.clone();
    sb["stream"] = json!(true);
    let js: Vec<Value> = parse_sse(&post(&url(&s), &[KEY, VERSION], &sb).await.2)
        .iter()
        .map(|e| e.json())
        .collect();
    let start = js
        .iter()
        .find(|e| e["type"] == "content_block_start")
        .unwrap();
    assert_eq!(start["content_block"]["type"], "tool_use");
    assert_eq!(start["content_block"]["input"], json!({}));
    let parts: Vec<&str> = js
        .iter()
        .filter_map(|e| e["delta"]["partial_json"].as_str())
        .collect();
    assert_eq!(parts[0], "");
    assert!(parts.len() >= 3);
    assert_eq!(json(&parts.concat()), json!({"city": "Paris"}));
    assert_eq!(js[js.len() - 2]["delta"]["stop_reason"], "tool_use");

    let named = body(
        json!({"tools": [tools()[0].clone(), {"name": "noop", "input_schema": {"type": "object"}}],
                            "tool_choice": {"type": "tool", "name": "noop"}}),
    );
    let v = json(&post(&url(&s), &[KEY, VERSION], &named).await.2);
    assert_eq!(v["content"][0]["name"], "noop");
    assert_eq!(v["content"][0]["input"], json!({"input": "hello world"}));

    let follow = body(json!({"tools": tools(), "messages": [
        {"role": "user", "content": "Paris"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "11 degrees"}]}]}));
    let v = json(&post(&url(&s), &[KEY, VERSION], &follow).await.2);
    assert_eq!(v["content"][0]["text"], "tool result: 11 degrees");
    assert_eq!(v["stop_reason"], "end_turn");
}

#[tokio::test]
async fn auth_and_version_header() {
    let s = spawn(
        Flavor::Anthropic,
        MockConfig {
            keys: vec!["good".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (st, h, t) = post(&url(&s), &[VERSION], &body(json!({}))).await;
    assert_eq!(st, 401);
    let v = json(&t);
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "authentication_error");
    assert_eq!(
        v["request_id"].as_str().unwrap(),
        h["request-id"].to_str().unwrap()
    );
    let (st, _, t) = post(&url(&s), &[("x-api-key", "bad"), VERSION], &body(json!({}))).await;
    assert_eq!(
        (st, json(&t)["error"]["message"].clone()),
        (401, json!("invalid x-api-key"))
    );
    let (st, _, _) = post(
        &url(&s),
        &[("authorization", "Bearer good"), VERSION],
        &body(json!({})),
    )
    .await;
    assert_eq!(st, 200, "Bearer accepted too");
    let (st, _, t) = post(&url(&s), &[("x-api-key", "good")], &body(json!({}))).await;
    assert_eq!(st, 400);
    assert_eq!(json(&t)["error"]["type"], "invalid_request_error");
    assert!(t.contains("anthropic-version"));
}

#[tokio::test]
async fn validation_errors() {
    let s = server(0).await;
    let cases: Vec<(Value, &str)> = vec![
        (
            body(
                json!({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}),
            ),
            "roles must alternate",
        ),
        (
            body(json!({"messages": [{"role": "assistant", "content": "a"}]})),
            "first message",
        ),
        (
            body(json!({"messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_9", "name": "f", "input": {}}]},
            {"role": "user", "content": "no result"}]})),
            "`tool_use` ids were found without `tool_result`",
        ),
        (
            body(json!({"messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_9", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "text", "text": "first"}, {"type": "tool_result", "tool_use_id": "toolu_9", "content": "r"}]}]})),
            "must come before",
        ),
        (
            body(json!({"messages": [
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "r"}]}]})),
            "unexpected `tool_use_id`",
        ),
        (
            body(json!({"messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": "{}"}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t"}]}]})),
            "valid dictionary",
        ),
        (
            body(
                json!({"messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]}),
            ),
            "non-empty",
        ),
        (
            body(
                json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "  "}]}]}),
            ),
            "non-whitespace",
        ),
        (body(json!({"system": {"text": "x"}})), "system"),
        (
            body(json!({"system": [{"type": "image"}]})),
            "system.0.type",
        ),
        (body(json!({"temperature": 1.5})), "temperature"),
        (
            body(
                json!({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": "AA=="}}]}]}),
            ),
            "media_type",
        ),
        (
            body(json!({"messages": [{"role": "system", "content": "x"}]})),
            "role",
        ),
        (
            json!({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "x"}]}),
            "max_tokens: Field required",
        ),
        (body(json!({"max_tokens": "10"})), "valid integer"),
        (
            json!({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
            "model: Field required",
        ),
        (
            body(json!({"tools": [{"name": "f", "input_schema": {"type": "string"}}]})),
            "'object'",
        ),
    ];
    for (b, needle) in cases {
        let (st, _, t) = post(&url(&s), &[KEY, VERSION], &b).await;
        assert_eq!(st, 400, "{b} -> {t}");
        let v = json(&t);
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(needle),
            "{needle:?} not in {t}"
        );
        assert!(v["request_id"].as_str().unwrap().starts_with("req_"));
    }
    let (st, _, t) = post(
        &url(&s),
        &[KEY, VERSION],
        &body(json!({"model": "claude-nope"})),
    )
    .await;
    assert_eq!(st, 404);
    let v = json(&t);
    assert_eq!(
        (v["error"]["type"].clone(), v["error"]["message"].clone()),
        (json!("not_found_error"), json!("model: claude-nope"))
    );
}

#[tokio::test]
async fn models_and_count_tokens() {
    let s = spawn(
        Flavor::Anthropic,
        MockConfig {
            models: vec!["claude-a".into(), "*".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (st, _, t) = get(&format!("{}/v1/models", s.base_url()), &[KEY, VERSION]).await;
    assert_eq!(st, 200);
    let v = json(&t);
    assert_eq!(v["data"][0]["type"], "model");
    assert_eq!(v["data"][0]["id"], "claude-a");
    assert_eq!(
        (
            v["has_more"].clone(),
            v["first_id"].clone(),
            v["last_id"].clone()
        ),
        (json!(false), json!("claude-a"), json!("claude-a"))
    );
    let (st, _, _) = get(
        &format!("{}/v1/models/anything", s.base_url()),
        &[KEY, VERSION],
    )
    .await;
    assert_eq!(st, 200, "`*` accepts any model");
    let ct = json!({"model": "claude-x", "system": "be brief", "messages": [{"role": "user", "content": "hello world"}]});
    let (st, _, t) = post(
        &format!("{}/v1/messages/count_tokens", s.base_url()),
        &[KEY, VERSION],
        &ct,
    )
    .await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(json(&t), json!({"input_tokens": 5}));
}
