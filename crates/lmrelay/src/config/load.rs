//! Reading a config file: format detection, `${VAR}` interpolation, duration and size
//! parsing, and validation that reports every error with file, line and field.

use super::raw::{RawConfig, RawHealth, RawRouting, RawRule, RawTarget, SizeValue};
use super::{
    AuthMode, Config, HealthConfig, KeyConfig, KeyMatcher, Price, ProviderConfig, RouteConfig,
    RouteTarget, RuleConfig, ScriptConfig, Strategy, Timeouts,
};
use crate::routing::script::{RouteScript, ScriptLimits};
use crate::secret::Secret;
use lmrelay_providers::{preset_named, ProviderKind};
use serde_json::Value;
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default request-body limit.
pub const DEFAULT_MAX_BODY: usize = 10 * 1024 * 1024;
/// `request_timeout` when the config gives none.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// A provider's `timeout` when the config gives none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Default `max_tokens` for upstreams that require one.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// A config file's syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Yaml,
}

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    /// The field at fault, as a path (`providers[1].type`).
    pub field: String,
    pub message: String,
}

/// Every problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Reads and validates a config file (`.yaml`/`.yml` as YAML, anything else as TOML).
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: file.clone(),
            line: None,
            field: String::new(),
            message: format!("cannot read the config file: {e}"),
        }])
    })?;
    let format = match path.extension().and_then(|e| e.to_str()) {
        Some("yaml" | "yml") => Format::Yaml,
        _ => Format::Toml,
    };
    parse_str(&text, format, &file, &|k| std::env::var(k).ok())
}

/// Parses and validates config text. `env` resolves `${VAR}`.
pub fn parse_str(
    text: &str,
    format: Format,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let mut ctx = Ctx {
        file,
        text,
        format,
        errors: Vec::new(),
        interpolated: Vec::new(),
        env,
    };
    let tree = match format {
        Format::Toml => toml::from_str::<toml::Value>(text)
            .map_err(|e| {
                let line = e
                    .span()
                    .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
                (line, e.message().to_owned())
            })
            .and_then(|v| serde_json::to_value(v).map_err(|e| (None, e.to_string()))),
        Format::Yaml => serde_yaml_ng::from_str::<serde_json::Value>(text)
            .map_err(|e| (e.location().map(|l| l.line()), e.to_string())),
    };
    let mut tree = match tree {
        Ok(t) => t,
        Err((line, message)) => {
            return Err(ConfigErrors(vec![ConfigError {
                file: file.to_owned(),
                line,
                field: String::new(),
                message: format!("syntax error: {message}"),
            }]))
        }
    };
    if tree.is_null() {
        tree = Value::Object(Default::default());
    }
    interpolate(&mut tree, "", env, &mut ctx);
    let raw: RawConfig = match serde_path_to_error::deserialize(tree) {
        Ok(r) => r,
        Err(e) => {
            let field = e.path().to_string();
            // serde quotes the offending value; a value from the environment, or one under
            // a field that holds secrets, may be a key.
            let secret_field = ["keys", "key", "token", "url", "encryption_key", "headers"]
                .iter()
                .any(|f| field.split(['.', '[']).any(|part| part == *f));
            let message = if secret_field
                || ctx
                    .interpolated
                    .iter()
                    .any(|p| p.starts_with(&field) || field.starts_with(p.as_str()))
            {
                "has the wrong type (its value may be a secret and is not shown)".to_owned()
            } else {
                e.into_inner().to_string()
            };
            ctx.error(&field, message);
            return Err(ConfigErrors(ctx.errors));
        }
    };
    let config = validate(raw, &mut ctx);
    if ctx.errors.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors(ctx.errors))
    }
}

