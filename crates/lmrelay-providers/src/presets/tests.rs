//! Every preset, table-driven: the request goes to the preset's path with its auth header
//! and quirks applied, and the vendor's reasoning field reaches the canonical response.

use super::*;
use crate::{Adapter, Dialect, OpenAiAdapter, Target};
use http::HeaderMap;
use lmrelay_ir::{ContentPart, StreamEvent};
use serde_json::{json, Value};

/// A client request that carries every field some preset rejects or respells.
fn client_request() -> lmrelay_ir::ChatRequest {
    let body = json!({
        "model": "m",
        "messages": [
            {"role": "user", "content": "weather?", "name": "ann"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_Zx81ab_very_long_id", "type": "function",
                 "function": {"name": "get", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_Zx81ab_very_long_id", "content": "sunny"}
        ],
        "tools": [{"type": "function", "function": {"name": "get", "parameters": {"type": "object"}}}],
        "tool_choice": "required",
        "parallel_tool_calls": false,
        "seed": 7,
        "n": 1,
        "max_tokens": 64,
        "frequency_penalty": 0.5,
        "presence_penalty": 0.5,
        "logprobs": true,
        "top_logprobs": 2,
        "logit_bias": {"50256": -100},
        "service_tier": "auto"
    });
    lmrelay_protocol::openai::decode_request(body.to_string().as_bytes()).expect("decodes")
}

fn base_url(p: &Preset) -> String {
    match p.base_url {
        "" => "http://127.0.0.1:9999/v1".to_owned(),
        u => u.replace("{account_id}", "acct123"),
    }
}

fn target<'a>(
    p: &'static Preset,
    base: &'a str,
    headers: &'a HeaderMap,
    extra: &'a [(String, String)],
) -> Target<'a> {
    Target {
        base_url: base,
        model: "vendor/model",
        api_key: p.needs_key.then_some("sk-test"),
        default_max_tokens: 4096,
        preset: Some(p),
        client: Dialect::OpenAi,
        client_headers: headers,
        allowed_betas: &[],
        aws_region: None,
        headers: extra,
        now_unix_ms: 0,
    }
}

fn body(req: &crate::UpstreamRequest) -> Value {
    serde_json::from_slice(req.body()).expect("json body")
}

#[test]
fn presets_send_to_their_path_with_auth_and_quirks() {
    let none = HeaderMap::new();
    for p in PRESETS {
        let base = base_url(p);
        let req = OpenAiAdapter
            .chat_request(&client_request(), &target(p, &base, &none, &[]))
            .expect("builds");
        let name = p.name;
        assert_eq!(
            req.uri().to_string(),
            format!("{base}/chat/completions"),
            "{name}"
        );
        assert!(
            !req.uri().to_string().contains('{'),
            "{name}: URL template left"
        );
        let auth = req
            .headers()
            .get("authorization")
            .map(|v| v.to_str().expect("present"));
        if p.needs_key {
            assert_eq!(auth, Some("Bearer sk-test"), "{name}");
        } else {
            assert_eq!(auth, None, "{name}: local servers go without a key");
        }
        for (k, v) in p.headers {
            assert_eq!(req.headers()[*k], *v, "{name}: default header {k}");
        }

        let b = body(&req);
        assert_eq!(b["model"], "vendor/model", "{name}");
        // Every preset is an OpenAI-compatible server: `max_tokens`, never the new spelling.
        assert_eq!(b["max_tokens"], 64, "{name}");
        assert!(b.get("max_completion_tokens").is_none(), "{name}");
        for field in p.drops {
            assert!(b.get(*field).is_none(), "{name}: `{field}` must be dropped");
        }
        for kept in [
            "logprobs",
            "logit_bias",
            "frequency_penalty",
            "parallel_tool_calls",
        ] {
            if !p.drops.contains(&kept) {
                assert!(b.get(kept).is_some(), "{name}: `{kept}` must be kept");
            }
        }
        for (from, to) in p.renames {
            assert!(b.get(*from).is_none(), "{name}: `{from}` renamed");
            assert!(b.get(*to).is_some(), "{name}: `{to}` sent");
        }
        if p.renames.is_empty() {
            assert_eq!(b["seed"], 7, "{name}");
        }
        let choice = p.required_tool_choice.unwrap_or("required");
        assert_eq!(b["tool_choice"], choice, "{name}");
        let user = &b["messages"][0];
        assert_eq!(user.get("name").is_none(), p.strip_message_names, "{name}");

        let call_id = b["messages"][1]["tool_calls"][0]["id"]
            .as_str()
            .expect("present");
        let result_id = b["messages"][2]["tool_call_id"].as_str().expect("present");
        assert_eq!(
            call_id, result_id,
            "{name}: a call and its result must match"
        );
        match p.tool_call_ids {
            ToolCallIds::Any => assert_eq!(call_id, "call_Zx81ab_very_long_id", "{name}"),
            ToolCallIds::Alnum9 => {
                assert_eq!(call_id.len(), 9, "{name}");
                assert!(call_id.bytes().all(|c| c.is_ascii_alphanumeric()), "{name}");
            }
        }
    }
}

