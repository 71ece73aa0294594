//! The response cache, for routes that set `cache = true`: an answer is kept in the state
//! store for `[cache] ttl` and served again for the same request — to a client of any
//! protocol, streamed or not, because the key and the entry are canonical: the key hashes
//! the decoded request (what was asked, not how it was spelled on the wire), and the entry is
//! the canonical answer. Entries are scoped to the gateway key (one team never reads
//! another's answers) unless the route sets `cache_shared = true`; an entry holds at most
//! 1 MiB. `Cache-Control: no-cache` skips the lookup; answers that did not end properly are
//! not kept; tool-call ids are normalised (derived from the entry) before an answer is kept.
//! A hit costs nothing against budgets.

use crate::config::CacheConfig;
use crate::live::Live;
use crate::store::CounterOp;
use lmrelay_ir::{ChatRequest, ChatResponse, ContentPart};
use lmrelay_protocol::{anthropic, ResponseMeta};
use sha2::{Digest, Sha256};

/// The largest entry kept: bigger answers are served but not cached.
const MAX_ENTRY_BYTES: usize = 1 << 20;

/// The header that says whether an answer came from the cache.
pub const CACHE_HEADER: &str = "x-lmrelay-cache";

/// Whether a request asks not to be served from the cache.
pub fn refused(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|d| {
            matches!(
                d.trim().to_ascii_lowercase().as_str(),
                "no-cache" | "no-store"
            )
        })
}

