//! Every client protocol against an Azure OpenAI upstream (deployment URLs and the
//! `/openai/v1/` form) and a Cohere v2 upstream (the lmrelay-mock Azure and Cohere flavors),
//! answered whole and streamed: text, usage, a tool round trip, content filters, errors and
//! failover, and embeddings. The shared harness's three mocks stay as they are; this file
//! adds its own mocks through `Env::start_with`.

mod common;

use common::{Client, Env, CACHE_READ, CLIENTS};
use lmrelay_mock::{spawn, Flavor, MockConfig, MockServer};
use serde_json::{json, Value};

/// Providers and routes over the two mocks; `AZURE_URL` and `COHERE_URL` are replaced.
const EXTRA: &str = r#"
[[providers]]
name = "az"
type = "azure"
base_url = "AZURE_URL"
api_version = "2024-10-21"
keys = ["az-key"]
models = ["gpt-4o", "text-embedding-3-small"]
deployments = { "gpt-4o" = "gpt4o-prod" }
timeout = "10s"

[[providers]]
name = "az1"
type = "azure"
base_url = "AZURE_URL"
api_version = "v1"
keys = ["Bearer az-key"]
models = ["gpt-4o-mini"]
timeout = "10s"

[[providers]]
name = "co"
type = "cohere"
base_url = "COHERE_URL"
keys = ["co-key"]
models = ["command-r-plus", "embed-v4.0"]
timeout = "10s"

[[routes]]
model = "to-azure"
targets = ["az/gpt-4o"]

[[routes]]
model = "to-azure-v1"
targets = ["az1/gpt-4o-mini"]

[[routes]]
model = "to-cohere"
targets = ["co/command-r-plus"]

[[routes]]
model = "azure-then-openai"
targets = ["az/gpt-4o", "oa/gpt-4o-mini"]

[[routes]]
model = "cohere-then-openai"
targets = ["co/command-r-plus", "oa/gpt-4o-mini"]

[[routes]]
model = "embed-azure"
targets = ["az/text-embedding-3-small"]

[[routes]]
model = "embed-cohere"
targets = ["co/embed-v4.0"]
"#;

struct Upstreams {
    azure: MockServer,
    cohere: MockServer,
}

async fn start() -> (Upstreams, Env) {
    start_top("[admin]\ntoken = \"admin-token\"\n").await
}

async fn start_top(top: &str) -> (Upstreams, Env) {
    let azure = spawn(
        Flavor::Azure,
        MockConfig {
            keys: vec!["az-key".into()],
            cache_read_tokens: CACHE_READ,
            ..MockConfig::default()
        },
    )
    .await
    .expect("azure mock");
    let cohere = spawn(
        Flavor::Cohere,
        MockConfig {
            keys: vec!["co-key".into()],
            ..MockConfig::default()
        },
    )
    .await
    .expect("cohere mock");
    let extra = EXTRA
        .replace("AZURE_URL", &azure.base_url())
        .replace("COHERE_URL", &cohere.base_url());
    let env = Env::start_with_top(top, &extra).await;
    (Upstreams { azure, cohere }, env)
}

