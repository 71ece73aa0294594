//! Encoding a canonical [`ChatRequest`] as a `generateContent` /
//! `streamGenerateContent` body (protocols.md §4.2, §10).
//!
//! What Gemini demands and lmrelay therefore repairs:
//! - every system/developer turn goes into `systemInstruction` (§10.2);
//! - roles are `user` and `model`; consecutive turns of one role are merged, and function
//!   responses come first in their user turn, so a function-call turn is answered directly;
//! - a function response names its function (the canonical result carries only the call id,
//!   so the name is looked up among the earlier calls) and its `response` is an object
//!   (`{"result": …}` / `{"error": …}` unless the tool returned a JSON object, E16);
//! - images, documents and audio go inline (`inlineData`); URL images were downloaded by
//!   the gateway first (the adapter asks for that);
//! - tool schemas are cleaned of what Gemini rejects (`schema.rs`, E15);
//! - thought signatures go back byte-exact on the part that carried them, and only Gemini's
//!   own (`crate::signature`); unsigned or foreign reasoning is dropped. For models that
//!   validate signatures (Gemini 3 and later), a function call of the running tool loop whose
//!   signature was lost (an OpenAI or Ollama client keeps none) gets the documented
//!   `skip_thought_signature_validator` value instead of failing with a 400 (E6).
//!
//! Gemini has no pass-through for other protocols' fields: `ChatRequest::extra` is ignored.

use super::schema;
use super::wire::{
    OutContent, OutCountTokens, OutData, OutFunction, OutFunctionCalling, OutGenerationConfig,
    OutPart, OutRequest, OutSystem, OutThinking, OutToolConfig, OutTools,
};
use crate::signature::{parse_gemini, GeminiSignature};
use crate::{json, tools, UpstreamOptions};
use lmrelay_ir::{
    ApiError, ChatRequest, ContentPart, ImageSource, Message, Reasoning, ResponseFormat, Role,
    ToolChoice,
};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// The signature Gemini documents for replaying function calls whose signature is unknown.
pub const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// The largest thinking budget every Gemini 2.5 model accepts.
const MAX_THINKING_BUDGET: u32 = 24_576;

/// Encodes `req` as a `generateContent` body for `opts.model`. Fails (400) on content Gemini
/// cannot take: image URLs that were not inlined, file ids of other providers, a tool result
/// whose call is not in the history.
pub fn encode_request(req: &ChatRequest, opts: &UpstreamOptions) -> Result<Vec<u8>, ApiError> {
    Ok(json::to_vec(&request_body(req, opts)?))
}

/// Encodes the `countTokens` body: the same request wrapped as `generateContentRequest`
/// (so the system instruction and tools are counted too).
pub fn encode_count_tokens_request(
    req: &ChatRequest,
    opts: &UpstreamOptions,
) -> Result<Vec<u8>, ApiError> {
    let mut body = request_body(req, opts)?;
    body.model = Some(format!("models/{}", opts.model));
    body.generation_config = None;
    Ok(json::to_vec(&OutCountTokens {
        generate_content_request: body,
    }))
}

fn request_body<'a>(
    req: &'a ChatRequest,
    opts: &UpstreamOptions,
) -> Result<OutRequest<'a>, ApiError> {
    let mut contents = contents(&req.messages)?;
    if validates_signatures(&opts.model) {
        sign_running_loop(&mut contents);
    }
    let system: Vec<OutPart<'a>> = req
        .messages
        .iter()
        .filter(|m| m.is_system())
        .flat_map(|m| &m.content)
        .filter_map(|p| match p {
            ContentPart::Text { text, .. } if !text.trim().is_empty() => Some(plain(text)),
            _ => None,
        })
        .collect();
    let tools = if req.tools.is_empty() {
        Vec::new()
    } else {
        vec![OutTools {
            function_declarations: req
                .tools
                .iter()
                .map(|t| OutFunction {
                    name: &t.name,
                    description: t.description.as_deref().filter(|d| !d.is_empty()),
                    parameters: schema::function_parameters(t.parameters.as_ref()),
                })
                .collect(),
        }]
    };
    let tool_config = if tools.is_empty() {
        None
    } else {
        req.tool_choice.as_ref().map(tool_config)
    };
    Ok(OutRequest {
        model: None,
        contents,
        system_instruction: (!system.is_empty()).then_some(OutSystem { parts: system }),
        tools,
        tool_config,
        generation_config: generation_config(req),
    })
}

