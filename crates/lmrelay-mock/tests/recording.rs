//! Request recording can be turned off (for load tests) and on again.
#![allow(clippy::unwrap_used)]

mod common;

use common::post;
use lmrelay_mock::{spawn, Flavor, MockConfig};
use serde_json::json;

#[tokio::test]
async fn recording_off_keeps_nothing_and_answers_the_same() {
    let s = spawn(Flavor::OpenAi, MockConfig::default()).await.unwrap();
    let url = format!("{}/chat/completions", s.base_url());
    let auth = [("authorization", "Bearer sk-test")];
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});

    s.set_recording(false);
    let (status, _, text) = post(&url, &auth, &body).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("echo: hi"), "{text}");
    assert!(s.requests().is_empty());

    s.set_recording(true);
    let (status, _, _) = post(&url, &auth, &body).await;
    assert_eq!(status, 200);
    assert_eq!(s.requests().len(), 1);
}
