//! Gemini's other endpoints (protocols.md §4.5): `batchEmbedContents` / `embedContent`,
//! `countTokens` answers, and the `models` listing.

use crate::json;
use lmrelay_ir::{ApiError, EmbedInput, EmbedRequest, EmbedResponse, ErrorKind};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireEmbeddings {
    embeddings: Option<Vec<WireEmbedding>>,
    embedding: Option<WireEmbedding>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireEmbedding {
    values: Vec<f32>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct WireModels {
    models: Vec<WireModel>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct WireModel {
    name: String,
    supported_generation_methods: Vec<String>,
}

/// Encodes a `batchEmbedContents` body for `model` (one request per input text). Token
/// inputs only OpenAI understands are refused (400).
pub fn encode_embed_request(req: &EmbedRequest, model: &str) -> Result<Vec<u8>, ApiError> {
    let EmbedInput::Texts(texts) = &req.input else {
        return Err(ApiError::invalid(
            "Gemini embeds text only; token arrays are an OpenAI extension.",
        )
        .with_param("input"));
    };
    let model = format!("models/{}", model.strip_prefix("models/").unwrap_or(model));
    let requests: Vec<Value> = texts
        .iter()
        .map(|t| {
            let mut r = json!({"model": model, "content": {"parts": [{"text": t}]}});
            if let Some(d) = req.dimensions {
                r["outputDimensionality"] = Value::from(d);
            }
            r
        })
        .collect();
    Ok(json::to_vec(&json!({ "requests": requests })))
}

/// Decodes a `batchEmbedContents` (or `embedContent`) answer. Gemini reports no token
/// counts, so `input_tokens` is 0.
pub fn decode_embed_response(body: &[u8]) -> Result<EmbedResponse, ApiError> {
    let wire: WireEmbeddings = serde_json::from_slice(body).map_err(|e| bad(&e, "embeddings"))?;
    let vectors = match (wire.embeddings, wire.embedding) {
        (Some(list), _) => list.into_iter().map(|e| e.values).collect(),
        (None, Some(one)) => vec![one.values],
        (None, None) => {
            return Err(ApiError::new(
                ErrorKind::BadGateway,
                "Gemini's embeddings answer has no `embeddings`.",
            ))
        }
    };
    Ok(EmbedResponse {
        model: String::new(),
        vectors,
        input_tokens: 0,
    })
}

/// Reads `totalTokens` from a `countTokens` answer.
pub fn decode_count_tokens(body: &[u8]) -> Result<u64, ApiError> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("totalTokens").and_then(Value::as_u64))
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::BadGateway,
                "Gemini's countTokens answer has no totalTokens.",
            )
        })
}

/// The chat model ids of a `GET /v1beta/models` page: `models/` stripped, only models that
/// support `generateContent`.
pub fn decode_models(body: &[u8]) -> Result<Vec<String>, ApiError> {
    let wire: WireModels = serde_json::from_slice(body).map_err(|e| bad(&e, "model list"))?;
    Ok(wire
        .models
        .into_iter()
        .filter(|m| {
            m.supported_generation_methods
                .iter()
                .any(|g| g == "generateContent")
        })
        .map(|m| {
            m.name
                .strip_prefix("models/")
                .map(str::to_owned)
                .unwrap_or(m.name)
        })
        .collect())
}

fn bad(e: &serde_json::Error, what: &str) -> ApiError {
    ApiError::new(
        ErrorKind::BadGateway,
        format!("Gemini returned a {what} lmrelay cannot read: {e}"),
    )
}
