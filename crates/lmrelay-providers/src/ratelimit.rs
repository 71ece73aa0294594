//! Providers' rate-limit headers: how many requests and tokens a key has left and when its
//! window resets. OpenAI and the OpenAI-compatible vendors send `x-ratelimit-{limit,
//! remaining,reset}-{requests,tokens}` (resets as Go durations: `1s`, `6m0s`, `20ms`);
//! Anthropic sends `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,
//! remaining,reset}` (resets as RFC 3339 times). The gateway steers traffic away from a key
//! whose budget is nearly spent, before the provider answers 429.

use http::HeaderMap;
use std::time::{Duration, UNIX_EPOCH};

/// (limit, remaining, reset) header names of each budget.
const OPENAI_REQUESTS: [&str; 3] = [
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
];
const OPENAI_TOKENS: [&str; 3] = [
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
];
const ANTHROPIC_REQUESTS: [&str; 3] = [
    "anthropic-ratelimit-requests-limit",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-requests-reset",
];
const ANTHROPIC_TOKENS: [&str; 3] = [
    "anthropic-ratelimit-tokens-limit",
    "anthropic-ratelimit-tokens-remaining",
    "anthropic-ratelimit-tokens-reset",
];
const ANTHROPIC_INPUT_TOKENS: [&str; 3] = [
    "anthropic-ratelimit-input-tokens-limit",
    "anthropic-ratelimit-input-tokens-remaining",
    "anthropic-ratelimit-input-tokens-reset",
];
const ANTHROPIC_OUTPUT_TOKENS: [&str; 3] = [
    "anthropic-ratelimit-output-tokens-limit",
    "anthropic-ratelimit-output-tokens-remaining",
    "anthropic-ratelimit-output-tokens-reset",
];

/// A share of a budget below which a key counts as nearly spent.
const NEAR_SHARE: f64 = 0.02;

/// One budget (requests or tokens) of a key, as its provider last reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: Option<u64>,
    pub remaining: u64,
    /// Time until the budget is whole again.
    pub reset: Option<Duration>,
}

/// What a response said about its key's rate limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimits {
    pub requests: Option<Budget>,
    /// The tightest token budget reported (Anthropic reports several).
    pub tokens: Option<Budget>,
}

// === impl Budget ===

impl Budget {
    /// Spent, or within 2% of the limit.
    pub fn nearly_spent(&self) -> bool {
        match self.limit {
            _ if self.remaining == 0 => true,
            Some(limit) if limit > 0 => (self.remaining as f64) < limit as f64 * NEAR_SHARE,
            _ => false,
        }
    }

    fn share_left(&self) -> f64 {
        match self.limit {
            Some(l) if l > 0 => self.remaining as f64 / l as f64,
            _ => 1.0,
        }
    }
}

// === impl RateLimits ===

impl RateLimits {
    /// Reads the headers of a response; `now_unix_ms` turns absolute reset times into
    /// durations.
    pub fn read(headers: &HeaderMap, now_unix_ms: u64) -> RateLimits {
        let read = |[limit, remaining, reset]: [&str; 3]| {
            budget(headers, limit, remaining, reset, now_unix_ms)
        };
        let requests = read(OPENAI_REQUESTS).or_else(|| read(ANTHROPIC_REQUESTS));
        let tokens = [
            read(OPENAI_TOKENS),
            read(ANTHROPIC_TOKENS),
            read(ANTHROPIC_INPUT_TOKENS),
            read(ANTHROPIC_OUTPUT_TOKENS),
        ]
        .into_iter()
        .flatten()
        .min_by(|a, b| a.share_left().total_cmp(&b.share_left()));
        RateLimits { requests, tokens }
    }

    pub fn is_empty(&self) -> bool {
        self.requests.is_none() && self.tokens.is_none()
    }

    /// When a budget is nearly spent: how long until it resets (at least 1 s when the
    /// provider did not say).
    pub fn nearly_spent_for(&self) -> Option<Duration> {
        [self.requests, self.tokens]
            .into_iter()
            .flatten()
            .filter(Budget::nearly_spent)
            .map(|b| b.reset.unwrap_or(Duration::from_secs(1)))
            .max()
    }

