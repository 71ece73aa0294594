//! Every stream direction, codec to codec: an upstream stream in each format is decoded to
//! canonical events and encoded for each client format, then read back. No network; this
//! pins the translation itself (the gateway's integration tests cover the wiring).

use bytes::BytesMut;
use lmrelay_protocol::{
    anthropic, bedrock, gemini, ollama, openai, ResponseMeta, StreamDecoder, StreamEncoder,
    UpstreamOptions,
};
use serde_json::{json, Value};

/// The same answer in each upstream format: reasoning, "Hello world", then a tool call
/// `get_weather({"city":"Paris"})`, with usage (10 input of which 4 cached, 7 output).
fn openai_upstream() -> String {
    let c = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        )
    };
    let mut s = String::new();
    s += &c(json!({"role": "assistant", "content": ""}), Value::Null);
    s += &c(json!({"reasoning_content": "think"}), Value::Null);
    s += &c(json!({"content": "Hello"}), Value::Null);
    s += &c(json!({"content": " world"}), Value::Null);
    s += &c(
        json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
        Value::Null,
    );
    s += &c(
        json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}),
        Value::Null,
    );
    s += &c(
        json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}),
        Value::Null,
    );
    s += &c(json!({}), json!("tool_calls"));
    s += &format!(
        "data: {}\n\n",
        json!({"id": "chatcmpl-1", "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17, "prompt_tokens_details": {"cached_tokens": 4}}})
    );
    s += "data: [DONE]\n\n";
    s
}

fn anthropic_upstream() -> String {
    let e = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut s = String::new();
    s += &e(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [], "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": 6, "output_tokens": 1, "cache_read_input_tokens": 4, "cache_creation_input_tokens": 0}}}),
    );
    s += &e(
        "content_block_start",
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
    );
    s += &e(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "think"}}),
    );
    s += &e(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig=="}}),
    );
    s += &e(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    );
    s += &e(
        "content_block_start",
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
    );
    s += &e("ping", json!({"type": "ping"}));
    s += &e(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hello"}}),
    );
    s += &e(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": " world"}}),
    );
    s += &e(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 1}),
    );
    s += &e(
        "content_block_start",
        json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}}),
    );
    s += &e(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": ""}}),
    );
    s += &e(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{\"city\":"}}),
    );
    s += &e(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "\"Paris\"}"}}),
    );
    s += &e(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 2}),
    );
    s += &e(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 7}}),
    );
    s += &e("message_stop", json!({"type": "message_stop"}));
    s
}

fn ollama_upstream() -> String {
    let l = |v: Value| format!("{v}\n");
    let mut s = String::new();
    s += &l(
        json!({"model": "m", "created_at": "2025-01-01T00:00:00Z", "message": {"role": "assistant", "content": "", "thinking": "think"}, "done": false}),
    );
    s += &l(
        json!({"model": "m", "created_at": "2025-01-01T00:00:00Z", "message": {"role": "assistant", "content": "Hello"}, "done": false}),
    );
    s += &l(
        json!({"model": "m", "created_at": "2025-01-01T00:00:00Z", "message": {"role": "assistant", "content": " world"}, "done": false}),
    );
    s += &l(
        json!({"model": "m", "created_at": "2025-01-01T00:00:00Z", "message": {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}}}]}, "done": false}),
    );
    s += &l(
        json!({"model": "m", "created_at": "2025-01-01T00:00:00Z", "message": {"role": "assistant", "content": ""}, "done": true, "done_reason": "stop", "prompt_eval_count": 10, "eval_count": 7}),
    );
    s
}

fn gemini_upstream() -> String {
    let c = |parts: Value, extra: Value| {
        let mut v = json!({"candidates": [{"content": {"role": "model", "parts": parts}, "index": 0}],
            "modelVersion": "m", "responseId": "r-1"});
        for (k, x) in extra.as_object().expect("object") {
            if k == "finishReason" {
                v["candidates"][0][k] = x.clone();
            } else {
                v[k] = x.clone();
            }
        }
        format!("data: {v}\r\n\r\n")
    };
    let mut s = String::new();
    s += &c(json!([{"text": "think", "thought": true}]), json!({}));
    s += &c(json!([{"text": "Hello"}]), json!({}));
    s += &c(json!([{"text": " world"}]), json!({}));
    s += &c(
        json!([{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "R2VtaW5pU2ln"}]),
        json!({"finishReason": "STOP", "usageMetadata": {"promptTokenCount": 10, "cachedContentTokenCount": 4,
            "candidatesTokenCount": 5, "thoughtsTokenCount": 2, "totalTokenCount": 17}}),
    );
    s
}

