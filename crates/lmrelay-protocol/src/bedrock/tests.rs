//! Codec tests for the Bedrock module: requests, answers, errors, the event-stream framing
//! and streams fed in pieces.

use super::eventstream::{Frame, FrameReader};
use super::*;
use crate::signature::bedrock;
use crate::{StreamDecoder, UpstreamOptions};
use lmrelay_ir::{
    ChatRequest, ContentPart, ErrorKind, FinishReason, ImageSource, Message, Reasoning, Role,
    StreamEvent, Tool, ToolChoice, Usage,
};
use proptest::prelude::*;
use serde_json::{json, Value};

fn value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("valid JSON")
}

fn encode(req: &ChatRequest, model: &str) -> Value {
    value(&encode_request(req, &UpstreamOptions::new(model)).expect("encodes"))
}

/// One event-stream frame, written independently of the decoder's library: big-endian
/// lengths, string headers (type 7), CRC32 of the prelude and of the whole message.
pub(crate) fn frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for (name, value) in headers {
        h.push(name.len() as u8);
        h.extend_from_slice(name.as_bytes());
        h.push(7);
        h.extend_from_slice(&(value.len() as u16).to_be_bytes());
        h.extend_from_slice(value.as_bytes());
    }
    let total = 12 + h.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

fn event(kind: &str, payload: Value) -> Vec<u8> {
    frame(
        &[
            (":event-type", kind),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string().as_bytes(),
    )
}

/// A thinking, tool-calling ConverseStream as Bedrock sends it for Claude.
fn example() -> Vec<u8> {
    let p = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0";
    [
        event("messageStart", json!({"role": "assistant", "p": p})),
        event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "The user wants "}}})),
        event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "weather."}}})),
        event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "RXVTaWc="}}})),
        event("contentBlockStop", json!({"contentBlockIndex": 0})),
        event("contentBlockDelta", json!({"contentBlockIndex": 1, "delta": {"text": "Checking é."}})),
        event("contentBlockStop", json!({"contentBlockIndex": 1})),
        event("contentBlockStart", json!({"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tooluse_Ab1", "name": "get_weather"}}})),
        event("contentBlockDelta", json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "{\"city\":"}}})),
        event("contentBlockDelta", json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "\"Paris\"}"}}})),
        event("contentBlockStop", json!({"contentBlockIndex": 2})),
        event("messageStop", json!({"stopReason": "tool_use"})),
        event("metadata", json!({"usage": {"inputTokens": 20, "outputTokens": 30, "totalTokens": 150, "cacheReadInputTokens": 100}, "metrics": {"latencyMs": 900}})),
    ]
    .concat()
}

fn expected() -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start {
            id: String::new(),
            model: String::new(),
        },
        StreamEvent::ReasoningDelta("The user wants ".into()),
        StreamEvent::ReasoningDelta("weather.".into()),
        StreamEvent::ReasoningSignature(bedrock("RXVTaWc=")),
        StreamEvent::TextDelta("Checking é.".into()),
        StreamEvent::ToolCallStart {
            index: 0,
            id: "tooluse_Ab1".into(),
            name: "get_weather".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "{\"city\":".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "\"Paris\"}".into(),
        },
        StreamEvent::Usage(Usage::from_uncached(20, 30, 100, 0)),
        StreamEvent::Finish {
            reason: FinishReason::ToolCalls,
            stop_sequence: None,
        },
    ]
}

fn decode(chunks: &[&[u8]]) -> Vec<StreamEvent> {
    let mut r = StreamReader::new();
    let mut out = Vec::new();
    for c in chunks {
        r.feed(c, &mut out);
    }
    r.finish(&mut out);
    out
}

#[test]
fn decodes_the_reference_stream_at_every_single_cut() {
    let bytes = example();
    assert_eq!(decode(&[&bytes]), expected());
    for cut in 0..=bytes.len() {
        assert_eq!(
            decode(&[&bytes[..cut], &bytes[cut..]]),
            expected(),
            "cut at {cut}"
        );
    }
    let singles: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(decode(&singles), expected());
}

