//! Codec tests for the OpenAI format, both directions, streams included.

use super::*;
use crate::sse::SseParser;
use crate::{ResponseMeta, StreamDecoder, StreamEncoder, UpstreamOptions};
use bytes::BytesMut;
use lmrelay_ir::{
    ApiError, ChatResponse, ContentPart, ErrorKind, FinishReason, ImageSource, Message,
    ResponseFormat, Role, StreamEvent, ToolChoice, Usage,
};
use proptest::prelude::*;
use serde_json::{json, Value};

fn decode(v: Value) -> lmrelay_ir::ChatRequest {
    decode_request(v.to_string().as_bytes()).expect("decodes")
}

fn encode(req: &lmrelay_ir::ChatRequest) -> Value {
    let bytes = encode_request(req, &UpstreamOptions::new("up-model")).expect("encodes");
    serde_json::from_slice(&bytes).expect("json")
}

fn meta(include_usage: bool) -> ResponseMeta {
    ResponseMeta {
        model: "chat".into(),
        started_ms: 1_700_000_000_000,
        include_usage,
        include_reasoning: false,
        tool_namespaces: Vec::new(),
    }
}

#[test]
fn decodes_roles_parts_tools_and_options() {
    let req = decode(json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR", "detail": "low"}},
                {"type": "image_url", "image_url": "https://x/y.jpg"}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "11C"},
            {"role": "user", "content": "thanks"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": false,
        "max_tokens": 50,
        "stop": "END",
        "stream": true,
        "stream_options": {"include_usage": true},
        "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}},
        "reasoning_effort": "low",
        "logit_bias": {"1": 2},
        "store": true
    }));
    assert_eq!(req.model, "gpt-4o");
    assert_eq!(req.messages.len(), 5);
    assert_eq!(req.messages[0].role, Role::Developer);
    assert_eq!(
        req.messages[1].content[1],
        ContentPart::Image {
            cache_control: None,
            source: ImageSource::Base64 {
                media_type: "image/png".into(),
                data: "iVBOR".into()
            },
            detail: Some("low".into())
        }
    );
    assert_eq!(
        req.messages[1].content[2],
        ContentPart::Image {
            cache_control: None,
            source: ImageSource::Url("https://x/y.jpg".into()),
            detail: None
        }
    );
    assert_eq!(
        req.messages[2].content,
        vec![ContentPart::ToolCall {
            cache_control: None,
            id: "call_1".into(),
            name: "get_weather".into(),
            arguments: "{\"city\":\"Paris\"}".into()
        }]
    );
    // The tool result lives in a user message and knows the tool's name.
    assert_eq!(req.messages[3].role, Role::User);
    assert!(matches!(
        &req.messages[3].content[0],
        ContentPart::ToolResult { call_id, name: Some(n), .. } if call_id == "call_1" && n == "get_weather"
    ));
    assert_eq!(
        req.tool_choice,
        Some(ToolChoice::Named("get_weather".into()))
    );
    assert_eq!(req.parallel_tool_calls, Some(false));
    assert_eq!(req.sampling.max_tokens, Some(50));
    assert_eq!(req.sampling.stop, vec!["END".to_string()]);
    assert!(req.stream && req.include_usage);
    assert!(
        matches!(req.response_format, Some(ResponseFormat::JsonSchema { ref name, .. }) if name == "w")
    );
    assert_eq!(
        req.reasoning.as_ref().and_then(|r| r.effort.as_deref()),
        Some("low")
    );
    assert_eq!(req.extra.get("logit_bias"), Some(&json!({"1": 2})));
    assert_eq!(req.extra.get("store"), Some(&json!(true)));
}

