//! OpenAI flavor: answers, streams, tools, auth, validation, embeddings, models.
#![allow(clippy::unwrap_used)]

mod common;

use common::{get, json, parse_sse, post};
use lmrelay_mock::{spawn, Flavor, MockConfig, MockServer};
use serde_json::{json, Value};

const AUTH: (&str, &str) = ("authorization", "Bearer sk-test-key-1234567890");

async fn server(cache: u64) -> MockServer {
    spawn(
        Flavor::OpenAi,
        MockConfig {
            cache_read_tokens: cache,
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

fn chat_body(extra: Value) -> Value {
    let mut b = json!({"model": "gpt-4o-mini", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello world"}
    ]});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

fn weather_tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "w",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
}

#[tokio::test]
async fn chat_answer_shape_usage_and_headers() {
    let s = server(5).await;
    assert!(s.base_url().ends_with("/v1"));
    let (status, h, text) = post(
        &format!("{}/chat/completions", s.base_url()),
        &[AUTH],
        &chat_body(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    for name in [
        "x-request-id",
        "openai-processing-ms",
        "x-ratelimit-limit-requests",
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-requests",
        "x-ratelimit-reset-tokens",
    ] {
        assert!(h.contains_key(name), "missing {name}");
    }
    assert!(h["x-ratelimit-reset-requests"]
        .to_str()
        .unwrap()
        .ends_with("ms"));
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let v = json(&text);
    assert_eq!(v["object"], "chat.completion");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(v["model"], "gpt-4o-mini");
    let c = &v["choices"][0];
    assert_eq!(c["message"]["role"], "assistant");
    assert_eq!(c["message"]["content"], "echo: hello world");
    assert_eq!(c["finish_reason"], "stop");
    // "be brief" + "hello world" = 19 chars -> 5 tokens, plus 5 cached (included).
    assert_eq!(v["usage"]["prompt_tokens"], 10);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 5);
    assert_eq!(v["usage"]["completion_tokens"], 3);
    assert_eq!(v["usage"]["total_tokens"], 13);
    let rec = s.last_request().unwrap();
    assert_eq!(
        (rec.method.as_str(), rec.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(rec.body["model"], "gpt-4o-mini");
    assert_eq!(rec.header("Authorization"), Some(AUTH.1));
}

#[tokio::test]
async fn stream_with_and_without_include_usage() {
    let s = server(0).await;
    let url = format!("{}/chat/completions", s.base_url());
    let body = chat_body(json!({"stream": true, "stream_options": {"include_usage": true}}));
    let (status, h, text) = post(&url, &[AUTH], &body).await;
    assert_eq!(status, 200);
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let events = parse_sse(&text);
    assert!(
        events.iter().all(|e| e.event.is_none()),
        "OpenAI sends data-only events"
    );
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| e.json())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let id = chunks[0]["id"].clone();
    assert!(chunks
        .iter()
        .all(|c| c["id"] == id && c["object"] == "chat.completion.chunk"));
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 3);
    assert!(chunks[..chunks.len() - 1]
        .iter()
        .all(|c| c["usage"].is_null() && c.as_object().unwrap().contains_key("usage")));
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["delta"], json!({}));
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "echo: hello world");
    let deltas: Vec<&str> = chunks[1..]
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(deltas, vec!["echo:", " hello", " world"]);

    let (_, _, text) = post(&url, &[AUTH], &chat_body(json!({"stream": true}))).await;
    let events = parse_sse(&text);
    assert_eq!(events.last().unwrap().data, "[DONE]");
    for e in &events[..events.len() - 1] {
        let c = e.json();
        assert!(!c.as_object().unwrap().contains_key("usage"));
        assert_ne!(c["choices"], json!([]));
    }
}

#[tokio::test]
async fn tool_calls_plain_and_streamed_and_tool_result() {
    let s = server(0).await;
    let url = format!("{}/chat/completions", s.base_url());
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "Paris"}], "tools": weather_tools()});
    let (status, _, text) = post(&url, &[AUTH], &body).await;
    assert_eq!(status, 200, "{text}");
    let v = json(&text);
    let m = &v["choices"][0]["message"];
    assert!(m["content"].is_null());
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let call = &m["tool_calls"][0];
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], r#"{"city":"Paris"}"#);

    let mut sb = body.clone();
    sb["stream"] = json!(true);
    let (_, _, text) = post(&url, &[AUTH], &sb).await;
    let events = parse_sse(&text);
    let chunks: Vec<Value> = events
        .iter()
        .filter(|e| e.data != "[DONE]")
        .map(|e| e.json())
        .collect();
    let frags: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert_eq!(
        frags[0]["id"].as_str().map(|x| x.starts_with("call_")),
        Some(true)
    );
    assert_eq!(frags[0]["function"]["name"], "get_weather");
    assert_eq!(frags[0]["function"]["arguments"], "");
    assert!(frags.len() >= 3, "arguments in at least two fragments");
    assert!(frags[1..]
        .iter()
        .all(|f| f.get("id").is_none() && f["index"] == 0));
    let args: String = frags
        .iter()
        .filter_map(|f| f["function"]["arguments"].as_str())
        .collect();
    assert_eq!(json(&args), json!({"city": "Paris"}));
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );

    // Named tool_choice picks that tool; a tool without properties gets "input".
    let mut nb = body.clone();
    nb["tools"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "function", "function": {"name": "noop"}}));
    nb["tool_choice"] = json!({"type": "function", "function": {"name": "noop"}});
    let v = json(&post(&url, &[AUTH], &nb).await.2);
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "noop"
    );
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        r#"{"input":"Paris"}"#
    );

    let follow = json!({"model": "gpt-4o", "tools": weather_tools(), "messages": [
        {"role": "user", "content": "Paris"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "11 degrees"}
    ]});
    let v = json(&post(&url, &[AUTH], &follow).await.2);
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "tool result: 11 degrees"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn stop_and_max_tokens() {
    let s = server(0).await;
    let url = format!("{}/chat/completions", s.base_url());
    let v = json(
        &post(
            &url,
            &[AUTH],
            &chat_body(json!({"max_completion_tokens": 2})),
        )
        .await
        .2,
    );
    assert_eq!(v["choices"][0]["message"]["content"], "echo: hello");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    let v = json(
        &post(&url, &[AUTH], &chat_body(json!({"stop": ["wor"]})))
            .await
            .2,
    );
    assert_eq!(v["choices"][0]["message"]["content"], "echo: hello ");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn auth_failures_never_echo_the_key() {
    let s = spawn(
        Flavor::OpenAi,
        MockConfig {
            keys: vec!["sk-good".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let url = format!("{}/chat/completions", s.base_url());
    let (status, _, text) = post(&url, &[], &chat_body(json!({}))).await;
    assert_eq!(status, 401);
    let v = json(&text);
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(v["error"]["code"].is_null() && v["error"]["param"].is_null());
    let bad = "sk-wrong-secret-value-9876";
    let (status, h, text) = post(
        &url,
        &[("authorization", &format!("Bearer {bad}"))],
        &chat_body(json!({})),
    )
    .await;
    assert_eq!(status, 401);
    assert!(h.contains_key("x-request-id"));
    let v = json(&text);
    assert_eq!(v["error"]["code"], "invalid_api_key");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Incorrect API key provided: "));
    assert!(!text.contains(bad) && !text.contains("secret"));
    let (status, _, _) = post(
        &url,
        &[("authorization", "Bearer sk-good")],
        &chat_body(json!({})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = get(&format!("{}/models", s.base_url()), &[]).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn validation_errors() {
    let s = server(0).await;
    let url = format!("{}/chat/completions", s.base_url());
    let check = |text: &str, needle: &str| {
        let v = json(text);
        let e = &v["error"];
        assert_eq!(e["type"], "invalid_request_error", "{text}");
        for k in ["message", "type", "param", "code"] {
            assert!(e.as_object().unwrap().contains_key(k));
        }
        assert!(e["message"].as_str().unwrap().contains(needle), "{text}");
    };
    let orphan = json!({"model": "gpt-4o", "messages": [
        {"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "call_x", "content": "r"}]});
    let (st, _, t) = post(&url, &[AUTH], &orphan).await;
    assert_eq!(st, 400);
    check(
        &t,
        "must be a response to a preceeding message with 'tool_calls'",
    );

    let obj_args = json!({"model": "gpt-4o", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "r"}]});
    let (st, _, t) = post(&url, &[AUTH], &obj_args).await;
    assert_eq!(st, 400);
    check(&t, "expected a string, but got an object");
    assert_eq!(json(&t)["error"]["code"], "invalid_type");

    let unanswered = json!({"model": "gpt-4o", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "user", "content": "again"}]});
    let (st, _, t) = post(&url, &[AUTH], &unanswered).await;
    assert_eq!(st, 400);
    check(&t, "did not have response messages: c1");

    let (st, _, t) = post(&url, &[AUTH], &json!({"model": "gpt-4o"})).await;
    assert_eq!(st, 400);
    check(&t, "'messages'");
    let (st, _, t) = post(&url, &[AUTH], &json!({"model": "gpt-4o", "messages": []})).await;
    assert_eq!(st, 400);
    check(&t, "empty array");
    let (st, _, t) = post(
        &url,
        &[AUTH],
        &json!({"messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(st, 400);
    check(&t, "model");
    let resp = common::client()
        .post(&url)
        .header(AUTH.0, AUTH.1)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);

    let (st, _, t) = post(&url, &[AUTH], &chat_body(json!({"model": "gpt-nope"}))).await;
    assert_eq!(st, 404);
    let v = json(&t);
    assert_eq!(v["error"]["code"], "model_not_found");
    assert_eq!(
        v["error"]["message"],
        "The model `gpt-nope` does not exist or you do not have access to it."
    );
}

#[tokio::test]
async fn embeddings_float_and_base64() {
    let s = server(0).await;
    let url = format!("{}/embeddings", s.base_url());
    let body = json!({"model": "text-embedding-3-small", "input": ["alpha", "beta"]});
    let (st, _, t) = post(&url, &[AUTH], &body).await;
    assert_eq!(st, 200, "{t}");
    let v = json(&t);
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(v["data"][1]["index"], 1);
    let floats: Vec<f32> = v["data"][0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(floats.len(), 8);
    assert_eq!(floats, lmrelay_mock::embedding_vector("alpha", 8));
    let norm: f32 = floats.iter().map(|x| x * x).sum();
    assert!((norm - 1.0).abs() < 1e-4);
    assert_eq!(v["usage"]["prompt_tokens"], 3); // ceil(5/4) + ceil(4/4)

    let b64 =
        json!({"model": "text-embedding-3-small", "input": "alpha", "encoding_format": "base64"});
    let v = json(&post(&url, &[AUTH], &b64).await.2);
    let bytes = common::base64_decode(v["data"][0]["embedding"].as_str().unwrap());
    let decoded: Vec<f32> = bytes
        .chunks(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(decoded, floats);

    let dims = json!({"model": "text-embedding-3-small", "input": [[1, 2, 3]], "dimensions": 16});
    let v = json(&post(&url, &[AUTH], &dims).await.2);
    assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 16);
    assert_eq!(v["usage"]["prompt_tokens"], 3);
    let (st, _, _) = post(
        &url,
        &[AUTH],
        &json!({"model": "text-embedding-3-small", "input": []}),
    )
    .await;
    assert_eq!(st, 400);
}

#[tokio::test]
async fn models_listing() {
    let s = server(0).await;
    let (st, _, t) = get(&format!("{}/models", s.base_url()), &[AUTH]).await;
    assert_eq!(st, 200);
    let v = json(&t);
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec!["gpt-4o-mini", "gpt-4o", "o4-mini", "text-embedding-3-small"]
    );
    assert_eq!(v["data"][0]["object"], "model");
    assert!(v["data"][0]["owned_by"].is_string() && v["data"][0]["created"].is_u64());
    let (st, _, t) = get(&format!("{}/models/gpt-4o", s.base_url()), &[AUTH]).await;
    assert_eq!((st, json(&t)["id"].clone()), (200, json!("gpt-4o")));
    let (st, _, t) = get(&format!("{}/models/nope", s.base_url()), &[AUTH]).await;
    assert_eq!(
        (st, json(&t)["error"]["code"].clone()),
        (404, json!("model_not_found"))
    );
}

#[tokio::test]
async fn legacy_completions() {
    let s = server(0).await;
    let url = format!("{}/completions", s.base_url());
    let v = json(
        &post(
            &url,
            &[AUTH],
            &json!({"model": "gpt-4o-mini", "prompt": "say this"}),
        )
        .await
        .2,
    );
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["choices"][0]["text"], "echo: say this");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let long: String = (0..30).map(|i| format!("w{i} ")).collect();
    let v = json(
        &post(
            &url,
            &[AUTH],
            &json!({"model": "gpt-4o-mini", "prompt": long}),
        )
        .await
        .2,
    );
    assert_eq!(
        v["choices"][0]["finish_reason"], "length",
        "max_tokens defaults to 16"
    );
    assert_eq!(v["usage"]["completion_tokens"], 16);
    let body = json!({"model": "gpt-4o-mini", "prompt": "a b", "stream": true, "stream_options": {"include_usage": true}});
    let events = parse_sse(&post(&url, &[AUTH], &body).await.2);
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| e.json())
        .collect();
    assert!(chunks.iter().all(|c| c["object"] == "text_completion"));
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    assert_eq!(text, "echo: a b");
    assert_eq!(chunks.last().unwrap()["choices"], json!([]));
    assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 3);
}

#[tokio::test]
async fn reasoning_effort_is_refused_for_non_reasoning_models() {
    let s = spawn(Flavor::OpenAi, MockConfig::default()).await.unwrap();
    let url = format!("{}/chat/completions", s.base_url());
    let body = |model: &str| {
        json!({"model": model, "reasoning_effort": "low",
        "messages": [{"role": "user", "content": "hi"}]})
    };
    let auth = [("authorization", "Bearer k")];
    let (st, _, t) = post(&url, &auth, &body("gpt-4o")).await;
    assert_eq!(st, 400, "{t}");
    let v: Value = serde_json::from_str(&t).unwrap();
    assert_eq!(v["error"]["param"], "reasoning_effort");
    assert_eq!(v["error"]["code"], "unsupported_parameter");
    let (st, _, _) = post(&url, &auth, &body("o4-mini")).await;
    assert_eq!(st, 200);
}
