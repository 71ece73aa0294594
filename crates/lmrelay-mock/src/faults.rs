//! Fault knobs shared between the test process, the control endpoint and the
//! handlers: scripted failures, latency, stalls and broken streams.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Fail the next `count` model requests with `status` and the provider's real
/// error body for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailNext {
    /// HTTP status, e.g. 429, 500, 503, 529.
    pub status: u16,
    /// How many requests fail; decremented per failure, cleared at 0.
    #[serde(default = "one")]
    pub count: u32,
    /// Seconds sent as `retry-after` (header omitted when `None`).
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Overrides the provider error type, e.g. OpenAI `insufficient_quota`
    /// or Anthropic `overloaded_error`.
    #[serde(default)]
    pub error_type: Option<String>,
}

fn one() -> u32 {
    1
}

/// Every fault knob; `Default` means "behave normally".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSettings {
    /// Scripted error responses for the next model requests.
    pub fail_next: Option<FailNext>,
    /// Added before every model response (streamed or not).
    pub latency_ms: u64,
    /// Added before the response head of streamed responses (time to first byte).
    pub stall_ms: u64,
    /// Pause between streamed events (0 = just yield so each event is flushed alone).
    pub event_delay_ms: u64,
    /// Abort the connection after this many streamed events.
    pub drop_after_events: Option<usize>,
    /// Send the provider's in-stream error after this many streamed events, then end.
    pub stream_error_after: Option<usize>,
    /// Requests each API key may make (OpenAI flavour) before it is rate limited: the
    /// `x-ratelimit-remaining-requests` header counts down, then 429s follow, as a real
    /// per-key request limit does. Counting starts when a key's limit is set.
    pub key_request_limits: std::collections::BTreeMap<String, u64>,
    /// Top-level chat fields refused with a 400 (OpenAI-style flavours), as an
    /// OpenAI-compatible vendor refuses what it does not support (Groq: `logprobs`, …).
    pub rejected_fields: Vec<String>,
}

/// A key's place against its request limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyAllowance {
    pub limit: u64,
    /// Requests left after this one (0 when this one was refused).
    pub remaining: u64,
    pub allowed: bool,
}

/// Handle on a server's fault knobs; clones share state.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    inner: Arc<Mutex<FaultSettings>>,
    /// Requests counted per key against `key_request_limits`.
    used: Arc<Mutex<std::collections::HashMap<String, u64>>>,
}

impl Faults {
    fn lock(&self) -> MutexGuard<'_, FaultSettings> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Current settings.
    pub fn get(&self) -> FaultSettings {
        self.lock().clone()
    }

    /// Replaces all settings.
    pub fn set(&self, settings: FaultSettings) {
        *self.lock() = settings;
    }

    /// Edits the settings in place.
    pub fn update(&self, f: impl FnOnce(&mut FaultSettings)) {
        f(&mut self.lock());
    }

    /// Back to normal behaviour.
    pub fn reset(&self) {
        self.set(FaultSettings::default());
        self.used.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Sets how many requests `key` may make from now on.
    pub fn set_key_request_limit(&self, key: &str, limit: u64) {
        self.update(|s| {
            s.key_request_limits.insert(key.to_owned(), limit);
        });
        self.used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// Counts one request of `key` against its limit, if it has one.
    pub(crate) fn count_key_request(&self, key: &str) -> Option<KeyAllowance> {
        let limit = *self.lock().key_request_limits.get(key)?;
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let n = used.entry(key.to_owned()).or_insert(0);
        if *n >= limit {
            return Some(KeyAllowance {
                limit,
                remaining: 0,
                allowed: false,
            });
        }
        *n += 1;
        Some(KeyAllowance {
            limit,
            remaining: limit - *n,
            allowed: true,
        })
    }

    /// Fails the next `count` model requests with `status`.
    pub fn fail_next(&self, status: u16, count: u32, retry_after: Option<u64>) {
        self.update(|s| {
            s.fail_next = Some(FailNext {
                status,
                count,
                retry_after,
                error_type: None,
            })
        });
    }

    /// Like [`Faults::fail_next`] with an explicit provider error type.
    pub fn fail_next_typed(
        &self,
        status: u16,
        count: u32,
        retry_after: Option<u64>,
        error_type: &str,
    ) {
        self.update(|s| {
            s.fail_next = Some(FailNext {
                status,
                count,
                retry_after,
                error_type: Some(error_type.to_string()),
            })
        });
    }

    /// Sets `latency_ms`.
    pub fn set_latency_ms(&self, ms: u64) {
        self.update(|s| s.latency_ms = ms);
    }

    /// Sets `stall_ms`.
    pub fn set_stall_ms(&self, ms: u64) {
        self.update(|s| s.stall_ms = ms);
    }

    /// Sets `event_delay_ms`.
    pub fn set_event_delay_ms(&self, ms: u64) {
        self.update(|s| s.event_delay_ms = ms);
    }

    /// Sets `drop_after_events`.
    pub fn set_drop_after_events(&self, n: Option<usize>) {
        self.update(|s| s.drop_after_events = n);
    }

    /// Sets `stream_error_after`.
    pub fn set_stream_error_after(&self, n: Option<usize>) {
        self.update(|s| s.stream_error_after = n);
    }

    /// Takes one scripted failure, decrementing its count (cleared at zero).
    pub(crate) fn take_failure(&self) -> Option<FailNext> {
        let mut s = self.lock();
        let f = s.fail_next.as_mut()?;
        if f.count == 0 {
            s.fail_next = None;
            return None;
        }
        f.count -= 1;
        let out = f.clone();
        if f.count == 0 {
            s.fail_next = None;
        }
        Some(out)
    }

    /// Merges a JSON object into the settings: present keys are set, `null`
    /// resets a key to its default, absent keys are kept.
    pub fn merge_json(&self, patch: &Value) -> Result<FaultSettings, String> {
        let Value::Object(patch) = patch else {
            return Err("fault settings must be a JSON object".into());
        };
        let mut s = self.lock();
        let mut current = match serde_json::to_value(&*s) {
            Ok(Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        for (k, v) in patch {
            if v.is_null() {
                current.remove(k);
            } else {
                current.insert(k.clone(), v.clone());
            }
        }
        current.retain(|_, v| !v.is_null());
        let next: FaultSettings =
            serde_json::from_value(Value::Object(current)).map_err(|e| e.to_string())?;
        *s = next.clone();
        Ok(next)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fail_next_counts_down() {
        let f = Faults::default();
        f.fail_next(429, 2, Some(1));
        assert_eq!(f.take_failure().map(|x| x.count), Some(1));
        assert_eq!(f.take_failure().map(|x| x.count), Some(0));
        assert!(f.take_failure().is_none());
        assert!(f.get().fail_next.is_none());
    }

    #[test]
    fn merge() {
        let f = Faults::default();
        f.merge_json(&serde_json::json!({"latency_ms": 5, "fail_next": {"status": 500}}))
            .unwrap();
        let s = f.merge_json(&serde_json::json!({"stall_ms": 7})).unwrap();
        assert_eq!(s.latency_ms, 5);
        assert_eq!(s.stall_ms, 7);
        assert_eq!(s.fail_next.as_ref().map(|x| x.count), Some(1));
        let s = f
            .merge_json(&serde_json::json!({"fail_next": null}))
            .unwrap();
        assert!(s.fail_next.is_none());
        assert!(f.merge_json(&serde_json::json!({"bogus": 1})).is_err());
    }
}
