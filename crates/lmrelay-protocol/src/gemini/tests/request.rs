//! `encode_request`: canonical requests to `generateContent` bodies.

use super::value;
use crate::gemini::{encode_count_tokens_request, encode_request, SKIP_SIGNATURE};
use crate::signature::{gemini_part, gemini_thought};
use crate::UpstreamOptions;
use lmrelay_ir::{
    ChatRequest, ContentPart, ImageSource, Message, Reasoning, ResponseFormat, Role, Sampling,
    Tool, ToolChoice,
};
use serde_json::{json, Value};

fn encode_for(model: &str, req: &ChatRequest) -> Value {
    value(&encode_request(req, &UpstreamOptions::new(model)).expect("encodes"))
}

fn encode(req: &ChatRequest) -> Value {
    encode_for("gemini-2.5-flash", req)
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

fn reasoning(text: &str, signature: Option<String>) -> ContentPart {
    ContentPart::Reasoning {
        text: text.into(),
        signature,
    }
}

#[test]
fn minimal_request_is_contents_only() {
    let body = encode(&chat(vec![Message::text(Role::User, "hi")]));
    assert_eq!(
        body,
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    );
}

#[test]
fn system_turns_become_the_system_instruction_and_roles_merge() {
    let req = chat(vec![
        Message::text(Role::System, "Be brief."),
        Message::text(Role::User, "a"),
        Message::text(Role::Developer, "  "),
        Message::text(Role::Developer, "Use metric."),
        Message::text(Role::User, "b"),
        Message::text(Role::Assistant, "c"),
        msg(Role::Assistant, vec![ContentPart::text("")]),
    ]);
    assert_eq!(
        encode(&req),
        json!({
            "contents": [
                {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
                {"role": "model", "parts": [{"text": "c"}]}
            ],
            "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Use metric."}]}
        })
    );
}

