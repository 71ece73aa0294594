//! The built-in default: no config file, providers found in the environment.

use super::load::{ConfigError, ConfigErrors, DEFAULT_MAX_BODY, DEFAULT_MAX_TOKENS};
use super::{AuthMode, Config, KeyConfig, KeyMatcher, ProviderConfig};
use crate::secret::Secret;
use lmrelay_providers::{ProviderKind, PRESETS};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Builds the default config from the process environment.
pub fn from_environment() -> Result<Config, ConfigErrors> {
    from_env(&|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
}

/// Builds the default config from `env`: OpenAI, Anthropic, Gemini (its native API), the
/// OpenAI-compatible presets, and Ollama at `$OLLAMA_HOST` or `http://127.0.0.1:11434`.
/// Each key variable may hold several comma-separated keys.
/// A model name is tried on every provider that may serve it, in that order; one that does
/// not know the model (404) passes it on to the next.
///
/// For containers and services without a config file: `LMRELAY_LISTEN` sets the address
/// (`127.0.0.1:8080` by default) and `LMRELAY_GATEWAY_KEYS` holds comma-separated gateway
/// keys allowed every model; listening beyond loopback needs at least one.
pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
    let error = |field: &str, message: String| {
        ConfigErrors(vec![ConfigError {
            file: super::BUILT_IN.into(),
            line: None,
            field: field.into(),
            message,
        }])
    };
    let listen = match env("LMRELAY_LISTEN") {
        None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        Some(text) => {
            super::load::parse_listen(text.trim()).map_err(|m| error("LMRELAY_LISTEN", m))?
        }
    };
    let keys: Vec<KeyConfig> = env("LMRELAY_GATEWAY_KEYS")
        .map(|v| split_keys(&v))
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, key)| KeyConfig {
            name: format!("env-{}", i + 1),
            key: KeyMatcher::Plain(key),
            models: vec!["*".into()],
            rpm: None,
            tpm: None,
            budget_usd: None,
            regions: vec![],
            max_concurrent: None,
            direct: true,
        })
        .collect();
    if keys.is_empty() && !listen.ip().is_loopback() {
        return Err(error(
            "LMRELAY_LISTEN",
            format!("listening on {listen}, which is not a loopback address, with no gateway keys: set LMRELAY_GATEWAY_KEYS (comma-separated), or use a config file"),
        ));
    }
    let mut providers = Vec::new();
    for known in known_providers() {
        let (Some(keys), Some(base_url)) = (
            env(known.key_var),
            known.base_url(env, |_, value| value.trim().to_owned()),
        ) else {
            continue;
        };
        let mut p = provider(known.name, known.kind, base_url, split_keys(&keys));
        p.models = default_models(known.name);
        providers.push(p);
    }
    let ollama = ollama_url(env);
    let mut ollama = provider("ollama", ProviderKind::Ollama, ollama, vec![]);
    ollama.type_name = "ollama".into();
    providers.push(ollama);
    Ok(Config {
        source: super::BUILT_IN.into(),
        listen,
        max_body: DEFAULT_MAX_BODY,
        auth: AuthMode::Default,
        admin_token: None,
        encryption_key: None,
        store: super::StoreBackend::Memory,
        limits_on_failure: super::FailMode::Open,
        anonymous_rpm: None,
        anonymous_loopback: false,
        drain_timeout: Duration::from_secs(30),
        request_timeout: super::load::DEFAULT_REQUEST_TIMEOUT,
        fetch_private_images: false,
        watch_config: false,
        providers,
        routes: vec![],
        keys,
        health: Default::default(),
        retry: Default::default(),
        cache: Default::default(),
        responses: Default::default(),
        audit: None,
        telemetry: super::load::telemetry_from_env(env),
        server: Default::default(),
        tls: None,
        rules: vec![],
        script: None,
    })
}

/// A provider the built-in default takes from the environment when its key variable is set.
pub(super) struct KnownProvider {
    pub name: &'static str,
    pub kind: ProviderKind,
    pub key_var: &'static str,
    base_url: &'static str,
    /// Placeholders of `base_url` and the variables that fill them.
    url_vars: &'static [(&'static str, &'static str)],
}

