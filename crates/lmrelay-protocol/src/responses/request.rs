//! Decoding what Responses clients send (`POST /v1/responses`) into a canonical request.
//!
//! lmrelay keeps no responses, so `previous_response_id` and `item_reference` are refused with
//! a 400; so are built-in tools (file search, computer use, code interpreter, …), which no
//! upstream reachable through the canonical types can run. Web search is dropped, and a
//! `namespace` tool's functions are flattened to `{namespace}__{name}`.

use super::wire::{
    Content, Input, InputItem, Part, TextConfig, TextFormat, WireReasoning, WireTool,
    WireToolChoice,
};
use crate::json::decode_body;
use crate::tools::{image_source_from_url, parse_data_url, tool_name_for};
use lmrelay_ir::{
    ApiError, ChatRequest, ContentPart, Extra, Message, Reasoning, ResponseFormat, Role, Sampling,
    Tool, ToolChoice,
};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct WireRequest {
    model: String,
    input: Option<Input>,
    instructions: Option<String>,
    #[serde(default)]
    tools: Vec<WireTool>,
    tool_choice: Option<WireToolChoice>,
    parallel_tool_calls: Option<bool>,
    reasoning: Option<WireReasoning>,
    text: Option<TextConfig>,
    max_output_tokens: Option<u32>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    stream: Option<bool>,
    previous_response_id: Option<String>,
    user: Option<String>,
    /// Read so it is not passed on: lmrelay asks upstreams with `store:false` itself.
    #[serde(default, rename = "store")]
    _store: Option<bool>,
    /// Read so it is not passed on: the upstream encoder asks for what it needs.
    #[serde(default, rename = "include")]
    _include: Option<Value>,
    #[serde(default, rename = "stream_options")]
    _stream_options: Option<Value>,
    /// `metadata`, `truncation`, `prompt_cache_key`, `service_tier`, … reach only an OpenAI
    /// Responses upstream.
    #[serde(flatten)]
    extra: Extra,
}

/// Built-in tool kinds, named in the 400 lmrelay gives for them.
const HOSTED: &[&str] = &[
    "file_search",
    "computer",
    "computer_use_preview",
    "code_interpreter",
    "image_generation",
    "mcp",
    "local_shell",
    "shell",
    "apply_patch",
];

/// Decodes a `POST /v1/responses` body.
pub fn decode_request(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let w: WireRequest = decode_body(body)?;
    if let Some(id) = &w.previous_response_id {
        return Err(ApiError::invalid(format!(
            "`previous_response_id` ({id}) needs a stored response, and lmrelay does not keep \
             responses; send the whole conversation in `input` instead."
        ))
        .with_param("previous_response_id")
        .with_code("previous_response_not_supported"));
    }
    let mut messages = Vec::new();
    if let Some(text) = w.instructions.filter(|t| !t.is_empty()) {
        messages.push(Message::text(Role::System, text));
    }
    match w.input {
        Some(Input::Text(text)) => messages.push(Message::text(Role::User, text)),
        Some(Input::Items(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                decode_item(i, item, &mut messages)?;
            }
        }
        None => {}
    }
    if !messages.iter().any(|m| !m.is_system()) {
        return Err(
            ApiError::invalid("`input` must hold at least one message or item.")
                .with_param("input"),
        );
    }
    let mut tools = Vec::with_capacity(w.tools.len());
    let mut tool_namespaces = Vec::new();
    for (i, t) in w.tools.into_iter().enumerate() {
        decode_tool(i, t, &mut tools, &mut tool_namespaces)?;
    }
    let reasoning = w.reasoning.and_then(|r| r.effort).map(|effort| Reasoning {
        enabled: effort != "none",
        effort: Some(effort),
        budget_tokens: None,
    });
    Ok(ChatRequest {
        model: w.model,
        messages,
        tools,
        tool_choice: w.tool_choice.map(decode_tool_choice).transpose()?,
        parallel_tool_calls: w.parallel_tool_calls,
        sampling: Sampling {
            max_tokens: w.max_output_tokens,
            temperature: w.temperature,
            top_p: w.top_p,
            ..Sampling::default()
        },
        response_format: w.text.and_then(|t| t.format).map(decode_format),
        reasoning,
        user: w.user,
        stream: w.stream.unwrap_or(false),
        // Usage always comes in the terminal event.
        include_usage: true,
        extra: w.extra,
        tool_namespaces,
    })
}

