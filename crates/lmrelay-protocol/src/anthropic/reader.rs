//! The upstream-side stream decoder: Anthropic Messages SSE frames as canonical
//! [`StreamEvent`]s (protocols.md §2.7, recipe B of §10.10).
//!
//! - Tool calls are numbered by a counter of `tool_use` blocks, not by Anthropic's block
//!   index; deltas of other blocks (server tools) are skipped.
//! - Usage is reported once per `message_delta` as a cumulative snapshot: input and cache
//!   counts from `message_start` unless the delta repeats them, output from the delta.
//! - The stream is complete at `message_stop` or an `error` event; whatever follows is
//!   ignored, and an end before either is reported as an error.

use super::error::stream_error;
use super::response::finish_reason;
use super::wire::{WireBlock, WireDelta, WireFrame, WireUsage};
use crate::sse::{SseEvent, SseParser};
use crate::stream::premature_end;
use crate::StreamDecoder;
use lmrelay_ir::{ApiError, ErrorKind, FinishReason, StreamEvent};
use serde_json::Value;

/// Decodes an Anthropic Messages SSE stream into canonical events.
#[derive(Debug, Default)]
pub struct StreamReader {
    parser: SseParser,
    /// Parsed SSE events not yet handled (reused between feeds).
    pending: Vec<SseEvent>,
    /// `message_stop` or an error has been seen.
    done: bool,
    finished: bool,
    /// Anthropic block index → canonical tool index.
    tool_blocks: Vec<(u64, u32)>,
    next_tool: u32,
    usage: WireUsage,
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
        if event.data.trim().is_empty() {
            return;
        }
        let frame = match serde_json::from_str::<WireFrame>(&event.data) {
            Ok(frame) => frame,
            Err(e) => {
                self.done = true;
                out.push(StreamEvent::Error(ApiError::new(
                    ErrorKind::BadGateway,
                    format!("Anthropic sent a stream event lmrelay cannot read: {e}"),
                )));
                return;
            }
        };
        match frame {
            WireFrame::MessageStart { message } => {
                self.usage = message.usage;
                out.push(StreamEvent::Start {
                    id: message.id,
                    model: message.model,
                });
                // Input and cache counts are known now, for clients that read them from
                // their own start frame.
                out.push(StreamEvent::Usage(self.usage.to_usage()));
            }
            WireFrame::ContentBlockStart {
                index,
                content_block,
            } => self.block_start(index, content_block, out),
            WireFrame::ContentBlockDelta { index, delta } => self.block_delta(index, delta, out),
            WireFrame::MessageDelta { delta, usage } => {
                let u = &mut self.usage;
                u.output_tokens = usage.output_tokens.or(u.output_tokens);
                u.input_tokens = usage.input_tokens.or(u.input_tokens);
                u.cache_read_input_tokens =
                    usage.cache_read_input_tokens.or(u.cache_read_input_tokens);
                u.cache_creation_input_tokens = usage
                    .cache_creation_input_tokens
                    .or(u.cache_creation_input_tokens);
                out.push(StreamEvent::Usage(self.usage.to_usage()));
                if let Some(reason) = delta.stop_reason.as_deref() {
                    self.finished = true;
                    out.push(StreamEvent::Finish {
                        reason: finish_reason(Some(reason)).with_tool_calls(self.next_tool > 0),
                        stop_sequence: delta.stop_sequence,
                    });
                }
            }
            WireFrame::MessageStop {} => {
                if !self.finished {
                    self.finished = true;
                    out.push(StreamEvent::Finish {
                        reason: FinishReason::Stop.with_tool_calls(self.next_tool > 0),
                        stop_sequence: None,
                    });
                }
                self.done = true;
            }
            WireFrame::Error { error } => {
                self.done = true;
                out.push(StreamEvent::Error(stream_error(&error)));
            }
            WireFrame::ContentBlockStop {} | WireFrame::Other => {}
        }
    }

    fn block_start(&mut self, index: u64, block: WireBlock, out: &mut Vec<StreamEvent>) {
        match block {
            WireBlock::Text { text, .. } if !text.is_empty() => {
                out.push(StreamEvent::TextDelta(text))
            }
            WireBlock::Thinking {
                thinking,
                signature,
            } => {
                if !thinking.is_empty() {
                    out.push(StreamEvent::ReasoningDelta(thinking));
                }
                if let Some(s) = signature.filter(|s| !s.is_empty()) {
                    out.push(StreamEvent::ReasoningSignature(s));
                }
            }
            WireBlock::RedactedThinking { data } => out.push(StreamEvent::RedactedReasoning(data)),
            WireBlock::ToolUse {
                id, name, input, ..
            } => {
                let tool = self.next_tool;
                self.next_tool += 1;
                self.tool_blocks.push((index, tool));
                out.push(StreamEvent::ToolCallStart {
                    index: tool,
                    id,
                    name,
                });
                // Some proxies send the whole input in the start block.
                if matches!(&input, Value::Object(o) if !o.is_empty()) {
                    out.push(StreamEvent::ToolCallDelta {
                        index: tool,
                        arguments: input.to_string(),
                    });
                }
            }
            _ => {}
        }
    }

    fn block_delta(&mut self, index: u64, delta: WireDelta, out: &mut Vec<StreamEvent>) {
        match delta {
            WireDelta::TextDelta { text } if !text.is_empty() => {
                out.push(StreamEvent::TextDelta(text))
            }
            WireDelta::ThinkingDelta { thinking } if !thinking.is_empty() => {
                out.push(StreamEvent::ReasoningDelta(thinking))
            }
            WireDelta::SignatureDelta { signature } if !signature.is_empty() => {
                out.push(StreamEvent::ReasoningSignature(signature))
            }
            WireDelta::InputJsonDelta { partial_json } if !partial_json.is_empty() => {
                if let Some(&(_, tool)) = self.tool_blocks.iter().rev().find(|(b, _)| *b == index) {
                    out.push(StreamEvent::ToolCallDelta {
                        index: tool,
                        arguments: partial_json,
                    });
                }
            }
            _ => {}
        }
    }
}

impl StreamDecoder for StreamReader {
    /// Deltas of a content block and pings are content alone; every other event (the
    /// message's start, its delta with usage and stop reason, its stop, errors, the blocks'
    /// starts and stops) is decoded.
    fn content_only(&self, event: &[u8]) -> bool {
        let name = event
            .strip_prefix(b"event:")
            .map(|rest| rest.trim_ascii_start())
            .unwrap_or_default();
        [&b"content_block_delta"[..], b"ping"].iter().any(|n| {
            name.strip_prefix(*n)
                .is_some_and(|rest| rest.first().is_some_and(|b| *b == b'\n' || *b == b'\r'))
        })
    }

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
        if !self.done {
            self.done = true;
            out.push(StreamEvent::Error(premature_end()));
        }
    }
}
