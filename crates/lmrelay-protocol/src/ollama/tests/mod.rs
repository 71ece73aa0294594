//! Table tests of the Ollama codec, every direction: client requests and answers, upstream
//! requests and answers, both stream roles, embeddings and the listing endpoints.

mod client;
mod misc;
mod stream;
mod upstream;

use crate::ResponseMeta;
use serde_json::Value;

/// Parses a JSON body for comparison.
fn v(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("valid JSON")
}

fn meta(include_reasoning: bool) -> ResponseMeta {
    ResponseMeta {
        model: "llama3.2".into(),
        started_ms: 1_751_919_739_000,
        include_usage: false,
        include_reasoning,
        tool_namespaces: Vec::new(),
    }
}
