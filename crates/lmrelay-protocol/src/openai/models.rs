//! `/v1/models` listings for OpenAI clients.

use crate::json::to_vec;
use lmrelay_ir::ModelInfo;
use serde_json::{json, Value};

fn model_object(m: &ModelInfo) -> Value {
    json!({"id": m.id, "object": "model", "created": m.created_secs, "owned_by": m.owned_by})
}

/// `{"object":"list","data":[…]}`.
pub fn encode_models(models: &[ModelInfo]) -> Vec<u8> {
    let data: Vec<Value> = models.iter().map(model_object).collect();
    to_vec(&json!({"object": "list", "data": data}))
}

/// A single model object (`GET /v1/models/{id}`).
pub fn encode_model(model: &ModelInfo) -> Vec<u8> {
    to_vec(&model_object(model))
}
