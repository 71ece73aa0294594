//! The Redis [`StateStore`], for several gateways (replicas) sharing live state: every limit,
//! counter and record one writes, the others see.
//!
//! - **Connection**: one multiplexed connection per store, held by the `redis` crate's
//!   [`ConnectionManager`], which reconnects by itself with exponential backoff (jittered,
//!   from [`RECONNECT_MIN_DELAY`] up to [`RECONNECT_MAX_DELAY`]) after the connection drops.
//!   `redis://` and `rediss://` (rustls; the system's roots, or `SSL_CERT_FILE`) URLs, with
//!   user, password and database. A connection that stops answering without dropping (a
//!   network partition, a host that vanished) is replaced once no call has succeeded for a
//!   whole timeout, so it does not wait for the operating system to give up on it.
//! - **Time limit**: every round trip is bounded by the store's timeout and fails with
//!   [`StoreError::Timeout`]; a failure to reach Redis is [`StoreError::Unavailable`]. No
//!   message carries the URL's password (see [`Secrets`]).
//! - **Keys**: every key is the store's prefix (e.g. `lmrelay:`) followed by the caller's key,
//!   so several gateways can share one Redis; scans give keys back without the prefix.
//!   Counters and records share the one keyspace, both as Redis strings: a counter holds its
//!   value in decimal, so `INCRBY` works on it, and a record its raw bytes. Expiry is Redis's
//!   own (`PX`), so an expired value is absent everywhere.
//! - **Counters**: one Lua script ([`COUNTERS`]) applies a whole batch in one round trip, each
//!   operation atomically; a counter's TTL is set only by the operation that creates it, and a
//!   read (`add = 0`) never creates one. Values leave the script as strings, exact over the
//!   whole `i64` range (Lua numbers are doubles), and saturate at its ends, as the in-memory
//!   store's do.
//! - **Records**: `GET`, `SET … PX`, `DEL`; compare-and-set is a Lua script ([`COMPARE_AND_SET`])
//!   comparing bytes. Scans walk `SCAN … MATCH` with the prefix's glob characters escaped,
//!   then `MGET` the keys found, one bounded round trip at a time; they are for reports, not
//!   the request path.
//!
//! Needs Redis 6.0 or later (`SET … KEEPTTL`); not Redis Cluster.

