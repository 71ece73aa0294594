//! Configuration: a validated, immutable description of providers, routes and keys.
//!
//! Three stages: [`raw`] mirrors the file (TOML or YAML) with serde; [`load`] interpolates
//! `${VAR}`, parses durations and sizes, and validates, collecting every error with its file,
//! line and field; the result is a [`Config`] in which nothing is left unresolved. When there
//! is no file, [`env_default`] builds the built-in default from the environment.

mod env_default;
mod inactive;
mod load;
mod raw;
mod starter;
#[cfg(test)]
mod tests;

pub use env_default::from_environment;
pub use inactive::inactive_settings;
pub use load::{load_file, parse_str, ConfigError, ConfigErrors, Format};
pub use starter::starter_config;

use crate::secret::Secret;
use lmrelay_providers::ProviderKind;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The `source` of the built-in default (no config file).
pub const BUILT_IN: &str = "built-in default";

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from: a file path, or `built-in default`.
    pub source: String,
    pub listen: SocketAddr,
    /// Largest accepted request body, in bytes.
    pub max_body: usize,
    pub auth: AuthMode,
    pub admin_token: Option<Secret>,
    /// `store.encryption_key`: seals secrets kept in the state store.
    pub encryption_key: Option<Secret>,
    /// Where live state is kept.
    pub store: StoreBackend,
    /// What limits do when the store fails.
    pub limits_on_failure: FailMode,
    /// Requests per minute per client IP when no gateway key identifies the caller.
    pub anonymous_rpm: Option<u64>,
    /// Whether `anonymous_rpm` applies to loopback clients as well.
    pub anonymous_loopback: bool,
    /// How long in-flight requests may run on after a shutdown signal.
    pub drain_timeout: Duration,
    /// The longest a client request may wait for its answer to start, across every
    /// upstream attempt (a stream, once started, is bounded by `stream_timeout`).
    pub request_timeout: Duration,
    /// Whether image URLs that resolve to private or local addresses may be fetched (for
    /// upstreams that need inline images). Off by default: it would let clients make the
    /// gateway reach internal hosts.
    pub fetch_private_images: bool,
    /// Whether a change to the config file reloads it (default on).
    pub watch_config: bool,
    pub providers: Vec<ProviderConfig>,
    pub routes: Vec<RouteConfig>,
    pub keys: Vec<KeyConfig>,
    pub health: HealthConfig,
    /// How many retries each provider takes, and the wait before them.
    pub retry: RetryConfig,
    pub cache: CacheConfig,
    pub responses: ResponsesConfig,
    pub audit: Option<AuditConfig>,
    /// The HTTP edge's limits (`[server]`).
    pub server: ServerLimits,
    /// The certificate the edge serves (`[server.tls]`); plain HTTP without.
    pub tls: Option<TlsFiles>,
    /// Traces over OTLP, when `[telemetry]` or `OTEL_EXPORTER_OTLP_ENDPOINT` asks for them.
    pub telemetry: Option<TelemetryConfig>,
    /// Policy rules, first match wins.
    pub rules: Vec<RuleConfig>,
    /// The compiled routing script, if one is configured.
    pub script: Option<ScriptConfig>,
}

/// `[health]`: active checks and the circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthConfig {
    /// Time between active checks; zero turns them off.
    pub interval: Duration,
    /// Time limit of one active check.
    pub timeout: Duration,
    /// Consecutive failures that open a provider's breaker (and mark a model unhealthy).
    pub failure_threshold: u32,
    /// How long a breaker stays open the first time; doubled (with jitter) on each
    /// repeated trip, up to `max_cooldown`.
    pub cooldown: Duration,
    pub max_cooldown: Duration,
    /// Share of `latency` routing decisions that try another target than the fastest.
    pub exploration: f64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(2),
            failure_threshold: 3,
            cooldown: Duration::from_secs(5),
            max_cooldown: Duration::from_secs(300),
            exploration: 0.05,
        }
    }
}

/// `[retry]`: retries at a provider a request has already tried (see `health::retry`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryConfig {
    /// Retries per first attempt, as a share (0.2: one retry for every five requests).
    pub budget: f64,
    /// Retries a second each provider may take whatever its budget holds.
    pub min_per_second: u32,
    /// The wait before retrying a provider that failed as a whole, doubled each time.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            budget: 0.2,
            min_per_second: 10,
            backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// `[store] backend`: where live state is kept.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreBackend {
    /// In this process's memory (the embedded default).
    Memory,
    /// Redis, shared by every replica that uses the same URL and prefix. The URL may hold
    /// a password.
    Redis {
        url: Secret,
        prefix: String,
        timeout: Duration,
    },
}

/// What a concern does when the state store fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailMode {
    /// Serve anyway (limits not enforced), with a warning logged at most every 10 s and a
    /// metric counted.
    #[default]
    Open,
    /// Refuse with 503 and a clear message.
    Closed,
}

/// `[audit]`: where the audit log goes and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// A file to append to, or `-` for standard output.
    pub path: String,
    /// Whether prompts and completions are logged (off by default).
    pub include_content: bool,
    /// The most bytes of a prompt or a completion that are logged.
    pub max_content: usize,
}

