//! The `anthropic` provider type: the Messages API.

use crate::adapter::{get, join, options, post_json, Adapter, Dialect, Target, UpstreamRequest};
use crate::classify::{classify, UpstreamError};
use http::HeaderMap;
use lmrelay_ir::{ApiError, ChatRequest, ChatResponse, ErrorKind};
use lmrelay_protocol::{anthropic, StreamDecoder};

/// The only `anthropic-version` there is.
const API_VERSION: &str = "2023-06-01";

/// The fields `count_tokens` accepts, out of a full Messages body.
const COUNT_TOKENS_FIELDS: &[&str] = &[
    "model",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "thinking",
    "output_config",
];

/// Anthropic Messages upstreams.
pub struct AnthropicAdapter;

impl Adapter for AnthropicAdapter {
    fn dialect(&self) -> Dialect {
        Dialect::Anthropic
    }

    fn chat_request(
        &self,
        req: &ChatRequest,
        target: &Target<'_>,
    ) -> Result<UpstreamRequest, ApiError> {
        let body = anthropic::encode_request(req, &options(target))?;
        post_json(join(target.base_url, "v1/messages"), &headers(target), body)
    }

    fn passthrough_request(
        &self,
        body: bytes::Bytes,
        target: &Target<'_>,
    ) -> Option<Result<UpstreamRequest, ApiError>> {
        Some(post_json(
            join(target.base_url, "v1/messages"),
            &headers(target),
            body,
        ))
    }

    fn chat_response(&self, body: &[u8]) -> Result<ChatResponse, ApiError> {
        anthropic::decode_response(body)
    }

    fn passes_answers_through(&self) -> bool {
        true
    }

    fn answer_summary(
        &self,
        body: &[u8],
    ) -> Option<Result<lmrelay_protocol::AnswerSummary, ApiError>> {
        Some(anthropic::answer_summary(body))
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(anthropic::StreamReader::new())
    }

    fn models_from(&self, body: &[u8]) -> Option<Vec<String>> {
        crate::adapter::list_ids(body, "data", &["id"])
    }

    fn health_request(&self, target: &Target<'_>) -> Option<Result<UpstreamRequest, ApiError>> {
        Some(get(join(target.base_url, "v1/models"), &headers(target)))
    }

    fn error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> UpstreamError {
        classify(status, headers, anthropic::decode_error(status, body))
    }

    fn count_tokens_request(
        &self,
        req: &ChatRequest,
        target: &Target<'_>,
    ) -> Option<Result<UpstreamRequest, ApiError>> {
        let build = || {
            let full = anthropic::encode_request(req, &options(target))?;
            let mut value: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&full).map_err(|e| {
                    ApiError::new(
                        ErrorKind::Server,
                        format!("Could not build count_tokens: {e}"),
                    )
                })?;
            value.retain(|k, _| COUNT_TOKENS_FIELDS.contains(&k.as_str()));
            let body = serde_json::to_vec(&value).map_err(|e| {
                ApiError::new(
                    ErrorKind::Server,
                    format!("Could not build count_tokens: {e}"),
                )
            })?;
            post_json(
                join(target.base_url, "v1/messages/count_tokens"),
                &headers(target),
                body,
            )
        };
        Some(build())
    }

    fn count_tokens_response(&self, body: &[u8]) -> Result<u64, ApiError> {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("input_tokens").and_then(serde_json::Value::as_u64))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorKind::BadGateway,
                    "The upstream's count_tokens answer has no input_tokens.",
                )
            })
    }
}

fn headers(target: &Target<'_>) -> Vec<(&'static str, String)> {
    let mut h = vec![("anthropic-version", API_VERSION.to_owned())];
    if let Some(k) = target.api_key {
        h.push(("x-api-key", k.to_owned()));
    }
    // Beta flags mean something only to Anthropic, only when the client chose them, and
    // only those the operator allows (some make Anthropic act on the operator's key).
    if target.client == Dialect::Anthropic {
        if let Some(betas) = allowed_betas(target) {
            h.push(("anthropic-beta", betas));
        }
    }
    h
}

/// The client's `anthropic-beta` flags that `allowed_betas` admits, comma-separated.
fn allowed_betas(target: &Target<'_>) -> Option<String> {
    let mut out = String::new();
    for value in target.client_headers.get_all("anthropic-beta") {
        let Ok(value) = value.to_str() else {
            continue;
        };
        for flag in value.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            if target
                .allowed_betas
                .iter()
                .any(|p| crate::glob::matches(p, flag))
            {
                if !out.is_empty() {
                    out.push(',');
                }
                out.push_str(flag);
            }
        }
    }
    (!out.is_empty()).then_some(out)
}
