//! Model discovery: providers that serve any name (`models = ["*"]`) list what their
//! upstream's model list says, in `/v1/models`, Anthropic's list and `/api/tags`, once an
//! active check has read it.

mod common;

use common::Env;
use serde_json::Value;
use std::time::Duration;

const TOP: &str = "[health]\ninterval = \"100ms\"\ntimeout = \"1s\"\n";
const EXTRA: &str = r#"
[[providers]]
name = "any-anthropic"
type = "anthropic"
base_url = "ANTHROPIC_URL"
keys = ["upstream-key"]
models = ["*"]

[[providers]]
name = "any-ollama"
type = "ollama"
base_url = "OLLAMA_URL"
models = ["*"]
"#;

fn ids(v: &Value, list: &str, field: &str) -> Vec<String> {
    v[list]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m[field].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_providers_list_what_their_upstream_lists() {
    let env = Env::start_with_top(TOP, EXTRA).await;
    // `claude-sonnet-4-5` is in the Anthropic mock's list and nowhere in the config.
    let mut listed = Vec::new();
    for _ in 0..50 {
        let (_, bytes) = env.get("/v1/models", &[]).await;
        listed = ids(&serde_json::from_slice(&bytes).expect("JSON"), "data", "id");
        if listed.iter().any(|m| m == "claude-sonnet-4-5")
            && listed.iter().any(|m| m == "qwen3:latest")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        listed.iter().any(|m| m == "claude-sonnet-4-5"),
        "{listed:?}"
    );
    assert!(listed.iter().any(|m| m == "qwen3:latest"), "{listed:?}");
    assert_eq!(
        listed
            .iter()
            .filter(|m| *m == "claude-3-5-haiku-latest")
            .count(),
        1,
        "configured and discovered names are listed once"
    );
    let (_, bytes) = env.get("/api/tags", &[]).await;
    let tags = ids(
        &serde_json::from_slice(&bytes).expect("JSON"),
        "models",
        "name",
    );
    assert!(
        tags.iter().any(|m| m.starts_with("claude-sonnet-4-5")),
        "{tags:?}"
    );
    let (_, bytes) = env
        .get("/v1/models", &[("anthropic-version", "2023-06-01")])
        .await;
    let anthropic = ids(&serde_json::from_slice(&bytes).expect("JSON"), "data", "id");
    assert!(
        anthropic.iter().any(|m| m == "claude-sonnet-4-5"),
        "{anthropic:?}"
    );
    env.stop().await;
}
