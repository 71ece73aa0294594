//! The `openai` provider type (and, later, OpenAI-compatible presets as data over it).

use crate::adapter::{
    bearer, get, join, options, post_json, Adapter, Dialect, Target, UpstreamRequest,
};
use crate::classify::{classify, UpstreamError};
use http::HeaderMap;
use lmrelay_ir::{ApiError, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse};
use lmrelay_protocol::{openai, StreamDecoder};

/// OpenAI Chat Completions upstreams.
pub struct OpenAiAdapter;

impl Adapter for OpenAiAdapter {
    fn dialect(&self) -> Dialect {
        Dialect::OpenAi
    }

    fn chat_request(
        &self,
        req: &ChatRequest,
        target: &Target<'_>,
    ) -> Result<UpstreamRequest, ApiError> {
        let body = openai::encode_request(req, &options(target))?;
        post_json(
            join(target.base_url, "chat/completions"),
            &bearer(target),
            body,
        )
    }

    fn chat_response(&self, body: &[u8]) -> Result<ChatResponse, ApiError> {
        openai::decode_response(body)
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(openai::StreamReader::new())
    }

    /// Non-reasoning models refuse `reasoning_effort`; some compatible servers refuse `top_k`.
    fn relax(&self, req: &mut ChatRequest, error: &ApiError) -> bool {
        if error.status != 400 {
            return false;
        }
        let names =
            |field: &str| error.param.as_deref() == Some(field) || error.message.contains(field);
        if names("reasoning_effort") && req.reasoning.is_some() {
            req.reasoning = None;
            return true;
        }
        if names("top_k") && req.sampling.top_k.is_some() {
            req.sampling.top_k = None;
            return true;
        }
        false
    }

    fn health_request(&self, target: &Target<'_>) -> Option<Result<UpstreamRequest, ApiError>> {
        Some(get(join(target.base_url, "models"), &bearer(target)))
    }

    fn error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> UpstreamError {
        classify(status, headers, openai::decode_error(status, body))
    }

    fn embed_request(
        &self,
        req: &EmbedRequest,
        target: &Target<'_>,
    ) -> Result<UpstreamRequest, ApiError> {
        let body = openai::encode_embed_request(req, target.model);
        post_json(join(target.base_url, "embeddings"), &bearer(target), body)
    }

    fn embed_response(&self, body: &[u8]) -> Result<EmbedResponse, ApiError> {
        openai::decode_embed_response(body)
    }
}
