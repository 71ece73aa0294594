//! Complete (non-streamed) answers: the response object lmrelay writes for Responses clients,
//! and reading one from an OpenAI Responses upstream.

use super::signature_to_client;
use super::wire::{
    IncompleteDetails, OutputItem, OutputPart, ResponseObject, SummaryPart, WireUsage,
};
use crate::json::to_vec;
use crate::tools::random_id;
use crate::ResponseMeta;
use lmrelay_ir::{ApiError, ChatResponse, ContentPart, ErrorKind, FinishReason, Usage};
use serde_json::{json, Map};

/// The `resp_` id to show a client for an upstream response id.
pub(crate) fn response_id(upstream_id: &str) -> String {
    if upstream_id.starts_with("resp_") {
        upstream_id.to_owned()
    } else {
        random_id("resp_", 24)
    }
}

/// The response object with no output yet (`status` as given), as the stream's lifecycle
/// events and the final answer start from. lmrelay does not echo the request's config: the
/// required fields carry their defaults.
pub(crate) fn skeleton(id: &str, meta: &ResponseMeta, status: &str) -> ResponseObject {
    ResponseObject {
        id: id.to_owned(),
        object: "response".to_owned(),
        created_at: meta.created_secs(),
        completed_at: None,
        status: status.to_owned(),
        model: meta.model.clone(),
        error: None,
        incomplete_details: None,
        instructions: None,
        metadata: Map::new(),
        output: Vec::new(),
        parallel_tool_calls: true,
        tool_choice: json!("auto"),
        tools: Vec::new(),
        temperature: None,
        top_p: None,
        usage: None,
    }
}

/// Sets the terminal status a finish reason implies (`completed`, or `incomplete` with its
/// reason), the completion time and the usage.
pub(crate) fn conclude(r: &mut ResponseObject, finish: FinishReason, usage: &Usage, now_secs: u64) {
    let incomplete = match finish {
        FinishReason::Length | FinishReason::ContextExceeded => Some("max_output_tokens"),
        FinishReason::ContentFilter => Some("content_filter"),
        _ => None,
    };
    match incomplete {
        Some(reason) => {
            r.status = "incomplete".to_owned();
            r.incomplete_details = Some(IncompleteDetails {
                reason: reason.to_owned(),
            });
        }
        None => {
            r.status = "completed".to_owned();
            r.completed_at = Some(now_secs);
        }
    }
    r.usage = Some(WireUsage::from_usage(usage));
}

/// Encodes a canonical answer as a Responses object. Consecutive text becomes one message
/// item; each reasoning block and each tool call is an item of its own, in the order the
/// model produced them.
/// A tool call's name as the client declared it: a flattened namespaced tool's namespace
/// and own name, or the name itself.
pub(crate) fn client_tool_name(namespaces: &[String], flat: &str) -> (Option<String>, String) {
    match lmrelay_ir::split_namespaced_tool(namespaces, flat) {
        Some((ns, name)) => (Some(ns.to_owned()), name.to_owned()),
        None => (None, flat.to_owned()),
    }
}

pub fn encode_response(resp: &ChatResponse, meta: &ResponseMeta, now_ms: u64) -> Vec<u8> {
    let mut r = skeleton(&response_id(&resp.id), meta, "in_progress");
    for p in &resp.content {
        match p {
            ContentPart::Text { text, .. } => match r.output.last_mut() {
                Some(OutputItem::Message { content, .. }) => {
                    if let Some(OutputPart::OutputText { text: t, .. }) = content.last_mut() {
                        t.push_str(text);
                    }
                }
                _ => r
                    .output
                    .push(message_item(random_id("msg_", 24), text.clone())),
            },
            ContentPart::Reasoning { text, signature } => r.output.push(OutputItem::Reasoning {
                id: random_id("rs_", 24),
                summary: summary_of(text),
                encrypted_content: signature.as_deref().map(signature_to_client),
            }),
            ContentPart::ToolCall {
                id,
                name,
                arguments,
                ..
            } => {
                let (namespace, name) = client_tool_name(&meta.tool_namespaces, name);
                r.output.push(OutputItem::FunctionCall {
                    id: random_id("fc_", 24),
                    call_id: id.clone(),
                    name,
                    arguments: arguments.clone(),
                    status: "completed".to_owned(),
                    namespace,
                })
            }
            _ => {}
        }
    }
    let finish = resp.finish.with_tool_calls(resp.has_tool_calls());
    conclude(&mut r, finish, &resp.usage, now_ms / 1000);
    to_vec(&r)
}

