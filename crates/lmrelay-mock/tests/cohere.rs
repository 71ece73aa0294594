//! Cohere flavor: answers, stream events, tools and tool results, strict validation, auth,
//! faults, embeddings and models.
#![allow(clippy::unwrap_used)]

mod common;

use common::{get, json, parse_sse, post};
use lmrelay_mock::{spawn, Flavor, MockConfig, MockServer};
use serde_json::{json, Value};

const KEY: (&str, &str) = ("authorization", "Bearer co-key");

async fn server() -> MockServer {
    spawn(
        Flavor::Cohere,
        MockConfig {
            keys: vec!["co-key".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

fn body(extra: Value) -> Value {
    let mut b = json!({"model": "command-r-plus", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "hello world"}]}]});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

fn tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "w",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])
}

async fn chat(s: &MockServer, b: &Value) -> (u16, Value) {
    let (st, _, t) = post(&format!("{}/v2/chat", s.base_url()), &[KEY], b).await;
    (st, json(&t))
}

#[tokio::test]
async fn answers_and_usage() {
    let s = server().await;
    let (st, v) = chat(&s, &body(json!({}))).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["finish_reason"], "COMPLETE");
    assert_eq!(
        v["message"]["content"][0],
        json!({"type": "text", "text": "echo: hello world"})
    );
    let billed = &v["usage"]["billed_units"];
    assert_eq!(billed["output_tokens"], 3);
    assert_eq!(
        v["usage"]["tokens"]["input_tokens"].as_u64().unwrap(),
        billed["input_tokens"].as_u64().unwrap() + 10
    );
    let (_, v) = chat(
        &s,
        &body(json!({"max_tokens": 1, "thinking": {"type": "enabled"}})),
    )
    .await;
    assert_eq!(v["finish_reason"], "MAX_TOKENS");
    assert_eq!(v["message"]["content"][0]["type"], "thinking");
}

#[tokio::test]
async fn tool_calls_and_results() {
    let s = server().await;
    let (st, v) = chat(&s, &body(json!({"tools": tools()}))).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["finish_reason"], "TOOL_CALL");
    let call = &v["message"]["tool_calls"][0];
    assert_eq!(call["function"]["arguments"], r#"{"city":"hello world"}"#);
    assert!(v["message"]["tool_plan"].is_string());
    let id = call["id"].as_str().unwrap();
    let mut b = body(json!({"tools": tools()}));
    b["messages"].as_array_mut().unwrap().extend([
        json!({"role": "assistant", "tool_plan": "p", "tool_calls": [call]}),
        json!({"role": "tool", "tool_call_id": id, "content": [{"type": "text", "text": "18C"}]}),
    ]);
    let (st, v) = chat(&s, &b).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["message"]["content"][0]["text"], "tool result: 18C");
    b["messages"][3]["tool_call_id"] = json!("other");
    let (st, _) = chat(&s, &b).await;
    assert_eq!(st, 400, "a result must answer a call");
}

