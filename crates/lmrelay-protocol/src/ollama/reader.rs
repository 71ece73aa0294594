//! [`StreamReader`]: an Ollama upstream's NDJSON stream as canonical events (§10.10 recipes
//! D and E, edge case E11).
//!
//! Tool calls arrive whole, possibly on a line before the `done` line; each becomes a
//! `ToolCallStart` plus one `ToolCallDelta` carrying all its arguments, numbered across the
//! whole stream. Ollama says `stop` even after tool calls, so the finish reason is derived
//! from whether any call was seen.

use super::chat::decode_call;
use super::error::in_band_error;
use super::response::finish_from;
use super::wire::WireResponse;
use crate::ndjson::NdjsonParser;
use crate::{stream::premature_end, tools, StreamDecoder};
use lmrelay_ir::{ApiError, ContentPart, ErrorKind, StreamEvent, Usage};

/// Reads an Ollama NDJSON stream (`/api/chat` or `/api/generate`).
#[derive(Debug, Default)]
pub struct StreamReader {
    parser: NdjsonParser,
    started: bool,
    next_index: u32,
    /// The `done` line or an error has been seen: nothing more is decoded.
    ended: bool,
}

// === impl StreamReader ===

impl StreamReader {
    pub fn new() -> Self {
        Self::default()
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<StreamEvent>) {
        if self.ended {
            return;
        }
        let wire: WireResponse = match serde_json::from_slice(line) {
            Ok(w) => w,
            Err(e) => {
                self.ended = true;
                out.push(StreamEvent::Error(ApiError::new(
                    ErrorKind::BadGateway,
                    format!("The Ollama upstream sent a stream line lmrelay cannot read: {e}"),
                )));
                return;
            }
        };
        if let Some(err) = &wire.error {
            self.ended = true;
            out.push(StreamEvent::Error(in_band_error(err)));
            return;
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: tools::random_id("", 24),
                model: wire.model.clone().unwrap_or_default(),
            });
        }
        let (text, thinking, calls) = match wire.message {
            Some(m) => (m.content, m.thinking, m.tool_calls.unwrap_or_default()),
            None => (wire.response, wire.thinking, Vec::new()),
        };
        if let Some(t) = thinking.filter(|t| !t.is_empty()) {
            out.push(StreamEvent::ReasoningDelta(t));
        }
        if let Some(t) = text.filter(|t| !t.is_empty()) {
            out.push(StreamEvent::TextDelta(t));
        }
        for call in calls {
            if let ContentPart::ToolCall {
                id,
                name,
                arguments,
                ..
            } = decode_call(call, 24)
            {
                let index = self.next_index;
                self.next_index += 1;
                out.push(StreamEvent::ToolCallStart { index, id, name });
                out.push(StreamEvent::ToolCallDelta { index, arguments });
            }
        }
        if wire.done == Some(true) {
            self.ended = true;
            out.push(StreamEvent::Usage(Usage {
                input: wire.prompt_eval_count.unwrap_or(0),
                output: wire.eval_count.unwrap_or(0),
                ..Usage::default()
            }));
            out.push(StreamEvent::Finish {
                reason: finish_from(wire.done_reason.as_deref())
                    .with_tool_calls(self.next_index > 0),
                stop_sequence: None,
            });
        }
    }
}

impl StreamDecoder for StreamReader {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) {
        let mut lines = Vec::new();
        self.parser.feed(bytes, &mut lines);
        for l in lines {
            self.line(&l, out);
        }
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        let mut lines = Vec::new();
        self.parser.finish(&mut lines);
        for l in lines {
            self.line(&l, out);
        }
        if !self.ended {
            self.ended = true;
            out.push(StreamEvent::Error(premature_end()));
        }
    }
}
