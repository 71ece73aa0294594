//! Encoding a canonical [`ChatRequest`] as a `Converse` / `ConverseStream` body
//! (protocols.md §6.2, §10).
//!
//! What Converse demands and lmrelay therefore repairs:
//! - system and developer turns go into `system` as `{text}` blocks (blank ones left out);
//! - roles are `user` and `assistant`: consecutive turns of one role are merged, and tool
//!   results come first in their user turn (Claude answers a tool call directly);
//! - every content block is a union with exactly one key; blank text is left out (Bedrock
//!   rejects it), and a tool result with no content gets a short placeholder text (an error
//!   result must have content);
//! - tool-use ids must match `[a-zA-Z0-9_.:-]{1,64}`: other characters become `_`, the
//!   same way for a call and its result;
//! - images and documents take only bytes (`source.bytes`, base64 in JSON): URL images were
//!   downloaded by the gateway first (the adapter asks for that);
//! - `toolChoice` has no `none`: tools are then left out, unless the history holds tool
//!   blocks (Bedrock then requires `toolConfig`), in which case they are sent without a
//!   choice;
//! - Claude models take `top_k` and `thinking` in `additionalModelRequestFields`; with
//!   thinking, temperature, top_p and top_k go (Anthropic refuses them) and `maxTokens` is
//!   raised above the budget; thinking goes off when the running tool loop's assistant turn
//!   lost its signed reasoning (as the Anthropic codec does);
//! - `temperature` is clamped to Converse's 0–1 (OpenAI clients may send up to 2);
//! - reasoning goes back only when Bedrock signed it (the `bedrock:` tag), byte-exact;
//!   other providers' reasoning is dropped.
//!
//! Converse has no pass-through for other protocols' fields: `ChatRequest::extra` is
//! ignored, and so are JSON mode, seeds, penalties and `n`.

use crate::signature::parse_bedrock;
use crate::{json, tools, UpstreamOptions};
use lmrelay_ir::{ApiError, ChatRequest, ContentPart, ImageSource, Message, Role, ToolChoice};
use serde_json::{json, Map, Value};

/// Anthropic's smallest thinking budget; budgets for an effort follow protocols.md §10.6,
/// as the Anthropic codec's do.
const MIN_BUDGET: u32 = 1024;
/// Room for the answer above the thinking budget when `maxTokens` has to be raised.
const ANSWER_HEADROOM: u32 = 1024;

/// Encodes `req` as a Converse body for `opts.model`. Fails (400) on content Converse cannot
/// take: image URLs that were not inlined, file ids of other providers.
pub fn encode_request(req: &ChatRequest, opts: &UpstreamOptions) -> Result<Vec<u8>, ApiError> {
    Ok(json::to_vec(&Value::Object(body(req, opts)?)))
}

/// Encodes a `count-tokens` body: `{"input":{"converse":{messages, system, toolConfig}}}`.
pub fn encode_count_tokens_request(
    req: &ChatRequest,
    opts: &UpstreamOptions,
) -> Result<Vec<u8>, ApiError> {
    let mut converse = body(req, opts)?;
    converse.retain(|k, _| matches!(k.as_str(), "messages" | "system" | "toolConfig"));
    Ok(json::to_vec(&json!({"input": {"converse": converse}})))
}

/// Whether a model id (plain, an inference profile or an ARN) names an Anthropic model.
pub fn is_claude(model: &str) -> bool {
    let m = model.to_ascii_lowercase();
    m.contains("anthropic.") || m.contains("claude")
}

