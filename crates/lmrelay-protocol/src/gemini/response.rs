//! Decoding a non-streamed `GenerateContentResponse` (protocols.md §4.3), and the pieces the
//! stream reader shares: parts, finish reasons, usage and function-call ids.
//!
//! - `thought: true` text is reasoning; a `thoughtSignature` is kept byte-exact behind the
//!   Gemini tag of `crate::signature` — on the reasoning part of a signed thought, or on an
//!   empty reasoning part right before the function call or text it signs.
//! - A tool-calling turn ends with `STOP`: tool calls make it `ToolCalls`.
//! - A prompt blocked before any candidate (`promptFeedback.blockReason`) is a content-filter
//!   finish with no content.
//! - Usage: `promptTokenCount` includes cached tokens, as the canonical `input` does;
//!   `candidatesTokenCount` excludes thoughts, the canonical `output` includes them.

use super::error::error_from_body;
use super::wire::{WirePart, WireResponse, WireUsage};
use crate::json;
use crate::signature::{gemini_part, gemini_thought};
use lmrelay_ir::{ApiError, ChatResponse, ContentPart, ErrorKind, FinishReason, Usage};

/// Decodes an upstream Gemini answer. A body that is not one is a 502.
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, ApiError> {
    let wire: WireResponse = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorKind::BadGateway,
            format!("Gemini returned a response that is not a GenerateContentResponse: {e}"),
        )
    })?;
    if let Some(error) = &wire.error {
        return Err(error_from_body(error, 502));
    }
    let mut ids = CallIds::new(&wire.response_id);
    let mut content = Vec::new();
    let mut finish = None;
    let blocked = wire
        .prompt_feedback
        .as_ref()
        .and_then(|f| f.block_reason.as_deref())
        .is_some();
    if let Some(candidate) = first_candidate(wire.candidates) {
        for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
            push_part(part, &mut ids, &mut content);
        }
        finish = candidate.finish_reason;
    }
    let mut resp = ChatResponse {
        id: wire.response_id,
        model: wire.model_version,
        content,
        finish: FinishReason::Stop,
        stop_sequence: None,
        usage: wire.usage_metadata.map(to_usage).unwrap_or_default(),
    };
    resp.finish = match finish.as_deref() {
        Some(reason) => finish_reason(reason).with_tool_calls(resp.has_tool_calls()),
        None if blocked => FinishReason::ContentFilter,
        None => FinishReason::Stop.with_tool_calls(resp.has_tool_calls()),
    };
    Ok(resp)
}

/// Candidate 0 (lmrelay asks for one).
pub(super) fn first_candidate(
    candidates: Vec<super::wire::WireCandidate>,
) -> Option<super::wire::WireCandidate> {
    let mut iter = candidates.into_iter();
    let first = iter.next()?;
    if first.index.unwrap_or(0) == 0 {
        return Some(first);
    }
    iter.find(|c| c.index.unwrap_or(0) == 0).or(Some(first))
}

/// Appends the canonical parts of one wire part.
fn push_part(part: WirePart, ids: &mut CallIds, out: &mut Vec<ContentPart>) {
    let signature = part.thought_signature.filter(|s| !s.is_empty());
    if let Some(call) = part.function_call {
        if let Some(s) = signature {
            out.push(signed(gemini_part(&s)));
        }
        out.push(ContentPart::ToolCall {
            id: ids.next(call.id, &call.name),
            arguments: json::object_to_arguments(&call.args),
            name: call.name,
            cache_control: None,
        });
        return;
    }
    let Some(text) = part.text else {
        return;
    };
    if part.thought {
        out.push(ContentPart::Reasoning {
            text,
            signature: signature.map(|s| gemini_thought(&s)),
        });
        return;
    }
    if let Some(s) = signature {
        out.push(signed(gemini_part(&s)));
    }
    if !text.is_empty() {
        out.push(ContentPart::text(text));
    }
}

/// An empty reasoning part that carries a signature for the part after it.
fn signed(signature: String) -> ContentPart {
    ContentPart::Reasoning {
        text: String::new(),
        signature: Some(signature),
    }
}

/// Canonical finish reason of a Gemini `finishReason` (protocols.md §10.7). Malformed and
/// unexpected tool calls, and reasons not known yet, are a natural stop.
pub(super) fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "LANGUAGE"
        | "OTHER"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION"
        | "IMAGE_OTHER"
        | "NO_IMAGE" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

/// Canonical usage of a `usageMetadata`.
pub(super) fn to_usage(u: WireUsage) -> Usage {
    Usage {
        input: u.prompt_token_count + u.tool_use_prompt_token_count,
        output: u.candidates_token_count + u.thoughts_token_count.unwrap_or(0),
        cache_read: u.cached_content_token_count,
        cache_write: 0,
        reasoning: u.thoughts_token_count,
    }
}

/// Ids for function calls. Gemini usually sends none; the ones made here depend only on the
/// response id and the call's position and name, so one answer always gets the same ids.
pub(super) struct CallIds {
    seed: u64,
    count: u64,
}

// === impl CallIds ===

impl CallIds {
    pub(super) fn new(response_id: &str) -> Self {
        let seed = if response_id.is_empty() {
            fastrand::u64(..)
        } else {
            fnv1a(FNV_OFFSET, response_id.as_bytes())
        };
        CallIds { seed, count: 0 }
    }

    /// The call's own id when Gemini sent one, else `call_` + 24 alphanumerics.
    pub(super) fn next(&mut self, given: Option<String>, name: &str) -> String {
        self.count += 1;
        if let Some(id) = given.filter(|i| !i.is_empty()) {
            return id;
        }
        let mut h = fnv1a(self.seed ^ self.count, name.as_bytes());
        let mut id = String::with_capacity(29);
        id.push_str("call_");
        for _ in 0..24 {
            h = splitmix(h);
            id.push(char::from(ALPHANUM[(h % ALPHANUM.len() as u64) as usize]));
        }
        id
    }
}

const ALPHANUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
