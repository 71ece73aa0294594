//! lmrelay, the gateway: configuration, the HTTP edge, the request pipeline and the upstream
//! client. All I/O and policy live here; wire formats live in `lmrelay-protocol` and
//! `lmrelay-providers`.

pub mod activity;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod body;
pub mod bounds;
pub mod cache;
pub mod concurrency;
pub mod config;
pub mod dashboard;
pub mod edge;
pub mod error;
pub mod gateway_keys;
pub use lmrelay_providers::glob;
pub mod handlers;
pub mod health;
pub mod http_clients;
pub mod images;
pub mod kept_responses;
pub mod limits;
pub mod live;
pub mod metrics;
pub mod outcome;
pub mod protocol;
pub mod relay;
pub mod reload;
pub mod routing;
pub mod runtime;
pub mod secret;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod upstream;
pub mod upstream_keys;
pub mod usage;

pub use config::Config;
pub use runtime::Runtime;
pub use server::{serve, Gateway};

/// Milliseconds since the Unix epoch, the one clock read codecs get handed.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
