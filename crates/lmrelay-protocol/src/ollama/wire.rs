//! Private serde shapes of the Ollama native API. Only what lmrelay reads is modelled;
//! unknown fields are ignored, never rejected. Outgoing bodies are built as ordered JSON
//! values by the encoders, so only incoming shapes live here.

use serde::Deserialize;
use serde_json::Value;

/// `POST /api/chat` request (client side).
#[derive(Debug, Deserialize)]
pub(super) struct ChatBody {
    pub model: String,
    #[serde(default)]
    pub messages: Option<Vec<WireMessage>>,
    #[serde(default)]
    pub tools: Option<Vec<WireTool>>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(flatten)]
    pub knobs: super::options::Knobs,
}

/// `POST /api/generate` request (client side).
#[derive(Debug, Deserialize)]
pub(super) struct GenerateBody {
    pub model: String,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub images: Option<Vec<String>>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(flatten)]
    pub knobs: super::options::Knobs,
}

/// One message, in requests and in responses.
#[derive(Debug, Default, Deserialize)]
pub(super) struct WireMessage {
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub thinking: Option<String>,
    #[serde(default)]
    pub images: Option<Vec<String>>,
    #[serde(default)]
    pub tool_calls: Option<Vec<WireToolCall>>,
    #[serde(default)]
    pub tool_name: Option<String>,
    #[serde(default)]
    pub tool_call_id: Option<String>,
}

/// `{id?, function:{index?, name, arguments: object}}`.
#[derive(Debug, Deserialize)]
pub(super) struct WireToolCall {
    #[serde(default)]
    pub id: Option<String>,
    pub function: WireFunctionCall,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireFunctionCall {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub arguments: Option<Value>,
}

/// A tool definition (the OpenAI shape).
#[derive(Debug, Deserialize)]
pub(super) struct WireTool {
    pub function: WireToolFunction,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireToolFunction {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<Value>,
}

/// A response object (`stream:false`) or one stream line, of `/api/chat` or `/api/generate`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct WireResponse {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub message: Option<WireMessage>,
    /// `/api/generate` text.
    #[serde(default)]
    pub response: Option<String>,
    /// `/api/generate` reasoning.
    #[serde(default)]
    pub thinking: Option<String>,
    #[serde(default)]
    pub done: Option<bool>,
    #[serde(default)]
    pub done_reason: Option<String>,
    #[serde(default)]
    pub prompt_eval_count: Option<u64>,
    #[serde(default)]
    pub eval_count: Option<u64>,
    #[serde(default)]
    pub error: Option<Value>,
}

/// `POST /api/show` request.
#[derive(Debug, Deserialize)]
pub(super) struct ShowBody {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /api/embed` request.
#[derive(Debug, Deserialize)]
pub(super) struct EmbedBody {
    pub model: String,
    #[serde(default)]
    pub input: Option<Value>,
    #[serde(default)]
    pub truncate: Option<bool>,
    #[serde(default)]
    pub dimensions: Option<u32>,
}

/// `POST /api/embeddings` (legacy) request.
#[derive(Debug, Deserialize)]
pub(super) struct LegacyEmbedBody {
    pub model: String,
    #[serde(default)]
    pub prompt: Option<String>,
}

/// `/api/embed` response (upstream side).
#[derive(Debug, Deserialize)]
pub(super) struct EmbedResponseBody {
    #[serde(default)]
    pub model: Option<String>,
    pub embeddings: Vec<Vec<f32>>,
    #[serde(default)]
    pub prompt_eval_count: Option<u64>,
}