    /// After a 429: the latest reset among the spent budgets, the key's time to cool.
    pub fn reset_of_spent(&self) -> Option<Duration> {
        [self.requests, self.tokens]
            .into_iter()
            .flatten()
            .filter(|b| b.remaining == 0)
            .filter_map(|b| b.reset)
            .max()
    }
}

fn budget(
    headers: &HeaderMap,
    limit: &str,
    remaining: &str,
    reset: &str,
    now_unix_ms: u64,
) -> Option<Budget> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let remaining = text(remaining)?.parse::<u64>().ok()?;
    Some(Budget {
        limit: text(limit).and_then(|v| v.parse().ok()),
        remaining,
        reset: text(reset).and_then(|v| parse_reset(v, now_unix_ms)),
    })
}

/// A reset as a Go duration (`1m30.5s`, `20ms`), plain seconds, or an RFC 3339 time.
fn parse_reset(v: &str, now_unix_ms: u64) -> Option<Duration> {
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    if let Some(d) = go_duration(v) {
        return Some(d);
    }
    let at = humantime::parse_rfc3339_weak(v).ok()?;
    let at_ms = at.duration_since(UNIX_EPOCH).ok()?.as_millis() as u64;
    Some(Duration::from_millis(at_ms.saturating_sub(now_unix_ms)))
}

/// Parses Go's `time.Duration` text: numbers with `h`, `m`, `s`, `ms`, `us`/`µs`, `ns`.
fn go_duration(v: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut rest = v;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    Some(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, http::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(go_duration("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(
            go_duration("1h2m3.5s"),
            Some(Duration::from_millis(3_723_500))
        );
        assert_eq!(go_duration("soon"), None);
        assert_eq!(go_duration(""), None);
    }

    #[test]
    fn openai_headers() {
        let h = headers(&[
            ("x-ratelimit-limit-requests", "100"),
            ("x-ratelimit-remaining-requests", "1"),
            ("x-ratelimit-reset-requests", "1m0s"),
            ("x-ratelimit-limit-tokens", "10000"),
            ("x-ratelimit-remaining-tokens", "9000"),
            ("x-ratelimit-reset-tokens", "6ms"),
        ]);
        let r = RateLimits::read(&h, 0);
        assert_eq!(
            r.requests,
            Some(Budget {
                limit: Some(100),
                remaining: 1,
                reset: Some(Duration::from_secs(60))
            })
        );
        assert_eq!(r.nearly_spent_for(), Some(Duration::from_secs(60)));
        let fresh = headers(&[
            ("x-ratelimit-limit-requests", "100"),
            ("x-ratelimit-remaining-requests", "50"),
        ]);
        assert_eq!(RateLimits::read(&fresh, 0).nearly_spent_for(), None);
    }

    #[test]
    fn anthropic_headers_with_absolute_resets() {
        let h = headers(&[
            ("anthropic-ratelimit-requests-limit", "50"),
            ("anthropic-ratelimit-requests-remaining", "0"),
            ("anthropic-ratelimit-requests-reset", "2026-12-03T10:00:30Z"),
            ("anthropic-ratelimit-input-tokens-limit", "1000"),
            ("anthropic-ratelimit-input-tokens-remaining", "500"),
            ("anthropic-ratelimit-output-tokens-limit", "1000"),
            ("anthropic-ratelimit-output-tokens-remaining", "100"),
        ]);
        let now = humantime::parse_rfc3339("2026-12-03T10:00:00Z")
            .expect("time")
            .duration_since(UNIX_EPOCH)
            .expect("after epoch")
            .as_millis() as u64;
        let r = RateLimits::read(&h, now);
        assert_eq!(r.requests.map(|b| b.remaining), Some(0));
        assert_eq!(r.reset_of_spent(), Some(Duration::from_secs(30)));
        assert_eq!(
            r.tokens.map(|b| b.remaining),
            Some(100),
            "the tightest budget"
        );
        assert!(RateLimits::read(&HeaderMap::new(), 0).is_empty());
    }
}
