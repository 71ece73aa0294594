//! Requests: what Responses clients send, and what an OpenAI Responses upstream receives.

use crate::responses::{decode_request, encode_request};
use crate::signature;
use crate::UpstreamOptions;
use lmrelay_ir::{ContentPart, ImageSource, ResponseFormat, Role, ToolChoice};
use serde_json::{json, Value};

fn decode(v: Value) -> lmrelay_ir::ChatRequest {
    decode_request(v.to_string().as_bytes()).expect("decodes")
}

fn refused(v: Value) -> lmrelay_ir::ApiError {
    decode_request(v.to_string().as_bytes()).expect_err("refused")
}

#[test]
fn a_string_input_is_one_user_message_after_the_instructions() {
    let r = decode(json!({"model": "m", "input": "hi", "instructions": "Be brief."}));
    assert_eq!(r.messages.len(), 2);
    assert_eq!(r.messages[0].role, Role::System);
    assert_eq!(
        lmrelay_ir::request::text_of(&r.messages[0].content),
        "Be brief."
    );
    assert_eq!(r.messages[1].role, Role::User);
    assert!(r.include_usage);
    assert!(!r.stream);
}

#[test]
fn items_map_to_canonical_turns() {
    let r = decode(json!({"model": "m", "input": [
        {"role": "developer", "content": "dev"},
        {"role": "system", "content": [{"type": "input_text", "text": "sys"}]},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "look"},
            {"type": "input_image", "image_url": "data:image/png;base64,iVBO", "detail": "high"},
            {"type": "input_file", "file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}
        ]},
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "plan"}], "encrypted_content": "gAAA"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}", "id": "fc_1"},
        {"type": "function_call", "call_id": "call_2", "name": "get_time", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "noon"}]}
    ]}));
    let roles: Vec<Role> = r.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::Developer,
            Role::System,
            Role::User,
            Role::Assistant,
            Role::User
        ]
    );
    let user = &r.messages[2].content;
    assert!(
        matches!(&user[1], ContentPart::Image { source: ImageSource::Base64 { media_type, .. }, detail: Some(d), .. } if media_type == "image/png" && d == "high")
    );
    assert!(
        matches!(&user[2], ContentPart::File { media_type: Some(m), filename: Some(f), .. } if m == "application/pdf" && f == "a.pdf")
    );
    let assistant = &r.messages[3].content;
    assert_eq!(
        assistant.len(),
        4,
        "reasoning, text and both calls make one turn"
    );
    assert_eq!(
        assistant[0],
        ContentPart::Reasoning {
            text: "plan".into(),
            signature: Some(signature::openai("gAAA"))
        }
    );
    assert!(
        matches!(&assistant[2], ContentPart::ToolCall { id, name, arguments, .. } if id == "call_1" && name == "get_weather" && arguments == "{\"city\":\"Paris\"}")
    );
    let results = &r.messages[4].content;
    assert_eq!(results.len(), 2);
    assert!(
        matches!(&results[0], ContentPart::ToolResult { call_id, name: Some(n), .. } if call_id == "call_1" && n == "get_weather")
    );
}

#[test]
fn tools_choice_format_and_sampling() {
    let r = decode(json!({"model": "m", "input": "x", "stream": true,
        "tools": [{"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}, "strict": true}],
        "tool_choice": {"type": "function", "name": "f"}, "parallel_tool_calls": false,
        "reasoning": {"effort": "high", "summary": "auto"},
        "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": true}},
        "max_output_tokens": 300, "temperature": 0.5, "top_p": 0.9,
        "metadata": {"k": "v"}, "store": true, "include": ["reasoning.encrypted_content"], "user": "u1"}));
    assert!(r.stream);
    assert_eq!(r.tools[0].name, "f");
    assert_eq!(r.tools[0].strict, Some(true));
    assert_eq!(r.tool_choice, Some(ToolChoice::Named("f".into())));
    assert_eq!(r.parallel_tool_calls, Some(false));
    assert_eq!(
        r.reasoning.as_ref().and_then(|x| x.effort.as_deref()),
        Some("high")
    );
    assert!(
        matches!(&r.response_format, Some(ResponseFormat::JsonSchema { name, strict: Some(true), .. }) if name == "out")
    );
    assert_eq!(r.sampling.max_tokens, Some(300));
    assert_eq!(r.sampling.temperature, Some(0.5));
    assert_eq!(r.user.as_deref(), Some("u1"));
    // Kept for an OpenAI Responses upstream; `store` and `include` are lmrelay's to set.
    assert_eq!(r.extra.get("metadata"), Some(&json!({"k": "v"})));
    assert!(!r.extra.contains_key("store") && !r.extra.contains_key("include"));
}

