//! Breaker state merged between replicas: with a shared state store, each replica writes
//! its open breakers (until when) every [`crate::upstream_keys::shared::SYNC_EVERY`] and
//! opens its own closed breaker for a provider another replica found failing, until the same
//! time. After the cooldown each replica probes for itself; the request path reads only local
//! atomics. Passive averages and active checks stay per replica.

use crate::runtime::Runtime;

const PREFIX: &str = "breaker:";

/// Writes this replica's open breakers and adopts the others'.
pub async fn sync(rt: &Runtime) {
    let store = &rt.live.store;
    let now = crate::now_ms();
    for p in &rt.providers {
        if let Some(until) = p.health.breaker.open_until_ms().filter(|u| *u > now) {
            let ttl = std::time::Duration::from_millis(until - now);
            let _ = store
                .set(
                    &format!("{PREFIX}{}", p.config.name),
                    until.to_string().into_bytes().into(),
                    Some(ttl),
                )
                .await;
        }
    }
    let Ok(open) = store.scan(PREFIX).await else {
        return;
    };
    for (key, value) in open {
        let Some(name) = key.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(until) = std::str::from_utf8(&value)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        else {
            continue;
        };
        if until <= now {
            continue;
        }
        if let Some(p) = rt.providers.iter().find(|p| p.config.name == name) {
            p.health.breaker.adopt_open(until, name);
        }
    }
}