/// One AWS event-stream frame (string headers, both CRCs).
fn aws_frame(event_type: &str, payload: Value) -> Vec<u8> {
    let mut h = Vec::new();
    for (name, value) in [
        (":event-type", event_type),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ] {
        h.push(name.len() as u8);
        h.extend_from_slice(name.as_bytes());
        h.push(7);
        h.extend_from_slice(&(value.len() as u16).to_be_bytes());
        h.extend_from_slice(value.as_bytes());
    }
    let payload = payload.to_string();
    let total = 12 + h.len() + payload.len() + 4;
    let mut out = Vec::new();
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload.as_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

fn bedrock_upstream() -> Vec<u8> {
    [
        aws_frame("messageStart", json!({"role": "assistant"})),
        aws_frame("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "think"}}})),
        aws_frame("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "QmVkcm9ja1NpZw=="}}})),
        aws_frame("contentBlockStop", json!({"contentBlockIndex": 0})),
        aws_frame("contentBlockDelta", json!({"contentBlockIndex": 1, "delta": {"text": "Hello"}})),
        aws_frame("contentBlockDelta", json!({"contentBlockIndex": 1, "delta": {"text": " world"}})),
        aws_frame("contentBlockStop", json!({"contentBlockIndex": 1})),
        aws_frame("contentBlockStart", json!({"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather"}}})),
        aws_frame("contentBlockDelta", json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "{\"city\":"}}})),
        aws_frame("contentBlockDelta", json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "\"Paris\"}"}}})),
        aws_frame("contentBlockStop", json!({"contentBlockIndex": 2})),
        aws_frame("messageStop", json!({"stopReason": "tool_use"})),
        aws_frame("metadata", json!({"usage": {"inputTokens": 6, "cacheReadInputTokens": 4, "outputTokens": 7, "totalTokens": 17}})),
    ]
    .concat()
}

/// What a client saw, read back from its stream.
#[derive(Debug, PartialEq)]
struct Seen {
    text: String,
    reasoning: String,
    tool: (String, Value),
    finish: String,
    input: u64,
    output: u64,
}

fn meta() -> ResponseMeta {
    ResponseMeta {
        model: "public".into(),
        started_ms: 1_700_000_000_000,
        include_usage: true,
        include_reasoning: true,
        tool_namespaces: Vec::new(),
    }
}

fn translate(
    upstream: &[u8],
    mut decoder: Box<dyn StreamDecoder>,
    mut encoder: Box<dyn StreamEncoder>,
) -> String {
    let mut out = BytesMut::new();
    let mut events = Vec::new();
    // Feed in awkward 5-byte pieces.
    for piece in upstream.chunks(5) {
        decoder.feed(piece, &mut events);
        for e in events.drain(..) {
            encoder.push(&e, &mut out);
        }
    }
    decoder.finish(&mut events);
    for e in events.drain(..) {
        encoder.push(&e, &mut out);
    }
    encoder.finish(1_700_000_001_000, &mut out);
    String::from_utf8(out.to_vec()).expect("utf-8")
}

fn read_openai(s: &str) -> Seen {
    let mut seen = Seen {
        text: String::new(),
        reasoning: String::new(),
        tool: (String::new(), Value::Null),
        finish: String::new(),
        input: 0,
        output: 0,
    };
    let mut args = String::new();
    let frames: Vec<&str> = s
        .split("\n\n")
        .filter(|f| !f.is_empty())
        .map(|f| f.trim_start_matches("data: "))
        .collect();
    assert_eq!(frames.last(), Some(&"[DONE]"), "{s}");
    for f in &frames[..frames.len() - 1] {
        let v: Value = serde_json::from_str(f).expect("json");
        assert_eq!(v["model"], "public");
        if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
            seen.input = u["prompt_tokens"].as_u64().unwrap_or(0);
            seen.output = u["completion_tokens"].as_u64().unwrap_or(0);
        }
        let Some(c) = v["choices"].get(0) else {
            continue;
        };
        seen.text += c["delta"]["content"].as_str().unwrap_or("");
        seen.reasoning += c["delta"]["reasoning_content"].as_str().unwrap_or("");
        if let Some(tc) = c["delta"]["tool_calls"].get(0) {
            if let Some(n) = tc["function"]["name"].as_str() {
                seen.tool.0 = n.to_owned();
            }
            args += tc["function"]["arguments"].as_str().unwrap_or("");
        }
        if let Some(r) = c["finish_reason"].as_str() {
            seen.finish = r.to_owned();
        }
    }
    seen.tool.1 = serde_json::from_str(&args).expect("arguments JSON");
    seen
}