/// Collects errors and finds the lines they belong to.
struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    format: Format,
    errors: Vec<ConfigError>,
    /// Paths of strings that took a value from the environment.
    interpolated: Vec<String>,
    /// The environment, for `${VAR}` and Bedrock's standard AWS variables.
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Ctx<'_> {
    /// Parses an optional duration field, reporting a bad one and using `default`.
    /// A file named in the config: relative to the config file's folder.
    fn path(&self, path: &str) -> PathBuf {
        match Path::new(self.file).parent() {
            Some(dir) if Path::new(path).is_relative() => dir.join(path),
            _ => PathBuf::from(path),
        }
    }

    fn duration(&mut self, field: &str, value: Option<&str>, default: Duration) -> Duration {
        match value.map(parse_duration) {
            None => default,
            Some(Ok(d)) => d,
            Some(Err(m)) => {
                self.error(field, m);
                default
            }
        }
    }

    fn error(&mut self, field: &str, message: impl Into<String>) {
        let line = self.line_of(field);
        self.errors.push(ConfigError {
            file: self.file.to_owned(),
            line,
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// Finds the line of a field path such as `providers[1].type`: the n-th table or list
    /// item of that section, then the first line after it that sets the key.
    fn line_of(&self, field: &str) -> Option<usize> {
        let mut parts = field.split('.');
        let head = parts.next()?;
        // `keys[0]` is found by its key name, `keys`.
        let key = parts.next().map(|k| k.split('[').next().unwrap_or(k));
        let (section, index) = match head.split_once('[') {
            Some((s, rest)) => (s, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (head, None),
        };
        let lines: Vec<&str> = self.text.lines().collect();
        let key_line = |from: usize, key: &str| {
            lines[from..]
                .iter()
                .position(|l| {
                    let t = l.trim_start().trim_start_matches("- ");
                    t.starts_with(key) && t[key.len()..].trim_start().starts_with(['=', ':'])
                })
                .map(|p| from + p + 1)
        };
        let Some(index) = index else {
            return key_line(0, section).or_else(|| key_line(0, key?));
        };
        let start = match self.format {
            Format::Toml => {
                let header = format!("[[{section}]]");
                lines
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.trim() == header)
                    .nth(index)
                    .map(|(i, _)| i)
            }
            Format::Yaml => {
                let sec = lines
                    .iter()
                    .position(|l| l.trim_end() == format!("{section}:"))?;
                lines
                    .iter()
                    .enumerate()
                    .skip(sec + 1)
                    .filter(|(_, l)| l.trim_start().starts_with("- "))
                    .nth(index)
                    .map(|(i, _)| i)
            }
        }?;
        match key {
            Some(k) => key_line(start, k).or(Some(start + 1)),
            None => Some(start + 1),
        }
    }
}

/// Replaces `${VAR}` in every string of the tree.
fn interpolate(v: &mut Value, path: &str, env: &dyn Fn(&str) -> Option<String>, ctx: &mut Ctx) {
    match v {
        Value::String(s) if s.contains("${") => {
            let mut out = String::with_capacity(s.len());
            let mut rest = s.as_str();
            while let Some(i) = rest.find("${") {
                out.push_str(&rest[..i]);
                let after = &rest[i + 2..];
                let Some(end) = after.find('}') else {
                    ctx.error(path, "unterminated `${` in a string");
                    return;
                };
                let name = &after[..end];
                match env(name) {
                    Some(val) => out.push_str(&val),
                    None => ctx.error(path, format!("environment variable `{name}` is not set")),
                }
                rest = &after[end + 1..];
            }
            out.push_str(rest);
            *s = out;
            ctx.interpolated.push(path.to_owned());
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate(item, &format!("{path}[{i}]"), env, ctx);
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                interpolate(item, &p, env, ctx);
            }
        }
        _ => {}
    }
}

/// Parses `"250ms"`, `"30s"`, `"5m"`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| {
        format!("`{s}` is not a duration ({e}); write e.g. \"250ms\", \"30s\" or \"5m\"")
    })
}

/// Parses `"10MiB"`, `"512KB"`, `"1048576"`.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size; write e.g. \"10MiB\""))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "kib" | "k" => 1024.0,
        "mb" => 1e6,
        "mib" | "m" => 1024.0 * 1024.0,
        "gb" => 1e9,
        "gib" | "g" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown size unit `{other}` in `{s}`; use KiB, MiB or GiB"
            ))
        }
    };
    Ok((n * mult) as usize)
}

fn validate(raw: RawConfig, ctx: &mut Ctx) -> Config {
    check_store(&raw, ctx);
    let listen_text = raw.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let listen = match parse_listen(&listen_text) {
        Ok(a) => a,
        Err(m) => {
            ctx.error("listen", m);
            SocketAddr::from(([127, 0, 0, 1], 8080))
        }
    };
    let max_body = match raw.max_body {
        None => DEFAULT_MAX_BODY,
        Some(SizeValue::Bytes(n)) => n as usize,
        Some(SizeValue::Text(t)) => parse_size(&t).unwrap_or_else(|m| {
            ctx.error("max_body", m);
            DEFAULT_MAX_BODY
        }),
    };
    let auth = match raw.auth.as_deref() {
        None => AuthMode::Default,
        Some("none") => AuthMode::None,
        Some(other) => {
            ctx.error(
                "auth",
                format!("unknown auth mode `{other}`; the only value is \"none\""),
            );
            AuthMode::Default
        }
    };
    let drain_timeout = raw
        .drain_timeout
        .as_deref()
        .map(|d| {
            parse_duration(d).unwrap_or_else(|m| {
                ctx.error("drain_timeout", m);
                Duration::from_secs(30)
            })
        })
        .unwrap_or(Duration::from_secs(30));
    let request_timeout = ctx.duration(
        "request_timeout",
        raw.request_timeout.as_deref(),
        DEFAULT_REQUEST_TIMEOUT,
    );
    if request_timeout.is_zero() {
        ctx.error("request_timeout", "must be longer than zero");
    }
    let providers = validate_providers(raw.providers, ctx);
    let routes = validate_routes(raw.routes, &providers, ctx);
    let keys = validate_keys(raw.keys, ctx);
    let health = validate_health(raw.health.as_ref(), ctx);
    let cache = validate_cache(raw.cache.as_ref(), ctx);
    let responses = validate_responses(raw.responses.as_ref(), ctx);
    let audit = raw.audit.map(|a| {
        if a.path.trim().is_empty() {
            ctx.error(
                "audit.path",
                "give a file to append to, or \"-\" for standard output",
            );
        }
        super::AuditConfig {
            path: a.path,
            include_content: a.include_content.unwrap_or(false),
            max_content: match a.max_content {
                None => 4096,
                Some(SizeValue::Bytes(n)) => n as usize,
                Some(SizeValue::Text(t)) => parse_size(&t).unwrap_or_else(|m| {
                    ctx.error("audit.max_content", m);
                    4096
                }),
            },
        }
    });
    let telemetry = validate_telemetry(raw.telemetry, ctx);
    let mut raw_server = raw.server.unwrap_or_default();
    let tls = raw_server.tls.take().map(|t| super::TlsFiles {
        cert: ctx.path(&t.cert),
        key: ctx.path(&t.key),
    });
    let server = validate_server(raw_server, ctx);
    let retry = validate_retry(raw.retry.unwrap_or_default(), ctx);
    let rules = validate_rules(raw.rules, &providers, ctx);
    let script = raw.routing.and_then(|r| validate_script(r, ctx));
    if auth == AuthMode::Default && keys.is_empty() && !listen.ip().is_loopback() {
        ctx.error(
            "listen",
            format!(
                "listening on {listen}, which is not a loopback address, with no [[keys]]: add gateway keys, or set auth = \"none\" to open access to anyone"
            ),
        );
    }
    Config {
        source: ctx.file.to_owned(),
        listen,
        max_body,
        auth,
        store: validate_store(raw.store.as_ref(), ctx),
        limits_on_failure: match raw
            .store
            .as_ref()
            .and_then(|s| s.limits_on_failure.as_deref())
        {
            None | Some("open") => super::FailMode::Open,
            Some("closed") => super::FailMode::Closed,
            Some(other) => {
                ctx.error(
                    "store.limits_on_failure",
                    format!("`{other}` is not a choice; use \"open\" (serve without limits) or \"closed\" (refuse with 503)"),
                );
                super::FailMode::Open
            }
        },
        encryption_key: raw
            .store
            .as_ref()
            .and_then(|s| s.encryption_key.clone())
            .filter(|k| !k.is_empty())
            .and_then(|k| match crate::store::Sealer::from_base64(&k) {
                Ok(_) => Some(Secret::new(k)),
                Err(e) => {
                    ctx.error("store.encryption_key", e.to_string());
                    None
                }
            }),
        anonymous_rpm: raw.limits.as_ref().and_then(|l| l.anonymous_rpm),
        anonymous_loopback: raw
            .limits
            .as_ref()
            .and_then(|l| l.anonymous_loopback)
            .unwrap_or(false),
        admin_token: raw
            .admin
            .and_then(|a| a.token)
            .filter(|t| !t.is_empty())
            .map(Secret::new),
        drain_timeout,
        request_timeout,
        fetch_private_images: raw.fetch_private_images.unwrap_or(false),
        watch_config: raw.watch_config.unwrap_or(true),
        providers,
        routes,
        keys,
        health,
        retry,
        cache,
        responses,
        audit,
        telemetry,
        server,
        tls,
        rules,
        script,
    }
}

