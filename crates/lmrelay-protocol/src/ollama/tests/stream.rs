//! Both stream roles: canonical events to client NDJSON lines, upstream NDJSON to events.

use super::meta;
use crate::ollama::{StreamReader, StreamWriter};
use crate::stream::premature_end;
use crate::{StreamDecoder, StreamEncoder};
use bytes::BytesMut;
use lmrelay_ir::{ApiError, ErrorKind, FinishReason, StreamEvent, Usage};
use proptest::prelude::*;
use serde_json::{json, Value};

// === StreamWriter ===

/// Feeds `events`, then finishes at `now_ms`; returns each written line parsed as JSON.
fn write(
    events: &[StreamEvent],
    include_reasoning: bool,
    generate: bool,
    now_ms: u64,
) -> Vec<Value> {
    let mut w = StreamWriter::new(meta(include_reasoning), generate);
    assert_eq!(w.content_type(), "application/x-ndjson");
    let mut out = BytesMut::new();
    for e in events {
        w.push(e, &mut out);
    }
    w.finish(now_ms, &mut out);
    assert!(w.is_closed());
    // Nothing after the terminal line, whatever comes.
    let len = out.len();
    w.push(&StreamEvent::TextDelta("late".into()), &mut out);
    w.finish(now_ms, &mut out);
    assert_eq!(out.len(), len);
    lines(&out)
}

fn lines(out: &[u8]) -> Vec<Value> {
    assert!(out.is_empty() || out.ends_with(b"\n"));
    out.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("each line is JSON"))
        .collect()
}

const CREATED: &str = "2025-07-07T20:22:19.000000000Z";

fn text_line(content: &str) -> Value {
    json!({"model": "llama3.2", "created_at": CREATED, "message": {"role": "assistant", "content": content}, "done": false})
}

fn tool_call_events() -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start {
            id: "chatcmpl-1".into(),
            model: "gpt-x".into(),
        },
        StreamEvent::ReasoningDelta("Thinking...".into()),
        StreamEvent::TextDelta("Let me ".into()),
        StreamEvent::TextDelta("check.".into()),
        StreamEvent::TextDelta(String::new()),
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_1".into(),
            name: "get_weather".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: String::new(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "{\"city\":".into(),
        },
        StreamEvent::ToolCallStart {
            index: 1,
            id: "call_2".into(),
            name: "get_time".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "\"Tokyo\",\"days\":2}".into(),
        },
        StreamEvent::Finish {
            reason: FinishReason::ToolCalls,
            stop_sequence: None,
        },
        StreamEvent::Usage(Usage {
            input: 26,
            output: 40,
            ..Usage::default()
        }),
    ]
}

#[test]
fn writer_text_buffered_tool_calls_and_final_line() {
    let now = meta(false).started_ms + 1_500;
    let got = write(&tool_call_events(), false, false, now);
    assert_eq!(
        got,
        vec![
            text_line("Let me "),
            text_line("check."),
            json!({"model": "llama3.2", "created_at": CREATED, "message": {"role": "assistant", "content": "", "tool_calls": [
                {"id": "call_1", "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Tokyo", "days": 2}}},
                {"id": "call_2", "function": {"index": 1, "name": "get_time", "arguments": {}}}
            ]}, "done": false}),
            json!({"model": "llama3.2", "created_at": "2025-07-07T20:22:20.500000000Z",
                   "message": {"role": "assistant", "content": ""},
                   "done": true, "done_reason": "stop",
                   "total_duration": 1_500_000_000u64, "load_duration": 0,
                   "prompt_eval_count": 26, "prompt_eval_duration": 150_000_000u64,
                   "eval_count": 40, "eval_duration": 1_350_000_000u64}),
        ]
    );
}

#[test]
fn writer_thinking_only_when_requested() {
    let now = meta(true).started_ms;
    let got = write(&tool_call_events(), true, false, now);
    assert_eq!(
        got[0],
        json!({"model": "llama3.2", "created_at": CREATED, "message": {"role": "assistant", "content": "", "thinking": "Thinking..."}, "done": false})
    );
    assert_eq!(got.len(), 5);
}

#[test]
fn writer_generate_uses_response_and_length() {
    let events = [
        StreamEvent::ReasoningDelta("hm".into()),
        StreamEvent::TextDelta("Once".into()),
        StreamEvent::Usage(Usage {
            input: 3,
            output: 1,
            ..Usage::default()
        }),
        StreamEvent::Finish {
            reason: FinishReason::Length,
            stop_sequence: None,
        },
    ];
    let now = meta(true).started_ms;
    let got = write(&events, true, true, now);
    assert_eq!(
        got,
        vec![
            json!({"model": "llama3.2", "created_at": CREATED, "response": "", "thinking": "hm", "done": false}),
            json!({"model": "llama3.2", "created_at": CREATED, "response": "Once", "done": false}),
            json!({"model": "llama3.2", "created_at": CREATED, "response": "", "done": true, "done_reason": "length",
                   "total_duration": 0, "load_duration": 0, "prompt_eval_count": 3, "prompt_eval_duration": 0,
                   "eval_count": 1, "eval_duration": 0}),
        ]
    );
}