fn body(req: &ChatRequest, opts: &UpstreamOptions) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    let messages = messages(&req.messages)?;
    let history_has_tools = messages.iter().any(|m| {
        m["content"].as_array().is_some_and(|c| {
            c.iter()
                .any(|b| b.get("toolUse").is_some() || b.get("toolResult").is_some())
        })
    });
    out.insert("messages".into(), Value::Array(messages));
    let system: Vec<Value> = req
        .messages
        .iter()
        .filter(|m| m.is_system())
        .flat_map(|m| &m.content)
        .filter_map(|p| match p {
            ContentPart::Text { text, .. } if !text.trim().is_empty() => {
                Some(json!({"text": text}))
            }
            _ => None,
        })
        .collect();
    if !system.is_empty() {
        out.insert("system".into(), Value::Array(system));
    }
    if let Some(tc) = tool_config(req, history_has_tools) {
        out.insert("toolConfig".into(), tc);
    }

    let claude = is_claude(&opts.model);
    let s = &req.sampling;
    let budget = req
        .reasoning
        .as_ref()
        .filter(|r| r.enabled && r.effort.as_deref() != Some("none") && claude)
        .filter(|_| loop_keeps_thinking(&out["messages"]))
        .map(|r| {
            let by_effort = match r.effort.as_deref() {
                Some("minimal" | "low") => MIN_BUDGET,
                Some("high") => 4096,
                Some("xhigh" | "max" | "ultra") => 8192,
                _ => 2048,
            };
            r.budget_tokens.unwrap_or(by_effort).max(MIN_BUDGET)
        });
    let mut inference = Map::new();
    let mut max_tokens = s.max_tokens;
    if let Some(budget) = budget {
        let max = max_tokens.unwrap_or(opts.default_max_tokens);
        max_tokens = Some(if max <= budget {
            budget + ANSWER_HEADROOM
        } else {
            max
        });
    }
    if let Some(m) = max_tokens.filter(|m| *m > 0) {
        inference.insert("maxTokens".into(), m.into());
    }
    if budget.is_none() {
        if let Some(t) = s.temperature {
            // Converse takes 0–1 for every model; OpenAI clients may send up to 2.
            inference.insert("temperature".into(), json!(t.clamp(0.0, 1.0)));
        }
        if let Some(p) = s.top_p {
            inference.insert("topP".into(), json!(p));
        }
    }
    let stops: Vec<&String> = s.stop.iter().filter(|x| !x.is_empty()).collect();
    if !stops.is_empty() {
        inference.insert("stopSequences".into(), json!(stops));
    }
    if !inference.is_empty() {
        out.insert("inferenceConfig".into(), Value::Object(inference));
    }
    let mut additional = Map::new();
    if claude {
        if let (Some(k), None) = (s.top_k, budget) {
            additional.insert("top_k".into(), k.into());
        }
        if let Some(budget) = budget {
            additional.insert(
                "thinking".into(),
                json!({"type": "enabled", "budget_tokens": budget}),
            );
        }
    }
    if !additional.is_empty() {
        out.insert(
            "additionalModelRequestFields".into(),
            Value::Object(additional),
        );
    }
    Ok(out)
}

/// With thinking on, Claude wants the assistant turn of a running tool loop to start with its
/// signed reasoning; `false` when it does not (a client that keeps no signatures, or
/// reasoning from another provider), so thinking goes off for this request rather than
/// failing with a 400.
fn loop_keeps_thinking(messages: &Value) -> bool {
    let messages = messages.as_array().map(Vec::as_slice).unwrap_or_default();
    let first_block = |m: &Value| m["content"].as_array().and_then(|c| c.first()).cloned();
    let loop_running = messages.last().is_some_and(|m| {
        m["role"] == "user" && first_block(m).is_some_and(|b| b.get("toolResult").is_some())
    });
    if !loop_running {
        return true;
    }
    let Some(last) = messages.iter().rev().find(|m| m["role"] == "assistant") else {
        return true;
    };
    let calls_tools = last["content"]
        .as_array()
        .is_some_and(|c| c.iter().any(|b| b.get("toolUse").is_some()));
    !calls_tools || first_block(last).is_some_and(|b| b.get("reasoningContent").is_some())
}

