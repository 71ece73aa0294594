//! Encoding a canonical [`ChatRequest`] as a `POST /v1/messages` body for api.anthropic.com.
//!
//! What the API demands and lmrelay therefore repairs (protocols.md §10, §11):
//! - every system/developer turn is hoisted into top-level `system` text blocks (§10.2);
//! - empty or whitespace-only text blocks are dropped (E2), messages left empty are dropped,
//!   and consecutive same-role turns are merged after that (E1) — merging happens on the wire
//!   blocks, after conversion, because dropping empty turns can create new neighbours;
//! - tool results come first in their user message (E4);
//! - a final assistant turn (prefill) may not end with whitespace (E18);
//! - reasoning is sent back only with its own Anthropic signature, never forged (E5) and
//!   never another provider's (`crate::signature`); when thinking is on but the assistant
//!   turn of the running tool loop has no signed thinking, thinking is turned off for the
//!   request instead of failing with a 400;
//! - `max_tokens` is always sent and always exceeds the thinking budget.
//!
//! `ChatRequest::extra` is passed through (it came from an Anthropic client); its `tools`
//! entries (server tools) are appended to the tools, its `thinking` replaces the computed one,
//! and its `output_config` is merged with the response format.

use crate::{json, signature, tools, UpstreamOptions};
use base64::Engine;
use lmrelay_ir::{
    ApiError, ChatRequest, ContentPart, Extra, ImageSource, Message, Reasoning, ResponseFormat,
    Role, Tool, ToolChoice,
};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value};
use std::borrow::Cow;

use super::wire::{OutBlock, OutMessage, OutSource};

/// The system instruction added for `ResponseFormat::JsonObject` (Anthropic has no JSON mode).
pub(super) const JSON_OBJECT_INSTRUCTION: &str =
    "Respond only with a single valid JSON object, with no text before or after it.";

/// The smallest thinking budget Anthropic accepts.
const MIN_THINKING_BUDGET: u32 = 1024;
/// Extra room above the thinking budget when `max_tokens` has to be raised.
const ANSWER_HEADROOM: u32 = 1024;

/// Top-level keys this encoder writes itself; `extra` never overrides them.
const MANAGED_KEYS: &[&str] = &[
    "model",
    "max_tokens",
    "system",
    "messages",
    "tools",
    "tool_choice",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "metadata",
    "stream",
    "thinking",
    "output_config",
];

const IMAGE_TYPES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    system: Vec<OutBlock<'a>>,
    messages: Vec<OutMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<AnyTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<OutToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stop_sequences: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<OutMetadata<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_config: Option<Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(flatten)]
    extra: Passthrough<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum AnyTool<'a> {
    Custom(OutTool<'a>),
    Server(&'a Value),
}

#[derive(Serialize)]
struct OutTool<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    input_schema: Cow<'a, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

#[derive(Serialize)]
struct OutToolChoice<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disable_parallel_tool_use: Option<bool>,
}

#[derive(Serialize)]
struct OutMetadata<'a> {
    user_id: &'a str,
}

/// `extra` minus the keys this encoder manages.
struct Passthrough<'a>(&'a Extra);

