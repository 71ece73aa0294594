//! `StreamWriter`: canonical events to Anthropic SSE frames.

use super::frames;
use crate::anthropic::StreamWriter;
use crate::{ResponseMeta, StreamEncoder};
use bytes::BytesMut;
use lmrelay_ir::{ApiError, ErrorKind, FinishReason, StreamEvent, Usage};
use serde_json::{json, Value};

fn writer(include_reasoning: bool) -> StreamWriter {
    StreamWriter::new(ResponseMeta {
        model: "alias".into(),
        include_reasoning,
        tool_namespaces: Vec::new(),
        ..ResponseMeta::default()
    })
}

fn start() -> StreamEvent {
    StreamEvent::Start {
        id: "chatcmpl-1".into(),
        model: "upstream".into(),
    }
}

fn tool_start(index: u32, id: &str, name: &str) -> StreamEvent {
    StreamEvent::ToolCallStart {
        index,
        id: id.into(),
        name: name.into(),
    }
}

fn tool_delta(index: u32, arguments: &str) -> StreamEvent {
    StreamEvent::ToolCallDelta {
        index,
        arguments: arguments.into(),
    }
}

fn finish(reason: FinishReason) -> StreamEvent {
    StreamEvent::Finish {
        reason,
        stop_sequence: None,
    }
}

/// Runs `events` through a writer, then `finish`; returns the frames.
fn run(w: &mut StreamWriter, events: &[StreamEvent]) -> Vec<(String, Value)> {
    let mut out = BytesMut::new();
    for e in events {
        w.push(e, &mut out);
    }
    w.finish(1_000, &mut out);
    let frames = frames(&out);
    for (name, data) in &frames {
        assert_eq!(data["type"], json!(name), "event name matches data.type");
    }
    frames
}

/// The frames without `message_start`'s random id.
fn normalised(mut frames: Vec<(String, Value)>) -> Vec<(String, Value)> {
    if let Some((_, data)) = frames.first_mut() {
        if let Some(id) = data.pointer_mut("/message/id") {
            assert!(id.as_str().is_some_and(|s| s.starts_with("msg_")), "{id}");
            *id = json!("msg_x");
        }
    }
    frames
}

fn ev(name: &str, data: Value) -> (String, Value) {
    (name.to_owned(), data)
}