fn contents(msgs: &[Message]) -> Result<Vec<OutContent<'_>>, ApiError> {
    let mut out: Vec<OutContent<'_>> = Vec::with_capacity(msgs.len());
    for (i, m) in msgs.iter().enumerate() {
        let (role, parts) = match m.role {
            Role::System | Role::Developer => continue,
            Role::Assistant => ("model", model_parts(m, i)?),
            Role::User => ("user", user_parts(msgs, m, i)?),
        };
        if parts.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some(prev) if prev.role == role => prev.parts.extend(parts),
            _ => out.push(OutContent { role, parts }),
        }
    }
    for c in out.iter_mut().filter(|c| c.role == "user") {
        // Stable: responses keep the order of their calls, and the rest its own order.
        c.parts
            .sort_by_key(|p| !matches!(p.data, OutData::FunctionResponse { .. }));
    }
    Ok(out)
}

/// The parts of an assistant turn, with Gemini signatures put back where they were.
fn model_parts(m: &Message, i: usize) -> Result<Vec<OutPart<'_>>, ApiError> {
    let mut parts = Vec::with_capacity(m.content.len());
    // A signature waiting for the part it belongs to.
    let mut pending: Option<&str> = None;
    for (j, p) in m.content.iter().enumerate() {
        let path = || format!("messages[{i}].content[{j}]");
        let data = match p {
            ContentPart::Reasoning { text, signature } => {
                match signature.as_deref().and_then(parse_gemini) {
                    Some(GeminiSignature::Thought(sig)) => parts.push(OutPart {
                        data: OutData::Text(text),
                        thought: true,
                        thought_signature: Some(Cow::Borrowed(sig)),
                    }),
                    Some(GeminiSignature::NextPart(sig)) => pending = Some(sig),
                    // Unsigned thought text, or another provider's reasoning.
                    None => {}
                }
                continue;
            }
            ContentPart::Text { text, .. } if text.is_empty() => continue,
            ContentPart::Text { text, .. } => OutData::Text(text),
            ContentPart::ToolCall {
                name, arguments, ..
            } => OutData::FunctionCall {
                name,
                args: json::arguments_to_object(arguments),
            },
            ContentPart::Image { .. } | ContentPart::File { .. } | ContentPart::Audio { .. } => {
                media(p, &path)?
            }
            ContentPart::ToolResult { .. } | ContentPart::RedactedReasoning { .. } => continue,
        };
        parts.push(OutPart {
            data,
            thought: false,
            thought_signature: pending.take().map(Cow::Borrowed),
        });
    }
    Ok(parts)
}

