//! The upstream-side stream decoder: `streamGenerateContent?alt=sse` chunks as canonical
//! [`StreamEvent`]s (protocols.md §4.4, recipe G of §10.10).
//!
//! - Every `data:` event is a whole `GenerateContentResponse` holding only new parts; the
//!   first one gives `Start`.
//! - A function call arrives whole: `ToolCallStart` and one `ToolCallDelta` with its
//!   arguments. A `thoughtSignature` becomes a `ReasoningSignature` with the Gemini tag of
//!   `crate::signature`: after the thought text it signs, or right before the call or text it
//!   belongs to.
//! - `usageMetadata` may come on many chunks; each is a snapshot, reported before the chunk's
//!   parts (later ones supersede earlier ones, never added up).
//! - There is no terminator: the stream is complete once a `finishReason` (or a blocked
//!   prompt) has been seen and the body ends. An `{"error": …}` chunk ends it with an error.

use super::error::error_from_body;
use super::response::{finish_reason, first_candidate, to_usage, CallIds};
use super::wire::{WirePart, WireResponse};
use crate::signature::{gemini_part, gemini_thought};
use crate::sse::{SseEvent, SseParser};
use crate::stream::premature_end;
use crate::{json, StreamDecoder};
use lmrelay_ir::{ApiError, ErrorKind, FinishReason, StreamEvent};

/// Decodes a Gemini SSE stream into canonical events.
#[derive(Default)]
pub struct StreamReader {
    parser: SseParser,
    /// Parsed SSE events not yet handled (reused between feeds).
    pending: Vec<SseEvent>,
    ids: Option<CallIds>,
    next_tool: u32,
    /// A finish reason has been reported.
    finished: bool,
    /// An error ended the stream; nothing more is read.
    done: bool,
}

// === impl StreamReader ===

impl StreamReader {
    pub fn new() -> Self {
        Self::default()
    }

    fn handle_pending(&mut self, out: &mut Vec<StreamEvent>) {
        let mut pending = std::mem::take(&mut self.pending);
        for event in pending.drain(..) {
            if self.done {
                break;
            }
            self.handle(&event, out);
        }
        self.pending = pending;
    }

    fn handle(&mut self, event: &SseEvent, out: &mut Vec<StreamEvent>) {
        let data = event.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return;
        }
        let chunk = match serde_json::from_str::<WireResponse>(data) {
            Ok(chunk) => chunk,
            Err(e) => {
                self.done = true;
                out.push(StreamEvent::Error(ApiError::new(
                    ErrorKind::BadGateway,
                    format!(
                        "Gemini sent a stream chunk lmrelay cannot read ({e}): {}",
                        json::snippet(data.as_bytes())
                    ),
                )));
                return;
            }
        };
        if let Some(error) = &chunk.error {
            self.done = true;
            out.push(StreamEvent::Error(error_from_body(error, 500)));
            return;
        }
        let ids = match &mut self.ids {
            Some(ids) => ids,
            None => {
                out.push(StreamEvent::Start {
                    id: chunk.response_id.clone(),
                    model: chunk.model_version.clone(),
                });
                self.ids.insert(CallIds::new(&chunk.response_id))
            }
        };
        let blocked = chunk
            .prompt_feedback
            .as_ref()
            .and_then(|f| f.block_reason.as_deref())
            .is_some();
        // Usage first: the first chunk's prompt count is then known before any content
        // (clients such as Anthropic's report it in their opening frame).
        if let Some(u) = chunk.usage_metadata {
            out.push(StreamEvent::Usage(to_usage(u)));
        }
        let mut reason = None;
        if let Some(candidate) = first_candidate(chunk.candidates) {
            for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
                part_events(part, ids, &mut self.next_tool, out);
            }
            reason = candidate.finish_reason;
        }
        let finish = match reason.as_deref() {
            Some(r) => Some(finish_reason(r)),
            None if blocked => Some(FinishReason::ContentFilter),
            None => None,
        };
        if let Some(reason) = finish.filter(|_| !self.finished) {
            self.finished = true;
            out.push(StreamEvent::Finish {
                reason: reason.with_tool_calls(self.next_tool > 0),
                stop_sequence: None,
            });
        }
    }
}

/// The events of one streamed part.
fn part_events(part: WirePart, ids: &mut CallIds, next_tool: &mut u32, out: &mut Vec<StreamEvent>) {
    let signature = part.thought_signature.filter(|s| !s.is_empty());
    if let Some(call) = part.function_call {
        if let Some(s) = signature {
            out.push(StreamEvent::ReasoningSignature(gemini_part(&s)));
        }
        let index = *next_tool;
        *next_tool += 1;
        out.push(StreamEvent::ToolCallStart {
            index,
            id: ids.next(call.id, &call.name),
            name: call.name,
        });
        out.push(StreamEvent::ToolCallDelta {
            index,
            arguments: json::object_to_arguments(&call.args),
        });
        return;
    }
    let Some(text) = part.text else {
        return;
    };
    if part.thought {
        if !text.is_empty() {
            out.push(StreamEvent::ReasoningDelta(text));
        }
        if let Some(s) = signature {
            out.push(StreamEvent::ReasoningSignature(gemini_thought(&s)));
        }
        return;
    }
    if let Some(s) = signature {
        out.push(StreamEvent::ReasoningSignature(gemini_part(&s)));
    }
    if !text.is_empty() {
        out.push(StreamEvent::TextDelta(text));
    }
}

impl StreamDecoder for StreamReader {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        self.parser.feed(bytes, &mut self.pending);
        self.handle_pending(out);
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        self.parser.finish(&mut self.pending);
        self.handle_pending(out);
        if !self.done && !self.finished {
            out.push(StreamEvent::Error(premature_end()));
        }
        self.done = true;
    }
}
