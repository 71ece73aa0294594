//! Test harness: three lmrelay-mock upstreams (OpenAI, Anthropic, Ollama) on loopback, a
//! gateway in front of them, and a client for each of the three protocols that sends raw
//! JSON and reads answers and streams back into one comparable shape.

#![allow(dead_code)]

use lmrelay::config::{parse_str, Format};
use lmrelay::Gateway;
use lmrelay_mock::{spawn, Flavor, MockConfig, MockServer};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::sync::oneshot;

/// The cached input tokens every mock reports, to check usage normalisation.
pub const CACHE_READ: u64 = 100;

pub struct Env {
    pub openai: MockServer,
    pub anthropic: MockServer,
    pub ollama: MockServer,
    pub url: String,
    pub http: reqwest::Client,
    pub health: std::sync::Arc<dyn lmrelay::health::HealthStore>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// An upstream type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    OpenAi,
    Anthropic,
    Ollama,
}

pub const UPSTREAMS: [Upstream; 3] = [Upstream::OpenAi, Upstream::Anthropic, Upstream::Ollama];
pub const CLIENTS: [Client; 3] = [Client::OpenAi, Client::Anthropic, Client::Ollama];

impl Upstream {
    /// The route that leads to this upstream.
    pub fn model(self) -> &'static str {
        match self {
            Upstream::OpenAi => "to-openai",
            Upstream::Anthropic => "to-anthropic",
            Upstream::Ollama => "to-ollama",
        }
    }

    pub fn provider(self) -> &'static str {
        match self {
            Upstream::OpenAi => "oa",
            Upstream::Anthropic => "an",
            Upstream::Ollama => "ol",
        }
    }
}

impl Env {
    pub async fn start() -> Env {
        Self::start_with("").await
    }

    /// Starts mocks and a gateway; `extra` is appended to the generated config, with
    /// `OPENAI_URL` in it replaced by the OpenAI mock's base URL.
    pub async fn start_with(extra: &str) -> Env {
        Self::start_with_top("", extra).await
    }

