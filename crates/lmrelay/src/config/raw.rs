//! The config file as serde sees it: a field-for-field mirror of the documented schema,
//! rejecting unknown fields so typos are reported rather than ignored. No `Debug`: these
//! structs hold keys in plain text.

use serde::Deserialize;
use std::collections::HashMap;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub listen: Option<String>,
    pub max_body: Option<SizeValue>,
    pub auth: Option<String>,
    pub drain_timeout: Option<String>,
    pub request_timeout: Option<String>,
    pub fetch_private_images: Option<bool>,
    pub watch_config: Option<bool>,
    pub admin: Option<RawAdmin>,
    pub store: Option<RawStore>,
    pub cache: Option<RawCache>,
    pub responses: Option<RawResponses>,
    pub health: Option<RawHealth>,
    pub retry: Option<RawRetry>,
    #[serde(default)]
    pub providers: Vec<RawProvider>,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    #[serde(default)]
    pub keys: Vec<RawKey>,
    #[serde(default)]
    pub rules: Vec<RawRule>,
    pub routing: Option<RawRouting>,
    pub limits: Option<RawLimits>,
    pub audit: Option<RawAudit>,
    pub telemetry: Option<RawTelemetry>,
    pub server: Option<RawServer>,
}

/// `[retry]`: the retry budget and backoff.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    pub budget: Option<f64>,
    pub min_per_second: Option<u32>,
    pub backoff: Option<String>,
    pub max_backoff: Option<String>,
}

/// `[server]`: the HTTP edge's limits.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub header_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub write_timeout: Option<String>,
    pub max_connections: Option<usize>,
    pub max_in_flight: Option<usize>,
    pub max_headers: Option<usize>,
    pub max_header_bytes: Option<SizeValue>,
    pub tls: Option<RawTls>,
}

/// `[server.tls]`: the certificate the edge serves.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// PEM certificate chain, leaf first.
    pub cert: String,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: String,
}

/// `[telemetry]`: OpenTelemetry traces over OTLP/HTTP.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelemetry {
    /// The collector's OTLP/HTTP base URL (`/v1/traces` is appended).
    pub endpoint: Option<String>,
    pub service_name: Option<String>,
    pub sample_ratio: Option<f64>,
    /// Headers sent with every export (a backend's API key, say).
    #[serde(default)]
    pub headers: HashMap<String, String>,
}

/// `[audit]`: the audit log.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    /// A file to append to, or `-` for standard output.
    pub path: String,
    pub include_content: Option<bool>,
    pub max_content: Option<SizeValue>,
}

/// `[limits]`: limits that belong to no gateway key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// Requests per minute per client IP address when no gateway key identifies the caller.
    pub anonymous_rpm: Option<u64>,
    /// Whether `anonymous_rpm` applies to loopback clients too.
    pub anonymous_loopback: Option<bool>,
}

/// A size: `"10MiB"` or a number of bytes.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum SizeValue {
    Bytes(u64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub backend: Option<String>,
    pub url: Option<String>,
    pub encryption_key: Option<String>,
    /// Prefix of every key in a shared store (several gateways may share one Redis).
    pub prefix: Option<String>,
    /// Time limit of one store call.
    pub timeout: Option<String>,
    /// When the store fails, `"open"` (serve without enforcing limits) or `"closed"` (503).
    pub limits_on_failure: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    pub enabled: Option<bool>,
    pub ttl: Option<String>,
    pub max_entries: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResponses {
    pub store: Option<bool>,
    pub ttl: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub failure_threshold: Option<u32>,
    pub cooldown: Option<String>,
    pub max_cooldown: Option<String>,
    pub exploration: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub base_url: Option<String>,
    #[serde(default)]
    pub keys: Vec<String>,
    #[serde(default)]
    pub models: Vec<String>,
    pub region: Option<String>,
    pub timeout: Option<String>,
    pub connect_timeout: Option<String>,
    pub header_timeout: Option<String>,
    pub first_token_timeout: Option<String>,
    pub stream_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub weight: Option<u32>,
    /// Whether clients may name this provider directly (`provider/model`).
    pub direct: Option<bool>,
    #[serde(default)]
    pub prices: HashMap<String, RawPrice>,
    pub max_tokens: Option<u32>,
    pub api_version: Option<String>,
    #[serde(default)]
    pub deployments: HashMap<String, String>,
    pub aws_region: Option<String>,
    /// openai type: `"chat"` (default) or `"responses"`, the API every model is asked through.
    pub api: Option<String>,
    /// openai type: model globs asked through the Responses API (the rest through chat).
    #[serde(default)]
    pub responses_models: Vec<String>,
    /// Extra request headers (openai and its presets), such as OpenRouter's attribution.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// anthropic type: the `anthropic-beta` flags (globs) a client may switch on.
    pub allowed_betas: Option<Vec<String>>,
    /// Whether a client of the provider's own protocol is passed through (default true).
    pub passthrough: Option<bool>,
    /// PEM CA certificates trusted for this provider, besides the system's roots.
    pub ca_file: Option<String>,
    /// PEM client certificate chain and key presented to this provider (mutual TLS).
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct RawPrice {
    pub input: f64,
    pub output: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub model: String,
    pub targets: Vec<RawTarget>,
    pub strategy: Option<String>,
    pub cache: Option<bool>,
    /// Whether every gateway key reads the route's cached answers (default: each its own).
    pub cache_shared: Option<bool>,
    pub max_attempts: Option<u32>,
}

/// `[[rules]]`: a policy rule.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub name: Option<String>,
    #[serde(rename = "match", default)]
    pub when: RawMatch,
    pub targets: Option<Vec<RawTarget>>,
    pub strategy: Option<String>,
    pub regions: Option<Vec<String>>,
    pub max_attempts: Option<u32>,
}

/// What a rule matches on; every field given must match.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawMatch {
    pub key: Option<String>,
    pub model: Option<String>,
    pub protocol: Option<String>,
    #[serde(default)]
    pub header: HashMap<String, String>,
}

/// `[routing]`: the optional routing script.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouting {
    pub script: Option<String>,
    pub script_timeout: Option<String>,
    pub script_max_operations: Option<u64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub enum RawTarget {
    Name(String),
    Weighted { target: String, weight: Option<u32> },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKey {
    pub name: String,
    pub key: String,
    pub models: Option<Vec<String>>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub budget_usd: Option<f64>,
    #[serde(default)]
    pub regions: Vec<String>,
    pub max_concurrent: Option<u32>,
    pub direct: Option<bool>,
}
