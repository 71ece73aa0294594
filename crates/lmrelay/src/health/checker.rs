//! Active health checks: every `health.interval`, each provider's cheap endpoint (its model
//! list or equivalent; nothing billed) is asked with `health.timeout`, and the answer marks
//! the provider up or down — with no client traffic at all. A model list answered is kept:
//! the listings show what `models = ["*"]` providers serve (model discovery). The first round runs at once, so
//! `/readyz` turns ready as soon as a provider answers.

use crate::runtime::{Provider, Runtime};
use crate::upstream;
use arc_swap::ArcSwap;
use std::sync::Arc;
use std::time::Duration;

/// Runs checks for whatever runtime is current, until the task is aborted.
pub fn spawn(runtime: Arc<ArcSwap<Runtime>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let rt = runtime.load_full();
            let interval = rt.config.health.interval;
            if interval.is_zero() {
                // Checks are off in this config; a reload may turn them on.
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            check_all(&rt).await;
            drop(rt);
            tokio::time::sleep(interval).await;
        }
    })
}

/// One round of checks over every provider, concurrently.
pub async fn check_all(rt: &Runtime) {
    let checks = rt.providers.iter().map(|p| check(rt, p));
    futures_util::future::join_all(checks).await;
}

async fn check(rt: &Runtime, provider: &Provider) {
    let headers = http::HeaderMap::new();
    let Ok(key) = provider.next_key() else {
        // Every key is cooling or rejected: the keys' state says it, not the provider's.
        return;
    };
    // A type whose check needs a model (Bedrock counts tokens) gets the first one named.
    let model = provider
        .config
        .models
        .iter()
        .find(|m| !crate::glob::is_glob(m))
        .map_or("", String::as_str);
    let target = provider.target(
        model,
        key.as_ref().map(|k| &k.secret),
        provider.adapter.dialect(),
        &headers,
    );
    let Some(built) = provider.adapter.health_request(&target) else {
        return;
    };
    let timeout = rt.config.health.timeout;
    let result = match built {
        Err(e) => Err(e.message),
        Ok(req) => match upstream::send(&provider.client, req, timeout).await {
            Err(e) => Err(e.to_string()),
            Ok(resp) if resp.status().is_success() => {
                // The answer is the model list: what `models = ["*"]` providers serve.
                if let Ok(body) = upstream::read_body(resp, timeout).await {
                    if let Some(models) = provider.adapter.models_from(&body) {
                        provider.health.set_discovered(models);
                    }
                }
                Ok(())
            }
            Ok(resp) => Err(format!("the check answered {}", resp.status().as_u16())),
        },
    };
    match result {
        Ok(()) => provider.health.record_check(true, ""),
        Err(reason) => provider.health.record_check(false, &reason),
    }
}
