//! Legacy `/v1/completions`: a prompt in, text out. lmrelay serves it through the chat path
//! (the prompt becomes one user message), so every upstream type can answer it.

use super::response::{completion_id, finish_reason_str, WireUsage};
use crate::json::{decode_body, to_vec};
use crate::ResponseMeta;
use lmrelay_ir::{ApiError, ChatRequest, ChatResponse, Message, Role, Sampling};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct WireCompletion {
    model: String,
    prompt: Value,
    max_tokens: Option<u32>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    stop: Option<Value>,
    seed: Option<i64>,
    frequency_penalty: Option<f64>,
    presence_penalty: Option<f64>,
    stream: Option<bool>,
    stream_options: Option<Value>,
    user: Option<String>,
    suffix: Option<String>,
    n: Option<u32>,
}

/// Decodes a `POST /v1/completions` body into a one-message chat request.
pub fn decode_completion_request(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let w: WireCompletion = decode_body(body)?;
    let prompt =
        match &w.prompt {
            Value::String(s) => s.clone(),
            Value::Array(items) if items.len() == 1 && items[0].is_string() => {
                items[0].as_str().unwrap_or_default().to_owned()
            }
            Value::Array(_) => return Err(ApiError::invalid(
                "lmrelay serves one text prompt per completion request; send `prompt` as a string.",
            )
            .with_param("prompt")),
            _ => return Err(ApiError::invalid("`prompt` must be a string.").with_param("prompt")),
        };
    if w.suffix.is_some() {
        return Err(ApiError::invalid(
            "`suffix` (fill-in-the-middle) is not supported through lmrelay's completions endpoint.",
        )
        .with_param("suffix"));
    }
    let stop = match w.stop {
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(v)) => v
            .into_iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect(),
        _ => vec![],
    };
    Ok(ChatRequest {
        model: w.model,
        messages: vec![Message::text(Role::User, prompt)],
        sampling: Sampling {
            // The legacy endpoint's default is 16 tokens.
            max_tokens: Some(w.max_tokens.unwrap_or(16)),
            temperature: w.temperature,
            top_p: w.top_p,
            stop: stop.into_iter().filter(|s| !s.is_empty()).collect(),
            seed: w.seed,
            frequency_penalty: w.frequency_penalty,
            presence_penalty: w.presence_penalty,
            n: w.n,
            ..Sampling::default()
        },
        user: w.user,
        stream: w.stream.unwrap_or(false),
        include_usage: w
            .stream_options
            .and_then(|o| o.get("include_usage").and_then(Value::as_bool))
            .unwrap_or(false),
        ..ChatRequest::default()
    })
}

/// Encodes a canonical response as a `text_completion` body.
pub fn encode_completion_response(resp: &ChatResponse, meta: &ResponseMeta) -> Vec<u8> {
    to_vec(&json!({
        "id": completion_id(&resp.id, "cmpl-"),
        "object": "text_completion",
        "created": meta.created_secs(),
        "model": meta.model,
        "choices": [{
            "text": resp.text(),
            "index": 0,
            "logprobs": null,
            "finish_reason": finish_reason_str(resp.finish),
        }],
        "usage": WireUsage::from_usage(&resp.usage),
    }))
}
