//! `decode_request` / `decode_count_tokens`: Anthropic client bodies to canonical requests.

use crate::anthropic::{decode_count_tokens, decode_request};
use lmrelay_ir::{
    ChatRequest, ContentPart, ImageSource, Message, Reasoning, ResponseFormat, Role, ToolChoice,
};
use serde_json::{json, Value};

fn decode(body: Value) -> ChatRequest {
    decode_request(body.to_string().as_bytes()).expect("decodes")
}

fn base(extra: Value) -> Value {
    let mut body = json!({"model": "claude-x", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]});
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
    body
}

#[test]
fn system_prompts_become_leading_system_messages() {
    let cases = [
        (json!("Be brief."), vec![ContentPart::text("Be brief.")]),
        (
            json!([
                {"type": "text", "text": "One.", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Two."}
            ]),
            vec![
                ContentPart::Text {
                    text: "One.".into(),
                    cache_control: Some(json!({"type": "ephemeral"})),
                },
                ContentPart::text("Two."),
            ],
        ),
    ];
    for (system, want) in cases {
        let req = decode(base(json!({ "system": system })));
        assert_eq!(req.messages.len(), 2);
        assert_eq!(req.messages[0].role, Role::System);
        assert_eq!(req.messages[0].content, want);
        assert_eq!(req.messages[1], Message::text(Role::User, "hi"));
    }
    // An empty system string adds nothing.
    assert_eq!(decode(base(json!({"system": ""}))).messages.len(), 1);
}

#[test]
fn system_role_inside_messages_is_accepted() {
    let req = decode(json!({
        "model": "m",
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "system", "content": "be nice"},
            {"role": "assistant", "content": "b"}
        ]
    }));
    let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::System, Role::Assistant]);
    assert_eq!(req.sampling.max_tokens, None, "max_tokens may be missing");
}

#[test]
fn images_of_both_kinds() {
    let req = decode(base(json!({"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"}},
        {"type": "image", "source": {"type": "url", "url": "https://x/y.jpg"}},
        {"type": "text", "text": "what?"}
    ]}]})));
    assert_eq!(
        req.messages[0].content,
        vec![
            ContentPart::Image {
                cache_control: None,
                source: ImageSource::Base64 {
                    media_type: "image/png".into(),
                    data: "iVBORw0K".into()
                },
                detail: None
            },
            ContentPart::Image {
                cache_control: None,
                source: ImageSource::Url("https://x/y.jpg".into()),
                detail: None
            },
            ContentPart::text("what?"),
        ]
    );
}

#[test]
fn documents_become_files_or_text() {
    let req = decode(base(json!({"messages": [{"role": "user", "content": [
        {"type": "document", "title": "a.pdf", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBER"}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain"}}
    ]}]})));
    assert_eq!(
        req.messages[0].content,
        vec![
            ContentPart::File {
                cache_control: None,
                media_type: Some("application/pdf".into()),
                data: Some("JVBER".into()),
                file_id: None,
                filename: Some("a.pdf".into())
            },
            ContentPart::text("plain"),
        ]
    );
}

#[test]
fn tool_use_and_tool_result() {
    let req = decode(json!({
        "model": "m",
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"z": 1, "a": {"y": 2, "b": 3}}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": true,
                 "content": [{"type": "text", "text": "boom"}]},
                {"type": "tool_result", "tool_use_id": "toolu_9"}
            ]}
        ]
    }));
    assert_eq!(
        req.messages[1].content[1],
        ContentPart::ToolCall {
            cache_control: None,
            id: "toolu_1".into(),
            name: "get_weather".into(),
            // Key order preserved.
            arguments: r#"{"z":1,"a":{"y":2,"b":3}}"#.into(),
        }
    );
    assert_eq!(
        req.messages[2].content,
        vec![
            ContentPart::ToolResult {
                cache_control: None,
                call_id: "toolu_1".into(),
                name: Some("get_weather".into()),
                content: vec![ContentPart::text("sunny")],
                is_error: false
            },
            ContentPart::ToolResult {
                cache_control: None,
                call_id: "toolu_1".into(),
                name: Some("get_weather".into()),
                content: vec![ContentPart::text("boom")],
                is_error: true
            },
            ContentPart::ToolResult {
                cache_control: None,
                call_id: "toolu_9".into(),
                name: None,
                content: vec![],
                is_error: false
            },
        ]
    );
}