fn decode_item(
    i: usize,
    mut item: serde_json::Map<String, Value>,
    out: &mut Vec<Message>,
) -> Result<(), ApiError> {
    let kind = match item.get("type") {
        None | Some(Value::Null) => "message".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(
                ApiError::invalid("An input item's `type` must be a string.")
                    .with_param(format!("input[{i}].type")),
            )
        }
    };
    match kind.as_str() {
        "message" | "function_call" | "function_call_output" | "reasoning" => {}
        "item_reference" => {
            return Err(ApiError::invalid(
                "`item_reference` items need stored responses, and lmrelay does not keep \
                 them; send the item itself.",
            )
            .with_param(format!("input[{i}]")))
        }
        other => {
            return Err(ApiError::invalid(format!(
                "Input items of type `{other}` are not supported; lmrelay translates message, \
                 function_call, function_call_output and reasoning items."
            ))
            .with_param(format!("input[{i}].type")))
        }
    }
    item.insert("type".into(), Value::String(kind));
    let item: InputItem = serde_json::from_value(Value::Object(item)).map_err(|e| {
        ApiError::invalid(format!("Invalid input item: {e}")).with_param(format!("input[{i}]"))
    })?;
    match item {
        InputItem::Message { role, content } => decode_message(i, &role, content, out),
        InputItem::FunctionCall {
            call_id,
            name,
            arguments,
            namespace,
        } => {
            let name = match namespace {
                Some(ns) => lmrelay_ir::namespaced_tool_name(&ns, &name),
                None => name,
            };
            let call = ContentPart::ToolCall {
                id: call_id,
                name,
                arguments,
                cache_control: None,
            };
            push_assistant(out, call);
            Ok(())
        }
        InputItem::FunctionCallOutput { call_id, output } => {
            let content = decode_content(i, output)?;
            let name = tool_name_for(out, &call_id);
            let result = ContentPart::ToolResult {
                call_id,
                name,
                content,
                is_error: false,
                cache_control: None,
            };
            match out.last_mut() {
                Some(prev)
                    if prev.role == Role::User
                        && prev
                            .content
                            .iter()
                            .all(|p| matches!(p, ContentPart::ToolResult { .. })) =>
                {
                    prev.content.push(result)
                }
                _ => out.push(Message {
                    role: Role::User,
                    content: vec![result],
                    name: None,
                }),
            }
            Ok(())
        }
        InputItem::Reasoning {
            summary,
            encrypted_content,
        } => {
            let text = summary
                .iter()
                .map(|s| s.text.as_str())
                .collect::<Vec<_>>()
                .join("\n\n");
            let signature = encrypted_content.map(|e| super::signature_from_client(&e));
            if !text.is_empty() || signature.is_some() {
                push_assistant(out, ContentPart::Reasoning { text, signature });
            }
            Ok(())
        }
    }
}

/// Appends a part to the assistant turn that is open, or opens one: consecutive reasoning,
/// assistant messages and function calls make one canonical assistant turn.
fn push_assistant(out: &mut Vec<Message>, part: ContentPart) {
    match out.last_mut() {
        Some(prev) if prev.role == Role::Assistant => prev.content.push(part),
        _ => out.push(Message {
            role: Role::Assistant,
            content: vec![part],
            name: None,
        }),
    }
}

fn decode_message(
    i: usize,
    role: &str,
    content: Content,
    out: &mut Vec<Message>,
) -> Result<(), ApiError> {
    let role = match role {
        "system" => Role::System,
        "developer" => Role::Developer,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        other => {
            return Err(ApiError::invalid(format!(
                "Unknown role `{other}`; expected user, assistant, system or developer."
            ))
            .with_param(format!("input[{i}].role")))
        }
    };
    let parts = decode_content(i, content)?;
    if role == Role::Assistant {
        for p in parts {
            push_assistant(out, p);
        }
        return Ok(());
    }
    out.push(Message {
        role,
        content: parts,
        name: None,
    });
    Ok(())
}

