//! Client side: `/api/chat` and `/api/generate` bodies in, complete answers and errors out.

use super::{meta, v};
use crate::ollama::{
    decode_generate, decode_request, encode_generate_response, encode_response, render_error,
};
use lmrelay_ir::{
    ApiError, ChatResponse, ContentPart, ErrorKind, FinishReason, ImageSource, Message, Reasoning,
    ResponseFormat, Role, Sampling, Tool, Usage,
};
use serde_json::json;

const PNG: &str = "iVBORw0KGgoAAAANSUhEUg";
const JPEG: &str = "/9j/4AAQSkZJRgABAQ";

fn decode(body: serde_json::Value) -> lmrelay_ir::ChatRequest {
    decode_request(body.to_string().as_bytes()).expect("decodes")
}

fn image(media_type: &str, data: &str) -> ContentPart {
    ContentPart::Image {
        cache_control: None,
        source: ImageSource::Base64 {
            media_type: media_type.into(),
            data: data.into(),
        },
        detail: None,
    }
}

fn call(id: &str, name: &str, arguments: &str) -> ContentPart {
    ContentPart::ToolCall {
        cache_control: None,
        id: id.into(),
        name: name.into(),
        arguments: arguments.into(),
    }
}

fn result(call_id: &str, name: &str, text: &str) -> ContentPart {
    ContentPart::ToolResult {
        cache_control: None,
        call_id: call_id.into(),
        name: Some(name.into()),
        content: vec![ContentPart::text(text)],
        is_error: false,
    }
}

#[test]
fn stream_defaults_to_true() {
    let cases = [
        (json!({"model": "m", "messages": []}), true),
        (json!({"model": "m", "messages": [], "stream": true}), true),
        (
            json!({"model": "m", "messages": [], "stream": false}),
            false,
        ),
        (json!({"model": "m"}), true),
    ];
    for (body, stream) in cases {
        assert_eq!(decode(body.clone()).stream, stream, "{body}");
    }
}

#[test]
fn messages_images_thinking_and_tool_round() {
    let req = decode(json!({
        "model": "llama3.2",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is in these?", "images": [PNG, JPEG]},
            {"role": "assistant", "content": "", "thinking": "Need weather.", "tool_calls": [
                {"id": "call_a1", "function": {"index": 0, "name": "get_weather", "arguments": {"z": 1, "city": "Tokyo", "a": {"y": 2, "b": 3}}}},
                {"function": {"name": "get_time", "arguments": {"tz": "JST"}}},
                {"id": "call_a3", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
            ]},
            {"role": "tool", "content": "11 degrees", "tool_name": "get_weather"},
            {"role": "tool", "content": "09:00", "tool_name": "get_time"},
            {"role": "tool", "content": "14 degrees", "tool_name": "get_weather", "tool_call_id": "call_a3"},
            {"role": "user", "content": "Thanks. And now?"},
            {"role": "assistant", "content": "Fine."},
            {"role": "tool", "content": "late", "tool_name": "get_weather"}
        ]
    }));
    assert_eq!(req.model, "llama3.2");
    let m = &req.messages;
    assert_eq!(m.len(), 6, "{m:#?}");
    assert_eq!(m[0], Message::text(Role::System, "Be brief."));
    assert_eq!(
        m[1].content,
        vec![
            ContentPart::text("What is in these?"),
            image("image/png", PNG),
            image("image/jpeg", JPEG),
        ]
    );
    assert_eq!(m[2].role, Role::Assistant);
    assert_eq!(
        m[2].content[0],
        ContentPart::Reasoning {
            text: "Need weather.".into(),
            signature: None
        }
    );
    // Arguments object → text, key order preserved; no empty text part.
    assert_eq!(
        m[2].content[1],
        call(
            "call_a1",
            "get_weather",
            r#"{"z":1,"city":"Tokyo","a":{"y":2,"b":3}}"#
        )
    );
    let ContentPart::ToolCall { id: time_id, .. } = &m[2].content[2] else {
        panic!("tool call expected: {:?}", m[2].content[2]);
    };
    assert!(
        time_id.starts_with("call_") && time_id.len() == 13,
        "{time_id}"
    );
    assert_eq!(m[2].content.len(), 4);
    // Results → one user message, ids recovered by name, then the user's text.
    assert_eq!(m[3].role, Role::User);
    assert_eq!(
        m[3].content,
        vec![
            result("call_a1", "get_weather", "11 degrees"),
            result(time_id, "get_time", "09:00"),
            result("call_a3", "get_weather", "14 degrees"),
            ContentPart::text("Thanks. And now?"),
        ]
    );
    assert_eq!(m[4], Message::text(Role::Assistant, "Fine."));
    // Every get_weather call is answered: fall back to the most recent one.
    assert_eq!(m[5].content, vec![result("call_a3", "get_weather", "late")]);
}

