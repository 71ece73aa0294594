//! Every client protocol against a Bedrock upstream (the lmrelay-mock Bedrock flavor, which
//! recomputes every SigV4 signature), answered whole and streamed over the binary
//! event-stream: text, a tool round trip, Claude thinking with its signature kept
//! byte-exact, images, errors and failover (a wrong secret included), a refused thinking
//! retried without it, and token counting. This file adds its own Bedrock mock through
//! `Env::start_with`.

mod common;

use common::{Client, Env, CACHE_READ, CLIENTS};
use lmrelay_mock::{spawn, Flavor, MockConfig, MockServer};
use serde_json::{json, Value};

const CLAUDE_PATH: &str = "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0";

/// Providers and routes over the Bedrock mock; `BEDROCK_URL` is replaced.
const EXTRA: &str = r#"
[[providers]]
name = "br"
type = "bedrock"
aws_region = "us-west-2"
region = "us"
base_url = "BEDROCK_URL"
keys = ["AKIAMOCK:mock/secret+key"]
models = ["us.anthropic.claude-sonnet-4-20250514-v1:0", "anthropic.claude-3-5-haiku-20241022-v1:0", "amazon.nova-lite-v1:0"]
timeout = "10s"

[[providers]]
name = "br-wrong"
type = "bedrock"
aws_region = "us-west-2"
base_url = "BEDROCK_URL"
keys = ["AKIAMOCK:not-the-secret"]
models = ["amazon.nova-lite-v1:0"]
timeout = "10s"

[[routes]]
model = "to-bedrock"
targets = ["br/us.anthropic.claude-sonnet-4-20250514-v1:0"]

[[routes]]
model = "to-nova"
targets = ["br/amazon.nova-lite-v1:0"]

[[routes]]
model = "to-haiku"
targets = ["br/anthropic.claude-3-5-haiku-20241022-v1:0"]

[[routes]]
model = "bedrock-then-openai"
targets = ["br/amazon.nova-lite-v1:0", "oa/gpt-4o-mini"]

[[routes]]
model = "wrong-secret-then-openai"
targets = ["br-wrong/amazon.nova-lite-v1:0", "oa/gpt-4o-mini"]
"#;

/// A one-pixel PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

