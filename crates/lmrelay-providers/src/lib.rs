//! Upstream adapters: one per provider type, behind one object-safe trait.
//!
//! An adapter is sans-I/O. It builds the HTTP request for an upstream (URL, headers, auth,
//! body), reads the upstream's answer, stream and errors, and classifies failures for the
//! attempt loop. Sending bytes is the gateway's job. A new provider type touches only this
//! crate plus one registry line in [`adapter_for`].

mod adapter;
mod anthropic;
mod azure;
mod bedrock;
mod classify;
mod cohere;
mod gemini;
pub mod glob;
mod ollama;
mod openai;
mod openai_responses;
mod presets;
mod ratelimit;

pub use adapter::{
    Adapter, AzureSettings, Dialect, ProviderKind, Target, UpstreamRequest,
    SENSITIVE as CREDENTIAL_HEADERS,
};
pub use anthropic::AnthropicAdapter;
pub use azure::AzureAdapter;
pub use bedrock::{BedrockAdapter, BedrockCredentials};
pub use classify::{classify, retry_after, Action, FailureKind, Next, UpstreamError};
pub use cohere::CohereAdapter;
pub use gemini::GeminiAdapter;
pub use ollama::OllamaAdapter;
pub use openai::OpenAiAdapter;
pub use openai_responses::OpenAiResponsesAdapter;
pub use presets::{preset_named, tool_call_id, Preset, ToolCallIds, PRESETS};
pub use ratelimit::{Budget, RateLimits};

use std::sync::Arc;

/// The adapter for a provider type.
pub fn adapter_for(kind: ProviderKind) -> Arc<dyn Adapter> {
    match kind {
        ProviderKind::OpenAi => Arc::new(OpenAiAdapter),
        ProviderKind::Anthropic => Arc::new(AnthropicAdapter),
        ProviderKind::Ollama => Arc::new(OllamaAdapter),
        ProviderKind::Gemini => Arc::new(GeminiAdapter),
        ProviderKind::Azure(settings) => Arc::new(AzureAdapter::new(settings)),
        ProviderKind::Cohere => Arc::new(CohereAdapter),
        ProviderKind::Bedrock => Arc::new(BedrockAdapter),
    }
}

/// The adapter that asks a provider of `kind` through OpenAI's Responses API, for the models
/// its `api` / `responses_models` switch names; `None` for types that have no such API.
pub fn responses_adapter_for(kind: ProviderKind) -> Option<Arc<dyn Adapter>> {
    match kind {
        ProviderKind::OpenAi => Some(Arc::new(OpenAiResponsesAdapter)),
        _ => None,
    }
}