/// A completed message item holding one `output_text` part.
pub(crate) fn message_item(id: String, text: String) -> OutputItem {
    OutputItem::Message {
        id,
        role: "assistant".to_owned(),
        status: "completed".to_owned(),
        content: vec![OutputPart::OutputText {
            text,
            annotations: vec![],
        }],
    }
}

/// A reasoning text as a one-entry summary (none for empty text).
pub(crate) fn summary_of(text: &str) -> Vec<SummaryPart> {
    if text.is_empty() {
        return vec![];
    }
    vec![SummaryPart {
        kind: "summary_text".to_owned(),
        text: text.to_owned(),
    }]
}

/// Reads a non-streamed answer from an OpenAI Responses upstream. A `failed` response is
/// an error; `incomplete` maps to its finish reason.
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, ApiError> {
    let r: ResponseObject = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorKind::BadGateway,
            format!(
                "The upstream's Responses answer could not be read: {e} ({})",
                crate::json::snippet(body)
            ),
        )
    })?;
    if r.status == "failed" {
        let e = r.error.unwrap_or_default();
        return Err(failure(e.code.as_deref(), &e.message));
    }
    let mut content = Vec::new();
    for item in r.output {
        match item {
            OutputItem::Reasoning {
                summary,
                encrypted_content,
                ..
            } => content.push(ContentPart::Reasoning {
                text: join_summary(&summary),
                signature: encrypted_content.map(|e| crate::signature::openai(&e)),
            }),
            OutputItem::Message { content: parts, .. } => {
                for p in parts {
                    match p {
                        OutputPart::OutputText { text, .. }
                        | OutputPart::Refusal { refusal: text } => {
                            content.push(ContentPart::text(text))
                        }
                        OutputPart::Other => {}
                    }
                }
            }
            OutputItem::FunctionCall {
                call_id,
                name,
                arguments,
                ..
            } => content.push(ContentPart::ToolCall {
                id: call_id,
                name,
                arguments,
                cache_control: None,
            }),
            OutputItem::Other => {}
        }
    }
    let has_calls = content
        .iter()
        .any(|p| matches!(p, ContentPart::ToolCall { .. }));
    let finish = finish_of(&r.status, r.incomplete_details.as_ref()).with_tool_calls(has_calls);
    Ok(ChatResponse {
        id: r.id,
        model: r.model,
        content,
        finish,
        stop_sequence: None,
        usage: r
            .usage
            .as_ref()
            .map(WireUsage::to_usage)
            .unwrap_or_default(),
    })
}

/// The canonical finish reason of a terminal status.
pub(crate) fn finish_of(status: &str, details: Option<&IncompleteDetails>) -> FinishReason {
    match (status, details.map(|d| d.reason.as_str())) {
        ("incomplete", Some("content_filter")) => FinishReason::ContentFilter,
        ("incomplete", _) => FinishReason::Length,
        _ => FinishReason::Stop,
    }
}

/// Summary texts joined with blank lines.
pub(crate) fn join_summary(summary: &[SummaryPart]) -> String {
    summary
        .iter()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The canonical error of a failed response (or an `error` event), classified by its code.
pub(crate) fn failure(code: Option<&str>, message: &str) -> ApiError {
    let kind = match code {
        Some("rate_limit_exceeded") => ErrorKind::RateLimited,
        Some("insufficient_quota") => ErrorKind::QuotaExceeded,
        Some("context_length_exceeded") | Some("invalid_prompt") => ErrorKind::InvalidRequest,
        _ => ErrorKind::Server,
    };
    let message = if message.is_empty() {
        "The upstream response failed."
    } else {
        message
    };
    let err = ApiError::new(kind, message);
    match code {
        Some(c) => err.with_code(c),
        None => err,
    }
}