/// `[retry]`: a budget share in [0, 1] and backoffs whose cap is not below their start.
fn validate_retry(raw: super::raw::RawRetry, ctx: &mut Ctx) -> super::RetryConfig {
    let d = super::RetryConfig::default();
    let budget = raw.budget.unwrap_or(d.budget);
    if !(0.0..=1.0).contains(&budget) {
        ctx.error(
            "retry.budget",
            "must be a share from 0 (no retries beyond min_per_second) to 1 (a retry for every request)",
        );
    }
    let backoff = ctx.duration("retry.backoff", raw.backoff.as_deref(), d.backoff);
    let max_backoff = ctx.duration(
        "retry.max_backoff",
        raw.max_backoff.as_deref(),
        d.max_backoff,
    );
    if max_backoff < backoff {
        ctx.error(
            "retry.max_backoff",
            "must not be shorter than retry.backoff",
        );
    }
    super::RetryConfig {
        budget: budget.clamp(0.0, 1.0),
        min_per_second: raw.min_per_second.unwrap_or(d.min_per_second),
        backoff,
        max_backoff,
    }
}

/// `[server]`: the edge's limits, each above zero.
fn validate_server(raw: super::raw::RawServer, ctx: &mut Ctx) -> super::ServerLimits {
    let d = super::ServerLimits::default();
    let mut limits = super::ServerLimits {
        header_timeout: ctx.duration(
            "server.header_timeout",
            raw.header_timeout.as_deref(),
            d.header_timeout,
        ),
        idle_timeout: ctx.duration(
            "server.idle_timeout",
            raw.idle_timeout.as_deref(),
            d.idle_timeout,
        ),
        write_timeout: ctx.duration(
            "server.write_timeout",
            raw.write_timeout.as_deref(),
            d.write_timeout,
        ),
        max_connections: raw.max_connections.unwrap_or(d.max_connections),
        max_in_flight: raw.max_in_flight.unwrap_or(d.max_in_flight),
        max_headers: raw.max_headers.unwrap_or(d.max_headers),
        max_header_bytes: match raw.max_header_bytes {
            None => d.max_header_bytes,
            Some(SizeValue::Bytes(n)) => n as usize,
            Some(SizeValue::Text(t)) => parse_size(&t).unwrap_or_else(|m| {
                ctx.error("server.max_header_bytes", m);
                d.max_header_bytes
            }),
        },
    };
    for (field, zero) in [
        ("server.header_timeout", limits.header_timeout.is_zero()),
        ("server.idle_timeout", limits.idle_timeout.is_zero()),
        ("server.write_timeout", limits.write_timeout.is_zero()),
        ("server.max_connections", limits.max_connections == 0),
        ("server.max_in_flight", limits.max_in_flight == 0),
        ("server.max_headers", limits.max_headers == 0),
        ("server.max_header_bytes", limits.max_header_bytes == 0),
    ] {
        if zero {
            ctx.error(field, "must be above zero");
        }
    }
    // Semaphores hold at most this many permits.
    limits.max_connections = limits.max_connections.min(1 << 28);
    limits.max_in_flight = limits.max_in_flight.min(1 << 28);
    limits
}