proptest! {
    #[test]
    fn same_events_however_the_bytes_are_split(cuts in proptest::collection::vec(0usize..2000, 0..24)) {
        let bytes = example();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut prev = 0;
        for c in cuts {
            chunks.push(&bytes[prev..c]);
            prev = c;
        }
        chunks.push(&bytes[prev..]);
        prop_assert_eq!(decode(&chunks), expected());
    }

    #[test]
    fn a_flipped_bit_is_an_error_never_a_panic(at in 0usize..2000, bit in 0u8..8) {
        let mut bytes = example();
        let at = at % bytes.len();
        bytes[at] ^= 1 << bit;
        let events = decode(&[&bytes]);
        // Whatever was corrupted, the reader ends with an error or (a payload byte changed
        // in a way JSON still accepts is impossible: the CRC catches it) never silently.
        prop_assert!(matches!(events.last(), Some(StreamEvent::Error(_))), "{:?}", events.last());
    }
}

#[test]
fn frame_reader_checks_both_checksums_and_lengths() {
    let good = event("messageStart", json!({"role": "assistant"}));
    let mut frames: Vec<Frame> = Vec::new();
    FrameReader::new()
        .feed(&good, &mut frames)
        .expect("valid frame");
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].header(":event-type"), Some("messageStart"));
    assert_eq!(frames[0].payload.as_ref(), br#"{"role":"assistant"}"#);

    // Prelude CRC: detected with only 12 bytes in, before waiting for the body.
    let mut bad = good.clone();
    bad[9] ^= 0xff;
    let mut r = FrameReader::new();
    let err = r.feed(&bad[..12], &mut frames).expect_err("prelude CRC");
    assert!(err.0.contains("prelude"), "{}", err.0);
    assert!(!r.has_partial());
    r.feed(&good, &mut frames)
        .expect("a failed reader reads nothing more");
    assert_eq!(frames.len(), 1);

    // Message CRC.
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(FrameReader::new().feed(&bad, &mut frames).is_err());
    // A payload byte changed.
    let mut bad = good.clone();
    bad[last - 6] ^= 1;
    assert!(FrameReader::new().feed(&bad, &mut frames).is_err());

    // An impossible length with a valid prelude CRC.
    let mut huge = Vec::new();
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    huge.extend_from_slice(&0u32.to_be_bytes());
    let crc = crc32fast::hash(&huge);
    huge.extend_from_slice(&crc.to_be_bytes());
    let err = FrameReader::new()
        .feed(&huge, &mut frames)
        .expect_err("too long");
    assert!(err.0.contains("lengths"), "{}", err.0);
}

#[test]
fn stream_ends_exceptions_and_cuts() {
    // metadata never came: the finish is reported at the end of the body.
    let bytes = [
        event("messageStart", json!({"role": "assistant"})),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
        ),
        event("messageStop", json!({"stopReason": "max_tokens"})),
    ]
    .concat();
    let events = decode(&[&bytes]);
    assert_eq!(
        events.last(),
        Some(&StreamEvent::Finish {
            reason: FinishReason::Length,
            stop_sequence: None
        })
    );
    // Cut mid-frame, or before messageStop: a premature end.
    let events = decode(&[&bytes[..bytes.len() - 3]]);
    assert!(
        matches!(events.last(), Some(StreamEvent::Error(e)) if e.message.contains("prematurely"))
    );
    // An exception frame.
    let exception = frame(
        &[
            (":exception-type", "throttlingException"),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        br#"{"message":"Too many tokens, please wait before trying again."}"#,
    );
    let start = event("messageStart", json!({"role": "assistant"}));
    let events = decode(&[&start, &exception[..5], &exception[5..]]);
    let bytes2 = [start, exception].concat();
    let events2 = decode(&[&bytes2]);
    for evs in [events, events2] {
        match evs.last() {
            Some(StreamEvent::Error(e)) => {
                assert_eq!(e.kind, ErrorKind::RateLimited);
                assert_eq!(e.status, 429);
                assert_eq!(e.code.as_deref(), Some("throttlingException"));
            }
            other => panic!("{other:?}"),
        }
    }
    // Stop sequences reported by Claude.
    let bytes = [
        event("messageStart", json!({"role": "assistant"})),
        event("messageStop", json!({"stopReason": "stop_sequence", "additionalModelResponseFields": {"stop_sequence": "END"}})),
        event("metadata", json!({"usage": {"inputTokens": 1, "outputTokens": 1}})),
    ]
    .concat();
    assert_eq!(
        decode(&[&bytes]).last(),
        Some(&StreamEvent::Finish {
            reason: FinishReason::StopSequence,
            stop_sequence: Some("END".into())
        })
    );
}