#[test]
fn sampling_json_mode_and_tool_choice_map_to_their_fields() {
    let mut req = chat(vec![Message::text(Role::User, "q")]);
    req.sampling = Sampling {
        max_tokens: Some(100),
        temperature: Some(0.5),
        top_p: Some(0.9),
        top_k: Some(40),
        stop: vec!["END".into(), String::new()],
        seed: Some(7),
        frequency_penalty: Some(0.1),
        presence_penalty: Some(0.2),
        n: Some(1),
    };
    req.response_format = Some(ResponseFormat::JsonSchema {
        name: "answer".into(),
        description: None,
        schema: json!({"type": "object", "additionalProperties": false,
            "properties": {"n": {"type": ["integer", "null"]}}, "required": ["n"]}),
        strict: Some(true),
    });
    req.tools = vec![Tool {
        name: "get_weather".into(),
        description: Some("Weather".into()),
        parameters: Some(json!({"type": "object", "properties": {"city": {"type": "string"}}})),
        strict: None,
        cache_control: None,
    }];
    req.tool_choice = Some(ToolChoice::Named("get_weather".into()));
    let body = encode(&req);
    assert_eq!(
        body["generationConfig"],
        json!({
            "stopSequences": ["END"],
            "responseMimeType": "application/json",
            "responseSchema": {"type": "object",
                "properties": {"n": {"type": "integer", "nullable": true}}, "required": ["n"]},
            "candidateCount": 1,
            "maxOutputTokens": 100,
            "temperature": 0.5,
            "topP": 0.9,
            "topK": 40,
            "seed": 7,
            "presencePenalty": 0.2,
            "frequencyPenalty": 0.1
        })
    );
    assert_eq!(
        body["tools"],
        json!([{"functionDeclarations": [{"name": "get_weather", "description": "Weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]}])
    );
    assert_eq!(
        body["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}})
    );

    let choices = [
        (ToolChoice::Auto, json!({"mode": "AUTO"})),
        (ToolChoice::None, json!({"mode": "NONE"})),
        (ToolChoice::Required, json!({"mode": "ANY"})),
    ];
    for (choice, want) in choices {
        req.tool_choice = Some(choice);
        assert_eq!(encode(&req)["toolConfig"]["functionCallingConfig"], want);
    }
    // Penalties of 0 are left out.
    req.sampling.presence_penalty = Some(0.0);
    req.sampling.frequency_penalty = Some(0.0);
    let body = encode(&req);
    assert!(body["generationConfig"].get("presencePenalty").is_none());
    assert!(body["generationConfig"].get("frequencyPenalty").is_none());
    // JSON mode without a schema; no tool config without tools.
    req.response_format = Some(ResponseFormat::JsonObject);
    req.tools.clear();
    let body = encode(&req);
    assert_eq!(
        body["generationConfig"]["responseMimeType"],
        "application/json"
    );
    assert!(body["generationConfig"].get("responseSchema").is_none());
    assert!(body.get("toolConfig").is_none());
    assert!(body.get("tools").is_none());
}

#[test]
fn a_tool_without_arguments_has_no_parameters() {
    let mut req = chat(vec![Message::text(Role::User, "q")]);
    req.tools = vec![
        Tool {
            name: "now".into(),
            description: None,
            parameters: Some(json!({"type": "object", "properties": {}})),
            strict: None,
            cache_control: None,
        },
        Tool {
            name: "ping".into(),
            description: Some(String::new()),
            parameters: None,
            strict: None,
            cache_control: None,
        },
    ];
    assert_eq!(
        encode(&req)["tools"],
        json!([{"functionDeclarations": [{"name": "now"}, {"name": "ping"}]}])
    );
}

#[test]
fn thinking_maps_budget_effort_and_off() {
    let mut req = chat(vec![Message::text(Role::User, "q")]);
    let cases = [
        (
            Reasoning {
                enabled: true,
                effort: None,
                budget_tokens: Some(2000),
            },
            json!({"thinkingBudget": 2000, "includeThoughts": true}),
        ),
        (
            Reasoning {
                enabled: true,
                effort: Some("high".into()),
                budget_tokens: None,
            },
            json!({"thinkingBudget": 4096, "includeThoughts": true}),
        ),
        (
            // Claude Code's largest budget is more than Gemini Flash takes.
            Reasoning {
                enabled: true,
                effort: None,
                budget_tokens: Some(31_999),
            },
            json!({"thinkingBudget": 24576, "includeThoughts": true}),
        ),
        (
            Reasoning {
                enabled: true,
                effort: None,
                budget_tokens: None,
            },
            json!({"includeThoughts": true}),
        ),
        (
            Reasoning {
                enabled: false,
                effort: None,
                budget_tokens: None,
            },
            json!({"thinkingBudget": 0}),
        ),
        (
            Reasoning {
                enabled: true,
                effort: Some("none".into()),
                budget_tokens: None,
            },
            json!({"thinkingBudget": 0}),
        ),
    ];
    for (r, want) in cases {
        req.reasoning = Some(r);
        assert_eq!(encode(&req)["generationConfig"]["thinkingConfig"], want);
    }
}

#[test]
fn tool_round_trip_names_the_function_and_wraps_the_result() {
    let req = chat(vec![
        Message::text(Role::User, "Weather in Paris and Rome?"),
        msg(
            Role::Assistant,
            vec![
                ContentPart::text("Checking."),
                call("call_1", r#"{"city":"Paris"}"#),
                call("call_2", ""),
            ],
        ),
        msg(
            Role::User,
            vec![
                ContentPart::text("Thanks."),
                result("call_1", "11 degrees"),
                ContentPart::ToolResult {
                    cache_control: None,
                    call_id: "call_2".into(),
                    name: None,
                    content: vec![ContentPart::text(r#"{"temp": 20}"#)],
                    is_error: false,
                },
                ContentPart::ToolResult {
                    cache_control: None,
                    call_id: "call_x".into(),
                    name: Some("lookup".into()),
                    content: vec![ContentPart::text("no such city")],
                    is_error: true,
                },
            ],
        ),
    ]);
    assert_eq!(
        encode(&req)["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
            {"role": "model", "parts": [
                {"text": "Checking."},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_weather", "args": {}}}
            ]},
            // Responses first, in order; the tool's own JSON object is passed as it is.
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"result": "11 degrees"}}},
                {"functionResponse": {"name": "get_weather", "response": {"temp": 20}}},
                {"functionResponse": {"name": "lookup", "response": {"error": "no such city"}}},
                {"text": "Thanks."}
            ]}
        ])
    );
}

#[test]
fn a_result_for_an_unknown_call_is_a_400() {
    let req = chat(vec![msg(Role::User, vec![result("call_9", "x")])]);
    let err = encode_request(&req, &UpstreamOptions::new("gemini-2.5-flash"))
        .expect_err("no name to give");
    assert_eq!(err.status, 400);
    assert!(err.message.contains("call_9"), "{}", err.message);
    assert_eq!(err.param.as_deref(), Some("messages[0].content[0]"));
}

const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

#[test]
fn images_documents_and_audio_go_inline() {
    let req = chat(vec![msg(
        Role::User,
        vec![
            ContentPart::text("what is this"),
            ContentPart::Image {
                source: ImageSource::Base64 {
                    media_type: "image/png".into(),
                    data: PNG.into(),
                },
                detail: Some("high".into()),
                cache_control: None,
            },
            ContentPart::Image {
                source: ImageSource::Url(format!("data:image/jpg;base64,{PNG}")),
                detail: None,
                cache_control: None,
            },
            ContentPart::File {
                media_type: None,
                data: Some("JVBERi0=".into()),
                file_id: None,
                filename: Some("a.pdf".into()),
                cache_control: None,
            },
            ContentPart::Audio {
                format: "wav".into(),
                data: "UklGRg==".into(),
            },
        ],
    )]);
    assert_eq!(
        encode(&req)["contents"][0]["parts"],
        json!([
            {"text": "what is this"},
            {"inlineData": {"mimeType": "image/png", "data": PNG}},
            {"inlineData": {"mimeType": "image/jpeg", "data": PNG}},
            {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
            {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}}
        ])
    );
    let url = chat(vec![msg(
        Role::User,
        vec![ContentPart::Image {
            source: ImageSource::Url("https://example.com/cat.png".into()),
            detail: None,
            cache_control: None,
        }],
    )]);
    let err = encode_request(&url, &UpstreamOptions::new("gemini-2.5-flash"))
        .expect_err("URLs must be inlined first");
    assert_eq!(err.param.as_deref(), Some("messages[0].content[0]"));
}

#[test]
fn gemini_signatures_go_back_on_their_parts_and_foreign_ones_never() {
    let req = chat(vec![
        Message::text(Role::User, "q"),
        msg(
            Role::Assistant,
            vec![
                // A signed thought, an unsigned one, Anthropic's, then a call's signature.
                reasoning("I should look.", Some(gemini_thought("c2lnMQ=="))),
                reasoning("unsigned", None),
                reasoning("claude thinking", Some("EqQBanthropic".into())),
                reasoning("merged thought text", Some(gemini_part("c2lnMg=="))),
                call("call_1", r#"{"city":"Paris"}"#),
                reasoning("", Some(gemini_part("c2lnMw=="))),
                ContentPart::text("Done."),
                ContentPart::RedactedReasoning { data: "x".into() },
            ],
        ),
        msg(Role::User, vec![result("call_1", "11")]),
    ]);
    assert_eq!(
        encode(&req)["contents"][1]["parts"],
        json!([
            {"text": "I should look.", "thought": true, "thoughtSignature": "c2lnMQ=="},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnMg=="},
            {"text": "Done.", "thoughtSignature": "c2lnMw=="}
        ])
    );
}

#[test]
fn models_that_validate_signatures_get_the_skip_value_in_the_running_loop() {
    let history = |sig: Option<String>| {
        let mut first = vec![call("call_0", "{}")];
        if let Some(s) = sig.clone() {
            first.insert(0, reasoning("", Some(s)));
        }
        chat(vec![
            Message::text(Role::User, "old question"),
            msg(Role::Assistant, vec![call("call_old", "{}")]),
            msg(Role::User, vec![result("call_old", "old")]),
            Message::text(Role::User, "new question"),
            msg(Role::Assistant, first),
            msg(Role::User, vec![result("call_0", "a")]),
            msg(
                Role::Assistant,
                vec![
                    ContentPart::text("Next."),
                    call("call_1", "{}"),
                    call("call_2", "{}"),
                ],
            ),
            msg(
                Role::User,
                vec![result("call_1", "b"), result("call_2", "c")],
            ),
        ])
    };
    let body = encode_for("gemini-3-pro-preview", &history(None));
    let c = &body["contents"];
    // Before the last real user turn: left alone.
    assert!(c[1]["parts"][0].get("thoughtSignature").is_none(), "{c}");
    assert_eq!(c[3]["parts"][0]["thoughtSignature"], SKIP_SIGNATURE);
    // Only the first call of a step needs one.
    assert!(c[5]["parts"][0].get("thoughtSignature").is_none(), "{c}");
    assert_eq!(c[5]["parts"][1]["thoughtSignature"], SKIP_SIGNATURE);
    assert!(c[5]["parts"][2].get("thoughtSignature").is_none(), "{c}");
    // A real signature is never replaced.
    let body = encode_for(
        "gemini-3-pro-preview",
        &history(Some(gemini_part("cmVhbA=="))),
    );
    assert_eq!(
        body["contents"][3]["parts"][0]["thoughtSignature"],
        "cmVhbA=="
    );
    // Gemini 2.x does not validate: nothing is added.
    let body = encode_for("gemini-2.5-pro", &history(None));
    assert!(!body.to_string().contains(SKIP_SIGNATURE));
}

#[test]
fn count_tokens_wraps_the_request_with_its_model() {
    let mut req = chat(vec![
        Message::text(Role::System, "sys"),
        Message::text(Role::User, "hi"),
    ]);
    req.sampling.max_tokens = Some(5);
    let body = value(
        &encode_count_tokens_request(&req, &UpstreamOptions::new("gemini-2.5-flash"))
            .expect("encodes"),
    );
    assert_eq!(
        body,
        json!({"generateContentRequest": {
            "model": "models/gemini-2.5-flash",
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "systemInstruction": {"parts": [{"text": "sys"}]}
        }})
    );
}
