//! The immutable runtime built from a config: providers with their adapters, key rotation,
//! HTTP clients and handles on their live health, and the routing tables prebuilt for each
//! request (weighted schedules). Startup (and, later, reload) build a new one and swap it
//! in; requests in flight keep the one they started with. Live state is not here: health
//! lives in a [`HealthStore`] that outlives every runtime.

use crate::config::{Config, KeyConfig, ProviderConfig, UpstreamTls};
use crate::gateway_keys::{config_index, Digest32};
use crate::health::{ProviderHealth, TargetStats};
use crate::http_clients::ClientSpec;
use crate::live::Live;
use crate::routing::strategy::Schedule;
use crate::routing::{self, Candidate};
use crate::secret::Secret;
use crate::upstream_keys::KeyPool;
use lmrelay_providers::{
    adapter_for, preset_named, responses_adapter_for, Adapter, Preset, Target,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Everything a request needs, fixed for its lifetime.
pub struct Runtime {
    pub config: Config,
    pub providers: Vec<Provider>,
    /// The HTTP client for everything that is not a provider's (image downloads).
    pub client: reqwest::Client,
    /// When this runtime was built (Unix seconds); model listings report it.
    pub created_secs: u64,
    /// Weighted schedules of routes (`routes[i]`) and rules (`rules[i]`) with targets.
    pub route_schedules: Vec<Schedule>,
    pub rule_schedules: Vec<Option<Schedule>>,
    /// The config file's gateway keys by the SHA-256 of the key.
    pub config_keys: HashMap<Digest32, Arc<KeyConfig>>,
    /// Live state, shared with every other runtime.
    pub live: Arc<Live>,
    /// The public model names: metrics label other names `other`.
    pub known_models: std::collections::HashSet<String>,
}

/// A configured upstream provider.
pub struct Provider {
    pub config: ProviderConfig,
    pub adapter: Arc<dyn Adapter>,
    /// The Responses API adapter, for the models the provider's `responses_models` names.
    responses_adapter: Option<Arc<dyn Adapter>>,
    /// The OpenAI-compatible vendor preset, when the provider's type is one.
    pub preset: Option<&'static Preset>,
    /// The client with this provider's connect timeout.
    pub client: reqwest::Client,
    pub health: Arc<ProviderHealth>,
    /// The provider's upstream keys (config and runtime) and their live state.
    pub keys: Arc<KeyPool>,
    /// Stats of the models named in the config (routes and the provider's model list).
    model_stats: HashMap<String, Arc<TargetStats>>,
    /// Stats shared by every model asked of a wildcard provider by a name the config does
    /// not know (kept bounded: one entry, not one per name a client invents).
    other_models: Arc<TargetStats>,
}

/// Errors building a runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("cannot use the TLS file `{path}`: {why}")]
    Tls { path: String, why: String },
}

// === impl Runtime ===

impl Runtime {
    pub fn build(config: Config, live: &Arc<Live>) -> Result<Runtime, RuntimeError> {
        let health = &*live.health;
        // Providers with the same connect timeout and TLS material share a client (and its
        // connection pool), which outlives this runtime in `live` (a reload keeps it).
        let mut used: Vec<ClientSpec> = Vec::new();
        let mut client_for =
            |connect: Duration, tls: &UpstreamTls| -> Result<reqwest::Client, RuntimeError> {
                let spec = ClientSpec::read(connect, tls)?;
                let client = live.http_clients.get(&spec)?;
                used.push(spec);
                Ok(client)
            };
        let mut providers = Vec::with_capacity(config.providers.len());
        for p in &config.providers {
            let mut names: Vec<&str> = p.models.iter().map(String::as_str).collect();
            names.extend(
                config
                    .routes
                    .iter()
                    .flat_map(|r| &r.targets)
                    .chain(config.rules.iter().flat_map(|r| r.targets.iter().flatten()))
                    .filter(|t| t.provider == p.name && t.model != "*")
                    .map(|t| t.model.as_str()),
            );
            let model_stats = names
                .into_iter()
                .map(|m| (m.to_owned(), health.target(&p.name, m)))
                .collect();
            providers.push(Provider {
                adapter: adapter_for(p.kind),
                responses_adapter: (!p.responses_models.is_empty())
                    .then(|| responses_adapter_for(p.kind))
                    .flatten(),
                preset: preset_named(&p.type_name),
                client: client_for(p.timeouts.connect, &p.tls)?,
                health: health.provider(&p.name),
                keys: live.upstream_keys.pool(&p.name, &p.keys),
                model_stats,
                other_models: health.target(&p.name, "*"),
                config: p.clone(),
            });
        }
        let client = client_for(Duration::from_secs(10), &UpstreamTls::default())?;
        let weights = |targets: &[crate::config::RouteTarget]| {
            let w: Vec<u32> = targets
                .iter()
                .map(|t| {
                    t.weight
                        .unwrap_or_else(|| config.provider(&t.provider).map_or(1, |p| p.weight))
                })
                .collect();
            Schedule::new(&w)
        };
        let route_schedules = config.routes.iter().map(|r| weights(&r.targets)).collect();
        let rule_schedules = config
            .rules
            .iter()
            .map(|r| r.targets.as_deref().map(weights))
            .collect();
        let known_models = routing::public_models(&config, 0)
            .into_iter()
            .map(|m| m.id)
            .collect();
        live.http_clients.keep_only(&used);
        Ok(Runtime {
            known_models,
            config_keys: config_index(&config.keys),
            live: live.clone(),
            config,
            providers,
            client,
            created_secs: crate::now_ms() / 1000,
            route_schedules,
            rule_schedules,
        })
    }