#[test]
fn thinking_blocks_round_trip_byte_exact() {
    // JSON escapes in the signature must decode to exactly these characters.
    let signature = r#"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxRu+/Ol8=\u00e9\/x"#;
    let body = format!(
        r#"{{"model":"m","messages":[{{"role":"assistant","content":[
            {{"type":"thinking","thinking":"Let me think…\n","signature":"{signature}"}},
            {{"type":"redacted_thinking","data":"RXh0cmEgc2VjcmV0"}}
        ]}}]}}"#
    );
    let req = decode_request(body.as_bytes()).expect("decodes");
    let want_sig: String = serde_json::from_str(&format!("\"{signature}\"")).expect("json str");
    assert_eq!(
        req.messages[0].content,
        vec![
            ContentPart::Reasoning {
                text: "Let me think…\n".into(),
                signature: Some(want_sig)
            },
            ContentPart::RedactedReasoning {
                data: "RXh0cmEgc2VjcmV0".into()
            },
        ]
    );
}

#[test]
fn unknown_blocks_are_ignored() {
    let req = decode(base(json!({"messages": [{"role": "assistant", "content": [
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"q": "x"}},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
        {"type": "brand_new_block", "whatever": 1},
        {"type": "text", "text": "done", "citations": []}
    ]}]})));
    assert_eq!(req.messages[0].content, vec![ContentPart::text("done")]);
}

#[test]
fn tools_choice_and_sampling() {
    let req = decode(base(json!({
        "tools": [
            {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
             "cache_control": {"type": "ephemeral"}},
            {"type": "custom", "name": "noargs", "input_schema": {"type": "object"}},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
        ],
        "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": true},
        "temperature": 0.3, "top_p": 0.9, "top_k": 40, "stop_sequences": ["END"],
        "metadata": {"user_id": "u-1"}, "stream": true
    })));
    assert_eq!(req.tools.len(), 2);
    assert_eq!(req.tools[0].name, "get_weather");
    assert_eq!(
        req.tools[0].cache_control,
        Some(json!({"type": "ephemeral"}))
    );
    assert_eq!(
        req.tools[0].parameters,
        Some(json!({"type": "object", "properties": {"city": {"type": "string"}}}))
    );
    assert_eq!(
        req.extra["tools"],
        json!([{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}])
    );
    assert_eq!(
        req.tool_choice,
        Some(ToolChoice::Named("get_weather".into()))
    );
    assert_eq!(req.parallel_tool_calls, Some(false));
    assert_eq!(req.sampling.temperature, Some(0.3));
    assert_eq!(req.sampling.top_p, Some(0.9));
    assert_eq!(req.sampling.top_k, Some(40));
    assert_eq!(req.sampling.stop, vec!["END".to_owned()]);
    assert_eq!(req.sampling.max_tokens, Some(100));
    assert_eq!(req.user.as_deref(), Some("u-1"));
    assert!(req.stream);

    for (choice, want) in [
        (json!({"type": "auto"}), ToolChoice::Auto),
        (json!({"type": "any"}), ToolChoice::Required),
        (json!({"type": "none"}), ToolChoice::None),
    ] {
        let req = decode(base(json!({ "tool_choice": choice })));
        assert_eq!(req.tool_choice, Some(want));
        assert_eq!(req.parallel_tool_calls, None);
    }
}

