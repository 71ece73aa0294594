//! Non-streamed `/api/chat` answers in both directions: a [`ChatResponse`] as the single
//! object an Ollama client expects (`encode_response`), and an Ollama upstream's object as a
//! [`ChatResponse`] (`decode_response`). Also the metrics every final object carries.

use super::chat::decode_call;
use super::error::upstream_body;
use super::wire::WireResponse;
use crate::{json, time, tools, ResponseMeta};
use lmrelay_ir::{ApiError, ChatResponse, ContentPart, FinishReason, Usage};
use serde_json::{json, Map, Value};

/// Ollama's `done_reason`: `length` for an output limit, `stop` for everything else.
pub(super) fn done_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Length | FinishReason::ContextExceeded => "length",
        _ => "stop",
    }
}

/// Adds `done`, `done_reason`, the counts and the durations (nanoseconds, synthesized from
/// wall-clock time: 10 % prompt evaluation, the rest generation; no load time).
pub(super) fn put_final_fields(
    obj: &mut Map<String, Value>,
    reason: FinishReason,
    usage: &Usage,
    started_ms: u64,
    now_ms: u64,
) {
    let total = now_ms.saturating_sub(started_ms).saturating_mul(1_000_000);
    let prompt = total / 10;
    obj.insert("done".into(), Value::Bool(true));
    obj.insert("done_reason".into(), Value::from(done_reason(reason)));
    obj.insert("total_duration".into(), Value::from(total));
    obj.insert("load_duration".into(), Value::from(0));
    obj.insert("prompt_eval_count".into(), Value::from(usage.input));
    obj.insert("prompt_eval_duration".into(), Value::from(prompt));
    obj.insert("eval_count".into(), Value::from(usage.output));
    obj.insert("eval_duration".into(), Value::from(total - prompt));
}

/// The reasoning text of a response, joined.
pub(super) fn reasoning_text(content: &[ContentPart]) -> String {
    content
        .iter()
        .filter_map(|p| match p {
            ContentPart::Reasoning { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// Ollama tool calls: `[{id, function:{index, name, arguments: object}}]`.
pub(super) fn tool_call_value(index: usize, id: &str, name: &str, arguments: &str) -> Value {
    json!({
        "id": id,
        "function": {"index": index, "name": name, "arguments": json::arguments_to_object(arguments)},
    })
}

/// Encodes a complete answer as a non-streamed `/api/chat` object.
pub fn encode_response(resp: &ChatResponse, meta: &ResponseMeta, now_ms: u64) -> Vec<u8> {
    let mut message = Map::new();
    message.insert("role".into(), Value::from("assistant"));
    message.insert("content".into(), Value::from(resp.text()));
    if meta.include_reasoning {
        let thinking = reasoning_text(&resp.content);
        if !thinking.is_empty() {
            message.insert("thinking".into(), Value::from(thinking));
        }
    }
    let calls: Vec<Value> = resp
        .content
        .iter()
        .filter_map(|p| match p {
            ContentPart::ToolCall {
                id,
                name,
                arguments,
                ..
            } => Some((id, name, arguments)),
            _ => None,
        })
        .enumerate()
        .map(|(i, (id, name, args))| tool_call_value(i, id, name, args))
        .collect();
    if !calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(calls));
    }
    let mut obj = Map::new();
    obj.insert("model".into(), Value::from(meta.model.as_str()));
    obj.insert(
        "created_at".into(),
        Value::from(time::rfc3339_from_unix_ms(now_ms)),
    );
    obj.insert("message".into(), Value::Object(message));
    put_final_fields(&mut obj, resp.finish, &resp.usage, meta.started_ms, now_ms);
    json::to_vec(&Value::Object(obj))
}

/// Decodes an Ollama upstream's non-streamed `/api/chat` (or `/api/generate`) object.
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, ApiError> {
    let wire: WireResponse = upstream_body(body)?;
    if let Some(err) = &wire.error {
        return Err(super::error::in_band_error(err));
    }
    let mut content = Vec::new();
    let (text, thinking, calls) = match wire.message {
        Some(m) => (m.content, m.thinking, m.tool_calls.unwrap_or_default()),
        None => (wire.response, wire.thinking, Vec::new()),
    };
    if let Some(thinking) = thinking.filter(|t| !t.is_empty()) {
        content.push(ContentPart::Reasoning {
            text: thinking,
            signature: None,
        });
    }
    if let Some(text) = text.filter(|t| !t.is_empty()) {
        content.push(ContentPart::text(text));
    }
    let had_calls = !calls.is_empty();
    content.extend(calls.into_iter().map(|c| decode_call(c, 24)));
    Ok(ChatResponse {
        id: tools::random_id("", 24),
        model: wire.model.unwrap_or_default(),
        content,
        finish: finish_from(wire.done_reason.as_deref()).with_tool_calls(had_calls),
        stop_sequence: None,
        usage: Usage {
            input: wire.prompt_eval_count.unwrap_or(0),
            output: wire.eval_count.unwrap_or(0),
            ..Usage::default()
        },
    })
}

/// The canonical finish reason of an Ollama `done_reason`.
pub(super) fn finish_from(done_reason: Option<&str>) -> FinishReason {
    match done_reason {
        Some("length") => FinishReason::Length,
        _ => FinishReason::Stop,
    }
}

/// The answer to a request that only loads a model (no messages, or an empty prompt): Ollama
/// answers `done_reason: "load"` without generating. A gateway has nothing to load, so it
/// answers the same at once.
pub fn encode_load(model: &str, now_ms: u64, generate: bool) -> Vec<u8> {
    let mut obj = Map::new();
    obj.insert("model".into(), Value::from(model));
    obj.insert(
        "created_at".into(),
        Value::from(time::rfc3339_from_unix_ms(now_ms)),
    );
    if generate {
        obj.insert("response".into(), Value::from(""));
    } else {
        obj.insert(
            "message".into(),
            json!({"role": "assistant", "content": ""}),
        );
    }
    obj.insert("done_reason".into(), Value::from("load"));
    obj.insert("done".into(), Value::Bool(true));
    json::to_vec(&Value::Object(obj))
}
