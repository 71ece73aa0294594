//! Upstream API keys as live state: each provider's pool of keys (from the config, and
//! added at runtime through the admin API), each key's health, and the order in which one
//! request tries them.
//!
//! The order: keys whose provider headers say they are fine first, then nearly spent ones;
//! cooling (rate limited) and invalid (rejected) keys are left out. Within a group a
//! conversation goes to the same key each time (the provider's prompt cache is per key or
//! organisation), and requests with nothing to stick to rotate. A key appears in logs, errors
//! and admin answers only by its [`key_id`], a short hash.

pub mod shared;
mod state;

pub use state::{KeyState, KeyStatus};

use crate::secret::Secret;
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Where a key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    Config,
    /// Added through the admin API (kept encrypted in the state store).
    Runtime,
}

/// One upstream key and its live state.
#[derive(Debug)]
pub struct UpstreamKey {
    pub id: String,
    pub secret: Secret,
    pub origin: KeyOrigin,
    pub state: KeyState,
}

/// The keys of one provider.
#[derive(Debug)]
pub struct KeyPool {
    provider: String,
    keys: ArcSwap<Vec<Arc<UpstreamKey>>>,
    next: AtomicUsize,
}

/// The keys one request may try, in order.
#[derive(Debug, Default)]
pub struct KeyChoice {
    pub keys: Vec<Arc<UpstreamKey>>,
    /// The provider has no keys at all (Ollama): one attempt without a key.
    pub keyless: bool,
    /// Every key is cooling: when the first one is usable again (Unix ms).
    pub cooling_until: Option<u64>,
    /// Every key was rejected by the provider.
    pub all_invalid: bool,
}

/// Every provider's pool, kept across reloads (keyed by provider name).
#[derive(Debug, Default)]
pub struct UpstreamKeys {
    pools: Mutex<HashMap<String, Arc<KeyPool>>>,
}

/// The short id of a key: `key_` and the first 8 hex digits of its SHA-256.
pub fn key_id(secret: &str) -> String {
    format!("key_{}", crate::secret::short_id(secret))
}

// === impl UpstreamKeys ===

impl UpstreamKeys {
    /// The pool of `provider`, with its config keys set to `config_keys` (a key that stays
    /// keeps its cooling, loses an invalid mark; runtime keys stay).
    pub fn pool(&self, provider: &str, config_keys: &[Secret]) -> Arc<KeyPool> {
        let pool = {
            let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
            pools
                .entry(provider.to_owned())
                .or_insert_with(|| {
                    Arc::new(KeyPool {
                        provider: provider.to_owned(),
                        keys: ArcSwap::from_pointee(Vec::new()),
                        next: AtomicUsize::new(0),
                    })
                })
                .clone()
        };
        pool.set_config_keys(config_keys);
        pool
    }
}

// === impl KeyPool ===

impl KeyPool {
    pub fn provider(&self) -> &str {
        &self.provider
    }

    pub fn keys(&self) -> Arc<Vec<Arc<UpstreamKey>>> {
        self.keys.load_full()
    }

    fn set_config_keys(&self, config_keys: &[Secret]) {
        self.keys.rcu(|current| {
            let mut next: Vec<Arc<UpstreamKey>> = Vec::with_capacity(config_keys.len());
            for s in config_keys {
                let id = key_id(s.expose());
                if next.iter().any(|k| k.id == id) {
                    continue;
                }
                let kept = current
                    .iter()
                    .find(|k| k.id == id && k.origin == KeyOrigin::Config)
                    .cloned();
                // A reload brings a rejected key back (its cooling stands: the provider
                // said when).
                if let Some(k) = &kept {
                    k.state.revalidate();
                }
                next.push(kept.unwrap_or_else(|| new_key(s.clone(), KeyOrigin::Config)));
            }
            let runtime: Vec<Arc<UpstreamKey>> = current
                .iter()
                .filter(|k| k.origin == KeyOrigin::Runtime && !next.iter().any(|n| n.id == k.id))
                .cloned()
                .collect();
            next.extend(runtime);
            next
        });
    }

    /// Adds a key at runtime; returns its id, or `None` when the pool has it already.
    pub fn add(&self, secret: Secret) -> Option<String> {
        let id = key_id(secret.expose());
        let mut added = false;
        self.keys.rcu(|current| {
            let mut next = (**current).clone();
            added = !next.iter().any(|k| k.id == id);
            if added {
                next.push(new_key(secret.clone(), KeyOrigin::Runtime));
            }
            next
        });
        added.then_some(id)
    }

    /// Removes a runtime key by id; config keys stay (they change with the config).
    pub fn remove(&self, id: &str) -> bool {
        let mut removed = false;
        self.keys.rcu(|current| {
            let next: Vec<Arc<UpstreamKey>> = current
                .iter()
                .filter(|k| !(k.id == id && k.origin == KeyOrigin::Runtime))
                .cloned()
                .collect();
            removed = next.len() != current.len();
            next
        });
        removed
    }