fn tool_config(req: &ChatRequest, history_has_tools: bool) -> Option<Value> {
    if req.tools.is_empty() {
        return None;
    }
    let choice = match &req.tool_choice {
        Some(ToolChoice::None) if !history_has_tools => return None,
        Some(ToolChoice::None) | Some(ToolChoice::Auto) | None => None,
        Some(ToolChoice::Required) => Some(json!({"any": {}})),
        Some(ToolChoice::Named(name)) => Some(json!({"tool": {"name": name}})),
    };
    let tools: Vec<Value> = req
        .tools
        .iter()
        .map(|t| {
            let mut spec = Map::new();
            spec.insert("name".into(), json!(t.name));
            if let Some(d) = t.description.as_deref().filter(|d| !d.is_empty()) {
                spec.insert("description".into(), json!(d));
            }
            let schema = t
                .parameters
                .clone()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
            spec.insert("inputSchema".into(), json!({"json": schema}));
            json!({"toolSpec": spec})
        })
        .collect();
    let mut config = Map::new();
    config.insert("tools".into(), Value::Array(tools));
    if let Some(c) = choice {
        config.insert("toolChoice".into(), c);
    }
    Some(Value::Object(config))
}

fn messages(msgs: &[Message]) -> Result<Vec<Value>, ApiError> {
    let mut out: Vec<(&'static str, Vec<Value>)> = Vec::with_capacity(msgs.len());
    for (i, m) in msgs.iter().enumerate() {
        let (role, blocks) = match m.role {
            Role::System | Role::Developer => continue,
            Role::Assistant => ("assistant", assistant_blocks(m, i)?),
            Role::User => ("user", user_blocks(m, i)?),
        };
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((prev, b)) if *prev == role => b.extend(blocks),
            _ => out.push((role, blocks)),
        }
    }
    Ok(out
        .into_iter()
        .map(|(role, mut content)| {
            if role == "user" {
                // Stable: results keep the order of their calls, the rest its own order.
                content.sort_by_key(|b| b.get("toolResult").is_none());
            }
            json!({"role": role, "content": content})
        })
        .collect())
}

fn assistant_blocks(m: &Message, i: usize) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::with_capacity(m.content.len());
    for (j, p) in m.content.iter().enumerate() {
        let path = || format!("messages[{i}].content[{j}]");
        match p {
            ContentPart::Text { text, .. } if text.trim().is_empty() => {}
            ContentPart::Text { text, .. } => out.push(json!({"text": text})),
            ContentPart::ToolCall {
                id,
                name,
                arguments,
                ..
            } => out.push(json!({"toolUse": {
                "toolUseId": tool_use_id(id),
                "name": name,
                "input": json::arguments_to_object(arguments),
            }})),
            ContentPart::Reasoning { text, signature } => {
                if let Some(sig) = signature.as_deref().and_then(parse_bedrock) {
                    out.push(json!({"reasoningContent": {"reasoningText": {
                        "text": text, "signature": sig
                    }}}));
                }
            }
            ContentPart::RedactedReasoning { data } => {
                if let Some(data) = parse_bedrock(data) {
                    out.push(json!({"reasoningContent": {"redactedContent": data}}));
                }
            }
            ContentPart::Image { .. } | ContentPart::File { .. } => {
                out.push(media(p, &path)?);
            }
            ContentPart::Audio { .. } | ContentPart::ToolResult { .. } => {}
        }
    }
    Ok(out)
}

