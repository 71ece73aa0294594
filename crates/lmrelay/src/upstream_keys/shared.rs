//! Key marks shared between replicas: with a shared state store (Redis), a key cooled or
//! rejected through one replica is skipped by all. A mark is written to the store when it is
//! made (in the background, after the answer) and every replica reads the marks every
//! [`SYNC_EVERY`] into its own pools — the request path reads only local atomics. An admin
//! rotation deletes a provider's marks.

use crate::runtime::Runtime;
use crate::store::StateStore;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// How often replicas read each other's key marks.
pub const SYNC_EVERY: Duration = Duration::from_millis(500);
/// How long a rejected key's mark is kept (a rotation removes it sooner).
const INVALID_FOR: Duration = Duration::from_secs(3600);
const PREFIX: &str = "keymark:";

/// A key's mark as the store keeps it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Mark {
    /// Cooling until this time (Unix ms); 0 when not cooling.
    pub cooling_until_ms: u64,
    pub invalid: bool,
}

fn record_key(provider: &str, key_id: &str) -> String {
    format!("{PREFIX}{provider}:{key_id}")
}

/// Writes a key's mark for the other replicas, in the background.
pub fn publish(store: Arc<dyn StateStore>, provider: &str, key_id: &str, mark: Mark) {
    let now = crate::now_ms();
    let ttl = if mark.invalid {
        INVALID_FOR
    } else {
        Duration::from_millis(mark.cooling_until_ms.saturating_sub(now).max(1))
    };
    let Ok(bytes) = serde_json::to_vec(&mark) else {
        return;
    };
    let key = record_key(provider, key_id);
    tokio::spawn(async move {
        if let Err(e) = store.set(&key, bytes.into(), Some(ttl)).await {
            tracing::debug!(error = %e, "key mark not shared: the state store failed");
        }
    });
}

/// Reads every replica's marks into this runtime's pools.
pub async fn apply(rt: &Runtime) {
    let Ok(marks) = rt.live.store.scan(PREFIX).await else {
        return;
    };
    let now = crate::now_ms();
    for (name, bytes) in marks {
        let Some((provider, id)) = name.strip_prefix(PREFIX).and_then(|r| r.rsplit_once(':'))
        else {
            continue;
        };
        let Ok(mark) = serde_json::from_slice::<Mark>(&bytes) else {
            continue;
        };
        let Some(p) = rt.providers.iter().find(|p| p.config.name == provider) else {
            continue;
        };
        for k in p.keys.keys().iter().filter(|k| k.id == id) {
            if mark.cooling_until_ms > now {
                k.state.cool_until(mark.cooling_until_ms);
            }
            if mark.invalid {
                k.state.invalidate();
            }
        }
    }
}

/// Deletes a provider's marks (an admin rotation).
pub async fn clear(store: &dyn StateStore, provider: &str) {
    if let Ok(marks) = store.scan(&format!("{PREFIX}{provider}:")).await {
        for (k, _) in marks {
            let _ = store.delete(&k).await;
        }
    }
}