    /// Clears cooling, invalid and near-limit marks of every key.
    pub fn clear_marks(&self) {
        for k in self.keys.load().iter() {
            k.state.clear();
        }
    }

    /// The keys one request may try: usable keys from the conversation's key (`affinity`)
    /// or from where the rotation stands, the nearly spent ones after the others.
    pub fn choose(&self, affinity: Option<u64>, now_ms: u64) -> KeyChoice {
        let keys = self.keys.load();
        let n = keys.len();
        if n == 0 {
            return KeyChoice {
                keyless: true,
                ..KeyChoice::default()
            };
        }
        let start = match affinity {
            Some(h) => (h % n as u64) as usize,
            None => self.next.fetch_add(1, Ordering::Relaxed) % n,
        };
        let mut ok = Vec::with_capacity(n);
        let mut near = Vec::new();
        let mut cooling_until: Option<u64> = None;
        let mut invalid = 0;
        for i in 0..n {
            let k = &keys[(start + i) % n];
            match k.state.status(now_ms) {
                KeyStatus::Ok => ok.push(k.clone()),
                KeyStatus::NearLimit => near.push(k.clone()),
                KeyStatus::Cooling(t) => {
                    cooling_until = Some(cooling_until.map_or(t, |c| c.min(t)));
                }
                KeyStatus::Invalid => invalid += 1,
            }
        }
        ok.extend(near);
        KeyChoice {
            all_invalid: ok.is_empty() && invalid == n,
            cooling_until: if ok.is_empty() { cooling_until } else { None },
            keys: ok,
            keyless: false,
        }
    }
}

fn new_key(secret: Secret, origin: KeyOrigin) -> Arc<UpstreamKey> {
    Arc::new(UpstreamKey {
        id: key_id(secret.expose()),
        secret,
        origin,
        state: KeyState::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn pool(keys: &[&str]) -> Arc<KeyPool> {
        let secrets: Vec<Secret> = keys.iter().map(|k| Secret::new((*k).to_owned())).collect();
        UpstreamKeys::default().pool("p", &secrets)
    }

    fn ids(c: &KeyChoice) -> Vec<String> {
        c.keys
            .iter()
            .map(|k| k.secret.expose().to_owned())
            .collect()
    }

    #[test]
    fn ids_are_short_hashes() {
        let id = key_id("sk-secret");
        assert_eq!(id.len(), 12);
        assert!(id.starts_with("key_"));
        assert!(!id.contains("secret"));
        assert_ne!(id, key_id("sk-other"));
    }

    #[test]
    fn rotation_affinity_and_marks() {
        let p = pool(&["a", "b", "c"]);
        assert_eq!(ids(&p.choose(None, 0)), ["a", "b", "c"]);
        assert_eq!(ids(&p.choose(None, 0)), ["b", "c", "a"]);
        assert_eq!(ids(&p.choose(Some(5), 0)), ["c", "a", "b"]);
        assert_eq!(
            ids(&p.choose(Some(5), 0)),
            ["c", "a", "b"],
            "affinity is stable"
        );
        let keys = p.keys();
        keys[2].state.cool(0, Duration::from_secs(10));
        assert_eq!(
            ids(&p.choose(Some(5), 0)),
            ["a", "b"],
            "a cooling key yields"
        );
        keys[0].state.invalidate();
        keys[1].state.cool(0, Duration::from_secs(5));
        let c = p.choose(None, 1_000);
        assert!(c.keys.is_empty());
        assert_eq!(c.cooling_until, Some(5_000), "the earliest end");
        assert!(!c.all_invalid);
        p.clear_marks();
        assert_eq!(p.choose(Some(0), 1_000).keys.len(), 3);
    }

    #[test]
    fn config_keys_keep_their_cooling_and_runtime_keys_stay() {
        let reg = UpstreamKeys::default();
        let a = Secret::new("a".to_owned());
        let p = reg.pool("p", std::slice::from_ref(&a));
        p.keys()[0].state.invalidate();
        let id = p.add(Secret::new("r".to_owned())).expect("added");
        assert!(p.add(Secret::new("r".to_owned())).is_none(), "once");
        let p = reg.pool("p", &[a, Secret::new("b".to_owned())]);
        let keys = p.keys();
        assert_eq!(keys.len(), 3);
        assert_eq!(
            keys[0].state.status(0),
            KeyStatus::Ok,
            "a reload brings it back"
        );
        keys[0].state.cool(0, Duration::from_secs(5));
        let again = reg.pool("p", &[Secret::new("a".to_owned())]);
        assert!(
            matches!(again.keys()[0].state.status(0), KeyStatus::Cooling(_)),
            "cooling stands"
        );
        assert!(p.remove(&id));
        assert!(
            !p.remove(&keys[0].id),
            "config keys are not removed at runtime"
        );
        assert!(reg.pool("empty", &[]).choose(None, 0).keyless);
    }
}
