//! Two gateways sharing one Redis (`store.backend = "redis"`): a gateway key's limits count
//! across both, usage recorded by one is reported by the other, a key created through one
//! replica's admin API works on the other, an answer cached by one is a hit on the other, and
//! an upstream key cooled through one is skipped by the other, as is a provider whose breaker
//! one of them opened.

mod common;

use common::{Client, Env};
use serde_json::json;
use std::time::Duration;

fn top(prefix: &str) -> String {
    format!(
        "[admin]\ntoken = \"admin-token\"\n[store]\nbackend = \"redis\"\nurl = \"redis://127.0.0.1:6379/0\"\nprefix = \"{prefix}\"\n"
    )
}

const EXTRA: &str = r#"
[[routes]]
model = "cached"
targets = ["oa/gpt-4o-mini"]
cache = true

[[keys]]
name = "shared"
key = "shared-key"
models = ["*"]
rpm = 3
"#;

async fn ask_model(env: &Env, key: &str, model: &str) -> u16 {
    env.http
        .post(format!("{}/v1/chat/completions", env.url))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Client::OpenAi.chat(model, "hi", false, false).to_string())
        .send()
        .await
        .expect("answer")
        .status()
        .as_u16()
}

async fn ask(env: &Env, key: &str) -> u16 {
    env.http
        .post(format!("{}/v1/chat/completions", env.url))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(
            Client::OpenAi
                .chat("to-openai", "hi", false, false)
                .to_string(),
        )
        .send()
        .await
        .expect("answer")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_usage_and_keys_are_shared_through_redis() {
    let prefix = format!(
        "lmrelay-replicas-{}-{}:",
        std::process::id(),
        lmrelay::now_ms()
    );
    let a = Env::start_with_top(&top(&prefix), EXTRA).await;
    let b = Env::start_with_top(&top(&prefix), EXTRA).await;
    // rpm = 3 across both replicas.
    assert_eq!(ask(&a, "shared-key").await, 200);
    assert_eq!(ask(&b, "shared-key").await, 200);
    assert_eq!(ask(&a, "shared-key").await, 200);
    assert_eq!(
        ask(&b, "shared-key").await,
        429,
        "the fourth request, wherever it lands"
    );
    // Usage written by A is read by B.
    let mut seen = 0;
    for _ in 0..40 {
        let usage = b.get_admin("/admin/usage?key=shared").await;
        seen = usage["total"]["requests"].as_i64().unwrap_or(0);
        if seen >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, 3, "both replicas' usage in one report");
    // A key created on A works on B (B re-reads keys every second).
    let (status, created) = a
        .post_admin(
            "/admin/keys",
            &json!({"name": "made-on-a", "models": ["*"]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["key"].as_str().expect("secret").to_owned();
    let mut ok = false;
    for _ in 0..40 {
        if ask(&b, &secret).await == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "the key created on A is accepted by B");
    // An answer cached through A is a hit on B (same key, same question).
    let ask_cached = |env: &Env, secret: &str| {
        env.http
            .post(format!("{}/v1/chat/completions", env.url))
            .header("authorization", format!("Bearer {secret}"))
            .header("content-type", "application/json")
            .body(
                Client::OpenAi
                    .chat("cached", "shared answer", false, false)
                    .to_string(),
            )
            .send()
    };
    let first = ask_cached(&a, &secret).await.expect("answer");
    assert_eq!(first.headers()["x-lmrelay-cache"], "miss");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = ask_cached(&b, &secret).await.expect("answer");
    assert_eq!(second.status(), 200);
    assert_eq!(
        second.headers()["x-lmrelay-cache"],
        "hit",
        "A's entry served by B"
    );
    // An upstream key cooled by a 429 through A is skipped by B (both use the same key, each
    // against its own mock).
    a.openai.faults().fail_next(429, 1, Some(30));
    assert_eq!(ask_model(&a, &secret, "to-openai").await, 503);
    b.openai.clear_requests();
    let mut skipped = false;
    for _ in 0..40 {
        if ask_model(&b, &secret, "to-openai").await == 503 {
            skipped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(skipped, "B learnt that the key cools");
    b.openai.clear_requests();
    assert_eq!(ask_model(&b, &secret, "to-openai").await, 503);
    assert!(
        b.openai.requests().iter().all(|r| r.method != "POST"),
        "B sends nothing with the cooling key"
    );
    // A rotation through either replica clears the mark for both.
    let (status, _) = b
        .post_admin("/admin/keys/rotate", &json!({"provider": "oa"}))
        .await;
    assert_eq!(status, 200);
    a.post_admin("/admin/keys/rotate", &json!({"provider": "oa"}))
        .await;
    assert_eq!(ask_model(&b, &secret, "to-openai").await, 200);
    // A provider A's breaker opened for is skipped by B too.
    a.anthropic.faults().fail_next(500, 3, None);
    for _ in 0..3 {
        assert_eq!(ask_model(&a, &secret, "to-anthropic").await, 503);
    }
    let mut merged = false;
    for _ in 0..40 {
        let providers = b.get_admin("/admin/providers").await;
        let an = providers["providers"]
            .as_array()
            .expect("list")
            .iter()
            .find(|p| p["name"] == "an")
            .cloned()
            .unwrap_or_default();
        if an["breaker"] == "open" {
            merged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        merged,
        "B opened its breaker for the provider A found failing"
    );
    a.stop().await;
    b.stop().await;
    // Leave nothing behind in the shared Redis.
    let store = lmrelay::store::RedisStore::connect(
        "redis://127.0.0.1:6379/0",
        &prefix,
        Duration::from_secs(2),
    )
    .await
    .expect("redis");
    use lmrelay::store::StateStore;
    for (k, _) in store.scan("").await.unwrap_or_default() {
        let _ = store.delete(&k).await;
    }
    // In Redis counters and records share one keyspace: DEL removes both.
    for (k, _) in store.scan_counters("").await.unwrap_or_default() {
        let _ = store.delete(&k).await;
    }
}