/// The cache key of a request for gateway key `key` (`-` without one): a SHA-256 of the
/// canonical request without what does not change the answer (streaming, usage reporting,
/// Anthropic cache markers, fields only one protocol knows).
pub fn key(req: &ChatRequest, key_name: &str) -> String {
    let mut canonical = req.clone();
    canonical.stream = false;
    canonical.include_usage = false;
    canonical.extra.clear();
    for m in &mut canonical.messages {
        m.name = None;
        for part in &mut m.content {
            strip_cache_control(part);
        }
    }
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update([0]);
    h.update(key_name.as_bytes());
    h.update([0]);
    h.update(format!("{canonical:?}").as_bytes());
    let digest = h.finalize();
    let mut out = String::with_capacity(6 + 64);
    out.push_str("cache:");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn strip_cache_control(part: &mut ContentPart) {
    match part {
        ContentPart::Text { cache_control, .. }
        | ContentPart::Image { cache_control, .. }
        | ContentPart::File { cache_control, .. }
        | ContentPart::ToolCall { cache_control, .. } => *cache_control = None,
        ContentPart::ToolResult {
            cache_control,
            content,
            ..
        } => {
            *cache_control = None;
            content.iter_mut().for_each(strip_cache_control);
        }
        _ => {}
    }
}

/// A cached answer and the provider that gave it.
pub async fn get(live: &Live, key: &str) -> Option<(String, ChatResponse)> {
    let bytes = live.store.get(key).await.ok()??;
    let text_end = bytes.iter().position(|&b| b == b'\n')?;
    let provider = std::str::from_utf8(&bytes[..text_end]).ok()?.to_owned();
    let answer = anthropic::decode_response(&bytes[text_end + 1..]).ok()?;
    Some((provider, answer))
}

/// Keeps an answer for `cfg.ttl`, unless `max_entries` answers were added in this period
/// already.
pub async fn put(live: &Live, cfg: &CacheConfig, key: &str, provider: &str, answer: &ChatResponse) {
    let answer = &normalized(answer, key);
    let ttl = cfg.ttl;
    let period = crate::now_ms() / ttl.as_millis().max(1) as u64;
    let added = live
        .store
        .counters(&[CounterOp::add(
            format!("cache-added:{period}"),
            1,
            Some(ttl * 2),
        )])
        .await;
    if added.map_or(true, |n| n[0] as u64 > cfg.max_entries) {
        return;
    }
    // The entry is the canonical answer in Anthropic's message format, which carries every
    // part (reasoning with signatures, tool calls) and the usage, and reads back losslessly.
    let meta = ResponseMeta {
        model: answer.model.clone(),
        started_ms: 0,
        include_usage: true,
        include_reasoning: true,
        tool_namespaces: Vec::new(),
    };
    let mut bytes = Vec::with_capacity(provider.len() + 1024);
    bytes.extend_from_slice(provider.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(&anthropic::encode_response(answer, &meta));
    if bytes.len() > MAX_ENTRY_BYTES {
        return;
    }
    if let Err(e) = live.store.set(key, bytes.into(), Some(ttl)).await {
        tracing::warn!(error = %e, "answer not cached: the state store failed");
    }
}

/// The answer as it is kept: tool-call ids (which upstreams make up per answer) replaced by
/// ids derived from the entry's key and the call's position, so an entry never carries an
/// id minted for another exchange.
fn normalized(answer: &ChatResponse, key: &str) -> ChatResponse {
    let mut a = answer.clone();
    let tag = &key[key.len().saturating_sub(16)..];
    let mut n = 0;
    for part in &mut a.content {
        if let ContentPart::ToolCall { id, .. } = part {
            *id = format!("call_{tag}{n}");
            n += 1;
        }
    }
    a
}

/// Keeps an answer in the background (after the client has it).
pub fn put_later(
    live: std::sync::Arc<Live>,
    cfg: CacheConfig,
    key: String,
    provider: String,
    answer: ChatResponse,
) {
    tokio::spawn(async move {
        put(&live, &cfg, &key, &provider, &answer).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use lmrelay_ir::{Message, Role};

    fn req(text: &str) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages: vec![Message {
                role: Role::User,
                content: vec![ContentPart::Text {
                    text: text.into(),
                    cache_control: None,
                }],
                name: None,
            }],
            ..ChatRequest::default()
        }
    }

    #[test]
    fn keys_ignore_what_does_not_change_the_answer() {
        let a = req("hi");
        let mut b = req("hi");
        b.stream = true;
        b.include_usage = true;
        if let ContentPart::Text { cache_control, .. } = &mut b.messages[0].content[0] {
            *cache_control = Some(serde_json::json!({"type": "ephemeral"}));
        }
        assert_eq!(key(&a, "k"), key(&b, "k"));
        assert_ne!(key(&a, "k"), key(&req("ho"), "k"));
        assert_ne!(
            key(&a, "k"),
            key(&a, "other-team"),
            "scoped per gateway key"
        );
    }

    #[test]
    fn tool_call_ids_are_normalised() {
        let answer = ChatResponse {
            content: vec![
                ContentPart::ToolCall {
                    id: "toolu_random1".into(),
                    name: "f".into(),
                    arguments: "{}".into(),
                    cache_control: None,
                },
                ContentPart::ToolCall {
                    id: "toolu_random2".into(),
                    name: "g".into(),
                    arguments: "{}".into(),
                    cache_control: None,
                },
            ],
            ..ChatResponse::default()
        };
        let k = key(&req("hi"), "k");
        let ids = |a: &ChatResponse| -> Vec<String> {
            a.content
                .iter()
                .filter_map(|p| match p {
                    ContentPart::ToolCall { id, .. } => Some(id.clone()),
                    _ => None,
                })
                .collect()
        };
        let once = normalized(&answer, &k);
        assert_eq!(ids(&once), ids(&normalized(&answer, &k)), "deterministic");
        assert!(ids(&once).iter().all(|id| !id.contains("random")));
        assert_ne!(ids(&once)[0], ids(&once)[1]);
    }

    #[test]
    fn no_cache_is_honoured() {
        let mut h = http::HeaderMap::new();
        assert!(!refused(&h));
        h.insert(
            http::header::CACHE_CONTROL,
            "max-age=0, no-cache".parse().expect("value"),
        );
        assert!(refused(&h));
    }
}