#[test]
fn what_lmrelay_cannot_serve_is_a_400_naming_the_field() {
    let cases = [
        (
            json!({"model": "m", "input": "x", "previous_response_id": "resp_1"}),
            "previous_response_id",
        ),
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "file_search"}]}),
            "tools[0].type",
        ),
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "function", "name": "f"}, {"type": "code_interpreter"}]}),
            "tools[1].type",
        ),
        (
            json!({"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]}),
            "input[0]",
        ),
        (
            json!({"model": "m", "input": [{"type": "web_search_call", "id": "ws_1"}]}),
            "input[0].type",
        ),
        (
            json!({"model": "m", "input": [{"type": "function_call", "name": "f"}]}),
            "input[0]",
        ),
        (
            json!({"model": "m", "input": [{"role": "robot", "content": "x"}]}),
            "input[0].role",
        ),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]}),
            "input[0].content[0]",
        ),
        (
            json!({"model": "m", "input": "x", "tool_choice": {"type": "file_search"}}),
            "tool_choice",
        ),
        (
            json!({"model": "m", "input": "x", "tool_choice": "sometimes"}),
            "tool_choice",
        ),
        (json!({"model": "m"}), "input"),
        (json!({"input": "x"}), ""),
    ];
    for (body, param) in cases {
        let e = refused(body.clone());
        assert_eq!(e.status, 400, "{body}");
        if !param.is_empty() {
            assert_eq!(e.param.as_deref(), Some(param), "{body}: {}", e.message);
        }
    }
    let e = refused(json!({"model": "m", "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "ok"}, {"type": "input_text"}]}]}));
    assert!(
        e.message.contains("content[1]") && e.message.contains("`text`"),
        "{}",
        e.message
    );
    let e = refused(json!({"model": "m", "input": [{"role": "user", "content": 5}]}));
    assert!(
        e.message.contains("a string or an array of content parts"),
        "{}",
        e.message
    );
    let e =
        refused(json!({"model": "m", "input": "x", "tools": [{"type": "computer_use_preview"}]}));
    assert!(
        e.message.contains("`computer_use_preview`") && e.message.contains("built-in"),
        "{}",
        e.message
    );
}

#[test]
fn codex_history_without_ids_statuses_or_annotations_decodes() {
    let r = decode(json!({"model": "m", "instructions": "i", "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "q"}, {"type": "input_image", "image_url": "https://x/y.png"}]},
        {"type": "reasoning", "summary": [], "encrypted_content": "enc"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "a"}]}
    ], "tools": [], "tool_choice": "auto", "parallel_tool_calls": true, "stream": true,
       "store": false, "reasoning": {"effort": "medium", "summary": "auto"},
       "include": ["reasoning.encrypted_content"], "prompt_cache_key": "k", "client_metadata": {}}));
    assert_eq!(r.messages.len(), 3);
    assert_eq!(r.extra.get("prompt_cache_key"), Some(&json!("k")));
}

fn encoded(req: &lmrelay_ir::ChatRequest) -> Value {
    let body = encode_request(req, &UpstreamOptions::new("gpt-up")).expect("encodes");
    serde_json::from_slice(&body).expect("json")
}

