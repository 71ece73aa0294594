//! Upstream side: canonical requests to an Ollama server's `/api/chat` body, its answers and
//! errors back.

use super::v;
use crate::ollama::{decode_error, decode_request, decode_response, encode_request};
use crate::UpstreamOptions;
use lmrelay_ir::{
    ChatRequest, ContentPart, ErrorKind, FinishReason, ImageSource, Message, Reasoning,
    ResponseFormat, Role, Sampling, Tool, ToolChoice, Usage,
};
use serde_json::json;

fn opts() -> UpstreamOptions {
    UpstreamOptions::new("qwen3:8b")
}

fn encode(req: &ChatRequest) -> serde_json::Value {
    v(&encode_request(req, &opts()).expect("encodes"))
}

fn msg(role: Role, content: Vec<ContentPart>) -> Message {
    Message {
        role,
        content,
        name: None,
    }
}

#[test]
fn tool_results_split_into_tool_messages_and_system_stays_in_place() {
    let req = ChatRequest {
        model: "client-name".into(),
        messages: vec![
            Message::text(Role::System, "Be brief."),
            Message::text(Role::User, "Weather in Tokyo and Paris?"),
            msg(
                Role::Assistant,
                vec![
                    ContentPart::Reasoning {
                        text: "Two calls.".into(),
                        signature: Some("anthropic-sig".into()),
                    },
                    ContentPart::ToolCall {
                        cache_control: None,
                        id: "toolu_1".into(),
                        name: "get_weather".into(),
                        arguments: r#"{"city":"Tokyo"}"#.into(),
                    },
                    ContentPart::ToolCall {
                        cache_control: None,
                        id: "toolu_2".into(),
                        name: "get_weather".into(),
                        arguments: r#"{"city":"Paris"}"#.into(),
                    },
                ],
            ),
            msg(
                Role::User,
                vec![
                    ContentPart::ToolResult {
                        cache_control: None,
                        call_id: "toolu_1".into(),
                        name: None,
                        content: vec![ContentPart::text("11 degrees")],
                        is_error: false,
                    },
                    ContentPart::ToolResult {
                        cache_control: None,
                        call_id: "toolu_2".into(),
                        name: Some("get_weather".into()),
                        content: vec![ContentPart::text("no data")],
                        is_error: true,
                    },
                    ContentPart::text("Also, "),
                    ContentPart::text("what is this?"),
                    ContentPart::Image {
                        cache_control: None,
                        source: ImageSource::Base64 {
                            media_type: "image/png".into(),
                            data: "iVBORw0KGgo".into(),
                        },
                        detail: Some("high".into()),
                    },
                ],
            ),
            Message::text(Role::Developer, "Answer in French."),
        ],
        stream: true,
        ..ChatRequest::default()
    };
    assert_eq!(
        encode(&req),
        json!({
            "model": "qwen3:8b",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather in Tokyo and Paris?"},
                {"role": "assistant", "content": "", "thinking": "Two calls.", "tool_calls": [
                    {"id": "toolu_1", "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Tokyo"}}},
                    {"id": "toolu_2", "function": {"index": 1, "name": "get_weather", "arguments": {"city": "Paris"}}}
                ]},
                {"role": "tool", "content": "11 degrees", "tool_name": "get_weather", "tool_call_id": "toolu_1"},
                {"role": "tool", "content": "Error: no data", "tool_name": "get_weather", "tool_call_id": "toolu_2"},
                {"role": "user", "content": "Also, \nwhat is this?", "images": ["iVBORw0KGgo"]},
                {"role": "system", "content": "Answer in French."}
            ],
            "stream": true
        })
    );
}

#[test]
fn options_format_think_tools_and_passthrough() {
    let mut req = ChatRequest {
        messages: vec![Message::text(Role::User, "hi")],
        tools: vec![
            Tool {
                name: "noargs".into(),
                description: None,
                parameters: None,
                strict: Some(true),
                cache_control: None,
            },
            Tool {
                name: "f".into(),
                description: Some("does f".into()),
                parameters: Some(
                    json!({"type": "object", "properties": {"x": {"type": "string"}}}),
                ),
                strict: None,
                cache_control: None,
            },
        ],
        sampling: Sampling {
            max_tokens: Some(100),
            temperature: Some(0.2),
            top_p: Some(0.9),
            top_k: Some(20),
            stop: vec!["END".into()],
            seed: Some(42),
            frequency_penalty: Some(0.5),
            presence_penalty: Some(0.25),
            n: Some(1),
        },
        response_format: Some(ResponseFormat::JsonObject),
        reasoning: Some(Reasoning {
            enabled: true,
            effort: Some("minimal".into()),
            budget_tokens: None,
        }),
        stream: false,
        ..ChatRequest::default()
    };
    req.extra.insert(
        "options".into(),
        json!({"num_ctx": 8192, "temperature": 1.5}),
    );
    req.extra.insert("keep_alive".into(), json!(-1));
    req.extra
        .insert("unrelated_vendor_field".into(), json!(true));
    assert_eq!(
        encode(&req),
        json!({
            "model": "qwen3:8b",
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [
                {"type": "function", "function": {"name": "noargs", "parameters": {"type": "object", "properties": {}}}},
                {"type": "function", "function": {"name": "f", "description": "does f", "parameters": {"type": "object", "properties": {"x": {"type": "string"}}}}}
            ],
            "format": "json",
            "options": {
                "num_ctx": 8192, "temperature": 0.2, "top_p": 0.9, "top_k": 20, "num_predict": 100,
                "stop": ["END"], "seed": 42, "frequency_penalty": 0.5, "presence_penalty": 0.25
            },
            "stream": false,
            "think": "low",
            "keep_alive": -1
        })
    );

    // tool_choice none drops the tools; a schema is sent as the format.
    req.tool_choice = Some(ToolChoice::None);
    let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}}});
    req.response_format = Some(ResponseFormat::JsonSchema {
        name: "x".into(),
        description: None,
        schema: schema.clone(),
        strict: Some(true),
    });
    let got = encode(&req);
    assert!(got.get("tools").is_none());
    assert_eq!(got["format"], schema);
}