fn user_blocks(m: &Message, i: usize) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::with_capacity(m.content.len());
    for (j, p) in m.content.iter().enumerate() {
        let path = || format!("messages[{i}].content[{j}]");
        match p {
            ContentPart::Text { text, .. } if text.trim().is_empty() => {}
            ContentPart::Text { text, .. } => out.push(json!({"text": text})),
            ContentPart::Image { .. } | ContentPart::File { .. } => out.push(media(p, &path)?),
            ContentPart::Audio { .. } => {
                return Err(
                    ApiError::invalid("Bedrock Converse takes no audio input in lmrelay.")
                        .with_param(path()),
                )
            }
            ContentPart::ToolResult {
                call_id,
                content,
                is_error,
                ..
            } => {
                let mut inner = Vec::with_capacity(content.len());
                for (k, c) in content.iter().enumerate() {
                    let sub = || format!("{}.content[{k}]", path());
                    match c {
                        ContentPart::Text { text, .. } if text.trim().is_empty() => {}
                        ContentPart::Text { text, .. } => inner.push(json!({"text": text})),
                        ContentPart::Image { .. } | ContentPart::File { .. } => {
                            inner.push(media(c, &sub)?)
                        }
                        _ => {}
                    }
                }
                if inner.is_empty() {
                    let placeholder = if *is_error { "error" } else { "(no output)" };
                    inner.push(json!({"text": placeholder}));
                }
                out.push(json!({"toolResult": {
                    "toolUseId": tool_use_id(call_id),
                    "content": inner,
                    "status": if *is_error { "error" } else { "success" },
                }}));
            }
            ContentPart::ToolCall { .. }
            | ContentPart::Reasoning { .. }
            | ContentPart::RedactedReasoning { .. } => {}
        }
    }
    Ok(out)
}

/// A tool-use id Bedrock accepts: `[a-zA-Z0-9_.:-]`, at most 64 characters.
fn tool_use_id(id: &str) -> String {
    let mut out: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if out.is_empty() {
        out.push_str("tooluse");
    }
    out
}

/// An image or document block, with the bytes inline.
fn media(p: &ContentPart, path: &dyn Fn() -> String) -> Result<Value, ApiError> {
    match p {
        ContentPart::Image { source, .. } => {
            let (mime, data) = match source {
                ImageSource::Base64 { media_type, data } => (media_type.clone(), data.clone()),
                ImageSource::Url(url) => tools::parse_data_url(url).ok_or_else(|| {
                    ApiError::invalid(format!(
                        "Bedrock takes images only as bytes, and `{url}` could not be inlined."
                    ))
                    .with_param(path())
                })?,
            };
            let format = match mime.as_str() {
                "image/png" => "png",
                "image/jpeg" | "image/jpg" => "jpeg",
                "image/gif" => "gif",
                "image/webp" => "webp",
                other => {
                    return Err(ApiError::invalid(format!(
                        "Bedrock takes png, jpeg, gif and webp images, not `{other}`."
                    ))
                    .with_param(path()))
                }
            };
            Ok(json!({"image": {"format": format, "source": {"bytes": data}}}))
        }
        ContentPart::File {
            media_type,
            data: Some(data),
            filename,
            ..
        } => {
            let mime = media_type.as_deref().unwrap_or("application/pdf");
            let format = match mime {
                "application/pdf" => "pdf",
                "text/csv" => "csv",
                "application/msword" => "doc",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
                "application/vnd.ms-excel" => "xls",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
                "text/html" => "html",
                "text/plain" => "txt",
                "text/markdown" => "md",
                other => {
                    return Err(ApiError::invalid(format!(
                        "Bedrock cannot read documents of type `{other}`."
                    ))
                    .with_param(path()))
                }
            };
            Ok(json!({"document": {
                "format": format,
                "name": document_name(filename.as_deref()),
                "source": {"bytes": data},
            }}))
        }
        ContentPart::File { .. } => Err(ApiError::invalid(
            "Bedrock cannot read a file by another provider's file id; send the file's data.",
        )
        .with_param(path())),
        _ => Err(ApiError::invalid("Not a media part.").with_param(path())),
    }
}

/// A document name Bedrock accepts: letters, digits, single spaces, hyphens, parentheses
/// and square brackets.
fn document_name(filename: Option<&str>) -> String {
    let stem = filename
        .map(|f| f.rsplit_once('.').map_or(f, |(s, _)| s))
        .unwrap_or("document");
    let mut out = String::new();
    for c in stem.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '-' | '(' | ')' | '[' | ']') {
            c
        } else {
            ' '
        };
        if !(c == ' ' && (out.is_empty() || out.ends_with(' '))) {
            out.push(c);
        }
    }
    let out = out.trim_end().to_owned();
    if out.is_empty() {
        "document".into()
    } else {
        out
    }
}