#[test]
fn presets_listed_in_the_issue_exist_with_documented_quirks() {
    let p = |n| preset_named(n).unwrap_or_else(|| panic!("{n} missing"));
    assert!(p("groq").drops.contains(&"logprobs") && p("groq").drops.contains(&"n"));
    assert!(p("cerebras").drops.contains(&"logit_bias"));
    assert_eq!(p("mistral").tool_call_ids, ToolCallIds::Alnum9);
    assert_eq!(p("deepseek").reasoning_field, Some("reasoning_content"));
    assert_eq!(p("openrouter").reasoning_field, Some("reasoning"));
    assert!(p("openrouter").headers.iter().any(|(k, _)| *k == "x-title"));
    for local in ["vllm", "lmstudio", "llamacpp"] {
        assert!(!p(local).needs_key && p(local).env_key.is_none(), "{local}");
        assert!(
            p(local).base_url.starts_with("http://127.0.0.1:"),
            "{local}"
        );
    }
    assert!(p("cloudflare")
        .base_url
        .contains("/accounts/{account_id}/ai/v1"));
    for name in ["nvidia", "huggingface", "xai", "together", "fireworks"] {
        assert!(p(name).base_url.starts_with("https://"), "{name}");
    }
}

#[test]
fn configured_headers_override_preset_defaults() {
    let none = HeaderMap::new();
    let p = preset_named("openrouter").expect("present");
    let extra = vec![
        ("x-title".to_owned(), "My App".to_owned()),
        ("http-referer".to_owned(), "https://example.org".to_owned()),
    ];
    let req = OpenAiAdapter
        .chat_request(&client_request(), &target(p, p.base_url, &none, &extra))
        .expect("present");
    assert_eq!(req.headers()["x-title"], "My App");
    assert_eq!(req.headers()["http-referer"], "https://example.org");
    assert_eq!(req.headers().get_all("x-title").iter().count(), 1);
    assert_eq!(req.headers()["authorization"], "Bearer sk-test");
}

#[test]
fn mistral_ids_are_deterministic_and_keep_valid_ones() {
    let a = tool_call_id(ToolCallIds::Alnum9, "toolu_01A09q90qw90lq917835lq9");
    let b = tool_call_id(ToolCallIds::Alnum9, "toolu_01A09q90qw90lq917835lq9");
    let c = tool_call_id(ToolCallIds::Alnum9, "toolu_01A09q90qw90lq917835lq8");
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(tool_call_id(ToolCallIds::Alnum9, "D681PevKs"), "D681PevKs");
    assert_eq!(tool_call_id(ToolCallIds::Any, "call_x"), "call_x");
}

/// DeepSeek's `reasoning_content` and OpenRouter's (and vLLM's) `reasoning` reach the
/// canonical response, answered whole and streamed.
#[test]
fn presets_reasoning_field_reaches_the_canonical_response() {
    for p in PRESETS {
        let Some(field) = p.reasoning_field else {
            continue;
        };
        let name = p.name;
        let answer = json!({
            "id": "x", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": "4", field: "2+2 is 4"}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
        });
        let resp = OpenAiAdapter
            .chat_response(answer.to_string().as_bytes())
            .expect("decodes");
        let reasoning: String = resp
            .content
            .iter()
            .filter_map(|c| match c {
                ContentPart::Reasoning { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(reasoning, "2+2 is 4", "{name}: answer `{field}`");

        let chunk = json!({"id": "x", "model": "m",
            "choices": [{"index": 0, "delta": {field: "thinking"}, "finish_reason": null}]});
        let stream = format!(
            "data: {chunk}\n\ndata: {}\n\ndata: [DONE]\n\n",
            json!({"id": "x", "model": "m",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        );
        let mut decoder = OpenAiAdapter.stream_decoder();
        let mut events = Vec::new();
        decoder.feed(stream.as_bytes(), &mut events);
        decoder.finish(&mut events);
        assert!(
            events.contains(&StreamEvent::ReasoningDelta("thinking".into())),
            "{name}: delta `{field}` in {events:?}"
        );
    }
}
