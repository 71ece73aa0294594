//! The Responses API both ways, through a real gateway and loopback mocks of every upstream
//! type: a Responses client against openai (chat and Responses), anthropic, ollama, gemini,
//! azure, cohere and bedrock, answered whole and streamed, with a tool round trip and
//! reasoning; every other client protocol against an openai provider asked through
//! Responses; the per-provider switch; errors in the Responses shape; the cache.

mod common;

use common::{Client, Env, CACHE_READ, CLIENTS};
use lmrelay_mock::{spawn, Flavor, MockConfig, MockServer};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Providers and routes over the extra mocks (`*_URL` replaced) and two `openai` providers
/// over the OpenAI mock asked through Responses: all models (`oar`) and by glob (`oam`).
const EXTRA: &str = r#"
[[providers]]
name = "oar"
type = "openai"
base_url = "OPENAI_URL"
keys = ["upstream-key"]
models = ["gpt-4o-mini", "o4-mini"]
api = "responses"
timeout = "10s"

[[providers]]
name = "oam"
type = "openai"
base_url = "OPENAI_URL"
keys = ["upstream-key"]
models = ["gpt-4o-mini", "o4-mini"]
responses_models = ["o4-*"]
timeout = "10s"

[[providers]]
name = "gm"
type = "gemini"
base_url = "GEMINI_URL"
keys = ["upstream-key"]
models = ["gemini-2.5-flash", "gemini-3-pro-preview"]
timeout = "10s"

[[providers]]
name = "az"
type = "azure"
base_url = "AZURE_URL"
api_version = "2024-10-21"
keys = ["az-key"]
models = ["gpt-4o"]
timeout = "10s"

[[providers]]
name = "co"
type = "cohere"
base_url = "COHERE_URL"
keys = ["co-key"]
models = ["command-r-plus"]
timeout = "10s"

[[providers]]
name = "br"
type = "bedrock"
aws_region = "us-west-2"
base_url = "BEDROCK_URL"
keys = ["AKIAMOCK:mock/secret+key"]
models = ["us.anthropic.claude-sonnet-4-20250514-v1:0"]
timeout = "10s"

[[routes]]
model = "to-openai-responses"
targets = ["oar/gpt-4o-mini"]

[[routes]]
model = "to-openai-responses-reasoning"
targets = ["oar/o4-mini"]

[[routes]]
model = "switch-chat"
targets = ["oam/gpt-4o-mini"]

[[routes]]
model = "switch-responses"
targets = ["oam/o4-mini"]

[[routes]]
model = "to-gemini"
targets = ["gm/gemini-2.5-flash"]

[[routes]]
model = "to-gemini-3"
targets = ["gm/gemini-3-pro-preview"]

[[routes]]
model = "to-azure"
targets = ["az/gpt-4o"]

[[routes]]
model = "to-cohere"
targets = ["co/command-r-plus"]

[[routes]]
model = "to-bedrock"
targets = ["br/us.anthropic.claude-sonnet-4-20250514-v1:0"]

[[routes]]
model = "responses-cached"
targets = ["oa/gpt-4o-mini"]
cache = true
"#;

/// Every upstream type: (route, provider, whether the answer reports cached tokens).
const UPSTREAMS: [(&str, &str, bool); 8] = [
    ("to-openai", "oa", true),
    ("to-openai-responses", "oar", true),
    ("to-anthropic", "an", true),
    ("to-ollama", "ol", false),
    ("to-gemini", "gm", true),
    ("to-azure", "az", true),
    ("to-cohere", "co", false),
    ("to-bedrock", "br", true),
];

struct Mocks {
    _others: Vec<MockServer>,
}

