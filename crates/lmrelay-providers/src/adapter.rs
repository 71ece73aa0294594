//! The adapter trait and the values it works with.

use crate::classify::UpstreamError;
use bytes::Bytes;
use http::HeaderMap;
use lmrelay_ir::{ApiError, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, ErrorKind};
use lmrelay_protocol::StreamDecoder;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A wire-format family. Client protocols and upstream types both belong to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    OpenAi,
    /// OpenAI's Responses API: a client protocol, and the dialect of an `openai` provider
    /// asked through it (its `api` / `responses_models` switch).
    OpenAiResponses,
    Anthropic,
    Ollama,
    /// Upstreams only: no client speaks Gemini, so no client-only field ever reaches one.
    Gemini,
    /// Upstreams only, like Gemini.
    Cohere,
    /// Upstreams only: AWS Bedrock's Converse API.
    Bedrock,
}

/// A provider type from the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    OpenAi,
    Anthropic,
    Ollama,
    Gemini,
    /// Azure OpenAI, with the provider's settings (see [`ProviderKind::azure`]).
    Azure(&'static AzureSettings),
    Cohere,
    Bedrock,
}

/// The settings of one Azure OpenAI provider: its `api_version` (`"v1"` selects the
/// `/openai/v1/` form) and its `deployments` map from model names to deployment names.
///
/// They travel inside [`ProviderKind::Azure`] because `adapter_for` builds an adapter from
/// the kind alone; values are interned (see [`ProviderKind::azure`]), so each distinct
/// setting is allocated once for the life of the process, however often configs load.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AzureSettings {
    pub api_version: String,
    pub deployments: BTreeMap<String, String>,
}

static NO_AZURE_SETTINGS: AzureSettings = AzureSettings {
    api_version: String::new(),
    deployments: BTreeMap::new(),
};

static AZURE_SETTINGS: Mutex<Vec<&'static AzureSettings>> = Mutex::new(Vec::new());

/// Where and as whom to send one request. Its `Debug` never shows the key.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    /// Base URL by the provider SDK's convention (OpenAI-style includes `/v1`).
    pub base_url: &'a str,
    /// The provider's name for the model.
    pub model: &'a str,
    /// The upstream API key, if the provider needs one.
    pub api_key: Option<&'a str>,
    /// `max_tokens` for formats that require one when the client gave none.
    pub default_max_tokens: u32,
    /// The OpenAI-compatible vendor this provider is, if it is one.
    pub preset: Option<&'static crate::Preset>,
    /// The protocol the client spoke, and its headers, so an adapter can forward what only
    /// a same-protocol upstream understands (for example `anthropic-beta`).
    pub client: Dialect,
    pub client_headers: &'a HeaderMap,
    /// The `anthropic-beta` flags (globs) a client may pass on (`allowed_betas`).
    pub allowed_betas: &'a [String],
    /// The AWS region for Bedrock's SigV4 signature (`aws_region` in the config).
    pub aws_region: Option<&'a str>,
    /// Extra headers from the provider's `headers` setting (never credentials: the config
    /// refuses auth headers). The `openai` type and its presets send them.
    pub headers: &'a [(String, String)],
    /// Wall-clock time (Unix milliseconds) when the request is built, for formats whose
    /// signature covers the time (Bedrock's SigV4). Adapters read no clock; tests pin it.
    pub now_unix_ms: u64,
}

impl std::fmt::Debug for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.map(|_| "***"))
            .field("preset", &self.preset.map(|p| p.name))
            .field("aws_region", &self.aws_region)
            .finish_non_exhaustive()
    }
}

/// The codec options a target implies.
pub(crate) fn options(target: &Target<'_>) -> lmrelay_protocol::UpstreamOptions {
    lmrelay_protocol::UpstreamOptions {
        model: target.model.to_owned(),
        default_max_tokens: target.default_max_tokens,
        openai_compatible: target.preset.is_some(),
    }
}

/// `Authorization: Bearer <key>` when the target has a key.
pub(crate) fn bearer(target: &Target<'_>) -> Vec<(&'static str, String)> {
    target
        .api_key
        .map(|k| vec![("authorization", format!("Bearer {k}"))])
        .unwrap_or_default()
}

/// Headers whose values are credentials: kept out of `Debug` output and HPACK tables, and
/// never settable through a provider's `headers`.
pub const SENSITIVE: &[&str] = &["authorization", "x-api-key", "api-key", "x-goog-api-key"];

/// A fully built upstream HTTP request.
pub type UpstreamRequest = http::Request<Bytes>;

/// One provider type's wire knowledge.
pub trait Adapter: Send + Sync {
    fn dialect(&self) -> Dialect;

