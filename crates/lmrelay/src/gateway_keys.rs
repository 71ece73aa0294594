//! Gateway keys: who may call lmrelay. Keys from the config file live in the runtime (they
//! are config); keys created through the admin API are live state, kept in the state store
//! as records holding only the key's SHA-256, and cached here for the request path. A key is
//! looked up by the SHA-256 of what the client presented: one hash and one map lookup.

use crate::config::{AuthMode, KeyConfig, KeyMatcher};
use crate::error::GatewayError;
use crate::store::{StateStore, StoreError};
use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

/// A key's digest: the SHA-256 of its text.
pub type Digest32 = [u8; 32];

/// The store prefix of runtime key records.
const PREFIX: &str = "gwkey:";

/// A gateway key created at runtime, as the store keeps it (no secret: its digest).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyRecord {
    pub id: String,
    pub name: String,
    /// Lowercase hex SHA-256 of the key.
    pub sha256: String,
    pub models: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
    #[serde(default)]
    pub regions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
    /// Whether the key may address providers directly (`provider/model`).
    #[serde(default = "yes")]
    pub direct: bool,
    #[serde(default)]
    pub disabled: bool,
    pub created_ms: u64,
}

fn yes() -> bool {
    true
}

/// Runtime gateway keys, cached from the store.
#[derive(Default)]
pub struct GatewayKeys {
    /// Enabled keys by digest.
    by_digest: ArcSwap<HashMap<Digest32, Arc<KeyConfig>>>,
    /// Every record by id (disabled ones too), for the admin API.
    records: ArcSwap<HashMap<String, KeyRecord>>,
}

/// The SHA-256 of a presented key.
pub fn digest(key: &str) -> Digest32 {
    Sha256::digest(key.as_bytes()).into()
}

/// The digests of the config file's keys.
pub fn config_index(keys: &[KeyConfig]) -> HashMap<Digest32, Arc<KeyConfig>> {
    keys.iter()
        .filter_map(|k| {
            let d = match &k.key {
                KeyMatcher::Sha256(hex) => from_hex(hex)?,
                KeyMatcher::Plain(s) => digest(s.expose()),
            };
            Some((d, Arc::new(k.clone())))
        })
        .collect()
}

