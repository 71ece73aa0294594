//! `encode_request`: canonical requests to Anthropic bodies.

use super::value;
use crate::anthropic::{decode_request, encode_request};
use crate::UpstreamOptions;
use lmrelay_ir::{
    ChatRequest, ContentPart, ImageSource, Message, Reasoning, ResponseFormat, Role, Tool,
    ToolChoice,
};
use serde_json::{json, Value};

fn opts() -> UpstreamOptions {
    UpstreamOptions::new("claude-up")
}

fn encode(req: &ChatRequest) -> Value {
    value(&encode_request(req, &opts()).expect("encodes"))
}

fn msg(role: Role, content: Vec<ContentPart>) -> Message {
    Message {
        role,
        content,
        name: None,
    }
}

fn chat(messages: Vec<Message>) -> ChatRequest {
    ChatRequest {
        model: "client-model".into(),
        messages,
        ..ChatRequest::default()
    }
}

fn call(id: &str, args: &str) -> ContentPart {
    ContentPart::ToolCall {
        cache_control: None,
        id: id.into(),
        name: "get_weather".into(),
        arguments: args.into(),
    }
}

fn result(id: &str, text: &str) -> ContentPart {
    ContentPart::ToolResult {
        cache_control: None,
        call_id: id.into(),
        name: None,
        content: vec![ContentPart::text(text)],
        is_error: false,
    }
}

#[test]
fn minimal_request_has_model_and_default_max_tokens() {
    let body = encode(&chat(vec![Message::text(Role::User, "hi")]));
    assert_eq!(
        body,
        json!({
            "model": "claude-up",
            "max_tokens": 4096,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
        })
    );
}

#[test]
fn system_and_developer_messages_are_hoisted() {
    let req = chat(vec![
        Message::text(Role::System, "Be brief."),
        Message::text(Role::User, "a"),
        msg(
            Role::Developer,
            vec![
                ContentPart::Text {
                    text: "Cached.".into(),
                    cache_control: Some(json!({"type": "ephemeral"})),
                },
                ContentPart::text("  "),
            ],
        ),
        Message::text(Role::User, "b"),
    ]);
    let body = encode(&req);
    assert_eq!(
        body["system"],
        json!([
            {"type": "text", "text": "Be brief."},
            {"type": "text", "text": "Cached.", "cache_control": {"type": "ephemeral"}}
        ])
    );
    // The two user turns around the hoisted developer turn merge.
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}])
    );
}

#[test]
fn tool_loop_history_is_repaired() {
    let req = chat(vec![
        Message::text(Role::User, "weather in Paris and Rome?"),
        msg(
            Role::Assistant,
            vec![
                ContentPart::text(""),
                call("toolu_1", r#"{"city":"Paris"}"#),
                call("toolu_2", ""),
            ],
        ),
        // OpenAI-style: one result per message, then the user's text.
        msg(Role::User, vec![result("toolu_1", "sunny")]),
        msg(Role::User, vec![result("toolu_2", "rain")]),
        msg(
            Role::User,
            vec![ContentPart::text("thanks"), ContentPart::text(" \n")],
        ),
        Message::text(Role::Assistant, "Paris is sunny.  \n"),
    ]);
    let body = encode(&req);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "weather in Paris and Rome?"}]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "sunny"}]},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "rain"}]},
                {"type": "text", "text": "thanks"}
            ]},
            // A final assistant (prefill) turn loses its trailing whitespace.
            {"role": "assistant", "content": [{"type": "text", "text": "Paris is sunny."}]}
        ])
    );
}

