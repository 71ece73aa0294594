//! `/api/chat` requests in both directions: an Ollama client's body to a [`ChatRequest`]
//! (`decode_request`), and a [`ChatRequest`] to an Ollama upstream's body (`encode_request`).
//!
//! Ollama keeps tool results in separate `tool` messages that name the tool (`tool_name`)
//! and only sometimes the call (`tool_call_id`); the canonical form keeps them as
//! `ToolResult` parts of a user message, with the call id. The two directions recover what
//! the other side lacks from the earlier assistant calls.

use super::options::{self, PASSTHROUGH_KEYS};
use super::wire::{ChatBody, WireMessage, WireTool, WireToolCall};
use crate::{json, tools, UpstreamOptions};
use lmrelay_ir::{
    ApiError, ChatRequest, ContentPart, ImageSource, Message, Role, Tool, ToolChoice,
};
use serde_json::{json, Map, Value};

/// Decodes an Ollama client's `/api/chat` body. `stream` defaults to true.
pub fn decode_request(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let body: ChatBody = json::decode_body(body)?;
    if body.model.trim().is_empty() {
        return Err(ApiError::invalid("model is required").with_param("model"));
    }
    let decoded = options::decode(body.knobs)?;
    Ok(ChatRequest {
        model: body.model,
        messages: decode_messages(body.messages.unwrap_or_default())?,
        tools: body
            .tools
            .unwrap_or_default()
            .into_iter()
            .map(decode_tool)
            .collect(),
        sampling: decoded.sampling,
        response_format: decoded.response_format,
        reasoning: decoded.reasoning,
        stream: body.stream.unwrap_or(true),
        extra: decoded.extra,
        ..ChatRequest::default()
    })
}

fn decode_tool(t: WireTool) -> Tool {
    Tool {
        name: t.function.name,
        description: t.function.description,
        parameters: t.function.parameters.filter(|p| !p.is_null()),
        strict: None,
        cache_control: None,
    }
}

/// Ollama images (base64 without a prefix) as image parts, media type sniffed.
pub(super) fn image_parts(images: Option<Vec<String>>) -> impl Iterator<Item = ContentPart> {
    images
        .unwrap_or_default()
        .into_iter()
        .filter(|d| !d.is_empty())
        .map(|data| {
            // Some clients send data URLs despite the docs; accept them too.
            let source = match tools::parse_data_url(&data) {
                Some((mime, b64)) if !mime.is_empty() => ImageSource::Base64 {
                    media_type: mime,
                    data: b64,
                },
                Some((_, b64)) => ImageSource::Base64 {
                    media_type: tools::sniff_image_type(&b64).to_owned(),
                    data: b64,
                },
                None => ImageSource::Base64 {
                    media_type: tools::sniff_image_type(&data).to_owned(),
                    data,
                },
            };
            ContentPart::Image {
                cache_control: None,
                source,
                detail: None,
            }
        })
}

/// A tool call the conversation has made, for recovering ids of `tool` messages.
struct Call {
    id: String,
    name: String,
    answered: bool,
}

fn decode_messages(wire: Vec<WireMessage>) -> Result<Vec<Message>, ApiError> {
    let mut out: Vec<Message> = Vec::with_capacity(wire.len());
    let mut calls: Vec<Call> = Vec::new();
    for (i, m) in wire.into_iter().enumerate() {
        let role = m.role.as_deref().unwrap_or("");
        match role {
            "system" | "developer" | "user" => {
                let mut parts = Vec::new();
                if let Some(text) = m.content.filter(|t| !t.is_empty()) {
                    parts.push(ContentPart::text(text));
                }
                parts.extend(image_parts(m.images));
                let role = match role {
                    "user" => Role::User,
                    "developer" => Role::Developer,
                    _ => Role::System,
                };
                match out.last_mut() {
                    // Text after tool results joins their user message (results first).
                    Some(prev) if role == Role::User && is_results_only(prev) => {
                        prev.content.extend(parts)
                    }
                    _ => out.push(Message {
                        role,
                        content: parts,
                        name: None,
                    }),
                }
            }
            "assistant" => {
                let mut parts = Vec::new();
                if let Some(thinking) = m.thinking.filter(|t| !t.is_empty()) {
                    parts.push(ContentPart::Reasoning {
                        text: thinking,
                        signature: None,
                    });
                }
                if let Some(text) = m.content.filter(|t| !t.is_empty()) {
                    parts.push(ContentPart::text(text));
                }
                parts.extend(image_parts(m.images));
                for call in m.tool_calls.unwrap_or_default() {
                    let part = decode_call(call, 8);
                    if let ContentPart::ToolCall { id, name, .. } = &part {
                        calls.push(Call {
                            id: id.clone(),
                            name: name.clone(),
                            answered: false,
                        });
                    }
                    parts.push(part);
                }
                out.push(Message {
                    role: Role::Assistant,
                    content: parts,
                    name: None,
                });
            }
            "tool" => {
                let name = m.tool_name.filter(|n| !n.is_empty());
                let call_id = recover_call_id(&mut calls, m.tool_call_id, name.as_deref());
                let mut content = Vec::new();
                if let Some(text) = m.content.filter(|t| !t.is_empty()) {
                    content.push(ContentPart::text(text));
                }
                content.extend(image_parts(m.images));
                let part = ContentPart::ToolResult {
                    cache_control: None,
                    call_id,
                    name,
                    content,
                    is_error: false,
                };
                match out.last_mut() {
                    Some(prev) if is_results_only(prev) => prev.content.push(part),
                    _ => out.push(Message {
                        role: Role::User,
                        content: vec![part],
                        name: None,
                    }),
                }
            }
            other => {
                return Err(ApiError::invalid(format!(
                    "Unknown message role `{other}`; use system, user, assistant or tool."
                ))
                .with_param(format!("messages[{i}].role")))
            }
        }
    }
    Ok(out)
}

