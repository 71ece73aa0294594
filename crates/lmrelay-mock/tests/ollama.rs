//! Ollama flavor: NDJSON streaming by default, tools, thinking, errors and the
//! auxiliary endpoints.
#![allow(clippy::unwrap_used)]

mod common;

use common::{client, get, json, parse_ndjson, post};
use lmrelay_mock::{spawn, Flavor, MockConfig, MockServer};
use serde_json::{json, Value};

async fn server() -> MockServer {
    spawn(Flavor::Ollama, MockConfig::default()).await.unwrap()
}

fn chat(s: &MockServer) -> String {
    format!("{}/api/chat", s.base_url())
}

#[tokio::test]
async fn chat_streams_by_default() {
    let s = server().await;
    let b = json!({"model": "llama3.2", "messages": [{"role": "user", "content": "hello world"}]});
    let (st, h, t) = post(&chat(&s), &[], &b).await;
    assert_eq!(st, 200);
    assert_eq!(h["content-type"], "application/x-ndjson");
    let lines = parse_ndjson(&t);
    let (last, body) = lines.split_last().unwrap();
    assert!(body
        .iter()
        .all(|l| l["done"] == false && l["model"] == "llama3.2" && l["created_at"].is_string()));
    let text: String = body
        .iter()
        .filter_map(|l| l["message"]["content"].as_str())
        .collect();
    assert_eq!(text, "echo: hello world");
    assert_eq!(last["done"], true);
    assert_eq!(last["done_reason"], "stop");
    assert_eq!(last["message"]["content"], "");
    assert_eq!(last["prompt_eval_count"], 3);
    assert_eq!(last["eval_count"], 3);
    for k in [
        "total_duration",
        "load_duration",
        "prompt_eval_duration",
        "eval_duration",
    ] {
        assert!(last[k].as_u64().unwrap() > 0, "{k}");
    }

    let mut nb = b.clone();
    nb["stream"] = json!(false);
    nb["options"] = json!({"num_predict": 2});
    let (_, h, t) = post(&chat(&s), &[], &nb).await;
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let v = json(&t);
    assert_eq!(v["message"]["content"], "echo: hello");
    assert_eq!(v["done_reason"], "length");
    assert_eq!(v["done"], true);
}

#[tokio::test]
async fn tool_calls_and_thinking() {
    let s = server().await;
    let b = json!({"model": "qwen3:latest", "think": true,
        "messages": [{"role": "user", "content": "Tokyo"}],
        "tools": [{"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]});
    let lines = parse_ndjson(&post(&chat(&s), &[], &b).await.2);
    let (last, body) = lines.split_last().unwrap();
    let thinking: String = body
        .iter()
        .filter_map(|l| l["message"]["thinking"].as_str())
        .collect();
    assert_eq!(thinking, "Thinking about: Tokyo");
    let call_line = &body[body.len() - 1];
    let call = &call_line["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], json!({"city": "Tokyo"}));
    let id = call["id"].as_str().unwrap();
    assert!(id.starts_with("call_") && id.len() == 13);
    assert_eq!(last["done_reason"], "stop");

    let mut nb = b.clone();
    nb["stream"] = json!(false);
    let v = json(&post(&chat(&s), &[], &nb).await.2);
    assert_eq!(v["message"]["thinking"], "Thinking about: Tokyo");
    assert_eq!(
        v["message"]["tool_calls"][0]["function"]["arguments"]["city"],
        "Tokyo"
    );

    let follow = json!({"model": "llama3.2", "stream": false, "messages": [
        {"role": "user", "content": "Tokyo"},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Tokyo"}}}]},
        {"role": "tool", "content": "11 degrees", "tool_name": "get_weather"}]});
    let v = json(&post(&chat(&s), &[], &follow).await.2);
    assert_eq!(v["message"]["content"], "tool result: 11 degrees");
}

#[tokio::test]
async fn errors() {
    let s = server().await;
    let (st, _, t) = post(&chat(&s), &[], &json!({"model": "mistral", "messages": []})).await;
    assert_eq!(
        (st, json(&t)),
        (404, json!({"error": "model 'mistral' not found"}))
    );
    let (st, _, t) = post(&chat(&s), &[], &json!({"messages": []})).await;
    assert_eq!((st, json(&t)), (400, json!({"error": "model is required"})));
    let bad_args = json!({"model": "llama3.2", "messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": "{\"a\":1}"}}]}]});
    let (st, _, t) = post(&chat(&s), &[], &bad_args).await;
    assert_eq!(st, 400);
    assert!(json(&t)["error"]
        .as_str()
        .unwrap()
        .contains("cannot unmarshal string"));
    let data_url = json!({"model": "llama3.2", "messages": [
        {"role": "user", "content": "x", "images": ["data:image/png;base64,AAAA"]}]});
    let (st, _, t) = post(&chat(&s), &[], &data_url).await;
    assert_eq!(st, 400);
    assert!(json(&t)["error"].is_string());
    let (st, _, _) = post(
        &chat(&s),
        &[],
        &json!({"model": "llama3.2", "messages": []}),
    )
    .await;
    assert_eq!(st, 200, "empty messages just load the model");
}

