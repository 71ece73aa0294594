//! Gateway keys: create (the secret is shown once), list, show, disable, enable, delete.
//! Keys from the config file are listed (`"source": "config"`) but change only with the
//! file.

use super::{error, parse, runtime, store_error};
use crate::auth::hash_key;
use crate::gateway_keys::KeyRecord;
use crate::server::AppState;
use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::OsRng;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

/// `POST /admin/keys`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    name: String,
    models: Vec<String>,
    rpm: Option<u64>,
    tpm: Option<u64>,
    budget_usd: Option<f64>,
    #[serde(default)]
    regions: Vec<String>,
    max_concurrent: Option<u32>,
    direct: Option<bool>,
}

/// A key as admin answers show it: never the secret.
fn view(r: &KeyRecord) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "source": "runtime",
        "models": r.models,
        "rpm": r.rpm,
        "tpm": r.tpm,
        "budget_usd": r.budget_usd,
        "regions": r.regions,
        "max_concurrent": r.max_concurrent,
        "direct": r.direct,
        "disabled": r.disabled,
        "created_at": lmrelay_protocol::time::rfc3339_from_unix_ms(r.created_ms),
    })
}

/// A config file's key as admin answers show it.
fn config_view(k: &crate::config::KeyConfig) -> Value {
    json!({
        "id": format!("cfg:{}", k.name),
        "name": k.name,
        "source": "config",
        "models": k.models,
        "rpm": k.rpm,
        "tpm": k.tpm,
        "budget_usd": k.budget_usd,
        "regions": k.regions,
        "max_concurrent": k.max_concurrent,
        "direct": k.direct,
        "disabled": false,
    })
}

pub async fn list(State(st): State<AppState>) -> Response {
    let rt = runtime(&st);
    let mut keys: Vec<Value> = rt.config.keys.iter().map(config_view).collect();
    keys.extend(rt.live.gateway_keys.records().iter().map(view));
    axum::Json(json!({ "keys": keys })).into_response()
}

pub async fn create(State(st): State<AppState>, body: Bytes) -> Response {
    let new: NewKey = match parse(&body) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let rt = runtime(&st);
    let name = new.name.trim();
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`name` must be 1 to 128 printable characters.",
            Some("name"),
        );
    }
    let taken = rt.config.keys.iter().any(|k| k.name == name)
        || rt
            .live
            .gateway_keys
            .records()
            .iter()
            .any(|r| r.name == name);
    if taken {
        return error(
            StatusCode::CONFLICT,
            &format!("A gateway key named `{name}` exists already; names identify keys in limits and usage."),
            Some("name"),
        );
    }
    for (field, v) in [
        ("rpm", new.rpm),
        ("tpm", new.tpm),
        ("max_concurrent", new.max_concurrent.map(u64::from)),
    ] {
        if v == Some(0) {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("`{field}` of 0 would refuse every request; leave it out for no limit."),
                Some(field),
            );
        }
    }
    if new.budget_usd.is_some_and(|b| !b.is_finite() || b < 0.0) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`budget_usd` must be a non-negative number.",
            Some("budget_usd"),
        );
    }
    let secret = new_secret();
    let record = KeyRecord {
        id: format!("gk_{}", random_hex(6)),
        name: name.to_owned(),
        sha256: hash_key(&secret),
        models: new.models,
        rpm: new.rpm,
        tpm: new.tpm,
        budget_usd: new.budget_usd,
        regions: new.regions,
        max_concurrent: new.max_concurrent,
        direct: new.direct.unwrap_or(true),
        disabled: false,
        created_ms: crate::now_ms(),
    };
    if let Err(e) = rt
        .live
        .gateway_keys
        .put(&*rt.live.store, record.clone())
        .await
    {
        return store_error(e);
    }
    tracing::info!(key = %record.name, id = %record.id, "gateway key created");
    let mut body = view(&record);
    body["key"] = Value::from(secret);
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

pub async fn show(State(st): State<AppState>, Path(id): Path<String>) -> Response {
    if let Some(name) = id.strip_prefix("cfg:") {
        let rt = runtime(&st);
        if let Some(k) = rt.config.keys.iter().find(|k| k.name == name) {
            return axum::Json(config_view(k)).into_response();
        }
    }
    match find(&st, &id) {
        Ok(r) => axum::Json(view(&r)).into_response(),
        Err(resp) => resp,
    }
}

pub async fn disable(State(st): State<AppState>, Path(id): Path<String>) -> Response {
    set_disabled(st, id, true).await
}

pub async fn enable(State(st): State<AppState>, Path(id): Path<String>) -> Response {
    set_disabled(st, id, false).await
}

async fn set_disabled(st: AppState, id: String, disabled: bool) -> Response {
    let mut r = match find(&st, &id) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    r.disabled = disabled;
    let rt = runtime(&st);
    if let Err(e) = rt.live.gateway_keys.put(&*rt.live.store, r.clone()).await {
        return store_error(e);
    }
    tracing::info!(key = %r.name, id = %r.id, disabled, "gateway key changed");
    axum::Json(view(&r)).into_response()
}

pub async fn delete(State(st): State<AppState>, Path(id): Path<String>) -> Response {
    let r = match find(&st, &id) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let rt = runtime(&st);
    match rt.live.gateway_keys.delete(&*rt.live.store, &r.id).await {
        Ok(_) => {
            tracing::info!(key = %r.name, id = %r.id, "gateway key deleted");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => store_error(e),
    }
}

/// A runtime key by id; config keys are read-only (409), unknown ids 404.
fn find(st: &AppState, id: &str) -> Result<KeyRecord, Response> {
    if let Some(name) = id.strip_prefix("cfg:") {
        let rt = runtime(st);
        if rt.config.keys.iter().any(|k| k.name == name) {
            return Err(error(
                StatusCode::CONFLICT,
                "This key is defined in the config file; change it there.",
                Some("id"),
            ));
        }
    }
    runtime(st).live.gateway_keys.record(id).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            &format!("No gateway key has the id `{id}`."),
            Some("id"),
        )
    })
}

/// A new gateway key: `lmr_` and 40 hex digits from the operating system's CSPRNG.
fn new_secret() -> String {
    format!("lmr_{}", random_hex(20))
}

/// `n` random bytes from the operating system's CSPRNG, in hex. (Key ids are random too,
/// so an id says nothing about its key.)
fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
