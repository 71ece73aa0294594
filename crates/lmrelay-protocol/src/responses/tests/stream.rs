//! Streams: the writer's event grammar (property-tested), and the reader.

use crate::responses::{StreamReader, StreamWriter};
use crate::signature;
use crate::sse::SseParser;
use crate::{ResponseMeta, StreamDecoder, StreamEncoder};
use bytes::BytesMut;
use lmrelay_ir::{ApiError, FinishReason, StreamCollector, StreamEvent, Usage};
use proptest::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;

fn write(events: &[StreamEvent]) -> Vec<u8> {
    let mut w = StreamWriter::new(ResponseMeta {
        model: "m".into(),
        started_ms: 1_000,
        ..ResponseMeta::default()
    });
    let mut out = BytesMut::new();
    for e in events {
        w.push(e, &mut out);
    }
    w.finish(2_000, &mut out);
    assert!(w.is_closed());
    out.to_vec()
}

/// Parses a Responses stream and checks the grammar openai-python and Codex rely on
/// (protocols.md §1.11, "What clients need when lmrelay is the server"). Returns the events.
fn check_well_formed(bytes: &[u8]) -> Vec<Value> {
    let mut frames = Vec::new();
    let mut sse = SseParser::new();
    sse.feed(bytes, &mut frames);
    sse.finish(&mut frames);
    let events: Vec<Value> = frames
        .iter()
        .map(|f| {
            let v: Value = serde_json::from_str(&f.data).expect("json data");
            assert_eq!(
                f.event.as_deref(),
                v["type"].as_str(),
                "event name is data.type"
            );
            v
        })
        .collect();
    assert!(events.len() >= 3);
    assert_eq!(events[0]["type"], "response.created");
    assert_eq!(events[1]["type"], "response.in_progress");
    let id = events[0]["response"]["id"]
        .as_str()
        .expect("response id")
        .to_owned();
    // item state by output_index: (type, id, done); parts by (output_index, index): done
    let mut items: BTreeMap<u64, (String, String, bool)> = BTreeMap::new();
    let mut parts: BTreeMap<(u64, u64), bool> = BTreeMap::new();
    let mut summaries: BTreeMap<(u64, u64), bool> = BTreeMap::new();
    let mut terminal = 0;
    for (n, e) in events.iter().enumerate() {
        assert_eq!(
            e["sequence_number"].as_u64(),
            Some(n as u64),
            "sequence numbers count from 0"
        );
        assert_eq!(terminal, 0, "nothing after the terminal event: {e}");
        let kind = e["type"].as_str().expect("type");
        if let Some(r) = e.get("response") {
            assert_eq!(r["id"].as_str(), Some(id.as_str()), "one response id");
        }
        let oi = e["output_index"].as_u64();
        match kind {
            "response.created" | "response.in_progress" => assert!(n < 2),
            "response.output_item.added" => {
                let oi = oi.expect("output_index");
                assert_eq!(
                    oi as usize,
                    items.len(),
                    "output indexes are handed out in order"
                );
                let item = &e["item"];
                assert_eq!(
                    item["status"].as_str().unwrap_or("in_progress"),
                    "in_progress"
                );
                let prev = items.insert(
                    oi,
                    (
                        item["type"].as_str().unwrap_or_default().into(),
                        item["id"].as_str().unwrap_or_default().into(),
                        false,
                    ),
                );
                assert!(prev.is_none(), "one added per output_index");
            }
            "response.output_item.done" => {
                let state = items
                    .get_mut(&oi.expect("output_index"))
                    .expect("added before done");
                assert!(!state.2, "done once");
                assert_eq!(
                    e["item"]["type"].as_str(),
                    Some(state.0.as_str()),
                    "done keeps the type"
                );
                assert_eq!(
                    e["item"]["id"].as_str(),
                    Some(state.1.as_str()),
                    "done keeps the id"
                );
                assert!(
                    parts
                        .iter()
                        .filter(|((o, _), _)| Some(*o) == oi)
                        .all(|(_, d)| *d),
                    "parts done before their item"
                );
                assert!(
                    summaries
                        .iter()
                        .filter(|((o, _), _)| Some(*o) == oi)
                        .all(|(_, d)| *d),
                    "summaries done before their item"
                );
                state.2 = true;
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                terminal += 1;
                assert!(
                    items.values().all(|s| s.2),
                    "every item done before the end"
                );
                let output = e["response"]["output"].as_array().expect("output");
                assert_eq!(output.len(), items.len(), "final output holds every item");
                for (i, item) in output.iter().enumerate() {
                    assert_eq!(item["id"].as_str(), Some(items[&(i as u64)].1.as_str()));
                }
                if kind != "response.failed" {
                    let u = &e["response"]["usage"];
                    for f in ["input_tokens", "output_tokens", "total_tokens"] {
                        assert!(u[f].is_u64(), "usage.{f}");
                    }
                }
            }
            "error" => terminal += 1,
            _ => {
                let oi = oi.expect("every item event has output_index");
                let state = items.get(&oi).expect("item added before its events");
                assert!(!state.2, "no events after an item is done: {e}");
                assert_eq!(e["item_id"].as_str(), Some(state.1.as_str()));
                let key = |f: &str| (oi, e[f].as_u64().expect(f));
                match kind {
                    "response.content_part.added" => {
                        assert!(parts.insert(key("content_index"), false).is_none())
                    }
                    "response.content_part.done" => {
                        *parts.get_mut(&key("content_index")).expect("added") = true
                    }
                    "response.output_text.delta" | "response.output_text.done" => {
                        assert_eq!(state.0, "message");
                        assert_eq!(
                            parts.get(&key("content_index")),
                            Some(&false),
                            "delta inside an open part"
                        );
                    }
                    "response.reasoning_summary_part.added" => {
                        assert!(summaries.insert(key("summary_index"), false).is_none())
                    }
                    "response.reasoning_summary_part.done" => {
                        *summaries.get_mut(&key("summary_index")).expect("added") = true
                    }
                    "response.reasoning_summary_text.delta"
                    | "response.reasoning_summary_text.done" => {
                        assert_eq!(state.0, "reasoning");
                        assert_eq!(summaries.get(&key("summary_index")), Some(&false));
                    }
                    "response.function_call_arguments.delta"
                    | "response.function_call_arguments.done" => {
                        assert_eq!(state.0, "function_call")
                    }
                    other => panic!("unexpected event {other}"),
                }
            }
        }
    }
    assert_eq!(terminal, 1, "exactly one terminal event");
    assert!(parts.values().all(|d| *d) && summaries.values().all(|d| *d));
    events
}

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            e["type"]
                .as_str()
                .unwrap_or_default()
                .trim_start_matches("response.")
                .to_owned()
        })
        .collect()
}