#[test]
fn tool_results_move_before_text_in_one_message() {
    let req = chat(vec![
        msg(Role::Assistant, vec![call("toolu_1", "{}")]),
        msg(
            Role::User,
            vec![
                ContentPart::text("here you go"),
                ContentPart::ToolResult {
                    cache_control: None,
                    call_id: "toolu_1".into(),
                    name: None,
                    content: vec![],
                    is_error: true,
                },
            ],
        ),
    ]);
    let body = encode(&req);
    assert_eq!(
        body["messages"][1]["content"],
        json!([
            {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": true},
            {"type": "text", "text": "here you go"}
        ])
    );
}

#[test]
fn sampling_mapping() {
    let mut req = chat(vec![Message::text(Role::User, "hi")]);
    req.sampling.max_tokens = Some(300);
    req.sampling.temperature = Some(1.7);
    req.sampling.top_p = Some(0.5);
    req.sampling.top_k = Some(7);
    req.sampling.stop = vec!["END".into(), String::new()];
    req.sampling.seed = Some(42);
    req.sampling.frequency_penalty = Some(0.5);
    req.sampling.n = Some(2);
    req.user = Some("u-1".into());
    req.stream = true;
    let body = encode(&req);
    assert_eq!(body["max_tokens"], 300);
    assert_eq!(body["temperature"], 1.0);
    assert_eq!(body["top_p"], 0.5);
    assert_eq!(body["top_k"], 7);
    assert_eq!(body["stop_sequences"], json!(["END"]));
    assert_eq!(body["metadata"], json!({"user_id": "u-1"}));
    assert_eq!(body["stream"], true);
    for absent in [
        "seed",
        "frequency_penalty",
        "n",
        "thinking",
        "tool_choice",
        "tools",
    ] {
        assert!(body.get(absent).is_none(), "{absent}");
    }
}

#[test]
fn tools_and_tool_choice() {
    let tool = |name: &str, parameters: Option<Value>| Tool {
        name: name.into(),
        description: Some("d".into()),
        parameters,
        strict: None,
        cache_control: None,
    };
    let mut req = chat(vec![Message::text(Role::User, "hi")]);
    req.tools = vec![
        tool(
            "a",
            Some(json!({"type": "object", "properties": {"x": {"type": "integer"}}})),
        ),
        tool("b", None),
    ];
    req.tools[1].cache_control = Some(json!({"type": "ephemeral"}));
    let body = encode(&req);
    assert_eq!(
        body["tools"],
        json!([
            {"name": "a", "description": "d", "input_schema": {"type": "object", "properties": {"x": {"type": "integer"}}}},
            {"name": "b", "description": "d", "input_schema": {"type": "object", "properties": {}},
             "cache_control": {"type": "ephemeral"}}
        ])
    );

    let cases = [
        (None, None, None),
        (None, Some(true), None),
        (
            None,
            Some(false),
            Some(json!({"type": "auto", "disable_parallel_tool_use": true})),
        ),
        (Some(ToolChoice::Auto), None, Some(json!({"type": "auto"}))),
        (
            Some(ToolChoice::Required),
            Some(false),
            Some(json!({"type": "any", "disable_parallel_tool_use": true})),
        ),
        (
            Some(ToolChoice::Named("a".into())),
            None,
            Some(json!({"type": "tool", "name": "a"})),
        ),
        (
            Some(ToolChoice::None),
            Some(false),
            Some(json!({"type": "none"})),
        ),
    ];
    for (choice, parallel, want) in cases {
        req.tool_choice = choice.clone();
        req.parallel_tool_calls = parallel;
        let body = encode(&req);
        assert_eq!(
            body.get("tool_choice").cloned(),
            want,
            "{choice:?} {parallel:?}"
        );
    }
}

#[test]
fn thinking_budget_and_its_constraints() {
    let cases = [
        // (budget, effort, max_tokens, want budget, want max_tokens)
        (Some(2000), None, Some(8000), 2000, 8000),
        (Some(5000), None, Some(1000), 5000, 6024),
        (Some(10), None, None, 1024, 4096),
        (None, Some("low"), None, 1024, 4096),
        (None, Some("medium"), None, 2048, 4096),
        (None, Some("high"), Some(4096), 4096, 5120),
        (None, None, None, 2048, 4096),
    ];
    for (budget, effort, max_tokens, want_budget, want_max) in cases {
        let mut req = chat(vec![Message::text(Role::User, "hi")]);
        req.reasoning = Some(Reasoning {
            enabled: true,
            effort: effort.map(str::to_owned),
            budget_tokens: budget,
        });
        req.sampling.max_tokens = max_tokens;
        req.sampling.temperature = Some(0.2);
        req.sampling.top_k = Some(5);
        req.sampling.top_p = Some(0.5);
        req.tools = vec![Tool {
            name: "t".into(),
            description: None,
            parameters: None,
            strict: None,
            cache_control: None,
        }];
        req.tool_choice = Some(ToolChoice::Required);
        let body = encode(&req);
        assert_eq!(
            body["thinking"],
            json!({"type": "enabled", "budget_tokens": want_budget})
        );
        assert_eq!(body["max_tokens"], want_max);
        for absent in ["temperature", "top_k", "top_p"] {
            assert!(body.get(absent).is_none(), "{absent} dropped with thinking");
        }
        assert_eq!(
            body["tool_choice"],
            json!({"type": "auto"}),
            "forced choice downgraded"
        );
    }

    // Disabled reasoning sends nothing.
    let mut req = chat(vec![Message::text(Role::User, "hi")]);
    req.reasoning = Some(Reasoning::default());
    assert!(encode(&req).get("thinking").is_none());
}

#[test]
fn reasoning_is_sent_back_only_with_a_signature() {
    let req = chat(vec![
        Message::text(Role::User, "hi"),
        msg(
            Role::Assistant,
            vec![
                ContentPart::Reasoning {
                    text: "unsigned".into(),
                    signature: None,
                },
                ContentPart::Reasoning {
                    text: "signed".into(),
                    signature: Some("sig+/=".into()),
                },
                // Gemini's signatures mean nothing to Anthropic.
                ContentPart::Reasoning {
                    text: "gemini thought".into(),
                    signature: Some(crate::signature::gemini_thought("c2ln")),
                },
                ContentPart::Reasoning {
                    text: String::new(),
                    signature: Some(crate::signature::gemini_part("c2ln")),
                },
                ContentPart::RedactedReasoning {
                    data: "opaque".into(),
                },
                ContentPart::text("answer"),
            ],
        ),
        msg(
            Role::Assistant,
            vec![ContentPart::Reasoning {
                text: "only unsigned".into(),
                signature: None,
            }],
        ),
        Message::text(Role::User, "next"),
    ]);
    let body = encode(&req);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "signed", "signature": "sig+/="},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "text", "text": "answer"}
            ]},
            {"role": "user", "content": [{"type": "text", "text": "next"}]}
        ])
    );
}

