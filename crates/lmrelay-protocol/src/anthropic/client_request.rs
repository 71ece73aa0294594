//! Decoding the requests Anthropic clients send (`/v1/messages`, `/v1/messages/count_tokens`)
//! into a canonical [`ChatRequest`].
//!
//! Lenient where the API is strict and nothing is lost: `max_tokens` may be missing,
//! `role: "system"` is accepted inside `messages`, unknown block types are skipped. Fields
//! lmrelay does not model are kept in `ChatRequest::extra` for an Anthropic upstream:
//! - unmodelled top-level fields (`container`, `service_tier`, `mcp_servers`, …) verbatim;
//! - server tools (a `type` other than `custom`) as an array under `extra["tools"]`;
//! - `output_config` minus its `format` (which becomes `response_format`);
//! - `thinking` verbatim when it is `adaptive` or carries fields beyond `budget_tokens`
//!   (`display`), since `Reasoning` cannot say so.

use super::wire::{
    WireBlock, WireContent, WireCustomTool, WireMessage, WireRequest, WireRole, WireSource,
    WireThinking, WireToolChoice,
};
use crate::{json, tools};
use lmrelay_ir::{
    ApiError, ChatRequest, ContentPart, Extra, ImageSource, Message, Reasoning, ResponseFormat,
    Role, Sampling, Tool, ToolChoice,
};
use serde_json::{Map, Value};

/// Decodes a `POST /v1/messages` body.
pub fn decode_request(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let wire: WireRequest = json::decode_body(body)?;
    into_request(wire)
}

/// Decodes a `POST /v1/messages/count_tokens` body (no `max_tokens`, never streamed).
pub fn decode_count_tokens(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let mut req = decode_request(body)?;
    req.sampling.max_tokens = None;
    req.stream = false;
    Ok(req)
}

fn into_request(wire: WireRequest) -> Result<ChatRequest, ApiError> {
    let mut extra = wire.extra;
    let mut messages = Vec::with_capacity(wire.messages.len() + 1);
    if let Some(system) = wire.system {
        let content: Vec<ContentPart> = parts_of(system, "system")?
            .into_iter()
            .filter(|p| matches!(p, ContentPart::Text { text, .. } if !text.is_empty()))
            .collect();
        if !content.is_empty() {
            messages.push(Message {
                role: Role::System,
                content,
                name: None,
            });
        }
    }
    for (i, m) in wire.messages.into_iter().enumerate() {
        messages.push(message(m, i)?);
    }
    fill_tool_result_names(&mut messages);

    let (tools, server_tools) = split_tools(wire.tools.unwrap_or_default())?;
    if !server_tools.is_empty() {
        extra.insert("tools".into(), Value::Array(server_tools));
    }
    let (tool_choice, parallel_tool_calls) = match wire.tool_choice {
        Some(tc) => tool_choice(tc)?,
        None => (None, None),
    };

    let mut output_config = wire.output_config.unwrap_or_default();
    let response_format = response_format(&mut output_config)?;
    let effort = output_config
        .get("effort")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if !output_config.is_empty() {
        extra.insert("output_config".into(), Value::Object(output_config));
    }
    let reasoning = wire.thinking.map(|t| reasoning(t, effort, &mut extra));

    Ok(ChatRequest {
        model: wire.model,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls,
        sampling: Sampling {
            max_tokens: wire.max_tokens,
            temperature: wire.temperature,
            top_p: wire.top_p,
            top_k: wire.top_k,
            stop: wire.stop_sequences.unwrap_or_default(),
            ..Sampling::default()
        },
        response_format,
        reasoning,
        user: wire.metadata.and_then(|m| m.user_id),
        stream: wire.stream.unwrap_or(false),
        include_usage: false,
        extra,
        tool_namespaces: Vec::new(),
    })
}

fn message(m: WireMessage, i: usize) -> Result<Message, ApiError> {
    let role = match m.role {
        WireRole::User => Role::User,
        WireRole::Assistant => Role::Assistant,
        WireRole::System => Role::System,
        WireRole::Developer => Role::Developer,
    };
    Ok(Message {
        role,
        content: parts_of(m.content, &format!("messages[{i}].content"))?,
        name: None,
    })
}