    /// Builds a chat request (streamed when `req.stream`).
    fn chat_request(
        &self,
        req: &ChatRequest,
        target: &Target<'_>,
    ) -> Result<UpstreamRequest, ApiError>;

    /// Builds a chat request around a body in this adapter's own protocol, sent as it is
    /// (the same-protocol fast path: `body` is the client's, already naming `target.model`).
    /// The URL and headers are the ones [`Adapter::chat_request`] sends. `None` for adapters
    /// that always rewrite what they send.
    fn passthrough_request(
        &self,
        _body: Bytes,
        _target: &Target<'_>,
    ) -> Option<Result<UpstreamRequest, ApiError>> {
        None
    }

    /// Reads a successful non-streamed chat response.
    fn chat_response(&self, body: &[u8]) -> Result<ChatResponse, ApiError>;

    /// Whether a client of this adapter's own protocol may get its answers as the upstream
    /// sends them (the same-protocol fast path): only when they need nothing rewritten
    /// (not Azure's, whose content-filter results are mapped).
    fn passes_answers_through(&self) -> bool {
        false
    }

    /// The usage and finish reason of a successful non-streamed answer passed through
    /// unchanged (adapters whose answers pass through implement it).
    fn answer_summary(
        &self,
        _body: &[u8],
    ) -> Option<Result<lmrelay_protocol::AnswerSummary, ApiError>> {
        None
    }

    /// A decoder for a successful streamed chat response.
    fn stream_decoder(&self) -> Box<dyn StreamDecoder>;

    /// Reads an error response.
    fn error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> UpstreamError;

    /// After the upstream refused a request, drops an optional feature its model does not
    /// support (such as Ollama's `think` on a model that cannot think), so the request can be
    /// tried once more. Returns whether `req` was changed.
    fn relax(&self, _req: &mut ChatRequest, _error: &ApiError) -> bool {
        false
    }

    /// Whether the format takes images only as inline bytes, so the gateway must download
    /// image URLs first.
    fn needs_inline_images(&self) -> bool {
        false
    }

    /// Builds an embeddings request. Providers without embeddings say so.
    fn embed_request(
        &self,
        _req: &EmbedRequest,
        _target: &Target<'_>,
    ) -> Result<UpstreamRequest, ApiError> {
        Err(ApiError::new(
            ErrorKind::NotFound,
            "This provider type has no embeddings API.",
        ))
    }

    /// Reads a successful embeddings response.
    fn embed_response(&self, _body: &[u8]) -> Result<EmbedResponse, ApiError> {
        Err(ApiError::new(
            ErrorKind::NotFound,
            "This provider type has no embeddings API.",
        ))
    }

    /// A cheap request that shows whether the provider answers and accepts the key (its
    /// model list or equivalent; nothing billed), for active health checks. `None` when the
    /// provider type has no such endpoint: its health then comes from live traffic alone.
    fn health_request(&self, _target: &Target<'_>) -> Option<Result<UpstreamRequest, ApiError>> {
        None
    }

    /// The model names in the answer to [`Adapter::health_request`], for providers whose
    /// check is their model list (model discovery for `models = ["*"]`); `None` when the
    /// answer is not a model list.
    fn models_from(&self, _body: &[u8]) -> Option<Vec<String>> {
        None
    }

    /// Builds a token-count request, for providers that can count; `None` means the
    /// gateway estimates.
    fn count_tokens_request(
        &self,
        _req: &ChatRequest,
        _target: &Target<'_>,
    ) -> Option<Result<UpstreamRequest, ApiError>> {
        None
    }

    /// Reads a token-count response.
    fn count_tokens_response(&self, _body: &[u8]) -> Result<u64, ApiError> {
        Err(ApiError::new(
            ErrorKind::NotImplemented,
            "Token counting is not supported.",
        ))
    }
}

// === impl ProviderKind ===

