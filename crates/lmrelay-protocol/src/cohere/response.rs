//! Cohere v2 answers (`chat` and `embed`) as canonical responses.

use crate::json;
use lmrelay_ir::{
    ApiError, ChatResponse, ContentPart, EmbedResponse, ErrorKind, FinishReason, Usage,
};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct WireResponse {
    #[serde(default)]
    id: String,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    message: Option<WireMessage>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize, Default)]
pub(super) struct WireMessage {
    #[serde(default)]
    pub content: Vec<WireContent>,
    #[serde(default)]
    pub tool_plan: Option<String>,
    #[serde(default)]
    pub tool_calls: Vec<WireToolCall>,
}

#[derive(Deserialize)]
pub(super) struct WireContent {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub thinking: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct WireToolCall {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub function: Option<WireFunction>,
}

#[derive(Deserialize)]
pub(super) struct WireFunction {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub arguments: Option<Value>,
}

#[derive(Deserialize, Default)]
pub(super) struct WireUsage {
    #[serde(default)]
    billed_units: Option<WireTokens>,
    #[serde(default)]
    tokens: Option<WireTokens>,
}

#[derive(Deserialize, Default)]
struct WireTokens {
    #[serde(default)]
    input_tokens: Option<f64>,
    #[serde(default)]
    output_tokens: Option<f64>,
}

/// Reads a non-streamed `POST /v2/chat` answer.
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, ApiError> {
    let wire: WireResponse = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorKind::BadGateway,
            format!(
                "Cohere sent an answer lmrelay cannot read ({e}): {}",
                json::snippet(body)
            ),
        )
    })?;
    let message = wire.message.unwrap_or_default();
    let mut content = Vec::new();
    if let Some(plan) = message.tool_plan.filter(|p| !p.is_empty()) {
        content.push(ContentPart::Reasoning {
            text: plan,
            signature: None,
        });
    }
    for c in message.content {
        match (c.kind.as_str(), c.text, c.thinking) {
            ("thinking", _, Some(t)) if !t.is_empty() => content.push(ContentPart::Reasoning {
                text: t,
                signature: None,
            }),
            ("text" | "", Some(t), _) if !t.is_empty() => content.push(ContentPart::text(t)),
            _ => {}
        }
    }
    let mut had_calls = false;
    for (i, call) in message.tool_calls.into_iter().enumerate() {
        let function = call.function.unwrap_or(WireFunction {
            name: None,
            arguments: None,
        });
        had_calls = true;
        content.push(ContentPart::ToolCall {
            id: call
                .id
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| format!("call_{}_{i}", wire.id)),
            name: function.name.unwrap_or_default(),
            arguments: arguments_text(function.arguments),
            cache_control: None,
        });
    }
    let finish = wire
        .finish_reason
        .as_deref()
        .map_or(FinishReason::Stop, finish_reason)
        .with_tool_calls(had_calls);
    Ok(ChatResponse {
        id: wire.id,
        model: String::new(),
        content,
        finish,
        stop_sequence: None,
        usage: wire.usage.map(to_usage).unwrap_or_default(),
    })
}

/// Tool-call arguments: a JSON string on the wire, tolerated as an object.
pub(super) fn arguments_text(arguments: Option<Value>) -> String {
    match arguments {
        None | Some(Value::Null) => String::new(),
        Some(v) => json::object_to_arguments(&v),
    }
}

/// The canonical finish reason of a Cohere `finish_reason`.
pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "COMPLETE" => FinishReason::Stop,
        "STOP_SEQUENCE" => FinishReason::StopSequence,
        "MAX_TOKENS" => FinishReason::Length,
        "TOOL_CALL" => FinishReason::ToolCalls,
        "ERROR" | "TIMEOUT" => FinishReason::Error,
        _ => FinishReason::Stop,
    }
}

/// Usage: the counted `tokens` when present (they include the prompt template), else the
/// `billed_units`.
pub(super) fn to_usage(u: WireUsage) -> Usage {
    let pick = |f: fn(&WireTokens) -> Option<f64>| {
        u.tokens
            .as_ref()
            .and_then(f)
            .or_else(|| u.billed_units.as_ref().and_then(f))
            .map_or(0, |v| v.max(0.0) as u64)
    };
    Usage {
        input: pick(|t| t.input_tokens),
        output: pick(|t| t.output_tokens),
        ..Usage::default()
    }
}

#[derive(Deserialize)]
struct WireEmbed {
    #[serde(default)]
    embeddings: Option<WireEmbeddings>,
    #[serde(default)]
    meta: Option<WireMeta>,
}

#[derive(Deserialize)]
struct WireEmbeddings {
    #[serde(default)]
    float: Option<Vec<Vec<f32>>>,
}

#[derive(Deserialize)]
struct WireMeta {
    #[serde(default)]
    billed_units: Option<WireBilled>,
}

#[derive(Deserialize)]
struct WireBilled {
    #[serde(default)]
    input_tokens: Option<f64>,
}

/// Reads a `POST /v2/embed` answer (float embeddings).
pub fn decode_embed_response(body: &[u8]) -> Result<EmbedResponse, ApiError> {
    let unreadable = |why: String| {
        ApiError::new(
            ErrorKind::BadGateway,
            format!(
                "Cohere sent embeddings lmrelay cannot read ({why}): {}",
                json::snippet(body)
            ),
        )
    };
    let wire: WireEmbed = serde_json::from_slice(body).map_err(|e| unreadable(e.to_string()))?;
    let vectors = wire
        .embeddings
        .and_then(|e| e.float)
        .ok_or_else(|| unreadable("no `embeddings.float`".into()))?;
    let input_tokens = wire
        .meta
        .and_then(|m| m.billed_units)
        .and_then(|b| b.input_tokens)
        .map_or(0, |v| v.max(0.0) as u64);
    Ok(EmbedResponse {
        model: String::new(),
        vectors,
        input_tokens,
    })
}