/// `[server]`: what the HTTP edge allows a client connection (read at start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Time for a request head to arrive whole, from its first byte.
    pub header_timeout: Duration,
    /// How long a connection may wait, idle, for its next request.
    pub idle_timeout: Duration,
    /// How long a client may leave its answer unread (its socket buffer full) before the
    /// connection is dropped, freeing the upstream request.
    pub write_timeout: Duration,
    /// Connections served at once; one more is told 503 and closed.
    pub max_connections: usize,
    /// Requests served at once; one more is told 503.
    pub max_in_flight: usize,
    /// Header fields in a request head, and bytes of the head (431 beyond).
    pub max_headers: usize,
    pub max_header_bytes: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            write_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            max_in_flight: 10_000,
            max_headers: 100,
            max_header_bytes: 64 * 1024,
        }
    }
}

/// `[server.tls]`: PEM files, relative paths resolved against the config file's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A provider's TLS options: CA certificates to trust besides the system's, and a client
/// certificate to present (PEM files).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamTls {
    pub ca_file: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

/// `[telemetry]`: where traces go.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    /// The OTLP/HTTP base URL; `None` leaves it to the `OTEL_EXPORTER_OTLP_*` environment.
    pub endpoint: Option<String>,
    pub service_name: String,
    /// The share of traces started here (without a client's `traceparent`) that are kept.
    pub sample_ratio: f64,
    /// Headers sent with every export, sorted by name; values may be credentials.
    pub headers: Vec<(String, Secret)>,
}

/// `[cache]`: the response cache of routes that set `cache = true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// The global switch.
    pub enabled: bool,
    /// How long an answer is served from the cache.
    pub ttl: Duration,
    /// At most this many answers are added per `ttl` (so about this many are live at once).
    pub max_entries: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            ttl: Duration::from_secs(60),
            max_entries: 10_000,
        }
    }
}

/// `[responses]`: whether Responses API answers are kept in the state store, so clients can
/// continue them (`previous_response_id`) and read them back (`GET /v1/responses/{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponsesConfig {
    /// Keep responses whose request did not say `store: false` (off by default: stateless).
    pub store: bool,
    /// How long a kept response lives.
    pub ttl: Duration,
}

impl Default for ResponsesConfig {
    fn default() -> Self {
        ResponsesConfig {
            store: false,
            ttl: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// A provider's time limits (product.md keeps `timeout` as the default for the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the connection (TCP and TLS).
    pub connect: Duration,
    /// From sending the request to the response head.
    pub header: Duration,
    /// From sending the request to the first streamed content.
    pub first_token: Duration,
    /// The longest pause between chunks of a stream once it has started.
    pub idle: Duration,
    /// A whole non-streamed request.
    pub total: Duration,
    /// A whole stream, from sending the request to its last event.
    pub stream: Duration,
}

/// The `anthropic-beta` flags a client may switch on by default: the features of Claude Code
/// and the SDKs that change how the model answers. Flags that make Anthropic act on the
/// client's behalf with the operator's key — the MCP connector (`mcp-client-*`), which
/// fetches URLs the client chooses, the Files API, code execution — need `allowed_betas`.
pub const DEFAULT_BETAS: &[&str] = &[
    "claude-code-*",
    "interleaved-thinking-*",
    "fine-grained-tool-streaming-*",
    "token-efficient-tools-*",
    "context-1m-*",
    "context-management-*",
    "prompt-caching-*",
    "extended-cache-ttl-*",
    "output-128k-*",
    "computer-use-*",
    "effort-*",
    "tool-search-*",
    "structured-outputs-*",
    "oauth-*",
];

/// How long a stream may last by default (`stream_timeout`).
pub const DEFAULT_STREAM_TIMEOUT: Duration = Duration::from_secs(30 * 60);

impl Timeouts {
    /// Every limit derived from one `timeout`, as before the finer fields existed.
    pub fn uniform(timeout: Duration) -> Timeouts {
        Timeouts {
            connect: timeout.min(Duration::from_secs(10)),
            header: timeout,
            first_token: timeout,
            idle: timeout,
            total: timeout,
            stream: DEFAULT_STREAM_TIMEOUT.max(timeout),
        }
    }
}

/// A policy rule: requests that match get the rule's settings.
#[derive(Debug, Clone)]
pub struct RuleConfig {
    /// For logs: the rule's `name`, else `rules[i]`.
    pub name: String,
    /// Gateway key name (glob).
    pub key: Option<String>,
    /// Requested model (glob).
    pub model: Option<String>,
    /// Client protocol: openai, anthropic, ollama.
    pub protocol: Option<String>,
    /// Request headers that must have these values (names lowercase).
    pub headers: Vec<(String, String)>,
    pub targets: Option<Vec<RouteTarget>>,
    pub strategy: Option<Strategy>,
    pub regions: Option<Vec<String>>,
    pub max_attempts: Option<u32>,
}

/// The routing script: its compiled form, shared by every runtime built from this config.
#[derive(Clone)]
pub struct ScriptConfig(pub std::sync::Arc<crate::routing::script::RouteScript>);

impl std::fmt::Debug for ScriptConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ScriptConfig({})", self.0.path())
    }
}