#[test]
fn text_stream_matches_the_documented_sequence() {
    let events = check_well_formed(&write(&[
        StreamEvent::Start {
            id: "chatcmpl-1".into(),
            model: "up".into(),
        },
        StreamEvent::TextDelta("Hel".into()),
        StreamEvent::TextDelta("lo".into()),
        StreamEvent::Finish {
            reason: FinishReason::Stop,
            stop_sequence: None,
        },
        StreamEvent::Usage(Usage {
            input: 5,
            output: 2,
            cache_read: 1,
            cache_write: 0,
            reasoning: None,
        }),
    ]));
    assert_eq!(
        types(&events),
        [
            "created",
            "in_progress",
            "output_item.added",
            "content_part.added",
            "output_text.delta",
            "output_text.delta",
            "output_text.done",
            "content_part.done",
            "output_item.done",
            "completed"
        ]
    );
    assert_eq!(events[6]["text"], "Hello");
    assert_eq!(events[4]["logprobs"], serde_json::json!([]));
    let done = &events[9]["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][0]["content"][0]["text"], "Hello");
    assert_eq!(done["usage"]["input_tokens_details"]["cached_tokens"], 1);
    assert_eq!(done["usage"]["total_tokens"], 7);
}

#[test]
fn reasoning_then_parallel_calls() {
    let events = check_well_formed(&write(&[
        StreamEvent::Start {
            id: "resp_up".into(),
            model: "up".into(),
        },
        StreamEvent::ReasoningDelta("**Plan**".into()),
        StreamEvent::ReasoningSignature(signature::openai("gAAA")),
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_1".into(),
            name: "a".into(),
        },
        StreamEvent::ToolCallStart {
            index: 1,
            id: "call_2".into(),
            name: "b".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "{\"x\":".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 1,
            arguments: "{}".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "1}".into(),
        },
        StreamEvent::Finish {
            reason: FinishReason::Stop,
            stop_sequence: None,
        },
    ]));
    assert_eq!(events[0]["response"]["id"], "resp_up");
    let last = events.last().expect("last");
    assert_eq!(last["type"], "response.completed");
    let out = &last["response"]["output"];
    assert_eq!(out[0]["type"], "reasoning");
    assert_eq!(out[0]["encrypted_content"], "gAAA");
    assert_eq!(out[0]["summary"][0]["text"], "**Plan**");
    assert_eq!(out[1]["arguments"], "{\"x\":1}");
    assert_eq!(out[1]["call_id"], "call_1");
    assert_eq!(out[2]["arguments"], "{}");
}

