//! Gateway-key limits, checked before a request is sent upstream: requests per minute
//! (`rpm`), tokens per minute (`tpm`, the request's estimate now, corrected with the real
//! usage afterwards by [`crate::outcome`]) and a budget per calendar month in UTC
//! (`budget_usd`, from provider prices and real usage). Also the per-IP request limit for
//! callers no gateway key identifies (`[limits] anonymous_rpm`).
//!
//! Windows are sliding: the current minute's count plus the previous minute's, weighted by
//! how much of it still lies within the last 60 seconds. Everything a check needs is one
//! [`StateStore::counters`] call (one round trip); a rejected request takes its counts back
//! in a second one. A request admitted under the limit completes.

use crate::config::{FailMode, KeyConfig};
use crate::error::GatewayError;
use crate::store::{CounterOp, StateStore};
use std::time::Duration;

const MINUTE_MS: u64 = 60_000;
/// Counters outlive the window they count, plus the next one that reads them.
const WINDOW_TTL: Duration = Duration::from_secs(180);
/// Budgets and costs are counted in nano-dollars (integers, no rounding drift).
pub const NANOS_PER_USD: f64 = 1e9;

/// The store key of a minute window of `kind` (`rpm`, `tpm`) for `who`.
fn window_key(who: &str, kind: &str, minute: u64) -> String {
    format!("limit:{who}:{kind}:{minute}")
}

/// The store key of a key's spending in the month of `now_ms` (`YYYY-MM`).
pub fn budget_key(key_name: &str, now_ms: u64) -> String {
    format!("budget:{key_name}:{}", month(now_ms))
}

/// The store key of the tokens-per-minute window that a request admitted at `now_ms`
/// counted its estimate in (for the correction after it).
pub fn tpm_key(key_name: &str, now_ms: u64) -> String {
    window_key(&format!("key:{key_name}"), "tpm", now_ms / MINUTE_MS)
}

/// `YYYY-MM` of a time.
pub fn month(now_ms: u64) -> String {
    lmrelay_protocol::time::rfc3339_from_unix_ms(now_ms)[..7].to_owned()
}

/// Checks and counts a request of `key` estimated at `tokens` input tokens.
pub async fn admit(
    store: &dyn StateStore,
    key: &KeyConfig,
    tokens: u64,
    now_ms: u64,
    on_failure: FailMode,
) -> Result<(), GatewayError> {
    if key.rpm.is_none() && key.tpm.is_none() && key.budget_usd.is_none() {
        return Ok(());
    }
    let who = format!("key:{}", key.name);
    let minute = now_ms / MINUTE_MS;
    let mut ops = Vec::with_capacity(5);
    if key.rpm.is_some() {
        ops.push(CounterOp::add(
            window_key(&who, "rpm", minute),
            1,
            Some(WINDOW_TTL),
        ));
        ops.push(CounterOp::read(window_key(&who, "rpm", minute - 1)));
    }
    if key.tpm.is_some() {
        ops.push(CounterOp::add(
            window_key(&who, "tpm", minute),
            tokens as i64,
            Some(WINDOW_TTL),
        ));
        ops.push(CounterOp::read(window_key(&who, "tpm", minute - 1)));
    }
    if key.budget_usd.is_some() {
        ops.push(CounterOp::read(budget_key(&key.name, now_ms)));
    }
    let values = match store.counters(&ops).await {
        Ok(v) => v,
        Err(e) => return store_failed(&e, on_failure),
    };
    let mut at = 0;
    let mut over: Option<(&'static str, String, Duration)> = None;
    if let Some(rpm) = key.rpm {
        let (cur, prev) = (values[at], values[at + 1]);
        at += 2;
        if let Some(wait) = over_window(cur, prev, rpm, now_ms) {
            over = Some(("rpm", format!("{rpm} requests per minute"), wait));
        }
    }
    if let Some(tpm) = key.tpm {
        let (cur, prev) = (values[at], values[at + 1]);
        at += 2;
        if over.is_none() {
            if let Some(wait) = over_window(cur, prev, tpm, now_ms) {
                over = Some(("tpm", format!("{tpm} tokens per minute"), wait));
            }
        }
    }
    if let Some(budget) = key.budget_usd {
        let spent = values[at] as f64 / NANOS_PER_USD;
        if over.is_none() && spent >= budget {
            over = Some((
                "budget_usd",
                format!("its monthly budget of ${budget:.2} (spent ${spent:.2})"),
                until_next_month(now_ms),
            ));
        }
    }
    let Some((limit, what, retry_after)) = over else {
        return Ok(());
    };
    // Take this request's counts back: it is not served.
    let undo: Vec<CounterOp> = ops
        .iter()
        .filter(|op| op.add != 0)
        .map(|op| CounterOp::add(op.key.clone(), -op.add, Some(WINDOW_TTL)))
        .collect();
    if !undo.is_empty() {
        let _ = store.counters(&undo).await;
    }
    Err(GatewayError::RateLimited {
        key: key.name.clone(),
        limit,
        message: format!(
            "The gateway key `{}` is over {what}; retry in {} s.",
            key.name,
            crate::error::whole_seconds(retry_after)
        ),
        retry_after,
    })
}

/// Store failures seen by limit checks (for the metric and the log).
pub static STORE_FAILURES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static LAST_WARNING_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A limit check the store could not answer: counted, logged at most every 10 s, and
/// served (`open`) or refused with 503 (`closed`).
fn store_failed(e: &crate::store::StoreError, on_failure: FailMode) -> Result<(), GatewayError> {
    use std::sync::atomic::Ordering;
    STORE_FAILURES.fetch_add(1, Ordering::Relaxed);
    let now = crate::now_ms();
    let last = LAST_WARNING_MS.load(Ordering::Relaxed);
    if now.saturating_sub(last) >= 10_000
        && LAST_WARNING_MS
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        let what = match on_failure {
            FailMode::Open => "requests are served without limits",
            FailMode::Closed => "requests with limits are refused (503)",
        };
        tracing::warn!(error = %e, "the state store failed: {what}");
    }
    match on_failure {
        FailMode::Open => Ok(()),
        FailMode::Closed => Err(GatewayError::StoreUnavailable),
    }
}

