//! Small dependency-free helpers: clock and RFC 3339, ids, stable hashes,
//! base64, Go-style durations and whitespace-preserving word splitting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds and sub-second nanoseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now() -> (u64, u32) {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs(), d.subsec_nanos()),
        Err(_) => (0, 0),
    }
}

/// Unix seconds now.
pub(crate) fn unix_now() -> u64 {
    now().0
}

/// RFC 3339 UTC timestamp, e.g. `2025-07-07T20:22:19Z` or with nanoseconds
/// `2025-07-07T20:22:19.180000000Z`.
pub(crate) fn rfc3339(secs: u64, nanos: Option<u32>) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    match nanos {
        Some(n) => format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{n:09}Z"),
        None => format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z"),
    }
}

/// Current time as RFC 3339 with nanoseconds (Ollama's `created_at`).
pub(crate) fn rfc3339_now_nanos() -> String {
    let (s, n) = now();
    rfc3339(s, Some(n))
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Go-style duration for whole seconds or milliseconds (`6ms`, `1s`, `1m0s`).
pub(crate) fn go_duration_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        if ms % 1000 == 0 {
            format!("{}s", ms / 1000)
        } else {
            format!("{:.3}s", ms as f64 / 1000.0)
        }
    } else {
        format!("{}m{}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// 64-bit FNV-1a: a stable (cross-run, cross-platform) hash.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// SplitMix64 step, used to stretch hashes and counters into pseudo-random bits.
pub(crate) fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

static COUNTER: AtomicU64 = AtomicU64::new(1);

/// A fresh unique id: `prefix` + `len` characters from `alphabet`.
pub(crate) fn new_id_from(prefix: &str, len: usize, alphabet: &[u8]) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let (s, ns) = now();
    let mut state = splitmix(n ^ s.rotate_left(32) ^ u64::from(ns));
    let mut out = String::with_capacity(prefix.len() + len);
    out.push_str(prefix);
    for i in 0..len {
        if i % 8 == 0 && i > 0 {
            state = splitmix(state);
        }
        let idx = ((state >> ((i % 8) * 8)) & 0xff) as usize % alphabet.len().max(1);
        out.push(char::from(alphabet.get(idx).copied().unwrap_or(b'x')));
    }
    out
}

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const LOWER36: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A fresh id with a base62 body (`chatcmpl-…`, `msg_…`, `toolu_…`, `call_…`).
pub(crate) fn new_id(prefix: &str, len: usize) -> String {
    new_id_from(prefix, len, BASE62)
}

/// A fresh id with a lowercase alphanumeric body (Ollama's `call_xxxxxxxx`).
pub(crate) fn new_id_lower(prefix: &str, len: usize) -> String {
    new_id_from(prefix, len, LOWER36)
}

/// A fresh hexadecimal request id body.
pub(crate) fn new_hex_id(prefix: &str, len: usize) -> String {
    new_id_from(prefix, len, b"0123456789abcdef")
}

/// Standard base64 with padding.
pub(crate) fn base64_encode(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b0 = u32::from(chunk[0]);
        let b1 = u32::from(chunk.get(1).copied().unwrap_or(0));
        let b2 = u32::from(chunk.get(2).copied().unwrap_or(0));
        let n = (b0 << 16) | (b1 << 8) | b2;
        let sym = |shift: u32| char::from(T[((n >> shift) & 63) as usize]);
        out.push(sym(18));
        out.push(sym(12));
        out.push(if chunk.len() > 1 { sym(6) } else { '=' });
        out.push(if chunk.len() > 2 { sym(0) } else { '=' });
    }
    out
}

/// Whether `s` is base64 as protobuf's JSON mapping reads `bytes`: the standard or the
/// URL-safe alphabet, padded or not.
pub(crate) fn is_base64(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    s.len() - body.len() <= 2
        && body.len() % 4 != 1
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_'))
}

/// Splits `s` into pieces that each hold one word plus the whitespace before
/// it; concatenating the pieces gives `s` back. Whitespace after the last word
/// becomes its own piece.
pub(crate) fn word_pieces(s: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut prev_ws = true;
    let mut seen_word = false;
    for (i, c) in s.char_indices() {
        let ws = c.is_whitespace();
        if ws && !prev_ws && seen_word {
            pieces.push(&s[start..i]);
            start = i;
        }
        if !ws {
            seen_word = true;
        }
        prev_ws = ws;
    }
    if start < s.len() {
        pieces.push(&s[start..]);
    }
    pieces
}

/// Number of whitespace-separated words.
pub(crate) fn word_count(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

/// `s` cut after its `n`th word (trailing whitespace dropped).
pub(crate) fn first_words(s: &str, n: u64) -> String {
    let mut out = String::new();
    let mut taken = 0;
    for p in word_pieces(s) {
        if taken >= n {
            break;
        }
        if !p.trim().is_empty() {
            out.push_str(p);
            taken += 1;
        }
    }
    if n == 0 {
        return String::new();
    }
    out
}

/// Splits `s` into at least two non-empty fragments (when it has at least two
/// characters) of at most 16 characters each.
pub(crate) fn fragments(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() < 2 {
        return vec![s.to_string()];
    }
    let size = chars.len().div_ceil(2).clamp(1, 16);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pieces_roundtrip() {
        for s in ["", "a", "echo: hello  world", " lead", "trail ", "a\nb\tc"] {
            assert_eq!(word_pieces(s).concat(), s);
        }
        assert_eq!(
            word_pieces("echo: hi there"),
            vec!["echo:", " hi", " there"]
        );
        assert_eq!(first_words("a b c", 2), "a b");
        assert_eq!(first_words("a b c", 0), "");
    }

    #[test]
    fn base64_validity() {
        for ok in [
            "",
            "Zg==",
            "Zm8",
            "Zm9vYmFy",
            "a-_b",
            "skip_thought_signature_validator",
        ] {
            assert!(is_base64(ok), "{ok}");
        }
        for bad in ["Z", "Zg===", "a b", "é"] {
            assert!(!is_base64(bad), "{bad}");
        }
    }

    #[test]
    fn base64_known() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0, None), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000, None), "2023-11-14T22:13:20Z");
        assert_eq!(go_duration_ms(6), "6ms");
        assert_eq!(go_duration_ms(20_000), "20s");
        assert_eq!(go_duration_ms(360_000), "6m0s");
    }

    #[test]
    fn fragments_at_least_two() {
        assert_eq!(fragments("{\"a\":\"b\"}").concat(), "{\"a\":\"b\"}");
        assert!(fragments("{\"a\":\"b\"}").len() >= 2);
    }
}