#[test]
fn request_carries_system_tools_images_and_sampling() {
    let req = ChatRequest {
        messages: vec![
            Message::text(Role::System, "Be terse."),
            Message::text(Role::Developer, "   "),
            Message {
                role: Role::User,
                content: vec![
                    ContentPart::text("Weather in Paris?"),
                    ContentPart::text(" "),
                    ContentPart::Image {
                        source: ImageSource::Url("data:image/png;base64,iVBORw0K".into()),
                        detail: None,
                        cache_control: None,
                    },
                ],
                name: None,
            },
            Message {
                role: Role::Assistant,
                content: vec![
                    ContentPart::Reasoning {
                        text: "foreign".into(),
                        signature: Some("anthropic-sig".into()),
                    },
                    ContentPart::Reasoning {
                        text: "mine".into(),
                        signature: Some(bedrock("c2ln")),
                    },
                    ContentPart::ToolCall {
                        id: "call#1 x".into(),
                        name: "get_weather".into(),
                        arguments: r#"{"city":"Paris"}"#.into(),
                        cache_control: None,
                    },
                ],
                name: None,
            },
            Message {
                role: Role::User,
                content: vec![
                    ContentPart::text("and then?"),
                    ContentPart::ToolResult {
                        call_id: "call#1 x".into(),
                        name: None,
                        content: vec![ContentPart::text("18C")],
                        is_error: false,
                        cache_control: None,
                    },
                ],
                name: None,
            },
            Message::text(Role::User, "thanks"),
        ],
        tools: vec![Tool {
            name: "get_weather".into(),
            description: Some("Weather".into()),
            parameters: Some(json!({"type": "object", "properties": {"city": {"type": "string"}}})),
            strict: None,
            cache_control: None,
        }],
        tool_choice: Some(ToolChoice::Named("get_weather".into())),
        sampling: lmrelay_ir::Sampling {
            max_tokens: Some(512),
            temperature: Some(1.5),
            top_p: Some(0.9),
            top_k: Some(50),
            stop: vec!["END".into(), String::new()],
            ..Default::default()
        },
        ..ChatRequest::default()
    };
    let body = encode(&req, "us.anthropic.claude-3-5-haiku-20241022-v1:0");
    assert_eq!(
        body,
        json!({
            "messages": [
                {"role": "user", "content": [
                    {"text": "Weather in Paris?"},
                    {"image": {"format": "png", "source": {"bytes": "iVBORw0K"}}}
                ]},
                {"role": "assistant", "content": [
                    {"reasoningContent": {"reasoningText": {"text": "mine", "signature": "c2ln"}}},
                    {"toolUse": {"toolUseId": "call_1_x", "name": "get_weather", "input": {"city": "Paris"}}}
                ]},
                {"role": "user", "content": [
                    {"toolResult": {"toolUseId": "call_1_x", "content": [{"text": "18C"}], "status": "success"}},
                    {"text": "and then?"},
                    {"text": "thanks"}
                ]}
            ],
            "system": [{"text": "Be terse."}],
            "toolConfig": {
                "tools": [{"toolSpec": {"name": "get_weather", "description": "Weather",
                    "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}}}}],
                "toolChoice": {"tool": {"name": "get_weather"}}
            },
            "inferenceConfig": {"maxTokens": 512, "temperature": 1.0, "topP": 0.9, "stopSequences": ["END"]},
            "additionalModelRequestFields": {"top_k": 50}
        })
    );
    // Not Claude: no top_k; temperature still within Converse's range.
    let body = encode(&req, "mistral.mistral-large-2402-v1:0");
    assert!(body.get("additionalModelRequestFields").is_none());
    assert_eq!(body["inferenceConfig"]["temperature"], json!(1.0));
}

#[test]
fn tool_choice_variants() {
    let mut req = ChatRequest {
        messages: vec![Message::text(Role::User, "hi")],
        tools: vec![Tool {
            name: "f".into(),
            description: None,
            parameters: None,
            strict: None,
            cache_control: None,
        }],
        ..ChatRequest::default()
    };
    let body = encode(&req, "m");
    assert_eq!(
        body["toolConfig"],
        json!({"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object", "properties": {}}}}}]})
    );
    req.tool_choice = Some(ToolChoice::Required);
    assert_eq!(
        encode(&req, "m")["toolConfig"]["toolChoice"],
        json!({"any": {}})
    );
    req.tool_choice = Some(ToolChoice::None);
    assert!(encode(&req, "m").get("toolConfig").is_none());
    // With tool blocks in the history Bedrock needs the tools even so.
    req.messages.push(Message {
        role: Role::Assistant,
        content: vec![ContentPart::ToolCall {
            id: "t1".into(),
            name: "f".into(),
            arguments: "{}".into(),
            cache_control: None,
        }],
        name: None,
    });
    let body = encode(&req, "m");
    assert!(body["toolConfig"].get("toolChoice").is_none());
    assert!(body["toolConfig"]["tools"].is_array());
}

