//! The immutable runtime built from a config: providers with their adapters and key
//! rotation, and the shared HTTP client. Startup (and, later, reload) build a new one and swap
//! it in; requests in flight keep the one they started with.

use crate::config::{Config, ProviderConfig};
use crate::routing::{self, Candidate};
use crate::secret::Secret;
use lmrelay_providers::{adapter_for, preset_named, Adapter, Preset, Target};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Everything a request needs, fixed for its lifetime.
pub struct Runtime {
    pub config: Config,
    pub providers: Vec<Provider>,
    pub client: reqwest::Client,
    /// When this runtime was built (Unix seconds); model listings report it.
    pub created_secs: u64,
}

/// A configured upstream provider.
pub struct Provider {
    pub config: ProviderConfig,
    pub adapter: Arc<dyn Adapter>,
    /// The OpenAI-compatible vendor preset, when the provider's type is one.
    pub preset: Option<&'static Preset>,
    next_key: AtomicUsize,
}

/// Errors building a runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

// === impl Runtime ===

impl Runtime {
    pub fn build(config: Config) -> Result<Runtime, RuntimeError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            // A gateway surfaces redirects instead of following them: a redirect would carry
            // credentials such as `x-api-key` to another host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("lmrelay/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let providers = config
            .providers
            .iter()
            .map(|p| Provider {
                adapter: adapter_for(p.kind),
                preset: preset_named(&p.type_name),
                config: p.clone(),
                next_key: AtomicUsize::new(0),
            })
            .collect();
        Ok(Runtime {
            config,
            providers,
            client,
            created_secs: crate::now_ms() / 1000,
        })
    }

    /// The ordered candidates for a model name.
    pub fn resolve(&self, model: &str) -> Vec<Candidate> {
        routing::resolve(&self.config, model)
    }

    pub fn public_models(&self) -> Vec<lmrelay_ir::ModelInfo> {
        routing::public_models(&self.config, self.created_secs)
    }
}

// === impl Provider ===

impl Provider {
    /// Where to send a request for `model`, as whom.
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
        }
    }

    /// Every key of the provider once, starting where the rotation stands (and moving it on
    /// by one): what one request may try. A provider without keys gives one `None`.
    pub fn keys_from_rotation(&self) -> Vec<Option<&Secret>> {
        let keys = &self.config.keys;
        if keys.is_empty() {
            return vec![None];
        }
        let start = self.next_key.fetch_add(1, Ordering::Relaxed);
        (0..keys.len())
            .map(|i| keys.get((start + i) % keys.len()))
            .collect()
    }

    /// The next API key in rotation, if the provider has keys.
    pub fn next_key(&self) -> Option<&Secret> {
        let keys = &self.config.keys;
        if keys.is_empty() {
            return None;
        }
        let i = self.next_key.fetch_add(1, Ordering::Relaxed) % keys.len();
        keys.get(i)
    }
}