#[test]
fn errors_and_early_ends_fail_the_response_once() {
    let events = check_well_formed(&write(&[
        StreamEvent::Start {
            id: String::new(),
            model: "up".into(),
        },
        StreamEvent::TextDelta("partial".into()),
        StreamEvent::Error(ApiError::new(
            lmrelay_ir::ErrorKind::RateLimited,
            "slow down",
        )),
        StreamEvent::TextDelta("ignored".into()),
    ]));
    let last = events.last().expect("last");
    assert_eq!(last["type"], "response.failed");
    assert_eq!(last["response"]["error"]["code"], "rate_limit_exceeded");
    assert_eq!(last["response"]["output"][0]["status"], "incomplete");
    let events = check_well_formed(&write(&[StreamEvent::TextDelta("cut".into())]));
    assert_eq!(events.last().expect("last")["type"], "response.failed");
    let events = check_well_formed(&write(&[]));
    assert_eq!(types(&events), ["created", "in_progress", "failed"]);
    let events = check_well_formed(&write(&[StreamEvent::Finish {
        reason: FinishReason::Length,
        stop_sequence: None,
    }]));
    assert_eq!(
        events.last().expect("last")["response"]["incomplete_details"]["reason"],
        "max_output_tokens"
    );
}

/// A random canonical stream: a start, any mix of deltas and calls, and an ending.
fn event_sequences() -> impl Strategy<Value = Vec<StreamEvent>> {
    let step = prop_oneof![
        "[a-z ]{0,6}".prop_map(StreamEvent::TextDelta),
        "[a-z ]{0,6}".prop_map(StreamEvent::ReasoningDelta),
        "[A-Za-z0-9]{1,8}".prop_map(|s| StreamEvent::ReasoningSignature(signature::openai(&s))),
        Just(StreamEvent::ToolCallStart {
            index: u32::MAX,
            id: String::new(),
            name: "f".into()
        }),
        (0u32..4, "[{}a-z:\"0-9]{0,5}")
            .prop_map(|(index, arguments)| StreamEvent::ToolCallDelta { index, arguments }),
        (0u64..50, 0u64..50).prop_map(|(i, o)| StreamEvent::Usage(Usage {
            input: i,
            output: o,
            ..Usage::default()
        })),
        Just(StreamEvent::RedactedReasoning("r".into())),
    ];
    let ending = prop_oneof![
        Just(vec![StreamEvent::Finish {
            reason: FinishReason::Stop,
            stop_sequence: None
        }]),
        Just(vec![StreamEvent::Finish {
            reason: FinishReason::Length,
            stop_sequence: None
        }]),
        Just(vec![StreamEvent::Error(ApiError::new(
            lmrelay_ir::ErrorKind::Server,
            "boom"
        ))]),
        Just(vec![]),
    ];
    (proptest::collection::vec(step, 0..24), ending).prop_map(|(steps, end)| {
        let mut next_call = 0;
        let mut events = vec![StreamEvent::Start {
            id: "x".into(),
            model: "m".into(),
        }];
        for s in steps {
            events.push(match s {
                StreamEvent::ToolCallStart { name, .. } => {
                    next_call += 1;
                    StreamEvent::ToolCallStart {
                        index: next_call - 1,
                        id: format!("call_{next_call}"),
                        name,
                    }
                }
                other => other,
            });
        }
        events.extend(end);
        events
    })
}