fn decode_content(i: usize, content: Content) -> Result<Vec<ContentPart>, ApiError> {
    let parts = match content {
        Content::Text(t) if t.is_empty() => return Ok(vec![]),
        Content::Text(t) => return Ok(vec![ContentPart::text(t)]),
        Content::Parts(parts) => parts,
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.into_iter().enumerate() {
        let at = || format!("input[{i}].content[{j}]");
        match p {
            Part::InputText { text } | Part::OutputText { text } => {
                out.push(ContentPart::text(text))
            }
            Part::Refusal { refusal } => out.push(ContentPart::text(refusal)),
            Part::InputImage {
                image_url, detail, ..
            } => {
                let url = image_url.ok_or_else(|| {
                    ApiError::invalid(
                        "An input_image needs `image_url`: lmrelay cannot resolve OpenAI \
                         `file_id`s.",
                    )
                    .with_param(at())
                })?;
                out.push(ContentPart::Image {
                    source: image_source_from_url(&url),
                    detail: detail.filter(|d| d != "auto"),
                    cache_control: None,
                })
            }
            Part::InputFile {
                file_id,
                file_data,
                file_url,
                filename,
            } => {
                if file_url.is_some() {
                    return Err(ApiError::invalid(
                        "An input_file with `file_url` is not supported; send `file_data`.",
                    )
                    .with_param(at()));
                }
                let (media_type, data) = match file_data.map(|d| match parse_data_url(&d) {
                    Some((m, b)) => (Some(m), b),
                    None => (None, d),
                }) {
                    Some((m, d)) => (m, Some(d)),
                    None => (None, None),
                };
                out.push(ContentPart::File {
                    media_type,
                    data,
                    file_id,
                    filename,
                    cache_control: None,
                })
            }
            Part::Other => {}
        }
    }
    Ok(out)
}

/// Web search is dropped rather than refused: agents such as Codex CLI offer it on every
/// request, and a model without it still does the task.
const DROPPED: &[&str] = &["web_search", "web_search_preview"];

/// Decodes one tool into `out`: a function tool; a `namespace`'s function tools, flattened
/// to `{namespace}__{name}` (the namespace is recorded in `namespaces`); web search dropped.
fn decode_tool(
    i: usize,
    t: WireTool,
    out: &mut Vec<Tool>,
    namespaces: &mut Vec<String>,
) -> Result<(), ApiError> {
    if DROPPED.iter().any(|d| t.kind.starts_with(d)) {
        return Ok(());
    }
    if t.kind == "namespace" {
        let ns = t.name.filter(|n| !n.is_empty()).ok_or_else(|| {
            ApiError::invalid("A namespace tool needs a `name`.")
                .with_param(format!("tools[{i}].name"))
        })?;
        for (j, inner) in t.tools.into_iter().enumerate() {
            if inner.kind != "function" {
                return Err(ApiError::invalid(format!(
                    "Tool type `{}` inside a namespace is not supported; lmrelay translates \
                     `function` tools.",
                    inner.kind
                ))
                .with_param(format!("tools[{i}].tools[{j}].type")));
            }
            let mut tool = function_tool(inner, || format!("tools[{i}].tools[{j}].name"))?;
            tool.name = lmrelay_ir::namespaced_tool_name(&ns, &tool.name);
            out.push(tool);
        }
        namespaces.push(ns);
        return Ok(());
    }
    out.push(decode_function_tool(i, t)?);
    Ok(())
}

fn decode_function_tool(i: usize, t: WireTool) -> Result<Tool, ApiError> {
    if t.kind != "function" {
        let builtin = HOSTED.iter().any(|h| t.kind.starts_with(h));
        let what = if builtin {
            "is a built-in OpenAI tool that no upstream behind lmrelay can run"
        } else {
            "is not supported"
        };
        return Err(ApiError::invalid(format!(
            "Tool type `{}` {what}; lmrelay translates `function` tools only.",
            t.kind
        ))
        .with_param(format!("tools[{i}].type")));
    }
    function_tool(t, || format!("tools[{i}].name"))
}

/// A `function` tool; `param` names its `name` in errors.
fn function_tool(t: WireTool, param: impl FnOnce() -> String) -> Result<Tool, ApiError> {
    let name = t
        .name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::invalid("A function tool needs a `name`.").with_param(param()))?;
    Ok(Tool {
        name,
        description: t.description,
        parameters: t.parameters.filter(|p| !p.is_null()),
        strict: t.strict,
        cache_control: None,
    })
}

fn decode_tool_choice(c: WireToolChoice) -> Result<ToolChoice, ApiError> {
    let bad = |what: String| ApiError::invalid(what).with_param("tool_choice");
    match c {
        WireToolChoice::Mode(m) => match m.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" => Ok(ToolChoice::Required),
            other => Err(bad(format!(
                "Unknown tool_choice `{other}`; expected auto, none, required or a function."
            ))),
        },
        WireToolChoice::Object(o) => match (o.kind.as_str(), o.name) {
            ("function", Some(name)) => Ok(ToolChoice::Named(name)),
            ("function", None) => Err(bad("A function tool_choice needs a `name`.".into())),
            ("allowed_tools", _) if o.mode.as_deref() == Some("required") => {
                Ok(ToolChoice::Required)
            }
            ("allowed_tools", _) => Ok(ToolChoice::Auto),
            (other, _) => Err(bad(format!(
                "tool_choice of type `{other}` is not supported; lmrelay translates function \
                 tools only."
            ))),
        },
    }
}

fn decode_format(f: TextFormat) -> ResponseFormat {
    match f {
        TextFormat::Text => ResponseFormat::Text,
        TextFormat::JsonObject => ResponseFormat::JsonObject,
        TextFormat::JsonSchema {
            name,
            schema,
            description,
            strict,
        } => ResponseFormat::JsonSchema {
            name,
            description,
            schema,
            strict,
        },
    }
}