#[test]
fn options_split_into_sampling_and_extra() {
    let req = decode(json!({
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "options": {
            "temperature": 0.5, "top_p": 0.9, "top_k": 40, "num_predict": 128,
            "stop": ["\n\n", ""], "seed": 7, "frequency_penalty": 0.1, "presence_penalty": 0.2,
            "num_ctx": 8192, "repeat_penalty": 1.1, "min_p": 0.05
        },
        "keep_alive": "10m",
        "logprobs": true,
        "format": "json",
        "think": "high",
        "tools": [{"type": "function", "function": {"name": "f", "description": "does f", "parameters": {"type": "object", "properties": {"x": {"type": "string"}}}}}]
    }));
    assert_eq!(
        req.sampling,
        Sampling {
            max_tokens: Some(128),
            temperature: Some(0.5),
            top_p: Some(0.9),
            top_k: Some(40),
            stop: vec!["\n\n".into()],
            seed: Some(7),
            frequency_penalty: Some(0.1),
            presence_penalty: Some(0.2),
            n: None,
        }
    );
    assert_eq!(
        serde_json::Value::Object(req.extra.clone()),
        json!({
            "options": {"num_ctx": 8192, "repeat_penalty": 1.1, "min_p": 0.05},
            "keep_alive": "10m",
            "logprobs": true
        })
    );
    assert_eq!(req.response_format, Some(ResponseFormat::JsonObject));
    assert_eq!(
        req.reasoning,
        Some(Reasoning {
            enabled: true,
            effort: Some("high".into()),
            budget_tokens: None
        })
    );
    assert_eq!(
        req.tools,
        vec![Tool {
            name: "f".into(),
            description: Some("does f".into()),
            parameters: Some(json!({"type": "object", "properties": {"x": {"type": "string"}}})),
            strict: None,
            cache_control: None,
        }]
    );
}

#[test]
fn num_predict_think_and_format_variants() {
    let base = |extra: serde_json::Value| {
        let mut body = json!({"model": "m", "messages": []});
        for (k, val) in extra.as_object().expect("object") {
            body[k] = val.clone();
        }
        decode(body)
    };
    assert_eq!(
        base(json!({"options": {"num_predict": -1}}))
            .sampling
            .max_tokens,
        None
    );
    assert_eq!(
        base(json!({"options": {"num_predict": 0}}))
            .sampling
            .max_tokens,
        None
    );
    assert!(base(json!({"options": {"num_ctx": 4096}})).sampling == Sampling::default());
    assert_eq!(
        base(json!({"think": true})).reasoning,
        Some(Reasoning {
            enabled: true,
            ..Reasoning::default()
        })
    );
    assert_eq!(
        base(json!({"think": false})).reasoning,
        Some(Reasoning {
            enabled: false,
            ..Reasoning::default()
        })
    );
    assert_eq!(base(json!({})).reasoning, None);
    let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}}});
    assert_eq!(
        base(json!({"format": schema.clone()})).response_format,
        Some(ResponseFormat::JsonSchema {
            name: "response".into(),
            description: None,
            schema,
            strict: None
        })
    );
    assert_eq!(base(json!({"format": ""})).response_format, None);
}

#[test]
fn bad_requests_are_400_naming_the_field() {
    let cases = [
        (json!({"messages": []}), "model"),
        (json!({"model": ""}), "model"),
        (
            json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]}),
            "messages[0].role",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": 5}]}),
            "messages[0].content",
        ),
        (
            json!({"model": "m", "options": {"temperature": "hot"}}),
            "options.temperature",
        ),
        (json!({"model": "m", "format": "yaml"}), "format"),
        (json!({"model": "m", "think": 3}), "think"),
    ];
    for (body, field) in cases {
        let err = decode_request(body.to_string().as_bytes()).expect_err("must fail");
        assert_eq!(err.status, 400, "{body}");
        assert!(
            err.message.contains(field) || err.param.as_deref() == Some(field),
            "{body}: {err:?}"
        );
    }
}

