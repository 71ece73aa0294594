//! Codec tests for the Cohere module: request bodies, answers, streams fed in pieces,
//! errors and embeddings.

use super::*;
use crate::{StreamDecoder, UpstreamOptions};
use lmrelay_ir::{
    ChatRequest, ContentPart, EmbedInput, EmbedRequest, ErrorKind, FinishReason, ImageSource,
    Message, Reasoning, ResponseFormat, Role, StreamEvent, Tool, ToolChoice, Usage,
};
use proptest::prelude::*;
use serde_json::{json, Value};

fn value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("valid JSON")
}

fn tool(name: &str) -> Tool {
    Tool {
        name: name.into(),
        description: Some("Weather for a city".into()),
        parameters: Some(json!({"type":"object","properties":{"city":{"type":"string"}}})),
        strict: None,
        cache_control: None,
    }
}

fn round_trip_request() -> ChatRequest {
    ChatRequest {
        model: "client-name".into(),
        messages: vec![
            Message::text(Role::System, "Be brief."),
            Message::text(Role::User, "Weather in Paris?"),
            Message {
                role: Role::Assistant,
                content: vec![
                    ContentPart::Reasoning {
                        text: "I will look it up.".into(),
                        signature: None,
                    },
                    ContentPart::ToolCall {
                        id: "call_1".into(),
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
                    ContentPart::ToolResult {
                        call_id: "call_1".into(),
                        name: Some("get_weather".into()),
                        content: vec![ContentPart::text("18C")],
                        is_error: false,
                        cache_control: None,
                    },
                    ContentPart::text("And tomorrow?"),
                ],
                name: None,
            },
        ],
        tools: vec![tool("get_weather")],
        ..ChatRequest::default()
    }
}

#[test]
fn request_messages_tools_and_sampling() {
    let mut req = round_trip_request();
    req.sampling.max_tokens = Some(100);
    req.sampling.temperature = Some(0.3);
    req.sampling.top_p = Some(0.9);
    req.sampling.top_k = Some(40);
    req.sampling.stop = vec!["END".into()];
    req.sampling.seed = Some(7);
    req.stream = true;
    let body = value(&encode_request(&req, &UpstreamOptions::new("command-r-plus")).expect("ok"));
    assert_eq!(
        body,
        json!({
            "model": "command-r-plus",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
                {"role": "assistant", "tool_plan": "I will look it up.", "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "18C"}]},
                {"role": "user", "content": [{"type": "text", "text": "And tomorrow?"}]},
            ],
            "tools": [{"type": "function", "function": {
                "name": "get_weather", "description": "Weather for a city",
                "parameters": {"type":"object","properties":{"city":{"type":"string"}}}}}],
            "max_tokens": 100,
            "stop_sequences": ["END"],
            "temperature": 0.3,
            "p": 0.9,
            "k": 40,
            "seed": 7,
            "stream": true,
        })
    );
}

#[test]
fn request_tool_choice_format_images_and_thinking() {
    let opts = UpstreamOptions::new("command-a");
    let mut req = ChatRequest {
        messages: vec![Message {
            role: Role::User,
            content: vec![
                ContentPart::text("What is this?"),
                ContentPart::Image {
                    source: ImageSource::Base64 {
                        media_type: "image/png".into(),
                        data: "iVBOR".into(),
                    },
                    detail: None,
                    cache_control: None,
                },
            ],
            name: None,
        }],
        tools: vec![tool("a"), tool("b")],
        tool_choice: Some(ToolChoice::Named("b".into())),
        response_format: Some(ResponseFormat::JsonObject),
        reasoning: Some(Reasoning {
            enabled: true,
            effort: None,
            budget_tokens: Some(512),
        }),
        ..ChatRequest::default()
    };
    let body = value(&encode_request(&req, &opts).expect("ok"));
    assert_eq!(body["tool_choice"], "REQUIRED");
    assert_eq!(body["tools"].as_array().expect("ok").len(), 1);
    assert_eq!(body["tools"][0]["function"]["name"], "b");
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "token_budget": 512})
    );
    assert_eq!(
        body["messages"][0]["content"][1],
        json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}})
    );
    assert!(body.get("stream").is_none());
    req.tool_choice = Some(ToolChoice::None);
    req.response_format = Some(ResponseFormat::JsonSchema {
        name: "x".into(),
        description: None,
        schema: json!({"type": "object"}),
        strict: None,
    });
    let body = value(&encode_request(&req, &opts).expect("ok"));
    assert_eq!(body["tool_choice"], "NONE");
    assert_eq!(body["tools"].as_array().expect("ok").len(), 2);
    assert_eq!(
        body["response_format"],
        json!({"type": "json_object", "json_schema": {"type": "object"}})
    );
    req.tool_choice = Some(ToolChoice::Auto);
    let body = value(&encode_request(&req, &opts).expect("ok"));
    assert!(body.get("tool_choice").is_none());
    let empty = ChatRequest::default();
    assert_eq!(
        encode_request(&empty, &opts).expect_err("fails").kind,
        ErrorKind::InvalidRequest
    );
}