use super::{CounterOp, StateStore, StoreError};
use arc_swap::ArcSwap;
use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncConnectionConfig, Client, ErrorKind, RedisError, RedisResult, Script};
use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The shortest wait before reconnecting after the connection dropped; it doubles (with
/// jitter) on each failed attempt.
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(100);
/// The longest wait between reconnection attempts.
const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(5);
/// Reconnection attempts in one round before the calls waiting on it fail; the next call
/// starts another round.
const RECONNECT_ATTEMPTS: usize = 6;
/// How many keys one `SCAN` step looks at (a hint to Redis).
const SCAN_COUNT: usize = 1000;
/// How many keys one `MGET` reads.
const MGET_CHUNK: usize = 1000;
/// TTLs beyond this many milliseconds are kept forever: Redis refuses an expiry time past
/// `i64::MAX` ms since 1970, and this is millions of years.
const MAX_TTL_MS: u128 = 1 << 62;

/// Applies a batch of counter operations in order; see [`StateStore::counters`].
///
/// `KEYS[i]` is a counter, `ARGV[2i-1]` what to add to it (decimal), `ARGV[2i]` the TTL in
/// milliseconds to give it if this creates it (`0`: none). Returns each new value as a
/// string. Stops at a key that holds something other than an integer, with `false` in its
/// place (a nil in the reply).
const COUNTERS: &str = r"
local values = {}
for i, key in ipairs(KEYS) do
  local add, ttl = ARGV[2 * i - 1], ARGV[2 * i]
  local value
  if add == '0' then
    value = redis.pcall('GET', key)
    if value == false then
      value = '0'
    end
  elseif redis.call('EXISTS', key) == 0 then
    if ttl == '0' then
      redis.call('SET', key, add)
    else
      redis.call('SET', key, add, 'PX', ttl)
    end
    value = add
  else
    local added = redis.pcall('INCRBY', key, add)
    if type(added) ~= 'table' then
      value = redis.call('GET', key)
    elseif string.find(added.err, 'overflow', 1, true) then
      if string.sub(add, 1, 1) == '-' then
        value = '-9223372036854775808'
      else
        value = '9223372036854775807'
      end
      redis.call('SET', key, value, 'KEEPTTL')
    end
  end
  if type(value) ~= 'string' then
    values[i] = false
    return values
  end
  values[i] = value
end
return values
";

/// Replaces a record if it holds what the caller expects; see
/// [`StateStore::compare_and_set`].
///
/// `KEYS[1]` is the record; `ARGV[1]` is `1` to expect the bytes `ARGV[2]`, `0` to expect
/// no record; `ARGV[3]` is `1` to write `ARGV[4]`, `0` to delete; `ARGV[5]` the TTL in
/// milliseconds (`0`: none). Returns 1 if the record was replaced, 0 if not.
const COMPARE_AND_SET: &str = r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then
    return 0
  end
elseif current then
  return 0
end
if ARGV[3] == '1' then
  if ARGV[5] == '0' then
    redis.call('SET', KEYS[1], ARGV[4])
  else
    redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
  end
elseif current then
  redis.call('DEL', KEYS[1])
end
return 1
";

/// The Redis [`StateStore`]. `Debug` shows the URL without its password.
pub struct RedisStore {
    /// The live connection; replaced when it stops answering (see [`RedisStore::timed_out`]).
    conn: ArcSwap<ConnectionManager>,
    /// To build a replacement connection.
    client: Client,
    config: ConnectionManagerConfig,
    prefix: String,
    timeout: Duration,
    /// The URL with its password masked, for messages.
    url: String,
    secrets: Secrets,
    counters: Script,
    compare_and_set: Script,
    /// The zero of the two clocks below.
    epoch: Instant,
    /// When a call last succeeded, in milliseconds since `epoch`.
    last_ok_ms: AtomicU64,
    /// When the connection was last replaced, in milliseconds since `epoch`.
    last_reset_ms: AtomicU64,
}

/// The secret parts of a Redis URL (the password, as written and percent-decoded), to mask
/// wherever a message might quote them.
struct Secrets(Vec<String>);

// === impl RedisStore ===

impl RedisStore {
    /// Connects to the Redis at `url` (`redis://[user][:password]@host[:port][/db]`, or
    /// `rediss://` for TLS), keeping every key under `prefix` and bounding every call by
    /// `timeout`, this one included.
    ///
    /// Fails with [`StoreError::Unavailable`] when the URL is not valid or Redis cannot be
    /// reached or refuses the connection (a wrong password or database), and with
    /// [`StoreError::Timeout`] when it does not answer within `timeout`. Once connected, the
    /// store reconnects by itself.
    pub async fn connect(url: &str, prefix: &str, timeout: Duration) -> Result<Self, StoreError> {
        let secrets = Secrets::of(url);
        let shown = redact_url(url);
        let client = Client::open(url).map_err(|e| {
            StoreError::Unavailable(secrets.mask(&format!("invalid Redis URL `{shown}`: {e}")))
        })?;

        // One direct connection first, for the reason if it fails: the connection manager
        // would retry with backoff and leave only a timeout to report.
        let probe = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        let cannot = |e: RedisError| {
            if e.is_timeout() {
                StoreError::Timeout
            } else {
                StoreError::Unavailable(secrets.mask(&format!("cannot connect to {shown}: {e}")))
            }
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let mut first = tokio::time::timeout_at(
            deadline,
            client.get_multiplexed_async_connection_with_config(&probe),
        )
        .await
        .map_err(|_| StoreError::Timeout)?
        .map_err(cannot)?;
        // Loading the scripts spares the first calls Redis's NOSCRIPT answer (after a
        // restart of Redis, `Script` loads them again by itself).
        let (counters, compare_and_set) = (Script::new(COUNTERS), Script::new(COMPARE_AND_SET));
        let mut load = redis::pipe();
        load.cmd("PING").ignore();
        for script in [COUNTERS, COMPARE_AND_SET] {
            load.cmd("SCRIPT").arg("LOAD").arg(script).ignore();
        }
        tokio::time::timeout_at(deadline, load.query_async::<()>(&mut first))
            .await
            .map_err(|_| StoreError::Timeout)?
            .map_err(cannot)?;
        drop(first);

        // Calls are bounded by `timeout` here (see `bounded`), so the connection's own
        // response timeout stays off; a connection attempt gets the same limit.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(None)
            .set_min_delay(RECONNECT_MIN_DELAY)
            .set_max_delay(RECONNECT_MAX_DELAY)
            .set_exponent_base(2.0)
            .set_number_of_retries(RECONNECT_ATTEMPTS);
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
            .map_err(cannot)?;
        Ok(RedisStore {
            conn: ArcSwap::from_pointee(conn),
            client,
            config,
            prefix: prefix.to_owned(),
            timeout,
            url: shown,
            secrets,
            counters,
            compare_and_set,
            epoch: Instant::now(),
            last_ok_ms: AtomicU64::new(0),
            last_reset_ms: AtomicU64::new(0),
        })
    }

    /// The prefix every key is kept under.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The Redis key of the caller's `key`.
    fn key(&self, key: &str) -> String {
        let mut full = String::with_capacity(self.prefix.len() + key.len());
        full.push_str(&self.prefix);
        full.push_str(key);
        full
    }

    /// A handle on the current connection.
    fn conn(&self) -> ConnectionManager {
        ConnectionManager::clone(&self.conn.load())
    }

    /// Runs one round trip within the timeout. `key` names what it was about, for a
    /// [`StoreError::Corrupt`].
    async fn bounded<T>(
        &self,
        key: &str,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => {
                self.last_ok_ms.store(self.now_ms(), Ordering::Relaxed);
                Ok(value)
            }
            Ok(Err(e)) => Err(self.failure(e, key)),
            Err(_) => {
                self.timed_out();
                Err(StoreError::Timeout)
            }
        }
    }

    async fn query<T: redis::FromRedisValue>(
        &self,
        key: &str,
        cmd: &redis::Cmd,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn();
        self.bounded(key, cmd.query_async(&mut conn)).await
    }

    fn failure(&self, e: RedisError, key: &str) -> StoreError {
        if e.is_timeout() {
            self.timed_out();
            return StoreError::Timeout;
        }
        let wrong_type = e.code() == Some("WRONGTYPE")
            || matches!(e.kind(), ErrorKind::Parse | ErrorKind::UnexpectedReturnType);
        if wrong_type {
            StoreError::Corrupt {
                key: key.to_owned(),
                reason: self.secrets.mask(&e.to_string()),
            }
        } else {
            StoreError::Unavailable(self.secrets.mask(&format!("{}: {e}", self.url)))
        }
    }

    /// After a call timed out: if nothing has succeeded for a whole timeout, the connection
    /// may be dead without having dropped (a partition, a vanished host), which the
    /// connection manager does not notice, so it is replaced by a fresh one (at most once
    /// per timeout). Calls still waiting on the old connection time out as they would have.
    fn timed_out(&self) {
        let now = self.now_ms();
        let limit = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX);
        let last_reset = self.last_reset_ms.load(Ordering::Relaxed);
        let quiet = now.saturating_sub(self.last_ok_ms.load(Ordering::Relaxed)) >= limit;
        if !quiet
            || now.saturating_sub(last_reset) < limit
            || self
                .last_reset_ms
                .compare_exchange(last_reset, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        match ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone()) {
            Ok(fresh) => {
                tracing::warn!(
                    url = %self.url,
                    timeout = ?self.timeout,
                    "the state store did not answer within its timeout; reconnecting"
                );
                self.conn.store(Arc::new(fresh));
            }
            Err(e) => tracing::warn!(
                url = %self.url,
                error = %self.secrets.mask(&e.to_string()),
                "the state store did not answer within its timeout and cannot reconnect"
            ),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Every live string under `prefix`, sorted by key, keys without the store's prefix.
    async fn scan_raw(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let full = self.key(prefix);
        let pattern = format!("{}*", glob_escape(&full));
        let mut keys = BTreeSet::new();
        let mut cursor: u64 = 0;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT);
            let (next, batch): (u64, Vec<Vec<u8>>) = self.query(prefix, &scan).await?;
            // SCAN may give a key twice; the set keeps one, sorted by bytes, which is the
            // order of `str`.
            keys.extend(batch.into_iter().filter(|k| k.starts_with(full.as_bytes())));
            if next == 0 {
                break;
            }
            cursor = next;
        }
        let keys: Vec<Vec<u8>> = keys.into_iter().collect();
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(MGET_CHUNK) {
            let mut mget = redis::cmd("MGET");
            mget.arg(chunk);
            let values: Vec<Option<Vec<u8>>> = self.query(prefix, &mget).await?;
            // Absent: expired or deleted since the scan saw it.
            for (key, value) in chunk.iter().zip(values) {
                let Some(value) = value else { continue };
                let key = String::from_utf8(key[self.prefix.len()..].to_vec()).map_err(|e| {
                    StoreError::Corrupt {
                        key: String::from_utf8_lossy(e.as_bytes()).into_owned(),
                        reason: "the key is not UTF-8".to_owned(),
                    }
                })?;
                found.push((key, value));
            }
        }
        Ok(found)
    }
}