/// A user message made only of tool results (so far).
fn is_results_only(m: &Message) -> bool {
    m.role == Role::User
        && !m.content.is_empty()
        && m.content
            .iter()
            .all(|p| matches!(p, ContentPart::ToolResult { .. }))
}

/// The call a `tool` message answers: its own `tool_call_id`, else the oldest unanswered
/// call with that tool name (so parallel calls of one tool pair up in order), else the most
/// recent call with that name, else a fresh id.
fn recover_call_id(calls: &mut [Call], given: Option<String>, name: Option<&str>) -> String {
    if let Some(id) = given.filter(|id| !id.is_empty()) {
        if let Some(c) = calls.iter_mut().find(|c| c.id == id) {
            c.answered = true;
        }
        return id;
    }
    let matches = |c: &Call| name.is_none_or(|n| c.name == n);
    if let Some(c) = calls.iter_mut().find(|c| !c.answered && matches(c)) {
        c.answered = true;
        return c.id.clone();
    }
    if let Some(c) = calls.iter().rev().find(|c| matches(c)) {
        return c.id.clone();
    }
    tools::random_id("call_", 8)
}

/// An Ollama tool call as a canonical one: arguments object → JSON text (key order kept),
/// a missing id generated as `call_` + `id_len` alphanumerics.
pub(super) fn decode_call(call: WireToolCall, id_len: usize) -> ContentPart {
    ContentPart::ToolCall {
        cache_control: None,
        id: call
            .id
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| tools::random_id("call_", id_len)),
        name: call.function.name.unwrap_or_default(),
        arguments: json::object_to_arguments(&call.function.arguments.unwrap_or(Value::Null)),
    }
}

// === upstream side ===

/// Encodes a canonical request as an Ollama upstream's `/api/chat` body.
pub fn encode_request(req: &ChatRequest, opts: &UpstreamOptions) -> Result<Vec<u8>, ApiError> {
    let mut body = Map::new();
    body.insert("model".into(), Value::from(opts.model.as_str()));
    body.insert(
        "messages".into(),
        Value::Array(encode_messages(&req.messages)?),
    );
    if !req.tools.is_empty() && req.tool_choice != Some(ToolChoice::None) {
        // Ollama has no tool_choice: a named choice is honoured by offering only that tool.
        let tools = match &req.tool_choice {
            Some(ToolChoice::Named(name)) if req.tools.iter().any(|t| &t.name == name) => req
                .tools
                .iter()
                .filter(|t| &t.name == name)
                .map(encode_tool)
                .collect(),
            _ => req.tools.iter().map(encode_tool).collect(),
        };
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(format) = options::encode_format(req.response_format.as_ref()) {
        body.insert("format".into(), format);
    }
    let opts_map = options::encode_options(&req.sampling, &req.extra);
    if !opts_map.is_empty() {
        body.insert("options".into(), Value::Object(opts_map));
    }
    body.insert("stream".into(), Value::Bool(req.stream));
    if let Some(think) = options::encode_think(req.reasoning.as_ref()) {
        body.insert("think".into(), think);
    }
    for key in PASSTHROUGH_KEYS {
        if let Some(v) = req.extra.get(*key) {
            body.insert((*key).into(), v.clone());
        }
    }
    Ok(json::to_vec(&Value::Object(body)))
}

fn encode_tool(t: &Tool) -> Value {
    let mut function = Map::new();
    function.insert("name".into(), Value::from(t.name.as_str()));
    if let Some(d) = &t.description {
        function.insert("description".into(), Value::from(d.as_str()));
    }
    let parameters = match &t.parameters {
        Some(p) if !p.is_null() => p.clone(),
        _ => json!({"type": "object", "properties": {}}),
    };
    function.insert("parameters".into(), parameters);
    json!({"type": "function", "function": Value::Object(function)})
}

fn encode_messages(messages: &[Message]) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        match m.role {
            Role::System | Role::Developer => {
                out.push(json!({"role": "system", "content": tools::flatten_text(&m.content)}));
            }
            Role::User => {
                let mut text = String::new();
                let mut images = Vec::new();
                for part in &m.content {
                    match part {
                        ContentPart::Text { text: t, .. } => tools::append_text(&mut text, t),
                        ContentPart::Image { source, .. } => images.push(inline_image(source)?),
                        ContentPart::ToolResult {
                            call_id,
                            name,
                            content,
                            is_error,
                            ..
                        } => out.push(encode_result(
                            &messages[..i],
                            call_id,
                            name.as_deref(),
                            content,
                            *is_error,
                        )?),
                        ContentPart::File { .. } => return Err(unsupported("documents (files)")),
                        ContentPart::Audio { .. } => return Err(unsupported("audio input")),
                        ContentPart::ToolCall { .. }
                        | ContentPart::Reasoning { .. }
                        | ContentPart::RedactedReasoning { .. } => {}
                    }
                }
                if !text.is_empty() || !images.is_empty() {
                    let mut msg = Map::new();
                    msg.insert("role".into(), Value::from("user"));
                    msg.insert("content".into(), Value::from(text));
                    if !images.is_empty() {
                        msg.insert("images".into(), Value::Array(images));
                    }
                    out.push(Value::Object(msg));
                }
            }
            Role::Assistant => out.push(encode_assistant(m)?),
        }
    }
    Ok(out)
}