#[test]
fn generate_becomes_system_and_user_messages() {
    let req = decode_generate(
        json!({
            "model": "llava", "system": "Describe.", "prompt": "What is this?", "images": [JPEG],
            "options": {"num_predict": 10, "num_ctx": 2048}, "think": false, "format": "json"
        })
        .to_string()
        .as_bytes(),
    )
    .expect("decodes");
    assert!(req.stream);
    assert_eq!(
        req.messages,
        vec![
            Message::text(Role::System, "Describe."),
            Message {
                role: Role::User,
                content: vec![
                    ContentPart::text("What is this?"),
                    image("image/jpeg", JPEG)
                ],
                name: None
            }
        ]
    );
    assert_eq!(req.sampling.max_tokens, Some(10));
    assert_eq!(
        serde_json::Value::Object(req.extra),
        json!({"options": {"num_ctx": 2048}})
    );
    assert_eq!(req.reasoning, Some(Reasoning::default()));
    assert_eq!(req.response_format, Some(ResponseFormat::JsonObject));

    let load = decode_generate(br#"{"model":"m","stream":false}"#).expect("decodes");
    assert!(load.messages.is_empty());
    assert!(!load.stream);
}

fn answer() -> ChatResponse {
    ChatResponse {
        id: "x".into(),
        model: "upstream-model".into(),
        content: vec![
            ContentPart::Reasoning {
                text: "hmm".into(),
                signature: Some("sig".into()),
            },
            ContentPart::text("It is "),
            ContentPart::text("sunny."),
            call("call_1", "get_weather", r#"{"city":"Tokyo","days":2}"#),
            call("call_2", "get_time", ""),
        ],
        finish: FinishReason::ToolCalls,
        stop_sequence: None,
        usage: Usage {
            input: 26,
            output: 282,
            ..Usage::default()
        },
    }
}

#[test]
fn encode_response_with_tool_calls_counts_and_durations() {
    let now = super::meta(false).started_ms + 2_000;
    let got = v(&encode_response(&answer(), &meta(false), now));
    assert_eq!(
        got,
        json!({
            "model": "llama3.2",
            "created_at": "2025-07-07T20:22:21.000000000Z",
            "message": {
                "role": "assistant",
                "content": "It is sunny.",
                "tool_calls": [
                    {"id": "call_1", "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Tokyo", "days": 2}}},
                    {"id": "call_2", "function": {"index": 1, "name": "get_time", "arguments": {}}}
                ]
            },
            "done": true,
            "done_reason": "stop",
            "total_duration": 2_000_000_000u64,
            "load_duration": 0,
            "prompt_eval_count": 26,
            "prompt_eval_duration": 200_000_000u64,
            "eval_count": 282,
            "eval_duration": 1_800_000_000u64
        })
    );
}

#[test]
fn encode_response_thinking_only_when_asked_and_length() {
    let mut resp = answer();
    resp.content.truncate(3);
    resp.finish = FinishReason::Length;
    let now = meta(true).started_ms;
    let got = v(&encode_response(&resp, &meta(true), now));
    assert_eq!(
        got["message"],
        json!({"role": "assistant", "content": "It is sunny.", "thinking": "hmm"})
    );
    assert_eq!(got["done_reason"], "length");
    assert_eq!(got["total_duration"], 0);

    let got = v(&encode_generate_response(&resp, &meta(true), now));
    assert_eq!(got["response"], "It is sunny.");
    assert_eq!(got["thinking"], "hmm");
    assert!(got.get("message").is_none());
    assert_eq!(got["done"], true);
    let got = v(&encode_generate_response(&resp, &meta(false), now));
    assert!(got.get("thinking").is_none());
}

#[test]
fn errors_render_as_plain_objects() {
    let cases = [
        (
            ApiError::new(ErrorKind::NotFound, "model 'x' not found"),
            404,
            "model 'x' not found",
        ),
        (
            ApiError::new(ErrorKind::Overloaded, "busy").with_status(529),
            503,
            "busy",
        ),
        (ApiError::invalid("bad"), 400, "bad"),
        (
            ApiError::new(ErrorKind::RateLimited, "slow down"),
            429,
            "slow down",
        ),
    ];
    for (err, status, msg) in cases {
        let (s, body) = render_error(&err);
        assert_eq!(s, status);
        assert_eq!(v(&body), json!({"error": msg}));
    }
}
