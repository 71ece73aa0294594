//! The audit log: one JSON line per request — successes streamed or not, errors, cache hits —
//! with the fields operators need, content only when asked for and capped, never a secret.

mod common;

use common::{Client, Env};
use serde_json::Value;
use std::time::Duration;

fn top(path: &std::path::Path, content: bool) -> String {
    format!(
        "[audit]\npath = \"{}\"\ninclude_content = {content}\nmax_content = 12\n",
        path.display()
    )
}

const EXTRA: &str = r#"
[[routes]]
model = "cached"
targets = ["oa/gpt-4o-mini"]
cache = true
"#;

async fn ask(env: &Env, model: &str, stream: bool) -> u16 {
    let body = Client::OpenAi.chat(model, "a long enough question", stream, false);
    env.post(Client::OpenAi, "/v1/chat/completions", &body)
        .await
        .0
}

async fn lines(path: &std::path::Path, want: usize) -> Vec<Value> {
    for _ in 0..50 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
            .collect();
        if lines.len() >= want {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {want} audit lines");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_line_per_request_with_capped_content() {
    let dir = std::env::temp_dir().join(format!("lmrelay-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("audit.jsonl");
    let env = Env::start_with_top(&top(&path, true), EXTRA).await;
    assert_eq!(ask(&env, "to-openai", false).await, 200);
    assert_eq!(ask(&env, "to-openai", true).await, 200);
    assert_eq!(ask(&env, "no-such-model", false).await, 404);
    assert_eq!(ask(&env, "cached", false).await, 200);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(ask(&env, "cached", false).await, 200);
    let lines = lines(&path, 5).await;
    assert_eq!(lines.len(), 5, "{lines:?}");
    let whole = &lines[0];
    for field in [
        "time",
        "request_id",
        "key",
        "protocol",
        "model",
        "provider",
        "provider_model",
        "upstream_key",
        "attempts",
        "status",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "latency_ms",
        "ttft_ms",
        "cache",
    ] {
        assert!(whole.get(field).is_some(), "{field} missing: {whole}");
    }
    assert_eq!(whole["model"], "to-openai");
    assert_eq!(whole["provider"], "oa");
    assert_eq!(whole["provider_model"], "gpt-4o-mini");
    assert_eq!(whole["status"], 200);
    assert_eq!(whole["attempts"], 1);
    assert!(whole["upstream_key"]
        .as_str()
        .is_some_and(|k| k.starts_with("key_")));
    // Content is capped at 12 bytes.
    assert_eq!(
        whole["prompt"].as_str().map(|p| p.chars().count()),
        Some(13),
        "{whole}"
    );
    assert!(whole["completion"]
        .as_str()
        .is_some_and(|c| c.starts_with("echo: ")));
    let streamed = &lines[1];
    assert_eq!(streamed["result"], "stream");
    assert!(streamed["ttft_ms"].is_number());
    assert!(streamed["completion"]
        .as_str()
        .is_some_and(|c| c.starts_with("echo: ")));
    let failed = &lines[2];
    assert_eq!(failed["status"], 404);
    assert_eq!(failed["result"], "error");
    assert_eq!(lines[3]["cache"], "miss");
    assert_eq!(lines[4]["cache"], "hit");
    assert_eq!(lines[4]["cost_usd"], 0.0);
    let text = std::fs::read_to_string(&path).expect("log");
    assert!(!text.contains("upstream-key"), "no secret in the audit log");
    env.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_is_left_out_unless_asked_for() {
    let dir = std::env::temp_dir().join(format!("lmrelay-audit-off-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("audit.jsonl");
    let env = Env::start_with_top(&top(&path, false), "").await;
    let body = Client::OpenAi.chat("to-openai", "private words", false, false);
    assert_eq!(
        env.post(Client::OpenAi, "/v1/chat/completions", &body)
            .await
            .0,
        200
    );
    // A shutdown writes out what is queued: the line is there at once.
    env.stop().await;
    let text = std::fs::read_to_string(&path).expect("log");
    let line: Value = serde_json::from_str(text.lines().next().expect("one line")).expect("JSON");
    assert!(line.get("prompt").is_none() && line.get("completion").is_none());
    assert!(!text.contains("private"));
    let _ = std::fs::remove_dir_all(&dir);
}