fn encode_assistant(m: &Message) -> Result<Value, ApiError> {
    let mut text = String::new();
    let mut thinking = String::new();
    let mut images = Vec::new();
    let mut calls = Vec::new();
    for part in &m.content {
        match part {
            ContentPart::Text { text: t, .. } => tools::append_text(&mut text, t),
            ContentPart::Reasoning { text: t, .. } => thinking.push_str(t),
            ContentPart::Image { source, .. } => images.push(inline_image(source)?),
            ContentPart::ToolCall {
                id,
                name,
                arguments,
                ..
            } => {
                let mut call = Map::new();
                if !id.is_empty() {
                    call.insert("id".into(), Value::from(id.as_str()));
                }
                call.insert(
                    "function".into(),
                    json!({
                        "index": calls.len(),
                        "name": name,
                        "arguments": json::arguments_to_object(arguments),
                    }),
                );
                calls.push(Value::Object(call));
            }
            ContentPart::File { .. } => return Err(unsupported("documents (files)")),
            ContentPart::Audio { .. } => return Err(unsupported("audio input")),
            ContentPart::ToolResult { .. } | ContentPart::RedactedReasoning { .. } => {}
        }
    }
    let mut msg = Map::new();
    msg.insert("role".into(), Value::from("assistant"));
    msg.insert("content".into(), Value::from(text));
    if !thinking.is_empty() {
        msg.insert("thinking".into(), Value::from(thinking));
    }
    if !images.is_empty() {
        msg.insert("images".into(), Value::Array(images));
    }
    if !calls.is_empty() {
        msg.insert("tool_calls".into(), Value::Array(calls));
    }
    Ok(Value::Object(msg))
}

/// One `tool` message. The tool's name comes from the result, else from the earlier call.
fn encode_result(
    earlier: &[Message],
    call_id: &str,
    name: Option<&str>,
    content: &[ContentPart],
    is_error: bool,
) -> Result<Value, ApiError> {
    let mut text = String::new();
    let mut images = Vec::new();
    for part in content {
        match part {
            ContentPart::Text { text: t, .. } => tools::append_text(&mut text, t),
            ContentPart::Image { source, .. } => images.push(inline_image(source)?),
            _ => {}
        }
    }
    if is_error {
        text = format!("Error: {text}");
    }
    let mut msg = Map::new();
    msg.insert("role".into(), Value::from("tool"));
    msg.insert("content".into(), Value::from(text));
    if !images.is_empty() {
        msg.insert("images".into(), Value::Array(images));
    }
    let name = name
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .or_else(|| tools::tool_name_for(earlier, call_id));
    if let Some(name) = name {
        msg.insert("tool_name".into(), Value::from(name));
    }
    if !call_id.is_empty() {
        msg.insert("tool_call_id".into(), Value::from(call_id));
    }
    Ok(Value::Object(msg))
}

/// Ollama takes base64 without a prefix; remote URLs must be downloaded by the gateway first.
fn inline_image(source: &ImageSource) -> Result<Value, ApiError> {
    match source {
        ImageSource::Base64 { data, .. } => Ok(Value::from(data.as_str())),
        ImageSource::Url(url) => match tools::parse_data_url(url) {
            Some((_, data)) => Ok(Value::from(data)),
            None => Err(ApiError::invalid(
                "Ollama upstreams need inline base64 images; image URLs are not supported here.",
            )),
        },
    }
}

fn unsupported(what: &str) -> ApiError {
    ApiError::invalid(format!("Ollama upstreams do not support {what}."))
}
