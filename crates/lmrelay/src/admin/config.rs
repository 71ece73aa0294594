//! `GET /admin/config`: the config that serves now, as JSON, with every secret left out —
//! upstream keys appear by short id, gateway keys by name, the Redis URL without its
//! password, and the admin token and encryption key only as "set".

use super::runtime;
use crate::config::{Config, FailMode, StoreBackend};
use crate::server::AppState;
use crate::upstream_keys::key_id;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

pub async fn show(State(st): State<AppState>) -> Response {
    axum::Json(redacted(&runtime(&st).config)).into_response()
}

/// The config as JSON without secrets.
pub fn redacted(c: &Config) -> Value {
    let ms = |d: std::time::Duration| d.as_millis() as u64;
    let providers: Vec<Value> = c
        .providers
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "type": p.type_name,
                "base_url": p.base_url,
                "keys": p.keys.iter().map(|k| key_id(k.expose())).collect::<Vec<_>>(),
                "models": p.models,
                "region": p.region,
                "weight": p.weight,
                "max_tokens": p.max_tokens,
                "responses_models": p.responses_models,
                "timeouts_ms": {
                    "connect": ms(p.timeouts.connect),
                    "header": ms(p.timeouts.header),
                    "first_token": ms(p.timeouts.first_token),
                    "idle": ms(p.timeouts.idle),
                    "total": ms(p.timeouts.total),
                },
                "prices": p.prices.iter().map(|(m, pr)| (m.clone(), json!({"input": pr.input, "output": pr.output}))).collect::<serde_json::Map<_, _>>(),
            })
        })
        .collect();
    let routes: Vec<Value> = c
        .routes
        .iter()
        .map(|r| {
            json!({
                "model": r.model,
                "targets": r.targets.iter().map(|t| json!({"target": format!("{}/{}", t.provider, t.model), "weight": t.weight})).collect::<Vec<_>>(),
                "strategy": r.strategy.as_str(),
                "cache": r.cache,
                "cache_shared": r.cache_shared,
                "max_attempts": r.max_attempts,
            })
        })
        .collect();
    let keys: Vec<Value> = c
        .keys
        .iter()
        .map(|k| {
            json!({
                "name": k.name,
                "models": k.models,
                "rpm": k.rpm,
                "tpm": k.tpm,
                "budget_usd": k.budget_usd,
                "regions": k.regions,
                "max_concurrent": k.max_concurrent,
                "direct": k.direct,
            })
        })
        .collect();
    let store = match &c.store {
        StoreBackend::Memory => json!({"backend": "memory"}),
        StoreBackend::Redis {
            url,
            prefix,
            timeout,
        } => json!({
            "backend": "redis",
            "url": crate::store::redact_url(url.expose()),
            "prefix": prefix,
            "timeout_ms": ms(*timeout),
        }),
    };
    json!({
        "source": c.source,
        "listen": c.listen.to_string(),
        "max_body": c.max_body,
        "auth": match c.auth { crate::config::AuthMode::None => "none", crate::config::AuthMode::Default => "default" },
        "admin_token": c.admin_token.as_ref().map(|_| "set"),
        "store": store,
        "encryption_key": c.encryption_key.as_ref().map(|_| "set"),
        "limits_on_failure": match c.limits_on_failure { FailMode::Open => "open", FailMode::Closed => "closed" },
        "anonymous_rpm": c.anonymous_rpm,
        "health": {
            "interval_ms": ms(c.health.interval),
            "timeout_ms": ms(c.health.timeout),
            "failure_threshold": c.health.failure_threshold,
            "cooldown_ms": ms(c.health.cooldown),
            "max_cooldown_ms": ms(c.health.max_cooldown),
            "exploration": c.health.exploration,
        },
        "cache": {"enabled": c.cache.enabled, "ttl_ms": ms(c.cache.ttl), "max_entries": c.cache.max_entries},
        "responses": {"store": c.responses.store, "ttl_ms": ms(c.responses.ttl)},
        "audit": c.audit.as_ref().map(|a| json!({"path": a.path, "include_content": a.include_content, "max_content": a.max_content})),
        "telemetry": c.telemetry.as_ref().map(|t| json!({
            "endpoint": t.endpoint.as_deref().map(crate::store::redact_url),
            "service_name": t.service_name,
            "sample_ratio": t.sample_ratio,
            "headers": t.headers.iter().map(|(k, _)| (k.clone(), json!("[redacted]"))).collect::<serde_json::Map<_, _>>(),
        })),
        "routing_script": c.script.as_ref().map(|s| s.0.path().to_owned()),
        "rules": c.rules.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
        "providers": providers,
        "routes": routes,
        "keys": keys,
    })
}