fn read_anthropic(s: &str) -> Seen {
    let mut seen = Seen {
        text: String::new(),
        reasoning: String::new(),
        tool: (String::new(), Value::Null),
        finish: String::new(),
        input: 0,
        output: 0,
    };
    let mut args = String::new();
    let mut names = Vec::new();
    for block in s.split("\n\n").filter(|b| !b.is_empty()) {
        let mut lines = block.lines();
        let name = lines
            .next()
            .and_then(|l| l.strip_prefix("event: "))
            .expect("event line");
        let v: Value = serde_json::from_str(
            lines
                .next()
                .and_then(|l| l.strip_prefix("data: "))
                .expect("data"),
        )
        .expect("json");
        names.push(name.to_owned());
        match name {
            "content_block_start" if v["content_block"]["type"] == "tool_use" => {
                seen.tool.0 = v["content_block"]["name"].as_str().unwrap_or("").to_owned()
            }
            "content_block_delta" => {
                let d = &v["delta"];
                seen.text += d["text"].as_str().unwrap_or("");
                seen.reasoning += d["thinking"].as_str().unwrap_or("");
                args += d["partial_json"].as_str().unwrap_or("");
            }
            "message_delta" => {
                seen.finish = v["delta"]["stop_reason"].as_str().unwrap_or("").to_owned();
                let u = &v["usage"];
                seen.input = u["input_tokens"].as_u64().unwrap_or(0)
                    + u["cache_read_input_tokens"].as_u64().unwrap_or(0);
                seen.output = u["output_tokens"].as_u64().unwrap_or(0);
            }
            _ => {}
        }
    }
    assert_eq!(names.first().map(String::as_str), Some("message_start"));
    assert_eq!(
        names.last().map(String::as_str),
        Some("message_stop"),
        "{s}"
    );
    seen.tool.1 = serde_json::from_str(&args).expect("arguments JSON");
    seen
}

fn read_ollama(s: &str) -> Seen {
    let mut seen = Seen {
        text: String::new(),
        reasoning: String::new(),
        tool: (String::new(), Value::Null),
        finish: String::new(),
        input: 0,
        output: 0,
    };
    let lines: Vec<Value> = s
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    for v in &lines {
        assert_eq!(v["model"], "public");
        seen.text += v["message"]["content"].as_str().unwrap_or("");
        seen.reasoning += v["message"]["thinking"].as_str().unwrap_or("");
        if let Some(tc) = v["message"]["tool_calls"].get(0) {
            seen.tool = (
                tc["function"]["name"].as_str().unwrap_or("").to_owned(),
                tc["function"]["arguments"].clone(),
            );
        }
    }
    let last = lines.last().expect("lines");
    assert_eq!(last["done"], true);
    seen.finish = last["done_reason"].as_str().unwrap_or("").to_owned();
    seen.input = last["prompt_eval_count"].as_u64().unwrap_or(0);
    seen.output = last["eval_count"].as_u64().unwrap_or(0);
    seen
}