    /// The candidates for a model name, in configured order (direct addressing allowed).
    pub fn resolve(&self, model: &str) -> Vec<Candidate> {
        routing::resolve(self, model, true).candidates
    }

    /// The public model table: routes and configured names, then the models that providers
    /// serving any name (`models = ["*"]`) listed at their last check.
    pub fn public_models(&self) -> Vec<lmrelay_ir::ModelInfo> {
        let mut models = routing::public_models(&self.config, self.created_secs);
        for p in self
            .providers
            .iter()
            .filter(|p| p.config.models.iter().any(|m| m == "*"))
        {
            for id in p.health.discovered().iter() {
                if !models.iter().any(|m| &m.id == id) {
                    models.push(lmrelay_ir::ModelInfo {
                        id: id.clone(),
                        owned_by: p.config.name.clone(),
                        created_secs: self.created_secs,
                    });
                }
            }
        }
        models
    }
}

/// The upstream HTTP client: no redirects (a redirect would carry credentials such as
/// `x-api-key` to another host), `TCP_NODELAY`, pooled connections, and the provider's own
/// CA certificates and client certificate when it has them.
/// The files a config names that cannot be used — the edge's certificate and key, the
/// providers' CA and client certificates — one line each (for `lmrelay check`).
pub fn unusable_files(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(files) = &config.tls {
        if let Err(e) = crate::edge::tls::ServedCert::load(files) {
            out.push(e.to_string());
        }
    }
    for p in &config.providers {
        if let Err(e) = ClientSpec::read(p.timeouts.connect, &p.tls).and_then(|s| s.build()) {
            out.push(format!("providers `{}`: {e}", p.name));
        }
    }
    out
}

// === impl Provider ===

impl Provider {
    /// Where to send a request for `model`, as whom.
    /// The adapter that asks this provider for `model` (the provider's name for it): the
    /// Responses API's when the provider's switch names the model, else the type's own.
    pub fn chat_adapter(&self, model: &str) -> &dyn Adapter {
        match &self.responses_adapter {
            Some(a)
                if self
                    .config
                    .responses_models
                    .iter()
                    .any(|g| crate::glob::matches(g, model)) =>
            {
                a.as_ref()
            }
            _ => self.adapter.as_ref(),
        }
    }

    pub fn target<'a>(
        &'a self,
        model: &'a str,
        key: Option<&'a Secret>,
        client: lmrelay_providers::Dialect,
        client_headers: &'a http::HeaderMap,
    ) -> Target<'a> {
        Target {
            base_url: &self.config.base_url,
            model,
            api_key: key.map(Secret::expose),
            default_max_tokens: self.config.max_tokens,
            preset: self.preset,
            client,
            client_headers,
            allowed_betas: &self.config.allowed_betas,
            aws_region: self.config.aws_region.as_deref(),
            headers: &self.config.headers,
            now_unix_ms: crate::now_ms(),
        }
    }

    /// The key for a request that tries one (embeddings, token counts, health checks):
    /// `Ok(None)` for a provider without keys, `Err` with the choice when it has keys but
    /// none is usable now (every one cooling or rejected).
    pub fn next_key(
        &self,
    ) -> Result<Option<Arc<crate::upstream_keys::UpstreamKey>>, crate::upstream_keys::KeyChoice>
    {
        let choice = self.keys.choose(None, crate::now_ms());
        if choice.keyless {
            return Ok(None);
        }
        if choice.keys.is_empty() {
            return Err(choice);
        }
        Ok(choice.keys.into_iter().next())
    }

    /// The stats of one of this provider's models.
    pub fn model_stats(&self, model: &str) -> Arc<TargetStats> {
        self.model_stats
            .get(model)
            .unwrap_or(&self.other_models)
            .clone()
    }
}