#[test]
fn bad_requests_name_the_problem() {
    let cases: &[(&str, &str)] = &[
        (r#"{"messages":[{"role":"user","content":"x"}]}"#, "model"),
        (r#"{"model":"m"}"#, "messages"),
        (r#"{"model":"m","messages":[]}"#, "at least one"),
        (r#"{"model":"m","messages":"hi"}"#, "messages"),
        (r#"{"model":5,"messages":[]}"#, "model"),
        (
            r#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#,
            "wizard",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":5}]}"#,
            "content",
        ),
        (
            r#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#,
            "tool_call_id",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"maybe"}"#,
            "tool_choice",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#,
            "temperature",
        ),
        ("{", "not valid JSON"),
    ];
    for (body, needle) in cases {
        let err = decode_request(body.as_bytes()).expect_err(body);
        assert_eq!(err.kind, ErrorKind::InvalidRequest, "{body}");
        assert!(err.message.contains(needle), "{body}: {}", err.message);
    }
}

#[test]
fn encodes_tool_results_as_tool_messages_before_user_text() {
    let mut req = decode(json!({
        "model": "m",
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": ""}},
                {"id": "b", "type": "function", "function": {"name": "g", "arguments": "{\"x\":1}"}}
            ]}
        ]
    }));
    req.messages.push(Message {
        role: Role::User,
        content: vec![
            ContentPart::ToolResult {
                cache_control: None,
                call_id: "a".into(),
                name: None,
                content: vec![ContentPart::text("r1")],
                is_error: true,
            },
            ContentPart::ToolResult {
                cache_control: None,
                call_id: "b".into(),
                name: None,
                content: vec![ContentPart::text("r2")],
                is_error: false,
            },
            ContentPart::text("and now?"),
        ],
        name: None,
    });
    req.messages[1].content.push(ContentPart::Reasoning {
        text: "hidden".into(),
        signature: Some("sig".into()),
    });
    let body = encode(&req);
    assert_eq!(body["model"], "up-model");
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "b", "type": "function", "function": {"name": "g", "arguments": "{\"x\":1}"}}
            ]},
            {"role": "tool", "content": "Error: r1", "tool_call_id": "a"},
            {"role": "tool", "content": "r2", "tool_call_id": "b"},
            {"role": "user", "content": "and now?"}
        ])
    );
}

#[test]
fn streams_ask_upstream_for_usage_and_options_map() {
    let req = decode(json!({
        "model": "m", "messages": [{"role": "user", "content": "x"}],
        "stream": true, "max_tokens": 7, "stop": ["a", ""], "seed": 3,
        "tools": [{"type": "function", "function": {"name": "t"}}], "tool_choice": "required",
        "response_format": {"type": "json_object"}, "metadata": {"k": "v"}
    }));
    let body = encode(&req);
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["max_completion_tokens"], 7);
    assert_eq!(body["stop"], json!(["a"]));
    assert_eq!(body["seed"], 3);
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "function": {"name": "t"}}])
    );
    assert_eq!(body["tool_choice"], "required");
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    assert_eq!(body["metadata"], json!({"k": "v"}));
}

#[test]
fn response_round_trip_keeps_usage_convention() {
    let upstream = json!({
        "id": "chatcmpl-9", "object": "chat.completion", "created": 1, "model": "gpt-4o-2024",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "call_z", "type": "function", "function": {"name": "f", "arguments": "{\"q\":1}"}}]},
            "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
            "prompt_tokens_details": {"cached_tokens": 80}, "completion_tokens_details": {"reasoning_tokens": 5}}
    });
    let resp = decode_response(upstream.to_string().as_bytes()).expect("decodes");
    // "stop" with tool calls is a tool-call finish.
    assert_eq!(resp.finish, FinishReason::ToolCalls);
    assert_eq!(
        resp.usage,
        Usage {
            input: 100,
            output: 20,
            cache_read: 80,
            cache_write: 0,
            reasoning: Some(5)
        }
    );
    let out: Value = serde_json::from_slice(&encode_response(&resp, &meta(false))).expect("json");
    assert_eq!(out["id"], "chatcmpl-9");
    assert_eq!(out["model"], "chat");
    assert_eq!(out["created"], 1_700_000_000);
    assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(out["choices"][0]["message"]["content"], Value::Null);
    assert_eq!(
        out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{\"q\":1}"
    );
    assert_eq!(out["usage"]["prompt_tokens"], 100);
    assert_eq!(out["usage"]["prompt_tokens_details"]["cached_tokens"], 80);
    assert_eq!(out["usage"]["total_tokens"], 120);
}

#[test]
fn xai_style_usage_folds_reasoning_into_output() {
    let body = json!({"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 25,
        "completion_tokens_details": {"reasoning_tokens": 10}}});
    let resp = decode_response(body.to_string().as_bytes()).expect("decodes");
    assert_eq!(resp.usage.output, 15);
}

#[test]
fn errors_render_in_openai_shape() {
    let (status, body) = render_error(&ApiError::new(ErrorKind::NotFound, "no such model"));
    assert_eq!(status, 404);
    let v: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(
        v,
        json!({"error": {"message": "no such model", "type": "invalid_request_error", "param": null, "code": "model_not_found"}})
    );
    let (status, _) = render_error(&ApiError::new(ErrorKind::Overloaded, "busy").with_status(529));
    assert_eq!(status, 503);
}