#[test]
fn think_mapping() {
    let cases = [
        (
            Reasoning {
                enabled: true,
                ..Reasoning::default()
            },
            json!(true),
        ),
        (Reasoning::default(), json!(false)),
        (
            Reasoning {
                enabled: true,
                effort: Some("none".into()),
                budget_tokens: None,
            },
            json!(false),
        ),
        (
            Reasoning {
                enabled: true,
                effort: Some("medium".into()),
                budget_tokens: None,
            },
            json!("medium"),
        ),
        (
            Reasoning {
                enabled: true,
                effort: Some("xhigh".into()),
                budget_tokens: None,
            },
            json!("max"),
        ),
        (
            Reasoning {
                enabled: true,
                effort: None,
                budget_tokens: Some(2048),
            },
            json!(true),
        ),
    ];
    for (reasoning, think) in cases {
        let req = ChatRequest {
            reasoning: Some(reasoning.clone()),
            ..ChatRequest::default()
        };
        assert_eq!(encode(&req)["think"], think, "{reasoning:?}");
    }
    assert!(encode(&ChatRequest::default()).get("think").is_none());
}

#[test]
fn unsupported_content_is_400() {
    let url_image = ContentPart::Image {
        cache_control: None,
        source: ImageSource::Url("https://example.com/cat.png".into()),
        detail: None,
    };
    let audio = ContentPart::Audio {
        format: "wav".into(),
        data: "AAAA".into(),
    };
    let file = ContentPart::File {
        cache_control: None,
        media_type: Some("application/pdf".into()),
        data: Some("JVBER".into()),
        file_id: None,
        filename: None,
    };
    for part in [url_image, audio, file] {
        let req = ChatRequest {
            messages: vec![msg(Role::User, vec![part.clone()])],
            ..ChatRequest::default()
        };
        let err = encode_request(&req, &opts()).expect_err("must fail");
        assert_eq!(err.status, 400, "{part:?}");
    }
    let err = encode_request(
        &ChatRequest {
            messages: vec![msg(
                Role::User,
                vec![ContentPart::Image {
                    cache_control: None,
                    source: ImageSource::Url("https://x/y.png".into()),
                    detail: None,
                }],
            )],
            ..ChatRequest::default()
        },
        &opts(),
    )
    .expect_err("url");
    assert!(
        err.message.contains("inline base64 images"),
        "{}",
        err.message
    );
    // A data URL that slipped through is still inline data.
    let req = ChatRequest {
        messages: vec![msg(
            Role::User,
            vec![ContentPart::Image {
                cache_control: None,
                source: ImageSource::Url("data:image/png;base64,iVBOR".into()),
                detail: None,
            }],
        )],
        ..ChatRequest::default()
    };
    assert_eq!(encode(&req)["messages"][0]["images"], json!(["iVBOR"]));
}

#[test]
fn an_ollama_client_request_survives_the_round_trip() {
    let body = json!({
        "model": "llama3.2",
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "call_abcd1234", "function": {"index": 0, "name": "f", "arguments": {"b": 1, "a": 2}}}]},
            {"role": "tool", "content": "r", "tool_name": "f"}
        ],
        "options": {"temperature": 0.3, "num_ctx": 4096},
        "keep_alive": "5m",
        "think": "high"
    });
    let req = decode_request(body.to_string().as_bytes()).expect("decodes");
    let got = v(&encode_request(&req, &UpstreamOptions::new("llama3.2")).expect("encodes"));
    assert_eq!(
        got,
        json!({
            "model": "llama3.2",
            "messages": [
                {"role": "system", "content": "sys"},
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "", "tool_calls": [{"id": "call_abcd1234", "function": {"index": 0, "name": "f", "arguments": {"b": 1, "a": 2}}}]},
                {"role": "tool", "content": "r", "tool_name": "f", "tool_call_id": "call_abcd1234"}
            ],
            "options": {"num_ctx": 4096, "temperature": 0.3},
            "stream": true,
            "think": "high",
            "keep_alive": "5m"
        })
    );
}