#[test]
fn thinking_is_turned_off_when_the_tool_loop_lost_its_signature() {
    let mut req = chat(vec![
        Message::text(Role::User, "hi"),
        msg(Role::Assistant, vec![call("toolu_1", "{}")]),
        msg(Role::User, vec![result("toolu_1", "ok")]),
    ]);
    req.reasoning = Some(Reasoning {
        enabled: true,
        effort: None,
        budget_tokens: Some(2000),
    });
    assert!(encode(&req).get("thinking").is_none());

    // Once the loop has ended (a new user question), Anthropic accepts the old turn as it is.
    let mut ended = req.clone();
    ended
        .messages
        .push(msg(Role::Assistant, vec![ContentPart::text("done")]));
    ended
        .messages
        .push(Message::text(Role::User, "next question"));
    assert_eq!(encode(&ended)["thinking"]["type"], "enabled");

    req.messages[1].content.insert(
        0,
        ContentPart::Reasoning {
            text: "t".into(),
            signature: Some("s".into()),
        },
    );
    assert_eq!(encode(&req)["thinking"]["type"], "enabled");
}

#[test]
fn anthropic_client_round_trip_keeps_signatures_and_extra() {
    let client = json!({
        "model": "alias", "max_tokens": 2000,
        "system": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "EqQB/+=="},
                {"type": "tool_use", "id": "toolu_1", "name": "t", "input": {"b": 1, "a": 2}}
            ]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}]}
        ],
        "tools": [
            {"name": "t", "input_schema": {"type": "object", "properties": {}}},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
        ],
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high", "format": {"type": "json_schema", "schema": {"type": "object"}}},
        "container": "cntr_1", "service_tier": "auto",
        "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]}
    });
    let req = decode_request(client.to_string().as_bytes()).expect("decodes");
    let body = encode(&req);
    assert_eq!(body["model"], "claude-up");
    assert_eq!(body["system"], client["system"]);
    assert_eq!(body["messages"][1], client["messages"][1]);
    assert_eq!(
        body["messages"][2]["content"],
        json!([{"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "ok"}]}])
    );
    assert_eq!(body["tools"], client["tools"]);
    assert_eq!(body["thinking"], json!({"type": "adaptive"}));
    assert_eq!(body["output_config"], client["output_config"]);
    for key in ["container", "service_tier", "context_management"] {
        assert_eq!(body[key], client[key], "{key}");
    }
    assert_eq!(body["max_tokens"], 2000);
}

#[test]
fn response_formats() {
    let schema =
        json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]});
    let mut req = chat(vec![Message::text(Role::User, "hi")]);
    req.response_format = Some(ResponseFormat::JsonSchema {
        name: "x".into(),
        description: None,
        schema: schema.clone(),
        strict: Some(true),
    });
    assert_eq!(
        encode(&req)["output_config"],
        json!({"format": {"type": "json_schema", "schema": schema}})
    );
    req.response_format = Some(ResponseFormat::JsonObject);
    let body = encode(&req);
    assert!(body.get("output_config").is_none());
    let system = body["system"][0]["text"].as_str().expect("system text");
    assert!(system.contains("JSON object"), "{system}");
}