/// An upstream format: its name, a sample stream, and a decoder for it.
type UpstreamCase = (&'static str, Vec<u8>, fn() -> Box<dyn StreamDecoder>);
/// A client format: its name, an encoder, a reader of its output, its tool-call finish.
type ClientCase = (
    &'static str,
    Box<dyn StreamEncoder>,
    fn(&str) -> Seen,
    &'static str,
);

#[test]
fn every_upstream_stream_reaches_every_client_intact() {
    let upstreams: [UpstreamCase; 5] = [
        ("openai", openai_upstream().into_bytes(), || {
            Box::new(openai::StreamReader::new())
        }),
        ("anthropic", anthropic_upstream().into_bytes(), || {
            Box::new(anthropic::StreamReader::new())
        }),
        ("ollama", ollama_upstream().into_bytes(), || {
            Box::new(ollama::StreamReader::new())
        }),
        ("gemini", gemini_upstream().into_bytes(), || {
            Box::new(gemini::StreamReader::new())
        }),
        ("bedrock", bedrock_upstream(), || {
            Box::new(bedrock::StreamReader::new())
        }),
    ];
    for (up, body, decoder) in &upstreams {
        let cases: [ClientCase; 3] = [
            (
                "openai",
                Box::new(openai::StreamWriter::new(meta(), openai::StreamMode::Chat)),
                read_openai,
                "tool_calls",
            ),
            (
                "anthropic",
                Box::new(anthropic::StreamWriter::new(meta())),
                read_anthropic,
                "tool_use",
            ),
            (
                "ollama",
                Box::new(ollama::StreamWriter::new(meta(), false)),
                read_ollama,
                "stop",
            ),
        ];
        for (client, encoder, read, tool_finish) in cases {
            let out = translate(body, decoder(), encoder);
            let seen = read(&out);
            let ctx = format!("{up} -> {client}: {out}");
            assert_eq!(seen.text, "Hello world", "{ctx}");
            assert_eq!(seen.reasoning, "think", "{ctx}");
            assert_eq!(
                seen.tool,
                ("get_weather".to_owned(), json!({"city": "Paris"})),
                "{ctx}"
            );
            assert_eq!(seen.finish, tool_finish, "{ctx}");
            assert_eq!(seen.input, 10, "total input, cache included: {ctx}");
            assert_eq!(seen.output, 7, "{ctx}");
        }
    }
}

/// A Gemini thought signature shown to an Anthropic client comes back from it byte-exact on
/// the function call it signed, and never reaches Anthropic.
#[test]
fn a_gemini_signature_round_trips_through_an_anthropic_client_only_to_gemini() {
    let out = translate(
        gemini_upstream().as_bytes(),
        Box::new(gemini::StreamReader::new()),
        Box::new(anthropic::StreamWriter::new(meta())),
    );
    // Rebuild the assistant turn the way an Anthropic client does.
    let mut blocks: Vec<Value> = Vec::new();
    let mut args = String::new();
    for block in out.split("\n\n").filter(|b| !b.is_empty()) {
        let data = block
            .lines()
            .nth(1)
            .and_then(|l| l.strip_prefix("data: "))
            .expect("data");
        let v: Value = serde_json::from_str(data).expect("json");
        match v["type"].as_str() {
            Some("content_block_start") => blocks.push(v["content_block"].clone()),
            Some("content_block_delta") => {
                let i = v["index"].as_u64().expect("index") as usize;
                let d = &v["delta"];
                for (key, field) in [
                    ("thinking", "thinking"),
                    ("signature", "signature"),
                    ("text", "text"),
                ] {
                    if let Some(t) = d[field].as_str() {
                        let joined = format!("{}{t}", blocks[i][key].as_str().unwrap_or(""));
                        blocks[i][key] = json!(joined);
                    }
                }
                args += d["partial_json"].as_str().unwrap_or("");
            }
            _ => {}
        }
    }
    let tool = blocks
        .iter_mut()
        .find(|b| b["type"] == "tool_use")
        .expect("tool_use");
    tool["input"] = serde_json::from_str(&args).expect("args");
    let id = tool["id"].clone();
    let history = json!({"model": "m", "max_tokens": 100, "messages": [
        {"role": "user", "content": "Paris?"},
        {"role": "assistant", "content": blocks},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "11"}]}]});
    let req = anthropic::decode_request(history.to_string().as_bytes()).expect("decodes");

    let to_gemini: Value = serde_json::from_slice(
        &gemini::encode_request(&req, &UpstreamOptions::new("gemini-3-pro-preview"))
            .expect("encodes"),
    )
    .expect("json");
    let model_turn = &to_gemini["contents"][1]["parts"];
    assert_eq!(
        model_turn,
        &json!([{"text": "Hello world"},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "R2VtaW5pU2ln"}]),
        "{out}"
    );
    let to_anthropic = String::from_utf8(
        anthropic::encode_request(&req, &UpstreamOptions::new("claude")).expect("encodes"),
    )
    .expect("utf-8");
    assert!(!to_anthropic.contains("R2VtaW5pU2ln"), "{to_anthropic}");
    assert!(!to_anthropic.contains("thinking"), "{to_anthropic}");
}
