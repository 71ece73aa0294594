//! The `gemini` provider type: Google's Generative Language API (`v1beta`), natively.
//!
//! `POST {base}/v1beta/models/{model}:generateContent`, or `:streamGenerateContent?alt=sse`
//! for streams; `:batchEmbedContents`, `:countTokens`; `GET {base}/v1beta/models`. The key
//! goes in `x-goog-api-key` (never the `?key=` query, which ends up in logs).

use crate::adapter::{get, join, options, post_json, Adapter, Dialect, Target, UpstreamRequest};
use crate::classify::{classify, UpstreamError};
use http::HeaderMap;
use lmrelay_ir::{ApiError, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse};
use lmrelay_protocol::{gemini, StreamDecoder};
use std::time::Duration;

/// The API version every path uses.
const API_VERSION: &str = "v1beta";

/// Gemini upstreams.
pub struct GeminiAdapter;

// === impl GeminiAdapter ===

impl GeminiAdapter {
    /// `GET {base}/v1beta/models`: the provider's model list (also a cheap health check).
    /// Read it with `lmrelay_protocol::gemini::decode_models`.
    pub fn models_request(&self, target: &Target<'_>) -> Result<UpstreamRequest, ApiError> {
        get(
            join(target.base_url, &format!("{API_VERSION}/models")),
            &headers(target),
        )
    }
}

impl Adapter for GeminiAdapter {
    fn dialect(&self) -> Dialect {
        Dialect::Gemini
    }

    fn chat_request(
        &self,
        req: &ChatRequest,
        target: &Target<'_>,
    ) -> Result<UpstreamRequest, ApiError> {
        let body = gemini::encode_request(req, &options(target))?;
        let method = if req.stream {
            "streamGenerateContent?alt=sse"
        } else {
            "generateContent"
        };
        post_json(method_url(target, method), &headers(target), body)
    }

    fn chat_response(&self, body: &[u8]) -> Result<ChatResponse, ApiError> {
        gemini::decode_response(body)
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(gemini::StreamReader::new())
    }

    /// Gemini answers a bad key with 400 `API_KEY_INVALID`; the codec reports it as 401, so
    /// it is classified as the key's fault. A `RetryInfo` delay counts as a retry-after.
    fn models_from(&self, body: &[u8]) -> Option<Vec<String>> {
        lmrelay_protocol::gemini::decode_models(body).ok()
    }

    fn health_request(&self, target: &Target<'_>) -> Option<Result<UpstreamRequest, ApiError>> {
        Some(self.models_request(target))
    }

    fn error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> UpstreamError {
        let error = gemini::decode_error(status, body);
        let delay = error.retry_after;
        let mut classified = classify(error.status, headers, error);
        if classified.retry_after.is_none() {
            classified.retry_after = delay.map(Duration::from_secs);
        }
        classified
    }

    /// Models that cannot think refuse a thinking budget, and thinking-only models refuse a
    /// budget of 0: the request can go without a `thinkingConfig`. Gemini 2 models refuse
    /// JSON mode together with function calling: the tools matter more. Some models refuse
    /// presence and frequency penalties ("Penalty is not enabled for …").
    fn relax(&self, req: &mut ChatRequest, error: &ApiError) -> bool {
        if error.status != 400 {
            return false;
        }
        let m = error.message.to_ascii_lowercase();
        if (m.contains("thinking") || m.contains("budget")) && req.reasoning.is_some() {
            req.reasoning = None;
            return true;
        }
        if m.contains("mime type") && !req.tools.is_empty() && req.response_format.is_some() {
            req.response_format = None;
            return true;
        }
        let penalties = &mut req.sampling;
        if m.contains("penalty")
            && (penalties.presence_penalty.is_some() || penalties.frequency_penalty.is_some())
        {
            penalties.presence_penalty = None;
            penalties.frequency_penalty = None;
            return true;
        }
        false
    }

    fn needs_inline_images(&self) -> bool {
        true
    }

    fn embed_request(
        &self,
        req: &EmbedRequest,
        target: &Target<'_>,
    ) -> Result<UpstreamRequest, ApiError> {
        let body = gemini::encode_embed_request(req, target.model)?;
        post_json(
            method_url(target, "batchEmbedContents"),
            &headers(target),
            body,
        )
    }

    fn embed_response(&self, body: &[u8]) -> Result<EmbedResponse, ApiError> {
        gemini::decode_embed_response(body)
    }

    fn count_tokens_request(
        &self,
        req: &ChatRequest,
        target: &Target<'_>,
    ) -> Option<Result<UpstreamRequest, ApiError>> {
        let build = || {
            let body = gemini::encode_count_tokens_request(req, &options(target))?;
            post_json(method_url(target, "countTokens"), &headers(target), body)
        };
        Some(build())
    }

    fn count_tokens_response(&self, body: &[u8]) -> Result<u64, ApiError> {
        gemini::decode_count_tokens(body)
    }
}