#[tokio::test]
async fn generate_stream_and_plain() {
    let s = server().await;
    let url = format!("{}/api/generate", s.base_url());
    let lines = parse_ndjson(
        &post(
            &url,
            &[],
            &json!({"model": "llama3.2", "prompt": "hi there"}),
        )
        .await
        .2,
    );
    let text: String = lines
        .iter()
        .filter_map(|l| l["response"].as_str())
        .collect();
    assert_eq!(text, "echo: hi there");
    assert_eq!(lines.last().unwrap()["done"], true);
    assert!(lines.last().unwrap()["context"].is_array());
    let v = json(
        &post(
            &url,
            &[],
            &json!({"model": "qwen3", "prompt": "hi", "stream": false, "think": "high"}),
        )
        .await
        .2,
    );
    assert_eq!(v["response"], "echo: hi");
    assert_eq!(v["thinking"], "Thinking about: hi");
    assert_eq!(v["done_reason"], "stop");
}

#[tokio::test]
async fn auxiliary_endpoints() {
    let s = server().await;
    let (st, _, t) = get(&s.base_url(), &[]).await;
    assert_eq!((st, t.as_str()), (200, "Ollama is running"));
    let head = client().head(s.base_url()).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 200);
    let (_, _, t) = get(&format!("{}/api/version", s.base_url()), &[]).await;
    assert!(json(&t)["version"].is_string());
    let (_, _, t) = get(&format!("{}/api/tags", s.base_url()), &[]).await;
    let v = json(&t);
    let names: Vec<&str> = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["llama3.2:latest", "qwen3:latest", "nomic-embed-text:latest"]
    );
    assert_eq!(v["models"][0]["details"]["format"], "gguf");
    let (st, _, t) = post(
        &format!("{}/api/show", s.base_url()),
        &[],
        &json!({"model": "llama3.2"}),
    )
    .await;
    assert_eq!(st, 200);
    let v = json(&t);
    assert!(v["capabilities"]
        .as_array()
        .unwrap()
        .contains(&json!("tools")));
    assert!(v["model_info"]["llama.context_length"].is_u64());
    let (st, _, _) = post(
        &format!("{}/api/show", s.base_url()),
        &[],
        &json!({"model": "nope"}),
    )
    .await;
    assert_eq!(st, 404);

    let (st, _, t) = post(
        &format!("{}/api/embed", s.base_url()),
        &[],
        &json!({"model": "nomic-embed-text", "input": ["a", "b"]}),
    )
    .await;
    assert_eq!(st, 200);
    let v = json(&t);
    assert_eq!(v["embeddings"].as_array().unwrap().len(), 2);
    let first: Vec<f32> = v["embeddings"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(first, lmrelay_mock::embedding_vector("a", 8));
    assert_eq!(v["prompt_eval_count"], 2);
    let (_, _, t) = post(
        &format!("{}/api/embeddings", s.base_url()),
        &[],
        &json!({"model": "nomic-embed-text", "prompt": "a"}),
    )
    .await;
    assert_eq!(json(&t)["embedding"].as_array().unwrap().len(), 8);
}

#[tokio::test]
async fn unknown_route_is_plain_404() {
    let s = server().await;
    let (st, _, t) = get(&format!("{}/api/nope", s.base_url()), &[]).await;
    assert_eq!((st, t.as_str()), (404, "404 page not found"));
    let _: Value = json("{}");
}

#[tokio::test]
async fn think_is_refused_for_models_that_cannot_think() {
    let s = server().await;
    let (st, _, t) = post(
        &format!("{}/api/chat", s.base_url()),
        &[],
        &json!({"model": "llama3.2", "stream": false, "think": true,
            "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&t).unwrap()["error"],
        "\"llama3.2\" does not support thinking"
    );
}
