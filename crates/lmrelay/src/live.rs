//! Live state: everything that changes while lmrelay serves and is not config — provider
//! health, upstream key pools and their marks, gateway keys created at runtime, and the
//! state store with limit windows, usage and budgets. One `Live` outlives every `Runtime`
//! (a reload builds a new runtime over the same live state), and every runtime holds an
//! `Arc` to it.

use crate::audit::AuditLog;
use crate::config::{Config, StoreBackend};
use crate::gateway_keys::GatewayKeys;
use crate::health::{HealthStore, MemoryHealth};
use crate::store::{MemoryStore, RedisStore, Sealer, StateStore};
use crate::upstream_keys::UpstreamKeys;
use crate::usage::UsageRecorder;
use std::sync::Arc;

pub struct Live {
    pub health: Arc<dyn HealthStore>,
    pub store: Arc<dyn StateStore>,
    pub upstream_keys: UpstreamKeys,
    pub gateway_keys: GatewayKeys,
    /// The audit log, when `[audit]` is configured.
    pub audit: Option<crate::audit::AuditLog>,
    /// Prometheus metrics.
    pub metrics: crate::metrics::Metrics,
    /// Usage totals on their way to the store.
    pub usage: Arc<UsageRecorder>,
    /// Traces over OTLP, when configured.
    pub telemetry: Option<crate::telemetry::Telemetry>,
    /// Gateway keys' requests in flight (`max_concurrent`).
    pub concurrency: crate::concurrency::KeyConcurrency,
    /// Recent activity for the dashboard: per-second series and the latest exchanges.
    pub activity: crate::activity::Activity,
    /// Set to `true` when the gateway shuts down: long-lived answers (the dashboard's event
    /// stream) end then instead of holding the drain.
    pub closing: tokio::sync::watch::Sender<bool>,
    /// The HTTP clients to upstreams, kept across reloads with their connection pools.
    pub http_clients: crate::http_clients::HttpClients,
    /// Seals secrets kept in the store (`store.encryption_key`); `None` when unset, and
    /// then secrets cannot be added at runtime.
    pub sealer: Option<Sealer>,
}

/// Why live state could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("store.encryption_key: {0}")]
    Sealer(crate::store::SealError),
    #[error("cannot reach the state store: {0}")]
    Store(crate::store::StoreError),
    #[error(transparent)]
    Telemetry(#[from] crate::telemetry::TelemetryError),
    #[error("cannot open the audit log `{path}`: {source}")]
    Audit {
        path: String,
        source: std::io::Error,
    },
}

impl Live {
    /// Live state for a config: the store it names (memory, or Redis shared by replicas),
    /// the sealer of `store.encryption_key`, the audit log; runtime gateway keys read from
    /// the store.
    pub async fn open(config: &Config) -> Result<Arc<Live>, LiveError> {
        let sealer = match &config.encryption_key {
            Some(k) => Some(Sealer::from_base64(k.expose()).map_err(LiveError::Sealer)?),
            None => None,
        };
        let store: Arc<dyn StateStore> = match &config.store {
            StoreBackend::Memory => Arc::new(MemoryStore::default()),
            StoreBackend::Redis {
                url,
                prefix,
                timeout,
            } => Arc::new(
                RedisStore::connect(url.expose(), prefix, *timeout)
                    .await
                    .map_err(LiveError::Store)?,
            ),
        };
        let audit = match &config.audit {
            Some(a) => Some(AuditLog::open(a).map_err(|source| LiveError::Audit {
                path: a.path.clone(),
                source,
            })?),
            None => None,
        };
        let telemetry = match &config.telemetry {
            Some(t) => Some(crate::telemetry::Telemetry::start(t)?),
            None => None,
        };
        let live = Live {
            telemetry,
            concurrency: Default::default(),
            health: Arc::new(MemoryHealth::default()),
            store,
            upstream_keys: UpstreamKeys::default(),
            gateway_keys: GatewayKeys::default(),
            usage: Arc::new(UsageRecorder::default()),
            metrics: Default::default(),
            activity: Default::default(),
            closing: tokio::sync::watch::Sender::new(false),
            audit,
            sealer,
            http_clients: Default::default(),
        };
        live.gateway_keys
            .load(&*live.store)
            .await
            .map_err(LiveError::Store)?;
        Ok(Arc::new(live))
    }

    /// The embedded default: everything in this process's memory.
    pub fn in_memory(sealer: Option<Sealer>) -> Arc<Live> {
        Arc::new(Live {
            audit: None,
            telemetry: None,
            concurrency: Default::default(),
            health: Arc::new(MemoryHealth::default()),
            store: Arc::new(MemoryStore::default()),
            upstream_keys: UpstreamKeys::default(),
            gateway_keys: GatewayKeys::default(),
            usage: Arc::new(UsageRecorder::default()),
            metrics: Default::default(),
            activity: Default::default(),
            closing: tokio::sync::watch::Sender::new(false),
            sealer,
            http_clients: Default::default(),
        })
    }
}