#[async_trait::async_trait]
impl StateStore for RedisStore {
    async fn counters(&self, ops: &[CounterOp]) -> Result<Vec<i64>, StoreError> {
        let Some(first) = ops.first() else {
            return Ok(Vec::new());
        };
        let mut call = self.counters.prepare_invoke();
        for op in ops {
            call.key(self.key(&op.key)).arg(op.add).arg(ttl_ms(op.ttl));
        }
        let mut conn = self.conn();
        let values: Vec<Option<Vec<u8>>> = self
            .bounded(&first.key, call.invoke_async(&mut conn))
            .await?;
        if values.len() > ops.len() {
            return Err(StoreError::Corrupt {
                key: first.key.clone(),
                reason: format!("{} values for {} counters", values.len(), ops.len()),
            });
        }
        let mut parsed = Vec::with_capacity(ops.len());
        for (op, value) in ops.iter().zip(values) {
            let value = value
                .as_deref()
                .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
                .ok_or_else(|| not_a_counter(&op.key))?;
            parsed.push(value);
        }
        match ops.get(parsed.len()) {
            // The script stopped early without saying where: cannot happen.
            Some(op) => Err(not_a_counter(&op.key)),
            None => Ok(parsed),
        }
    }

    async fn scan_counters(&self, prefix: &str) -> Result<Vec<(String, i64)>, StoreError> {
        self.scan_raw(prefix)
            .await?
            .into_iter()
            .map(|(key, value)| {
                match std::str::from_utf8(&value)
                    .ok()
                    .and_then(|v| v.parse().ok())
                {
                    Some(n) => Ok((key, n)),
                    None => Err(not_a_counter(&key)),
                }
            })
            .collect()
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        let value: Option<Vec<u8>> = self
            .query(key, redis::cmd("GET").arg(self.key(key)))
            .await?;
        Ok(value.map(Bytes::from))
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<(), StoreError> {
        let mut set = redis::cmd("SET");
        set.arg(self.key(key)).arg(&value[..]);
        match ttl_ms(ttl) {
            0 => {}
            ms => {
                set.arg("PX").arg(ms);
            }
        }
        self.query::<()>(key, &set).await
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<Bytes>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let mut call = self.compare_and_set.key(self.key(key));
        let flag = |present: bool| if present { "1" } else { "0" };
        call.arg(flag(expected.is_some()))
            .arg(expected.unwrap_or_default())
            .arg(flag(new.is_some()))
            .arg(new.as_deref().unwrap_or_default())
            .arg(ttl_ms(ttl));
        let mut conn = self.conn();
        let replaced: i64 = self.bounded(key, call.invoke_async(&mut conn)).await?;
        Ok(replaced == 1)
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let deleted: i64 = self
            .query(key, redis::cmd("DEL").arg(self.key(key)))
            .await?;
        Ok(deleted > 0)
    }

    async fn scan(&self, prefix: &str) -> Result<Vec<(String, Bytes)>, StoreError> {
        Ok(self
            .scan_raw(prefix)
            .await?
            .into_iter()
            .map(|(key, value)| (key, Bytes::from(value)))
            .collect())
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn not_a_counter(key: &str) -> StoreError {
    StoreError::Corrupt {
        key: key.to_owned(),
        reason: "not an integer counter".to_owned(),
    }
}

/// A TTL in whole milliseconds for `PX`, rounded up so a short TTL is not none; `0` for no
/// TTL, also for one too long for Redis.
fn ttl_ms(ttl: Option<Duration>) -> u64 {
    match ttl.map(|t| t.as_nanos().div_ceil(1_000_000)) {
        Some(ms) if ms <= MAX_TTL_MS => u64::try_from(ms.max(1)).unwrap_or(0),
        _ => 0,
    }
}

/// `text` as a Redis glob (`SCAN … MATCH`) that matches only itself.
fn glob_escape(text: &str) -> String {
    let mut glob = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            glob.push('\\');
        }
        glob.push(c);
    }
    glob
}

/// Where the userinfo of a URL is: the byte range between `scheme://` and the last `@`
/// before the path, if there is one.
fn userinfo(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let at = url[start..authority_end].rfind('@')?;
    Some((start, start + at))
}

/// `url` with its password (`user:password@`, or a `pass=` query parameter) shown as `***`.
/// Userinfo without a colon is masked whole, in case it is a password.
pub fn redact_url(url: &str) -> String {
    let mut shown = match userinfo(url) {
        Some((start, end)) => {
            let info = &url[start..end];
            let user = info.split_once(':').map(|(user, _)| user);
            let masked = user.map_or("***".to_owned(), |user| format!("{user}:***"));
            format!("{}{masked}{}", &url[..start], &url[end..])
        }
        None => url.to_owned(),
    };
    if let Some(q) = shown.find('?') {
        let (base, rest) = shown.split_at(q + 1);
        let (query, fragment) = rest.split_at(rest.find('#').unwrap_or(rest.len()));
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name @ ("pass" | "password"), _)) => format!("{name}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        shown = format!("{base}{}{fragment}", query.join("&"));
    }
    shown
}