    /// Like [`Env::start_with`], with `top` inserted among the top-level keys.
    pub async fn start_with_top(top: &str, extra: &str) -> Env {
        let cfg = MockConfig {
            cache_read_tokens: CACHE_READ,
            keys: vec!["upstream-key".into()],
            ..MockConfig::default()
        };
        let openai = spawn(Flavor::OpenAi, cfg.clone())
            .await
            .expect("openai mock");
        let anthropic = spawn(Flavor::Anthropic, cfg.clone())
            .await
            .expect("anthropic mock");
        let ollama = spawn(Flavor::Ollama, cfg).await.expect("ollama mock");
        let extra = extra
            .replace("OPENAI_URL", &openai.base_url())
            .replace("ANTHROPIC_URL", &anthropic.base_url())
            .replace("OLLAMA_URL", &ollama.base_url());
        // Providers and routes are shared with the SDK suite (e2e/conftest.py).
        let shared = include_str!("../../../../testdata/mock-routes.toml")
            .replace("OPENAI_URL", &openai.base_url())
            .replace("ANTHROPIC_URL", &anthropic.base_url())
            .replace("OLLAMA_URL", &ollama.base_url())
            .replace("UPSTREAM_KEY", "upstream-key");
        // Active checks would add requests to the mocks' logs that most tests count; the
        // tests of health turn them on in `top`.
        let health = if top.contains("[health]") {
            ""
        } else {
            "[health]\ninterval = \"0s\"\n"
        };
        // A test may set its own body limit in `top`.
        let max_body = if top.contains("max_body") {
            ""
        } else {
            "max_body = \"64KiB\"\n"
        };
        let text = format!(
            "listen = \"127.0.0.1:0\"\n{max_body}drain_timeout = \"2s\"\n{top}\n{health}\n{shared}\n{extra}\n"
        );
        let config = parse_str(&text, Format::Toml, "test.toml", &|_| None).expect("valid config");
        let gateway = Gateway::bind(config).await.expect("bind");
        let addr = gateway.local_addr().expect("addr");
        let health = gateway.health();
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = gateway
                .run(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Env {
            openai,
            anthropic,
            ollama,
            url: format!("http://{addr}"),
            health,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn mock(&self, u: Upstream) -> &MockServer {
        match u {
            Upstream::OpenAi => &self.openai,
            Upstream::Anthropic => &self.anthropic,
            Upstream::Ollama => &self.ollama,
        }
    }

    /// Posts JSON as `client` would (its auth and version headers) and returns status,
    /// headers and body bytes.
    pub async fn post(
        &self,
        client: Client,
        path: &str,
        body: &Value,
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        self.post_raw(client, path, body.to_string().into_bytes())
            .await
    }

    pub async fn post_raw(
        &self,
        client: Client,
        path: &str,
        body: Vec<u8>,
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let mut req = self.http.post(format!("{}{path}", self.url)).body(body);
        req = req.header("content-type", "application/json");
        if client == Client::Anthropic {
            req = req
                .header("anthropic-version", "2023-06-01")
                .header("x-api-key", "client-key");
        }
        let resp = req.send().await.expect("gateway answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body").to_vec();
        (status, headers, bytes)
    }

    /// Posts JSON to the admin API with the token the tests configure (`admin-token`).
    pub async fn post_admin(&self, path: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.url))
            .header("authorization", "Bearer admin-token")
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("gateway answers");
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// GETs from the admin API; panics unless it answers 200.
    pub async fn get_admin(&self, path: &str) -> Value {
        let (status, bytes) = self
            .get(path, &[("authorization", "Bearer admin-token")])
            .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
        serde_json::from_slice(&bytes).expect("JSON")
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<u8>) {
        let mut req = self.http.get(format!("{}{path}", self.url));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("gateway answers");
        (
            resp.status().as_u16(),
            resp.bytes().await.expect("body").to_vec(),
        )
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}

/// A client protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    OpenAi,
    Anthropic,
    Ollama,
}

/// An answer in one comparable shape, whatever the protocol.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Answer {
    pub text: String,
    pub reasoning: String,
    /// (id, name, arguments object)
    pub tool_calls: Vec<(String, String, Value)>,
    pub finish: String,
    /// Total input tokens (cache included) and cached tokens, as the client protocol reports
    /// them converted back to one convention.
    pub input_tokens: u64,
    pub cached_tokens: u64,
    pub output_tokens: u64,
}

pub fn weather_tool_openai() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
}