/// Converts `content` (string or blocks) to canonical parts; `path` names it in errors.
fn parts_of(content: WireContent, path: &str) -> Result<Vec<ContentPart>, ApiError> {
    match content {
        WireContent::Text(text) => Ok(vec![ContentPart::text(text)]),
        WireContent::Blocks(blocks) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (j, block) in blocks.into_iter().enumerate() {
                if let Some(part) = part(block, &format!("{path}[{j}]"))? {
                    parts.push(part);
                }
            }
            Ok(parts)
        }
    }
}

fn part(block: WireBlock, path: &str) -> Result<Option<ContentPart>, ApiError> {
    Ok(Some(match block {
        WireBlock::Text {
            text,
            cache_control,
        } => ContentPart::Text {
            text,
            cache_control,
        },
        WireBlock::Image {
            source,
            cache_control,
        } => image(source, cache_control, path)?,
        WireBlock::Document {
            source,
            title,
            cache_control,
        } => return document(source, title, cache_control, path),
        WireBlock::ToolUse {
            id,
            name,
            input,
            cache_control,
        } => ContentPart::ToolCall {
            cache_control,
            id,
            name,
            arguments: json::object_to_arguments(&input),
        },
        WireBlock::ToolResult {
            tool_use_id,
            content,
            is_error,
            cache_control,
        } => ContentPart::ToolResult {
            cache_control,
            call_id: tool_use_id,
            name: None,
            content: match content {
                Some(c) => parts_of(c, &format!("{path}.content"))?,
                None => Vec::new(),
            },
            is_error: is_error.unwrap_or(false),
        },
        WireBlock::Thinking {
            thinking,
            signature,
        } => ContentPart::Reasoning {
            text: thinking,
            signature,
        },
        WireBlock::RedactedThinking { data } => ContentPart::RedactedReasoning { data },
        WireBlock::Other => return Ok(None),
    }))
}

fn image(
    source: WireSource,
    cache_control: Option<Value>,
    path: &str,
) -> Result<ContentPart, ApiError> {
    let source = match source {
        WireSource::Base64 { media_type, data } => ImageSource::Base64 {
            media_type: media_type.unwrap_or_else(|| tools::sniff_image_type(&data).to_owned()),
            data,
        },
        WireSource::Url { url } => tools::image_source_from_url(&url),
        _ => {
            return Err(ApiError::invalid(format!(
                "`{path}.source`: only base64 and url image sources are supported."
            ))
            .with_param(format!("{path}.source")))
        }
    };
    Ok(ContentPart::Image {
        cache_control,
        source,
        detail: None,
    })
}

fn document(
    source: WireSource,
    title: Option<String>,
    cache_control: Option<Value>,
    path: &str,
) -> Result<Option<ContentPart>, ApiError> {
    Ok(Some(match source {
        WireSource::Base64 { media_type, data } => ContentPart::File {
            cache_control: cache_control.clone(),
            media_type: Some(media_type.unwrap_or_else(|| "application/pdf".into())),
            data: Some(data),
            file_id: None,
            filename: title,
        },
        WireSource::File { file_id } => ContentPart::File {
            cache_control: cache_control.clone(),
            media_type: None,
            data: None,
            file_id: Some(file_id),
            filename: title,
        },
        // A plain-text document is text to every other format.
        WireSource::Text { data } => ContentPart::text(data),
        WireSource::Content { content } => {
            let text = lmrelay_ir::request::text_of(&parts_of(
                content,
                &format!("{path}.source.content"),
            )?);
            ContentPart::text(text)
        }
        WireSource::Url { .. } | WireSource::Other => {
            return Err(ApiError::invalid(format!(
            "`{path}.source`: only base64, text, content and file document sources are supported."
        ))
            .with_param(format!("{path}.source")))
        }
    }))
}