#[test]
fn upstream_errors_are_read() {
    let e = decode_error(
        429,
        br#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
    );
    assert_eq!(e.kind, ErrorKind::QuotaExceeded);
    assert_eq!(e.status, 429);
    let e = decode_error(503, b"<html>bad gateway</html>");
    assert_eq!(e.kind, ErrorKind::Overloaded);
    assert!(e.message.contains("bad gateway"));
}

const UPSTREAM_STREAM: &str = concat!(
    ": keep-alive\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],\"prompt_filter_results\":[]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"hmm\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"\",\"arguments\":\"{\\\"c\"}}]},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"get\",\"arguments\":\"ity\\\":1}\"}},{\"index\":1,\"id\":\"call_b\",\"function\":{\"name\":\"put\",\"arguments\":\"{}\"}}]},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4,\"total_tokens\":13,\"prompt_tokens_details\":{\"cached_tokens\":2}}}\n\n",
    "data: [DONE]\n\n",
);

fn expected_events() -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start {
            id: "chatcmpl-1".into(),
            model: "m".into(),
        },
        StreamEvent::ReasoningDelta("hmm".into()),
        StreamEvent::TextDelta("Hi".into()),
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_a".into(),
            name: "get".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "{\"c".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "ity\":1}".into(),
        },
        StreamEvent::ToolCallStart {
            index: 1,
            id: "call_b".into(),
            name: "put".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 1,
            arguments: "{}".into(),
        },
        StreamEvent::Usage(Usage {
            input: 9,
            output: 4,
            cache_read: 2,
            cache_write: 0,
            reasoning: None,
        }),
        StreamEvent::Finish {
            reason: FinishReason::ToolCalls,
            stop_sequence: None,
        },
    ]
}

fn read_all(chunks: &[&[u8]]) -> Vec<StreamEvent> {
    let mut r = StreamReader::new();
    let mut out = Vec::new();
    for c in chunks {
        r.feed(c, &mut out);
    }
    r.finish(&mut out);
    out
}

#[test]
fn reader_handles_vendor_quirks() {
    assert_eq!(read_all(&[UPSTREAM_STREAM.as_bytes()]), expected_events());
}

#[test]
fn reader_reports_premature_end_and_error_chunks() {
    let cut = &UPSTREAM_STREAM[..UPSTREAM_STREAM
        .find("\"finish_reason\":\"stop\"")
        .expect("present")
        - 60];
    let events = read_all(&[cut.as_bytes()]);
    assert!(
        matches!(events.last(), Some(StreamEvent::Error(e)) if e.message.contains("prematurely"))
    );
    let events =
        read_all(&[b"data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n"]);
    assert!(matches!(&events[0], StreamEvent::Error(e) if e.message == "boom"));
}

proptest! {
    #[test]
    fn reader_events_do_not_depend_on_chunk_boundaries(cuts in proptest::collection::vec(0usize..UPSTREAM_STREAM.len(), 0..16)) {
        let bytes = UPSTREAM_STREAM.as_bytes();
        let mut cuts = cuts;
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut prev = 0;
        for c in cuts { chunks.push(&bytes[prev..c]); prev = c; }
        chunks.push(&bytes[prev..]);
        prop_assert_eq!(read_all(&chunks), expected_events());
    }
}

fn write_all(events: &[StreamEvent], meta: ResponseMeta, mode: StreamMode) -> Vec<Value> {
    let mut w = StreamWriter::new(meta, mode);
    let mut out = BytesMut::new();
    for e in events {
        w.push(e, &mut out);
    }
    w.finish(0, &mut out);
    // Nothing may follow the terminal frame.
    let before = out.len();
    w.push(&StreamEvent::TextDelta("late".into()), &mut out);
    assert_eq!(out.len(), before);
    let mut frames = Vec::new();
    let mut p = SseParser::new();
    p.feed(&out, &mut frames);
    frames
        .into_iter()
        .map(|f| {
            if f.data == "[DONE]" {
                json!("[DONE]")
            } else {
                serde_json::from_str(&f.data).expect("json")
            }
        })
        .collect()
}