#[test]
fn thinking_for_claude_only() {
    let req = ChatRequest {
        messages: vec![Message::text(Role::User, "hi")],
        reasoning: Some(Reasoning {
            enabled: true,
            effort: Some("medium".into()),
            budget_tokens: None,
        }),
        sampling: lmrelay_ir::Sampling {
            max_tokens: Some(1000),
            temperature: Some(0.3),
            top_k: Some(5),
            ..Default::default()
        },
        ..ChatRequest::default()
    };
    let body = encode(&req, "anthropic.claude-sonnet-4-20250514-v1:0");
    assert_eq!(
        body["additionalModelRequestFields"],
        json!({"thinking": {"type": "enabled", "budget_tokens": 2048}})
    );
    assert_eq!(body["inferenceConfig"], json!({"maxTokens": 3072}));
    let body = encode(&req, "amazon.nova-pro-v1:0");
    assert!(body.get("additionalModelRequestFields").is_none());
    assert_eq!(body["inferenceConfig"]["temperature"], json!(0.3));

    // A running tool loop whose assistant turn lost its signed reasoning: thinking goes off
    // (Claude would refuse the request), sampling comes back.
    let mut looped = req.clone();
    looped.messages.push(Message {
        role: Role::Assistant,
        content: vec![ContentPart::ToolCall {
            id: "t1".into(),
            name: "f".into(),
            arguments: "{}".into(),
            cache_control: None,
        }],
        name: None,
    });
    looped.messages.push(Message {
        role: Role::User,
        content: vec![ContentPart::ToolResult {
            call_id: "t1".into(),
            name: None,
            content: vec![ContentPart::text("ok")],
            is_error: false,
            cache_control: None,
        }],
        name: None,
    });
    let body = encode(&looped, "anthropic.claude-sonnet-4-20250514-v1:0");
    assert_eq!(body["additionalModelRequestFields"], json!({"top_k": 5}));
    assert_eq!(body["inferenceConfig"]["temperature"], json!(0.3));
    // With its reasoning signed by Bedrock, thinking stays on.
    if let ContentPart::ToolCall { .. } = &looped.messages[1].content[0] {
        looped.messages[1].content.insert(
            0,
            ContentPart::Reasoning {
                text: "hmm".into(),
                signature: Some(bedrock("c2ln")),
            },
        );
    }
    let body = encode(&looped, "anthropic.claude-sonnet-4-20250514-v1:0");
    assert_eq!(
        body["additionalModelRequestFields"]["thinking"]["budget_tokens"],
        2048
    );
    // "none" is no thinking; an effort maps to a budget.
    let mut none = req.clone();
    none.reasoning = Some(Reasoning {
        enabled: true,
        effort: Some("none".into()),
        budget_tokens: None,
    });
    let body = encode(&none, "anthropic.claude-sonnet-4-20250514-v1:0");
    assert!(body["additionalModelRequestFields"]
        .get("thinking")
        .is_none());
}