/// Encodes `req` for Anthropic. Fails (400) on content Anthropic cannot take: audio, image
/// types other than jpeg/png/gif/webp, documents other than PDF or text.
pub fn encode_request(req: &ChatRequest, opts: &UpstreamOptions) -> Result<Vec<u8>, ApiError> {
    let mut system = system_blocks(&req.messages);
    if req.response_format == Some(ResponseFormat::JsonObject) {
        system.push(OutBlock::Text {
            text: JSON_OBJECT_INSTRUCTION,
            cache_control: None,
        });
    }
    let messages = messages(&req.messages)?;

    let mut tools: Vec<AnyTool<'_>> = req.tools.iter().map(out_tool).collect();
    if let Some(Value::Array(server)) = req.extra.get("tools") {
        tools.extend(server.iter().map(AnyTool::Server));
    }

    let mut max_tokens = req.sampling.max_tokens.unwrap_or(opts.default_max_tokens);
    let mut thinking = thinking(req.reasoning.as_ref(), req.extra.get("thinking"));
    if thinking.is_some() && !loop_keeps_thinking(&messages) {
        thinking = None;
    }
    let manual_budget = thinking
        .as_ref()
        .filter(|t| t.get("type").and_then(Value::as_str) == Some("enabled"))
        .map(|t| {
            t.get("budget_tokens")
                .and_then(Value::as_u64)
                .map_or(MIN_THINKING_BUDGET, |b| {
                    u32::try_from(b).unwrap_or(u32::MAX)
                })
        });

    let mut temperature = req.sampling.temperature.map(|t| t.clamp(0.0, 1.0));
    let mut top_k = req.sampling.top_k;
    let mut top_p = req.sampling.top_p;
    let mut choice = if tools.is_empty() {
        None
    } else {
        tool_choice(req.tool_choice.as_ref(), req.parallel_tool_calls)
    };
    if let Some(budget) = manual_budget {
        if max_tokens <= budget {
            max_tokens = budget.saturating_add(ANSWER_HEADROOM);
        }
        temperature = None;
        top_k = None;
        top_p = top_p.filter(|p| (0.95..=1.0).contains(p));
        // Manual thinking allows only `auto` and `none`.
        if let Some(c) = choice.as_mut() {
            if c.kind == "any" || c.kind == "tool" {
                c.kind = "auto";
                c.name = None;
            }
        }
    }

    let body = Body {
        model: &opts.model,
        max_tokens,
        system,
        messages,
        tools,
        tool_choice: choice,
        temperature,
        top_p,
        top_k,
        stop_sequences: req
            .sampling
            .stop
            .iter()
            .filter(|s| !s.is_empty())
            .map(String::as_str)
            .collect(),
        metadata: req.user.as_deref().map(|user_id| OutMetadata { user_id }),
        thinking,
        output_config: output_config(req),
        stream: req.stream,
        extra: Passthrough(&req.extra),
    };
    Ok(json::to_vec(&body))
}

fn system_blocks(messages: &[Message]) -> Vec<OutBlock<'_>> {
    let mut out = Vec::new();
    for m in messages.iter().filter(|m| m.is_system()) {
        for p in &m.content {
            if let ContentPart::Text {
                text,
                cache_control,
            } = p
            {
                if !text.trim().is_empty() {
                    out.push(OutBlock::Text {
                        text,
                        cache_control: cache_control.as_ref(),
                    });
                }
            }
        }
    }
    out
}

fn messages(msgs: &[Message]) -> Result<Vec<OutMessage<'_>>, ApiError> {
    let mut out: Vec<OutMessage<'_>> = Vec::with_capacity(msgs.len());
    for (i, m) in msgs.iter().enumerate() {
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::System | Role::Developer => continue,
        };
        let assistant = m.role == Role::Assistant;
        let mut blocks = Vec::with_capacity(m.content.len());
        for (j, p) in m.content.iter().enumerate() {
            if let Some(b) = block(p, assistant, &|| format!("messages[{i}].content[{j}]"))? {
                blocks.push(b);
            }
        }
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some(prev) if prev.role == role => prev.content.extend(blocks),
            _ => out.push(OutMessage {
                role,
                content: blocks,
            }),
        }
    }
    for m in out.iter_mut().filter(|m| m.role == "user") {
        // Stable: results keep their order, and so does the rest.
        m.content
            .sort_by_key(|b| !matches!(b, OutBlock::ToolResult { .. }));
    }
    if let Some(last) = out.last_mut().filter(|m| m.role == "assistant") {
        if let Some(OutBlock::Text { text, .. }) = last.content.last_mut() {
            *text = text.trim_end();
        }
    }
    Ok(out)
}