proptest! {
    #[test]
    fn any_canonical_stream_is_written_well_formed(events in event_sequences()) {
        let bytes = write(&events);
        check_well_formed(&bytes);
    }

    #[test]
    fn writer_then_reader_keeps_text_and_calls(events in event_sequences()) {
        let ends_well = matches!(events.last(), Some(StreamEvent::Finish { .. }));
        let mut expected = StreamCollector::default();
        for e in &events { expected.push(e); }
        let bytes = write(&events);
        let mut reader = StreamReader::new();
        let mut back = Vec::new();
        reader.feed(&bytes, &mut back);
        reader.finish(&mut back);
        let mut got = StreamCollector::default();
        for e in &back { got.push(e); }
        if ends_well {
            let (want, have) = (expected.finish().expect("answer"), got.finish().expect("answer"));
            prop_assert_eq!(want.text(), have.text());
            let calls = |r: &lmrelay_ir::ChatResponse| r.content.iter().filter_map(|p| match p {
                lmrelay_ir::ContentPart::ToolCall { id, arguments, .. } => Some((id.clone(), arguments.clone())),
                _ => None,
            }).collect::<Vec<_>>();
            // Arguments of a call closed by later text are dropped by design; ids survive.
            prop_assert_eq!(calls(&want).len(), calls(&have).len());
        } else {
            prop_assert!(matches!(back.last(), Some(StreamEvent::Error(_))));
        }
    }
}

const OPENAI_STREAM: &str = concat!(
    "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"created_at\":1,\"status\":\"in_progress\",\"model\":\"gpt-5\",\"output\":[],\"usage\":null}}\n\n",
    "event: response.in_progress\ndata: {\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\",\"model\":\"gpt-5\",\"output\":[]}}\n\n",
    "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":2,\"output_index\":0,\"item\":{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[]}}\n\n",
    "event: response.reasoning_summary_part.added\ndata: {\"type\":\"response.reasoning_summary_part.added\",\"sequence_number\":3,\"item_id\":\"rs_1\",\"output_index\":0,\"summary_index\":0,\"part\":{\"type\":\"summary_text\",\"text\":\"\"}}\n\n",
    "event: response.reasoning_summary_text.delta\ndata: {\"type\":\"response.reasoning_summary_text.delta\",\"sequence_number\":4,\"item_id\":\"rs_1\",\"output_index\":0,\"summary_index\":0,\"delta\":\"Plan\",\"obfuscation\":\"x\"}\n\n",
    "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"sequence_number\":5,\"output_index\":0,\"item\":{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[{\"type\":\"summary_text\",\"text\":\"Plan\"}],\"encrypted_content\":\"gAAAA\"}}\n\n",
    "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":6,\"output_index\":1,\"item\":{\"type\":\"message\",\"id\":\"msg_1\",\"role\":\"assistant\",\"status\":\"in_progress\",\"content\":[]}}\n\n",
    "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":7,\"item_id\":\"msg_1\",\"output_index\":1,\"content_index\":0,\"delta\":\"Hi\",\"logprobs\":[]}\n\n",
    "event: response.web_search_call.in_progress\ndata: {\"type\":\"response.web_search_call.in_progress\",\"sequence_number\":8,\"output_index\":2,\"item_id\":\"ws_1\"}\n\n",
    "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":9,\"output_index\":2,\"item\":{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_1\",\"name\":\"get_weather\",\"arguments\":\"\",\"status\":\"in_progress\"}}\n\n",
    "event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\",\"sequence_number\":10,\"item_id\":\"fc_1\",\"output_index\":2,\"delta\":\"{\\\"city\\\":\"}\n\n",
    "event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\",\"sequence_number\":11,\"item_id\":\"fc_1\",\"output_index\":2,\"delta\":\"\\\"Paris\\\"}\"}\n\n",
    "event: response.function_call_arguments.done\ndata: {\"type\":\"response.function_call_arguments.done\",\"sequence_number\":12,\"item_id\":\"fc_1\",\"output_index\":2,\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}\n\n",
    "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":13,\"output_index\":3,\"item\":{\"type\":\"function_call\",\"id\":\"fc_2\",\"call_id\":\"call_2\",\"name\":\"get_time\",\"arguments\":\"\",\"status\":\"in_progress\"}}\n\n",
    "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"sequence_number\":14,\"output_index\":3,\"item\":{\"type\":\"function_call\",\"id\":\"fc_2\",\"call_id\":\"call_2\",\"name\":\"get_time\",\"arguments\":\"{}\",\"status\":\"completed\"}}\n\n",
    "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":15,\"response\":{\"id\":\"resp_1\",\"status\":\"completed\",\"model\":\"gpt-5\",\"output\":[],\"usage\":{\"input_tokens\":9,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":5,\"output_tokens_details\":{\"reasoning_tokens\":2},\"total_tokens\":14}}}\n\n",
);