/// `{base}/v1beta/models/{model}:{method}`; a model given as `models/…` is not doubled.
fn method_url(target: &Target<'_>, method: &str) -> String {
    let model = target.model.strip_prefix("models/").unwrap_or(target.model);
    join(
        target.base_url,
        &format!("{API_VERSION}/models/{model}:{method}"),
    )
}

fn headers(target: &Target<'_>) -> Vec<(&'static str, String)> {
    target
        .api_key
        .map(|k| vec![("x-goog-api-key", k.to_owned())])
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lmrelay_ir::{ErrorKind, Message, Reasoning, Role};

    fn target<'a>(headers: &'a HeaderMap, model: &'a str) -> Target<'a> {
        Target {
            base_url: "https://generativelanguage.googleapis.com/",
            model,
            api_key: Some("AIza-test"),
            default_max_tokens: 4096,
            preset: None,
            client: Dialect::OpenAi,
            client_headers: headers,
            allowed_betas: &[],
            aws_region: None,
            headers: &[],
            now_unix_ms: 0,
        }
    }

    #[test]
    fn urls_headers_and_streams() {
        let h = HeaderMap::new();
        let mut req = ChatRequest {
            messages: vec![Message::text(Role::User, "hi")],
            ..ChatRequest::default()
        };
        let built = GeminiAdapter
            .chat_request(&req, &target(&h, "gemini-2.5-flash"))
            .expect("builds");
        assert_eq!(
            built.uri(),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
        );
        let key = &built.headers()["x-goog-api-key"];
        assert_eq!(key, "AIza-test");
        assert!(key.is_sensitive());
        assert!(built.headers().get("authorization").is_none());
        req.stream = true;
        let built = GeminiAdapter
            .chat_request(&req, &target(&h, "models/gemini-2.5-flash"))
            .expect("builds");
        assert_eq!(
            built.uri(),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        let t = target(&h, "text-embedding-004");
        let count = GeminiAdapter
            .count_tokens_request(&req, &t)
            .expect("can count")
            .expect("builds");
        assert!(count.uri().to_string().ends_with(":countTokens"));
        let models = GeminiAdapter.models_request(&t).expect("builds");
        assert_eq!(models.method(), http::Method::GET);
        assert_eq!(
            models.uri(),
            "https://generativelanguage.googleapis.com/v1beta/models"
        );
        assert!(GeminiAdapter.needs_inline_images());
    }

    #[test]
    fn errors_are_classified() {
        let h = HeaderMap::new();
        let bad_key = br#"{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}"#;
        let e = GeminiAdapter.error(400, &h, bad_key);
        assert!(e.key_fault() && !e.retryable());
        assert_eq!(e.error.kind, ErrorKind::Authentication);
        let quota = br#"{"error":{"code":429,"message":"Quota.","status":"RESOURCE_EXHAUSTED","details":[{"retryDelay":"7s"}]}}"#;
        let e = GeminiAdapter.error(429, &h, quota);
        assert!(e.key_fault() && e.retryable());
        assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
        let e = GeminiAdapter.error(
            503,
            &h,
            br#"{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}"#,
        );
        assert!(e.retryable() && !e.key_fault());
        let e = GeminiAdapter.error(
            400,
            &h,
            br#"{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}"#,
        );
        assert!(!e.retryable() && !e.key_fault());
    }

    #[test]
    fn relax_drops_only_what_the_model_refused() {
        let mut req = ChatRequest {
            reasoning: Some(Reasoning::default()),
            ..ChatRequest::default()
        };
        let other = ApiError::invalid("Invalid JSON payload received.");
        assert!(!GeminiAdapter.relax(&mut req, &other));
        let refusal =
            ApiError::invalid("Budget 0 is invalid. This model only works in thinking mode.");
        assert!(GeminiAdapter.relax(&mut req, &refusal));
        assert!(req.reasoning.is_none());
        assert!(!GeminiAdapter.relax(&mut req, &refusal));

        let json_and_tools = ApiError::invalid(
            "Function calling with a response mime type: 'application/json' is unsupported",
        );
        assert!(!GeminiAdapter.relax(&mut req, &json_and_tools), "no tools");
        req.tools.push(lmrelay_ir::Tool {
            name: "f".into(),
            description: None,
            parameters: None,
            strict: None,
            cache_control: None,
        });
        req.response_format = Some(lmrelay_ir::ResponseFormat::JsonObject);
        assert!(GeminiAdapter.relax(&mut req, &json_and_tools));
        assert!(req.response_format.is_none());

        let penalty = ApiError::invalid("Penalty is not enabled for models/gemini-2.5-pro");
        assert!(!GeminiAdapter.relax(&mut req, &penalty), "no penalties");
        req.sampling.presence_penalty = Some(0.5);
        assert!(GeminiAdapter.relax(&mut req, &penalty));
        assert_eq!(req.sampling.presence_penalty, None);
    }
}