#[test]
fn thinking_modes() {
    let cases = [
        (
            json!({"thinking": {"type": "enabled", "budget_tokens": 2000}}),
            Reasoning {
                enabled: true,
                effort: None,
                budget_tokens: Some(2000),
            },
            None,
        ),
        (
            json!({"thinking": {"type": "disabled"}}),
            Reasoning {
                enabled: false,
                effort: None,
                budget_tokens: None,
            },
            None,
        ),
        (
            json!({"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}}),
            Reasoning {
                enabled: true,
                effort: Some("high".into()),
                budget_tokens: None,
            },
            Some(json!({"type": "adaptive"})),
        ),
        (
            json!({"thinking": {"type": "enabled", "budget_tokens": 1024, "display": "omitted"}}),
            Reasoning {
                enabled: true,
                effort: None,
                budget_tokens: Some(1024),
            },
            Some(json!({"type": "enabled", "budget_tokens": 1024, "display": "omitted"})),
        ),
    ];
    for (fields, want, extra_thinking) in cases {
        let req = decode(base(fields));
        assert_eq!(req.reasoning, Some(want));
        assert_eq!(req.extra.get("thinking").cloned(), extra_thinking);
    }
}

#[test]
fn json_schema_output_and_unmodelled_fields() {
    let schema = json!({"type": "object", "properties": {"a": {"type": "string"}}});
    let req = decode(base(json!({
        "output_config": {"effort": "low", "format": {"type": "json_schema", "schema": schema}},
        "container": "cntr_1", "service_tier": "auto", "context_management": {"edits": []},
        "mcp_servers": [{"type": "url", "url": "https://m", "name": "m"}],
        "cache_control": {"type": "ephemeral"}, "inference_geo": "us"
    })));
    assert_eq!(
        req.response_format,
        Some(ResponseFormat::JsonSchema {
            name: "response".into(),
            description: None,
            schema,
            strict: None
        })
    );
    assert_eq!(req.extra["output_config"], json!({"effort": "low"}));
    for key in [
        "container",
        "service_tier",
        "context_management",
        "mcp_servers",
        "cache_control",
        "inference_geo",
    ] {
        assert!(req.extra.contains_key(key), "{key} kept");
    }
    for key in ["model", "messages", "max_tokens", "tools", "thinking"] {
        assert!(!req.extra.contains_key(key), "{key} not in extra");
    }
}

#[test]
fn errors_name_the_field() {
    let cases: [(Value, &str); 7] = [
        (json!({"messages": []}), "model"),
        (json!({"model": "m"}), "messages"),
        (
            json!({"model": "m", "messages": {"role": "user"}}),
            "messages",
        ),
        (json!({"model": 5, "messages": []}), "model"),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": 5}]}),
            "messages[0].content",
        ),
        (
            json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]}),
            "messages[0].role",
        ),
        (
            json!({"model": "m", "messages": [], "max_tokens": "lots"}),
            "max_tokens",
        ),
    ];
    for (body, field) in cases {
        let err = decode_request(body.to_string().as_bytes()).expect_err("rejected");
        assert_eq!(err.status, 400);
        assert!(err.message.contains(field), "{field}: {}", err.message);
    }
    let err = decode_request(b"{\"model\":").expect_err("syntax");
    assert!(err.message.contains("not valid JSON"), "{}", err.message);
    let err = decode_request(
        json!({"model": "m", "messages": [], "tool_choice": {"type": "sometimes"}})
            .to_string()
            .as_bytes(),
    )
    .expect_err("bad choice");
    assert_eq!(err.param.as_deref(), Some("tool_choice.type"));
}

#[test]
fn count_tokens_body() {
    let req = decode_count_tokens(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "system": "s", "max_tokens": 5})
            .to_string()
            .as_bytes(),
    )
    .expect("decodes");
    assert_eq!(req.messages.len(), 2);
    assert_eq!(req.sampling.max_tokens, None);
}
