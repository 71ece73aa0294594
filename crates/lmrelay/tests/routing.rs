//! Routing policy: the weighted, latency and cheapest strategies; data residency by header
//! and by key; policy rules; the routing script and its fallback.

mod common;

use common::{Client, Env, CLIENTS};
use std::collections::HashMap;

/// Providers over the three mocks with regions and prices, routes with each strategy, keys
/// and rules.
const EXTRA: &str = r#"
[[providers]]
name = "eu-oa"
type = "openai"
base_url = "OPENAI_URL"
keys = ["upstream-key"]
models = ["gpt-4o-mini"]
region = "eu"
prices = { "gpt-4o-mini" = { input = 0.15, output = 0.60 } }

[[providers]]
name = "us-an"
type = "anthropic"
base_url = "ANTHROPIC_URL"
keys = ["upstream-key"]
models = ["claude-3-5-haiku-latest"]
region = "us"
prices = { "claude-*" = { input = 0.80, output = 4.00 } }

[[routes]]
model = "weighted"
targets = [{ target = "eu-oa/gpt-4o-mini", weight = 3 }, { target = "us-an/claude-3-5-haiku-latest", weight = 1 }]
strategy = "weighted"

[[routes]]
model = "fastest"
targets = ["eu-oa/gpt-4o-mini", "us-an/claude-3-5-haiku-latest"]
strategy = "latency"

[[routes]]
model = "cheapest"
targets = ["us-an/claude-3-5-haiku-latest", "eu-oa/gpt-4o-mini"]
strategy = "cheapest"

[[routes]]
model = "embed-anywhere"
targets = ["oa/text-embedding-3-small"]

[[routes]]
model = "anywhere"
targets = ["us-an/claude-3-5-haiku-latest", "eu-oa/gpt-4o-mini"]

[[keys]]
name = "eu-team"
key = "eu-key"
models = ["*"]
regions = ["eu"]

[[keys]]
name = "batch-1"
key = "batch-key"
models = ["*"]

[[keys]]
name = "open"
key = "open-key"
models = ["*"]

[[rules]]
name = "strict compliance stays in the EU"
match = { header = { "x-compliance" = "strict" } }
regions = ["eu"]

[[rules]]
name = "batch keys go cheapest"
match = { key = "batch-*", model = "anywhere" }
strategy = "cheapest"

[[rules]]
name = "ollama clients of the pinned model go to the EU target"
match = { protocol = "ollama", model = "pinned" }
targets = ["eu-oa/gpt-4o-mini"]
"#;

/// Breakers stay closed here: these tests fail targets on purpose and count where traffic
/// goes.
const TOP: &str = "[health]\ninterval = \"0s\"\nfailure_threshold = 1000\nexploration = 0.1\n";