/// Checks and counts a request from an address no key identifies.
pub async fn admit_anonymous(
    store: &dyn StateStore,
    ip: std::net::IpAddr,
    rpm: u64,
    now_ms: u64,
    on_failure: FailMode,
) -> Result<(), GatewayError> {
    let who = format!("ip:{ip}");
    let minute = now_ms / MINUTE_MS;
    let ops = [
        CounterOp::add(window_key(&who, "rpm", minute), 1, Some(WINDOW_TTL)),
        CounterOp::read(window_key(&who, "rpm", minute - 1)),
    ];
    let v = match store.counters(&ops).await {
        Ok(v) => v,
        Err(e) => return store_failed(&e, on_failure),
    };
    match over_window(v[0], v[1], rpm, now_ms) {
        None => Ok(()),
        Some(retry_after) => {
            let _ = store
                .counters(&[CounterOp::add(ops[0].key.clone(), -1, Some(WINDOW_TTL))])
                .await;
            Err(GatewayError::RateLimited {
                key: format!("address {ip}"),
                limit: "anonymous_rpm",
                message: format!(
                    "Requests without a gateway key from {ip} are over {rpm} per minute; retry in {} s.",
                    crate::error::whole_seconds(retry_after)
                ),
                retry_after,
            })
        }
    }
}

/// Whether a sliding-window count (this minute's `cur`, the last minute's `prev`) is over
/// `limit`; if so, how long until enough of the old window has slid out.
fn over_window(cur: i64, prev: i64, limit: u64, now_ms: u64) -> Option<Duration> {
    let into = (now_ms % MINUTE_MS) as f64 / MINUTE_MS as f64;
    let (cur, prev, limit) = (cur.max(0) as f64, prev.max(0) as f64, limit as f64);
    if cur + prev * (1.0 - into) <= limit {
        return None;
    }
    let rest_of_minute = (1.0 - into) * 60.0;
    let wait = if cur > limit || prev <= 0.0 {
        rest_of_minute
    } else {
        // prev × (1 − into′) + cur ≤ limit  ⇒  into′ ≥ 1 − (limit − cur) / prev
        let into_then = 1.0 - (limit - cur) / prev;
        ((into_then - into) * 60.0).clamp(0.0, rest_of_minute)
    };
    Some(Duration::from_secs_f64(wait.max(1.0)))
}