#[test]
fn request_refuses_what_converse_cannot_take() {
    let req = ChatRequest {
        messages: vec![Message {
            role: Role::User,
            content: vec![ContentPart::Image {
                source: ImageSource::Url("https://example.com/a.png".into()),
                detail: None,
                cache_control: None,
            }],
            name: None,
        }],
        ..ChatRequest::default()
    };
    let e = encode_request(&req, &UpstreamOptions::new("m")).expect_err("URL image");
    assert_eq!(e.param.as_deref(), Some("messages[0].content[0]"));
    let count = value(
        &encode_count_tokens_request(
            &ChatRequest {
                messages: vec![Message::text(Role::User, "hi")],
                sampling: lmrelay_ir::Sampling {
                    max_tokens: Some(5),
                    ..Default::default()
                },
                ..ChatRequest::default()
            },
            &UpstreamOptions::new("m"),
        )
        .expect("encodes"),
    );
    assert_eq!(
        count,
        json!({"input": {"converse": {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}}})
    );
    assert_eq!(decode_count_tokens(br#"{"inputTokens":42}"#), Ok(42));
}

#[test]
fn response_content_stop_reasons_and_usage() {
    let body = json!({
        "output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "U2ln"}}},
            {"reasoningContent": {"redactedContent": "cmVk"}},
            {"text": "Let me check."},
            {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}}
        ]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 30, "outputTokens": 20, "totalTokens": 50, "cacheReadInputTokens": 5, "cacheWriteInputTokens": 7},
        "metrics": {"latencyMs": 812}
    });
    let r = decode_response(body.to_string().as_bytes()).expect("decodes");
    assert_eq!(
        r.content,
        vec![
            ContentPart::Reasoning {
                text: "hmm".into(),
                signature: Some(bedrock("U2ln"))
            },
            ContentPart::RedactedReasoning {
                data: bedrock("cmVk")
            },
            ContentPart::text("Let me check."),
            ContentPart::ToolCall {
                id: "tooluse_1".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into(),
                cache_control: None
            },
        ]
    );
    assert_eq!(r.finish, FinishReason::ToolCalls);
    assert_eq!(r.usage.input, 42);
    assert_eq!(r.usage.cache_read, 5);
    assert_eq!(r.usage.cache_write, 7);
    assert_eq!(r.usage.output, 20);
    for (reason, finish) in [
        ("end_turn", FinishReason::Stop),
        ("max_tokens", FinishReason::Length),
        ("stop_sequence", FinishReason::StopSequence),
        ("guardrail_intervened", FinishReason::ContentFilter),
        ("content_filtered", FinishReason::ContentFilter),
        (
            "model_context_window_exceeded",
            FinishReason::ContextExceeded,
        ),
        ("malformed_tool_use", FinishReason::Stop),
        ("something_new", FinishReason::Stop),
    ] {
        let body =
            json!({"output": {"message": {"content": [{"text": "x"}]}}, "stopReason": reason});
        let r = decode_response(body.to_string().as_bytes()).expect("decodes");
        assert_eq!(r.finish, finish, "{reason}");
    }
    let e = decode_response(b"<html>").expect_err("not JSON");
    assert_eq!(e.kind, ErrorKind::BadGateway);
}

#[test]
fn errors_by_exception_name() {
    let cases: &[(u16, Option<&str>, &str, ErrorKind, u16)] = &[
        (
            400,
            Some("ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            r#"{"message":"The text field is blank"}"#,
            ErrorKind::InvalidRequest,
            400,
        ),
        (
            429,
            Some("ThrottlingException"),
            r#"{"message":"Too many requests"}"#,
            ErrorKind::RateLimited,
            429,
        ),
        (
            503,
            Some("ServiceUnavailableException"),
            r#"{"Message":"Unavailable"}"#,
            ErrorKind::Overloaded,
            503,
        ),
        (
            408,
            Some("ModelTimeoutException"),
            r#"{"message":"slow"}"#,
            ErrorKind::Timeout,
            408,
        ),
        (
            403,
            Some("AccessDeniedException"),
            r#"{"message":"no access"}"#,
            ErrorKind::PermissionDenied,
            403,
        ),
        (
            403,
            Some("UnrecognizedClientException"),
            r#"{"message":"The security token included in the request is invalid."}"#,
            ErrorKind::Authentication,
            401,
        ),
        (
            404,
            Some("ResourceNotFoundException"),
            r#"{"message":"Model not found"}"#,
            ErrorKind::NotFound,
            404,
        ),
        (
            429,
            Some("ModelNotReadyException"),
            r#"{"message":"warming"}"#,
            ErrorKind::Overloaded,
            503,
        ),
        (
            400,
            Some("ServiceQuotaExceededException"),
            r#"{"message":"quota"}"#,
            ErrorKind::QuotaExceeded,
            400,
        ),
        (
            424,
            Some("ModelErrorException"),
            r#"{"message":"model error"}"#,
            ErrorKind::Server,
            502,
        ),
        (
            500,
            None,
            r#"{"__type":"com.amazon#InternalServerException","message":"oops"}"#,
            ErrorKind::Server,
            500,
        ),
        (
            502,
            None,
            "<html>bad gateway</html>",
            ErrorKind::BadGateway,
            502,
        ),
    ];
    for (status, header, body, kind, want) in cases {
        let e = decode_error(*status, *header, body.as_bytes());
        assert_eq!((e.kind, e.status), (*kind, *want), "{header:?} {body}");
        assert!(!e.message.is_empty());
    }
    let e = decode_error(
        400,
        Some("ValidationException"),
        br#"{"message":"The text field is blank"}"#,
    );
    assert_eq!(e.message, "The text field is blank");
    assert_eq!(e.code.as_deref(), Some("ValidationException"));
    assert_eq!(
        error_type("ThrottlingException:http://x"),
        "ThrottlingException"
    );
}