#[test]
fn writer_error_line_closes_the_stream() {
    let events = [
        StreamEvent::TextDelta("par".into()),
        StreamEvent::Error(ApiError::new(ErrorKind::Overloaded, "Overloaded.")),
        StreamEvent::TextDelta("tial".into()),
        StreamEvent::Finish {
            reason: FinishReason::Stop,
            stop_sequence: None,
        },
    ];
    let got = write(&events, false, false, 0);
    assert_eq!(got, vec![text_line("par"), json!({"error": "Overloaded."})]);
}

#[test]
fn writer_premature_end_is_an_error_line() {
    let events = [
        StreamEvent::TextDelta("par".into()),
        StreamEvent::ToolCallStart {
            index: 0,
            id: "c".into(),
            name: "f".into(),
        },
    ];
    let got = write(&events, false, false, 0);
    assert_eq!(
        got,
        vec![
            text_line("par"),
            json!({"error": "upstream stream ended prematurely"})
        ]
    );
}

// === StreamReader ===

/// A real-looking Ollama stream: thinking, text, two parallel calls on a line before the
/// done line, then one more call (indices must keep counting).
const STREAM: &str = concat!(
    r#"{"model":"qwen3:8b","created_at":"2025-07-07T20:22:19.18Z","message":{"role":"assistant","content":"","thinking":"Weather."},"done":false}"#,
    "\n",
    r#"{"model":"qwen3:8b","created_at":"2025-07-07T20:22:19.20Z","message":{"role":"assistant","content":"Checking é…"},"done":false}"#,
    "\n",
    r#"{"model":"qwen3:8b","created_at":"2025-07-07T20:22:19.30Z","message":{"role":"assistant","content":"","tool_calls":[{"id":"call_aaaa1111","function":{"index":0,"name":"get_weather","arguments":{"city":"Tokyo","unit":"c"}}},{"id":"call_bbbb2222","function":{"index":1,"name":"get_weather","arguments":{"city":"Paris"}}}]},"done":false}"#,
    "\r\n",
    "\n",
    r#"{"model":"qwen3:8b","created_at":"2025-07-07T20:22:19.31Z","message":{"role":"assistant","content":"","tool_calls":[{"id":"call_cccc3333","function":{"index":0,"name":"get_time","arguments":{}}}]},"done":false}"#,
    "\n",
    r#"{"model":"qwen3:8b","created_at":"2025-07-07T20:22:19.40Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","total_duration":4883583458,"load_duration":1334875,"prompt_eval_count":26,"eval_count":282}"#,
    "\n",
);

fn read(chunks: &[&[u8]]) -> Vec<StreamEvent> {
    let mut r = StreamReader::new();
    let mut out = Vec::new();
    for c in chunks {
        r.feed(c, &mut out);
    }
    r.finish(&mut out);
    // Start ids are random: blank them for comparison.
    for e in &mut out {
        if let StreamEvent::Start { id, .. } = e {
            assert_eq!(id.len(), 24);
            id.clear();
        }
    }
    out
}

fn expected_stream() -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start {
            id: String::new(),
            model: "qwen3:8b".into(),
        },
        StreamEvent::ReasoningDelta("Weather.".into()),
        StreamEvent::TextDelta("Checking é…".into()),
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_aaaa1111".into(),
            name: "get_weather".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: r#"{"city":"Tokyo","unit":"c"}"#.into(),
        },
        StreamEvent::ToolCallStart {
            index: 1,
            id: "call_bbbb2222".into(),
            name: "get_weather".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 1,
            arguments: r#"{"city":"Paris"}"#.into(),
        },
        StreamEvent::ToolCallStart {
            index: 2,
            id: "call_cccc3333".into(),
            name: "get_time".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 2,
            arguments: "{}".into(),
        },
        StreamEvent::Usage(Usage {
            input: 26,
            output: 282,
            ..Usage::default()
        }),
        StreamEvent::Finish {
            reason: FinishReason::ToolCalls,
            stop_sequence: None,
        },
    ]
}

#[test]
fn reader_decodes_a_real_stream() {
    assert_eq!(read(&[STREAM.as_bytes()]), expected_stream());
}

#[test]
fn reader_single_bytes_give_the_same_events() {
    let bytes = STREAM.as_bytes();
    let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(read(&chunks), expected_stream());
}

