//! The state store: everything that is live state rather than config — rate-limit windows,
//! usage counters, budgets, gateway keys created at runtime, upstream keys added at runtime
//! (sealed, see [`sealed`]), later the response cache. Like health it lives outside the
//! immutable `Runtime`, so a reload keeps it.
//!
//! [`StateStore`] is the one interface. It holds two kinds of values:
//! - **counters**: signed 64-bit integers changed by [`StateStore::counters`], a batch of
//!   increments applied in one round trip (the request path's only call);
//! - **records**: opaque bytes, read and written whole, with compare-and-set for updates
//!   that must not lose a concurrent writer's change.
//!
//! A key is used as a counter or as a record, never both: the in-memory store keeps them in
//! separate maps, a shared store (Redis) in one keyspace, so the two must not share a key.
//! Both kinds may expire; an expired value is absent for every operation.
//!
//! [`MemoryStore`] is the embedded default; [`conformance::run`] checks the whole contract
//! and is what every other implementation runs unchanged.

#[doc(hidden)]
pub mod conformance;
mod memory;
mod redis;
pub mod sealed;

pub use memory::MemoryStore;
pub use redis::{redact_url, RedisStore};
pub use sealed::{SealError, Sealer};

use bytes::Bytes;
use std::time::Duration;

/// Where live state lives. Every method is one round trip to the backend.
#[async_trait::async_trait]
pub trait StateStore: Send + Sync {
    /// Applies counter operations in order, atomically each, in one round trip: adds `add`
    /// to the integer counter at `key` (a missing or expired counter starts at 0; `ttl` is
    /// set when the counter is created and left alone after) and returns the new values.
    /// `add = 0` reads a counter without creating it.
    async fn counters(&self, ops: &[CounterOp]) -> Result<Vec<i64>, StoreError>;
    /// Every live counter whose key starts with `prefix` (for reports; not on the request path).
    async fn scan_counters(&self, prefix: &str) -> Result<Vec<(String, i64)>, StoreError>;
    /// A record.
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError>;
    /// Writes a record (`ttl: None` = kept until deleted).
    async fn set(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<(), StoreError>;
    /// Replaces the record at `key` only if it currently equals `expected` (`None`: only if
    /// absent); `new: None` deletes it. Returns whether it was replaced.
    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<Bytes>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError>;
    /// Deletes a record; whether it existed.
    async fn delete(&self, key: &str) -> Result<bool, StoreError>;
    /// Every live record whose key starts with `prefix`, sorted by key.
    async fn scan(&self, prefix: &str) -> Result<Vec<(String, Bytes)>, StoreError>;
}

/// One step of [`StateStore::counters`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterOp {
    pub key: String,
    pub add: i64,
    pub ttl: Option<Duration>,
}

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the state store is unavailable: {0}")]
    Unavailable(String),
    #[error("the state store timed out")]
    Timeout,
    #[error("corrupt value at `{key}`: {reason}")]
    Corrupt { key: String, reason: String },
}

// === impl CounterOp ===

impl CounterOp {
    /// Adds `add` to `key`; `ttl` applies if this creates the counter.
    pub fn add(key: impl Into<String>, add: i64, ttl: Option<Duration>) -> Self {
        CounterOp {
            key: key.into(),
            add,
            ttl,
        }
    }

    /// Reads `key` without creating it.
    pub fn read(key: impl Into<String>) -> Self {
        CounterOp {
            key: key.into(),
            add: 0,
            ttl: None,
        }
    }
}