fn service_name(env: &dyn Fn(&str) -> Option<String>) -> String {
    set(env, "OTEL_SERVICE_NAME").unwrap_or_else(|| "lmrelay".to_owned())
}

/// A variable of `env` that is set to something.
fn set(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name).filter(|v| !v.trim().is_empty())
}

/// Traces configured by the standard OpenTelemetry environment alone: on when it names a
/// collector and `OTEL_SDK_DISABLED` is not `true`.
pub(super) fn telemetry_from_env(
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<super::TelemetryConfig> {
    let disabled = set(env, "OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    (names_collector(env) && !disabled).then(|| super::TelemetryConfig {
        endpoint: None,
        service_name: service_name(env),
        sample_ratio: 1.0,
        headers: Vec::new(),
    })
}

/// Whether the OpenTelemetry environment names a collector for traces.
fn names_collector(env: &dyn Fn(&str) -> Option<String>) -> bool {
    set(env, "OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
        || set(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
}

/// `[telemetry]`; without it, traces are on when the standard OpenTelemetry environment
/// names a collector (and `OTEL_SDK_DISABLED` is not `true`).
fn validate_telemetry(
    raw: Option<super::raw::RawTelemetry>,
    ctx: &mut Ctx,
) -> Option<super::TelemetryConfig> {
    let env = ctx.env;
    let Some(t) = raw else {
        return telemetry_from_env(env);
    };
    if let Some(e) = &t.endpoint {
        if !(e.starts_with("http://") || e.starts_with("https://")) {
            ctx.error(
                "telemetry.endpoint",
                "give the collector's OTLP/HTTP URL, such as \"http://localhost:4318\"",
            );
        }
    } else if !names_collector(env) {
        ctx.error(
            "telemetry.endpoint",
            "give the collector's OTLP/HTTP URL, or set OTEL_EXPORTER_OTLP_ENDPOINT",
        );
    }
    let sample_ratio = t.sample_ratio.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&sample_ratio) {
        ctx.error("telemetry.sample_ratio", "must be between 0 and 1");
    }
    let mut headers: Vec<(String, Secret)> = t
        .headers
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), Secret::new(v)))
        .collect();
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, _) in &headers {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            ctx.error(
                &format!("telemetry.headers.{name}"),
                "is not a valid header name",
            );
        }
    }
    Some(super::TelemetryConfig {
        endpoint: t.endpoint.map(|e| e.trim().to_owned()),
        service_name: t.service_name.unwrap_or_else(|| service_name(env)),
        sample_ratio,
        headers,
    })
}

fn validate_cache(raw: Option<&super::raw::RawCache>, ctx: &mut Ctx) -> super::CacheConfig {
    let d = super::CacheConfig::default();
    let Some(c) = raw else {
        return d;
    };
    let cache = super::CacheConfig {
        enabled: c.enabled.unwrap_or(d.enabled),
        ttl: ctx.duration("cache.ttl", c.ttl.as_deref(), d.ttl),
        max_entries: c.max_entries.unwrap_or(d.max_entries),
    };
    if cache.ttl.is_zero() {
        ctx.error(
            "cache.ttl",
            "must be longer than zero; set enabled = false to turn the cache off",
        );
    }
    cache
}

fn validate_responses(
    raw: Option<&super::raw::RawResponses>,
    ctx: &mut Ctx,
) -> super::ResponsesConfig {
    let d = super::ResponsesConfig::default();
    let Some(r) = raw else {
        return d;
    };
    let responses = super::ResponsesConfig {
        store: r.store.unwrap_or(d.store),
        ttl: ctx.duration("responses.ttl", r.ttl.as_deref(), d.ttl),
    };
    if responses.ttl.is_zero() {
        ctx.error(
            "responses.ttl",
            "must be longer than zero; set store = false to keep no responses",
        );
    }
    responses
}

/// The `[store]` section: a backend this version has.
fn check_store(raw: &RawConfig, ctx: &mut Ctx) {
    if let Some(s) = &raw.store {
        if let Some(b) = s
            .backend
            .as_deref()
            .filter(|b| !matches!(*b, "memory" | "redis"))
        {
            ctx.error(
                "store.backend",
                format!("unknown store backend `{b}`; use \"memory\" or \"redis\""),
            );
        }
    }
}

/// The `[store]` backend.
fn validate_store(raw: Option<&super::raw::RawStore>, ctx: &mut Ctx) -> super::StoreBackend {
    let Some(s) = raw.filter(|s| s.backend.as_deref() == Some("redis")) else {
        return super::StoreBackend::Memory;
    };
    let url = s.url.clone().unwrap_or_default();
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        ctx.error(
            "store.url",
            "backend = \"redis\" needs url = \"redis://host:6379/0\" (or rediss:// for TLS)",
        );
    }
    super::StoreBackend::Redis {
        url: Secret::new(url),
        prefix: s.prefix.clone().unwrap_or_else(|| "lmrelay:".to_owned()),
        timeout: ctx.duration(
            "store.timeout",
            s.timeout.as_deref(),
            Duration::from_millis(500),
        ),
    }
}

pub(super) fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse() {
        return Ok(a);
    }
    s.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("`{s}` is not an address; write host:port, e.g. \"127.0.0.1:8080\""))
}

