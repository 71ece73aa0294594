//! An `openai` provider asked through the Responses API (`POST {base_url}/responses`), for
//! the models its `api = "responses"` or `responses_models` switch names. Auth, headers,
//! errors, embeddings and health are the `openai` type's; only the chat exchange differs.

use crate::adapter::{bearer, join, options, post_json, Adapter, Dialect, Target, UpstreamRequest};
use crate::classify::UpstreamError;
use crate::openai::{add_headers, OpenAiAdapter};
use http::HeaderMap;
use lmrelay_ir::{ApiError, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse};
use lmrelay_protocol::{responses, StreamDecoder};

/// OpenAI Responses upstreams.
pub struct OpenAiResponsesAdapter;

impl Adapter for OpenAiResponsesAdapter {
    fn dialect(&self) -> Dialect {
        Dialect::OpenAiResponses
    }

    fn chat_request(
        &self,
        req: &ChatRequest,
        target: &Target<'_>,
    ) -> Result<UpstreamRequest, ApiError> {
        let body = responses::encode_request(req, &options(target))?;
        let mut request = post_json(join(target.base_url, "responses"), &bearer(target), body)?;
        add_headers(&mut request, target)?;
        Ok(request)
    }

    fn chat_response(&self, body: &[u8]) -> Result<ChatResponse, ApiError> {
        responses::decode_response(body)
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(responses::StreamReader::new())
    }

    /// Models that cannot reason refuse `reasoning`.
    fn relax(&self, req: &mut ChatRequest, error: &ApiError) -> bool {
        let names_reasoning = error
            .param
            .as_deref()
            .is_some_and(|p| p.starts_with("reasoning"))
            || error.message.contains("reasoning");
        if error.status == 400 && names_reasoning && req.reasoning.is_some() {
            req.reasoning = None;
            return true;
        }
        false
    }

    fn error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> UpstreamError {
        OpenAiAdapter.error(status, headers, body)
    }

    fn health_request(&self, target: &Target<'_>) -> Option<Result<UpstreamRequest, ApiError>> {
        OpenAiAdapter.health_request(target)
    }

    fn models_from(&self, body: &[u8]) -> Option<Vec<String>> {
        OpenAiAdapter.models_from(body)
    }

    fn embed_request(
        &self,
        req: &EmbedRequest,
        target: &Target<'_>,
    ) -> Result<UpstreamRequest, ApiError> {
        OpenAiAdapter.embed_request(req, target)
    }

    fn embed_response(&self, body: &[u8]) -> Result<EmbedResponse, ApiError> {
        OpenAiAdapter.embed_response(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect;

    #[test]
    fn asks_the_responses_endpoint_with_the_openai_auth() {
        let headers = HeaderMap::new();
        let target = Target {
            base_url: "http://127.0.0.1:1/v1/",
            model: "gpt-5",
            api_key: Some("sk-test"),
            default_max_tokens: 4096,
            preset: None,
            client: Dialect::OpenAiResponses,
            client_headers: &headers,
            allowed_betas: &[],
            aws_region: None,
            headers: &[("x-extra".to_owned(), "1".to_owned())],
            now_unix_ms: 0,
        };
        let req = ChatRequest {
            model: "m".into(),
            messages: vec![lmrelay_ir::Message::text(lmrelay_ir::Role::User, "hi")],
            stream: true,
            ..ChatRequest::default()
        };
        let built = OpenAiResponsesAdapter
            .chat_request(&req, &target)
            .expect("builds");
        assert_eq!(built.uri(), "http://127.0.0.1:1/v1/responses");
        assert_eq!(built.headers()["authorization"], "Bearer sk-test");
        assert_eq!(built.headers()["x-extra"], "1");
        let body: serde_json::Value = serde_json::from_slice(built.body()).expect("json");
        assert_eq!(body["model"], "gpt-5");
        assert_eq!(body["store"], false);
        assert_eq!(body["stream"], true);
        assert_eq!(body["input"][0]["content"][0]["text"], "hi");
    }
}
