//! Every client protocol against a Gemini upstream (the lmrelay-mock Gemini flavor), answered
//! whole and streamed: text, a tool round trip (also on a Gemini 3 model, which checks thought
//! signatures), thinking with its signature kept byte-exact, images, errors and failover,
//! embeddings and token counting. The shared harness's three mocks stay as they are; this
//! file adds its own Gemini mock through `Env::start_with`.

mod common;

use common::{Client, Env, CACHE_READ, CLIENTS};
use lmrelay_mock::{spawn, Flavor, MockConfig, MockServer};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Providers and routes over the Gemini mock; `GEMINI_URL` is replaced.
const EXTRA: &str = r#"
[[providers]]
name = "gm"
type = "gemini"
base_url = "GEMINI_URL"
keys = ["upstream-key"]
models = ["gemini-2.5-flash", "gemini-2.0-flash", "gemini-3-pro-preview", "text-embedding-004"]
timeout = "10s"

[[routes]]
model = "to-gemini"
targets = ["gm/gemini-2.5-flash"]

[[routes]]
model = "to-gemini-3"
targets = ["gm/gemini-3-pro-preview"]

[[routes]]
model = "to-gemini-no-thinking"
targets = ["gm/gemini-2.0-flash"]

[[routes]]
model = "gemini-then-openai"
targets = ["gm/gemini-2.5-flash", "oa/gpt-4o-mini"]

[[routes]]
model = "embed-gemini"
targets = ["gm/text-embedding-004"]
"#;

/// A one-pixel PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

async fn start_top(top: &str) -> (MockServer, Env) {
    let gemini = spawn(
        Flavor::Gemini,
        MockConfig {
            cache_read_tokens: CACHE_READ,
            keys: vec!["upstream-key".into()],
            ..MockConfig::default()
        },
    )
    .await
    .expect("gemini mock");
    let env = Env::start_with_top(top, &EXTRA.replace("GEMINI_URL", &gemini.base_url())).await;
    (gemini, env)
}

