//! The `openai` provider type (and, later, OpenAI-compatible presets as data over it).

use crate::adapter::{join, post_json, Adapter, Dialect, Target, UpstreamRequest};
use crate::classify::{classify, UpstreamError};
use http::HeaderMap;
use lmrelay_ir::{ApiError, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse};
use lmrelay_protocol::{openai, StreamDecoder, UpstreamOptions};

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
            &auth(target),
            body,
        )
    }

    fn chat_response(&self, body: &[u8]) -> Result<ChatResponse, ApiError> {
        openai::decode_response(body)
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(openai::StreamReader::new())
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
        post_json(join(target.base_url, "embeddings"), &auth(target), body)
    }

    fn embed_response(&self, body: &[u8]) -> Result<EmbedResponse, ApiError> {
        openai::decode_embed_response(body)
    }
}

fn options(target: &Target<'_>) -> UpstreamOptions {
    UpstreamOptions {
        model: target.model.to_owned(),
        default_max_tokens: target.default_max_tokens,
    }
}

fn auth<'a>(target: &Target<'a>) -> Vec<(&'static str, String)> {
    target
        .api_key
        .map(|k| vec![("authorization", format!("Bearer {k}"))])
        .unwrap_or_default()
}