#[test]
fn upstream_body_is_stateless_items_with_flat_tools() {
    let mut r = decode(json!({"model": "m", "instructions": "sys", "input": [
        {"role": "user", "content": "weather?"},
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "plan"}], "encrypted_content": "gAAA"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}
    ], "tools": [{"type": "function", "name": "get_weather", "parameters": null}],
       "tool_choice": "required", "reasoning": {"effort": "low"}, "max_output_tokens": 64,
       "text": {"format": {"type": "json_object"}}, "stream": true}));
    r.sampling.stop = vec!["END".into()];
    r.sampling.seed = Some(7);
    let v = encoded(&r);
    assert_eq!(v["model"], "gpt-up");
    assert_eq!(v["store"], false);
    assert_eq!(v["stream"], true);
    assert_eq!(v["include"], json!(["reasoning.encrypted_content"]));
    assert_eq!(v["reasoning"], json!({"effort": "low", "summary": "auto"}));
    assert_eq!(v["max_output_tokens"], 64);
    assert_eq!(v["tool_choice"], "required");
    assert_eq!(v["text"], json!({"format": {"type": "json_object"}}));
    assert_eq!(
        v["tools"],
        json!([{"type": "function", "name": "get_weather",
        "parameters": {"type": "object", "properties": {}}, "strict": false}])
    );
    assert!(v.get("stop").is_none() && v.get("seed").is_none());
    assert_eq!(
        v["input"],
        json!([
            {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "sys"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "plan"}], "encrypted_content": "gAAA"},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}
        ])
    );
}

#[test]
fn other_providers_reasoning_is_not_sent_to_openai() {
    let mut r = decode(json!({"model": "m", "input": "x"}));
    r.messages.push(lmrelay_ir::Message {
        role: Role::Assistant,
        content: vec![
            ContentPart::Reasoning {
                text: "t".into(),
                signature: Some("anthropic-sig".into()),
            },
            ContentPart::Reasoning {
                text: "g".into(),
                signature: Some(signature::gemini_thought("s")),
            },
            ContentPart::Reasoning {
                text: "plain".into(),
                signature: None,
            },
            ContentPart::text("answer"),
        ],
        name: None,
    });
    let v = encoded(&r);
    assert_eq!(
        v["input"][1],
        json!({"type": "message", "role": "assistant",
        "content": [{"type": "output_text", "text": "answer"}]})
    );
    assert_eq!(v["input"].as_array().map(Vec::len), Some(2));
}

#[test]
fn client_extras_reach_the_upstream_body() {
    let r =
        decode(json!({"model": "m", "input": "x", "metadata": {"a": "b"}, "truncation": "auto"}));
    let v = encoded(&r);
    assert_eq!(v["metadata"], json!({"a": "b"}));
    assert_eq!(v["truncation"], "auto");
}

#[test]
fn namespaced_tools_are_flattened_and_web_search_is_dropped() {
    // What Codex CLI sends: functions, a namespace of functions, and web search.
    let r = decode(json!({"model": "m", "tools": [
        {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
        {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents.", "tools": [
            {"type": "function", "name": "close_agent", "parameters": {"type": "object"}},
            {"type": "function", "name": "spawn_agent"}]},
        {"type": "web_search", "external_web_access": false}],
        "input": [
            {"role": "user", "content": "go"},
            {"type": "function_call", "call_id": "c1", "name": "close_agent",
             "namespace": "multi_agent_v1", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "closed"}]}));
    let names: Vec<&str> = r.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "exec_command",
            "multi_agent_v1__close_agent",
            "multi_agent_v1__spawn_agent"
        ]
    );
    assert_eq!(r.tool_namespaces, ["multi_agent_v1"]);
    let call = r.messages[1].content.iter().find_map(|p| match p {
        ContentPart::ToolCall { name, .. } => Some(name.as_str()),
        _ => None,
    });
    assert_eq!(call, Some("multi_agent_v1__close_agent"));
    // A namespace may hold only function tools.
    let e = refused(
        json!({"model": "m", "input": "x", "tools": [{"type": "namespace",
        "name": "n", "tools": [{"type": "custom", "name": "patch"}]}]}),
    );
    assert_eq!(e.param.as_deref(), Some("tools[0].tools[0].type"));
}