fn validate_providers(raw: Vec<super::raw::RawProvider>, ctx: &mut Ctx) -> Vec<ProviderConfig> {
    let mut out: Vec<ProviderConfig> = Vec::with_capacity(raw.len());
    for (i, p) in raw.into_iter().enumerate() {
        let at = |f: &str| format!("providers[{i}].{f}");
        if p.name.is_empty() || p.name.contains('/') {
            ctx.error(
                &at("name"),
                "a provider name must be non-empty and contain no `/`",
            );
        }
        if out.iter().any(|o| o.name == p.name) {
            ctx.error(
                &at("name"),
                format!("provider name `{}` is used twice", p.name),
            );
        }
        let (kind, default_url) = match ProviderKind::parse(&p.kind) {
            Some(k) => (k, k.default_base_url_in(p.aws_region.as_deref())),
            None => match preset_named(&p.kind) {
                Some(preset) => (ProviderKind::OpenAi, preset.base_url.to_owned()),
                None => {
                    ctx.error(
                        &at("type"),
                        format!("unknown provider type `{}`; use openai, anthropic, ollama, gemini, azure, cohere, bedrock or an OpenAI-compatible preset (groq, mistral, deepseek, openrouter, together, xai, fireworks, cerebras, nvidia, huggingface, cloudflare, vllm, lmstudio, llamacpp, openai-compatible)", p.kind),
                    );
                    continue;
                }
            },
        };
        let kind = azure_settings(kind, &p, &at, ctx);
        let base_url = p.base_url.clone().unwrap_or(default_url);
        if base_url.is_empty() || base_url.contains('{') {
            ctx.error(
                &at("base_url"),
                format!("provider type `{}` needs a base_url", p.kind),
            );
        } else if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            ctx.error(
                &at("base_url"),
                format!("`{base_url}` is not an http(s) URL"),
            );
        }
        let mut keys: Vec<Secret> = p
            .keys
            .iter()
            .flat_map(|k| k.split(','))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(Secret::new)
            .collect();
        let aws_region = if kind == ProviderKind::Bedrock {
            bedrock_settings(p.aws_region.as_deref(), &mut keys, &at, ctx)
        } else {
            if p.aws_region.is_some() {
                ctx.error(
                    &at("aws_region"),
                    format!(
                        "`aws_region` is for bedrock providers, not `{}` (`region` is the residency tag)",
                        p.kind
                    ),
                );
            }
            None
        };
        let headers = provider_headers(&p.headers, kind, &at, ctx);
        let allowed_betas = match p.allowed_betas.clone() {
            Some(b) if kind != ProviderKind::Anthropic => {
                if !b.is_empty() {
                    ctx.error(&at("allowed_betas"), "applies to the anthropic type only");
                }
                b
            }
            Some(b) => b,
            None => super::DEFAULT_BETAS
                .iter()
                .map(|b| (*b).to_owned())
                .collect(),
        };
        let responses_models = responses_switch(&p, kind, &at, ctx);
        if p.models.is_empty() {
            ctx.error(
                &at("models"),
                "list the models this provider serves, or [\"*\"] for any",
            );
        }
        let timeout = ctx.duration(&at("timeout"), p.timeout.as_deref(), DEFAULT_TIMEOUT);
        let uniform = Timeouts::uniform(timeout);
        let timeouts = Timeouts {
            connect: ctx.duration(
                &at("connect_timeout"),
                p.connect_timeout.as_deref(),
                uniform.connect,
            ),
            header: ctx.duration(
                &at("header_timeout"),
                p.header_timeout.as_deref(),
                uniform.header,
            ),
            first_token: ctx.duration(
                &at("first_token_timeout"),
                p.first_token_timeout.as_deref(),
                uniform.first_token,
            ),
            idle: ctx.duration(&at("idle_timeout"), p.idle_timeout.as_deref(), uniform.idle),
            total: timeout,
            stream: ctx.duration(
                &at("stream_timeout"),
                p.stream_timeout.as_deref(),
                uniform.stream,
            ),
        };
        for (field, d) in [
            ("timeout", timeouts.total),
            ("connect_timeout", timeouts.connect),
            ("header_timeout", timeouts.header),
            ("first_token_timeout", timeouts.first_token),
            ("idle_timeout", timeouts.idle),
            ("stream_timeout", timeouts.stream),
        ] {
            if d.is_zero() {
                ctx.error(&at(field), "a time limit must be longer than zero");
            }
        }
        if p.client_cert.is_some() != p.client_key.is_some() {
            ctx.error(
                &at(if p.client_cert.is_some() {
                    "client_key"
                } else {
                    "client_cert"
                }),
                "client_cert and client_key go together: set both or neither",
            );
        }
        out.push(ProviderConfig {
            name: p.name,
            kind,
            type_name: p.kind,
            base_url: base_url.trim_end_matches('/').to_owned(),
            keys,
            models: p.models,
            region: p.region,
            aws_region,
            headers,
            allowed_betas,
            passthrough: p.passthrough.unwrap_or(true),
            timeouts,
            weight: p.weight.unwrap_or(1),
            direct: p.direct.unwrap_or(true),
            prices: p
                .prices
                .into_iter()
                .map(|(m, pr)| {
                    (
                        m,
                        Price {
                            input: pr.input,
                            output: pr.output,
                        },
                    )
                })
                .collect(),
            max_tokens: p.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            api_version: p.api_version,
            deployments: p.deployments.into_iter().collect(),
            responses_models,
            tls: super::UpstreamTls {
                ca_file: p.ca_file.map(|f| ctx.path(&f)),
                client_cert: p.client_cert.map(|f| ctx.path(&f)),
                client_key: p.client_key.map(|f| ctx.path(&f)),
            },
        });
    }
    out
}

