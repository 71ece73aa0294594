//! `/metrics` after traffic that exercises success, failover, a key cooldown, a rate limit
//! and a cache hit: every `lmrelay_` family of product.md with its labels, the overhead and
//! time-to-first-token histograms, bounded model labels, and no secret anywhere.

mod common;

use common::{Client, Env};
use serde_json::json;

const TOP: &str =
    "[admin]\ntoken = \"admin-token\"\n[health]\ninterval = \"0s\"\nfailure_threshold = 1000\n";
const EXTRA: &str = r#"
[[providers]]
name = "priced"
type = "openai"
base_url = "OPENAI_URL"
keys = ["upstream-key"]
models = ["gpt-4o-mini", "*"]
prices = { "gpt-4o-mini" = { input = 1.0, output = 2.0 } }

[[routes]]
model = "chain"
targets = ["priced/gpt-4o-mini", "an/claude-3-5-haiku-latest"]
cache = true

[[keys]]
name = "team"
key = "team-secret-key"
models = ["*"]
rpm = 5
"#;

async fn ask(env: &Env, model: &str, text: &str, stream: bool) -> u16 {
    let body = Client::OpenAi.chat(model, text, stream, false);
    let resp = env
        .http
        .post(format!("{}/v1/chat/completions", env.url))
        .header("authorization", "Bearer team-secret-key")
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("answer");
    let status = resp.status().as_u16();
    let _ = resp.bytes().await;
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_family_is_exposed_with_bounded_labels_and_no_secret() {
    let env = Env::start_with_top(TOP, EXTRA).await;
    assert_eq!(ask(&env, "chain", "hello", false).await, 200);
    assert_eq!(ask(&env, "chain", "stream", true).await, 200);
    // A cache hit.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(ask(&env, "chain", "hello", false).await, 200);
    // A name no route publishes (the upstream does not know it either): labelled `other`.
    let _ = ask(&env, "made-up-model-123", "x", false).await;
    // Failover with a key cooldown: the priced key is rate limited, Anthropic serves.
    env.openai.faults().fail_next(429, 1, Some(30));
    assert_eq!(ask(&env, "chain", "failover", false).await, 200);
    // Over the key's rpm.
    let mut limited = false;
    for i in 0..6 {
        if ask(&env, "chain", &format!("more {i}"), false).await == 429 {
            limited = true;
        }
    }
    assert!(limited);
    let (status, bytes) = env.get("/metrics", &[]).await;
    assert_eq!(status, 200);
    let text = String::from_utf8(bytes).expect("utf-8");
    for family in [
        "lmrelay_requests_total{",
        "lmrelay_request_duration_seconds_bucket{",
        "lmrelay_time_to_first_token_seconds_bucket{",
        "lmrelay_gateway_overhead_seconds_bucket{",
        "lmrelay_upstream_attempts_total{",
        "lmrelay_tokens_total{",
        "lmrelay_cost_usd_total{",
        "lmrelay_provider_healthy{",
        "lmrelay_upstream_key_available{",
        "lmrelay_cache_requests_total{",
        "lmrelay_rate_limited_total{",
    ] {
        assert!(text.contains(family), "{family} missing:\n{text}");
    }
    for line in [
        r#"lmrelay_requests_total{protocol="openai",model="chain",provider="priced",status="200"}"#,
        r#"lmrelay_requests_total{protocol="openai",model="chain",provider="an",status="200"}"#,
        r#"lmrelay_requests_total{protocol="openai",model="other",provider="priced",status="404"}"#,
        r#"lmrelay_upstream_attempts_total{provider="priced",outcome="rate_limited"}"#,
        r#"lmrelay_upstream_attempts_total{provider="an",outcome="ok"}"#,
        r#"lmrelay_tokens_total{provider="priced",model="gpt-4o-mini",kind="input"}"#,
        r#"lmrelay_cost_usd_total{provider="priced",model="gpt-4o-mini",key="team"}"#,
        r#"lmrelay_cache_requests_total{result="hit"} 1"#,
        r#"lmrelay_rate_limited_total{key="team",limit="rpm"}"#,
        r#"lmrelay_time_to_first_token_seconds_count{provider="priced"} 1"#,
    ] {
        assert!(text.contains(line), "{line} missing:\n{text}");
    }
    assert!(
        text.contains(r#"lmrelay_requests_total{protocol="openai",model="chain",provider="priced",status="429"}"#)
            || text.contains(r#"lmrelay_requests_total{protocol="openai",model="chain",provider="",status="429"}"#),
        "the refused request is counted:\n{text}"
    );
    // The cooled key is unavailable, shown by its id only.
    assert!(text.contains(r#"lmrelay_upstream_key_available{provider="priced",key="key_"#));
    assert!(
        !text.contains("made-up-model-123"),
        "unknown names are folded into `other`"
    );
    for secret in ["upstream-key", "team-secret-key", "admin-token"] {
        assert!(!text.contains(secret), "{secret} leaked into /metrics");
    }
    // The config as it serves, without a secret.
    let config = env.get_admin("/admin/config").await;
    let shown = config.to_string();
    assert!(
        config["providers"].as_array().is_some_and(|p| p.len() >= 4),
        "{shown}"
    );
    assert_eq!(config["admin_token"], "set");
    assert!(shown.contains("\"key_"), "upstream keys by id: {shown}");
    for secret in ["upstream-key", "team-secret-key", "admin-token"] {
        assert!(
            !shown.contains(secret),
            "{secret} leaked into /admin/config"
        );
    }
    // The admin API describes itself.
    let openapi = env.get_admin("/admin/openapi.json").await;
    assert!(openapi["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.")));
    assert!(openapi["paths"]["/admin/keys"].is_object());
    // The admin view and the metrics agree on the cooled key.
    let providers = env.get_admin("/admin/providers").await;
    let priced = providers["providers"]
        .as_array()
        .expect("list")
        .iter()
        .find(|p| p["name"] == "priced")
        .cloned()
        .unwrap_or(json!(null));
    assert_eq!(priced["keys"][0]["state"], "cooling");
    env.stop().await;
}