/// The parts of a user turn: text, media and function responses.
fn user_parts<'a>(
    msgs: &'a [Message],
    m: &'a Message,
    i: usize,
) -> Result<Vec<OutPart<'a>>, ApiError> {
    let mut parts = Vec::with_capacity(m.content.len());
    for (j, p) in m.content.iter().enumerate() {
        let path = || format!("messages[{i}].content[{j}]");
        match p {
            ContentPart::Text { text, .. } if text.is_empty() => {}
            ContentPart::Text { text, .. } => parts.push(plain(text)),
            ContentPart::Image { .. } | ContentPart::File { .. } | ContentPart::Audio { .. } => {
                parts.push(part(media(p, &path)?));
            }
            ContentPart::ToolResult {
                call_id,
                name,
                content,
                is_error,
                ..
            } => {
                let name = match name {
                    Some(n) => Cow::Borrowed(n.as_str()),
                    None => Cow::Owned(tools::tool_name_for(msgs, call_id).ok_or_else(|| {
                        ApiError::invalid(format!(
                            "The tool result for call `{call_id}` answers no tool call in the conversation; Gemini needs the called function's name."
                        ))
                        .with_param(path())
                    })?),
                };
                parts.push(part(OutData::FunctionResponse {
                    name,
                    response: function_response(content, *is_error),
                }));
                // Gemini's function responses hold no images: they follow as parts.
                for (k, inner) in content.iter().enumerate() {
                    if matches!(inner, ContentPart::Image { .. } | ContentPart::File { .. }) {
                        let sub = || format!("{}.content[{k}]", path());
                        parts.push(part(media(inner, &sub)?));
                    }
                }
            }
            ContentPart::ToolCall { .. }
            | ContentPart::Reasoning { .. }
            | ContentPart::RedactedReasoning { .. } => {}
        }
    }
    Ok(parts)
}

/// A function response's `response` object: the tool's own JSON object when it returned
/// one, else its text under `result` (or `error`).
fn function_response(content: &[ContentPart], is_error: bool) -> Value {
    let text = tools::flatten_text(content);
    if !is_error {
        if let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(text.trim()) {
            return Value::Object(obj);
        }
    }
    let mut obj = Map::new();
    obj.insert(
        if is_error { "error" } else { "result" }.into(),
        Value::String(text),
    );
    Value::Object(obj)
}

/// An image, document or audio part as `inlineData`.
fn media<'a>(p: &'a ContentPart, path: &dyn Fn() -> String) -> Result<OutData<'a>, ApiError> {
    let (mime_type, data): (Cow<'a, str>, Cow<'a, str>) =
        match p {
            ContentPart::Image { source, .. } => match source {
                ImageSource::Base64 { media_type, data } => {
                    (media_type.as_str().into(), data.as_str().into())
                }
                ImageSource::Url(url) => match tools::parse_data_url(url) {
                    Some((mime, data)) => (mime.into(), data.into()),
                    None => {
                        return Err(ApiError::invalid(format!(
                        "Gemini takes images only as inline data, and `{url}` could not be inlined."
                    ))
                        .with_param(path()))
                    }
                },
            },
            ContentPart::File {
                media_type,
                data: Some(data),
                ..
            } => (
                media_type.as_deref().unwrap_or("application/pdf").into(),
                data.as_str().into(),
            ),
            ContentPart::File { .. } => return Err(ApiError::invalid(
                "Gemini cannot read a file by another provider's file id; send the file's data.",
            )
            .with_param(path())),
            ContentPart::Audio { format, data } => (
                match format.as_str() {
                    f if f.contains('/') => Cow::Borrowed(f),
                    f => Cow::Owned(format!("audio/{f}")),
                },
                data.as_str().into(),
            ),
            _ => return Err(ApiError::invalid("Not a media part.").with_param(path())),
        };
    let mime_type = if mime_type == "image/jpg" {
        Cow::Borrowed("image/jpeg")
    } else {
        mime_type
    };
    Ok(OutData::InlineData { mime_type, data })
}

fn plain(text: &str) -> OutPart<'_> {
    part(OutData::Text(text))
}

