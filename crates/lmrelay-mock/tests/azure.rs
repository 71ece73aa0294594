//! Azure flavor: deployment and v1 URLs, api-version and api-key checks, the empty-choices
//! first chunk, filter annotations, content-filter faults, embeddings and models.
#![allow(clippy::unwrap_used)]

mod common;

use common::{get, json, parse_sse, post};
use lmrelay_mock::{spawn, Flavor, MockConfig, MockServer};
use serde_json::{json, Value};

const KEY: (&str, &str) = ("api-key", "az-key");

async fn server() -> MockServer {
    spawn(
        Flavor::Azure,
        MockConfig {
            keys: vec!["az-key".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

fn chat_url(s: &MockServer, deployment: &str) -> String {
    format!(
        "{}/openai/deployments/{deployment}/chat/completions?api-version=2024-10-21",
        s.base_url()
    )
}

fn body(extra: Value) -> Value {
    let mut b = json!({"messages": [{"role": "user", "content": "hello world"}]});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

#[tokio::test]
async fn deployment_urls_answer_with_filter_results() {
    let s = server().await;
    let (st, _, t) = post(&chat_url(&s, "gpt4o-prod"), &[KEY], &body(json!({}))).await;
    assert_eq!(st, 200, "{t}");
    let v = json(&t);
    assert_eq!(v["model"], "gpt4o-prod");
    assert_eq!(v["choices"][0]["message"]["content"], "echo: hello world");
    assert!(v["prompt_filter_results"][0]["content_filter_results"].is_object());
    assert!(v["choices"][0]["content_filter_results"]["hate"].is_object());
    // The body's model is ignored on deployment URLs.
    let (st, _, _) = post(
        &chat_url(&s, "gpt4o-prod"),
        &[KEY],
        &body(json!({"model": "whatever"})),
    )
    .await;
    assert_eq!(st, 200);
    let (st, _, t) = post(&chat_url(&s, "nope"), &[KEY], &body(json!({}))).await;
    assert_eq!(st, 404);
    assert_eq!(json(&t)["error"]["code"], "DeploymentNotFound");
    let v1 = format!("{}/openai/v1/chat/completions", s.base_url());
    let (st, _, t) = post(&v1, &[KEY], &body(json!({"model": "gpt-4o"}))).await;
    assert_eq!(st, 200, "{t}");
    let (st, _, _) = post(&v1, &[KEY], &body(json!({}))).await;
    assert_eq!(st, 400, "v1 needs the model in the body");
}

#[tokio::test]
async fn api_version_and_auth_are_checked() {
    let s = server().await;
    let no_version = format!(
        "{}/openai/deployments/gpt-4o/chat/completions",
        s.base_url()
    );
    let (st, _, t) = post(&no_version, &[KEY], &body(json!({}))).await;
    assert_eq!(
        (st, json(&t)["error"]["message"].as_str()),
        (404, Some("Resource not found"))
    );
    let (st, _, _) = post(
        &format!("{no_version}?api-version=latest"),
        &[KEY],
        &body(json!({})),
    )
    .await;
    assert_eq!(st, 400);
    let (st, _, t) = post(&chat_url(&s, "gpt-4o"), &[], &body(json!({}))).await;
    assert_eq!(st, 401);
    assert!(json(&t)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("missing subscription key"));
    let (st, _, _) = post(
        &chat_url(&s, "gpt-4o"),
        &[("api-key", "wrong")],
        &body(json!({})),
    )
    .await;
    assert_eq!(st, 401);
    let (st, _, _) = post(
        &chat_url(&s, "gpt-4o"),
        &[("authorization", "Bearer az-key")],
        &body(json!({})),
    )
    .await;
    assert_eq!(st, 200, "an Entra bearer token is accepted too");
    let req = s.last_request().unwrap();
    assert_eq!(req.query.as_deref(), Some("api-version=2024-10-21"));
}

#[tokio::test]
async fn streams_begin_with_an_empty_choices_chunk() {
    let s = server().await;
    let (st, _, t) = post(
        &chat_url(&s, "gpt-4o"),
        &[KEY],
        &body(json!({"stream": true, "stream_options": {"include_usage": true}})),
    )
    .await;
    assert_eq!(st, 200);
    let events = parse_sse(&t);
    let first = events[0].json();
    assert_eq!(first["choices"], json!([]));
    assert_eq!(first["id"], "");
    assert!(first["prompt_filter_results"].is_array());
    let text: String = events[1..]
        .iter()
        .filter(|e| e.data != "[DONE]")
        .filter_map(|e| {
            e.json()["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "echo: hello world");
    assert_eq!(events.last().unwrap().data, "[DONE]");
}

#[tokio::test]
async fn content_filter_faults() {
    let s = server().await;
    s.faults().fail_next_typed(400, 1, None, "content_filter");
    let (st, _, t) = post(&chat_url(&s, "gpt-4o"), &[KEY], &body(json!({}))).await;
    assert_eq!(st, 400);
    let e = &json(&t)["error"];
    assert_eq!(e["code"], "content_filter");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("content management policy"));
    s.faults().fail_next_typed(200, 1, None, "content_filter");
    let (st, _, t) = post(&chat_url(&s, "gpt-4o"), &[KEY], &body(json!({}))).await;
    assert_eq!(st, 200);
    assert_eq!(json(&t)["choices"][0]["finish_reason"], "content_filter");
    s.faults().fail_next_typed(200, 1, None, "content_filter");
    let (_, _, t) = post(
        &chat_url(&s, "gpt-4o"),
        &[KEY],
        &body(json!({"stream": true})),
    )
    .await;
    let events = parse_sse(&t);
    assert_eq!(events[0].json()["choices"], json!([]));
    assert_eq!(
        events[2].json()["choices"][0]["finish_reason"],
        "content_filter"
    );
    s.faults().fail_next(429, 1, Some(3));
    let (st, h, t) = post(&chat_url(&s, "gpt-4o"), &[KEY], &body(json!({}))).await;
    assert_eq!(st, 429);
    assert_eq!(h["retry-after"], "3");
    assert_eq!(h["retry-after-ms"], "3000");
    assert_eq!(json(&t)["error"]["code"], "429");
}

#[tokio::test]
async fn embeddings_and_models() {
    let s = server().await;
    let url = format!(
        "{}/openai/deployments/text-embedding-3-small/embeddings?api-version=2024-10-21",
        s.base_url()
    );
    let (st, _, t) = post(&url, &[KEY], &json!({"input": ["a", "b"]})).await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(json(&t)["data"].as_array().unwrap().len(), 2);
    let (st, _, t) = get(
        &format!("{}/openai/models?api-version=2024-10-21", s.base_url()),
        &[KEY],
    )
    .await;
    assert_eq!(st, 200);
    assert!(json(&t)["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "gpt4o-prod"));
    let (st, _, _) = get(&format!("{}/openai/v1/models", s.base_url()), &[KEY]).await;
    assert_eq!(st, 200);
}
