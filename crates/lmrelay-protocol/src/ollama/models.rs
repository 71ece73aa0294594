//! Model listing and information for Ollama clients (§10.12): `/api/tags`, `/api/show`,
//! `/api/ps` and `/api/version`. lmrelay knows no file sizes or quantisations, so those are
//! empty; digests are stable hashes of the name.

use super::wire::ShowBody;
use crate::{json, time};
use lmrelay_ir::{ApiError, ModelInfo};
use serde_json::{json, Value};

/// The context length `/api/show` and `/api/ps` advertise.
const CONTEXT_LENGTH: u64 = 131_072;

/// `expires_at` of running models: far in the future, as Ollama reports a model kept loaded
/// for ever (lmrelay reads no clock).
const EXPIRES_AT_MS: u64 = 10_000_000_000_000;

/// The name an Ollama client sees: the id, with `:latest` when it has no tag.
pub fn ollama_name(id: &str) -> String {
    let last = id.rsplit('/').next().unwrap_or(id);
    if last.contains(':') {
        id.to_owned()
    } else {
        format!("{id}:latest")
    }
}

/// A stable 64-hex-digit digest of a name: four FNV-1a 64-bit hashes with different seeds.
pub fn digest(name: &str) -> String {
    let mut out = String::with_capacity(64);
    for seed in 0u8..4 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in std::iter::once(seed).chain(name.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out
}

fn details() -> Value {
    json!({
        "parent_model": "",
        "format": "",
        "family": "",
        "families": null,
        "parameter_size": "",
        "quantization_level": "",
    })
}

fn modified_at(m: &ModelInfo) -> String {
    time::rfc3339_from_unix_ms(m.created_secs.saturating_mul(1000))
}

/// `GET /api/tags`.
pub fn encode_tags(models: &[ModelInfo]) -> Vec<u8> {
    let entries: Vec<Value> = models
        .iter()
        .map(|m| {
            let name = ollama_name(&m.id);
            json!({
                "name": name,
                "model": name,
                "modified_at": modified_at(m),
                "size": 0,
                "digest": digest(&name),
                "details": details(),
            })
        })
        .collect();
    json::to_vec(&json!({ "models": entries }))
}

/// `POST /api/show` answer.
pub fn encode_show(model: &ModelInfo) -> Vec<u8> {
    json::to_vec(&json!({
        "modelfile": "",
        "parameters": "",
        "template": "",
        "details": details(),
        "model_info": {
            "general.architecture": "lmrelay",
            "lmrelay.context_length": CONTEXT_LENGTH,
        },
        "capabilities": ["completion", "tools", "vision", "thinking"],
        "modified_at": modified_at(model),
    }))
}

/// `GET /api/ps`: the given models as loaded, or `{"models":[]}`.
pub fn encode_ps(models: &[ModelInfo]) -> Vec<u8> {
    let entries: Vec<Value> = models
        .iter()
        .map(|m| {
            let name = ollama_name(&m.id);
            json!({
                "name": name,
                "model": name,
                "size": 0,
                "digest": digest(&name),
                "details": details(),
                "expires_at": time::rfc3339_from_unix_ms(EXPIRES_AT_MS),
                "size_vram": 0,
                "context_length": CONTEXT_LENGTH,
            })
        })
        .collect();
    json::to_vec(&json!({ "models": entries }))
}

/// `GET /api/version`.
pub fn encode_version(version: &str) -> Vec<u8> {
    json::to_vec(&json!({ "version": version }))
}

/// The model an `/api/show` body names (`model`, or the legacy `name`).
pub fn decode_show(body: &[u8]) -> Result<String, ApiError> {
    let body: ShowBody = json::decode_body(body)?;
    body.model
        .filter(|m| !m.trim().is_empty())
        .or(body.name.filter(|m| !m.trim().is_empty()))
        .ok_or_else(|| ApiError::invalid("model is required").with_param("model"))
}
