//! `/api/generate` (client side): the prompt-style endpoint becomes an ordinary
//! [`ChatRequest`] (`system` → a system message, `prompt` + `images` → a user message), and an
//! answer goes back with `response` (and `thinking`) instead of `message`. The caller keeps
//! track of which endpoint a request came from; the stream writer takes a `generate` flag.

use super::chat::image_parts;
use super::options;
use super::response::{put_final_fields, reasoning_text};
use super::wire::GenerateBody;
use crate::{json, time, ResponseMeta};
use lmrelay_ir::{ApiError, ChatRequest, ChatResponse, ContentPart, Message, Role};
use serde_json::{Map, Value};

/// Decodes an Ollama client's `/api/generate` body. `stream` defaults to true. An empty
/// prompt gives no user message (Ollama clients use it to load a model).
pub fn decode_generate(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let body: GenerateBody = json::decode_body(body)?;
    if body.model.trim().is_empty() {
        return Err(ApiError::invalid("model is required").with_param("model"));
    }
    let mut messages = Vec::new();
    if let Some(system) = body.system.filter(|s| !s.is_empty()) {
        messages.push(Message::text(Role::System, system));
    }
    let mut parts = Vec::new();
    if let Some(prompt) = body.prompt.filter(|p| !p.is_empty()) {
        parts.push(ContentPart::text(prompt));
    }
    parts.extend(image_parts(body.images));
    if !parts.is_empty() {
        messages.push(Message {
            role: Role::User,
            content: parts,
            name: None,
        });
    }
    let decoded = options::decode(body.knobs)?;
    Ok(ChatRequest {
        model: body.model,
        messages,
        sampling: decoded.sampling,
        response_format: decoded.response_format,
        reasoning: decoded.reasoning,
        stream: body.stream.unwrap_or(true),
        extra: decoded.extra,
        ..ChatRequest::default()
    })
}

/// Encodes a complete answer as a non-streamed `/api/generate` object. Tool calls have no
/// place in it and are left out.
pub fn encode_generate_response(resp: &ChatResponse, meta: &ResponseMeta, now_ms: u64) -> Vec<u8> {
    let mut obj = Map::new();
    obj.insert("model".into(), Value::from(meta.model.as_str()));
    obj.insert(
        "created_at".into(),
        Value::from(time::rfc3339_from_unix_ms(now_ms)),
    );
    obj.insert("response".into(), Value::from(resp.text()));
    if meta.include_reasoning {
        let thinking = reasoning_text(&resp.content);
        if !thinking.is_empty() {
            obj.insert("thinking".into(), Value::from(thinking));
        }
    }
    put_final_fields(&mut obj, resp.finish, &resp.usage, meta.started_ms, now_ms);
    json::to_vec(&Value::Object(obj))
}
