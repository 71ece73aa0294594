//! `encode_response` / `decode_response`, including the usage convention at this edge.

use super::value;
use crate::anthropic::{decode_response, encode_response};
use crate::ResponseMeta;
use lmrelay_ir::{ChatResponse, ContentPart, ErrorKind, FinishReason, Usage};
use serde_json::json;

fn meta(include_reasoning: bool) -> ResponseMeta {
    ResponseMeta {
        model: "alias".into(),
        include_reasoning,
        tool_namespaces: Vec::new(),
        ..ResponseMeta::default()
    }
}

fn response(content: Vec<ContentPart>, finish: FinishReason) -> ChatResponse {
    ChatResponse {
        id: "chatcmpl-1".into(),
        model: "upstream-model".into(),
        content,
        finish,
        stop_sequence: None,
        // Canonical: input 1030 includes 1000 cache reads and 20 cache writes.
        usage: Usage {
            input: 1030,
            output: 5,
            cache_read: 1000,
            cache_write: 20,
            reasoning: None,
        },
    }
}

#[test]
fn encodes_blocks_stop_reason_and_anthropic_usage() {
    let resp = response(
        vec![
            ContentPart::Reasoning {
                text: "hmm".into(),
                signature: Some("sig".into()),
            },
            ContentPart::Reasoning {
                text: "unsigned".into(),
                signature: None,
            },
            ContentPart::RedactedReasoning {
                data: "opaque".into(),
            },
            ContentPart::text(""),
            ContentPart::text("Checking."),
            ContentPart::ToolCall {
                cache_control: None,
                id: "call_1".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into(),
            },
        ],
        FinishReason::Stop,
    );
    let body = value(&encode_response(&resp, &meta(true)));
    let id = body["id"].as_str().expect("id");
    assert!(id.starts_with("msg_") && id.len() > 10, "{id}");
    let mut body = body;
    body["id"] = json!("msg_x");
    assert_eq!(
        body,
        json!({
            "id": "msg_x", "type": "message", "role": "assistant", "model": "alias",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "thinking", "thinking": "unsigned", "signature": ""},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}
            ],
            // A natural stop with tool calls is tool_use.
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 5,
                      "cache_creation_input_tokens": 20, "cache_read_input_tokens": 1000}
        })
    );
    // Without a reasoning request, no thinking at all.
    let body = value(&encode_response(&resp, &meta(false)));
    let types: Vec<&str> = body["content"]
        .as_array()
        .expect("content")
        .iter()
        .filter_map(|b| b["type"].as_str())
        .collect();
    assert_eq!(types, ["text", "tool_use"]);
}

#[test]
fn stop_reasons() {
    let cases = [
        (FinishReason::Stop, None, "end_turn"),
        (FinishReason::StopSequence, Some("END"), "stop_sequence"),
        (FinishReason::StopSequence, None, "end_turn"),
        (FinishReason::Length, None, "max_tokens"),
        (FinishReason::ToolCalls, None, "end_turn"), // no tool calls in the content
        (FinishReason::ContentFilter, None, "refusal"),
        (FinishReason::Pause, None, "pause_turn"),
        (
            FinishReason::ContextExceeded,
            None,
            "model_context_window_exceeded",
        ),
        (FinishReason::Error, None, "end_turn"),
    ];
    for (finish, seq, want) in cases {
        let mut resp = response(vec![ContentPart::text("x")], finish);
        resp.stop_sequence = seq.map(str::to_owned);
        let body = value(&encode_response(&resp, &meta(false)));
        assert_eq!(body["stop_reason"], want, "{finish:?}");
        assert_eq!(body["stop_sequence"], json!(seq), "{finish:?}");
    }
    let mut resp = response(vec![], FinishReason::Stop);
    resp.id = "msg_keep".into();
    assert_eq!(
        value(&encode_response(&resp, &meta(false)))["id"],
        "msg_keep"
    );
}

#[test]
fn decodes_an_upstream_message() {
    let body = json!({
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "EqQB/+=="},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "Let me check.", "citations": null},
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"z": 1, "a": 2}}
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 42, "output_tokens": 31, "cache_creation_input_tokens": 8,
                  "cache_read_input_tokens": 100, "service_tier": "standard"}
    });
    let resp = decode_response(body.to_string().as_bytes()).expect("decodes");
    assert_eq!(resp.id, "msg_01");
    assert_eq!(resp.model, "claude-x");
    assert_eq!(
        resp.content,
        vec![
            ContentPart::Reasoning {
                text: "hmm".into(),
                signature: Some("EqQB/+==".into())
            },
            ContentPart::RedactedReasoning {
                data: "opaque".into()
            },
            ContentPart::text("Let me check."),
            ContentPart::ToolCall {
                cache_control: None,
                id: "toolu_01".into(),
                name: "get_weather".into(),
                arguments: r#"{"z":1,"a":2}"#.into()
            },
        ]
    );
    assert_eq!(resp.finish, FinishReason::ToolCalls);
    assert_eq!(
        resp.usage,
        Usage {
            input: 150,
            output: 31,
            cache_read: 100,
            cache_write: 8,
            reasoning: None
        }
    );
    assert_eq!(resp.usage.uncached_input(), 42);

    let body = json!({"id": "msg_2", "content": [{"type": "text", "text": "a"}], "stop_reason": "stop_sequence",
                      "stop_sequence": "END", "usage": {"input_tokens": 1, "output_tokens": 1, "cache_read_input_tokens": null}});
    let resp = decode_response(body.to_string().as_bytes()).expect("decodes");
    assert_eq!(resp.finish, FinishReason::StopSequence);
    assert_eq!(resp.stop_sequence.as_deref(), Some("END"));
    assert_eq!(resp.usage.input, 1);
}

#[test]
fn usage_survives_decode_then_encode() {
    let upstream = json!({"id": "msg_1", "content": [{"type": "text", "text": "a"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 7, "output_tokens": 3, "cache_creation_input_tokens": 11, "cache_read_input_tokens": 13}});
    let resp = decode_response(upstream.to_string().as_bytes()).expect("decodes");
    assert_eq!(resp.usage.input, 31);
    let body = value(&encode_response(&resp, &meta(false)));
    assert_eq!(body["usage"], upstream["usage"]);
    assert_eq!(body["id"], "msg_1");
}

#[test]
fn invalid_bodies_are_bad_gateway() {
    for body in [&b"not json"[..], b"[]", br#"{"content": 5}"#] {
        let err = decode_response(body).expect_err("invalid");
        assert_eq!(err.kind, ErrorKind::BadGateway);
        assert_eq!(err.status, 502);
        assert!(!err.message.is_empty());
    }
    let err = decode_response(
        br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    )
    .expect_err("error body");
    assert_eq!(err.kind, ErrorKind::Overloaded);
    assert_eq!(err.message, "Overloaded");
}