#[test]
fn response_text_tools_and_usage() {
    let body = br#"{"id":"c-1","finish_reason":"TOOL_CALL","message":{"role":"assistant",
        "tool_plan":"I will call the tool.","tool_calls":[{"id":"get_weather_abc","type":"function",
        "function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
        "usage":{"billed_units":{"input_tokens":10,"output_tokens":5},"tokens":{"input_tokens":210,"output_tokens":15}}}"#;
    let r = decode_response(body).expect("ok");
    assert_eq!(r.id, "c-1");
    assert_eq!(r.finish, FinishReason::ToolCalls);
    assert_eq!(
        r.content,
        vec![
            ContentPart::Reasoning {
                text: "I will call the tool.".into(),
                signature: None
            },
            ContentPart::ToolCall {
                id: "get_weather_abc".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into(),
                cache_control: None,
            }
        ]
    );
    assert_eq!((r.usage.input, r.usage.output), (210, 15));

    let body = br#"{"id":"c-2","finish_reason":"MAX_TOKENS","message":{"role":"assistant",
        "content":[{"type":"thinking","thinking":"hmm"},{"type":"text","text":"Hello"}]},
        "usage":{"billed_units":{"input_tokens":3,"output_tokens":2}}}"#;
    let r = decode_response(body).expect("ok");
    assert_eq!(r.finish, FinishReason::Length);
    assert_eq!(r.text(), "Hello");
    assert_eq!((r.usage.input, r.usage.output), (3, 2));
    assert!(matches!(&r.content[0], ContentPart::Reasoning { text, .. } if text == "hmm"));

    for (wire, want) in [
        ("COMPLETE", FinishReason::Stop),
        ("STOP_SEQUENCE", FinishReason::StopSequence),
        ("MAX_TOKENS", FinishReason::Length),
        ("TOOL_CALL", FinishReason::ToolCalls),
        ("ERROR", FinishReason::Error),
        ("TIMEOUT", FinishReason::Error),
    ] {
        assert_eq!(finish_reason(wire), want, "{wire}");
    }
    assert_eq!(
        decode_response(b"not json").expect_err("fails").kind,
        ErrorKind::BadGateway
    );
}

const STREAM: &str = concat!(
    "event: message-start\ndata: {\"id\":\"s-1\",\"type\":\"message-start\",\"delta\":{\"message\":{\"role\":\"assistant\",\"content\":[],\"tool_plan\":\"\",\"tool_calls\":[],\"citations\":[]}}}\n\n",
    "event: tool-plan-delta\ndata: {\"type\":\"tool-plan-delta\",\"delta\":{\"message\":{\"tool_plan\":\"Look up \"}}}\n\n",
    "event: tool-plan-delta\ndata: {\"type\":\"tool-plan-delta\",\"delta\":{\"message\":{\"tool_plan\":\"é weather.\"}}}\n\n",
    "event: tool-call-start\ndata: {\"type\":\"tool-call-start\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":{\"id\":\"get_weather_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}}}}\n\n",
    "event: tool-call-delta\ndata: {\"type\":\"tool-call-delta\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":{\"function\":{\"arguments\":\"{\\\"city\\\":\"}}}}}\n\n",
    "event: tool-call-delta\ndata: {\"type\":\"tool-call-delta\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":{\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}}}}\n\n",
    "event: tool-call-end\ndata: {\"type\":\"tool-call-end\",\"index\":0}\n\n",
    "event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"TOOL_CALL\",\"usage\":{\"billed_units\":{\"input_tokens\":9,\"output_tokens\":4},\"tokens\":{\"input_tokens\":100,\"output_tokens\":20}}}}\n\n",
);

fn decode(chunks: &[&[u8]]) -> Vec<StreamEvent> {
    let mut r = StreamReader::new();
    let mut out = Vec::new();
    for c in chunks {
        r.feed(c, &mut out);
    }
    r.finish(&mut out);
    out
}

fn expected() -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start {
            id: "s-1".into(),
            model: String::new(),
        },
        StreamEvent::ReasoningDelta("Look up ".into()),
        StreamEvent::ReasoningDelta("é weather.".into()),
        StreamEvent::ToolCallStart {
            index: 0,
            id: "get_weather_1".into(),
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
        StreamEvent::Usage(Usage {
            input: 100,
            output: 20,
            ..Usage::default()
        }),
        StreamEvent::Finish {
            reason: FinishReason::ToolCalls,
            stop_sequence: None,
        },
    ]
}

/// Joins consecutive deltas of one kind, so splits that cut a delta compare equal.
fn merged(events: Vec<StreamEvent>) -> Vec<StreamEvent> {
    let mut out: Vec<StreamEvent> = Vec::new();
    for e in events {
        match (out.last_mut(), e) {
            (Some(StreamEvent::ReasoningDelta(a)), StreamEvent::ReasoningDelta(b)) => {
                a.push_str(&b)
            }
            (
                Some(StreamEvent::ToolCallDelta { arguments: a, .. }),
                StreamEvent::ToolCallDelta { arguments: b, .. },
            ) => a.push_str(&b),
            (_, e) => out.push(e),
        }
    }
    out
}

