//! Canonical requests as Cohere v2 `chat` and `embed` bodies.

use crate::stream::UpstreamOptions;
use crate::{json, tools};
use lmrelay_ir::{
    ApiError, ChatRequest, ContentPart, EmbedInput, EmbedRequest, Message, ResponseFormat, Role,
    ToolChoice,
};
use serde_json::{json, Map, Value};

/// Encodes a `POST /v2/chat` body.
pub fn encode_request(req: &ChatRequest, opts: &UpstreamOptions) -> Result<Vec<u8>, ApiError> {
    let mut body = Map::new();
    body.insert("model".into(), json!(opts.model));
    let mut messages = Vec::new();
    for m in &req.messages {
        encode_message(m, &mut messages)?;
    }
    if messages.is_empty() {
        return Err(ApiError::invalid(
            "Cohere needs at least one message with content.",
        ));
    }
    body.insert("messages".into(), Value::Array(messages));
    let named = match &req.tool_choice {
        Some(ToolChoice::Named(name)) => Some(name.as_str()),
        _ => None,
    };
    let tools: Vec<Value> = req
        .tools
        .iter()
        .filter(|t| named.is_none_or(|n| n == t.name))
        .map(|t| {
            let mut function = Map::new();
            function.insert("name".into(), json!(t.name));
            if let Some(d) = &t.description {
                function.insert("description".into(), json!(d));
            }
            function.insert(
                "parameters".into(),
                t.parameters
                    .clone()
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            );
            json!({"type": "function", "function": function})
        })
        .collect();
    let has_tools = !tools.is_empty();
    if has_tools {
        body.insert("tools".into(), Value::Array(tools));
        if req.tools.iter().any(|t| t.strict == Some(true)) {
            body.insert("strict_tools".into(), json!(true));
        }
    }
    // Cohere knows only REQUIRED and NONE (auto is the absence); a named choice is
    // REQUIRED over that one tool.
    match &req.tool_choice {
        Some(ToolChoice::Required | ToolChoice::Named(_)) if has_tools => {
            body.insert("tool_choice".into(), json!("REQUIRED"));
        }
        Some(ToolChoice::None) if has_tools => {
            body.insert("tool_choice".into(), json!("NONE"));
        }
        _ => {}
    }
    match &req.response_format {
        Some(ResponseFormat::JsonObject) => {
            body.insert("response_format".into(), json!({"type": "json_object"}));
        }
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            body.insert(
                "response_format".into(),
                json!({"type": "json_object", "json_schema": schema}),
            );
        }
        Some(ResponseFormat::Text) | None => {}
    }
    let s = &req.sampling;
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            body.insert(k.into(), v);
        }
    };
    put("max_tokens", s.max_tokens.map(|v| json!(v)));
    put(
        "stop_sequences",
        (!s.stop.is_empty()).then(|| json!(s.stop)),
    );
    put("temperature", s.temperature.map(|v| json!(v)));
    // Cohere takes `p` only within 0.01–0.99 (OpenAI clients send up to 1.0).
    put("p", s.top_p.map(|v| json!(v.clamp(0.01, 0.99))));
    put("k", s.top_k.map(|v| json!(v)));
    put("seed", s.seed.map(|v| json!(v)));
    put("frequency_penalty", s.frequency_penalty.map(|v| json!(v)));
    put("presence_penalty", s.presence_penalty.map(|v| json!(v)));
    if let Some(r) = &req.reasoning {
        let thinking = if r.enabled {
            let mut t = json!({"type": "enabled"});
            if let Some(b) = r.budget_tokens {
                t["token_budget"] = json!(b);
            }
            t
        } else {
            json!({"type": "disabled"})
        };
        body.insert("thinking".into(), thinking);
    }
    if req.stream {
        body.insert("stream".into(), json!(true));
    }
    Ok(json::to_vec(&Value::Object(body)))
}

/// Appends the Cohere messages of one canonical message.
fn encode_message(m: &Message, out: &mut Vec<Value>) -> Result<(), ApiError> {
    match m.role {
        Role::System | Role::Developer => {
            let text = tools::flatten_text(&m.content);
            if !text.is_empty() {
                out.push(json!({"role": "system", "content": text}));
            }
        }
        Role::User => {
            let mut parts = Vec::new();
            for p in &m.content {
                match p {
                    ContentPart::ToolResult {
                        call_id,
                        content,
                        is_error,
                        ..
                    } => {
                        let mut text = tools::flatten_text(content);
                        if *is_error && !text.starts_with("Error") {
                            text = format!("Error: {text}");
                        }
                        if text.is_empty() {
                            text = "(empty)".into();
                        }
                        out.push(json!({
                            "role": "tool",
                            "tool_call_id": call_id,
                            "content": [{"type": "text", "text": text}],
                        }));
                    }
                    ContentPart::Text { text, .. } => {
                        parts.push(json!({"type": "text", "text": text}));
                    }
                    ContentPart::Image { source, .. } => parts.push(json!({
                        "type": "image_url",
                        "image_url": {"url": tools::image_url(source)},
                    })),
                    ContentPart::File { .. } | ContentPart::Audio { .. } => {
                        return Err(ApiError::invalid(
                            "Cohere takes text and images only; files and audio cannot be sent.",
                        ));
                    }
                    _ => {}
                }
            }
            if !parts.is_empty() {
                out.push(json!({"role": "user", "content": parts}));
            }
        }
        Role::Assistant => {
            let mut text = String::new();
            let mut plan = String::new();
            let mut calls = Vec::new();
            for p in &m.content {
                match p {
                    ContentPart::Text { text: t, .. } => text.push_str(t),
                    ContentPart::Reasoning { text: t, .. } => plan.push_str(t),
                    ContentPart::ToolCall {
                        id,
                        name,
                        arguments,
                        ..
                    } => calls.push(json!({
                        "id": id,
                        "type": "function",
                        "function": {
                            "name": name,
                            "arguments": if arguments.trim().is_empty() { "{}" } else { arguments },
                        },
                    })),
                    _ => {}
                }
            }
            if text.is_empty() && calls.is_empty() {
                return Ok(());
            }
            let mut msg = json!({"role": "assistant"});
            if !text.is_empty() {
                msg["content"] = json!([{"type": "text", "text": text}]);
            }
            if !calls.is_empty() {
                if !plan.is_empty() {
                    msg["tool_plan"] = json!(plan);
                }
                msg["tool_calls"] = Value::Array(calls);
            }
            out.push(msg);
        }
    }
    Ok(())
}

/// Encodes a `POST /v2/embed` body. Cohere embeds text only (not token ids); documents are
/// the default input type, since an OpenAI or Ollama client cannot say which it means.
pub fn encode_embed_request(req: &EmbedRequest, model: &str) -> Result<Vec<u8>, ApiError> {
    let EmbedInput::Texts(texts) = &req.input else {
        return Err(ApiError::invalid(
            "Cohere embeds text only; send `input` as strings, not token ids.",
        ));
    };
    let mut body = json!({
        "model": model,
        "texts": texts,
        "input_type": "search_document",
        "embedding_types": ["float"],
    });
    if let Some(d) = req.dimensions {
        body["output_dimension"] = json!(d);
    }
    if let Some(t) = req.truncate {
        body["truncate"] = json!(if t { "END" } else { "NONE" });
    }
    Ok(json::to_vec(&body))
}
