//! Encoding a canonical request as a Responses body for an OpenAI upstream.
//!
//! lmrelay keeps the exchange stateless: it sends `store:false`, the whole conversation as
//! items, and asks for `reasoning.encrypted_content` whenever it asks for reasoning, so the
//! next turn can send reasoning back. Only reasoning OpenAI made (signature tagged `openai:`)
//! is sent back; other providers' reasoning is dropped (protocols.md §10.6).

use super::wire::WireReasoning;
use super::wire::{Content, InputItem, OutTool, Part, SummaryPart, TextConfig, TextFormat};
use crate::json::to_vec;
use crate::signature::parse_openai;
use crate::tools::{flatten_text, image_url};
use crate::UpstreamOptions;
use lmrelay_ir::{
    ApiError, ChatRequest, ContentPart, Extra, Message, ResponseFormat, Role, ToolChoice,
};
use serde::Serialize;
use serde_json::{json, Value};

#[derive(Serialize)]
struct OutRequest<'a> {
    model: &'a str,
    input: Vec<InputItem>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<OutTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning: Option<WireReasoning>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    include: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<TextConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    store: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(flatten)]
    extra: &'a Extra,
}

/// Encodes a canonical request as a `POST /v1/responses` body. Chat-only controls the
/// Responses API lacks (`stop`, `n`, `seed`, penalties, `top_k`) are left out.
pub fn encode_request(req: &ChatRequest, opts: &UpstreamOptions) -> Result<Vec<u8>, ApiError> {
    let mut input = Vec::with_capacity(req.messages.len() + 2);
    for m in &req.messages {
        encode_message(m, &mut input)?;
    }
    let tools = req
        .tools
        .iter()
        .map(|t| OutTool {
            kind: "function",
            name: &t.name,
            description: t.description.as_deref(),
            parameters: t
                .parameters
                .clone()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            strict: t.strict.unwrap_or(false),
        })
        .collect();
    // Only an effort the client named: models that cannot reason refuse `reasoning`.
    let reasoning = req
        .reasoning
        .as_ref()
        .and_then(|r| r.effort.clone())
        .map(|effort| WireReasoning {
            summary: (effort != "none").then(|| "auto".to_owned()),
            effort: Some(effort),
        });
    let include = if reasoning.is_some() {
        vec!["reasoning.encrypted_content"]
    } else {
        vec![]
    };
    let body = OutRequest {
        model: &opts.model,
        input,
        tools,
        tool_choice: req.tool_choice.as_ref().map(encode_tool_choice),
        parallel_tool_calls: req.parallel_tool_calls,
        reasoning,
        include,
        text: req.response_format.as_ref().map(|f| TextConfig {
            format: Some(encode_format(f)),
        }),
        max_output_tokens: req.sampling.max_tokens,
        temperature: req.sampling.temperature,
        top_p: req.sampling.top_p,
        user: req.user.as_deref(),
        store: false,
        stream: req.stream,
        extra: &req.extra,
    };
    Ok(to_vec(&body))
}

fn encode_message(m: &Message, out: &mut Vec<InputItem>) -> Result<(), ApiError> {
    let role = match m.role {
        Role::System => "system",
        Role::Developer => "developer",
        Role::User => "user",
        Role::Assistant => "assistant",
    };
    let assistant = m.role == Role::Assistant;
    // Text and media parts gather into one message item, flushed before any other item so
    // the order of the turn is kept.
    let mut parts: Vec<Part> = Vec::new();
    let flush = |parts: &mut Vec<Part>, out: &mut Vec<InputItem>| {
        if !parts.is_empty() {
            out.push(InputItem::Message {
                role: role.to_owned(),
                content: Content::Parts(std::mem::take(parts)),
            });
        }
    };
    for p in &m.content {
        match p {
            ContentPart::Text { text, .. } if text.is_empty() => {}
            ContentPart::Text { text, .. } if assistant => {
                parts.push(Part::OutputText { text: text.clone() })
            }
            ContentPart::Text { text, .. } => parts.push(Part::InputText { text: text.clone() }),
            ContentPart::Image { source, detail, .. } => parts.push(Part::InputImage {
                image_url: Some(image_url(source)),
                file_id: None,
                detail: Some(detail.clone().unwrap_or_else(|| "auto".to_owned())),
            }),
            ContentPart::File {
                media_type,
                data,
                file_id,
                filename,
                ..
            } => parts.push(Part::InputFile {
                file_id: file_id.clone(),
                file_data: data.as_ref().map(|d| {
                    let mime = media_type.as_deref().unwrap_or("application/pdf");
                    format!("data:{mime};base64,{d}")
                }),
                file_url: None,
                filename: filename.clone(),
            }),
            ContentPart::Audio { .. } => {
                return Err(ApiError::invalid(
                    "Audio input cannot be sent through the Responses API.",
                ))
            }
            ContentPart::ToolCall {
                id,
                name,
                arguments,
                ..
            } => {
                flush(&mut parts, out);
                out.push(InputItem::FunctionCall {
                    namespace: None,
                    call_id: id.clone(),
                    name: name.clone(),
                    arguments: if arguments.is_empty() {
                        "{}".to_owned()
                    } else {
                        arguments.clone()
                    },
                });
            }
            ContentPart::ToolResult {
                call_id,
                content,
                is_error,
                ..
            } => {
                flush(&mut parts, out);
                let mut text = flatten_text(content);
                if *is_error {
                    text.insert_str(0, "Error: ");
                }
                out.push(InputItem::FunctionCallOutput {
                    call_id: call_id.clone(),
                    output: Content::Text(text),
                });
            }
            ContentPart::Reasoning { text, signature } => {
                // Only OpenAI's own reasoning goes back, and only with its encrypted content.
                let Some(encrypted) = signature.as_deref().and_then(parse_openai) else {
                    continue;
                };
                flush(&mut parts, out);
                let summary = if text.is_empty() {
                    vec![]
                } else {
                    vec![SummaryPart {
                        kind: "summary_text".to_owned(),
                        text: text.clone(),
                    }]
                };
                out.push(InputItem::Reasoning {
                    summary,
                    encrypted_content: Some(encrypted.to_owned()),
                });
            }
            ContentPart::RedactedReasoning { .. } => {}
        }
    }
    flush(&mut parts, out);
    Ok(())
}

fn encode_tool_choice(c: &ToolChoice) -> Value {
    match c {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Named(name) => json!({"type": "function", "name": name}),
    }
}

fn encode_format(f: &ResponseFormat) -> TextFormat {
    match f {
        ResponseFormat::Text => TextFormat::Text,
        ResponseFormat::JsonObject => TextFormat::JsonObject,
        ResponseFormat::JsonSchema {
            name,
            description,
            schema,
            strict,
        } => TextFormat::JsonSchema {
            name: name.clone(),
            schema: schema.clone(),
            description: description.clone(),
            strict: *strict,
        },
    }
}
