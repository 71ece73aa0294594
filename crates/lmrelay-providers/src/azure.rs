//! The `azure` provider type: Azure OpenAI (protocols.md §5), the OpenAI Chat dialect behind
//! Azure's URLs and auth.
//!
//! - Classic form: `POST {base}/openai/deployments/{deployment}/chat/completions?api-version=…`
//!   (and `/embeddings`); the deployment in the path picks the model.
//! - `api_version = "v1"`: `POST {base}/openai/v1/chat/completions` with the deployment as
//!   the body's `model`.
//! - The deployment is the provider's `deployments` entry for the model, else the model name.
//! - Auth: `api-key: <key>`; a key written as `Bearer <token>` (a Microsoft Entra token) is
//!   sent as `Authorization: Bearer <token>` instead.
//! - Health: `GET {base}/openai/models?api-version=…` (`/openai/v1/models`): base models,
//!   nothing billed.
//!
//! Azure's stream quirks (a first chunk with empty `choices` carrying
//! `prompt_filter_results`, `content_filter` finish reasons) are read by the OpenAI codec;
//! a filtered prompt's 400 (`code: content_filter`) is a content refusal in `classify`.
//! api-versions older than `2024-09-01` get `max_tokens` instead of `max_completion_tokens`.

use crate::adapter::{
    get, options, post_json, Adapter, AzureSettings, Dialect, Target, UpstreamRequest,
};
use crate::classify::{classify, UpstreamError};
use crate::OpenAiAdapter;
use http::HeaderMap;
use lmrelay_ir::{ApiError, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse};
use lmrelay_protocol::{openai, StreamDecoder};

/// Azure OpenAI upstreams.
pub struct AzureAdapter {
    settings: &'static AzureSettings,
}

// === impl AzureAdapter ===

impl AzureAdapter {
    pub fn new(settings: &'static AzureSettings) -> Self {
        AzureAdapter { settings }
    }

    /// Whether the provider uses the `/openai/v1/` form.
    fn v1(&self) -> bool {
        self.settings.api_version == "v1"
    }

    /// Whether the api-version predates `max_completion_tokens` (added in
    /// `2024-09-01-preview`; older versions answer "Unrecognized request argument supplied:
    /// max_completion_tokens"), so the limit must be spelled `max_tokens`.
    fn before_max_completion_tokens(&self) -> bool {
        let v = &self.settings.api_version;
        v.len() >= 10 && v.as_bytes()[0].is_ascii_digit() && v[..10] < *"2024-09-01"
    }

    /// The deployment that serves `model`.
    fn deployment<'a>(&'a self, model: &'a str) -> Result<&'a str, ApiError> {
        let name = self
            .settings
            .deployments
            .get(model)
            .map_or(model, String::as_str);
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(ApiError::invalid(format!(
                "`{name}` cannot be an Azure deployment name (letters, digits, `-`, `_` and `.` \
                 only); map the model to its deployment in the provider's `deployments`."
            )));
        }
        Ok(name)
    }

    /// The URL of an operation (`chat/completions`, `embeddings`) for a deployment.
    fn url(&self, target: &Target<'_>, deployment: &str, operation: &str) -> String {
        let base = root(target.base_url);
        if self.v1() {
            format!("{base}/openai/v1/{operation}")
        } else {
            format!(
                "{base}/openai/deployments/{deployment}/{operation}?api-version={}",
                self.settings.api_version
            )
        }
    }
}

/// The body with `max_completion_tokens` spelled `max_tokens`.
fn rename_max_completion_tokens(body: Vec<u8>) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return body;
    };
    let Some(obj) = v.as_object_mut() else {
        return body;
    };
    match obj.remove("max_completion_tokens") {
        Some(n) => {
            obj.insert("max_tokens".into(), n);
            serde_json::to_vec(&v).unwrap_or(body)
        }
        None => body,
    }
}

/// The resource root: the base URL without a trailing `/` or `/openai`.
fn root(base: &str) -> &str {
    let base = base.trim_end_matches('/');
    base.strip_suffix("/openai").unwrap_or(base)
}

