//! Resilience: every upstream failure kind fails over before the client sees a byte; every
//! candidate down gives 503 (504 when all timed out) in each client's shape; breakers open,
//! skip a failing provider and close again after a probe; active checks find a dead provider
//! with no client traffic; `/readyz` follows health.

mod common;

use common::{Client, Env, CLIENTS};
use lmrelay::config::{parse_str, Format};
use lmrelay::Gateway;
use lmrelay_mock::{spawn, Flavor, MockConfig};
use std::time::Duration;

/// A port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// `flaky` is the OpenAI mock with short time limits; `dead` refuses connections; `slow-an`
/// is the Anthropic mock with a short head limit.
fn extra(dead_port: u16) -> String {
    format!(
        r#"
[[providers]]
name = "flaky"
type = "openai"
base_url = "OPENAI_URL"
keys = ["upstream-key"]
models = ["gpt-4o-mini"]
header_timeout = "400ms"
first_token_timeout = "800ms"
timeout = "5s"

[[providers]]
name = "dead"
type = "openai"
base_url = "http://127.0.0.1:{dead_port}/v1"
keys = ["k"]
models = ["gpt-4o-mini"]
connect_timeout = "500ms"

[[routes]]
model = "chain"
targets = ["flaky/gpt-4o-mini", "an/claude-3-5-haiku-latest"]

[[routes]]
model = "refused-chain"
targets = ["dead/gpt-4o-mini", "an/claude-3-5-haiku-latest"]
"#
    )
}

/// Sends `model` through `client` and returns status, headers and body.
async fn ask(
    env: &Env,
    client: Client,
    model: &str,
    stream: bool,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let body = client.chat(model, "hi", stream, false);
    env.post(client, client.path(), &body).await
}