proptest! {
    #[test]
    fn reader_any_split_gives_the_same_events(cuts in proptest::collection::vec(0usize..STREAM.len(), 0..12)) {
        let bytes = STREAM.as_bytes();
        let mut cuts = cuts;
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut prev = 0;
        for c in cuts {
            chunks.push(&bytes[prev..c]);
            prev = c;
        }
        chunks.push(&bytes[prev..]);
        prop_assert_eq!(read(&chunks), expected_stream());
    }
}

#[test]
fn reader_generated_ids_length_and_plain_stop() {
    let stream = concat!(
        r#"{"model":"m","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"f","arguments":{"a":1}}}]},"done":false}"#,
        "\n",
        r#"{"model":"m","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop"}"#,
    );
    let got = read(&[stream.as_bytes()]);
    let StreamEvent::ToolCallStart { index: 0, id, name } = &got[1] else {
        panic!("call start expected: {got:?}");
    };
    assert!(id.starts_with("call_") && id.len() == 29, "{id}");
    assert_eq!(name, "f");
    assert_eq!(got[3], StreamEvent::Usage(Usage::default()));
    assert_eq!(
        got[4],
        StreamEvent::Finish {
            reason: FinishReason::ToolCalls,
            stop_sequence: None
        }
    );

    let stream = concat!(
        r#"{"model":"m","message":{"role":"assistant","content":"a"},"done":false}"#,
        "\n",
        r#"{"model":"m","message":{"role":"assistant","content":""},"done":true,"done_reason":"length","eval_count":1}"#,
        "\n",
        r#"{"model":"m","message":{"role":"assistant","content":"ignored"},"done":false}"#,
        "\n",
    );
    let got = read(&[stream.as_bytes()]);
    assert_eq!(
        got[1..],
        [
            StreamEvent::TextDelta("a".into()),
            StreamEvent::Usage(Usage {
                output: 1,
                ..Usage::default()
            }),
            StreamEvent::Finish {
                reason: FinishReason::Length,
                stop_sequence: None
            },
        ]
    );

    // /api/generate lines (no trailing newline on the last one).
    let stream = "{\"model\":\"m\",\"response\":\"Hi\",\"done\":false}\n{\"model\":\"m\",\"response\":\"\",\"done\":true}";
    let got = read(&[stream.as_bytes()]);
    assert_eq!(got[1], StreamEvent::TextDelta("Hi".into()));
    assert_eq!(
        got[3],
        StreamEvent::Finish {
            reason: FinishReason::Stop,
            stop_sequence: None
        }
    );
}

#[test]
fn reader_premature_end_and_error_lines() {
    let partial = r#"{"model":"m","message":{"role":"assistant","content":"a"},"done":false}"#
        .to_owned()
        + "\n";
    let got = read(&[partial.as_bytes()]);
    assert_eq!(
        got[1..],
        [
            StreamEvent::TextDelta("a".into()),
            StreamEvent::Error(premature_end())
        ]
    );
    assert_eq!(read(&[]), vec![StreamEvent::Error(premature_end())]);

    let with_error = partial.clone()
        + "{\"error\":\"an error was encountered while running the model: unexpected EOF\"}\n"
        + &partial;
    let got = read(&[with_error.as_bytes()]);
    assert_eq!(got.len(), 3, "{got:?}");
    let StreamEvent::Error(err) = &got[2] else {
        panic!("error expected")
    };
    assert_eq!(err.kind, ErrorKind::Server);
    assert!(err.message.contains("unexpected EOF"));

    let got = read(&[b"{\"error\":\"model 'nope' not found\"}\n"]);
    let [StreamEvent::Error(err)] = got.as_slice() else {
        panic!("one error expected: {got:?}")
    };
    assert_eq!(err.kind, ErrorKind::NotFound);

    let got = read(&[b"not json\n"]);
    let [StreamEvent::Error(err)] = got.as_slice() else {
        panic!("one error expected: {got:?}")
    };
    assert_eq!(err.kind, ErrorKind::BadGateway);
}

#[test]
fn reader_into_writer_round_trip() {
    let mut r = StreamReader::new();
    let mut events = Vec::new();
    r.feed(STREAM.as_bytes(), &mut events);
    r.finish(&mut events);
    let got = write(&events, true, false, meta(true).started_ms);
    assert_eq!(got.len(), 4);
    assert_eq!(got[0]["message"]["thinking"], "Weather.");
    assert_eq!(
        got[2]["message"]["tool_calls"],
        json!([
            {"id": "call_aaaa1111", "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Tokyo", "unit": "c"}}},
            {"id": "call_bbbb2222", "function": {"index": 1, "name": "get_weather", "arguments": {"city": "Paris"}}},
            {"id": "call_cccc3333", "function": {"index": 2, "name": "get_time", "arguments": {}}}
        ])
    );
    assert_eq!(got[3]["done"], true);
    assert_eq!(got[3]["eval_count"], 282);
}