fn from_hex(hex: &str) -> Option<Digest32> {
    let mut out = [0u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

// === impl KeyRecord ===

impl KeyRecord {
    fn to_config(&self) -> KeyConfig {
        KeyConfig {
            name: self.name.clone(),
            key: KeyMatcher::Sha256(self.sha256.clone()),
            models: self.models.clone(),
            rpm: self.rpm,
            tpm: self.tpm,
            budget_usd: self.budget_usd,
            regions: self.regions.clone(),
            max_concurrent: self.max_concurrent,
            direct: self.direct,
        }
    }
}

// === impl GatewayKeys ===

impl GatewayKeys {
    /// Whether any runtime key exists (enabled or not): then access needs a key.
    pub fn any(&self) -> bool {
        !self.records.load().is_empty()
    }

    /// Finds the caller: config keys first, then runtime keys. `Ok(None)`: access is open.
    pub fn authenticate(
        &self,
        config_keys: &HashMap<Digest32, Arc<KeyConfig>>,
        auth: AuthMode,
        presented: Option<&str>,
    ) -> Result<Option<Arc<KeyConfig>>, GatewayError> {
        if config_keys.is_empty() && !self.any() {
            return Ok(None);
        }
        let found = presented.and_then(|k| {
            let d = digest(k);
            config_keys
                .get(&d)
                .cloned()
                .or_else(|| self.by_digest.load().get(&d).cloned())
        });
        match (found, auth) {
            (Some(k), _) => Ok(Some(k)),
            // A key that matches none is refused even where anonymous access is open: a
            // caller who meant to be identified must not be served (and counted) as nobody.
            (None, _) if presented.is_some() => Err(GatewayError::Unauthorized),
            (None, AuthMode::None) => Ok(None),
            (None, AuthMode::Default) => Err(GatewayError::Unauthorized),
        }
    }

    /// Every runtime key record, sorted by name.
    pub fn records(&self) -> Vec<KeyRecord> {
        let mut v: Vec<KeyRecord> = self.records.load().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub fn record(&self, id: &str) -> Option<KeyRecord> {
        self.records.load().get(id).cloned()
    }

    /// Reads every runtime key from the store (at startup, and to pick up other replicas'
    /// changes).
    pub async fn load(&self, store: &dyn StateStore) -> Result<usize, StoreError> {
        let mut records = HashMap::new();
        for (key, bytes) in store.scan(PREFIX).await? {
            let r: KeyRecord = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                key: key.clone(),
                reason: e.to_string(),
            })?;
            records.insert(r.id.clone(), r);
        }
        let n = records.len();
        self.replace(records);
        Ok(n)
    }

    /// Writes a record to the store, then to the cache.
    pub async fn put(&self, store: &dyn StateStore, record: KeyRecord) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(&record).map_err(|e| StoreError::Corrupt {
            key: record.id.clone(),
            reason: e.to_string(),
        })?;
        store
            .set(&format!("{PREFIX}{}", record.id), bytes.into(), None)
            .await?;
        let mut records = (**self.records.load()).clone();
        records.insert(record.id.clone(), record);
        self.replace(records);
        Ok(())
    }

    /// Deletes a record; whether it existed.
    pub async fn delete(&self, store: &dyn StateStore, id: &str) -> Result<bool, StoreError> {
        let existed = store.delete(&format!("{PREFIX}{id}")).await?;
        let mut records = (**self.records.load()).clone();
        let cached = records.remove(id).is_some();
        self.replace(records);
        Ok(existed || cached)
    }

    fn replace(&self, records: HashMap<String, KeyRecord>) {
        let by_digest = records
            .values()
            .filter(|r| !r.disabled)
            .filter_map(|r| Some((from_hex(&r.sha256)?, Arc::new(r.to_config()))))
            .collect();
        self.by_digest.store(Arc::new(by_digest));
        self.records.store(Arc::new(records));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::hash_key;
    use crate::store::MemoryStore;

    fn record(id: &str, secret: &str, disabled: bool) -> KeyRecord {
        KeyRecord {
            id: id.into(),
            name: format!("name-{id}"),
            sha256: hash_key(secret),
            models: vec!["*".into()],
            rpm: Some(5),
            tpm: None,
            budget_usd: None,
            regions: vec![],
            max_concurrent: None,
            direct: true,
            disabled,
            created_ms: 1,
        }
    }

    #[tokio::test]
    async fn runtime_keys_authenticate_until_disabled_or_deleted_and_survive_a_reload() {
        let store = MemoryStore::default();
        let keys = GatewayKeys::default();
        let none = HashMap::new();
        assert!(keys
            .authenticate(&none, AuthMode::Default, None)
            .expect("open")
            .is_none());
        keys.put(&store, record("a", "secret-a", false))
            .await
            .expect("put");
        let k = keys
            .authenticate(&none, AuthMode::Default, Some("secret-a"))
            .expect("known")
            .expect("a key");
        assert_eq!(k.rpm, Some(5));
        assert!(
            keys.authenticate(&none, AuthMode::Default, None).is_err(),
            "keys now required"
        );
        keys.put(&store, record("a", "secret-a", true))
            .await
            .expect("put");
        assert!(keys
            .authenticate(&none, AuthMode::Default, Some("secret-a"))
            .is_err());
        // Another process (or a restart) reads the same records.
        let other = GatewayKeys::default();
        assert_eq!(other.load(&store).await.expect("load"), 1);
        assert!(other.record("a").expect("kept").disabled);
        assert!(keys.delete(&store, "a").await.expect("delete"));
        assert!(!keys.any());
    }

    #[test]
    fn config_keys_by_digest() {
        let cfg = KeyConfig {
            name: "c".into(),
            key: KeyMatcher::Sha256(hash_key("s")),
            models: vec![],
            rpm: None,
            tpm: None,
            budget_usd: None,
            regions: vec![],
            max_concurrent: None,
            direct: true,
        };
        let index = config_index(&[cfg]);
        assert!(index.contains_key(&digest("s")));
        assert_eq!(from_hex("zz"), None);
    }
}