/// Time until the first moment of next month (UTC).
fn until_next_month(now_ms: u64) -> Duration {
    let m = month(now_ms);
    let (y, mo): (u64, u64) = (m[..4].parse().unwrap_or(1970), m[5..7].parse().unwrap_or(1));
    let (ny, nm) = if mo == 12 { (y + 1, 1) } else { (y, mo + 1) };
    let next = days_from_civil(ny, nm) * 86_400_000;
    Duration::from_millis(next.saturating_sub(now_ms))
}

/// Days since 1970-01-01 of the first day of a month (Howard Hinnant's algorithm).
fn days_from_civil(y: u64, m: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y } as i64;
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) as u64
}

/// Whether the anonymous limit applies to a caller at `ip` (loopback callers are exempt
/// unless `anonymous_loopback` is set).
pub fn anonymous_applies(ip: std::net::IpAddr, loopback_too: bool) -> bool {
    loopback_too || !ip.to_canonical().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeyMatcher;
    use crate::store::MemoryStore;

    fn key(rpm: Option<u64>, tpm: Option<u64>, budget: Option<f64>) -> KeyConfig {
        KeyConfig {
            name: "k".into(),
            key: KeyMatcher::Sha256("0".repeat(64)),
            models: vec!["*".into()],
            rpm,
            tpm,
            budget_usd: budget,
            regions: vec![],
            max_concurrent: None,
            direct: true,
        }
    }

    #[test]
    fn sliding_windows() {
        // 30 s into a minute: half the previous minute still counts.
        let now = 10 * MINUTE_MS + 30_000;
        assert_eq!(over_window(5, 10, 10, now), None);
        let wait = over_window(6, 10, 10, now).expect("over");
        // 6 + 10 × (1 − x) ≤ 10 ⇒ x ≥ 0.6: 6 s from now.
        assert_eq!(wait.as_secs(), 6);
        assert_eq!(over_window(11, 0, 10, now).map(|d| d.as_secs()), Some(30));
    }

    #[test]
    fn months() {
        // 2026-12-03T00:00:00Z
        let now = 1_796_256_000_000;
        assert_eq!(month(now), "2026-12");
        let to_jan = until_next_month(now);
        assert_eq!(to_jan.as_secs(), 29 * 86_400);
        assert_eq!(days_from_civil(1970, 1), 0);
        assert_eq!(days_from_civil(2000, 3), 11_017);
    }

    #[tokio::test]
    async fn rpm_tpm_and_budget() {
        let store = MemoryStore::default();
        let now = 10 * MINUTE_MS + 1_000;
        let k = key(Some(2), None, None);
        admit(&store, &k, 10, now, FailMode::Open).await.expect("1");
        admit(&store, &k, 10, now, FailMode::Open).await.expect("2");
        let e = admit(&store, &k, 10, now, FailMode::Open)
            .await
            .expect_err("3");
        assert!(
            matches!(e, GatewayError::RateLimited { limit: "rpm", .. }),
            "{e:?}"
        );
        // The refused request was not counted: after the window slides, two again.
        let later = now + 2 * MINUTE_MS;
        admit(&store, &k, 10, later, FailMode::Open)
            .await
            .expect("next window");
        let k = key(None, Some(100), None);
        admit(&store, &k, 60, now, FailMode::Open)
            .await
            .expect("60");
        let e = admit(&store, &k, 60, now, FailMode::Open)
            .await
            .expect_err("120 > 100");
        assert!(
            e.to_string().contains("tokens per minute")
                || matches!(e, GatewayError::RateLimited { limit: "tpm", .. })
        );
        let k = key(None, None, Some(1.0));
        admit(&store, &k, 0, now, FailMode::Open)
            .await
            .expect("nothing spent");
        store
            .counters(&[CounterOp::add(budget_key("k", now), 1_000_000_000, None)])
            .await
            .expect("spend");
        let e = admit(&store, &k, 0, now, FailMode::Open)
            .await
            .expect_err("spent");
        assert!(matches!(
            e,
            GatewayError::RateLimited {
                limit: "budget_usd",
                ..
            }
        ));
    }
}