/// Asserts a success served by `provider` with the full answer.
fn served_by(
    client: Client,
    stream: bool,
    (status, headers, bytes): &(u16, reqwest::header::HeaderMap, Vec<u8>),
    provider: &str,
    what: &str,
) {
    assert_eq!(
        *status,
        200,
        "{what} ({client:?}, stream={stream}): {}",
        String::from_utf8_lossy(bytes)
    );
    assert_eq!(
        headers["x-lmrelay-provider"], provider,
        "{what} ({client:?})"
    );
    let answer = if stream {
        client.stream(bytes)
    } else {
        client.answer(bytes)
    };
    assert_eq!(
        answer.text, "echo: hi",
        "{what} ({client:?}, stream={stream})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_kind_fails_over_before_the_first_byte() {
    let top =
        "[admin]\ntoken = \"admin-token\"\n[health]\ninterval = \"0s\"\nfailure_threshold = 1000\n";
    let env = Env::start_with_top(top, &extra(closed_port())).await;
    let oa = env.openai.faults();
    // (name, set the fault, streamed requests only)
    type Setup = fn(&lmrelay_mock::Faults);
    let kinds: [(&str, Setup, bool); 8] = [
        ("500", |f| f.fail_next(500, 1000, None), false),
        ("503", |f| f.fail_next(503, 1000, None), false),
        ("529", |f| f.fail_next(529, 1000, None), false),
        ("429", |f| f.fail_next(429, 1000, Some(1)), false),
        ("timeout before the head", |f| f.set_latency_ms(1500), false),
        (
            "stall before the first token",
            |f| f.set_event_delay_ms(3000),
            true,
        ),
        (
            "in-stream error before content",
            |f| f.set_stream_error_after(Some(1)),
            true,
        ),
        ("dropped stream", |f| f.set_drop_after_events(Some(1)), true),
    ];
    for (what, setup, stream_only) in kinds {
        for client in CLIENTS {
            for stream in [false, true] {
                if stream_only && !stream {
                    continue;
                }
                oa.reset();
                setup(oa);
                // A 429 cools the key; start each request with it usable again.
                env.post_admin(
                    "/admin/keys/rotate",
                    &serde_json::json!({"provider": "flaky"}),
                )
                .await;
                let got = ask(&env, client, "chain", stream).await;
                served_by(client, stream, &got, "an", what);
                assert_eq!(got.1["x-lmrelay-attempts"], "2", "{what}");
            }
        }
    }
    oa.reset();
    // A refused connection.
    for client in CLIENTS {
        for stream in [false, true] {
            let got = ask(&env, client, "refused-chain", stream).await;
            served_by(client, stream, &got, "an", "refused connection");
        }
    }
    // Healthy again: the first candidate serves, in one attempt.
    let got = ask(&env, Client::OpenAi, "chain", false).await;
    served_by(Client::OpenAi, false, &got, "flaky", "recovered");
    assert_eq!(got.1["x-lmrelay-attempts"], "1");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_candidate_down_is_503_with_retry_after_or_504_when_all_timed_out() {
    let top = "[health]\ninterval = \"0s\"\nfailure_threshold = 1000\n";
    let slow = r#"
[[providers]]
name = "slow-an"
type = "anthropic"
base_url = "ANTHROPIC_URL"
keys = ["upstream-key"]
models = ["claude-3-5-haiku-latest"]
header_timeout = "300ms"

[[routes]]
model = "slow-chain"
targets = ["flaky/gpt-4o-mini", "slow-an/claude-3-5-haiku-latest"]
"#
    .replace("ANTHROPIC_URL", "ANTHROPIC_MOCK");
    let mut env_extra = extra(closed_port());
    env_extra.push_str(&slow);
    // The harness only knows OPENAI_URL; give slow-an the Anthropic mock's URL after start.
    let anthropic = spawn(
        Flavor::Anthropic,
        MockConfig {
            keys: vec!["upstream-key".into()],
            ..MockConfig::default()
        },
    )
    .await
    .expect("mock");
    let env_extra = env_extra.replace("ANTHROPIC_MOCK", &anthropic.base_url());
    let env = Env::start_with_top(top, &env_extra).await;
    for client in CLIENTS {
        for stream in [false, true] {
            env.openai.faults().fail_next(503, 1, Some(3));
            env.anthropic.faults().fail_next(529, 1, Some(7));
            let (status, headers, bytes) = ask(&env, client, "chain", stream).await;
            assert_eq!(
                status,
                503,
                "{client:?}: {}",
                String::from_utf8_lossy(&bytes)
            );
            assert_eq!(headers["retry-after"], "3", "the earliest Retry-After");
            assert!(!client.error_message(&bytes).is_empty());
            assert_eq!(headers["x-lmrelay-attempts"], "2");
        }
    }
    env.openai.faults().set_latency_ms(1500);
    anthropic.faults().set_latency_ms(1500);
    for client in CLIENTS {
        let (status, _, bytes) = ask(&env, client, "slow-chain", true).await;
        assert_eq!(
            status,
            504,
            "{client:?}: {}",
            String::from_utf8_lossy(&bytes)
        );
        assert!(client
            .error_message(&bytes)
            .contains("did not answer in time"));
    }
    env.stop().await;
    anthropic.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_provider_goes_last_its_breaker_opens_and_a_probe_closes_it() {
    let top = "[health]\ninterval = \"0s\"\nfailure_threshold = 2\ncooldown = \"300ms\"\n";
    let env = Env::start_with_top(top, &extra(closed_port())).await;
    env.openai.faults().fail_next(500, 1000, None);
    // Two failures in a row: each request still succeeds on the next candidate.
    for _ in 0..2 {
        let got = ask(&env, Client::OpenAi, "chain", false).await;
        served_by(Client::OpenAi, false, &got, "an", "failing first candidate");
        assert_eq!(got.1["x-lmrelay-attempts"], "2");
    }
    // The breaker is open: the failing provider is skipped, not tried.
    env.openai.clear_requests();
    for client in CLIENTS {
        let got = ask(&env, client, "chain", false).await;
        served_by(client, false, &got, "an", "breaker open");
        assert_eq!(got.1["x-lmrelay-attempts"], "1", "skipped while open");
    }
    assert!(
        env.openai.requests().is_empty(),
        "an open breaker sends nothing"
    );
    // Still failing after the cooldown: the probe fails, the breaker opens again (longer).
    tokio::time::sleep(Duration::from_millis(400)).await;
    let got = ask(&env, Client::OpenAi, "chain", false).await;
    served_by(Client::OpenAi, false, &got, "an", "failed probe");
    assert_eq!(got.1["x-lmrelay-attempts"], "2", "the probe was sent");
    let got = ask(&env, Client::OpenAi, "chain", false).await;
    assert_eq!(
        got.1["x-lmrelay-attempts"], "1",
        "open again after the failed probe"
    );
    // Recovered: after the (doubled) cooldown one probe succeeds and closes the breaker.
    env.openai.faults().reset();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let got = ask(&env, Client::OpenAi, "chain", false).await;
    served_by(Client::OpenAi, false, &got, "flaky", "probe succeeded");
    for stream in [false, true] {
        let got = ask(&env, Client::Anthropic, "chain", stream).await;
        served_by(Client::Anthropic, stream, &got, "flaky", "closed again");
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_checks_find_a_dead_provider_without_client_traffic() {
    let top = "[health]\ninterval = \"100ms\"\ntimeout = \"500ms\"\n";
    let env = Env::start_with_top(top, &extra(closed_port())).await;
    // The first round of checks has run once the gateway is ready.
    wait_ready(&env.url, true).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // `dead` was found dead by the checks alone: it is not tried first any more.
    for client in CLIENTS {
        let got = ask(&env, client, "refused-chain", false).await;
        served_by(client, false, &got, "an", "dead provider");
        assert_eq!(
            got.1["x-lmrelay-attempts"], "1",
            "{client:?}: dead moved last"
        );
    }
    // The checks use the providers' model lists: nothing billed.
    assert!(env
        .openai
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.path == "/v1/models"));
    assert!(env
        .ollama
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.path == "/api/tags"));
    env.stop().await;
}

/// Polls `/readyz` (bounded) until it answers 200 (`ready`) or 503.
async fn wait_ready(url: &str, ready: bool) {
    let http = reqwest::Client::new();
    let want = if ready { 200 } else { 503 };
    for _ in 0..100 {
        let status = http
            .get(format!("{url}/readyz"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        if status == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("/readyz never answered {want}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_health() {
    let mock = spawn(
        Flavor::OpenAi,
        MockConfig {
            keys: vec!["k".into()],
            ..MockConfig::default()
        },
    )
    .await
    .expect("mock");
    let text = format!(
        "listen = \"127.0.0.1:0\"\n[health]\ninterval = \"100ms\"\ntimeout = \"300ms\"\n\
         [[providers]]\nname = \"only\"\ntype = \"openai\"\nbase_url = \"{}\"\nkeys = [\"k\"]\nmodels = [\"*\"]\n",
        mock.base_url()
    );
    let config = parse_str(&text, Format::Toml, "t.toml", &|_| None).expect("config");
    let gateway = Gateway::bind(config).await.expect("bind");
    let url = format!("http://{}", gateway.local_addr().expect("addr"));
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(gateway.run(async move {
        let _ = rx.await;
    }));
    wait_ready(&url, true).await;
    // The only provider goes away: not ready.
    mock.shutdown().await;
    wait_ready(&url, false).await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
}
