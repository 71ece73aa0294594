//! Non-streamed Anthropic messages, both ways: encoding a canonical [`ChatResponse`] for an
//! Anthropic client, and decoding an upstream Anthropic response.
//!
//! Usage convention at this edge: the wire's `input_tokens` excludes cache reads and writes,
//! the canonical `Usage::input` includes them.

use super::error::decode_error;
use super::wire::{OutBlock, OutResponse, OutUsage, WireBlock, WireResponse};
use crate::{json, tools, ResponseMeta};
use lmrelay_ir::{ApiError, ChatResponse, ContentPart, ErrorKind, FinishReason};
use std::borrow::Cow;

/// Encodes `resp` as an Anthropic message. Reasoning is included when the client asked for
/// it. A signature is passed through byte-exact; reasoning from an upstream that signs
/// nothing gets an empty signature, never a made-up one, and the upstream encoder drops
/// unsigned thinking on replay to Anthropic, as the stream writer's output is treated too.
pub fn encode_response(resp: &ChatResponse, meta: &ResponseMeta) -> Vec<u8> {
    let id = message_id(&resp.id);
    let mut content = Vec::with_capacity(resp.content.len());
    let mut had_tools = false;
    for part in &resp.content {
        match part {
            ContentPart::Reasoning { text, signature } if meta.include_reasoning => {
                content.push(OutBlock::Thinking {
                    thinking: text,
                    signature: signature.as_deref().unwrap_or(""),
                });
            }
            ContentPart::RedactedReasoning { data } if meta.include_reasoning => {
                content.push(OutBlock::RedactedThinking { data });
            }
            ContentPart::Text { text, .. } if !text.is_empty() => content.push(OutBlock::Text {
                text,
                cache_control: None,
            }),
            ContentPart::ToolCall {
                id,
                name,
                arguments,
                ..
            } => {
                had_tools = true;
                content.push(OutBlock::ToolUse {
                    cache_control: None,
                    id,
                    name,
                    input: json::arguments_to_object(arguments),
                });
            }
            _ => {}
        }
    }
    let stop_reason = stop_reason(resp.finish, had_tools, resp.stop_sequence.as_deref());
    json::to_vec(&OutResponse {
        id: &id,
        kind: "message",
        role: "assistant",
        model: &meta.model,
        content,
        stop_reason: Some(stop_reason),
        stop_sequence: resp
            .stop_sequence
            .as_deref()
            .filter(|_| stop_reason == "stop_sequence"),
        usage: OutUsage::from_usage(&resp.usage),
    })
}

/// Reads the usage and finish reason of an Anthropic message passed through as is; the rest
/// of it is skipped, not built.
pub fn answer_summary(body: &[u8]) -> Result<crate::AnswerSummary, ApiError> {
    #[derive(serde::Deserialize)]
    struct View<'a> {
        #[serde(rename = "type", borrow)]
        kind: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow)]
        stop_reason: Option<std::borrow::Cow<'a, str>>,
        #[serde(default)]
        usage: super::wire::WireUsage,
    }
    let v: View<'_> = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorKind::BadGateway,
            format!("Anthropic returned a response that is not a valid message: {e}"),
        )
    })?;
    if v.kind.as_deref() == Some("error") {
        return Err(decode_error(502, body));
    }
    Ok(crate::AnswerSummary {
        usage: v.usage.to_usage(),
        finish: finish_reason(v.stop_reason.as_deref()),
    })
}

/// Decodes an upstream Anthropic message. A body that is not one is a 502.
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, ApiError> {
    let wire: WireResponse = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorKind::BadGateway,
            format!("Anthropic returned a response that is not a valid message: {e}"),
        )
    })?;
    if wire.kind.as_deref() == Some("error") {
        return Err(decode_error(502, body));
    }
    let mut content = Vec::with_capacity(wire.content.len());
    for block in wire.content {
        match block {
            WireBlock::Text { text, .. } => content.push(ContentPart::text(text)),
            WireBlock::Thinking {
                thinking,
                signature,
            } => content.push(ContentPart::Reasoning {
                text: thinking,
                signature,
            }),
            WireBlock::RedactedThinking { data } => {
                content.push(ContentPart::RedactedReasoning { data })
            }
            WireBlock::ToolUse {
                id, name, input, ..
            } => content.push(ContentPart::ToolCall {
                cache_control: None,
                id,
                name,
                arguments: json::object_to_arguments(&input),
            }),
            _ => {}
        }
    }
    let mut resp = ChatResponse {
        id: wire.id,
        model: wire.model,
        content,
        finish: FinishReason::Stop,
        stop_sequence: wire.stop_sequence,
        usage: wire.usage.to_usage(),
    };
    resp.finish = finish_reason(wire.stop_reason.as_deref()).with_tool_calls(resp.has_tool_calls());
    Ok(resp)
}

/// Canonical finish reason of an Anthropic `stop_reason` (unknown ones are a natural stop).
pub(super) fn finish_reason(stop_reason: Option<&str>) -> FinishReason {
    match stop_reason {
        Some("stop_sequence") => FinishReason::StopSequence,
        Some("max_tokens") => FinishReason::Length,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("refusal") => FinishReason::ContentFilter,
        Some("pause_turn") => FinishReason::Pause,
        Some("model_context_window_exceeded") => FinishReason::ContextExceeded,
        _ => FinishReason::Stop,
    }
}

/// Anthropic `stop_reason` for a canonical finish (protocols.md §10.7). `tool_use` only when
/// tool calls were produced (a client would otherwise wait for calls that never come);
/// `stop_sequence` only when the matched string is known.
pub(super) fn stop_reason(
    finish: FinishReason,
    had_tools: bool,
    stop_sequence: Option<&str>,
) -> &'static str {
    match finish.with_tool_calls(had_tools) {
        FinishReason::StopSequence if stop_sequence.is_some() => "stop_sequence",
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls if had_tools => "tool_use",
        FinishReason::ContentFilter => "refusal",
        FinishReason::Pause => "pause_turn",
        FinishReason::ContextExceeded => "model_context_window_exceeded",
        _ => "end_turn",
    }
}

/// A `msg_…` id: the upstream's when it already is one, else a fresh one.
pub(super) fn message_id(id: &str) -> Cow<'_, str> {
    if id.starts_with("msg_") {
        Cow::Borrowed(id)
    } else {
        Cow::Owned(tools::random_id("msg_", 24))
    }
}