async fn start() -> (MockServer, Env) {
    start_top("").await
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
    let (gemini, env) = start().await;
    for client in CLIENTS {
        for stream in [false, true] {
            let body = client.chat("to-gemini", "hello there", stream, false);
            let (status, headers, bytes) = env.post(client, client.path(), &body).await;
            let ctx = format!("{client:?} stream={stream}: {}", text(&bytes));
            assert_eq!(status, 200, "{ctx}");
            assert_eq!(headers["x-lmrelay-provider"], "gm", "{ctx}");
            let a = read(client, stream, &bytes);
            assert_eq!(a.text, "echo: hello there", "{ctx}");
            assert!(a.tool_calls.is_empty(), "{ctx}");
            if client == Client::Anthropic && stream {
                // The opening frame already carries Gemini's prompt count.
                let events = common::sse_events(&text(&bytes));
                let start: Value = serde_json::from_str(&events[0].1).expect("JSON");
                let usage = &start["message"]["usage"];
                assert_eq!(usage["cache_read_input_tokens"], CACHE_READ, "{ctx}");
                assert!(
                    usage["input_tokens"].as_u64().is_some_and(|n| n > 0),
                    "{ctx}"
                );
            }
            let natural = match client {
                Client::OpenAi | Client::Ollama => "stop",
                Client::Anthropic => "end_turn",
            };
            assert_eq!(a.finish, natural, "{ctx}");
            assert!(a.output_tokens > 0, "{ctx}");
            // promptTokenCount includes the cached tokens, as the canonical input does.
            assert!(a.input_tokens > CACHE_READ, "{ctx}");
            if client != Client::Ollama {
                assert_eq!(a.cached_tokens, CACHE_READ, "{ctx}");
            }
            let rec = gemini.last_request().expect("upstream saw the request");
            let method = if stream {
                "streamGenerateContent"
            } else {
                "generateContent"
            };
            assert_eq!(
                rec.path,
                format!("/v1beta/models/gemini-2.5-flash:{method}"),
                "{ctx}"
            );
            assert_eq!(rec.query.as_deref(), stream.then_some("alt=sse"), "{ctx}");
            assert_eq!(rec.header("x-goog-api-key"), Some("upstream-key"), "{ctx}");
            assert_eq!(
                rec.body["systemInstruction"],
                json!({"parts": [{"text": "You are terse."}]}),
                "{ctx}"
            );
            assert_eq!(
                rec.body["contents"],
                json!([{"role": "user", "parts": [{"text": "hello there"}]}]),
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
    let (gemini, env) = start().await;
    // Gemini 3 rejects a replayed call without its thought signature; clients that cannot
    // keep one get Google's documented skip value.
    for model in ["to-gemini", "to-gemini-3"] {
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
                assert!(call.0.starts_with("call_"), "{ctx}: {call:?}");
                assert_eq!(a.finish, client.tool_finish(), "{ctx}");
                let decl = &gemini.last_request().expect("request").body["tools"];
                assert_eq!(
                    decl[0]["functionDeclarations"][0]["name"], "get_weather",
                    "{ctx}"
                );

                let follow = client.tool_followup(model, "Paris", call, "11 degrees", stream);
                let (status, _, bytes) = env.post(client, client.path(), &follow).await;
                assert_eq!(status, 200, "{ctx} follow-up: {}", text(&bytes));
                let b = read(client, stream, &bytes);
                assert_eq!(b.text, "tool result: 11 degrees", "{ctx}");
                let rec = gemini.last_request().expect("request");
                let contents = &rec.body["contents"];
                assert_eq!(
                    contents[1]["parts"][0]["functionCall"],
                    json!({"name": "get_weather", "args": {"city": "Paris"}}),
                    "{ctx}"
                );
                assert_eq!(
                    contents[2],
                    json!({"role": "user", "parts": [{"functionResponse":
                        {"name": "get_weather", "response": {"result": "11 degrees"}}}]}),
                    "{ctx}"
                );
                let signature = &contents[1]["parts"][0]["thoughtSignature"];
                if model == "to-gemini-3" {
                    assert_eq!(signature, "skip_thought_signature_validator", "{ctx}");
                } else {
                    assert!(signature.is_null(), "{ctx}");
                }
            }
        }
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thinking_signatures_survive_an_anthropic_client_byte_exact() {
    let (gemini, env) = start().await;
    for stream in [false, true] {
        let ctx = format!("stream={stream}");
        let mut body = Client::Anthropic.chat("to-gemini-3", "Paris", stream, true);
        body["max_tokens"] = json!(4096);
        body["thinking"] = json!({"type": "enabled", "budget_tokens": 2048});
        let (status, _, bytes) = env.post(Client::Anthropic, "/v1/messages", &body).await;
        assert_eq!(status, 200, "{ctx}: {}", text(&bytes));
        let first = gemini.last_request().expect("request");
        assert_eq!(
            first.body["generationConfig"]["thinkingConfig"],
            json!({"thinkingBudget": 2048, "includeThoughts": true}),
            "{ctx}"
        );
        let a = read(Client::Anthropic, stream, &bytes);
        assert_eq!(a.reasoning, "Thinking about: Paris", "{ctx}");
        assert_eq!(a.tool_calls.len(), 1, "{ctx}");
        // The assistant turn as the client got it: thinking blocks (with their signatures)
        // and the tool call, echoed back unchanged.
        let content = if stream {
            assistant_blocks_from_stream(&text(&bytes))
        } else {
            serde_json::from_slice::<Value>(&bytes).expect("JSON")["content"].clone()
        };
        let signatures: Vec<&str> = content
            .as_array()
            .expect("blocks")
            .iter()
            .filter_map(|b| b["signature"].as_str())
            .filter(|s| !s.is_empty())
            .collect();
        assert_eq!(signatures.len(), 1, "{ctx}: {content}");
        let sig = signatures[0]
            .strip_prefix("gemini:part:")
            .expect("a tagged signature");
        let id = a.tool_calls[0].0.clone();
        let follow = json!({"model": "to-gemini-3", "max_tokens": 4096, "stream": stream,
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
        let rec = gemini.last_request().expect("request");
        let model_turn = &rec.body["contents"][1]["parts"];
        // Byte-exact, on the call it signed; the unsigned thought summary is not replayed.
        assert_eq!(
            model_turn,
            &json!([{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                "thoughtSignature": sig}]),
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
                match d["type"].as_str() {
                    Some("thinking_delta") => {
                        let t = format!(
                            "{}{}",
                            b["thinking"].as_str().unwrap_or(""),
                            d["thinking"].as_str().unwrap_or("")
                        );
                        b["thinking"] = json!(t);
                    }
                    Some("signature_delta") => b["signature"] = d["signature"].clone(),
                    Some("text_delta") => {
                        let t = format!(
                            "{}{}",
                            b["text"].as_str().unwrap_or(""),
                            d["text"].as_str().unwrap_or("")
                        );
                        b["text"] = json!(t);
                    }
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

/// A chat request carrying text and an image, in `client`'s format.
fn image_request(client: Client, model: &str, url: Option<&str>) -> Value {
    let data_url = format!("data:image/png;base64,{PNG}");
    let url = url.unwrap_or(&data_url);
    match client {
        Client::OpenAi => json!({"model": model, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": url}}]}]}),
        Client::Anthropic => {
            let source = if url.starts_with("data:") {
                json!({"type": "base64", "media_type": "image/png", "data": PNG})
            } else {
                json!({"type": "url", "url": url})
            };
            json!({"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": [
                {"type": "text", "text": "what is this"}, {"type": "image", "source": source}]}]})
        }
        Client::Ollama => json!({"model": model, "stream": false, "messages": [
            {"role": "user", "content": "what is this", "images": [PNG]}]}),
    }
}

/// Serves the PNG over plain HTTP on loopback, for a bounded number of requests.
async fn image_server() -> std::net::SocketAddr {
    use base64::Engine;
    let png = base64::engine::general_purpose::STANDARD
        .decode(PNG)
        .expect("png");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        for _ in 0..4 {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                png.len()
            );
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(&png).await;
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_reach_gemini_inline() {
    let addr = image_server().await;
    let (gemini, env) = start_top("fetch_private_images = true").await;
    let inline = json!({"inlineData": {"mimeType": "image/png", "data": PNG}});
    for client in CLIENTS {
        let (status, _, bytes) = env
            .post(
                client,
                client.path(),
                &image_request(client, "to-gemini", None),
            )
            .await;
        let ctx = format!("{client:?}: {}", text(&bytes));
        assert_eq!(status, 200, "{ctx}");
        assert_eq!(client.answer(&bytes).text, "echo: what is this", "{ctx}");
        let rec = gemini.last_request().expect("request");
        let parts = rec.body["contents"][0]["parts"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(parts.contains(&inline), "{ctx}: {parts:?}");
    }
    // An image URL is downloaded by the gateway and sent inline.
    let url = format!("http://{addr}/cat.png");
    for client in [Client::OpenAi, Client::Anthropic] {
        let (status, _, bytes) = env
            .post(
                client,
                client.path(),
                &image_request(client, "to-gemini", Some(&url)),
            )
            .await;
        assert_eq!(status, 200, "{client:?}: {}", text(&bytes));
        let rec = gemini.last_request().expect("request");
        let parts = rec.body["contents"][0]["parts"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(parts.contains(&inline), "{client:?}: {parts:?}");
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_failover_and_refused_thinking() {
    let (gemini, env) = start_top("[admin]\ntoken = \"admin-token\"\n").await;
    // A 429 moves on to the next candidate.
    gemini.faults().fail_next(429, 1, Some(2));
    let body = Client::OpenAi.chat("gemini-then-openai", "hi", false, false);
    let (status, headers, bytes) = env
        .post(Client::OpenAi, "/v1/chat/completions", &body)
        .await;
    assert_eq!(status, 200, "{}", text(&bytes));
    assert_eq!(headers["x-lmrelay-provider"], "oa");
    // The 429 cooled Gemini's only key for 2 s; an admin rotation brings it back now.
    let (status, _) = env
        .post_admin("/admin/keys/rotate", &serde_json::json!({"provider": "gm"}))
        .await;
    assert_eq!(status, 200);
    // With no other candidate, an overloaded Gemini is a 503, in each client's shape.
    for client in CLIENTS {
        gemini.faults().fail_next(503, 1, None);
        let body = client.chat("to-gemini", "hi", false, false);
        let (status, _, bytes) = env.post(client, client.path(), &body).await;
        assert_eq!(status, 503, "{client:?}: {}", text(&bytes));
        client.error_message(&bytes);
    }
    gemini.faults().reset();
    // An error inside the stream reaches the client as that protocol's in-stream error.
    gemini.faults().set_stream_error_after(Some(2));
    let body = Client::OpenAi.chat("to-gemini", "one two three four five", true, false);
    let (status, _, bytes) = env
        .post(Client::OpenAi, "/v1/chat/completions", &body)
        .await;
    assert_eq!(status, 200);
    let body_text = text(&bytes);
    assert!(body_text.contains("\"error\""), "{body_text}");
    assert!(!body_text.contains("[DONE]"), "{body_text}");
    gemini.faults().reset();
    // Claude Code's thinking sent to a model that cannot think is retried without it.
    let claude = json!({"model": "to-gemini-no-thinking", "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "ponder"}]});
    let (status, _, bytes) = env.post(Client::Anthropic, "/v1/messages", &claude).await;
    assert_eq!(status, 200, "{}", text(&bytes));
    assert_eq!(Client::Anthropic.answer(&bytes).text, "echo: ponder");
    // JSON mode with tools, which Gemini 2 refuses, is retried without the JSON mode.
    let mut both = Client::OpenAi.chat("to-gemini", "Paris", false, true);
    both["response_format"] = json!({"type": "json_object"});
    let (status, _, bytes) = env
        .post(Client::OpenAi, "/v1/chat/completions", &both)
        .await;
    assert_eq!(status, 200, "{}", text(&bytes));
    assert_eq!(Client::OpenAi.answer(&bytes).tool_calls.len(), 1);
    let last = gemini.last_request().expect("request");
    assert!(
        last.body["generationConfig"]
            .get("responseMimeType")
            .is_none(),
        "{}",
        last.body
    );
    let configs: Vec<Value> = gemini
        .requests()
        .iter()
        .rev()
        .skip(2)
        .take(2)
        .map(|r| r.body["generationConfig"]["thinkingConfig"].clone())
        .collect();
    assert_eq!(
        configs,
        vec![
            Value::Null,
            json!({"thinkingBudget": 1024, "includeThoughts": true})
        ]
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_and_token_counts() {
    let (gemini, env) = start().await;
    let (status, _, bytes) = env
        .post(
            Client::OpenAi,
            "/v1/embeddings",
            &json!({"model": "embed-gemini", "input": ["alpha", "beta"]}),
        )
        .await;
    assert_eq!(status, 200, "{}", text(&bytes));
    let v: Value = serde_json::from_slice(&bytes).expect("JSON");
    let first: Vec<f32> =
        serde_json::from_value(v["data"][0]["embedding"].clone()).expect("floats");
    assert_eq!(first, lmrelay_mock::embedding_vector("alpha", first.len()));
    assert_eq!(v["data"].as_array().map(Vec::len), Some(2));
    let rec = gemini.last_request().expect("request");
    assert_eq!(
        rec.path,
        "/v1beta/models/text-embedding-004:batchEmbedContents"
    );

    let body = json!({"model": "to-gemini", "system": "be brief",
        "messages": [{"role": "user", "content": "count these words please"}]});
    let (status, _, bytes) = env
        .post(Client::Anthropic, "/v1/messages/count_tokens", &body)
        .await;
    assert_eq!(status, 200, "{}", text(&bytes));
    let v: Value = serde_json::from_slice(&bytes).expect("JSON");
    // 32 characters of system and message text: 8 tokens, as Gemini counted them.
    assert_eq!(v["input_tokens"], 8, "{v}");
    let rec = gemini.last_request().expect("request");
    assert_eq!(rec.path, "/v1beta/models/gemini-2.5-flash:countTokens");
    env.stop().await;
}