#[test]
fn images_files_and_audio() {
    let image = |source: ImageSource| ContentPart::Image {
        cache_control: None,
        source,
        detail: Some("high".into()),
    };
    let req = chat(vec![msg(
        Role::User,
        vec![
            image(ImageSource::Base64 {
                media_type: "image/png".into(),
                data: "iVBOR".into(),
            }),
            image(ImageSource::Url("data:image/jpg;base64,/9j/4".into())),
            image(ImageSource::Url("https://x/y.gif".into())),
            ContentPart::File {
                cache_control: None,
                media_type: Some("application/pdf".into()),
                data: Some("JVBER".into()),
                file_id: None,
                filename: Some("a.pdf".into()),
            },
            ContentPart::File {
                cache_control: None,
                media_type: Some("text/plain".into()),
                data: Some("aGVsbG8=".into()),
                file_id: None,
                filename: None,
            },
        ],
    )]);
    assert_eq!(
        encode(&req)["messages"][0]["content"],
        json!([
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4"}},
            {"type": "image", "source": {"type": "url", "url": "https://x/y.gif"}},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBER"}, "title": "a.pdf"},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "hello"}}
        ])
    );

    let rejected = [
        ContentPart::Audio {
            format: "wav".into(),
            data: "UklG".into(),
        },
        image(ImageSource::Base64 {
            media_type: "image/bmp".into(),
            data: "Qk0".into(),
        }),
    ];
    for part in rejected {
        let req = chat(vec![msg(Role::User, vec![ContentPart::text("x"), part])]);
        let err = encode_request(&req, &opts()).expect_err("rejected");
        assert_eq!(err.status, 400);
        assert_eq!(err.param.as_deref(), Some("messages[0].content[1]"));
    }
    let req = chat(vec![msg(
        Role::User,
        vec![ContentPart::Audio {
            format: "wav".into(),
            data: String::new(),
        }],
    )]);
    let err = encode_request(&req, &opts()).expect_err("audio");
    assert!(err.message.contains("audio"), "{}", err.message);
}

#[test]
fn cache_control_survives_on_every_block_type() {
    let cc = json!({"type": "ephemeral", "ttl": "1h"});
    let client = json!({
        "model": "alias", "max_tokens": 100,
        "system": [{"type": "text", "text": "sys", "cache_control": cc}],
        "tools": [{"name": "t", "input_schema": {"type": "object", "properties": {}}, "cache_control": cc}],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "look", "cache_control": cc},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}, "cache_control": cc},
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}, "cache_control": cc}
            ]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "t", "input": {}, "cache_control": cc}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok", "cache_control": cc}
            ]}
        ]
    });
    let req = decode_request(client.to_string().as_bytes()).expect("decodes");
    let body = encode(&req);
    assert_eq!(body["system"][0]["cache_control"], cc);
    assert_eq!(body["tools"][0]["cache_control"], cc);
    for block in body["messages"][0]["content"].as_array().expect("blocks") {
        assert_eq!(block["cache_control"], cc, "{block}");
    }
    assert_eq!(body["messages"][1]["content"][0]["cache_control"], cc);
    assert_eq!(body["messages"][2]["content"][0]["cache_control"], cc);
}