fn read(bytes: &[u8], cuts: &[usize]) -> Vec<StreamEvent> {
    let mut r = StreamReader::new();
    let mut out = Vec::new();
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut at = 0;
    for c in cuts.into_iter().chain([bytes.len()]) {
        r.feed(&bytes[at..c.max(at)], &mut out);
        at = c.max(at);
    }
    r.finish(&mut out);
    out
}

#[test]
fn reader_turns_an_openai_stream_into_canonical_events() {
    let events = read(OPENAI_STREAM.as_bytes(), &[]);
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: "resp_1".into(),
                model: "gpt-5".into()
            },
            StreamEvent::ReasoningDelta("Plan".into()),
            StreamEvent::ReasoningSignature(signature::openai("gAAAA")),
            StreamEvent::TextDelta("Hi".into()),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_1".into(),
                name: "get_weather".into()
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "{\"city\":".into()
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "\"Paris\"}".into()
            },
            StreamEvent::ToolCallStart {
                index: 1,
                id: "call_2".into(),
                name: "get_time".into()
            },
            StreamEvent::ToolCallDelta {
                index: 1,
                arguments: "{}".into()
            },
            StreamEvent::Usage(Usage {
                input: 9,
                output: 5,
                cache_read: 0,
                cache_write: 0,
                reasoning: Some(2)
            }),
            StreamEvent::Finish {
                reason: FinishReason::ToolCalls,
                stop_sequence: None
            },
        ]
    );
}

proptest! {
    #[test]
    fn reader_any_split_gives_the_same_events(cuts in proptest::collection::vec(0usize..OPENAI_STREAM.len(), 0..12)) {
        prop_assert_eq!(read(OPENAI_STREAM.as_bytes(), &cuts), read(OPENAI_STREAM.as_bytes(), &[]));
    }
}

#[test]
fn reader_errors_in_both_shapes_and_early_ends() {
    let flat = "event: error\ndata: {\"type\":\"error\",\"code\":\"rate_limit_exceeded\",\"message\":\"try again in 1.5s\",\"param\":null,\"sequence_number\":2}\n\n";
    let nested = "data: {\"type\":\"error\",\"error\":{\"type\":\"server_error\",\"code\":\"server_error\",\"message\":\"oops\",\"param\":null},\"sequence_number\":2}\n\n";
    let failed = "data: {\"type\":\"response.failed\",\"sequence_number\":3,\"response\":{\"id\":\"resp_1\",\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"bad\"},\"output\":[]}}\n\n";
    for (body, message) in [
        (flat, "try again in 1.5s"),
        (nested, "oops"),
        (failed, "bad"),
    ] {
        let events = read(body.as_bytes(), &[]);
        assert!(
            matches!(events.as_slice(), [StreamEvent::Error(e)] if e.message == message),
            "{events:?}"
        );
    }
    let cut = &OPENAI_STREAM[..OPENAI_STREAM
        .find("event: response.completed")
        .expect("completed")];
    assert!(
        matches!(read(cut.as_bytes(), &[]).last(), Some(StreamEvent::Error(e)) if e.kind == lmrelay_ir::ErrorKind::BadGateway)
    );
}