/// Checks the `api` and `responses_models` switch, which only `openai` providers (and their
/// presets) take, and gives the model globs asked through the Responses API.
fn responses_switch(
    p: &super::raw::RawProvider,
    kind: ProviderKind,
    at: &dyn Fn(&str) -> String,
    ctx: &mut Ctx,
) -> Vec<String> {
    let openai = kind == ProviderKind::OpenAi;
    let all = match p.api.as_deref() {
        None | Some("chat") => false,
        Some("responses") => true,
        Some(other) => {
            ctx.error(
                &at("api"),
                format!("unknown api `{other}`; use \"chat\" or \"responses\""),
            );
            false
        }
    };
    if !openai && (p.api.is_some() || !p.responses_models.is_empty()) {
        let field = if p.api.is_some() {
            "api"
        } else {
            "responses_models"
        };
        ctx.error(
            &at(field),
            format!(
                "only openai providers can be asked through the Responses API, not `{}`",
                p.kind
            ),
        );
        return Vec::new();
    }
    if all {
        return vec!["*".to_owned()];
    }
    if p.responses_models.iter().any(String::is_empty) {
        ctx.error(&at("responses_models"), "a model glob must be non-empty");
    }
    p.responses_models.clone()
}

/// Checks `api_version` and `deployments`, which only `azure` providers take, and gives an
/// azure provider the kind that carries them.
fn azure_settings(
    kind: ProviderKind,
    p: &super::raw::RawProvider,
    at: &dyn Fn(&str) -> String,
    ctx: &mut Ctx,
) -> ProviderKind {
    if !matches!(kind, ProviderKind::Azure(_)) {
        if p.api_version.is_some() {
            ctx.error(
                &at("api_version"),
                "only azure providers take an api_version",
            );
        }
        if !p.deployments.is_empty() {
            ctx.error(&at("deployments"), "only azure providers take deployments");
        }
        return kind;
    }
    let api_version = p.api_version.clone().unwrap_or_default();
    if api_version.is_empty() {
        ctx.error(
            &at("api_version"),
            "an azure provider needs an api_version, such as \"2024-10-21\", or \"v1\" for the /openai/v1/ API",
        );
    } else if !api_version
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        ctx.error(
            &at("api_version"),
            format!("`{api_version}` is not an api-version (letters, digits, `-` and `.`)"),
        );
    }
    let mut deployments = std::collections::BTreeMap::new();
    for (model, deployment) in &p.deployments {
        let valid = !deployment.is_empty()
            && deployment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !valid {
            ctx.error(
                &at(&format!("deployments.{model}")),
                format!(
                    "`{deployment}` is not a deployment name (letters, digits, `-`, `_` and `.`)"
                ),
            );
        }
        deployments.insert(model.clone(), deployment.clone());
    }
    ProviderKind::azure(lmrelay_providers::AzureSettings {
        api_version,
        deployments,
    })
}

/// A provider's extra `headers`: valid names and values, for the openai type and its
/// presets (the adapters that send them), and never a credential or framing header — keys
/// belong in `keys`.
fn provider_headers(
    raw: &std::collections::BTreeMap<String, String>,
    kind: ProviderKind,
    at: &dyn Fn(&str) -> String,
    ctx: &mut Ctx,
) -> Vec<(String, String)> {
    const FRAMING: &[&str] = &[
        "host",
        "content-type",
        "content-length",
        "transfer-encoding",
    ];
    if !raw.is_empty() && kind != ProviderKind::OpenAi {
        ctx.error(
            &at("headers"),
            "`headers` is for the openai type and OpenAI-compatible presets",
        );
        return Vec::new();
    }
    let mut out = Vec::new();
    for (name, value) in raw {
        let lower = name.to_ascii_lowercase();
        let field = at(&format!("headers.{name}"));
        if lmrelay_providers::CREDENTIAL_HEADERS.contains(&lower.as_str())
            || FRAMING.contains(&lower.as_str())
        {
            ctx.error(
                &field,
                format!("`{name}` cannot be set here: the gateway sets it (keys go in `keys`)"),
            );
        } else if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            ctx.error(&field, format!("`{name}` is not a valid header name"));
        } else if http::HeaderValue::from_str(value).is_err() {
            ctx.error(&field, "not a valid header value");
        } else {
            out.push((lower, value.clone()));
        }
    }
    out
}