/// Sends a chat request with a gateway key and extra headers.
async fn ask(
    env: &Env,
    client: Client,
    key: &str,
    model: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let body = client.chat(model, "hi", false, false);
    let mut req = env
        .http
        .post(format!("{}{}", env.url, client.path()))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if client == Client::Anthropic {
        req = req.header("anthropic-version", "2023-06-01");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("gateway answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.expect("body").to_vec())
}

fn provider(got: &(u16, reqwest::header::HeaderMap, Vec<u8>)) -> String {
    assert_eq!(got.0, 200, "{}", String::from_utf8_lossy(&got.2));
    got.1["x-lmrelay-provider"]
        .to_str()
        .expect("ascii")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_spreads_traffic_by_weight() {
    let env = Env::start_with_top(TOP, EXTRA).await;
    let mut counts: HashMap<String, u32> = HashMap::new();
    for i in 0..1000 {
        let client = CLIENTS[i % 3];
        let got = ask(&env, client, "open-key", "weighted", &[]).await;
        *counts.entry(provider(&got)).or_default() += 1;
    }
    println!("weighted 3:1 over 1000 requests: {counts:?}");
    let eu = counts.get("eu-oa").copied().unwrap_or(0) as f64;
    assert!((eu / 1000.0 - 0.75).abs() <= 0.05, "{counts:?}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_prefers_the_faster_provider_and_notices_a_change() {
    let env = Env::start_with_top(TOP, EXTRA).await;
    env.anthropic.faults().set_latency_ms(60);
    let mut first: HashMap<String, u32> = HashMap::new();
    for _ in 0..60 {
        let got = ask(&env, Client::OpenAi, "open-key", "fastest", &[]).await;
        *first.entry(provider(&got)).or_default() += 1;
    }
    // Now the other one is faster.
    env.anthropic.faults().set_latency_ms(0);
    env.openai.faults().set_latency_ms(60);
    for _ in 0..20 {
        ask(&env, Client::OpenAi, "open-key", "fastest", &[]).await;
    }
    let mut after: HashMap<String, u32> = HashMap::new();
    for _ in 0..60 {
        let got = ask(&env, Client::OpenAi, "open-key", "fastest", &[]).await;
        *after.entry(provider(&got)).or_default() += 1;
    }
    println!("latency: before {first:?}, after the change {after:?}");
    assert!(first.get("eu-oa").copied().unwrap_or(0) >= 45, "{first:?}");
    assert!(after.get("us-an").copied().unwrap_or(0) >= 45, "{after:?}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cheapest_picks_the_cheaper_target_and_falls_back_to_the_dearer() {
    let env = Env::start_with_top(TOP, EXTRA).await;
    for client in CLIENTS {
        let got = ask(&env, client, "open-key", "cheapest", &[]).await;
        assert_eq!(provider(&got), "eu-oa", "{client:?}");
    }
    env.openai.faults().fail_next(503, 3, None);
    for client in CLIENTS {
        let got = ask(&env, client, "open-key", "cheapest", &[]).await;
        assert_eq!(
            provider(&got),
            "us-an",
            "{client:?}: the dearer one when the cheap fails"
        );
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn residency_by_header_and_by_key_never_falls_back_outside_the_region() {
    let env = Env::start_with_top(TOP, EXTRA).await;
    for client in CLIENTS {
        // Unrestricted: config order.
        let got = ask(&env, client, "open-key", "anywhere", &[]).await;
        assert_eq!(provider(&got), "us-an");
        // By header.
        let got = ask(
            &env,
            client,
            "open-key",
            "anywhere",
            &[("x-lmrelay-region", "eu")],
        )
        .await;
        assert_eq!(provider(&got), "eu-oa", "{client:?}");
        // By key.
        let got = ask(&env, client, "eu-key", "anywhere", &[]).await;
        assert_eq!(provider(&got), "eu-oa", "{client:?}");
        // The EU provider down: no fallback to the US one.
        env.anthropic.clear_requests();
        env.openai.faults().fail_next(503, 1, Some(1));
        let (status, _, bytes) = ask(&env, client, "eu-key", "anywhere", &[]).await;
        assert_eq!(
            status,
            503,
            "{client:?}: {}",
            String::from_utf8_lossy(&bytes)
        );
        assert!(
            env.anthropic.requests().is_empty(),
            "never outside the region"
        );
        // A region nothing serves: 403 naming it.
        let (status, _, bytes) = ask(
            &env,
            client,
            "open-key",
            "anywhere",
            &[("x-lmrelay-region", "ap")],
        )
        .await;
        assert_eq!(status, 403);
        assert!(client.error_message(&bytes).contains("ap"), "{client:?}");
        // Header and key together narrow, never widen.
        let (status, _, _) = ask(
            &env,
            client,
            "eu-key",
            "anywhere",
            &[("x-lmrelay-region", "us")],
        )
        .await;
        assert_eq!(status, 403, "{client:?}");
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_reroute_matching_requests_and_leave_the_rest_alone() {
    let env = Env::start_with_top(TOP, EXTRA).await;
    for client in CLIENTS {
        // Matched by header: residency added.
        let got = ask(
            &env,
            client,
            "open-key",
            "anywhere",
            &[("x-compliance", "strict")],
        )
        .await;
        assert_eq!(provider(&got), "eu-oa", "{client:?}");
        let got = ask(
            &env,
            client,
            "open-key",
            "anywhere",
            &[("x-compliance", "relaxed")],
        )
        .await;
        assert_eq!(provider(&got), "us-an", "{client:?}");
        // Matched by key: cheapest instead of failover.
        let got = ask(&env, client, "batch-key", "anywhere", &[]).await;
        assert_eq!(provider(&got), "eu-oa", "{client:?}");
        let got = ask(&env, client, "open-key", "anywhere", &[]).await;
        assert_eq!(provider(&got), "us-an", "{client:?}");
    }
    // Matched by protocol: a rule can route a name no route publishes.
    let got = ask(&env, Client::Ollama, "open-key", "pinned", &[]).await;
    assert_eq!(provider(&got), "eu-oa");
    let (status, _, _) = ask(&env, Client::OpenAi, "open-key", "pinned", &[]).await;
    assert_eq!(status, 404, "the rule is for Ollama clients only");
    env.stop().await;
}

const SCRIPT: &str = r#"
// Reverses the order when asked to, fails when asked to, and otherwise keeps it.
fn route(ctx) {
    let how = ctx.headers["x-route"];
    if how == "reverse" {
        let out = [];
        for c in ctx.candidates {
            out.insert(0, c.target);
        }
        return out;
    }
    if how == "fail" {
        throw "asked to fail";
    }
    if how == "unknown" {
        return ["nowhere/none"];
    }
    ctx.candidates.map(|c| c.target)
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_reroutes_and_a_failing_script_falls_back() {
    let dir = std::env::temp_dir().join(format!("lmrelay-script-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("route.rhai");
    std::fs::write(&path, SCRIPT).expect("script");
    let top = format!(
        "{TOP}[routing]\nscript = \"{}\"\nscript_timeout = \"50ms\"\n",
        path.display()
    );
    let env = Env::start_with_top(&top, EXTRA).await;
    for client in CLIENTS {
        let got = ask(
            &env,
            client,
            "open-key",
            "anywhere",
            &[("x-route", "reverse")],
        )
        .await;
        assert_eq!(
            provider(&got),
            "eu-oa",
            "{client:?}: the script reversed the order"
        );
        let got = ask(&env, client, "open-key", "anywhere", &[]).await;
        assert_eq!(provider(&got), "us-an", "{client:?}: left alone");
        for failing in ["fail", "unknown"] {
            let got = ask(
                &env,
                client,
                "open-key",
                "anywhere",
                &[("x-route", failing)],
            )
            .await;
            assert_eq!(provider(&got), "us-an", "{client:?}: {failing} falls back");
        }
    }
    env.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_keep_to_the_allowed_regions_too() {
    let env = Env::start_with_top(TOP, EXTRA).await;
    let embed = |key: &'static str| {
        env.http
            .post(format!("{}/v1/embeddings", env.url))
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(r#"{"model": "embed-anywhere", "input": "alpha"}"#)
            .send()
    };
    let open = embed("open-key").await.expect("answer");
    assert_eq!(open.status(), 200);
    // `oa` has no region: an EU-only key may not send text there.
    let eu = embed("eu-key").await.expect("answer");
    assert_eq!(eu.status(), 403);
    assert!(eu.text().await.expect("body").contains("eu"));
    env.stop().await;
}
