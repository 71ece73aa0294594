//! Decoding a `Converse` answer (protocols.md §6.3), and the pieces the stream reader
//! shares: stop reasons and usage.
//!
//! - `reasoningContent.reasoningText` is reasoning; its `signature`, and a
//!   `redactedContent` blob, are kept byte-exact behind the `bedrock:` tag.
//! - `usage.inputTokens` excludes cache reads and writes (as Anthropic's does); the
//!   canonical `input` includes them.
//! - The matched stop sequence of Claude models comes in
//!   `additionalModelResponseFields.stop_sequence`.

use crate::json;
use crate::signature::bedrock;
use lmrelay_ir::{ApiError, ChatResponse, ContentPart, ErrorKind, FinishReason, Usage};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct WireResponse {
    output: WireOutput,
    #[serde(rename = "stopReason", default)]
    stop_reason: String,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(rename = "additionalModelResponseFields", default)]
    additional: Option<Value>,
}

#[derive(Deserialize)]
struct WireOutput {
    message: WireMessage,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Vec<Value>,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct WireUsage {
    input_tokens: u64,
    output_tokens: u64,
    cache_read_input_tokens: u64,
    cache_write_input_tokens: u64,
}

/// Decodes an upstream Converse answer. A body that is not one is a 502.
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, ApiError> {
    let wire: WireResponse = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorKind::BadGateway,
            format!(
                "Bedrock returned a response that is not a Converse answer ({e}): {}",
                json::snippet(body)
            ),
        )
    })?;
    let mut content = Vec::with_capacity(wire.output.message.content.len());
    for block in &wire.output.message.content {
        push_block(block, &mut content);
    }
    let mut resp = ChatResponse {
        id: String::new(),
        model: String::new(),
        content,
        finish: FinishReason::Stop,
        stop_sequence: stop_sequence(wire.additional.as_ref()),
        usage: wire.usage.map(to_usage).unwrap_or_default(),
    };
    resp.finish = stop_reason(&wire.stop_reason).with_tool_calls(resp.has_tool_calls());
    Ok(resp)
}

/// Reads a `count-tokens` answer, `{"inputTokens": N}`.
pub fn decode_count_tokens(body: &[u8]) -> Result<u64, ApiError> {
    #[derive(Deserialize)]
    struct Count {
        #[serde(rename = "inputTokens")]
        input_tokens: u64,
    }
    serde_json::from_slice::<Count>(body)
        .map(|c| c.input_tokens)
        .map_err(|e| {
            ApiError::new(
                ErrorKind::BadGateway,
                format!("Bedrock returned a token count lmrelay cannot read: {e}"),
            )
        })
}

fn push_block(block: &Value, out: &mut Vec<ContentPart>) {
    if let Some(text) = block.get("text").and_then(Value::as_str) {
        if !text.is_empty() {
            out.push(ContentPart::text(text));
        }
    } else if let Some(tool) = block.get("toolUse") {
        let str_of = |k: &str| tool.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        out.push(ContentPart::ToolCall {
            id: str_of("toolUseId"),
            name: str_of("name"),
            arguments: json::object_to_arguments(tool.get("input").unwrap_or(&Value::Null)),
            cache_control: None,
        });
    } else if let Some(reasoning) = block.get("reasoningContent") {
        if let Some(r) = reasoning.get("reasoningText") {
            out.push(ContentPart::Reasoning {
                text: r
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                signature: r
                    .get("signature")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(bedrock),
            });
        } else if let Some(data) = reasoning.get("redactedContent").and_then(Value::as_str) {
            out.push(ContentPart::RedactedReasoning {
                data: bedrock(data),
            });
        }
    }
}

/// The canonical finish reason of a `stopReason` (protocols.md §10.7). Malformed output and
/// reasons not known yet are a natural stop.
pub(super) fn stop_reason(reason: &str) -> FinishReason {
    match reason {
        "tool_use" => FinishReason::ToolCalls,
        "max_tokens" => FinishReason::Length,
        "stop_sequence" => FinishReason::StopSequence,
        "guardrail_intervened" | "content_filtered" => FinishReason::ContentFilter,
        "model_context_window_exceeded" => FinishReason::ContextExceeded,
        _ => FinishReason::Stop,
    }
}

/// The matched stop sequence a Claude model reports.
pub(super) fn stop_sequence(additional: Option<&Value>) -> Option<String> {
    additional?
        .get("stop_sequence")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The canonical usage of a Bedrock `usage`.
pub(super) fn to_usage(u: WireUsage) -> Usage {
    Usage::from_uncached(
        u.input_tokens,
        u.output_tokens,
        u.cache_read_input_tokens,
        u.cache_write_input_tokens,
    )
}