impl ProviderKind {
    /// Parses a config `type`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "openai" => Some(ProviderKind::OpenAi),
            "anthropic" => Some(ProviderKind::Anthropic),
            "ollama" => Some(ProviderKind::Ollama),
            "gemini" => Some(ProviderKind::Gemini),
            "azure" => Some(ProviderKind::Azure(&NO_AZURE_SETTINGS)),
            "cohere" => Some(ProviderKind::Cohere),
            "bedrock" => Some(ProviderKind::Bedrock),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Ollama => "ollama",
            ProviderKind::Gemini => "gemini",
            ProviderKind::Azure(_) => "azure",
            ProviderKind::Cohere => "cohere",
            ProviderKind::Bedrock => "bedrock",
        }
    }

    pub fn dialect(self) -> Dialect {
        match self {
            ProviderKind::OpenAi => Dialect::OpenAi,
            ProviderKind::Anthropic => Dialect::Anthropic,
            ProviderKind::Ollama => Dialect::Ollama,
            ProviderKind::Gemini => Dialect::Gemini,
            ProviderKind::Azure(_) => Dialect::OpenAi,
            ProviderKind::Cohere => Dialect::Cohere,
            ProviderKind::Bedrock => Dialect::Bedrock,
        }
    }

    /// The base URL when the config gives none.
    pub fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "https://api.openai.com/v1",
            ProviderKind::Anthropic => "https://api.anthropic.com",
            ProviderKind::Ollama => "http://127.0.0.1:11434",
            ProviderKind::Gemini => "https://generativelanguage.googleapis.com",
            // Every Azure resource has its own host: the config must name it.
            ProviderKind::Azure(_) => "",
            ProviderKind::Cohere => "https://api.cohere.com",
            // Bedrock's host names the region: see `default_base_url_in`.
            ProviderKind::Bedrock => "https://bedrock-runtime.us-east-1.amazonaws.com",
        }
    }

    /// The base URL when the config gives none, for a provider in `aws_region` (only
    /// Bedrock's depends on it).
    pub fn default_base_url_in(self, aws_region: Option<&str>) -> String {
        match (self, aws_region) {
            (ProviderKind::Bedrock, Some(region)) => {
                format!("https://bedrock-runtime.{region}.amazonaws.com")
            }
            _ => self.default_base_url().to_owned(),
        }
    }

    /// The `azure` kind with a provider's settings. Equal settings share one allocation.
    pub fn azure(settings: AzureSettings) -> Self {
        let mut known = AZURE_SETTINGS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(s) = known.iter().find(|s| ***s == settings) {
            return ProviderKind::Azure(s);
        }
        let interned: &'static AzureSettings = Box::leak(Box::new(settings));
        known.push(interned);
        ProviderKind::Azure(interned)
    }
}

/// Builds a GET request (listings, health checks).
pub(crate) fn get(
    url: String,
    headers: &[(&'static str, String)],
) -> Result<UpstreamRequest, ApiError> {
    request(http::Request::get(url), headers, Vec::new())
}

/// Builds a POST request with a body of `content_type`.
pub(crate) fn post(
    url: String,
    content_type: &'static str,
    accept: &'static str,
    headers: &[(&'static str, String)],
    body: Vec<u8>,
) -> Result<UpstreamRequest, ApiError> {
    let b = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::ACCEPT, accept);
    with_headers(b, headers, body)
}

/// Builds a JSON POST request.
pub(crate) fn post_json(
    url: String,
    headers: &[(&'static str, String)],
    body: impl Into<Bytes>,
) -> Result<UpstreamRequest, ApiError> {
    let b = http::Request::post(url).header(http::header::CONTENT_TYPE, "application/json");
    request(b, headers, body)
}

fn request(
    mut b: http::request::Builder,
    headers: &[(&'static str, String)],
    body: impl Into<Bytes>,
) -> Result<UpstreamRequest, ApiError> {
    b = b.header(http::header::ACCEPT, "application/json, text/event-stream");
    with_headers(b, headers, body)
}

fn with_headers(
    mut b: http::request::Builder,
    headers: &[(&'static str, String)],
    body: impl Into<Bytes>,
) -> Result<UpstreamRequest, ApiError> {
    for (k, v) in headers {
        let mut value = header_value(k, v)?;
        value.set_sensitive(SENSITIVE.contains(k));
        b = b.header(*k, value);
    }
    b.body(body.into()).map_err(|e| {
        ApiError::new(
            ErrorKind::BadGateway,
            format!("Could not build the upstream request: {e}"),
        )
    })
}

fn header_value(k: &str, v: &str) -> Result<http::HeaderValue, ApiError> {
    http::HeaderValue::from_str(v).map_err(|_| {
        ApiError::new(
            ErrorKind::BadGateway,
            format!("The `{k}` header for the upstream has characters HTTP does not allow."),
        )
    })
}

/// Joins a base URL and a path with exactly one slash.
pub(crate) fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// The ids of a model list shaped `{"data": [{"id": …}, …]}` (OpenAI, Anthropic) or
/// `{"models": [{"name"|"model": …}, …]}` (Ollama, Cohere).
pub(crate) fn list_ids(body: &[u8], list: &str, fields: &[&str]) -> Option<Vec<String>> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let items = v.get(list)?.as_array()?;
    Some(
        items
            .iter()
            .filter_map(|m| fields.iter().find_map(|f| m.get(*f)?.as_str()))
            .map(str::to_owned)
            .collect(),
    )
}