fn read(client: Client, stream: bool, bytes: &[u8]) -> common::Answer {
    if stream {
        client.stream(bytes)
    } else {
        client.answer(bytes)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn natural_finish(client: Client) -> &'static str {
    match client {
        Client::OpenAi | Client::Ollama => "stop",
        Client::Anthropic => "end_turn",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_answers_from_every_client() {
    let (up, env) = start().await;
    for (model, provider) in [
        ("to-azure", "az"),
        ("to-azure-v1", "az1"),
        ("to-cohere", "co"),
    ] {
        for client in CLIENTS {
            for stream in [false, true] {
                let body = client.chat(model, "hello there", stream, false);
                let (status, headers, bytes) = env.post(client, client.path(), &body).await;
                let ctx = format!("{model} {client:?} stream={stream}: {}", text(&bytes));
                assert_eq!(status, 200, "{ctx}");
                assert_eq!(headers["x-lmrelay-provider"], provider, "{ctx}");
                let a = read(client, stream, &bytes);
                assert_eq!(a.text, "echo: hello there", "{ctx}");
                assert!(a.tool_calls.is_empty(), "{ctx}");
                assert_eq!(a.finish, natural_finish(client), "{ctx}");
                assert_eq!(a.output_tokens, 3, "{ctx}");
                assert!(a.input_tokens > 0, "{ctx}");
                let rec = match provider {
                    "co" => up.cohere.last_request(),
                    _ => up.azure.last_request(),
                }
                .expect("upstream saw the request");
                assert!(
                    rec.headers.iter().all(|(_, v)| !v.contains("client-key")),
                    "{ctx}"
                );
                if provider != "co" {
                    // Azure's prompt_tokens include the cached tokens, as the canonical
                    // input does.
                    assert!(a.input_tokens > CACHE_READ, "{ctx}");
                    if client != Client::Ollama {
                        assert_eq!(a.cached_tokens, CACHE_READ, "{ctx}");
                    }
                }
                match provider {
                    "az" => {
                        assert_eq!(
                            rec.path, "/openai/deployments/gpt4o-prod/chat/completions",
                            "{ctx}"
                        );
                        assert_eq!(rec.query.as_deref(), Some("api-version=2024-10-21"));
                        assert_eq!(rec.header("api-key"), Some("az-key"), "{ctx}");
                        assert_eq!(rec.header("authorization"), None, "{ctx}");
                    }
                    "az1" => {
                        assert_eq!(rec.path, "/openai/v1/chat/completions", "{ctx}");
                        assert_eq!(rec.body["model"], "gpt-4o-mini", "{ctx}");
                        assert_eq!(rec.header("authorization"), Some("Bearer az-key"));
                        assert_eq!(rec.header("api-key"), None, "{ctx}");
                    }
                    _ => {
                        assert_eq!(rec.path, "/v2/chat", "{ctx}");
                        assert_eq!(rec.header("authorization"), Some("Bearer co-key"));
                        assert_eq!(rec.body["model"], "command-r-plus", "{ctx}");
                        assert_eq!(
                            rec.body["messages"],
                            json!([{"role": "system", "content": "You are terse."},
                                   {"role": "user", "content": [{"type": "text", "text": "hello there"}]}]),
                            "{ctx}"
                        );
                        assert_eq!(rec.body.get("stream").is_some(), stream, "{ctx}");
                        // Cohere counts its prompt template in `tokens` (the mock adds 10).
                        assert!(a.input_tokens > 10, "{ctx}");
                    }
                }
            }
        }
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_round_trips_from_every_client() {
    let (up, env) = start().await;
    for model in ["to-azure", "to-cohere"] {
        for client in CLIENTS {
            for stream in [false, true] {
                let ctx = format!("{model} {client:?} stream={stream}");
                let body = client.chat(model, "Paris", stream, true);
                let (status, _, bytes) = env.post(client, client.path(), &body).await;
                assert_eq!(status, 200, "{ctx}: {}", text(&bytes));
                let a = read(client, stream, &bytes);
                assert_eq!(a.tool_calls.len(), 1, "{ctx}: {a:?}");
                let call = &a.tool_calls[0];
                assert_eq!(call.1, "get_weather", "{ctx}");
                assert_eq!(call.2, json!({"city": "Paris"}), "{ctx}");
                assert_eq!(a.finish, client.tool_finish(), "{ctx}");

                let follow = client.tool_followup(model, "Paris", call, "11 degrees", stream);
                let (status, _, bytes) = env.post(client, client.path(), &follow).await;
                assert_eq!(status, 200, "{ctx} follow-up: {}", text(&bytes));
                let b = read(client, stream, &bytes);
                assert_eq!(b.text, "tool result: 11 degrees", "{ctx}");
                if model == "to-cohere" {
                    let rec = up.cohere.last_request().expect("request");
                    let messages = &rec.body["messages"];
                    let assistant = &messages[1];
                    assert_eq!(assistant["role"], "assistant", "{ctx}: {messages}");
                    assert_eq!(
                        assistant["tool_calls"][0]["function"]["arguments"], r#"{"city":"Paris"}"#,
                        "{ctx}"
                    );
                    assert_eq!(
                        messages[2],
                        json!({"role": "tool", "tool_call_id": call.0,
                               "content": [{"type": "text", "text": "11 degrees"}]}),
                        "{ctx}"
                    );
                } else {
                    let rec = up.azure.last_request().expect("request");
                    assert_eq!(rec.body["messages"][2]["role"], "tool", "{ctx}");
                }
            }
        }
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_content_filters_reach_every_client() {
    let (up, env) = start().await;
    for client in CLIENTS {
        for stream in [false, true] {
            let ctx = format!("{client:?} stream={stream}");
            // The output filter: an answer that ends with `content_filter`.
            up.azure
                .faults()
                .fail_next_typed(200, 1, None, "content_filter");
            let body = client.chat("to-azure", "hello", stream, false);
            let (status, _, bytes) = env.post(client, client.path(), &body).await;
            assert_eq!(status, 200, "{ctx}: {}", text(&bytes));
            let a = read(client, stream, &bytes);
            let want = match client {
                Client::OpenAi => "content_filter",
                Client::Anthropic => "refusal",
                Client::Ollama => "stop",
            };
            assert_eq!(a.finish, want, "{ctx}: {a:?}");
        }
        // The prompt filter: a 400 the client sees as a refusal, not retried elsewhere.
        up.azure
            .faults()
            .fail_next_typed(400, 1, None, "content_filter");
        let body = client.chat("azure-then-openai", "hello", false, false);
        let (status, headers, bytes) = env.post(client, client.path(), &body).await;
        assert_eq!(status, 400, "{client:?}: {}", text(&bytes));
        assert!(headers.get("x-lmrelay-provider").is_none_or(|p| p == "az"));
        let message = client.error_message(&bytes);
        assert!(message.contains("content management policy"), "{message}");
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_failover() {
    let (up, env) = start().await;
    for (mock, route, provider) in [
        (&up.azure, "azure-then-openai", "az"),
        (&up.cohere, "cohere-then-openai", "co"),
    ] {
        // A 429 moves on to the next candidate.
        mock.faults().fail_next(429, 1, Some(2));
        let body = Client::OpenAi.chat(route, "hi", false, false);
        let (status, headers, bytes) = env
            .post(Client::OpenAi, "/v1/chat/completions", &body)
            .await;
        assert_eq!(status, 200, "{provider}: {}", text(&bytes));
        assert_eq!(headers["x-lmrelay-provider"], "oa", "{provider}");
        // The 429 cooled the only key; an admin rotation brings it back now.
        let (status, _) = env
            .post_admin("/admin/keys/rotate", &json!({"provider": provider}))
            .await;
        assert_eq!(status, 200);
        // A bad key fails over as well.
        mock.faults().fail_next(401, 1, None);
        let body = Client::Anthropic.chat(route, "hi", true, false);
        let (status, headers, bytes) = env.post(Client::Anthropic, "/v1/messages", &body).await;
        assert_eq!(status, 200, "{provider}: {}", text(&bytes));
        assert_eq!(headers["x-lmrelay-provider"], "oa", "{provider}");
        let (status, _) = env
            .post_admin("/admin/keys/rotate", &json!({"provider": provider}))
            .await;
        assert_eq!(status, 200);
    }
    // With no other candidate, an overloaded upstream is a 503 in each client's shape.
    for (mock, route) in [(&up.azure, "to-azure"), (&up.cohere, "to-cohere")] {
        for client in CLIENTS {
            mock.faults().fail_next(503, 1, None);
            let body = client.chat(route, "hi", false, false);
            let (status, _, bytes) = env.post(client, client.path(), &body).await;
            assert_eq!(status, 503, "{route} {client:?}: {}", text(&bytes));
            client.error_message(&bytes);
        }
        mock.faults().reset();
    }
    // An error inside a stream, after content, reaches the client as its in-stream error.
    for (mock, route) in [(&up.azure, "to-azure"), (&up.cohere, "to-cohere")] {
        mock.faults().set_stream_error_after(Some(4));
        let body = Client::OpenAi.chat(route, "one two three four five", true, false);
        let (status, _, bytes) = env
            .post(Client::OpenAi, "/v1/chat/completions", &body)
            .await;
        assert_eq!(status, 200, "{route}");
        let body_text = text(&bytes);
        assert!(body_text.contains("\"error\""), "{route}: {body_text}");
        assert!(!body_text.contains("[DONE]"), "{route}: {body_text}");
        let body = Client::Anthropic.chat(route, "one two three four five", true, false);
        let (status, _, bytes) = env.post(Client::Anthropic, "/v1/messages", &body).await;
        assert_eq!(status, 200, "{route}");
        let events = common::sse_events(&text(&bytes));
        assert_eq!(
            events.last().map(|e| e.0.as_str()),
            Some("error"),
            "{route}: {events:?}"
        );
        mock.faults().reset();
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings() {
    let (up, env) = start().await;
    for (route, mock, path) in [
        (
            "embed-azure",
            &up.azure,
            "/openai/deployments/text-embedding-3-small/embeddings",
        ),
        ("embed-cohere", &up.cohere, "/v2/embed"),
    ] {
        let (status, _, bytes) = env
            .post(
                Client::OpenAi,
                "/v1/embeddings",
                &json!({"model": route, "input": ["alpha", "beta"]}),
            )
            .await;
        assert_eq!(status, 200, "{route}: {}", text(&bytes));
        let v: Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(v["data"].as_array().map(Vec::len), Some(2), "{route}");
        let first: Vec<f32> =
            serde_json::from_value(v["data"][0]["embedding"].clone()).expect("floats");
        assert_eq!(first, lmrelay_mock::embedding_vector("alpha", first.len()));
        assert!(
            v["usage"]["prompt_tokens"].as_u64().is_some_and(|n| n > 0),
            "{v}"
        );
        let rec = mock.last_request().expect("request");
        assert_eq!(rec.path, path, "{route}");
    }
    let rec = up.cohere.last_request().expect("request");
    assert_eq!(rec.body["input_type"], "search_document");
    // An Ollama client's /api/embed reaches Cohere too.
    let (status, _, bytes) = env
        .post(
            Client::Ollama,
            "/api/embed",
            &json!({"model": "embed-cohere", "input": "alpha"}),
        )
        .await;
    assert_eq!(status, 200, "{}", text(&bytes));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_health_checks_use_each_types_cheap_endpoint() {
    let (up, env) = start_top("[health]\ninterval = \"100ms\"\ntimeout = \"500ms\"\n").await;
    let seen = |mock: &MockServer| -> Vec<(String, Option<String>, Option<String>)> {
        mock.requests()
            .into_iter()
            .filter(|r| r.method == "GET")
            .map(|r| {
                let auth = r
                    .header("api-key")
                    .or(r.header("authorization"))
                    .map(str::to_owned);
                (r.path, r.query, auth)
            })
            .collect()
    };
    let mut waited = 0;
    loop {
        let azure = seen(&up.azure);
        let cohere = seen(&up.cohere);
        let classic = (
            "/openai/models".to_owned(),
            Some("api-version=2024-10-21".to_owned()),
            Some("az-key".to_owned()),
        );
        let v1 = (
            "/openai/v1/models".to_owned(),
            None,
            Some("Bearer az-key".to_owned()),
        );
        let co = (
            "/v1/models".to_owned(),
            None,
            Some("Bearer co-key".to_owned()),
        );
        if azure.contains(&classic) && azure.contains(&v1) && cohere.contains(&co) {
            break;
        }
        waited += 1;
        assert!(waited < 50, "no health checks seen: {azure:?} {cohere:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    env.stop().await;
}

/// A one-pixel PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_limits_and_sampling_reach_cohere() {
    let (up, env) = start().await;
    let data_url = format!("data:image/png;base64,{PNG}");
    let image_part = json!({"type": "image_url", "image_url": {"url": data_url}});
    let requests = [
        (
            Client::OpenAi,
            json!({"model": "to-cohere", "top_p": 1.0, "max_tokens": 1, "messages": [
                {"role": "user", "content": [{"type": "text", "text": "what is this"},
                    {"type": "image_url", "image_url": {"url": data_url}}]}]}),
            "length",
        ),
        (
            Client::Anthropic,
            json!({"model": "to-cohere", "top_p": 1.0, "max_tokens": 1, "messages": [
                {"role": "user", "content": [{"type": "text", "text": "what is this"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]}]}),
            "max_tokens",
        ),
        (
            Client::Ollama,
            json!({"model": "to-cohere", "stream": false, "options": {"top_p": 1.0, "num_predict": 1},
                "messages": [{"role": "user", "content": "what is this", "images": [PNG]}]}),
            "length",
        ),
    ];
    for (client, body, finish) in requests {
        let (status, _, bytes) = env.post(client, client.path(), &body).await;
        let ctx = format!("{client:?}: {}", text(&bytes));
        assert_eq!(status, 200, "{ctx}");
        let a = client.answer(&bytes);
        assert_eq!(a.text, "echo:", "{ctx}");
        assert_eq!(a.finish, finish, "{ctx}");
        let rec = up.cohere.last_request().expect("request");
        assert_eq!(rec.body["max_tokens"], 1, "{ctx}");
        assert_eq!(
            rec.body["p"], 0.99,
            "{ctx}: top_p clamped into Cohere's range"
        );
        let content = rec.body["messages"][0]["content"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(content.contains(&image_part), "{ctx}: {content:?}");
    }
    env.stop().await;
}
