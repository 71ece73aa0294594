//! Per-gateway-key concurrency (`max_concurrent`): the chat requests a key has in flight,
//! counted in this process (each replica enforces the limit on its own). A slot is held
//! until the answer's body is done, so a stream counts until it ends.

use crate::config::KeyConfig;
use crate::error::GatewayError;
use dashmap::DashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// In-flight counts by key name (they carry over a reload).
#[derive(Default)]
pub struct KeyConcurrency {
    in_flight: DashMap<String, Arc<AtomicU32>>,
}

/// One request's place in its key's count, given back when dropped.
pub struct Slot(Arc<AtomicU32>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

// === impl KeyConcurrency ===

impl KeyConcurrency {
    /// A slot for a request of `key`: `None` when the key has no limit, 429 when it is full.
    pub fn acquire(&self, key: &KeyConfig) -> Result<Option<Slot>, GatewayError> {
        let Some(max) = key.max_concurrent else {
            return Ok(None);
        };
        let counter = match self.in_flight.get(&key.name) {
            Some(c) => c.clone(),
            None => self.in_flight.entry(key.name.clone()).or_default().clone(),
        };
        if counter.fetch_add(1, Ordering::AcqRel) >= max {
            counter.fetch_sub(1, Ordering::AcqRel);
            return Err(GatewayError::RateLimited {
                key: key.name.clone(),
                limit: "max_concurrent",
                message: format!(
                    "The key `{}` already has {max} requests in flight (max_concurrent); \
                     retry when one finishes.",
                    key.name
                ),
                retry_after: Duration::from_secs(1),
            });
        }
        Ok(Some(Slot(counter)))
    }

    /// Requests in flight for `name` now.
    pub fn in_flight(&self, name: &str) -> u32 {
        self.in_flight
            .get(name)
            .map_or(0, |c| c.load(Ordering::Acquire))
    }
}