/// A Bedrock provider's `aws_region` (required: it names the endpoint and signs requests)
/// and credentials: its keys, else the standard AWS environment (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, optionally `AWS_SESSION_TOKEN`), else a Bedrock API key in
/// `AWS_BEARER_TOKEN_BEDROCK`. Keys are checked for shape; their values are never shown.
fn bedrock_settings(
    aws_region: Option<&str>,
    keys: &mut Vec<Secret>,
    at: &dyn Fn(&str) -> String,
    ctx: &mut Ctx,
) -> Option<String> {
    let region = match aws_region.map(str::trim) {
        Some(r)
            if !r.is_empty()
                && r.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
        {
            Some(r.to_owned())
        }
        Some(r) => {
            ctx.error(
                &at("aws_region"),
                format!("`{r}` is not an AWS region; write one such as \"us-east-1\""),
            );
            None
        }
        None => {
            ctx.error(
                &at("aws_region"),
                "a bedrock provider needs `aws_region` (such as \"us-east-1\"): it names the endpoint and signs every request",
            );
            None
        }
    };
    if keys.is_empty() {
        let env = |k: &str| (ctx.env)(k).filter(|v| !v.trim().is_empty());
        let from_env = match (
            env("AWS_ACCESS_KEY_ID"),
            env("AWS_SECRET_ACCESS_KEY"),
            env("AWS_SESSION_TOKEN"),
        ) {
            (Some(id), Some(secret), Some(token)) => {
                Some(format!("{}:{}:{}", id.trim(), secret.trim(), token.trim()))
            }
            (Some(id), Some(secret), None) => Some(format!("{}:{}", id.trim(), secret.trim())),
            _ => env("AWS_BEARER_TOKEN_BEDROCK").map(|t| t.trim().to_owned()),
        };
        match from_env {
            Some(key) => keys.push(Secret::new(key)),
            None => ctx.error(
                &at("keys"),
                "a bedrock provider needs credentials: keys = [\"ACCESS_KEY_ID:SECRET_ACCESS_KEY\"] (optionally \":SESSION_TOKEN\" after them), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_BEARER_TOKEN_BEDROCK) in the environment",
            ),
        }
    }
    for (j, key) in keys.iter().enumerate() {
        if lmrelay_providers::BedrockCredentials::parse(key.expose()).is_err() {
            ctx.error(
                &at(&format!("keys[{j}]")),
                "a bedrock key is `ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]` or a Bedrock API key (the value is not shown)",
            );
        }
    }
    region
}

fn validate_routes(
    raw: Vec<super::raw::RawRoute>,
    providers: &[ProviderConfig],
    ctx: &mut Ctx,
) -> Vec<RouteConfig> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let at = |f: &str| format!("routes[{i}].{f}");
        if r.model.is_empty() {
            ctx.error(&at("model"), "a route needs a model name");
        }
        if r.targets.is_empty() {
            ctx.error(
                &at("targets"),
                "a route needs at least one target \"provider/model\"",
            );
        }
        let targets = validate_targets(r.targets, providers, &at("targets"), ctx);
        let strategy = validate_strategy(r.strategy.as_deref(), &at("strategy"), ctx)
            .unwrap_or(Strategy::Failover);
        out.push(RouteConfig {
            model: r.model,
            targets,
            strategy,
            cache: r.cache.unwrap_or(false),
            cache_shared: r.cache_shared.unwrap_or(false),
            max_attempts: validate_attempts(r.max_attempts, &at("max_attempts"), ctx),
        });
    }
    out
}

/// Parses `"provider/model"` targets (or `{ target, weight }`).
fn validate_targets(
    raw: Vec<RawTarget>,
    providers: &[ProviderConfig],
    field: &str,
    ctx: &mut Ctx,
) -> Vec<RouteTarget> {
    let mut targets = Vec::with_capacity(raw.len());
    for t in raw {
        let (spec, weight) = match t {
            RawTarget::Name(s) => (s, None),
            RawTarget::Weighted { target, weight } => (target, weight),
        };
        match spec.split_once('/') {
            Some((provider, model)) if !provider.is_empty() && !model.is_empty() => {
                if !providers.iter().any(|p| p.name == provider) {
                    ctx.error(
                        field,
                        format!(
                            "target `{spec}` names provider `{provider}`, which is not configured"
                        ),
                    );
                }
                targets.push(RouteTarget {
                    provider: provider.to_owned(),
                    model: model.to_owned(),
                    weight,
                });
            }
            _ => ctx.error(
                field,
                format!("target `{spec}` is not of the form \"provider/model\""),
            ),
        }
    }
    targets
}

fn validate_strategy(s: Option<&str>, field: &str, ctx: &mut Ctx) -> Option<Strategy> {
    let s = s?;
    let parsed = Strategy::parse(s);
    if parsed.is_none() {
        ctx.error(
            field,
            format!("unknown strategy `{s}`; use failover, weighted, latency or cheapest"),
        );
    }
    parsed
}

fn validate_attempts(n: Option<u32>, field: &str, ctx: &mut Ctx) -> Option<u32> {
    if n == Some(0) {
        ctx.error(field, "max_attempts must be at least 1");
        return None;
    }
    n
}

fn validate_health(raw: Option<&RawHealth>, ctx: &mut Ctx) -> HealthConfig {
    let d = HealthConfig::default();
    let Some(h) = raw else {
        return d;
    };
    let health = HealthConfig {
        interval: ctx.duration("health.interval", h.interval.as_deref(), d.interval),
        timeout: ctx.duration("health.timeout", h.timeout.as_deref(), d.timeout),
        failure_threshold: h.failure_threshold.unwrap_or(d.failure_threshold),
        cooldown: ctx.duration("health.cooldown", h.cooldown.as_deref(), d.cooldown),
        max_cooldown: ctx.duration(
            "health.max_cooldown",
            h.max_cooldown.as_deref(),
            d.max_cooldown,
        ),
        exploration: h.exploration.unwrap_or(d.exploration),
    };
    if health.failure_threshold == 0 {
        ctx.error("health.failure_threshold", "must be at least 1");
    }
    if health.timeout.is_zero() {
        ctx.error("health.timeout", "a time limit must be longer than zero");
    }
    if health.cooldown.is_zero() {
        ctx.error("health.cooldown", "must be longer than zero");
    }
    if health.max_cooldown < health.cooldown {
        ctx.error(
            "health.max_cooldown",
            "must not be shorter than health.cooldown",
        );
    }
    if !(0.0..=0.5).contains(&health.exploration) {
        ctx.error("health.exploration", "must be between 0 and 0.5");
    }
    health
}

