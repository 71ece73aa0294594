//! Live state: everything that changes while lmrelay serves and is not config — provider
//! health, upstream key pools and their marks, gateway keys created at runtime, and the
//! state store with limit windows, usage and budgets. One `Live` outlives every `Runtime`
//! (a reload builds a new runtime over the same live state), and every runtime holds an
//! `Arc` to it.

use crate::gateway_keys::GatewayKeys;
use crate::health::{HealthStore, MemoryHealth};
use crate::store::{MemoryStore, Sealer, StateStore};
use crate::upstream_keys::UpstreamKeys;
use crate::usage::UsageRecorder;
use std::sync::Arc;

pub struct Live {
    pub health: Arc<dyn HealthStore>,
    pub store: Arc<dyn StateStore>,
    pub upstream_keys: UpstreamKeys,
    pub gateway_keys: GatewayKeys,
    /// Prometheus metrics.
    pub metrics: crate::metrics::Metrics,
    /// Usage totals on their way to the store.
    pub usage: Arc<UsageRecorder>,
    /// Seals secrets kept in the store (`store.encryption_key`); `None` when unset, and
    /// then secrets cannot be added at runtime.
    pub sealer: Option<Sealer>,
}

impl Live {
    /// The embedded default: everything in this process's memory.
    pub fn in_memory(sealer: Option<Sealer>) -> Arc<Live> {
        Arc::new(Live {
            health: Arc::new(MemoryHealth::default()),
            store: Arc::new(MemoryStore::default()),
            upstream_keys: UpstreamKeys::default(),
            gateway_keys: GatewayKeys::default(),
            usage: Arc::new(UsageRecorder::default()),
            metrics: Default::default(),
            sealer,
        })
    }
}
