//! Embeddings: `/api/embed` and the legacy `/api/embeddings` for Ollama clients, and
//! `/api/embed` towards an Ollama upstream.

use super::error::upstream_body;
use super::wire::{EmbedBody, EmbedResponseBody, LegacyEmbedBody};
use crate::json;
use lmrelay_ir::{ApiError, EmbedInput, EmbedRequest, EmbedResponse};
use serde_json::{json, Map, Value};

/// Decodes an Ollama client's `/api/embed` body (`input`: a string or an array of strings).
pub fn decode_embed(body: &[u8]) -> Result<EmbedRequest, ApiError> {
    let body: EmbedBody = json::decode_body(body)?;
    require_model(&body.model)?;
    let texts = match body.input {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s),
                _ => Err(
                    ApiError::invalid("`input` must be a string or an array of strings.")
                        .with_param(format!("input[{i}]")),
                ),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(
                ApiError::invalid("`input` must be a string or an array of strings.")
                    .with_param("input"),
            )
        }
    };
    Ok(EmbedRequest {
        model: body.model,
        input: EmbedInput::Texts(texts),
        dimensions: body.dimensions,
        user: None,
        truncate: body.truncate,
    })
}

/// Encodes vectors as an `/api/embed` answer. `elapsed_ns` becomes `total_duration`.
pub fn encode_embed(resp: &EmbedResponse, model: &str, elapsed_ns: u64) -> Vec<u8> {
    json::to_vec(&json!({
        "model": model,
        "embeddings": resp.vectors,
        "total_duration": elapsed_ns,
        "load_duration": 0,
        "prompt_eval_count": resp.input_tokens,
    }))
}

/// Decodes a legacy `/api/embeddings` body (`{model, prompt}`). An empty prompt embeds
/// nothing, and the answer is an empty vector, as Ollama does.
pub fn decode_embeddings_legacy(body: &[u8]) -> Result<EmbedRequest, ApiError> {
    let body: LegacyEmbedBody = json::decode_body(body)?;
    require_model(&body.model)?;
    let texts = body.prompt.filter(|p| !p.is_empty()).into_iter().collect();
    Ok(EmbedRequest {
        model: body.model,
        input: EmbedInput::Texts(texts),
        dimensions: None,
        user: None,
        truncate: None,
    })
}

/// Encodes the first vector as a legacy `/api/embeddings` answer (`{"embedding":[…]}`).
pub fn encode_embeddings_legacy(resp: &EmbedResponse) -> Vec<u8> {
    let first = resp.vectors.first().cloned().unwrap_or_default();
    json::to_vec(&json!({ "embedding": first }))
}

fn require_model(model: &str) -> Result<(), ApiError> {
    if model.trim().is_empty() {
        return Err(ApiError::invalid("model is required").with_param("model"));
    }
    Ok(())
}

// === upstream side ===

/// Encodes an embedding request for an Ollama upstream's `/api/embed`. Token inputs are
/// refused: only OpenAI accepts them.
pub fn encode_embed_request(req: &EmbedRequest, model: &str) -> Result<Vec<u8>, ApiError> {
    let texts = match &req.input {
        EmbedInput::Texts(t) => t,
        EmbedInput::Tokens(_) => {
            return Err(ApiError::invalid(
                "Ollama upstreams do not accept token-array input; send text.",
            )
            .with_param("input"))
        }
    };
    let mut body = Map::new();
    body.insert("model".into(), Value::from(model));
    body.insert("input".into(), json!(texts));
    if let Some(t) = req.truncate {
        body.insert("truncate".into(), Value::Bool(t));
    }
    if let Some(d) = req.dimensions {
        body.insert("dimensions".into(), Value::from(d));
    }
    Ok(json::to_vec(&Value::Object(body)))
}

/// Decodes an Ollama upstream's `/api/embed` answer.
pub fn decode_embed_response(body: &[u8]) -> Result<EmbedResponse, ApiError> {
    let wire: EmbedResponseBody = upstream_body(body)?;
    Ok(EmbedResponse {
        model: wire.model.unwrap_or_default(),
        vectors: wire.embeddings,
        input_tokens: wire.prompt_eval_count.unwrap_or(0),
    })
}
