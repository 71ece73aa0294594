//! The `ollama` provider type: Ollama's native `/api/*` endpoints.

use crate::adapter::{
    bearer, get, join, options, post_json, Adapter, Dialect, Target, UpstreamRequest,
};
use crate::classify::{classify, UpstreamError};
use http::HeaderMap;
use lmrelay_ir::{ApiError, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse};
use lmrelay_protocol::{ollama, StreamDecoder};

/// Ollama upstreams (local or ollama.com).
pub struct OllamaAdapter;

impl Adapter for OllamaAdapter {
    fn dialect(&self) -> Dialect {
        Dialect::Ollama
    }

    fn chat_request(
        &self,
        req: &ChatRequest,
        target: &Target<'_>,
    ) -> Result<UpstreamRequest, ApiError> {
        let body = ollama::encode_request(req, &options(target))?;
        post_json(join(target.base_url, "api/chat"), &bearer(target), body)
    }

    fn chat_response(&self, body: &[u8]) -> Result<ChatResponse, ApiError> {
        ollama::decode_response(body)
    }

    fn needs_inline_images(&self) -> bool {
        true
    }

    /// Ollama refuses `think` for a model without the thinking capability.
    fn relax(&self, req: &mut ChatRequest, error: &ApiError) -> bool {
        if error.status == 400
            && error.message.contains("does not support thinking")
            && req.reasoning.is_some()
        {
            req.reasoning = None;
            return true;
        }
        false
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(ollama::StreamReader::new())
    }

    fn models_from(&self, body: &[u8]) -> Option<Vec<String>> {
        crate::adapter::list_ids(body, "models", &["name", "model"])
    }

    fn health_request(&self, target: &Target<'_>) -> Option<Result<UpstreamRequest, ApiError>> {
        Some(get(join(target.base_url, "api/tags"), &bearer(target)))
    }

    fn error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> UpstreamError {
        classify(status, headers, ollama::decode_error(status, body))
    }

    fn embed_request(
        &self,
        req: &EmbedRequest,
        target: &Target<'_>,
    ) -> Result<UpstreamRequest, ApiError> {
        let body = ollama::encode_embed_request(req, target.model)?;
        post_json(join(target.base_url, "api/embed"), &bearer(target), body)
    }

    fn embed_response(&self, body: &[u8]) -> Result<EmbedResponse, ApiError> {
        ollama::decode_embed_response(body)
    }
}
