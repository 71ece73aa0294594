//! The upstream-side stream decoder: Cohere v2 SSE events as canonical [`StreamEvent`]s
//! (protocols.md §7, recipe I of §10.10).
//!
//! - Every `data:` is a JSON object with a `type`; `message-start` gives `Start`.
//! - `content-delta` carries text or thinking; `tool-plan-delta` is reasoning text.
//! - `tool-call-start` carries a single call object (not a list) with the first argument
//!   fragment; `tool-call-delta` the rest. Cohere's `index` is mapped to consecutive
//!   canonical indexes.
//! - `message-end` carries the finish reason and usage and ends the stream. A body that ends
//!   without it is a premature end; `[DONE]` is tolerated and ignored.

use super::error::decode_error;
use super::response::{arguments_text, finish_reason, to_usage, WireUsage};
use crate::sse::{SseEvent, SseParser};
use crate::stream::premature_end;
use crate::{json, StreamDecoder};
use lmrelay_ir::{ApiError, ErrorKind, FinishReason, StreamEvent};
use serde_json::Value;

/// Decodes a Cohere v2 chat stream into canonical events.
#[derive(Default)]
pub struct StreamReader {
    parser: SseParser,
    pending: Vec<SseEvent>,
    started: bool,
    /// Cohere's tool-call index → canonical index.
    tools: Vec<(u64, u32)>,
    /// The canonical index of the call whose arguments are streaming.
    current_tool: Option<u32>,
    /// `message-end` (or an error) has been handled; nothing more is read.
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

    fn fail(&mut self, error: ApiError, out: &mut Vec<StreamEvent>) {
        self.done = true;
        out.push(StreamEvent::Error(error));
    }

    fn start(&mut self, id: &str, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: id.to_owned(),
                model: String::new(),
            });
        }
    }

    fn handle(&mut self, event: &SseEvent, out: &mut Vec<StreamEvent>) {
        let data = event.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return;
        }
        let v: Value = match serde_json::from_str(data) {
            Ok(v) => v,
            Err(e) => {
                let error = ApiError::new(
                    ErrorKind::BadGateway,
                    format!(
                        "Cohere sent a stream event lmrelay cannot read ({e}): {}",
                        json::snippet(data.as_bytes())
                    ),
                );
                return self.fail(error, out);
            }
        };
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .or(event.event.as_deref())
            .unwrap_or_default();
        let delta_message = v.get("delta").and_then(|d| d.get("message"));
        let id = v.get("id").and_then(Value::as_str).unwrap_or_default();
        match kind {
            "message-start" => self.start(id, out),
            "content-delta" => {
                self.start(id, out);
                let content = delta_message.and_then(|m| m.get("content"));
                let text = content.and_then(|c| c.get("text")).and_then(Value::as_str);
                let thinking = content
                    .and_then(|c| c.get("thinking"))
                    .and_then(Value::as_str);
                if let Some(t) = thinking.filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::ReasoningDelta(t.to_owned()));
                }
                if let Some(t) = text.filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::TextDelta(t.to_owned()));
                }
            }
            "tool-plan-delta" => {
                self.start(id, out);
                let plan = delta_message
                    .and_then(|m| m.get("tool_plan"))
                    .and_then(Value::as_str);
                if let Some(p) = plan.filter(|p| !p.is_empty()) {
                    out.push(StreamEvent::ReasoningDelta(p.to_owned()));
                }
            }
            "tool-call-start" => {
                self.start(id, out);
                let call = delta_message.and_then(|m| m.get("tool_calls"));
                // A list is tolerated: its first element is the call.
                let call = match call {
                    Some(Value::Array(items)) => items.first(),
                    other => other,
                };
                let Some(call) = call else {
                    let error = ApiError::new(
                        ErrorKind::BadGateway,
                        "Cohere sent a tool-call-start without a tool call.",
                    );
                    return self.fail(error, out);
                };
                let index = self.tools.len() as u32;
                let wire_index = v
                    .get("index")
                    .and_then(Value::as_u64)
                    .unwrap_or(index.into());
                self.tools.push((wire_index, index));
                self.current_tool = Some(index);
                let function = call.get("function");
                let name = function
                    .and_then(|f| f.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let id = call
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map_or_else(|| crate::tools::random_id("call_", 24), str::to_owned);
                out.push(StreamEvent::ToolCallStart {
                    index,
                    id,
                    name: name.to_owned(),
                });
                let args = arguments_text(function.and_then(|f| f.get("arguments")).cloned());
                if !args.is_empty() {
                    out.push(StreamEvent::ToolCallDelta {
                        index,
                        arguments: args,
                    });
                }
            }
            "tool-call-delta" => {
                let wire_index = v.get("index").and_then(Value::as_u64);
                let index = wire_index
                    .and_then(|w| self.tools.iter().find(|(wi, _)| *wi == w).map(|t| t.1))
                    .or(self.current_tool);
                let args = delta_message
                    .and_then(|m| m.get("tool_calls"))
                    .and_then(|c| c.get("function"))
                    .and_then(|f| f.get("arguments"))
                    .and_then(Value::as_str);
                if let (Some(index), Some(a)) = (index, args.filter(|a| !a.is_empty())) {
                    out.push(StreamEvent::ToolCallDelta {
                        index,
                        arguments: a.to_owned(),
                    });
                }
            }
            "tool-call-end" => self.current_tool = None,
            "message-end" => {
                self.start(id, out);
                self.done = true;
                let delta = v.get("delta");
                if let Some(u) = delta.and_then(|d| d.get("usage")) {
                    if let Ok(u) = <WireUsage as serde::Deserialize>::deserialize(u) {
                        out.push(StreamEvent::Usage(to_usage(u)));
                    }
                }
                let reason = delta
                    .and_then(|d| d.get("finish_reason"))
                    .and_then(Value::as_str)
                    .map_or(FinishReason::Stop, finish_reason);
                if reason == FinishReason::Error {
                    let message = delta
                        .and_then(|d| d.get("error"))
                        .and_then(Value::as_str)
                        .unwrap_or("Cohere ended the answer with an error.");
                    out.push(StreamEvent::Error(ApiError::new(
                        ErrorKind::Server,
                        message.to_owned(),
                    )));
                    return;
                }
                out.push(StreamEvent::Finish {
                    reason: reason.with_tool_calls(!self.tools.is_empty()),
                    stop_sequence: None,
                });
            }
            // An error object in the stream (what proxies in front of Cohere send).
            _ if v.get("message").is_some() && v.get("type").is_none() => {
                let error = decode_error(500, data.as_bytes());
                self.fail(error, out);
            }
            // content-start/-end, citations, debug and future events carry nothing needed.
            _ => {}
        }
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
        if !self.done {
            out.push(StreamEvent::Error(premature_end()));
        }
        self.done = true;
    }
}