/// Who may call the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Keys required when `[[keys]]` exist; open on loopback when none exist.
    Default,
    /// Open to anyone (`auth = "none"`).
    None,
}

/// One upstream provider.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: ProviderKind,
    /// The `type` as written (a preset name such as `groq` is an `openai` kind).
    pub type_name: String,
    pub base_url: String,
    pub keys: Vec<Secret>,
    /// Model names or globs it serves; `*` serves any name.
    pub models: Vec<String>,
    /// The residency tag routing filters on.
    pub region: Option<String>,
    /// Bedrock only: the AWS region of the endpoint and of the SigV4 signature.
    pub aws_region: Option<String>,
    /// Extra request headers (openai type and presets only; never credentials), sent over
    /// the preset's defaults.
    pub headers: Vec<(String, String)>,
    /// The `anthropic-beta` flags (globs) an Anthropic client may pass to an anthropic
    /// provider; others are dropped.
    pub allowed_betas: Vec<String>,
    /// Whether a client speaking this provider's own protocol has its request and answer
    /// passed on as sent, with only the model renamed (the same-protocol fast path, where
    /// the provider type has one); `false` sends them through the canonical codecs.
    pub passthrough: bool,
    pub timeouts: Timeouts,
    pub weight: u32,
    /// Whether clients may address it as `provider/model` (for models its `models` serve).
    pub direct: bool,
    pub prices: HashMap<String, Price>,
    /// `max_tokens` sent when a client gave none and the upstream requires one.
    pub max_tokens: u32,
    /// Azure: the `api-version` (`"v1"` for the `/openai/v1/` API). The adapter gets it
    /// through `kind`.
    pub api_version: Option<String>,
    /// Azure: model name → deployment name (a model not listed is its own deployment).
    pub deployments: std::collections::BTreeMap<String, String>,
    /// openai type: the provider's model names (globs) asked through the Responses API
    /// (`api = "responses"` is `["*"]`); the rest go through Chat Completions.
    pub responses_models: Vec<String>,
    /// CA certificates and a client certificate for this provider's TLS.
    pub tls: UpstreamTls,
}

/// Price per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

/// A published model name and where it may be served.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// The name (or glob) clients ask for.
    pub model: String,
    pub targets: Vec<RouteTarget>,
    pub strategy: Strategy,
    pub cache: bool,
    /// Cached answers are shared by every gateway key (else scoped to each key).
    pub cache_shared: bool,
    /// The most upstream requests one client request may make; `None` = no limit beyond
    /// every key of every candidate.
    pub max_attempts: Option<u32>,
}

/// One target of a route: `provider/model`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTarget {
    pub provider: String,
    /// The provider's model name; `*` means the name the client asked for.
    pub model: String,
    /// The target's own weight; `None` takes the provider's.
    pub weight: Option<u32>,
}

/// How a route orders its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Failover,
    Weighted,
    Latency,
    Cheapest,
}

/// A gateway key that clients present.
#[derive(Debug, Clone)]
pub struct KeyConfig {
    pub name: String,
    pub key: KeyMatcher,
    /// Allowed model names or globs; empty allows none.
    pub models: Vec<String>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub budget_usd: Option<f64>,
    pub regions: Vec<String>,
    /// Chat requests this key may have in flight at once (a stream counts until it ends).
    pub max_concurrent: Option<u32>,
    /// Whether this key may address a provider directly (`provider/model`); the provider's
    /// own `direct` must allow it too.
    pub direct: bool,
}

/// How a presented key is checked.
#[derive(Debug, Clone)]
pub enum KeyMatcher {
    /// Lowercase hex SHA-256 of the key.
    Sha256(String),
    Plain(Secret),
}

// === impl Strategy ===

impl Strategy {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "failover" => Some(Strategy::Failover),
            "weighted" => Some(Strategy::Weighted),
            "latency" => Some(Strategy::Latency),
            "cheapest" => Some(Strategy::Cheapest),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Failover => "failover",
            Strategy::Weighted => "weighted",
            Strategy::Latency => "latency",
            Strategy::Cheapest => "cheapest",
        }
    }
}

// === impl Config ===

impl Config {
    /// Loads the config the way `serve` does: `-c FILE`, else `$LMRELAY_CONFIG`, else
    /// `./lmrelay.toml`, else the built-in default.
    pub fn discover(explicit: Option<&std::path::Path>) -> Result<Config, ConfigErrors> {
        if let Some(p) = explicit {
            return load_file(p);
        }
        if let Some(p) = std::env::var_os("LMRELAY_CONFIG").filter(|p| !p.is_empty()) {
            return load_file(std::path::Path::new(&p));
        }
        let local = std::path::Path::new("lmrelay.toml");
        if local.exists() {
            return load_file(local);
        }
        from_environment()
    }

    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.name == name)
    }
}