/// `api-key: <key>`, or `Authorization` for a key written as `Bearer <token>`.
fn auth(target: &Target<'_>) -> Vec<(&'static str, String)> {
    match target.api_key {
        None => Vec::new(),
        Some(k) => match k.strip_prefix("Bearer ") {
            Some(token) => vec![("authorization", format!("Bearer {}", token.trim()))],
            None => vec![("api-key", k.to_owned())],
        },
    }
}

impl Adapter for AzureAdapter {
    fn dialect(&self) -> Dialect {
        Dialect::OpenAi
    }

    fn chat_request(
        &self,
        req: &ChatRequest,
        target: &Target<'_>,
    ) -> Result<UpstreamRequest, ApiError> {
        let deployment = self.deployment(target.model)?;
        let mut opts = options(target);
        // The classic form ignores the body's model; the v1 form needs the deployment there.
        opts.model = deployment.to_owned();
        let mut body = openai::encode_request(req, &opts)?;
        if self.before_max_completion_tokens() {
            body = rename_max_completion_tokens(body);
        }
        post_json(
            self.url(target, deployment, "chat/completions"),
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

    fn relax(&self, req: &mut ChatRequest, error: &ApiError) -> bool {
        OpenAiAdapter.relax(req, error)
    }

    fn health_request(&self, target: &Target<'_>) -> Option<Result<UpstreamRequest, ApiError>> {
        let base = root(target.base_url);
        let url = if self.v1() {
            format!("{base}/openai/v1/models")
        } else {
            format!(
                "{base}/openai/models?api-version={}",
                self.settings.api_version
            )
        };
        Some(get(url, &auth(target)))
    }

    fn error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> UpstreamError {
        classify(status, headers, openai::decode_error(status, body))
    }

    fn embed_request(
        &self,
        req: &EmbedRequest,
        target: &Target<'_>,
    ) -> Result<UpstreamRequest, ApiError> {
        let deployment = self.deployment(target.model)?;
        let body = openai::encode_embed_request(req, deployment);
        post_json(
            self.url(target, deployment, "embeddings"),
            &auth(target),
            body,
        )
    }

    fn embed_response(&self, body: &[u8]) -> Result<EmbedResponse, ApiError> {
        openai::decode_embed_response(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FailureKind, ProviderKind};
    use lmrelay_ir::{EmbedInput, Message, Role};

    fn adapter(api_version: &str) -> AzureAdapter {
        let settings = AzureSettings {
            api_version: api_version.into(),
            deployments: [("gpt-4o".to_owned(), "gpt4o-prod".to_owned())].into(),
        };
        let ProviderKind::Azure(s) = ProviderKind::azure(settings) else {
            unreachable!("azure() gives the azure kind")
        };
        AzureAdapter::new(s)
    }

    fn target<'a>(headers: &'a HeaderMap, model: &'a str, key: &'a str) -> Target<'a> {
        Target {
            base_url: "https://res.openai.azure.com/",
            model,
            api_key: Some(key),
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

    fn chat() -> ChatRequest {
        ChatRequest {
            messages: vec![Message::text(Role::User, "hi")],
            ..ChatRequest::default()
        }
    }

    fn body_model(req: &UpstreamRequest) -> String {
        let v: serde_json::Value = serde_json::from_slice(req.body()).expect("json");
        v["model"].as_str().unwrap_or_default().to_owned()
    }

    #[test]
    fn classic_urls_deployments_and_api_key() {
        let h = HeaderMap::new();
        let a = adapter("2024-10-21");
        let built = a
            .chat_request(&chat(), &target(&h, "gpt-4o", "k-1"))
            .expect("builds");
        assert_eq!(
            built.uri(),
            "https://res.openai.azure.com/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(body_model(&built), "gpt4o-prod");
        let key = &built.headers()["api-key"];
        assert_eq!(key, "k-1");
        assert!(key.is_sensitive());
        assert!(built.headers().get("authorization").is_none());
        // Unmapped models are their own deployment; a base ending in /openai is tolerated.
        let mut t = target(&h, "gpt-4o-mini", "k-1");
        t.base_url = "https://res.openai.azure.com/openai";
        let built = a.chat_request(&chat(), &t).expect("builds");
        assert_eq!(
            built.uri(),
            "https://res.openai.azure.com/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
        );
        let embed = EmbedRequest {
            model: "e".into(),
            input: EmbedInput::Texts(vec!["a".into()]),
            dimensions: None,
            user: None,
            truncate: None,
        };
        let built = a
            .embed_request(&embed, &target(&h, "text-embedding-3-small", "k"))
            .expect("builds");
        assert_eq!(
            built.uri(),
            "https://res.openai.azure.com/openai/deployments/text-embedding-3-small/embeddings?api-version=2024-10-21"
        );
        let health = a
            .health_request(&target(&h, "", "k"))
            .expect("has one")
            .expect("builds");
        assert_eq!(health.method(), http::Method::GET);
        assert_eq!(
            health.uri(),
            "https://res.openai.azure.com/openai/models?api-version=2024-10-21"
        );
        let bad = a.chat_request(&chat(), &target(&h, "a/b?c", "k"));
        assert!(bad.is_err(), "no path injection through model names");
    }

    #[test]
    fn old_api_versions_take_max_tokens() {
        let h = HeaderMap::new();
        let mut req = chat();
        req.sampling.max_tokens = Some(50);
        let body = |version: &str| -> serde_json::Value {
            let built = adapter(version)
                .chat_request(&req, &target(&h, "gpt-4o", "k"))
                .expect("builds");
            serde_json::from_slice(built.body()).expect("json")
        };
        let old = body("2024-06-01");
        assert_eq!(old["max_tokens"], 50);
        assert!(old.get("max_completion_tokens").is_none());
        for version in ["2024-10-21", "2025-04-01-preview", "v1"] {
            let new = body(version);
            assert_eq!(new["max_completion_tokens"], 50, "{version}");
            assert!(new.get("max_tokens").is_none(), "{version}");
        }
    }

    #[test]
    fn v1_form_and_bearer_tokens() {
        let h = HeaderMap::new();
        let a = adapter("v1");
        let built = a
            .chat_request(&chat(), &target(&h, "gpt-4o", "Bearer eyJ0eXAi"))
            .expect("builds");
        assert_eq!(
            built.uri(),
            "https://res.openai.azure.com/openai/v1/chat/completions"
        );
        assert_eq!(body_model(&built), "gpt4o-prod");
        let auth = &built.headers()["authorization"];
        assert_eq!(auth, "Bearer eyJ0eXAi");
        assert!(auth.is_sensitive());
        assert!(built.headers().get("api-key").is_none());
        let health = a
            .health_request(&target(&h, "", "k"))
            .expect("has one")
            .expect("builds");
        assert_eq!(
            health.uri(),
            "https://res.openai.azure.com/openai/v1/models"
        );
    }

    #[test]
    fn content_filter_and_other_errors() {
        let h = HeaderMap::new();
        let a = adapter("2024-10-21");
        let filtered = br#"{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"hate":{"filtered":true,"severity":"high"}}}}}"#;
        let e = a.error(400, &h, filtered);
        assert_eq!(e.kind, FailureKind::ContentRefused);
        assert!(!e.retryable() && !e.key_fault());
        let e = a.error(
            401,
            &h,
            br#"{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint."}}"#,
        );
        assert!(e.key_fault());
        let e = a.error(
            429,
            &h,
            br#"{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation have exceeded call rate limit."}}"#,
        );
        assert!(e.retryable());
        let e = a.error(
            404,
            &h,
            br#"{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}"#,
        );
        assert!(!e.key_fault());
    }

    #[test]
    fn settings_are_interned() {
        let s = AzureSettings {
            api_version: "2024-06-01".into(),
            deployments: Default::default(),
        };
        let (ProviderKind::Azure(a), ProviderKind::Azure(b)) =
            (ProviderKind::azure(s.clone()), ProviderKind::azure(s))
        else {
            unreachable!()
        };
        assert!(std::ptr::eq(a, b));
    }
}