#[tokio::test]
async fn stream_events() {
    let s = server().await;
    let (st, h, t) = post(
        &format!("{}/v2/chat", s.base_url()),
        &[KEY],
        &body(json!({"stream": true, "tools": tools()})),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(h["content-type"], "text/event-stream");
    let events = parse_sse(&t);
    let kinds: Vec<String> = events
        .iter()
        .map(|e| e.json()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds.first().map(String::as_str), Some("message-start"));
    assert!(kinds.contains(&"tool-plan-delta".to_owned()));
    assert!(kinds.contains(&"tool-call-start".to_owned()));
    assert_eq!(kinds.last().map(String::as_str), Some("message-end"));
    assert!(events
        .iter()
        .all(|e| e.event.as_deref() == e.json()["type"].as_str()));
    let start = events
        .iter()
        .find(|e| e.json()["type"] == "tool-call-start")
        .unwrap()
        .json();
    assert!(
        start["delta"]["message"]["tool_calls"].is_object(),
        "a single object"
    );
    let args: String = events
        .iter()
        .map(|e| e.json())
        .filter(|e| e["type"] == "tool-call-delta")
        .map(|e| {
            e["delta"]["message"]["tool_calls"]["function"]["arguments"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(args, r#"{"city":"hello world"}"#);
    let end = events.last().unwrap().json();
    assert_eq!(end["delta"]["finish_reason"], "TOOL_CALL");
    assert!(end["delta"]["usage"]["billed_units"]["input_tokens"].is_u64());

    s.faults().set_stream_error_after(Some(2));
    let (_, _, t) = post(
        &format!("{}/v2/chat", s.base_url()),
        &[KEY],
        &body(json!({"stream": true})),
    )
    .await;
    let end = parse_sse(&t).last().unwrap().json();
    assert_eq!(end["delta"]["finish_reason"], "ERROR");
}

#[tokio::test]
async fn validation_is_strict() {
    let s = server().await;
    let bad = [
        json!({"max_completion_tokens": 5}),
        json!({"tool_choice": "auto", "tools": tools()}),
        json!({"tool_choice": "REQUIRED"}),
        json!({"p": 1.0}),
        json!({"k": 501}),
        json!({"messages": []}),
        json!({"messages": [{"role": "developer", "content": "x"}]}),
        json!({"messages": [{"role": "user", "content": "x", "name": "n"}]}),
        json!({"messages": [{"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
             "function": {"name": "f", "arguments": {"a": 1}}}]}]}),
        json!({"response_format": {"type": "json_schema"}}),
    ];
    for extra in bad {
        let (st, v) = chat(&s, &body(extra.clone())).await;
        assert_eq!(st, 400, "{extra} → {v}");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .starts_with("invalid request"),
            "{v}"
        );
    }
    let (st, _) = chat(&s, &body(json!({"model": "nope"}))).await;
    assert_eq!(st, 404);
    let (st, _, t) = post(&format!("{}/v2/chat", s.base_url()), &[], &body(json!({}))).await;
    assert_eq!(
        (st, json(&t)["message"].as_str()),
        (401, Some("no api key supplied"))
    );
    let (st, _, t) = post(
        &format!("{}/v2/chat", s.base_url()),
        &[("authorization", "Bearer wrong")],
        &body(json!({})),
    )
    .await;
    assert_eq!(
        (st, json(&t)["message"].as_str()),
        (401, Some("invalid api token"))
    );
}

#[tokio::test]
async fn faults_use_cohere_error_bodies() {
    let s = server().await;
    s.faults().fail_next(429, 1, Some(2));
    let (st, h, t) = post(
        &format!("{}/v2/chat", s.base_url()),
        &[KEY],
        &body(json!({})),
    )
    .await;
    assert_eq!(st, 429);
    assert_eq!(h["retry-after"], "2");
    assert!(json(&t)["message"].as_str().unwrap().contains("Trial key"));
    s.faults().fail_next(503, 1, None);
    let (st, v) = chat(&s, &body(json!({}))).await;
    assert_eq!(
        (st, v["message"].as_str()),
        (503, Some("service unavailable"))
    );
}

#[tokio::test]
async fn embeddings_and_models() {
    let s = server().await;
    let url = format!("{}/v2/embed", s.base_url());
    let b = json!({"model": "embed-v4.0", "texts": ["a", "b"], "input_type": "search_document",
                   "embedding_types": ["float"]});
    let (st, _, t) = post(&url, &[KEY], &b).await;
    assert_eq!(st, 200, "{t}");
    let v = json(&t);
    assert_eq!(v["embeddings"]["float"].as_array().unwrap().len(), 2);
    assert!(v["meta"]["billed_units"]["input_tokens"].is_u64());
    let mut no_type = b.clone();
    no_type.as_object_mut().unwrap().remove("input_type");
    let (st, _, _) = post(&url, &[KEY], &no_type).await;
    assert_eq!(st, 400);
    let (st, _, t) = get(&format!("{}/v1/models", s.base_url()), &[KEY]).await;
    assert_eq!(st, 200);
    assert!(json(&t)["models"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == "command-r-plus"));
}