/// Decodes `%XX` escapes; anything else is kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// === impl Secrets ===

impl Secrets {
    fn of(url: &str) -> Secrets {
        let mut found = Vec::new();
        if let Some((start, end)) = userinfo(url) {
            let info = &url[start..end];
            found.push(info.split_once(':').map_or(info, |(_, pass)| pass));
        }
        if let Some((_, query)) = url.split_once('?') {
            let query = query.split('#').next().unwrap_or_default();
            found.extend(
                query
                    .split('&')
                    .filter_map(|pair| match pair.split_once('=') {
                        Some(("pass" | "password", value)) => Some(value),
                        _ => None,
                    }),
            );
        }
        let mut secrets: Vec<String> = found
            .into_iter()
            .flat_map(|s| [s.to_owned(), percent_decode(s)])
            .filter(|s| !s.is_empty())
            .collect();
        // The longest first, so a secret inside another is not masked half.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Secrets(secrets)
    }

    /// `text` with every secret replaced by `***`.
    fn mask(&self, text: &str) -> String {
        self.0.iter().fold(text.to_owned(), |text, secret| {
            text.replace(secret.as_str(), "***")
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(glob_escape("a*b?c[d]e\\f"), "a\\*b\\?c\\[d\\]e\\\\f");
        assert_eq!(glob_escape("lmrelay:usage:"), "lmrelay:usage:");
    }

    #[test]
    fn ttls_round_up_and_huge_ones_are_none() {
        assert_eq!(ttl_ms(None), 0);
        assert_eq!(ttl_ms(Some(Duration::ZERO)), 1);
        assert_eq!(ttl_ms(Some(Duration::from_nanos(1))), 1);
        assert_eq!(ttl_ms(Some(Duration::from_micros(1500))), 2);
        assert_eq!(ttl_ms(Some(Duration::from_secs(60))), 60_000);
        assert_eq!(ttl_ms(Some(Duration::MAX)), 0);
    }

    #[test]
    fn urls_are_shown_without_passwords() {
        for (url, shown) in [
            ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
            ("redis://:s3cret@host:6379/2", "redis://:***@host:6379/2"),
            ("rediss://app:s3cret@host/1", "rediss://app:***@host/1"),
            ("redis://s3cret@host", "redis://***@host"),
            ("redis://u:p@ss@host/0", "redis://u:***@host/0"),
            ("redis://host/0?x=1", "redis://host/0?x=1"),
            (
                "redis+unix:///run/redis.sock?db=1&pass=s3cret",
                "redis+unix:///run/redis.sock?db=1&pass=***",
            ),
            (
                "redis://h/?pass=s3cret#insecure",
                "redis://h/?pass=***#insecure",
            ),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn secrets_are_masked_as_written_and_decoded() {
        let secrets = Secrets::of("redis://app:p%40ss%3Aword@host:6379/0");
        assert_eq!(
            secrets.mask("auth p%40ss%3Aword / p@ss:word failed"),
            "auth *** / *** failed"
        );
        let none = Secrets::of("redis://host:6379");
        assert_eq!(none.mask("text"), "text");
        let unix = Secrets::of("redis+unix:///s.sock?pass=hunter2#x");
        assert_eq!(unix.mask("hunter2!"), "***!");
    }

    #[test]
    fn percent_decoding_keeps_what_is_not_an_escape() {
        assert_eq!(percent_decode("a%20b%zz%4"), "a b%zz%4");
    }
}