#[test]
fn writer_emits_openai_chunks_in_order() {
    let frames = write_all(&expected_events(), meta(true), StreamMode::Chat);
    let deltas: Vec<Value> = frames
        .iter()
        .map(|f| f["choices"][0]["delta"].clone())
        .collect();
    assert_eq!(deltas[0], json!({"role": "assistant", "content": ""}));
    assert_eq!(deltas[1], json!({"reasoning_content": "hmm"}));
    assert_eq!(deltas[2], json!({"content": "Hi"}));
    assert_eq!(
        deltas[3]["tool_calls"][0],
        json!({"index": 0, "id": "call_a", "type": "function", "function": {"name": "get", "arguments": ""}})
    );
    assert_eq!(
        deltas[4]["tool_calls"][0],
        json!({"index": 0, "function": {"arguments": "{\"c"}})
    );
    assert_eq!(frames[8]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(frames[9]["choices"], json!([]));
    assert_eq!(frames[9]["usage"]["prompt_tokens"], 9);
    assert_eq!(
        frames[9]["usage"]["prompt_tokens_details"]["cached_tokens"],
        2
    );
    assert_eq!(frames[10], json!("[DONE]"));
    assert_eq!(frames.len(), 11);
    for f in &frames[..10] {
        assert_eq!(f["model"], "chat");
        assert_eq!(f["id"], "chatcmpl-1");
        assert_eq!(f["object"], "chat.completion.chunk");
    }
    assert_eq!(frames[0]["usage"], Value::Null);
}

#[test]
fn writer_omits_usage_chunk_unless_asked() {
    let frames = write_all(&expected_events(), meta(false), StreamMode::Chat);
    assert!(frames
        .iter()
        .all(|f| f.get("usage").is_none() || f == &json!("[DONE]")));
    assert_eq!(frames.last(), Some(&json!("[DONE]")));
}

#[test]
fn writer_reports_errors_without_done() {
    let events = vec![
        StreamEvent::Start {
            id: "x".into(),
            model: "m".into(),
        },
        StreamEvent::TextDelta("a".into()),
        StreamEvent::Error(ApiError::new(ErrorKind::Overloaded, "Overloaded")),
    ];
    let frames = write_all(&events, meta(false), StreamMode::Chat);
    assert_eq!(
        frames.last().map(|f| f["error"]["message"].clone()),
        Some(json!("Overloaded"))
    );
    assert!(!frames.contains(&json!("[DONE]")));
    // A stream that ends without a finish is an error too.
    let frames = write_all(&events[..2], meta(false), StreamMode::Chat);
    assert!(frames.last().is_some_and(|f| f["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("prematurely"))));
}

#[test]
fn completions_stream_and_response() {
    let events = vec![
        StreamEvent::Start {
            id: "".into(),
            model: "m".into(),
        },
        StreamEvent::TextDelta("one".into()),
        StreamEvent::Finish {
            reason: FinishReason::Length,
            stop_sequence: None,
        },
    ];
    let frames = write_all(&events, meta(false), StreamMode::Completion);
    assert_eq!(frames[0]["object"], "text_completion");
    assert_eq!(frames[0]["choices"][0]["text"], "one");
    assert_eq!(frames[1]["choices"][0]["finish_reason"], "length");
    let req = decode_completion_request(br#"{"model":"m","prompt":"Say hi"}"#).expect("decodes");
    assert_eq!(req.sampling.max_tokens, Some(16));
    assert_eq!(req.last_user_text().as_deref(), Some("Say hi"));
    let resp = ChatResponse {
        content: vec![ContentPart::text("hi")],
        ..Default::default()
    };
    let v: Value =
        serde_json::from_slice(&encode_completion_response(&resp, &meta(false))).expect("json");
    assert_eq!(v["choices"][0]["text"], "hi");
    assert_eq!(v["object"], "text_completion");
}

#[test]
fn embeddings_both_ways_and_base64() {
    let (req, b64) = decode_embed_request(
        br#"{"model":"e","input":["a","b"],"encoding_format":"base64","dimensions":4}"#,
    )
    .expect("decodes");
    assert!(b64);
    assert_eq!(req.dimensions, Some(4));
    let up: Value = serde_json::from_slice(&encode_embed_request(&req, "up")).expect("json");
    assert_eq!(
        up,
        json!({"model": "up", "input": ["a", "b"], "encoding_format": "float", "dimensions": 4})
    );
    let resp = decode_embed_response(br#"{"object":"list","model":"up","data":[{"index":1,"embedding":[0.5]},{"index":0,"embedding":[0.25]}],"usage":{"prompt_tokens":3,"total_tokens":3}}"#).expect("decodes");
    assert_eq!(resp.vectors, vec![vec![0.25], vec![0.5]]);
    let out: Value =
        serde_json::from_slice(&encode_embed_response(&resp, "e", true)).expect("json");
    let again = decode_embed_response(out.to_string().as_bytes()).expect("decodes base64");
    assert_eq!(again.vectors, resp.vectors);
    assert_eq!(out["usage"]["prompt_tokens"], 3);
    assert!(decode_embed_request(br#"{"model":"e","input":[[1,2],[3]]}"#).is_ok());
    assert!(decode_embed_request(br#"{"model":"e","input":[]}"#).is_err());
    assert!(decode_embed_request(br#"{"model":"e","input":{"a":1}}"#).is_err());
}

#[test]
fn compatible_servers_get_max_tokens_and_top_k_openai_does_not() {
    let mut req = decode(
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 9}),
    );
    req.sampling.top_k = Some(40);
    let official = encode(&req);
    assert_eq!(official["max_completion_tokens"], 9);
    assert!(official.get("max_tokens").is_none() && official.get("top_k").is_none());
    let mut opts = UpstreamOptions::new("up");
    opts.openai_compatible = true;
    let compat: Value =
        serde_json::from_slice(&encode_request(&req, &opts).expect("encodes")).expect("json");
    assert_eq!(compat["max_tokens"], 9);
    assert_eq!(compat["top_k"], 40);
    assert!(compat.get("max_completion_tokens").is_none());
}

#[test]
fn reader_skips_azures_filter_preamble() {
    let stream = concat!(
        "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\",",
        "\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{}}]}\n\n",
        "data: {\"id\":\"chatcmpl-az\",\"model\":\"gpt-4o-2024-11-20\",\"choices\":[{\"index\":0,",
        "\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null,\"content_filter_results\":{}}]}\n\n",
        "data: {\"id\":\"chatcmpl-az\",\"model\":\"gpt-4o-2024-11-20\",\"choices\":[{\"index\":0,",
        "\"delta\":{},\"finish_reason\":\"content_filter\"}]}\n\n",
        "data: [DONE]\n\n",
    );
    let events = read_all(&[stream.as_bytes()]);
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: "chatcmpl-az".into(),
                model: "gpt-4o-2024-11-20".into()
            },
            StreamEvent::TextDelta("Hi".into()),
            StreamEvent::Finish {
                reason: FinishReason::ContentFilter,
                stop_sequence: None
            },
        ]
    );
}

#[test]
fn answer_summary_reads_usage_and_finish_and_refuses_what_is_no_completion() {
    let body = json!({"id": "c", "object": "chat.completion", "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                     "logprobs": {"content": []}, "finish_reason": "length"},
                    {"index": 1, "message": {"role": "assistant", "content": "yo"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9,
                  "prompt_tokens_details": {"cached_tokens": 3}},
        "system_fingerprint": "fp", "service_tier": "flex"});
    let s = answer_summary(&serde_json::to_vec(&body).expect("json")).expect("summary");
    assert_eq!(s.finish, FinishReason::Length, "the first choice's");
    assert_eq!(
        (s.usage.input, s.usage.output, s.usage.cache_read),
        (7, 2, 3)
    );
    for bad in [&b"not json"[..], b"[1, 2]", b"{\"choices\": 3}", b""] {
        let e = answer_summary(bad).expect_err("refused");
        assert_eq!(e.kind, lmrelay_ir::ErrorKind::BadGateway);
    }
}

#[test]
fn a_chunk_is_content_alone_without_usage_finish_error_or_end() {
    let r = StreamReader::new();
    let yes = [
        &b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}],\"usage\":null}\n\n"[..],
        b"data: {\"choices\":[{\"delta\":{\"content\":\"say \\\"usage\\\": {\"}}]}\n\n",
    ];
    let no = [
        &b"data: {\"choices\":[{\"delta\":{},\"finish_reason\": \"stop\"}]}\n\n"[..],
        b"data: {\"choices\":[],\"usage\" : {\"prompt_tokens\":1}}\n\n",
        b"data: {\"error\":{\"message\":\"overloaded\"}}\n\n",
        b"data: [DONE]\n\n",
        b"event: error\ndata: {}\n\n",
    ];
    for e in yes {
        assert!(r.content_only(e), "{}", String::from_utf8_lossy(e));
    }
    for e in no {
        assert!(!r.content_only(e), "{}", String::from_utf8_lossy(e));
    }
}