async fn start() -> (MockServer, Env) {
    let bedrock = spawn(
        Flavor::Bedrock,
        MockConfig {
            cache_read_tokens: CACHE_READ,
            keys: vec!["AKIAMOCK:mock/secret+key".into()],
            ..MockConfig::default()
        },
    )
    .await
    .expect("bedrock mock");
    let env = Env::start_with_top(
        "[admin]\ntoken = \"admin-token\"\n",
        &EXTRA.replace("BEDROCK_URL", &bedrock.base_url()),
    )
    .await;
    (bedrock, env)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_answers_from_every_client() {
    let (bedrock, env) = start().await;
    for client in CLIENTS {
        for stream in [false, true] {
            let body = client.chat("to-bedrock", "hello there", stream, false);
            let (status, headers, bytes) = env.post(client, client.path(), &body).await;
            let ctx = format!("{client:?} stream={stream}: {}", text(&bytes));
            assert_eq!(status, 200, "{ctx}");
            assert_eq!(headers["x-lmrelay-provider"], "br", "{ctx}");
            // Bedrock's x-amzn-RequestId is passed on.
            assert_eq!(
                headers["x-upstream-request-id"].len(),
                36,
                "{ctx}: {headers:?}"
            );
            let a = read(client, stream, &bytes);
            assert_eq!(a.text, "echo: hello there", "{ctx}");
            assert!(a.tool_calls.is_empty(), "{ctx}");
            let natural = match client {
                Client::OpenAi | Client::Ollama => "stop",
                Client::Anthropic => "end_turn",
            };
            assert_eq!(a.finish, natural, "{ctx}");
            assert!(a.output_tokens > 0, "{ctx}");
            // inputTokens excludes the cache reads; the clients see them included.
            assert!(a.input_tokens > CACHE_READ, "{ctx}");
            if client != Client::Ollama {
                assert_eq!(a.cached_tokens, CACHE_READ, "{ctx}");
            }
            let rec = bedrock.last_request().expect("upstream saw the request");
            let op = if stream {
                "converse-stream"
            } else {
                "converse"
            };
            assert_eq!(rec.path, format!("{CLAUDE_PATH}/{op}"), "{ctx}");
            let auth = rec.header("authorization").expect("signed");
            assert!(
                auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIAMOCK/")
                    && auth.contains("/us-west-2/bedrock/aws4_request"),
                "{ctx}: {auth}"
            );
            assert!(!auth.contains("mock/secret"), "{ctx}");
            assert_eq!(
                rec.body["system"],
                json!([{"text": "You are terse."}]),
                "{ctx}"
            );
            assert_eq!(
                rec.body["messages"],
                json!([{"role": "user", "content": [{"text": "hello there"}]}]),
                "{ctx}"
            );
            assert!(
                rec.headers.iter().all(|(_, v)| !v.contains("client-key")),
                "{ctx}"
            );
        }
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_round_trips_from_every_client() {
    let (bedrock, env) = start().await;
    for client in CLIENTS {
        for stream in [false, true] {
            let ctx = format!("{client:?} stream={stream}");
            let body = client.chat("to-bedrock", "Paris", stream, true);
            let (status, _, bytes) = env.post(client, client.path(), &body).await;
            assert_eq!(status, 200, "{ctx}: {}", text(&bytes));
            let a = read(client, stream, &bytes);
            assert_eq!(a.tool_calls.len(), 1, "{ctx}: {a:?}");
            let call = &a.tool_calls[0];
            assert_eq!(call.1, "get_weather", "{ctx}");
            assert_eq!(call.2, json!({"city": "Paris"}), "{ctx}");
            assert!(call.0.starts_with("tooluse_"), "{ctx}: {call:?}");
            assert_eq!(a.finish, client.tool_finish(), "{ctx}");
            let rec = bedrock.last_request().expect("request");
            assert_eq!(
                rec.body["toolConfig"]["tools"][0]["toolSpec"]["name"], "get_weather",
                "{ctx}"
            );

            let follow = client.tool_followup("to-bedrock", "Paris", call, "11 degrees", stream);
            let (status, _, bytes) = env.post(client, client.path(), &follow).await;
            assert_eq!(status, 200, "{ctx} follow-up: {}", text(&bytes));
            assert_eq!(
                read(client, stream, &bytes).text,
                "tool result: 11 degrees",
                "{ctx}"
            );
            let rec = bedrock.last_request().expect("request");
            let messages = &rec.body["messages"];
            assert_eq!(
                messages[1]["content"][0]["toolUse"],
                json!({"toolUseId": call.0, "name": "get_weather", "input": {"city": "Paris"}}),
                "{ctx}"
            );
            assert_eq!(
                messages[2],
                json!({"role": "user", "content": [{"toolResult": {"toolUseId": call.0,
                    "content": [{"text": "11 degrees"}], "status": "success"}}]}),
                "{ctx}"
            );
        }
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thinking_signatures_survive_an_anthropic_client_byte_exact() {
    let (bedrock, env) = start().await;
    for stream in [false, true] {
        let ctx = format!("stream={stream}");
        let mut body = Client::Anthropic.chat("to-bedrock", "Paris", stream, true);
        body["max_tokens"] = json!(4096);
        body["thinking"] = json!({"type": "enabled", "budget_tokens": 2048});
        let (status, _, bytes) = env.post(Client::Anthropic, "/v1/messages", &body).await;
        assert_eq!(status, 200, "{ctx}: {}", text(&bytes));
        let first = bedrock.last_request().expect("request");
        assert_eq!(
            first.body["additionalModelRequestFields"],
            json!({"thinking": {"type": "enabled", "budget_tokens": 2048}}),
            "{ctx}"
        );
        assert_eq!(first.body["inferenceConfig"]["maxTokens"], 4096, "{ctx}");
        let a = read(Client::Anthropic, stream, &bytes);
        assert_eq!(a.reasoning, "Thinking about: Paris", "{ctx}");
        assert_eq!(a.tool_calls.len(), 1, "{ctx}");
        let content = if stream {
            assistant_blocks_from_stream(&text(&bytes))
        } else {
            serde_json::from_slice::<Value>(&bytes).expect("JSON")["content"].clone()
        };
        let sig = content[0]["signature"]
            .as_str()
            .and_then(|s| s.strip_prefix("bedrock:"))
            .unwrap_or_else(|| panic!("{ctx}: a tagged signature first: {content}"))
            .to_owned();
        let id = a.tool_calls[0].0.clone();
        let follow = json!({"model": "to-bedrock", "max_tokens": 4096, "stream": stream,
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "tools": body["tools"].clone(),
            "messages": [
                {"role": "user", "content": "Paris"},
                {"role": "assistant", "content": content},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "11 degrees"}]}]});
        let (status, _, bytes) = env.post(Client::Anthropic, "/v1/messages", &follow).await;
        assert_eq!(status, 200, "{ctx} follow-up: {}", text(&bytes));
        assert_eq!(
            read(Client::Anthropic, stream, &bytes).text,
            "tool result: 11 degrees",
            "{ctx}"
        );
        let rec = bedrock.last_request().expect("request");
        assert_eq!(
            rec.body["messages"][1]["content"][0],
            json!({"reasoningContent": {"reasoningText": {"text": "Thinking about: Paris", "signature": sig}}}),
            "{ctx}"
        );
    }
    env.stop().await;
}

/// The content blocks of a streamed Anthropic answer, as a client would rebuild them.
fn assistant_blocks_from_stream(body: &str) -> Value {
    let mut blocks: Vec<Value> = Vec::new();
    let mut partial: Vec<String> = Vec::new();
    for (name, data) in common::sse_events(body) {
        let v: Value = serde_json::from_str(&data).expect("event JSON");
        match name.as_str() {
            "content_block_start" => {
                blocks.push(v["content_block"].clone());
                partial.push(String::new());
            }
            "content_block_delta" => {
                let i = v["index"].as_u64().expect("index") as usize;
                let d = &v["delta"];
                let b = &mut blocks[i];
                let append = |b: &mut Value, field: &str, add: &Value| {
                    let t = format!(
                        "{}{}",
                        b[field].as_str().unwrap_or(""),
                        add.as_str().unwrap_or("")
                    );
                    b[field] = json!(t);
                };
                match d["type"].as_str() {
                    Some("thinking_delta") => append(b, "thinking", &d["thinking"]),
                    Some("signature_delta") => b["signature"] = d["signature"].clone(),
                    Some("text_delta") => append(b, "text", &d["text"]),
                    Some("input_json_delta") => {
                        partial[i].push_str(d["partial_json"].as_str().unwrap_or(""));
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    for (b, json_text) in blocks.iter_mut().zip(partial) {
        if b["type"] == "tool_use" && !json_text.is_empty() {
            b["input"] = serde_json::from_str(&json_text).expect("tool input");
        }
    }
    Value::Array(blocks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_reach_bedrock_as_bytes() {
    let (bedrock, env) = start().await;
    let image = json!({"image": {"format": "png", "source": {"bytes": PNG}}});
    for client in CLIENTS {
        let body = match client {
            Client::OpenAi => json!({"model": "to-nova", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "what is this"},
                {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}")}}]}]}),
            Client::Anthropic => {
                json!({"model": "to-nova", "max_tokens": 64, "messages": [{"role": "user", "content": [
                {"type": "text", "text": "what is this"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]}]})
            }
            Client::Ollama => json!({"model": "to-nova", "stream": false, "messages": [
                {"role": "user", "content": "what is this", "images": [PNG]}]}),
        };
        let (status, _, bytes) = env.post(client, client.path(), &body).await;
        let ctx = format!("{client:?}: {}", text(&bytes));
        assert_eq!(status, 200, "{ctx}");
        assert_eq!(client.answer(&bytes).text, "echo: what is this", "{ctx}");
        let rec = bedrock.last_request().expect("request");
        let blocks = rec.body["messages"][0]["content"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(blocks.contains(&image), "{ctx}: {blocks:?}");
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_failover_and_refused_thinking() {
    let (bedrock, env) = start().await;
    // A ThrottlingException moves on to the next candidate, streamed or not.
    for (client, stream) in [(Client::OpenAi, false), (Client::Anthropic, true)] {
        bedrock.faults().fail_next(429, 1, None);
        let body = client.chat("bedrock-then-openai", "hi", stream, false);
        let (status, headers, bytes) = env.post(client, client.path(), &body).await;
        assert_eq!(status, 200, "{client:?}: {}", text(&bytes));
        assert_eq!(headers["x-lmrelay-provider"], "oa");
        let (status, _) = env
            .post_admin("/admin/keys/rotate", &json!({"provider": "br"}))
            .await;
        assert_eq!(status, 200);
    }
    // A wrong secret: Bedrock refuses the signature, the gateway moves on.
    let body = Client::Ollama.chat("wrong-secret-then-openai", "hi", false, false);
    let (status, headers, bytes) = env.post(Client::Ollama, "/api/chat", &body).await;
    assert_eq!(status, 200, "{}", text(&bytes));
    assert_eq!(headers["x-lmrelay-provider"], "oa");
    // With no other candidate, an unavailable Bedrock is a 503, in each client's shape.
    for client in CLIENTS {
        bedrock.faults().fail_next(503, 1, None);
        let body = client.chat("to-nova", "hi", false, false);
        let (status, _, bytes) = env.post(client, client.path(), &body).await;
        assert_eq!(status, 503, "{client:?}: {}", text(&bytes));
        client.error_message(&bytes);
    }
    // A request Bedrock refuses is the client's 400, with Bedrock's message.
    let mut bad = Client::OpenAi.chat("to-nova", "hi", false, false);
    bad["tool_choice"] = json!("required");
    bad["tools"] = common::weather_tool_openai();
    let (status, _, bytes) = env.post(Client::OpenAi, "/v1/chat/completions", &bad).await;
    assert_eq!(status, 400, "{}", text(&bytes));
    assert!(
        Client::OpenAi.error_message(&bytes).contains("toolChoice"),
        "{}",
        text(&bytes)
    );
    bedrock.faults().reset();
    // An exception frame inside the stream reaches the client as its in-stream error.
    bedrock.faults().set_stream_error_after(Some(2));
    let body = Client::OpenAi.chat("to-nova", "one two three four five", true, false);
    let (status, _, bytes) = env
        .post(Client::OpenAi, "/v1/chat/completions", &body)
        .await;
    assert_eq!(status, 200);
    let body_text = text(&bytes);
    assert!(body_text.contains("\"error\""), "{body_text}");
    assert!(!body_text.contains("[DONE]"), "{body_text}");
    // An exception right after messageStart, before any content, still fails over.
    bedrock.faults().set_stream_error_after(Some(1));
    let body = Client::Anthropic.chat("bedrock-then-openai", "hi", true, false);
    let (status, headers, bytes) = env.post(Client::Anthropic, "/v1/messages", &body).await;
    assert_eq!(status, 200, "{}", text(&bytes));
    assert_eq!(headers["x-lmrelay-provider"], "oa");
    assert_eq!(Client::Anthropic.stream(&bytes).text, "echo: hi");
    bedrock.faults().reset();
    // Claude Code's thinking sent to a Claude that cannot think is retried without it.
    let claude = json!({"model": "to-haiku", "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "ponder"}]});
    let (status, _, bytes) = env.post(Client::Anthropic, "/v1/messages", &claude).await;
    assert_eq!(status, 200, "{}", text(&bytes));
    assert_eq!(Client::Anthropic.answer(&bytes).text, "echo: ponder");
    let fields: Vec<Value> = bedrock
        .requests()
        .iter()
        .rev()
        .take(2)
        .map(|r| r.body["additionalModelRequestFields"].clone())
        .collect();
    assert_eq!(
        fields,
        vec![
            Value::Null,
            json!({"thinking": {"type": "enabled", "budget_tokens": 1024}})
        ]
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_counts() {
    let (bedrock, env) = start().await;
    let body = json!({"model": "to-bedrock", "system": "be brief",
        "messages": [{"role": "user", "content": "count these words please"}]});
    let (status, _, bytes) = env
        .post(Client::Anthropic, "/v1/messages/count_tokens", &body)
        .await;
    assert_eq!(status, 200, "{}", text(&bytes));
    let v: Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(v["input_tokens"], 8, "{v}");
    let rec = bedrock.last_request().expect("request");
    assert_eq!(rec.path, format!("{CLAUDE_PATH}/count-tokens"));
    assert_eq!(
        rec.body["input"]["converse"]["system"],
        json!([{"text": "be brief"}])
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_loop_that_lost_its_reasoning_goes_on_without_thinking() {
    let (bedrock, env) = start().await;
    for stream in [false, true] {
        let ctx = format!("stream={stream}");
        let mut body = Client::OpenAi.chat("to-bedrock", "Paris", stream, true);
        body["reasoning_effort"] = json!("low");
        let (status, _, bytes) = env
            .post(Client::OpenAi, "/v1/chat/completions", &body)
            .await;
        assert_eq!(status, 200, "{ctx}: {}", text(&bytes));
        let first = bedrock.last_request().expect("request");
        assert_eq!(
            first.body["additionalModelRequestFields"]["thinking"]["budget_tokens"], 1024,
            "{ctx}"
        );
        let a = read(Client::OpenAi, stream, &bytes);
        let call = a.tool_calls.first().expect("a tool call").clone();
        // An OpenAI client keeps no signature: Claude would refuse the replay with thinking
        // on, so the gateway turns it off for this request.
        let mut follow =
            Client::OpenAi.tool_followup("to-bedrock", "Paris", &call, "11 degrees", stream);
        follow["reasoning_effort"] = json!("low");
        let (status, _, bytes) = env
            .post(Client::OpenAi, "/v1/chat/completions", &follow)
            .await;
        assert_eq!(status, 200, "{ctx} follow-up: {}", text(&bytes));
        assert_eq!(
            read(Client::OpenAi, stream, &bytes).text,
            "tool result: 11 degrees",
            "{ctx}"
        );
        let rec = bedrock.last_request().expect("request");
        assert!(
            rec.body.get("additionalModelRequestFields").is_none(),
            "{ctx}: {}",
            rec.body
        );
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_checks_sign_a_token_count_and_find_a_wrong_secret() {
    let bedrock = spawn(
        Flavor::Bedrock,
        MockConfig {
            keys: vec!["AKIAMOCK:mock/secret+key".into()],
            ..MockConfig::default()
        },
    )
    .await
    .expect("bedrock mock");
    let env = Env::start_with_top(
        "[admin]\ntoken = \"admin-token\"\n[health]\ninterval = \"100ms\"\ntimeout = \"2s\"\n",
        &EXTRA.replace("BEDROCK_URL", &bedrock.base_url()),
    )
    .await;
    let mut states = (Value::Null, Value::Null);
    for _ in 0..50 {
        let providers = env.get_admin("/admin/providers").await;
        let healthy = |name: &str| {
            providers["providers"]
                .as_array()
                .and_then(|p| p.iter().find(|p| p["name"] == name))
                .map(|p| p["healthy"].clone())
                .unwrap_or(Value::Null)
        };
        states = (healthy("br"), healthy("br-wrong"));
        if states.0 == true && states.1 == false {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(states.0, true, "the right secret passes the check");
    assert_eq!(states.1, false, "a wrong secret fails it");
    assert!(bedrock
        .requests()
        .iter()
        .any(|r| r.path.ends_with("/count-tokens")));
    env.stop().await;
}
