//! Anthropic model listing (`GET /v1/models`, `GET /v1/models/{id}`) and the
//! `count_tokens` response.

use crate::{json, time};
use lmrelay_ir::ModelInfo;
use serde::Serialize;

#[derive(Serialize)]
struct ModelEntry<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    display_name: &'a str,
    created_at: String,
}

#[derive(Serialize)]
struct ModelList<'a> {
    data: Vec<ModelEntry<'a>>,
    has_more: bool,
    first_id: Option<&'a str>,
    last_id: Option<&'a str>,
}

#[derive(Serialize)]
struct CountTokens {
    input_tokens: u64,
}

/// `GET /v1/models`: every entry, on one page.
pub fn encode_models(models: &[ModelInfo]) -> Vec<u8> {
    json::to_vec(&ModelList {
        data: models.iter().map(entry).collect(),
        has_more: false,
        first_id: models.first().map(|m| m.id.as_str()),
        last_id: models.last().map(|m| m.id.as_str()),
    })
}

/// `GET /v1/models/{id}`: one model object.
pub fn encode_model(m: &ModelInfo) -> Vec<u8> {
    json::to_vec(&entry(m))
}

/// `POST /v1/messages/count_tokens` response.
pub fn encode_count_tokens(input_tokens: u64) -> Vec<u8> {
    json::to_vec(&CountTokens { input_tokens })
}

fn entry(m: &ModelInfo) -> ModelEntry<'_> {
    ModelEntry {
        kind: "model",
        id: &m.id,
        display_name: &m.id,
        created_at: time::rfc3339_from_unix_secs(m.created_secs),
    }
}
