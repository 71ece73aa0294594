//! The `cohere` provider type: Cohere's v2 API (protocols.md §7), natively.
//!
//! `POST {base}/v2/chat` (streamed with `"stream": true`), `POST {base}/v2/embed`,
//! `GET {base}/v1/models` for health checks; `Authorization: Bearer <key>`. The base is the
//! host root (`https://api.cohere.com`).

use crate::adapter::{
    bearer, get, join, options, post_json, Adapter, Dialect, Target, UpstreamRequest,
};
use crate::classify::{classify, UpstreamError};
use http::HeaderMap;
use lmrelay_ir::{ApiError, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse};
use lmrelay_protocol::{cohere, StreamDecoder};

/// Cohere upstreams.
pub struct CohereAdapter;

impl Adapter for CohereAdapter {
    fn dialect(&self) -> Dialect {
        Dialect::Cohere
    }

    fn chat_request(
        &self,
        req: &ChatRequest,
        target: &Target<'_>,
    ) -> Result<UpstreamRequest, ApiError> {
        let body = cohere::encode_request(req, &options(target))?;
        post_json(join(target.base_url, "v2/chat"), &bearer(target), body)
    }

    fn chat_response(&self, body: &[u8]) -> Result<ChatResponse, ApiError> {
        cohere::decode_response(body)
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(cohere::StreamReader::new())
    }

    /// Models without reasoning refuse `thinking`; the request can go without it.
    fn relax(&self, req: &mut ChatRequest, error: &ApiError) -> bool {
        if error.status == 400
            && error.message.to_ascii_lowercase().contains("thinking")
            && req.reasoning.is_some()
        {
            req.reasoning = None;
            return true;
        }
        false
    }

    fn models_from(&self, body: &[u8]) -> Option<Vec<String>> {
        crate::adapter::list_ids(body, "models", &["name"])
    }

    fn health_request(&self, target: &Target<'_>) -> Option<Result<UpstreamRequest, ApiError>> {
        Some(get(join(target.base_url, "v1/models"), &bearer(target)))
    }

    /// Cohere's 498 ("invalid token") reads as a 401, so the key is the one at fault.
    fn error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> UpstreamError {
        let error = cohere::decode_error(status, body);
        classify(error.status, headers, error)
    }

    fn embed_request(
        &self,
        req: &EmbedRequest,
        target: &Target<'_>,
    ) -> Result<UpstreamRequest, ApiError> {
        let body = cohere::encode_embed_request(req, target.model)?;
        post_json(join(target.base_url, "v2/embed"), &bearer(target), body)
    }

    fn embed_response(&self, body: &[u8]) -> Result<EmbedResponse, ApiError> {
        cohere::decode_embed_response(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{adapter_for, FailureKind, ProviderKind};
    use lmrelay_ir::{EmbedInput, Message, Role};

    fn target(headers: &HeaderMap) -> Target<'_> {
        Target {
            base_url: ProviderKind::Cohere.default_base_url(),
            model: "command-r-plus",
            api_key: Some("co-key"),
            default_max_tokens: 4096,
            preset: None,
            client: Dialect::Anthropic,
            client_headers: headers,
            allowed_betas: &[],
            aws_region: None,
            headers: &[],
            now_unix_ms: 0,
        }
    }

    #[test]
    fn urls_and_auth() {
        let h = HeaderMap::new();
        let a = adapter_for(ProviderKind::parse("cohere").expect("known type"));
        assert_eq!(a.dialect(), Dialect::Cohere);
        let req = ChatRequest {
            messages: vec![Message::text(Role::User, "hi")],
            stream: true,
            ..ChatRequest::default()
        };
        let built = a.chat_request(&req, &target(&h)).expect("builds");
        assert_eq!(built.uri(), "https://api.cohere.com/v2/chat");
        let auth = &built.headers()["authorization"];
        assert_eq!(auth, "Bearer co-key");
        assert!(auth.is_sensitive());
        let body: serde_json::Value = serde_json::from_slice(built.body()).expect("ok");
        assert_eq!(body["model"], "command-r-plus");
        assert_eq!(body["stream"], true);
        let embed = EmbedRequest {
            model: "x".into(),
            input: EmbedInput::Texts(vec!["a".into()]),
            dimensions: None,
            user: None,
            truncate: None,
        };
        let built = a.embed_request(&embed, &target(&h)).expect("builds");
        assert_eq!(built.uri(), "https://api.cohere.com/v2/embed");
        let health = a
            .health_request(&target(&h))
            .expect("has one")
            .expect("builds");
        assert_eq!(health.uri(), "https://api.cohere.com/v1/models");
    }

    #[test]
    fn relax_drops_only_refused_thinking() {
        let mut req = ChatRequest {
            reasoning: Some(lmrelay_ir::Reasoning::default()),
            ..ChatRequest::default()
        };
        let other = lmrelay_ir::ApiError::invalid("invalid request: messages must not be empty");
        assert!(!CohereAdapter.relax(&mut req, &other));
        let refusal = lmrelay_ir::ApiError::invalid(
            "invalid request: thinking is not supported by this model",
        );
        assert!(CohereAdapter.relax(&mut req, &refusal));
        assert!(req.reasoning.is_none());
        assert!(!CohereAdapter.relax(&mut req, &refusal));
    }

    #[test]
    fn errors_are_classified() {
        let h = HeaderMap::new();
        let e = CohereAdapter.error(498, &h, br#"{"message":"invalid api token"}"#);
        assert_eq!(e.kind, FailureKind::BadKey);
        let e = CohereAdapter.error(401, &h, br#"{"message":"invalid api token"}"#);
        assert!(e.key_fault() && !e.retryable());
        let e = CohereAdapter.error(429, &h, br#"{"message":"trial key limit"}"#);
        assert!(e.key_fault() && e.retryable());
        let e = CohereAdapter.error(503, &h, br#"{"message":"overloaded"}"#);
        assert!(e.retryable() && !e.key_fault());
        let e = CohereAdapter.error(
            400,
            &h,
            br#"{"id":"x","message":"invalid request: too many tokens: total number of tokens in the prompt cannot exceed 128000 - received 130000."}"#,
        );
        assert_eq!(e.kind, FailureKind::ContextLength);
        let e = CohereAdapter.error(400, &h, br#"{"message":"invalid request"}"#);
        assert!(!e.retryable() && !e.key_fault());
    }
}