const PROTOCOLS: &[&str] = &["openai", "anthropic", "ollama", "responses"];

fn validate_rules(
    raw: Vec<RawRule>,
    providers: &[ProviderConfig],
    ctx: &mut Ctx,
) -> Vec<RuleConfig> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let at = |f: &str| format!("rules[{i}].{f}");
        if let Some(p) = r
            .when
            .protocol
            .as_deref()
            .filter(|p| !PROTOCOLS.contains(p))
        {
            ctx.error(
                &at("match.protocol"),
                format!("unknown protocol `{p}`; use openai, anthropic, ollama or responses"),
            );
        }
        let targets = r
            .targets
            .map(|t| validate_targets(t, providers, &at("targets"), ctx));
        if targets.as_ref().is_some_and(Vec::is_empty) {
            ctx.error(
                &at("targets"),
                "a rule's targets must not be empty; leave the field out to keep the route's",
            );
        }
        let strategy = validate_strategy(r.strategy.as_deref(), &at("strategy"), ctx);
        let max_attempts = validate_attempts(r.max_attempts, &at("max_attempts"), ctx);
        let mut headers: Vec<(String, String)> = r
            .when
            .header
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        headers.sort();
        out.push(RuleConfig {
            name: r.name.unwrap_or_else(|| format!("rules[{i}]")),
            key: r.when.key,
            model: r.when.model,
            protocol: r.when.protocol,
            headers,
            targets,
            strategy,
            regions: r.regions,
            max_attempts,
        });
    }
    out
}

/// Reads and compiles the routing script (relative paths are relative to the config
/// file's folder), so `lmrelay check` reports a script that does not compile.
fn validate_script(raw: RawRouting, ctx: &mut Ctx) -> Option<ScriptConfig> {
    let defaults = ScriptLimits::default();
    let limits = ScriptLimits {
        max_operations: raw.script_max_operations.unwrap_or(defaults.max_operations),
        time_limit: ctx.duration(
            "routing.script_timeout",
            raw.script_timeout.as_deref(),
            defaults.time_limit,
        ),
    };
    if limits.time_limit.is_zero() {
        ctx.error("routing.script_timeout", "must be longer than zero");
    }
    let path = raw.script?;
    let resolved = match Path::new(ctx.file).parent() {
        Some(dir) if Path::new(&path).is_relative() => dir.join(&path),
        _ => Path::new(&path).to_path_buf(),
    };
    let source = match std::fs::read_to_string(&resolved) {
        Ok(s) => s,
        Err(e) => {
            ctx.error(
                "routing.script",
                format!(
                    "cannot read the routing script `{}`: {e}",
                    resolved.display()
                ),
            );
            return None;
        }
    };
    match RouteScript::compile(&source, &resolved.display().to_string(), limits) {
        Ok(s) => Some(ScriptConfig(std::sync::Arc::new(s))),
        Err(e) => {
            ctx.error("routing.script", e.to_string());
            None
        }
    }
}

fn validate_keys(raw: Vec<super::raw::RawKey>, ctx: &mut Ctx) -> Vec<KeyConfig> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, k) in raw.into_iter().enumerate() {
        let at = |f: &str| format!("keys[{i}].{f}");
        let key = match k.key.strip_prefix("sha256:") {
            Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                KeyMatcher::Sha256(hex.to_ascii_lowercase())
            }
            Some(_) => {
                ctx.error(
                    &at("key"),
                    "a sha256: key must be followed by 64 hex digits (see `lmrelay hash-key`)",
                );
                continue;
            }
            None if k.key.is_empty() => {
                ctx.error(&at("key"), "the key is empty");
                continue;
            }
            None => KeyMatcher::Plain(Secret::new(k.key)),
        };
        let Some(models) = k.models else {
            ctx.error(
                &at("models"),
                "list the models this key may use: [\"*\"] for all, [] for none",
            );
            continue;
        };
        // Limits, usage and logs know a key by its name.
        if k.name.trim().is_empty() || k.name == "-" {
            ctx.error(
                &at("name"),
                "a key needs a name (and `-` is reserved for requests without a key)",
            );
        } else if out.iter().any(|o: &KeyConfig| o.name == k.name) {
            ctx.error(&at("name"), format!("key name `{}` is used twice", k.name));
        }
        for (field, v) in [("rpm", k.rpm), ("tpm", k.tpm)] {
            if v == Some(0) {
                ctx.error(
                    &at(field),
                    "a limit of 0 refuses every request; leave it out for no limit",
                );
            }
        }
        if k.max_concurrent == Some(0) {
            ctx.error(
                &at("max_concurrent"),
                "a limit of 0 refuses every request; leave it out for no limit",
            );
        }
        if k.budget_usd.is_some_and(|b| !b.is_finite() || b < 0.0) {
            ctx.error(
                &at("budget_usd"),
                "must be a non-negative number of US dollars",
            );
        }
        out.push(KeyConfig {
            name: k.name,
            key,
            models,
            rpm: k.rpm,
            tpm: k.tpm,
            budget_usd: k.budget_usd,
            regions: k.regions,
            max_concurrent: k.max_concurrent,
            direct: k.direct.unwrap_or(true),
        });
    }
    out
}