/// One canonical part as a wire block; `None` when Anthropic must not see it.
fn block<'a>(
    part: &'a ContentPart,
    assistant: bool,
    path: &dyn Fn() -> String,
) -> Result<Option<OutBlock<'a>>, ApiError> {
    Ok(Some(match part {
        ContentPart::Text {
            text,
            cache_control,
        } => {
            if text.trim().is_empty() {
                return Ok(None);
            }
            OutBlock::Text {
                text,
                cache_control: cache_control.as_ref(),
            }
        }
        ContentPart::Image {
            source,
            cache_control,
            ..
        } => OutBlock::Image {
            cache_control: cache_control.as_ref(),
            source: image_source(source, path)?,
        },
        ContentPart::File {
            media_type,
            data,
            file_id,
            filename,
            cache_control,
            ..
        } => OutBlock::Document {
            cache_control: cache_control.as_ref(),
            source: document_source(
                media_type.as_deref(),
                data.as_deref(),
                file_id.as_deref(),
                path,
            )?,
            title: filename.as_deref(),
        },
        ContentPart::Audio { .. } => {
            return Err(
                ApiError::invalid("Anthropic does not accept audio input.").with_param(path())
            )
        }
        ContentPart::ToolCall {
            id,
            name,
            arguments,
            cache_control,
        } => OutBlock::ToolUse {
            cache_control: cache_control.as_ref(),
            id,
            name,
            input: json::arguments_to_object(arguments),
        },
        ContentPart::ToolResult {
            call_id,
            content,
            is_error,
            cache_control,
            ..
        } => {
            let mut inner = Vec::with_capacity(content.len());
            for (k, p) in content.iter().enumerate() {
                let sub = || format!("{}.content[{k}]", path());
                if let Some(
                    b
                    @ (OutBlock::Text { .. } | OutBlock::Image { .. } | OutBlock::Document { .. }),
                ) = block(p, false, &sub)?
                {
                    inner.push(b);
                }
            }
            OutBlock::ToolResult {
                cache_control: cache_control.as_ref(),
                tool_use_id: call_id,
                content: inner,
                is_error: *is_error,
            }
        }
        ContentPart::Reasoning { text, signature } => match signature.as_deref() {
            // Another provider's signature (Gemini's, Bedrock's) would only earn a 400.
            Some(signature)
                if assistant && !signature.is_empty() && !signature::is_tagged(signature) =>
            {
                OutBlock::Thinking {
                    thinking: text,
                    signature,
                }
            }
            _ => return Ok(None),
        },
        ContentPart::RedactedReasoning { data } if assistant && !signature::is_tagged(data) => {
            OutBlock::RedactedThinking { data }
        }
        ContentPart::RedactedReasoning { .. } => return Ok(None),
    }))
}

fn image_source<'a>(
    source: &'a ImageSource,
    path: &dyn Fn() -> String,
) -> Result<OutSource<'a>, ApiError> {
    let (media_type, data): (Cow<'a, str>, Cow<'a, str>) = match source {
        ImageSource::Base64 { media_type, data } => (media_type.into(), data.into()),
        ImageSource::Url(url) => match tools::parse_data_url(url) {
            Some((mime, data)) => (mime.into(), data.into()),
            None => return Ok(OutSource::Url { url }),
        },
    };
    let media_type = match media_type.as_ref() {
        "image/jpg" => Cow::Borrowed("image/jpeg"),
        t if IMAGE_TYPES.contains(&t) => media_type,
        other => {
            return Err(ApiError::invalid(format!(
                "Anthropic accepts only JPEG, PNG, GIF and WebP images, not `{other}`."
            ))
            .with_param(path()))
        }
    };
    Ok(OutSource::Base64 { media_type, data })
}

fn document_source<'a>(
    media_type: Option<&str>,
    data: Option<&'a str>,
    file_id: Option<&'a str>,
    path: &dyn Fn() -> String,
) -> Result<OutSource<'a>, ApiError> {
    match (data, file_id) {
        (Some(data), _) => match media_type {
            None | Some("application/pdf") => Ok(OutSource::Base64 {
                media_type: Cow::Borrowed("application/pdf"),
                data: data.into(),
            }),
            Some(t) if t.starts_with("text/") => {
                let text = base64::engine::general_purpose::STANDARD
                    .decode(data.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        ApiError::invalid("A text document is not valid base64-encoded UTF-8.")
                            .with_param(path())
                    })?;
                Ok(OutSource::Text {
                    media_type: "text/plain",
                    data: text,
                })
            }
            Some(other) => Err(ApiError::invalid(format!(
                "Anthropic accepts PDF and plain-text documents, not `{other}`."
            ))
            .with_param(path())),
        },
        (None, Some(file_id)) => Ok(OutSource::File { file_id }),
        (None, None) => Err(
            ApiError::invalid("A file part needs either its data or a file id.").with_param(path()),
        ),
    }
}

