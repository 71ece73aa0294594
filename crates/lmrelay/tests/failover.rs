//! The attempt loop: another key of the same provider after a key's failure, the next
//! candidate after a retryable failure, and no retry after a client error.

mod common;

use common::{Client, Env};

const EXTRA: &str = r#"
[[providers]]
name = "rot"
type = "openai"
base_url = "OPENAI_URL"
keys = ["revoked-key", "upstream-key"]
models = ["gpt-4o-mini"]

[[routes]]
model = "rotating"
targets = ["rot/gpt-4o-mini"]

[[routes]]
model = "unknown-first"
targets = ["oa/no-such-model", "an/claude-3-5-haiku-latest"]

[[routes]]
model = "unknown-then-down"
targets = ["oa/no-such-model", "ol/llama3.2"]

[[routes]]
model = "audio-first"
targets = ["an/claude-3-5-haiku-latest", "oa/gpt-4o-mini"]

[[routes]]
model = "failover"
targets = ["oa/gpt-4o-mini", "an/claude-3-5-haiku-latest", "ol/llama3.2"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_and_key_rotation() {
    // This test fails providers on purpose many times in a row: keep their breakers closed
    // so the configured order holds (breakers are tested in health.rs).
    let env = Env::start_with_top(
        "[health]\ninterval = \"0s\"\nfailure_threshold = 1000\n",
        EXTRA,
    )
    .await;
    // "rot" has a revoked key and a good one: every request succeeds. Conversations start
    // at a key of their own (affinity), so eight of them surely start at both.
    for i in 0..8 {
        let body = Client::OpenAi.chat("rotating", &format!("hi {i}"), false, false);
        let (status, headers, bytes) = env
            .post(Client::OpenAi, "/v1/chat/completions", &body)
            .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
        assert_eq!(headers["x-lmrelay-provider"], "rot");
    }
    let revoked = env
        .openai
        .requests()
        .iter()
        .filter(|r| r.header("authorization") == Some("Bearer revoked-key"))
        .count();
    assert!(revoked >= 1, "the revoked key was tried and then skipped");

    // The first candidate is overloaded: the second serves, before any byte reached the client.
    for stream in [false, true] {
        env.openai.faults().fail_next(503, 1, Some(1));
        let body = Client::OpenAi.chat("failover", "hi", stream, false);
        let (status, headers, bytes) = env
            .post(Client::OpenAi, "/v1/chat/completions", &body)
            .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
        assert_eq!(headers["x-lmrelay-provider"], "an", "stream={stream}");
        let a = if stream {
            Client::OpenAi.stream(&bytes)
        } else {
            Client::OpenAi.answer(&bytes)
        };
        assert_eq!(a.text, "echo: hi");
    }

    // An overload reported inside the stream, right after `message_start` (the common
    // Anthropic pattern), is still before any content: the next candidate serves.
    env.openai.faults().fail_next(503, 1, None);
    env.anthropic.faults().set_stream_error_after(Some(1));
    let body = Client::OpenAi.chat("failover", "hi", true, false);
    let (status, headers, bytes) = env
        .post(Client::OpenAi, "/v1/chat/completions", &body)
        .await;
    env.anthropic.faults().reset();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(headers["x-lmrelay-provider"], "ol");
    assert_eq!(Client::OpenAi.stream(&bytes).text, "echo: hi");

    // Two candidates down: the third serves.
    env.openai.faults().fail_next(500, 1, None);
    env.anthropic.faults().fail_next(529, 1, None);
    let (status, headers, _) = env
        .post(
            Client::Anthropic,
            "/v1/messages",
            &Client::Anthropic.chat("failover", "hi", false, false),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-lmrelay-provider"], "ol");

    // A client error is not retried elsewhere.
    env.openai.faults().fail_next(400, 1, None);
    env.anthropic.clear_requests();
    let (status, _, _) = env
        .post(
            Client::OpenAi,
            "/v1/chat/completions",
            &Client::OpenAi.chat("failover", "hi", false, false),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        env.anthropic.requests().is_empty(),
        "no second attempt after a 400"
    );

    // A candidate that cannot take the content (Anthropic takes no audio) says nothing about
    // availability: with the next one overloaded, the answer is still 503, not 400 or 502.
    let audio = serde_json::json!({"model": "audio-first", "messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]}]});
    env.openai.faults().fail_next(503, 1, Some(2));
    let (status, headers, bytes) = env
        .post(Client::OpenAi, "/v1/chat/completions", &audio)
        .await;
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(headers["retry-after"], "2");
    // Only local refusals: the client hears why.
    let mut only_anthropic = audio.clone();
    only_anthropic["model"] = serde_json::json!("to-anthropic");
    let (status, _, bytes) = env
        .post(Client::OpenAi, "/v1/chat/completions", &only_anthropic)
        .await;
    assert_eq!(status, 400);
    assert!(Client::OpenAi.error_message(&bytes).contains("audio"));

    // A provider that does not know the model passes it on.
    let (status, headers, _) = env
        .post(
            Client::OpenAi,
            "/v1/chat/completions",
            &Client::OpenAi.chat("unknown-first", "hi", false, false),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-lmrelay-provider"], "an");
    env.ollama.faults().fail_next(503, 1, Some(3));
    let (status, _, bytes) = env
        .post(
            Client::OpenAi,
            "/v1/chat/completions",
            &Client::OpenAi.chat("unknown-then-down", "hi", false, false),
        )
        .await;
    assert_eq!(
        status,
        503,
        "an outage elsewhere is still an outage: {}",
        String::from_utf8_lossy(&bytes)
    );

    // Everything down: 503 with Retry-After.
    env.openai.faults().fail_next(503, 1, Some(4));
    env.anthropic.faults().fail_next(529, 1, Some(4));
    env.ollama.faults().fail_next(503, 1, Some(4));
    let (status, headers, _) = env
        .post(
            Client::OpenAi,
            "/v1/chat/completions",
            &Client::OpenAi.chat("failover", "hi", false, false),
        )
        .await;
    assert_eq!(status, 503);
    assert!(headers.contains_key("retry-after"));
    env.stop().await;
}