impl Client {
    pub fn path(self) -> &'static str {
        match self {
            Client::OpenAi => "/v1/chat/completions",
            Client::Anthropic => "/v1/messages",
            Client::Ollama => "/api/chat",
        }
    }

    /// A one-turn chat request.
    pub fn chat(self, model: &str, text: &str, stream: bool, tools: bool) -> Value {
        let mut body = match self {
            Client::OpenAi => json!({"model": model, "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": text}], "stream": stream}),
            Client::Anthropic => {
                json!({"model": model, "max_tokens": 256, "system": "You are terse.",
                "messages": [{"role": "user", "content": text}], "stream": stream})
            }
            Client::Ollama => json!({"model": model, "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": text}], "stream": stream}),
        };
        if stream && self == Client::OpenAi {
            body["stream_options"] = json!({"include_usage": true});
        }
        if tools {
            body["tools"] = match self {
                Client::Anthropic => {
                    json!([{"name": "get_weather", "description": "Weather for a city",
                    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}])
                }
                _ => weather_tool_openai(),
            };
        }
        body
    }

    /// The follow-up after a tool call: history with the call and its result.
    pub fn tool_followup(
        self,
        model: &str,
        question: &str,
        call: &(String, String, Value),
        result: &str,
        stream: bool,
    ) -> Value {
        let (id, name, args) = call;
        let mut body = match self {
            Client::OpenAi => json!({"model": model, "stream": stream, "messages": [
                {"role": "user", "content": question},
                {"role": "assistant", "content": null, "tool_calls": [{"id": id, "type": "function",
                    "function": {"name": name, "arguments": args.to_string()}}]},
                {"role": "tool", "tool_call_id": id, "content": result}]}),
            Client::Anthropic => {
                json!({"model": model, "max_tokens": 256, "stream": stream, "messages": [
                {"role": "user", "content": question},
                {"role": "assistant", "content": [{"type": "tool_use", "id": id, "name": name, "input": args}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": result}]}]})
            }
            Client::Ollama => json!({"model": model, "stream": stream, "messages": [
                {"role": "user", "content": question},
                {"role": "assistant", "content": "", "tool_calls": [{"id": id, "function": {"name": name, "arguments": args}}]},
                {"role": "tool", "tool_name": name, "tool_call_id": id, "content": result}]}),
        };
        body["tools"] = match self {
            Client::Anthropic => {
                json!([{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}])
            }
            _ => weather_tool_openai(),
        };
        body
    }

    /// Reads a non-streamed answer, asserting the protocol's shape.
    pub fn answer(self, body: &[u8]) -> Answer {
        let v: Value = serde_json::from_slice(body).unwrap_or_else(|e| {
            panic!(
                "{self:?} answer is not JSON ({e}): {}",
                String::from_utf8_lossy(body)
            )
        });
        let mut a = Answer::default();
        match self {
            Client::OpenAi => {
                assert_eq!(v["object"], "chat.completion", "{v}");
                let m = &v["choices"][0]["message"];
                a.text = m["content"].as_str().unwrap_or_default().to_owned();
                a.reasoning = m["reasoning_content"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                for c in m["tool_calls"].as_array().into_iter().flatten() {
                    let args: Value = serde_json::from_str(
                        c["function"]["arguments"].as_str().expect("string args"),
                    )
                    .expect("args JSON");
                    a.tool_calls
                        .push((s(&c["id"]), s(&c["function"]["name"]), args));
                }
                a.finish = s(&v["choices"][0]["finish_reason"]);
                a.input_tokens = v["usage"]["prompt_tokens"].as_u64().unwrap_or(0);
                a.cached_tokens = v["usage"]["prompt_tokens_details"]["cached_tokens"]
                    .as_u64()
                    .unwrap_or(0);
                a.output_tokens = v["usage"]["completion_tokens"].as_u64().unwrap_or(0);
            }
            Client::Anthropic => {
                assert_eq!(v["type"], "message", "{v}");
                assert!(
                    v["id"].as_str().is_some_and(|i| i.starts_with("msg_")),
                    "{v}"
                );
                for b in v["content"].as_array().expect("content") {
                    match b["type"].as_str() {
                        Some("text") => a.text.push_str(b["text"].as_str().unwrap_or_default()),
                        Some("thinking") => a
                            .reasoning
                            .push_str(b["thinking"].as_str().unwrap_or_default()),
                        Some("tool_use") => {
                            a.tool_calls
                                .push((s(&b["id"]), s(&b["name"]), b["input"].clone()))
                        }
                        _ => {}
                    }
                }
                a.finish = s(&v["stop_reason"]);
                let u = &v["usage"];
                a.cached_tokens = u["cache_read_input_tokens"].as_u64().unwrap_or(0);
                a.input_tokens = u["input_tokens"].as_u64().unwrap_or(0)
                    + a.cached_tokens
                    + u["cache_creation_input_tokens"].as_u64().unwrap_or(0);
                a.output_tokens = u["output_tokens"].as_u64().unwrap_or(0);
            }
            Client::Ollama => {
                assert_eq!(v["done"], true, "{v}");
                let m = &v["message"];
                a.text = m["content"].as_str().unwrap_or_default().to_owned();
                a.reasoning = m["thinking"].as_str().unwrap_or_default().to_owned();
                for c in m["tool_calls"].as_array().into_iter().flatten() {
                    assert!(
                        c["function"]["arguments"].is_object(),
                        "ollama args are objects: {c}"
                    );
                    a.tool_calls.push((
                        s(&c["id"]),
                        s(&c["function"]["name"]),
                        c["function"]["arguments"].clone(),
                    ));
                }
                a.finish = s(&v["done_reason"]);
                a.input_tokens = v["prompt_eval_count"].as_u64().unwrap_or(0);
                a.output_tokens = v["eval_count"].as_u64().unwrap_or(0);
            }
        }
        a
    }

    /// Reads a streamed answer, asserting the protocol's framing and terminator.
    pub fn stream(self, body: &[u8]) -> Answer {
        let text = String::from_utf8_lossy(body).into_owned();
        let mut a = Answer::default();
        match self {
            Client::OpenAi => {
                let frames = sse_data(&text);
                assert_eq!(
                    frames.last().map(String::as_str),
                    Some("[DONE]"),
                    "stream must end with [DONE]: {text}"
                );
                let mut args: Vec<(String, String, String)> = Vec::new();
                for f in &frames[..frames.len() - 1] {
                    let v: Value = serde_json::from_str(f).expect("chunk JSON");
                    assert!(v.get("error").is_none(), "error chunk: {v}");
                    assert_eq!(v["object"], "chat.completion.chunk");
                    if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
                        a.input_tokens = u["prompt_tokens"].as_u64().unwrap_or(0);
                        a.cached_tokens = u["prompt_tokens_details"]["cached_tokens"]
                            .as_u64()
                            .unwrap_or(0);
                        a.output_tokens = u["completion_tokens"].as_u64().unwrap_or(0);
                    }
                    let Some(c) = v["choices"].get(0) else {
                        continue;
                    };
                    let d = &c["delta"];
                    a.text.push_str(d["content"].as_str().unwrap_or_default());
                    a.reasoning
                        .push_str(d["reasoning_content"].as_str().unwrap_or_default());
                    for tc in d["tool_calls"].as_array().into_iter().flatten() {
                        let i = tc["index"].as_u64().expect("index") as usize;
                        if i == args.len() {
                            args.push((s(&tc["id"]), s(&tc["function"]["name"]), String::new()));
                        }
                        args[i]
                            .2
                            .push_str(tc["function"]["arguments"].as_str().unwrap_or_default());
                    }
                    if let Some(f) = c["finish_reason"].as_str() {
                        a.finish = f.to_owned();
                    }
                }
                a.tool_calls = args
                    .into_iter()
                    .map(|(i, n, t)| (i, n, serde_json::from_str(&t).expect("streamed args JSON")))
                    .collect();
            }
            Client::Anthropic => {
                let events = sse_events(&text);
                assert_eq!(
                    events.first().map(|e| e.0.as_str()),
                    Some("message_start"),
                    "{text}"
                );
                assert_eq!(
                    events.last().map(|e| e.0.as_str()),
                    Some("message_stop"),
                    "stream must end with message_stop: {text}"
                );
                let mut blocks: Vec<(String, String, String, String)> = Vec::new();
                for (name, data) in &events {
                    let v: Value = serde_json::from_str(data).expect("event JSON");
                    assert_eq!(v["type"].as_str(), Some(name.as_str()));
                    match name.as_str() {
                        "message_start" => {
                            let u = &v["message"]["usage"];
                            a.cached_tokens = u["cache_read_input_tokens"].as_u64().unwrap_or(0);
                        }
                        "content_block_start" => {
                            let b = &v["content_block"];
                            assert_eq!(
                                v["index"].as_u64(),
                                Some(blocks.len() as u64),
                                "block indices are sequential"
                            );
                            blocks.push((s(&b["type"]), s(&b["id"]), s(&b["name"]), String::new()));
                        }
                        "content_block_delta" => {
                            let i = v["index"].as_u64().expect("index") as usize;
                            let d = &v["delta"];
                            match d["type"].as_str() {
                                Some("text_delta") => {
                                    a.text.push_str(d["text"].as_str().unwrap_or_default());
                                }
                                Some("thinking_delta") => {
                                    a.reasoning
                                        .push_str(d["thinking"].as_str().unwrap_or_default());
                                }
                                Some("input_json_delta") => blocks[i]
                                    .3
                                    .push_str(d["partial_json"].as_str().unwrap_or_default()),
                                _ => {}
                            }
                        }
                        "message_delta" => {
                            a.finish = s(&v["delta"]["stop_reason"]);
                            let u = &v["usage"];
                            a.output_tokens = u["output_tokens"].as_u64().unwrap_or(0);
                            if let Some(c) = u["cache_read_input_tokens"].as_u64() {
                                a.cached_tokens = c;
                            }
                            a.input_tokens = u["input_tokens"].as_u64().unwrap_or(0)
                                + a.cached_tokens
                                + u["cache_creation_input_tokens"].as_u64().unwrap_or(0);
                        }
                        "error" => panic!("error event: {v}"),
                        _ => {}
                    }
                }
                for (kind, id, name, json) in blocks {
                    if kind == "tool_use" {
                        let args = if json.is_empty() {
                            json!({})
                        } else {
                            serde_json::from_str(&json).expect("tool input JSON")
                        };
                        a.tool_calls.push((id, name, args));
                    }
                }
            }
            Client::Ollama => {
                let lines: Vec<Value> = text
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| serde_json::from_str(l).expect("NDJSON line"))
                    .collect();
                let last = lines.last().expect("lines");
                assert_eq!(last["done"], true, "stream must end with done:true: {text}");
                for l in &lines {
                    assert!(l.get("error").is_none(), "error line: {l}");
                    let m = &l["message"];
                    a.text.push_str(m["content"].as_str().unwrap_or_default());
                    a.reasoning
                        .push_str(m["thinking"].as_str().unwrap_or_default());
                    for c in m["tool_calls"].as_array().into_iter().flatten() {
                        a.tool_calls.push((
                            s(&c["id"]),
                            s(&c["function"]["name"]),
                            c["function"]["arguments"].clone(),
                        ));
                    }
                }
                a.finish = s(&last["done_reason"]);
                a.input_tokens = last["prompt_eval_count"].as_u64().unwrap_or(0);
                a.output_tokens = last["eval_count"].as_u64().unwrap_or(0);
            }
        }
        a
    }

    /// The finish reason this protocol uses for a tool call.
    pub fn tool_finish(self) -> &'static str {
        match self {
            Client::OpenAi => "tool_calls",
            Client::Anthropic => "tool_use",
            Client::Ollama => "stop",
        }
    }

    /// The error message of an error body in this protocol's shape (asserting the shape).
    pub fn error_message(self, body: &[u8]) -> String {
        let v: Value = serde_json::from_slice(body)
            .unwrap_or_else(|_| panic!("error body is JSON: {}", String::from_utf8_lossy(body)));
        match self {
            Client::OpenAi => {
                let e = &v["error"];
                for k in ["message", "type", "param", "code"] {
                    assert!(e.get(k).is_some(), "OpenAI error has `{k}`: {v}");
                }
                s(&e["message"])
            }
            Client::Anthropic => {
                assert_eq!(v["type"], "error", "{v}");
                assert!(v["error"]["type"].is_string(), "{v}");
                s(&v["error"]["message"])
            }
            Client::Ollama => v["error"]
                .as_str()
                .unwrap_or_else(|| panic!("Ollama error is a string: {v}"))
                .to_owned(),
        }
    }

    /// The error type field (OpenAI and Anthropic) for assertions.
    pub fn error_type(self, body: &[u8]) -> Option<String> {
        let v: Value = serde_json::from_slice(body).ok()?;
        match self {
            Client::OpenAi | Client::Anthropic => v["error"]["type"].as_str().map(str::to_owned),
            Client::Ollama => None,
        }
    }
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// The `data:` payloads of an SSE body.
pub fn sse_data(text: &str) -> Vec<String> {
    sse_events(text).into_iter().map(|e| e.1).collect()
}

/// (event name, data) pairs of an SSE body.
pub fn sse_events(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut name = String::new();
        let mut data = Vec::new();
        for line in block.lines() {
            if let Some(n) = line.strip_prefix("event: ") {
                name = n.to_owned();
            } else if let Some(d) = line.strip_prefix("data: ") {
                data.push(d);
            }
        }
        if !data.is_empty() {
            out.push((name, data.join("\n")));
        }
    }
    out
}
