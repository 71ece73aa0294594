//! The `ConverseStream` decoder: AWS event-stream frames as canonical [`StreamEvent`]s
//! (protocols.md §6.4, recipe H of §10.10).
//!
//! - `messageStart` gives `Start` (Bedrock streams carry no id or model name).
//! - `contentBlockStart` is sent only for tool use: it gives `ToolCallStart`; text and
//!   reasoning blocks open with their first delta.
//! - `contentBlockDelta`: text, tool input fragments (partial JSON), reasoning text,
//!   signatures and redacted reasoning (both behind the `bedrock:` tag).
//! - `messageStop` holds the stop reason; `metadata` (usage) follows it. Usage and the finish
//!   are reported at `metadata`, or at the end of the body if it never came.
//! - An exception frame (`:message-type` `exception` or `error`) ends the stream with an
//!   error. A broken frame (checksum, lengths) also does.

use super::error::decode_error;
use super::eventstream::{Frame, FrameReader};
use super::response::{stop_reason, stop_sequence, to_usage, WireUsage};
use crate::signature::bedrock;
use crate::stream::premature_end;
use crate::{json, StreamDecoder};
use lmrelay_ir::{ApiError, ErrorKind, FinishReason, StreamEvent};
use serde_json::Value;
use std::collections::HashMap;

/// Decodes a Bedrock ConverseStream into canonical events.
#[derive(Default)]
pub struct StreamReader {
    frames: FrameReader,
    pending: Vec<Frame>,
    started: bool,
    /// Bedrock block index → canonical tool-call index, for tool-use blocks.
    tools: HashMap<u64, u32>,
    next_tool: u32,
    /// The `messageStop` seen, waiting for `metadata`.
    stop: Option<(FinishReason, Option<String>)>,
    finished: bool,
    /// The stream ended (an error, or `metadata` after `messageStop`); nothing more is read.
    done: bool,
}

// === impl StreamReader ===

impl StreamReader {
    pub fn new() -> Self {
        Self::default()
    }

    fn fail(&mut self, error: ApiError, out: &mut Vec<StreamEvent>) {
        self.done = true;
        out.push(StreamEvent::Error(error));
    }

    fn start(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: String::new(),
                model: String::new(),
            });
        }
    }

    fn finish_now(&mut self, out: &mut Vec<StreamEvent>) {
        if self.finished {
            return;
        }
        if let Some((reason, stop_sequence)) = self.stop.take() {
            self.finished = true;
            out.push(StreamEvent::Finish {
                reason: reason.with_tool_calls(self.next_tool > 0),
                stop_sequence,
            });
        }
    }

    fn handle(&mut self, frame: &Frame, out: &mut Vec<StreamEvent>) {
        let message_type = frame.header(":message-type").unwrap_or("event");
        if message_type != "event" {
            let error = if message_type == "exception" {
                decode_error(500, frame.header(":exception-type"), &frame.payload)
            } else {
                let code = frame.header(":error-code").unwrap_or("error");
                let message = frame
                    .header(":error-message")
                    .unwrap_or("Bedrock reported an error in the stream.");
                let body = serde_json::json!({ "message": message }).to_string();
                decode_error(500, Some(code), body.as_bytes())
            };
            self.fail(error, out);
            return;
        }
        let event_type = frame.header(":event-type").unwrap_or("");
        let payload: Value = match serde_json::from_slice(&frame.payload) {
            Ok(v) => v,
            Err(e) => {
                let error = ApiError::new(
                    ErrorKind::BadGateway,
                    format!(
                        "Bedrock sent a `{event_type}` event lmrelay cannot read ({e}): {}",
                        json::snippet(&frame.payload)
                    ),
                );
                self.fail(error, out);
                return;
            }
        };
        let index = payload.get("contentBlockIndex").and_then(Value::as_u64);
        match event_type {
            "messageStart" => self.start(out),
            "contentBlockStart" => {
                self.start(out);
                if let Some(tool) = payload.get("start").and_then(|s| s.get("toolUse")) {
                    let str_of =
                        |k: &str| tool.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                    let t = self.next_tool;
                    self.next_tool += 1;
                    self.tools.insert(index.unwrap_or(u64::MAX), t);
                    out.push(StreamEvent::ToolCallStart {
                        index: t,
                        id: str_of("toolUseId"),
                        name: str_of("name"),
                    });
                }
            }
            "contentBlockDelta" => {
                self.start(out);
                let Some(delta) = payload.get("delta") else {
                    return;
                };
                if let Some(text) = delta.get("text").and_then(Value::as_str) {
                    if !text.is_empty() {
                        out.push(StreamEvent::TextDelta(text.to_owned()));
                    }
                } else if let Some(tool) = delta.get("toolUse") {
                    let input = tool.get("input").and_then(Value::as_str).unwrap_or("");
                    match self.tools.get(&index.unwrap_or(u64::MAX)) {
                        Some(&t) if !input.is_empty() => out.push(StreamEvent::ToolCallDelta {
                            index: t,
                            arguments: input.to_owned(),
                        }),
                        Some(_) => {}
                        None => self.fail(
                            ApiError::new(
                                ErrorKind::BadGateway,
                                "Bedrock streamed tool input for a block it never started.",
                            ),
                            out,
                        ),
                    }
                } else if let Some(r) = delta.get("reasoningContent") {
                    let str_of = |k: &str| r.get(k).and_then(Value::as_str);
                    if let Some(text) = str_of("text").filter(|t| !t.is_empty()) {
                        out.push(StreamEvent::ReasoningDelta(text.to_owned()));
                    }
                    if let Some(sig) = str_of("signature").filter(|s| !s.is_empty()) {
                        out.push(StreamEvent::ReasoningSignature(bedrock(sig)));
                    }
                    if let Some(data) = str_of("redactedContent").filter(|s| !s.is_empty()) {
                        out.push(StreamEvent::RedactedReasoning(bedrock(data)));
                    }
                }
            }
            "messageStop" => {
                self.start(out);
                let reason = payload
                    .get("stopReason")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                self.stop = Some((
                    stop_reason(reason),
                    stop_sequence(payload.get("additionalModelResponseFields")),
                ));
            }
            "metadata" => {
                self.start(out);
                if let Some(u) = payload.get("usage") {
                    if let Ok(u) = <WireUsage as serde::Deserialize>::deserialize(u) {
                        out.push(StreamEvent::Usage(to_usage(u)));
                    }
                }
                if self.stop.is_some() {
                    self.finish_now(out);
                    self.done = true;
                }
            }
            // contentBlockStop and event types not known yet.
            _ => {}
        }
    }

    fn handle_pending(&mut self, out: &mut Vec<StreamEvent>) {
        let mut pending = std::mem::take(&mut self.pending);
        for frame in pending.drain(..) {
            if self.done {
                break;
            }
            self.handle(&frame, out);
        }
        self.pending = pending;
    }
}

impl StreamDecoder for StreamReader {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        let framed = self.frames.feed(bytes, &mut self.pending);
        self.handle_pending(out);
        if let Err(e) = framed {
            if !self.done {
                let message = format!("Bedrock sent a broken event stream: {}.", e.0);
                self.fail(ApiError::new(ErrorKind::BadGateway, message), out);
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        self.done = true;
        if self.frames.has_partial() || self.stop.is_none() {
            out.push(StreamEvent::Error(premature_end()));
            return;
        }
        self.finish_now(out);
    }
}