#[test]
fn stream_whole_and_byte_by_byte() {
    assert_eq!(decode(&[STREAM.as_bytes()]), expected());
    let bytes: Vec<&[u8]> = STREAM.as_bytes().chunks(1).collect();
    assert_eq!(decode(&bytes), expected());
}

proptest! {
    #[test]
    fn stream_any_split(a in 0..STREAM.len(), b in 0..STREAM.len()) {
        let (a, b) = (a.min(b), a.max(b));
        let bytes = STREAM.as_bytes();
        let got = decode(&[&bytes[..a], &bytes[a..b], &bytes[b..]]);
        prop_assert_eq!(merged(got), merged(expected()));
    }
}

#[test]
fn stream_text_premature_end_and_errors() {
    let text = concat!(
        "data: {\"id\":\"s-2\",\"type\":\"message-start\",\"delta\":{\"message\":{\"role\":\"assistant\"}}}\n\n",
        "data: {\"type\":\"content-start\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"type\":\"text\",\"text\":\"\"}}}}\n\n",
        "data: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"Hi\"}}}}\n\n",
        "data: {\"type\":\"content-end\",\"index\":0}\n\n",
    );
    let events = decode(&[text.as_bytes()]);
    assert_eq!(events[1], StreamEvent::TextDelta("Hi".into()));
    assert!(
        matches!(events.last(), Some(StreamEvent::Error(e)) if e.kind == ErrorKind::BadGateway)
    );

    let end = "data: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\",\"usage\":{\"billed_units\":{\"input_tokens\":1,\"output_tokens\":1}}}}\n\ndata: [DONE]\n\n";
    let events = decode(&[text.as_bytes(), end.as_bytes()]);
    assert_eq!(
        events.last(),
        Some(&StreamEvent::Finish {
            reason: FinishReason::Stop,
            stop_sequence: None
        })
    );
    let failed = "data: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"ERROR\",\"error\":\"internal\"}}\n\n";
    let events = decode(&[failed.as_bytes()]);
    assert!(matches!(events.last(), Some(StreamEvent::Error(e)) if e.message == "internal"));
    let events = decode(&[b"data: {oops\n\n"]);
    assert!(matches!(&events[..], [StreamEvent::Error(e)] if e.kind == ErrorKind::BadGateway));
}

#[test]
fn errors() {
    let cases: &[(u16, &[u8], ErrorKind, u16, &str)] = &[
        (
            401,
            br#"{"message":"invalid api token"}"#,
            ErrorKind::Authentication,
            401,
            "invalid api token",
        ),
        (
            498,
            br#"{"message":"invalid api token"}"#,
            ErrorKind::Authentication,
            401,
            "invalid api token",
        ),
        (
            429,
            br#"{"message":"You are using a Trial key, which is limited"}"#,
            ErrorKind::RateLimited,
            429,
            "You are using a Trial key, which is limited",
        ),
        (
            402,
            br#"{"message":"Please add a payment method"}"#,
            ErrorKind::QuotaExceeded,
            402,
            "Please add a payment method",
        ),
        (
            400,
            br#"{"message":"invalid request: model 'x' not found"}"#,
            ErrorKind::InvalidRequest,
            400,
            "invalid request: model 'x' not found",
        ),
        (
            404,
            br#"{"message":"model not found"}"#,
            ErrorKind::NotFound,
            404,
            "model not found",
        ),
        (
            503,
            b"",
            ErrorKind::Overloaded,
            503,
            "Cohere returned HTTP 503 with an empty body.",
        ),
        (
            500,
            b"oops",
            ErrorKind::Server,
            500,
            "Cohere returned HTTP 500: oops",
        ),
    ];
    for (status, body, kind, want_status, message) in cases {
        let e = decode_error(*status, body);
        assert_eq!(
            (e.kind, e.status, e.message.as_str()),
            (*kind, *want_status, *message)
        );
    }
}

#[test]
fn embeddings() {
    let req = EmbedRequest {
        model: "client".into(),
        input: EmbedInput::Texts(vec!["a".into(), "b".into()]),
        dimensions: Some(256),
        user: None,
        truncate: Some(true),
    };
    assert_eq!(
        value(&encode_embed_request(&req, "embed-v4.0").expect("ok")),
        json!({"model":"embed-v4.0","texts":["a","b"],"input_type":"search_document",
               "embedding_types":["float"],"output_dimension":256,"truncate":"END"})
    );
    let tokens = EmbedRequest {
        input: EmbedInput::Tokens(vec![vec![1]]),
        ..req
    };
    assert!(encode_embed_request(&tokens, "embed-v4.0").is_err());
    let r = decode_embed_response(
        br#"{"id":"e","embeddings":{"float":[[0.5,1.0],[0.25,0.0]]},"texts":["a","b"],"meta":{"billed_units":{"input_tokens":2}}}"#,
    )
    .expect("ok");
    assert_eq!(r.vectors, vec![vec![0.5, 1.0], vec![0.25, 0.0]]);
    assert_eq!(r.input_tokens, 2);
    assert!(decode_embed_response(br#"{"embeddings":{}}"#).is_err());
}
