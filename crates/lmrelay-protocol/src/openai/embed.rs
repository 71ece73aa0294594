//! `/v1/embeddings`: decoding client requests, encoding upstream requests, and both kinds of
//! responses (`float` arrays or base64 little-endian float32).

use crate::json::{decode_body, to_vec};
use base64::Engine;
use lmrelay_ir::{ApiError, EmbedInput, EmbedRequest, EmbedResponse, ErrorKind};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct WireEmbedRequest {
    model: String,
    input: Value,
    encoding_format: Option<String>,
    dimensions: Option<u32>,
    user: Option<String>,
}

/// Decodes a client's embeddings request. Returns the request and whether the client wants
/// base64 vectors.
pub fn decode_embed_request(body: &[u8]) -> Result<(EmbedRequest, bool), ApiError> {
    let w: WireEmbedRequest = decode_body(body)?;
    let input = parse_input(&w.input)?;
    if input.is_empty() {
        return Err(ApiError::invalid("`input` must not be empty.").with_param("input"));
    }
    let base64 = match w.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "encoding_format `{other}` is not supported; use float or base64."
            ))
            .with_param("encoding_format"))
        }
    };
    Ok((
        EmbedRequest {
            model: w.model,
            input,
            dimensions: w.dimensions,
            user: w.user,
            truncate: None,
        },
        base64,
    ))
}

fn parse_input(v: &Value) -> Result<EmbedInput, ApiError> {
    let bad = || {
        ApiError::invalid(
            "`input` must be a string, an array of strings, or an array of token arrays.",
        )
        .with_param("input")
    };
    match v {
        Value::String(s) => Ok(EmbedInput::Texts(vec![s.clone()])),
        Value::Array(items) if items.is_empty() => Ok(EmbedInput::Texts(vec![])),
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(EmbedInput::Texts(
            items
                .iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect(),
        )),
        Value::Array(items) if items.iter().all(Value::is_u64) => {
            Ok(EmbedInput::Tokens(vec![tokens(items).ok_or_else(bad)?]))
        }
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_array().and_then(|a| tokens(a)))
            .collect::<Option<Vec<_>>>()
            .map(EmbedInput::Tokens)
            .ok_or_else(bad),
        _ => Err(bad()),
    }
}

fn tokens(items: &[Value]) -> Option<Vec<u32>> {
    items
        .iter()
        .map(|t| t.as_u64().and_then(|n| u32::try_from(n).ok()))
        .collect()
}

/// Encodes an embeddings response for an OpenAI client.
pub fn encode_embed_response(resp: &EmbedResponse, model: &str, base64: bool) -> Vec<u8> {
    let data: Vec<Value> = resp
        .vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let embedding = if base64 {
                let mut bytes = Vec::with_capacity(v.len() * 4);
                for f in v {
                    bytes.extend_from_slice(&f.to_le_bytes());
                }
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    to_vec(&json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": resp.input_tokens, "total_tokens": resp.input_tokens},
    }))
}

/// Encodes an embeddings request for an OpenAI(-compatible) upstream (always `float`).
pub fn encode_embed_request(req: &EmbedRequest, model: &str) -> Vec<u8> {
    let input = match &req.input {
        EmbedInput::Texts(t) => json!(t),
        EmbedInput::Tokens(t) => json!(t),
    };
    let mut body = json!({"model": model, "input": input, "encoding_format": "float"});
    if let Some(d) = req.dimensions {
        body["dimensions"] = json!(d);
    }
    if let Some(u) = &req.user {
        body["user"] = json!(u);
    }
    to_vec(&body)
}

#[derive(Deserialize)]
struct WireEmbedResponse {
    #[serde(default)]
    model: String,
    data: Vec<WireEmbedding>,
    usage: Option<WireEmbedUsage>,
}

#[derive(Deserialize)]
struct WireEmbedding {
    #[serde(default)]
    index: usize,
    embedding: Value,
}

#[derive(Deserialize)]
struct WireEmbedUsage {
    #[serde(default)]
    prompt_tokens: u64,
}

/// Decodes an upstream's embeddings response (float arrays or base64).
pub fn decode_embed_response(body: &[u8]) -> Result<EmbedResponse, ApiError> {
    let bad = |why: String| {
        ApiError::new(
            ErrorKind::BadGateway,
            format!("The upstream sent embeddings lmrelay could not read: {why}"),
        )
    };
    let mut w: WireEmbedResponse = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    w.data.sort_by_key(|d| d.index);
    let vectors = w
        .data
        .into_iter()
        .map(|d| match d.embedding {
            Value::Array(a) => Ok(a
                .iter()
                .filter_map(Value::as_f64)
                .map(|f| f as f32)
                .collect()),
            Value::String(s) => base64::engine::general_purpose::STANDARD
                .decode(s)
                .map(|b| {
                    b.chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect()
                })
                .map_err(|e| bad(e.to_string())),
            _ => Err(bad("an embedding is neither an array nor base64".into())),
        })
        .collect::<Result<Vec<Vec<f32>>, ApiError>>()?;
    Ok(EmbedResponse {
        model: w.model,
        vectors,
        input_tokens: w.usage.map_or(0, |u| u.prompt_tokens),
    })
}