fn out_tool(t: &Tool) -> AnyTool<'_> {
    let input_schema = match &t.parameters {
        Some(v @ Value::Object(o)) if o.contains_key("type") => Cow::Borrowed(v),
        Some(Value::Object(o)) => {
            let mut o2 = Map::with_capacity(o.len() + 1);
            o2.insert("type".into(), Value::from("object"));
            o2.extend(o.iter().map(|(k, v)| (k.clone(), v.clone())));
            if !o2.contains_key("properties") {
                o2.insert("properties".into(), Value::Object(Map::new()));
            }
            Cow::Owned(Value::Object(o2))
        }
        _ => Cow::Owned(json!({"type": "object", "properties": {}})),
    };
    AnyTool::Custom(OutTool {
        name: &t.name,
        description: t.description.as_deref().filter(|d| !d.is_empty()),
        input_schema,
        cache_control: t.cache_control.as_ref(),
        strict: t.strict,
    })
}

fn tool_choice<'a>(
    choice: Option<&'a ToolChoice>,
    parallel: Option<bool>,
) -> Option<OutToolChoice<'a>> {
    let disable = (parallel == Some(false)).then_some(true);
    let (kind, name) = match choice {
        Some(ToolChoice::Auto) => ("auto", None),
        // `disable_parallel_tool_use` is not allowed with `none`.
        Some(ToolChoice::None) => {
            return Some(OutToolChoice {
                kind: "none",
                name: None,
                disable_parallel_tool_use: None,
            })
        }
        Some(ToolChoice::Required) => ("any", None),
        Some(ToolChoice::Named(n)) => ("tool", Some(n.as_str())),
        None if disable.is_some() => ("auto", None),
        None => return None,
    };
    Some(OutToolChoice {
        kind,
        name,
        disable_parallel_tool_use: disable,
    })
}

/// The `thinking` object to send: the client's own (from `extra`) when it is an Anthropic
/// client, else one computed from the canonical reasoning controls.
fn thinking(reasoning: Option<&Reasoning>, from_client: Option<&Value>) -> Option<Value> {
    let r = reasoning.filter(|r| r.enabled && r.effort.as_deref() != Some("none"))?;
    if let Some(v @ Value::Object(_)) = from_client {
        return Some(v.clone());
    }
    let budget = r
        .budget_tokens
        .unwrap_or_else(|| budget_for_effort(r.effort.as_deref()))
        .max(MIN_THINKING_BUDGET);
    Some(json!({"type": "enabled", "budget_tokens": budget}))
}

/// Effort → budget (protocols.md §10.6, LiteLLM's convention).
fn budget_for_effort(effort: Option<&str>) -> u32 {
    match effort {
        Some("minimal" | "low") => 1024,
        Some("high") => 4096,
        Some("xhigh" | "max" | "ultra") => 8192,
        _ => 2048,
    }
}

/// With thinking on, the assistant turn of a running tool loop must start with a thinking
/// block; `false` when it does not (the signature was lost), so thinking must go off.
fn loop_keeps_thinking(messages: &[OutMessage<'_>]) -> bool {
    // Only a loop still running (the final turn answers tool calls) has the requirement.
    let loop_running = messages.last().is_some_and(|m| {
        m.role == "user" && matches!(m.content.first(), Some(OutBlock::ToolResult { .. }))
    });
    if !loop_running {
        return true;
    }
    let Some(last) = messages.iter().rev().find(|m| m.role == "assistant") else {
        return true;
    };
    let calls_tools = last
        .content
        .iter()
        .any(|b| matches!(b, OutBlock::ToolUse { .. }));
    !calls_tools
        || matches!(
            last.content.first(),
            Some(OutBlock::Thinking { .. } | OutBlock::RedactedThinking { .. })
        )
}

fn output_config(req: &ChatRequest) -> Option<Value> {
    let mut config = match req.extra.get("output_config") {
        Some(Value::Object(o)) => o.clone(),
        _ => Map::new(),
    };
    if let Some(ResponseFormat::JsonSchema { schema, .. }) = &req.response_format {
        config.insert(
            "format".into(),
            json!({"type": "json_schema", "schema": schema}),
        );
    }
    (!config.is_empty()).then_some(Value::Object(config))
}

// === impl Passthrough ===

impl Serialize for Passthrough<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (k, v) in self.0 {
            if !MANAGED_KEYS.contains(&k.as_str()) {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}