fn message_start() -> (String, Value) {
    ev(
        "message_start",
        json!({"type": "message_start", "message": {
            "id": "msg_x", "type": "message", "role": "assistant", "model": "alias", "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        }}),
    )
}

fn block_start(index: u32, block: Value) -> (String, Value) {
    ev(
        "content_block_start",
        json!({"type": "content_block_start", "index": index, "content_block": block}),
    )
}

fn delta(index: u32, delta: Value) -> (String, Value) {
    ev(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": index, "delta": delta}),
    )
}

fn stop(index: u32) -> (String, Value) {
    ev(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": index}),
    )
}

fn text(index: u32, t: &str) -> (String, Value) {
    delta(index, json!({"type": "text_delta", "text": t}))
}

fn args(index: u32, partial: &str) -> (String, Value) {
    delta(
        index,
        json!({"type": "input_json_delta", "partial_json": partial}),
    )
}

fn tool_use(id: &str, name: &str) -> Value {
    json!({"type": "tool_use", "id": id, "name": name, "input": {}})
}

#[test]
fn text_and_two_tool_calls_with_split_arguments() {
    let mut w = writer(false);
    let events = [
        start(),
        StreamEvent::TextDelta("Hel".into()),
        StreamEvent::TextDelta(String::new()),
        StreamEvent::TextDelta("lo".into()),
        StreamEvent::ReasoningDelta("not asked for".into()),
        StreamEvent::ReasoningSignature("sig".into()),
        tool_start(0, "call_a", "f"),
        tool_delta(0, ""),
        tool_delta(0, "{\"a\":"),
        tool_delta(0, "1}"),
        tool_start(1, "call_b", "g"),
        tool_delta(1, "{\"b\""),
        tool_delta(1, ":2}"),
        StreamEvent::Usage(Usage {
            input: 10,
            output: 1,
            ..Usage::default()
        }),
        // Last usage wins; canonical input includes the cache.
        StreamEvent::Usage(Usage {
            input: 1030,
            output: 7,
            cache_read: 1000,
            cache_write: 20,
            reasoning: None,
        }),
        finish(FinishReason::Stop),
    ];
    let frames = normalised(run(&mut w, &events));
    let want = vec![
        message_start(),
        block_start(0, json!({"type": "text", "text": ""})),
        text(0, "Hel"),
        text(0, "lo"),
        stop(0),
        block_start(1, tool_use("call_a", "f")),
        args(1, "{\"a\":"),
        args(1, "1}"),
        stop(1),
        // A call that starts while another streams is written whole at the end.
        block_start(2, tool_use("call_b", "g")),
        args(2, "{\"b\":2}"),
        stop(2),
        ev(
            "message_delta",
            json!({"type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": null},
            "usage": {"input_tokens": 10, "output_tokens": 7, "cache_creation_input_tokens": 20, "cache_read_input_tokens": 1000}}),
        ),
        ev("message_stop", json!({"type": "message_stop"})),
    ];
    assert_eq!(frames, want);

    // Nothing after message_stop, whatever is fed.
    assert!(w.is_closed());
    let mut out = BytesMut::new();
    w.push(&StreamEvent::TextDelta("late".into()), &mut out);
    w.push(&finish(FinishReason::Stop), &mut out);
    w.finish(2_000, &mut out);
    assert!(out.is_empty());
}

#[test]
fn reasoning_is_a_thinking_block_when_requested() {
    let events = [
        start(),
        StreamEvent::ReasoningDelta("a".into()),
        StreamEvent::ReasoningDelta("b".into()),
        StreamEvent::ReasoningSignature("sig".into()),
        StreamEvent::RedactedReasoning("opaque".into()),
        StreamEvent::TextDelta("x".into()),
        StreamEvent::Finish {
            reason: FinishReason::StopSequence,
            stop_sequence: Some("END".into()),
        },
    ];
    let frames = normalised(run(&mut writer(true), &events));
    let names: Vec<&str> = frames.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        frames[1],
        block_start(
            0,
            json!({"type": "thinking", "thinking": "", "signature": ""})
        )
    );
    assert_eq!(
        frames[2],
        delta(0, json!({"type": "thinking_delta", "thinking": "a"}))
    );
    assert_eq!(
        frames[3],
        delta(0, json!({"type": "thinking_delta", "thinking": "b"}))
    );
    assert_eq!(
        frames[4],
        delta(0, json!({"type": "signature_delta", "signature": "sig"}))
    );
    assert_eq!(frames[5], stop(0));
    assert_eq!(
        frames[6],
        block_start(1, json!({"type": "redacted_thinking", "data": "opaque"}))
    );
    assert_eq!(frames[7], stop(1));
    assert_eq!(
        frames[8],
        block_start(2, json!({"type": "text", "text": ""}))
    );
    assert_eq!(
        frames[11].1["delta"],
        json!({"stop_reason": "stop_sequence", "stop_sequence": "END"})
    );
    assert_eq!(names.len(), 13);

    // Not requested: no thinking, no signature, no redacted block.
    let frames = normalised(run(&mut writer(false), &events));
    assert_eq!(
        frames[1],
        block_start(0, json!({"type": "text", "text": ""}))
    );
    assert_eq!(frames.len(), 6);
}

#[test]
fn premature_end_is_an_error_without_message_stop() {
    let mut w = writer(false);
    let frames = run(&mut w, &[start(), StreamEvent::TextDelta("par".into())]);
    let last = frames.last().expect("frames");
    assert_eq!(last.0, "error");
    assert_eq!(last.1["error"]["type"], "api_error");
    assert!(last.1["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("prematurely")));
    assert!(frames
        .iter()
        .all(|(n, _)| n != "message_stop" && n != "message_delta"));
    assert!(w.is_closed());
}

#[test]
fn upstream_error_ends_the_stream() {
    let mut w = writer(false);
    let err = ApiError::new(ErrorKind::Overloaded, "Overloaded");
    let frames = run(
        &mut w,
        &[
            start(),
            StreamEvent::TextDelta("a".into()),
            StreamEvent::Error(err),
            StreamEvent::TextDelta("b".into()),
            finish(FinishReason::Stop),
        ],
    );
    assert_eq!(
        frames.last().expect("frames"),
        &ev(
            "error",
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        )
    );
    assert_eq!(frames.len(), 4);
}

#[test]
fn events_before_start_get_a_message_start_first() {
    let frames = normalised(run(
        &mut writer(false),
        &[
            StreamEvent::TextDelta("hi".into()),
            start(),
            finish(FinishReason::Length),
        ],
    ));
    assert_eq!(frames[0], message_start());
    assert_eq!(
        frames.iter().filter(|(n, _)| n == "message_start").count(),
        1
    );
    assert_eq!(frames[4].1["delta"]["stop_reason"], "max_tokens");
    // An upstream msg_ id is kept.
    let frames = run(
        &mut writer(false),
        &[
            StreamEvent::Start {
                id: "msg_up".into(),
                model: "m".into(),
            },
            finish(FinishReason::Stop),
        ],
    );
    assert_eq!(frames[0].1["message"]["id"], "msg_up");
    assert_eq!(frames[1].1["delta"]["stop_reason"], "end_turn");
}

#[test]
fn interleaved_tool_fragments_lose_nothing_and_blocks_never_overlap() {
    let events = [
        start(),
        tool_start(0, "call_a", "f"),
        tool_delta(0, "{\"a\":1}"),
        tool_start(1, "call_b", "g"),
        tool_delta(1, "{\"b\":"),
        tool_delta(0, " "), // late fragment for a closed block
        tool_delta(1, "2}"),
        tool_start(2, "", "h"),
        tool_delta(2, "{\"c\":"),
        tool_delta(2, "3}"),
        finish(FinishReason::ToolCalls),
    ];
    let frames = normalised(run(&mut writer(false), &events));
    assert_eq!(frames[1], block_start(0, tool_use("call_a", "f")));
    assert_eq!(frames[2], args(0, "{\"a\":1}"));
    // The late fragment of the first call lands in its block, still open.
    assert_eq!(frames[3], args(0, " "));
    assert_eq!(frames[4], stop(0));
    // The calls that started meanwhile come whole, in order, the last with a generated id.
    assert_eq!(frames[5], block_start(1, tool_use("call_b", "g")));
    assert_eq!(frames[6], args(1, "{\"b\":2}"));
    assert_eq!(frames[7], stop(1));
    let id = frames[8].1["content_block"]["id"].as_str().expect("id");
    assert!(id.starts_with("toolu_"), "{id}");
    assert_eq!(frames[8], block_start(2, tool_use(id, "h")));
    assert_eq!(frames[9], args(2, "{\"c\":3}"));
    assert_eq!(frames[10], stop(2));
    assert_eq!(frames[11].1["delta"]["stop_reason"], "tool_use");
    assert_eq!(frames[12].0, "message_stop");
    // Blocks never overlap: every start comes after the previous block's stop.
    let mut open = None;
    for (name, v) in &frames {
        match name.as_str() {
            "content_block_start" => {
                assert!(open.is_none(), "overlapping blocks: {frames:?}");
                open = v["index"].as_u64();
            }
            "content_block_delta" => {
                assert_eq!(v["index"].as_u64(), open, "delta outside its block")
            }
            "content_block_stop" => open = None,
            _ => {}
        }
    }
}