async fn start() -> (Mocks, Env) {
    let cfg = |keys: &[&str]| MockConfig {
        cache_read_tokens: CACHE_READ,
        keys: keys.iter().map(|k| (*k).to_owned()).collect(),
        ..MockConfig::default()
    };
    let gemini = spawn(Flavor::Gemini, cfg(&["upstream-key"]))
        .await
        .expect("gemini");
    let azure = spawn(Flavor::Azure, cfg(&["az-key"])).await.expect("azure");
    let cohere = spawn(Flavor::Cohere, cfg(&["co-key"]))
        .await
        .expect("cohere");
    let bedrock = spawn(Flavor::Bedrock, cfg(&["AKIAMOCK:mock/secret+key"]))
        .await
        .expect("bedrock");
    let extra = EXTRA
        .replace("GEMINI_URL", &gemini.base_url())
        .replace("AZURE_URL", &azure.base_url())
        .replace("COHERE_URL", &cohere.base_url())
        .replace("BEDROCK_URL", &bedrock.base_url());
    let env = Env::start_with_top("[cache]\nttl = \"5s\"\n", &extra).await;
    (
        Mocks {
            _others: vec![gemini, azure, cohere, bedrock],
        },
        env,
    )
}

fn weather_tool() -> Value {
    json!([{"type": "function", "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "strict": false}])
}

fn request(model: &str, text: &str, stream: bool, tools: bool) -> Value {
    let mut body = json!({"model": model, "instructions": "You are terse.",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": text}]}],
        "stream": stream, "store": false, "metadata": {"case": "test"}});
    if tools {
        body["tools"] = weather_tool();
        body["tool_choice"] = json!("auto");
    }
    body
}

async fn post(env: &Env, body: &Value) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    env.post(Client::OpenAi, "/v1/responses", body).await
}

/// The final response object: the body, or the terminal event of a stream after checking
/// the stream's grammar and that its deltas add up to the final items.
fn final_response(stream: bool, bytes: &[u8]) -> Value {
    if !stream {
        return serde_json::from_slice(bytes).expect("JSON answer");
    }
    let text = String::from_utf8_lossy(bytes);
    let events = common::sse_events(&text);
    let mut items: BTreeMap<u64, (Value, bool)> = BTreeMap::new();
    let mut deltas: BTreeMap<u64, String> = BTreeMap::new();
    let mut last = Value::Null;
    for (n, (name, data)) in events.iter().enumerate() {
        let e: Value = serde_json::from_str(data).expect("event JSON");
        assert_eq!(e["type"].as_str(), Some(name.as_str()), "{text}");
        assert_eq!(e["sequence_number"].as_u64(), Some(n as u64), "{text}");
        assert!(last.is_null(), "nothing after the terminal event: {text}");
        let oi = e["output_index"].as_u64();
        match name.as_str() {
            "response.created" => assert_eq!(n, 0),
            "response.in_progress" => assert_eq!(n, 1),
            "response.output_item.added" => {
                let prev = items.insert(oi.expect("index"), (e["item"].clone(), false));
                assert!(prev.is_none(), "{text}");
            }
            "response.output_item.done" => {
                let (added, done) = items.get_mut(&oi.expect("index")).expect("added first");
                assert_eq!(added["id"], e["item"]["id"]);
                assert_eq!(added["type"], e["item"]["type"]);
                assert_eq!(added["call_id"], e["item"]["call_id"]);
                *done = true;
            }
            "response.output_text.delta"
            | "response.function_call_arguments.delta"
            | "response.reasoning_summary_text.delta" => {
                let (_, done) = items.get(&oi.expect("index")).expect("item added first");
                assert!(!done, "{text}");
                deltas
                    .entry(oi.expect("index"))
                    .or_default()
                    .push_str(e["delta"].as_str().expect("delta"));
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                assert!(items.values().all(|(_, d)| *d), "every item done: {text}");
                last = e["response"].clone();
            }
            _ => {}
        }
    }
    assert!(!last.is_null(), "a terminal event: {text}");
    let id = events[0].1.as_str();
    let first: Value = serde_json::from_str(id).expect("JSON");
    assert_eq!(first["response"]["id"], last["id"], "one response id");
    for (i, item) in last["output"].as_array().into_iter().flatten().enumerate() {
        let streamed = deltas.get(&(i as u64)).cloned().unwrap_or_default();
        let whole = match item["type"].as_str() {
            Some("message") => item["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            Some("function_call") => item["arguments"].as_str().unwrap_or_default().to_owned(),
            Some("reasoning") => item["summary"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n\n"),
            _ => continue,
        };
        assert_eq!(streamed, whole, "deltas add up to the final item: {text}");
    }
    last
}

/// The text of every message item, joined.
fn output_text(r: &Value) -> String {
    r["output"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["type"] == "message")
        .flat_map(|i| i["content"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["text"].as_str().map(str::to_owned))
        .collect()
}

fn items_of<'a>(r: &'a Value, kind: &str) -> Vec<&'a Value> {
    r["output"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["type"] == kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_responses_client_reaches_every_upstream_type() {
    let (_mocks, env) = start().await;
    for (model, provider, cached) in UPSTREAMS {
        for stream in [false, true] {
            let ctx = format!("{model} stream={stream}");
            let (status, headers, bytes) =
                post(&env, &request(model, "hello there", stream, false)).await;
            assert_eq!(status, 200, "{ctx}: {}", String::from_utf8_lossy(&bytes));
            assert_eq!(headers["x-lmrelay-provider"], provider, "{ctx}");
            let r = final_response(stream, &bytes);
            assert_eq!(r["object"], "response", "{ctx}");
            assert_eq!(r["status"], "completed", "{ctx}");
            assert_eq!(r["model"], model, "{ctx}");
            assert!(
                r["id"].as_str().is_some_and(|i| i.starts_with("resp_")),
                "{ctx}"
            );
            assert_eq!(output_text(&r), "echo: hello there", "{ctx}");
            let u = &r["usage"];
            assert!(u["output_tokens"].as_u64() > Some(0), "{ctx}: {u}");
            assert_eq!(
                u["total_tokens"].as_u64(),
                Some(
                    u["input_tokens"].as_u64().unwrap_or(0)
                        + u["output_tokens"].as_u64().unwrap_or(0)
                ),
                "{ctx}"
            );
            assert!(
                u["output_tokens_details"]["reasoning_tokens"].is_u64(),
                "{ctx}"
            );
            if cached {
                assert_eq!(
                    u["input_tokens_details"]["cached_tokens"], CACHE_READ,
                    "{ctx}: {u}"
                );
            }
        }
    }
    // The instructions reached the upstream in its own place.
    let rec = env.openai.requests();
    let responses: Vec<_> = rec
        .iter()
        .filter(|r| r.path.ends_with("/responses"))
        .collect();
    assert!(!responses.is_empty());
    for r in &responses {
        assert_eq!(r.body["input"][0]["role"], "system");
        assert_eq!(r.body["store"], false);
        assert_eq!(
            r.body["metadata"],
            json!({"case": "test"}),
            "metadata reaches OpenAI"
        );
    }
    let chat: Vec<_> = rec
        .iter()
        .filter(|r| r.path.ends_with("/chat/completions"))
        .collect();
    assert!(
        chat.iter().all(|r| r.body.get("metadata").is_none()),
        "not to chat"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_round_trip_from_a_responses_client_to_every_upstream_type() {
    let (_mocks, env) = start().await;
    for (model, _, _) in UPSTREAMS {
        for stream in [false, true] {
            let ctx = format!("{model} stream={stream}");
            let (status, _, bytes) = post(&env, &request(model, "Paris", stream, true)).await;
            assert_eq!(status, 200, "{ctx}: {}", String::from_utf8_lossy(&bytes));
            let r = final_response(stream, &bytes);
            assert_eq!(r["status"], "completed", "{ctx}");
            let calls = items_of(&r, "function_call");
            assert_eq!(calls.len(), 1, "{ctx}: {r}");
            let call = calls[0].clone();
            assert_eq!(call["name"], "get_weather", "{ctx}");
            assert_eq!(call["status"], "completed", "{ctx}");
            assert!(
                call["id"].as_str().is_some_and(|i| i.starts_with("fc_")),
                "{ctx}"
            );
            let args: Value = serde_json::from_str(call["arguments"].as_str().expect("string"))
                .expect("JSON args");
            assert_eq!(args, json!({"city": "Paris"}), "{ctx}");
            // The SDK's way back: the call item as it came, then its output.
            let mut follow = request(model, "Paris", stream, true);
            let input = follow["input"].as_array_mut().expect("input");
            input.push(call.clone());
            input.push(json!({"type": "function_call_output", "call_id": call["call_id"], "output": "11 degrees"}));
            let (status, _, bytes) = post(&env, &follow).await;
            assert_eq!(
                status,
                200,
                "{ctx} follow-up: {}",
                String::from_utf8_lossy(&bytes)
            );
            let r = final_response(stream, &bytes);
            assert_eq!(output_text(&r), "tool result: 11 degrees", "{ctx}");
        }
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_round_trips_byte_exact_through_an_openai_responses_upstream() {
    let (_mocks, env) = start().await;
    for stream in [false, true] {
        let ctx = format!("stream={stream}");
        let mut body = request("to-openai-responses-reasoning", "why", stream, false);
        body["reasoning"] = json!({"effort": "low", "summary": "auto"});
        body["include"] = json!(["reasoning.encrypted_content"]);
        let (status, _, bytes) = post(&env, &body).await;
        assert_eq!(status, 200, "{ctx}: {}", String::from_utf8_lossy(&bytes));
        let r = final_response(stream, &bytes);
        let reasoning = items_of(&r, "reasoning");
        assert_eq!(reasoning.len(), 1, "{ctx}: {r}");
        assert_eq!(
            reasoning[0]["summary"][0]["text"], "Thinking about: why",
            "{ctx}"
        );
        let enc = reasoning[0]["encrypted_content"]
            .as_str()
            .expect("encrypted")
            .to_owned();
        assert!(
            enc.starts_with("gAAAAB"),
            "OpenAI's value, untouched: {enc}"
        );
        assert!(r["usage"]["output_tokens_details"]["reasoning_tokens"].as_u64() > Some(0));
        let rec = env.openai.last_request().expect("request");
        assert_eq!(rec.body["include"], json!(["reasoning.encrypted_content"]));
        assert_eq!(rec.body["reasoning"]["effort"], "low");
        // Sent back as the next turn's history: the mock refuses content it did not make.
        let mut follow = body.clone();
        let input = follow["input"].as_array_mut().expect("input");
        input.extend(r["output"].as_array().cloned().unwrap_or_default());
        input.push(json!({"role": "user", "content": "and then?"}));
        let (status, _, bytes) = post(&env, &follow).await;
        assert_eq!(status, 200, "{ctx}: {}", String::from_utf8_lossy(&bytes));
        let rec = env.openai.last_request().expect("request");
        let sent: Vec<&Value> = rec.body["input"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| i["type"] == "reasoning")
            .collect();
        assert_eq!(sent.len(), 1, "{ctx}");
        assert_eq!(sent[0]["encrypted_content"], enc.as_str(), "byte-exact");
        // The same history to another upstream: the reasoning is dropped, not sent.
        follow["model"] = json!("to-anthropic");
        let (status, _, bytes) = post(&env, &follow).await;
        assert_eq!(status, 200, "{ctx}: {}", String::from_utf8_lossy(&bytes));
        let rec = env.anthropic.last_request().expect("request");
        assert!(!rec.body.to_string().contains(&enc), "{ctx}");
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_from_other_upstreams_reaches_a_responses_client() {
    let (_mocks, env) = start().await;
    for (model, stream) in [("to-ollama-thinking", false), ("to-ollama-thinking", true)] {
        let mut body = request(model, "why", stream, false);
        body["reasoning"] = json!({"effort": "medium", "summary": "auto"});
        let (status, _, bytes) = post(&env, &body).await;
        assert_eq!(status, 200, "{model}: {}", String::from_utf8_lossy(&bytes));
        let r = final_response(stream, &bytes);
        let reasoning = items_of(&r, "reasoning");
        assert_eq!(reasoning.len(), 1, "{model} stream={stream}: {r}");
        assert!(
            reasoning[0]["summary"][0]["text"]
                .as_str()
                .is_some_and(|t| t.contains("why")),
            "{r}"
        );
        assert_eq!(output_text(&r), "echo: why");
    }
    env.stop().await;
}

/// A tool loop with reasoning on: the client sends every output item back, reasoning
/// included, and each upstream gets its own reasoning back (Anthropic and Bedrock need the
/// signed thinking before a tool result, Gemini 3 checks the call's signature).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_survives_a_tool_loop_on_every_thinking_upstream() {
    let (mocks, env) = start().await;
    let bedrock = &mocks._others[3];
    for (model, check) in [
        ("to-openai-responses-reasoning", "gAAAAB"),
        ("to-anthropic", "sig_"),
        ("to-bedrock", "\"signature\":\"c2lnX"),
        ("to-gemini-3", ""),
        ("to-ollama-thinking", ""),
    ] {
        for stream in [false, true] {
            let ctx = format!("{model} stream={stream}");
            let mut body = request(model, "Paris", stream, true);
            body["reasoning"] = json!({"effort": "medium", "summary": "auto"});
            body["include"] = json!(["reasoning.encrypted_content"]);
            let (status, _, bytes) = post(&env, &body).await;
            assert_eq!(status, 200, "{ctx}: {}", String::from_utf8_lossy(&bytes));
            let r = final_response(stream, &bytes);
            let call = items_of(&r, "function_call")
                .first()
                .map(|c| (*c).clone())
                .unwrap_or_else(|| panic!("{ctx}: no call in {r}"));
            if model != "to-gemini-3" {
                assert!(!items_of(&r, "reasoning").is_empty(), "{ctx}: {r}");
            }
            let mut follow = body.clone();
            let input = follow["input"].as_array_mut().expect("input");
            input.extend(r["output"].as_array().cloned().unwrap_or_default());
            input.push(json!({"type": "function_call_output", "call_id": call["call_id"], "output": "11 degrees"}));
            let (status, _, bytes) = post(&env, &follow).await;
            assert_eq!(
                status,
                200,
                "{ctx} follow-up: {}",
                String::from_utf8_lossy(&bytes)
            );
            assert_eq!(
                output_text(&final_response(stream, &bytes)),
                "tool result: 11 degrees",
                "{ctx}"
            );
            if !check.is_empty() {
                let mock = match model {
                    "to-anthropic" => &env.anthropic,
                    "to-bedrock" => bedrock,
                    _ => &env.openai,
                };
                let sent = mock.last_request().expect("request").body.to_string();
                assert!(
                    sent.contains(check),
                    "{ctx}: the upstream got its reasoning back: {sent}"
                );
            }
        }
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_protocol_reaches_an_openai_responses_upstream() {
    let (_mocks, env) = start().await;
    for client in CLIENTS {
        for stream in [false, true] {
            let ctx = format!("{client:?} stream={stream}");
            let body = client.chat("to-openai-responses", "hello there", stream, false);
            let (status, _, bytes) = env.post(client, client.path(), &body).await;
            assert_eq!(status, 200, "{ctx}: {}", String::from_utf8_lossy(&bytes));
            let a = if stream {
                client.stream(&bytes)
            } else {
                client.answer(&bytes)
            };
            assert_eq!(a.text, "echo: hello there", "{ctx}");
            if client != Client::Ollama {
                assert_eq!(a.cached_tokens, CACHE_READ, "{ctx}");
            }
            let rec = env.openai.last_request().expect("request");
            assert!(rec.path.ends_with("/responses"), "{ctx}: {}", rec.path);
            assert_eq!(
                rec.body["stream"].as_bool().unwrap_or(false),
                stream,
                "{ctx}"
            );
            // Tool round trip, validated by the mock's Responses rules.
            let body = client.chat("to-openai-responses", "Paris", stream, true);
            let (status, _, bytes) = env.post(client, client.path(), &body).await;
            assert_eq!(status, 200, "{ctx}: {}", String::from_utf8_lossy(&bytes));
            let a = if stream {
                client.stream(&bytes)
            } else {
                client.answer(&bytes)
            };
            assert_eq!(a.tool_calls.len(), 1, "{ctx}: {a:?}");
            assert_eq!(a.tool_calls[0].2, json!({"city": "Paris"}), "{ctx}");
            assert_eq!(a.finish, client.tool_finish(), "{ctx}");
            let follow = client.tool_followup(
                "to-openai-responses",
                "Paris",
                &a.tool_calls[0],
                "11 degrees",
                stream,
            );
            let (status, _, bytes) = env.post(client, client.path(), &follow).await;
            assert_eq!(status, 200, "{ctx}: {}", String::from_utf8_lossy(&bytes));
            let b = if stream {
                client.stream(&bytes)
            } else {
                client.answer(&bytes)
            };
            assert_eq!(b.text, "tool result: 11 degrees", "{ctx}");
        }
    }
    // An Anthropic client's thinking, through Responses: reasoning summary as thinking.
    let body = json!({"model": "to-openai-responses-reasoning", "max_tokens": 256, "stream": false,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "why"}]});
    let (status, _, bytes) = env.post(Client::Anthropic, "/v1/messages", &body).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_switch_picks_the_api_per_model() {
    let (_mocks, env) = start().await;
    for (model, path) in [
        ("switch-chat", "/v1/chat/completions"),
        ("switch-responses", "/v1/responses"),
    ] {
        let body = Client::OpenAi.chat(model, "hi", false, false);
        let (status, _, bytes) = env
            .post(Client::OpenAi, "/v1/chat/completions", &body)
            .await;
        assert_eq!(status, 200, "{model}: {}", String::from_utf8_lossy(&bytes));
        assert_eq!(
            env.openai.last_request().expect("request").path,
            path,
            "{model}"
        );
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_come_in_the_responses_shape() {
    let (_mocks, env) = start().await;
    let cases = [
        (
            json!({"model": "to-openai", "input": "hi", "previous_response_id": "resp_1"}),
            400,
            "previous_response_id",
        ),
        (
            json!({"model": "to-openai", "input": "hi", "tools": [{"type": "code_interpreter"}]}),
            400,
            "tools[0].type",
        ),
        (
            json!({"model": "to-openai", "input": [{"type": "item_reference", "id": "msg_1"}]}),
            400,
            "input[0]",
        ),
        (
            json!({"model": "to-openai", "input": [{"role": "user", "content": 5}]}),
            400,
            "input[0]",
        ),
        (
            json!({"model": "no-such-model", "input": "hi"}),
            404,
            "model",
        ),
    ];
    for (body, status, param) in cases {
        let (got, _, bytes) = post(&env, &body).await;
        assert_eq!(got, status, "{body}: {}", String::from_utf8_lossy(&bytes));
        let v: Value = serde_json::from_slice(&bytes).expect("JSON error");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{v}"
        );
        assert!(v["error"]["type"].is_string(), "{v}");
        assert_eq!(v["error"]["param"], param, "{v}");
    }
    let (status, bytes) = env.get("/v1/responses/resp_123", &[]).await;
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&bytes));
    // An upstream that fails mid-stream (after content, so too late to fail over): the
    // stream ends with one `response.failed`.
    env.openai.faults().set_stream_error_after(Some(5));
    for model in ["to-openai", "to-openai-responses"] {
        let (status, _, bytes) = post(
            &env,
            &request(model, "one two three four five", true, false),
        )
        .await;
        assert_eq!(status, 200, "{model}");
        let r = final_response(true, &bytes);
        assert_eq!(r["status"], "failed", "{model}: {r}");
        assert!(r["error"]["message"].is_string(), "{r}");
    }
    env.openai.faults().reset();
    // A Responses upstream refusing before the stream: the gateway's answer when every
    // upstream failed, as an HTTP status with the error body, not a stream.
    env.openai.faults().fail_next(429, 1, Some(1));
    let (status, headers, bytes) =
        post(&env, &request("to-openai-responses", "hi", true, false)).await;
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&bytes));
    assert!(headers.contains_key("retry-after"));
    let v: Value = serde_json::from_slice(&bytes).expect("JSON");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Rate limit")),
        "{v}"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_responses_request_shares_the_cache_with_chat() {
    let (_mocks, env) = start().await;
    let chat = json!({"model": "responses-cached", "max_tokens": 64, "messages": [
        {"role": "system", "content": "You are terse."}, {"role": "user", "content": "cache me"}]});
    let (status, headers, _) = env
        .post(Client::OpenAi, "/v1/chat/completions", &chat)
        .await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-lmrelay-cache"], "miss");
    // The answer is put in the cache just after it is sent: wait until a chat request hits.
    for _ in 0..100 {
        let (_, headers, _) = env
            .post(Client::OpenAi, "/v1/chat/completions", &chat)
            .await;
        if headers["x-lmrelay-cache"] == "hit" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let before = env.openai.requests().len();
    for stream in [false, true] {
        let body = json!({"model": "responses-cached", "max_output_tokens": 64,
            "instructions": "You are terse.", "input": "cache me", "stream": stream});
        let (status, headers, bytes) = post(&env, &body).await;
        assert_eq!(status, 200);
        assert_eq!(headers["x-lmrelay-cache"], "hit", "stream={stream}");
        assert_eq!(
            output_text(&final_response(stream, &bytes)),
            "echo: cache me"
        );
    }
    assert_eq!(env.openai.requests().len(), before, "served from the cache");
    env.stop().await;
}

/// Reads a kept response. No waiting: the record is written before the answer's last bytes
/// reach the client, so a client that continues at once finds it.
async fn kept(env: &Env, id: &str) -> (u16, Value) {
    let (status, bytes) = env.get(&format!("/v1/responses/{id}"), &[]).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_responses_continue_and_read_back_when_the_gateway_stores_them() {
    let env = Env::start_with_top("[responses]\nstore = true\nttl = \"1h\"\n", "").await;
    // A whole answer, kept and read back as the client got it.
    let first =
        json!({"model": "to-anthropic", "instructions": "You are terse.", "input": "hello"});
    let (status, _, bytes) = post(&env, &first).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let r1: Value = serde_json::from_slice(&bytes).expect("JSON");
    let id1 = r1["id"].as_str().expect("id").to_owned();
    // A streamed continuation, at once (the record is written before the client has the
    // last bytes): the upstream sees the whole conversation.
    let second = json!({"model": "to-anthropic", "previous_response_id": id1, "input": "and again", "stream": true});
    let (status, _, bytes) = post(&env, &second).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let r2 = final_response(true, &bytes);
    assert_eq!(output_text(&r2), "echo: and again");
    let sent = env.anthropic.last_request().expect("request").body;
    assert_eq!(sent["messages"].as_array().map(Vec::len), Some(3), "{sent}");
    assert_eq!(sent["messages"][1]["role"], "assistant");
    assert!(
        sent.get("system").is_none(),
        "instructions are not inherited: {sent}"
    );
    // The streamed answer was kept too (from its terminal event), and continues in turn,
    // across upstream types.
    let id2 = r2["id"].as_str().expect("id").to_owned();
    let third =
        json!({"model": "to-ollama", "previous_response_id": id2, "input": "last", "store": false});
    let (status, _, bytes) = post(&env, &third).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let r3: Value = serde_json::from_slice(&bytes).expect("JSON");
    let sent = env.ollama.last_request().expect("request").body;
    assert_eq!(sent["messages"].as_array().map(Vec::len), Some(5), "{sent}");
    // Both kept answers read back as the client got them.
    let (status, got) = kept(&env, &id1).await;
    assert_eq!(status, 200);
    assert_eq!(got, r1);
    assert_eq!(kept(&env, &id2).await.1["output"], r2["output"]);
    // `store: false` keeps nothing; an unknown id is OpenAI's 404.
    let id3 = r3["id"].as_str().expect("id");
    assert_eq!(env.get(&format!("/v1/responses/{id3}"), &[]).await.0, 404);
    let (status, _, bytes) = post(
        &env,
        &json!({"model": "to-ollama", "previous_response_id": "resp_nope", "input": "x"}),
    )
    .await;
    assert_eq!(status, 404);
    let v: Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(v["error"]["param"], "previous_response_id");
    assert_eq!(v["error"]["code"], "previous_response_not_found");
    // Deleting forgets it.
    let resp = env
        .http
        .delete(format!("{}/v1/responses/{id1}", env.url))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = serde_json::from_slice(&resp.bytes().await.expect("body")).expect("JSON");
    assert_eq!(
        v,
        json!({"id": id1, "object": "response.deleted", "deleted": true})
    );
    assert_eq!(env.get(&format!("/v1/responses/{id1}"), &[]).await.0, 404);
    env.stop().await;
}
