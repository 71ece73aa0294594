//! Providers and their upstream keys: health and key states, rotation (clears cooling and
//! invalid marks and re-reads the keys), and keys added or removed at runtime — kept in the
//! state store sealed with `store.encryption_key` (AES-256-GCM), never in plain text.

use super::{error, parse, runtime, store_error};
use crate::runtime::{Provider, Runtime};
use crate::secret::Secret;
use crate::server::AppState;
use crate::store::StoreError;
use crate::upstream_keys::{key_id, KeyOrigin};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

/// The store prefix of a provider's runtime keys.
fn prefix(provider: &str) -> String {
    format!("upkey:{provider}:")
}

/// The associated data a provider's keys are sealed with: a sealed key opens only for the
/// provider it was added to.
fn context(provider: &str) -> Vec<u8> {
    format!("lmrelay upstream key for {provider}").into_bytes()
}

/// Reads the runtime keys of every provider from the store into their pools (at startup).
pub async fn load_upstream_keys(rt: &Runtime) -> Result<(), StoreError> {
    for p in &rt.providers {
        load_provider_keys(rt, p).await?;
    }
    Ok(())
}

async fn load_provider_keys(rt: &Runtime, p: &Provider) -> Result<usize, StoreError> {
    let stored = rt.live.store.scan(&prefix(&p.config.name)).await?;
    if stored.is_empty() {
        return Ok(0);
    }
    let Some(sealer) = &rt.live.sealer else {
        tracing::warn!(
            provider = %p.config.name,
            "upstream keys in the store are not used: store.encryption_key is not set"
        );
        return Ok(0);
    };
    let mut n = 0;
    for (key, sealed) in stored {
        match sealer.open(&sealed, &context(&p.config.name)) {
            Ok(plain) => match String::from_utf8(plain) {
                Ok(s) => {
                    p.keys.add(Secret::new(s));
                    n += 1;
                }
                Err(_) => tracing::warn!(record = %key, "an upstream key in the store is not text"),
            },
            Err(e) => {
                tracing::warn!(record = %key, error = %e, "an upstream key in the store cannot be opened")
            }
        }
    }
    Ok(n)
}

fn provider<'a>(rt: &'a Runtime, name: &str) -> Result<&'a Provider, Response> {
    rt.providers
        .iter()
        .find(|p| p.config.name == name)
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                &format!("No provider is named `{name}`."),
                Some("provider"),
            )
        })
}

/// A provider's keys and their states.
fn key_views(p: &Provider, now_ms: u64) -> Vec<Value> {
    p.keys
        .keys()
        .iter()
        .map(|k| {
            let status = k.state.status(now_ms);
            let until = match status {
                crate::upstream_keys::KeyStatus::Cooling(t) => {
                    Value::from(lmrelay_protocol::time::rfc3339_from_unix_ms(t))
                }
                _ => Value::Null,
            };
            json!({
                "id": k.id,
                "state": status.label(),
                "until": until,
                "source": match k.origin { KeyOrigin::Config => "config", KeyOrigin::Runtime => "runtime" },
            })
        })
        .collect()
}

/// `GET /admin/providers`.
pub async fn list(State(st): State<AppState>) -> Response {
    let rt = runtime(&st);
    axum::Json(json!({ "providers": views(&rt, crate::now_ms()) })).into_response()
}

/// Every provider's health, breaker, averages and key states (no secret: keys by short id).
pub(crate) fn views(rt: &Runtime, now: u64) -> Vec<Value> {
    rt.providers
        .iter()
        .map(|p| {
            let h = &p.health;
            json!({
                "name": p.config.name,
                "type": p.config.type_name,
                "region": p.config.region,
                "healthy": h.healthy(&rt.config.health),
                "breaker": h.breaker.state(now).as_str(),
                "latency_ms": h.stats.latency_ms(false),
                "ttft_ms": h.stats.ttft.get(),
                "successes": h.stats.successes(),
                "failures": h.stats.failures(),
                "keys": key_views(p, now),
            })
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rotate {
    provider: String,
}

/// `POST /admin/keys/rotate {"provider": …}`.
pub async fn rotate(State(st): State<AppState>, body: Bytes) -> Response {
    let r: Rotate = match parse(&body) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let rt = runtime(&st);
    let p = match provider(&rt, &r.provider) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    p.keys.clear_marks();
    crate::upstream_keys::shared::clear(&*rt.live.store, &r.provider).await;
    if let Err(e) = load_provider_keys(&rt, p).await {
        return store_error(e);
    }
    tracing::info!(provider = %r.provider, "upstream keys rotated: marks cleared, keys re-read");
    axum::Json(json!({"provider": r.provider, "keys": key_views(p, crate::now_ms())}))
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUpstreamKey {
    key: String,
}

/// `POST /admin/providers/{name}/keys {"key": …}`.
pub async fn add_key(
    State(st): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let new: NewUpstreamKey = match parse(&body) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let rt = runtime(&st);
    let p = match provider(&rt, &name) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(sealer) = &rt.live.sealer else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Upstream keys are kept in the state store encrypted: set store.encryption_key (32 bytes, base64) first.",
            Some("store.encryption_key"),
        );
    };
    let secret = new.key.trim();
    if secret.is_empty() || secret.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`key` must be a non-empty key without spaces.",
            Some("key"),
        );
    }
    let id = key_id(secret);
    if p.keys.keys().iter().any(|k| k.id == id) {
        return error(
            StatusCode::CONFLICT,
            "The provider has this key already.",
            Some("key"),
        );
    }
    let sealed = sealer.seal(secret.as_bytes(), &context(&name));
    if let Err(e) = rt
        .live
        .store
        .set(&format!("{}{id}", prefix(&name)), sealed.into(), None)
        .await
    {
        return store_error(e);
    }
    p.keys.add(Secret::new(secret.to_owned()));
    tracing::info!(provider = %name, key = %id, "upstream key added");
    (
        StatusCode::CREATED,
        axum::Json(json!({"provider": name, "id": id})),
    )
        .into_response()
}

/// `DELETE /admin/providers/{name}/keys/{id}`.
pub async fn remove_key(
    State(st): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> Response {
    let rt = runtime(&st);
    let p = match provider(&rt, &name) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(k) = p.keys.keys().iter().find(|k| k.id == id).cloned() else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("Provider `{name}` has no key `{id}`."),
            Some("id"),
        );
    };
    if k.origin == KeyOrigin::Config {
        return error(
            StatusCode::CONFLICT,
            "This key is defined in the config file; change it there.",
            Some("id"),
        );
    }
    if let Err(e) = rt
        .live
        .store
        .delete(&format!("{}{id}", prefix(&name)))
        .await
    {
        return store_error(e);
    }
    p.keys.remove(&id);
    tracing::info!(provider = %name, key = %id, "upstream key removed");
    StatusCode::NO_CONTENT.into_response()
}