/// Fills `ToolResult::name` from the matching earlier `tool_use` (Ollama needs names).
fn fill_tool_result_names(messages: &mut [Message]) {
    for i in 0..messages.len() {
        let (before, rest) = messages.split_at_mut(i);
        let Some(msg) = rest.first_mut() else {
            continue;
        };
        for p in &mut msg.content {
            if let ContentPart::ToolResult {
                call_id,
                name: name @ None,
                ..
            } = p
            {
                *name = tools::tool_name_for(before, call_id);
            }
        }
    }
}

/// Splits `tools` into client tools and server tools (kept as JSON for an Anthropic upstream).
fn split_tools(raw: Vec<Value>) -> Result<(Vec<Tool>, Vec<Value>), ApiError> {
    let mut tools = Vec::with_capacity(raw.len());
    let mut server = Vec::new();
    for (i, value) in raw.into_iter().enumerate() {
        let custom = match value.get("type") {
            None | Some(Value::Null) => true,
            Some(t) => t.as_str() == Some("custom"),
        };
        if !custom {
            server.push(value);
            continue;
        }
        let t: WireCustomTool = serde_json::from_value(value).map_err(|e| {
            ApiError::invalid(format!("Invalid request body at `tools[{i}]`: {e}"))
                .with_param(format!("tools[{i}]"))
        })?;
        tools.push(Tool {
            name: t.name,
            description: t.description,
            parameters: t.input_schema,
            strict: t.strict,
            cache_control: t.cache_control,
        });
    }
    Ok((tools, server))
}

fn tool_choice(tc: WireToolChoice) -> Result<(Option<ToolChoice>, Option<bool>), ApiError> {
    let choice = match tc.kind.as_str() {
        "auto" => ToolChoice::Auto,
        "any" => ToolChoice::Required,
        "none" => ToolChoice::None,
        "tool" => match tc.name {
            Some(name) if !name.is_empty() => ToolChoice::Named(name),
            _ => {
                return Err(ApiError::invalid(
                    "`tool_choice.name` is required when `tool_choice.type` is `tool`.",
                )
                .with_param("tool_choice.name"))
            }
        },
        other => {
            return Err(ApiError::invalid(format!(
                "`tool_choice.type` must be one of `auto`, `any`, `tool` or `none`, not `{other}`."
            ))
            .with_param("tool_choice.type"))
        }
    };
    let parallel = tc.disable_parallel_tool_use.map(|d| !d);
    Ok((Some(choice), parallel))
}

/// Takes `format` out of `output_config` as a canonical response format.
fn response_format(
    output_config: &mut Map<String, Value>,
) -> Result<Option<ResponseFormat>, ApiError> {
    let Some(format) = output_config.remove("format") else {
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("json_schema") => match format.get("schema") {
            Some(schema) => Ok(Some(ResponseFormat::JsonSchema {
                name: "response".into(),
                description: None,
                schema: schema.clone(),
                strict: None,
            })),
            None => Err(ApiError::invalid(
                "`output_config.format.schema` is required for the `json_schema` format.",
            )
            .with_param("output_config.format.schema")),
        },
        _ if format.is_null() => Ok(None),
        _ => {
            // A format lmrelay does not know: give it back to an Anthropic upstream untouched.
            output_config.insert("format".into(), format);
            Ok(None)
        }
    }
}

fn reasoning(t: WireThinking, effort: Option<String>, extra: &mut Extra) -> Reasoning {
    let enabled = t.kind != "disabled";
    let verbatim = t.kind == "adaptive" || !t.rest.is_empty();
    let reasoning = Reasoning {
        enabled,
        effort: if enabled { effort } else { None },
        budget_tokens: t.budget_tokens,
    };
    if verbatim && enabled {
        let mut obj = Map::with_capacity(t.rest.len() + 2);
        obj.insert("type".into(), Value::String(t.kind));
        if let Some(b) = t.budget_tokens {
            obj.insert("budget_tokens".into(), Value::from(b));
        }
        obj.extend(t.rest);
        extra.insert("thinking".into(), Value::Object(obj));
    }
    reasoning
}