impl KnownProvider {
    /// The base URL with each placeholder replaced by `fill(variable, value)`; `None` while
    /// a variable is unset (the provider is then left out).
    pub fn base_url(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        fill: impl Fn(&str, &str) -> String,
    ) -> Option<String> {
        let mut url = self.base_url.to_owned();
        for (placeholder, var) in self.url_vars {
            url = url.replace(placeholder, &fill(var, &env(var)?));
        }
        Some(url)
    }

    /// Whether its URL needs more than the type's default (a placeholder to fill).
    pub fn custom_url(&self) -> bool {
        !self.url_vars.is_empty()
    }
}

/// The providers the environment may name, in the built-in default's order: OpenAI,
/// Anthropic, Gemini (its native API), then the OpenAI-compatible presets with a key variable.
pub(super) fn known_providers() -> impl Iterator<Item = KnownProvider> {
    let own = [
        ("openai", ProviderKind::OpenAi, "OPENAI_API_KEY"),
        ("anthropic", ProviderKind::Anthropic, "ANTHROPIC_API_KEY"),
        ("gemini", ProviderKind::Gemini, "GEMINI_API_KEY"),
    ]
    .map(|(name, kind, key_var)| KnownProvider {
        name,
        kind,
        key_var,
        base_url: kind.default_base_url(),
        url_vars: &[],
    });
    let presets = PRESETS.iter().filter_map(|p| {
        Some(KnownProvider {
            name: p.name,
            kind: ProviderKind::OpenAi,
            key_var: p.env_key?,
            base_url: p.base_url,
            url_vars: p.url_vars,
        })
    });
    own.into_iter().chain(presets)
}

/// Ollama's address: `$OLLAMA_HOST` (`http://` added to a bare `host:port`), else the local
/// default.
pub(super) fn ollama_url(env: &dyn Fn(&str) -> Option<String>) -> String {
    match env("OLLAMA_HOST") {
        Some(h) if h.starts_with("http://") || h.starts_with("https://") => h,
        Some(h) => format!("http://{h}"),
        None => "http://127.0.0.1:11434".to_owned(),
    }
}

/// The model names a provider of the built-in default serves. The big three claim their own
/// families, so `claude-*` goes to Anthropic even when OpenAI comes first; vendors whose
/// model names are their own (and Ollama) take any name, after them.
pub(super) fn default_models(name: &str) -> Vec<String> {
    let patterns: &[&str] = match name {
        "openai" => &[
            "gpt-*",
            "chatgpt-*",
            "o1*",
            "o3*",
            "o4*",
            "codex-*",
            "text-embedding-*",
            "omni-*",
        ],
        "anthropic" => &["claude-*"],
        "gemini" => &["gemini-*", "gemma-*", "text-embedding-0*"],
        _ => &["*"],
    };
    patterns.iter().map(|p| (*p).to_owned()).collect()
}

fn split_keys(v: &str) -> Vec<Secret> {
    v.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(Secret::new)
        .collect()
}

fn provider(name: &str, kind: ProviderKind, base_url: String, keys: Vec<Secret>) -> ProviderConfig {
    ProviderConfig {
        name: name.to_owned(),
        kind,
        type_name: name.to_owned(),
        base_url: base_url.trim_end_matches('/').to_owned(),
        keys,
        models: vec!["*".into()],
        region: None,
        aws_region: None,
        headers: Vec::new(),
        allowed_betas: super::DEFAULT_BETAS
            .iter()
            .map(|b| (*b).to_owned())
            .collect(),
        passthrough: true,
        timeouts: super::Timeouts::uniform(Duration::from_secs(120)),
        weight: 1,
        direct: true,
        prices: HashMap::new(),
        max_tokens: DEFAULT_MAX_TOKENS,
        api_version: None,
        deployments: Default::default(),
        responses_models: Vec::new(),
        tls: Default::default(),
    }
}