#[test]
fn decode_response_counts_reason_and_tool_calls() {
    let body = json!({
        "model": "qwen3:8b", "created_at": "2025-07-07T20:22:19.18Z",
        "message": {"role": "assistant", "content": "", "thinking": "Let me check.", "tool_calls": [
            {"function": {"index": 0, "name": "get_weather", "arguments": {"city": "Tokyo", "unit": "c"}}},
            {"id": "call_x1y2z3w4", "function": {"index": 1, "name": "get_time", "arguments": {}}}
        ]},
        "done": true, "done_reason": "stop",
        "total_duration": 4_883_583_458u64, "prompt_eval_count": 26, "eval_count": 282
    });
    let resp = decode_response(body.to_string().as_bytes()).expect("decodes");
    assert_eq!(resp.model, "qwen3:8b");
    assert_eq!(resp.finish, FinishReason::ToolCalls);
    assert_eq!(
        resp.usage,
        Usage {
            input: 26,
            output: 282,
            ..Usage::default()
        }
    );
    assert_eq!(
        resp.content[0],
        ContentPart::Reasoning {
            text: "Let me check.".into(),
            signature: None
        }
    );
    let ContentPart::ToolCall {
        id,
        name,
        arguments,
        ..
    } = &resp.content[1]
    else {
        panic!("call expected");
    };
    assert!(id.starts_with("call_") && id.len() > 5);
    assert_eq!(
        (name.as_str(), arguments.as_str()),
        ("get_weather", r#"{"city":"Tokyo","unit":"c"}"#)
    );
    assert_eq!(
        resp.content[2],
        ContentPart::ToolCall {
            cache_control: None,
            id: "call_x1y2z3w4".into(),
            name: "get_time".into(),
            arguments: "{}".into()
        }
    );
    assert_eq!(resp.content.len(), 3);

    let cases = [
        (
            json!({"message": {"role": "assistant", "content": "hi"}, "done": true, "done_reason": "length", "eval_count": 5}),
            FinishReason::Length,
            Usage {
                input: 0,
                output: 5,
                ..Usage::default()
            },
            "hi",
        ),
        (
            json!({"message": {"role": "assistant", "content": "yo"}, "done": true}),
            FinishReason::Stop,
            Usage::default(),
            "yo",
        ),
        (
            json!({"response": "gen", "done": true, "done_reason": "stop", "prompt_eval_count": 3}),
            FinishReason::Stop,
            Usage {
                input: 3,
                ..Usage::default()
            },
            "gen",
        ),
    ];
    for (body, finish, usage, text) in cases {
        let resp = decode_response(body.to_string().as_bytes()).expect("decodes");
        assert_eq!(
            (resp.finish, resp.usage, resp.text().as_str()),
            (finish, usage, text),
            "{body}"
        );
    }
    let err = decode_response(b"{\"error\":\"model 'nope' not found\"}").expect_err("error body");
    assert_eq!(err.kind, ErrorKind::NotFound);
    let err = decode_response(b"<html>").expect_err("garbage");
    assert_eq!(err.status, 502);
}

#[test]
fn decode_error_keeps_status_and_message() {
    let cases = [
        (
            404,
            &br#"{"error":"model 'llama9' not found, try pulling it first"}"#[..],
            ErrorKind::NotFound,
            "model 'llama9' not found, try pulling it first",
        ),
        (
            400,
            &br#"{"error":"invalid options"}"#[..],
            ErrorKind::InvalidRequest,
            "invalid options",
        ),
        (
            500,
            &b"llama runner process has terminated\n"[..],
            ErrorKind::Server,
            "llama runner process has terminated",
        ),
        (
            503,
            &b""[..],
            ErrorKind::Overloaded,
            "The Ollama upstream answered with HTTP status 503.",
        ),
        (
            429,
            &br#"{"error":{"message":"slow"}}"#[..],
            ErrorKind::RateLimited,
            "slow",
        ),
    ];
    for (status, body, kind, message) in cases {
        let err = decode_error(status, body);
        assert_eq!(
            (err.status, err.kind, err.message.as_str()),
            (status, kind, message)
        );
    }
    assert_eq!(
        decode_error(404, br#"{"error":"model 'x' not found"}"#)
            .code
            .as_deref(),
        Some("model_not_found")
    );
}

#[test]
fn a_named_tool_choice_offers_only_that_tool() {
    let tool = |name: &str| Tool {
        name: name.into(),
        description: None,
        parameters: None,
        strict: None,
        cache_control: None,
    };
    let mut req = ChatRequest {
        model: "m".into(),
        messages: vec![msg(Role::User, vec![ContentPart::text("pick")])],
        tools: vec![tool("first"), tool("second")],
        tool_choice: Some(ToolChoice::Named("second".into())),
        ..ChatRequest::default()
    };
    let body = encode(&req);
    let names: Vec<&str> = body["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert_eq!(names, vec!["second"]);
    req.tool_choice = Some(ToolChoice::Auto);
    assert_eq!(encode(&req)["tools"].as_array().map(Vec::len), Some(2));
}