fn part(data: OutData<'_>) -> OutPart<'_> {
    OutPart {
        data,
        thought: false,
        thought_signature: None,
    }
}

/// Whether `model` rejects replayed function calls without their thought signature.
/// Gemini 1.x and 2.x (and Gemma) do not; newer models and aliases may.
fn validates_signatures(model: &str) -> bool {
    let m = model.strip_prefix("models/").unwrap_or(model);
    !["gemini-1", "gemini-2", "gemma", "learnlm"]
        .iter()
        .any(|old| m.starts_with(old))
}

/// Gives the first function call of every model turn of the running tool loop (the turns
/// after the last user turn with its own content) a signature when it has none.
fn sign_running_loop(contents: &mut [OutContent<'_>]) {
    let start = contents
        .iter()
        .rposition(|c| {
            c.role == "user"
                && c.parts
                    .iter()
                    .any(|p| !matches!(p.data, OutData::FunctionResponse { .. }))
        })
        .map_or(0, |i| i + 1);
    for c in contents[start..].iter_mut().filter(|c| c.role == "model") {
        let first_call = c
            .parts
            .iter_mut()
            .find(|p| matches!(p.data, OutData::FunctionCall { .. }));
        if let Some(p) = first_call.filter(|p| p.thought_signature.is_none()) {
            p.thought_signature = Some(Cow::Borrowed(SKIP_SIGNATURE));
        }
    }
}

fn tool_config(choice: &ToolChoice) -> OutToolConfig<'_> {
    let (mode, allowed) = match choice {
        ToolChoice::Auto => ("AUTO", None),
        ToolChoice::None => ("NONE", None),
        ToolChoice::Required => ("ANY", None),
        ToolChoice::Named(name) => ("ANY", Some(vec![name.as_str()])),
    };
    OutToolConfig {
        function_calling_config: OutFunctionCalling {
            mode,
            allowed_function_names: allowed,
        },
    }
}

fn generation_config(req: &ChatRequest) -> Option<OutGenerationConfig<'_>> {
    let s = &req.sampling;
    let (mime, response_schema) = match &req.response_format {
        Some(ResponseFormat::JsonObject) => (Some("application/json"), None),
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            (Some("application/json"), Some(schema::clean_schema(schema)))
        }
        Some(ResponseFormat::Text) | None => (None, None),
    };
    let config = OutGenerationConfig {
        stop_sequences: s
            .stop
            .iter()
            .filter(|x| !x.is_empty())
            .map(String::as_str)
            .collect(),
        response_mime_type: mime,
        response_schema,
        // lmrelay carries one choice.
        candidate_count: s.n.map(|_| 1),
        max_output_tokens: s.max_tokens,
        temperature: s.temperature,
        top_p: s.top_p,
        top_k: s.top_k,
        seed: s.seed.and_then(|v| i32::try_from(v).ok()),
        // A penalty of 0 changes nothing, and some models refuse the field altogether.
        presence_penalty: s.presence_penalty.filter(|p| *p != 0.0),
        frequency_penalty: s.frequency_penalty.filter(|p| *p != 0.0),
        thinking_config: thinking_config(req.reasoning.as_ref()),
    };
    // Every field is optional; an all-default config is left out rather than sent as `{}`.
    let empty = serde_json::to_value(&config)
        .ok()
        .and_then(|v| v.as_object().map(Map::is_empty))
        .unwrap_or(true);
    (!empty).then_some(config)
}

/// `thinkingConfig` from the canonical reasoning controls: off is a budget of 0; on shows
/// the thoughts, with the client's budget or one for its effort.
pub(super) fn thinking_config(reasoning: Option<&Reasoning>) -> Option<OutThinking> {
    let r = reasoning?;
    if !r.enabled || r.effort.as_deref() == Some("none") {
        return Some(OutThinking {
            thinking_budget: Some(0),
            include_thoughts: None,
        });
    }
    let budget = r
        .budget_tokens
        .or_else(|| r.effort.as_deref().map(budget_for_effort))
        .map(|b| b.clamp(1, MAX_THINKING_BUDGET));
    Some(OutThinking {
        thinking_budget: budget,
        include_thoughts: Some(true),
    })
}

/// Effort → budget (protocols.md §10.6), never below what every model accepts.
fn budget_for_effort(effort: &str) -> u32 {
    match effort {
        "minimal" | "low" => 1024,
        "high" => 4096,
        "xhigh" | "max" | "ultra" => 8192,
        _ => 2048,
    }
}
