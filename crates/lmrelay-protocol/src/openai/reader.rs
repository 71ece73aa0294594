//! Reads an OpenAI(-compatible) upstream's SSE stream into canonical events.
//!
//! Absorbs what vendors do differently: tool-call names that arrive after their first
//! fragment (E9), whole calls in one chunk, several calls in one delta, reasoning under
//! `reasoning_content` or `reasoning`, usage in a trailing chunk or under `x_groq`, content
//! and `finish_reason` in the same chunk, empty `choices`, and `{"error":…}` chunks.

use super::response::{finish_from_str, WireUsage};
use crate::sse::{SseEvent, SseParser};
use crate::stream::premature_end;
use crate::tools::random_id;
use crate::StreamDecoder;
use lmrelay_ir::{ApiError, ErrorKind, FinishReason, StreamEvent};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    usage: Option<WireUsage>,
    x_groq: Option<XGroq>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct XGroq {
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: Delta,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct Delta {
    content: Option<String>,
    reasoning_content: Option<String>,
    reasoning: Option<String>,
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCallDelta>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: u32,
    id: Option<String>,
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    name: Option<String>,
    arguments: Option<String>,
}

/// A tool call being streamed: its upstream index, and arguments held until its name is known.
struct PendingCall {
    upstream_index: u32,
    id: Option<String>,
    /// Canonical index, once `ToolCallStart` has been emitted.
    started: Option<u32>,
    held_arguments: String,
}

/// Decoder of OpenAI Chat Completions streams.
pub struct StreamReader {
    sse: SseParser,
    frames: Vec<SseEvent>,
    started: bool,
    calls: Vec<PendingCall>,
    next_tool_index: u32,
    finish: Option<FinishReason>,
    done: bool,
    /// The upstream has closed; a frame that does not parse now was cut short.
    at_eof: bool,
}

// === impl StreamReader ===

impl Default for StreamReader {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamReader {
    pub fn new() -> Self {
        StreamReader {
            sse: SseParser::new(),
            frames: Vec::new(),
            started: false,
            calls: Vec::new(),
            next_tool_index: 0,
            finish: None,
            done: false,
            at_eof: false,
        }
    }

    fn on_frame(&mut self, data: &str, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        if data.trim() == "[DONE]" {
            self.flush_finish(out);
            self.done = true;
            return;
        }
        let chunk: Chunk = match serde_json::from_str(data) {
            Ok(c) => c,
            Err(_) if self.at_eof => {
                out.push(StreamEvent::Error(premature_end()));
                self.done = true;
                return;
            }
            Err(e) => {
                out.push(StreamEvent::Error(ApiError::new(
                    ErrorKind::BadGateway,
                    format!("The upstream sent a stream chunk lmrelay could not read: {e}"),
                )));
                self.done = true;
                return;
            }
        };
        if let Some(err) = chunk.error {
            out.push(StreamEvent::Error(stream_error(&err)));
            self.done = true;
            return;
        }
        // Azure opens with a chunk of only `prompt_filter_results` (no choices, `id: ""`):
        // the answer starts with the next chunk, which carries the real id and model.
        let preamble = chunk.choices.is_empty()
            && chunk.id.is_empty()
            && chunk.usage.is_none()
            && chunk.x_groq.is_none();
        if !self.started && preamble {
            return;
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: chunk.id,
                model: chunk.model,
            });
        }
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            let d = choice.delta;
            if let Some(r) = d
                .reasoning_content
                .or(d.reasoning)
                .filter(|r| !r.is_empty())
            {
                out.push(StreamEvent::ReasoningDelta(r));
            }
            if let Some(t) = d.content.filter(|t| !t.is_empty()) {
                out.push(StreamEvent::TextDelta(t));
            }
            if let Some(t) = d.refusal.filter(|t| !t.is_empty()) {
                out.push(StreamEvent::TextDelta(t));
            }
            for tc in d.tool_calls {
                self.on_tool_delta(tc, out);
            }
            if let Some(reason) = choice.finish_reason {
                self.finish = Some(finish_from_str(&reason));
            }
        }
        if let Some(u) = chunk.usage.or(chunk.x_groq.and_then(|x| x.usage)) {
            out.push(StreamEvent::Usage(u.to_usage()));
        }
    }

    fn on_tool_delta(&mut self, tc: ToolCallDelta, out: &mut Vec<StreamEvent>) {
        let pos = match self.calls.iter().position(|c| c.upstream_index == tc.index) {
            Some(p) => p,
            None => {
                self.calls.push(PendingCall {
                    upstream_index: tc.index,
                    id: None,
                    started: None,
                    held_arguments: String::new(),
                });
                self.calls.len() - 1
            }
        };
        let call = &mut self.calls[pos];
        if let Some(id) = tc.id.filter(|i| !i.is_empty()) {
            call.id.get_or_insert(id);
        }
        let (name, args) = match tc.function {
            Some(f) => (f.name.filter(|n| !n.is_empty()), f.arguments),
            None => (None, None),
        };
        if call.started.is_none() {
            if let Some(name) = name {
                let index = self.next_tool_index;
                self.next_tool_index += 1;
                call.started = Some(index);
                out.push(StreamEvent::ToolCallStart {
                    index,
                    id: call.id.clone().unwrap_or_else(|| random_id("call_", 24)),
                    name,
                });
                if !call.held_arguments.is_empty() {
                    out.push(StreamEvent::ToolCallDelta {
                        index,
                        arguments: std::mem::take(&mut call.held_arguments),
                    });
                }
            }
        }
        if let Some(a) = args.filter(|a| !a.is_empty()) {
            match call.started {
                Some(index) => out.push(StreamEvent::ToolCallDelta {
                    index,
                    arguments: a,
                }),
                None => call.held_arguments.push_str(&a),
            }
        }
    }

    fn flush_finish(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(reason) = self.finish.take() {
            let had_tools = self.next_tool_index > 0;
            out.push(StreamEvent::Finish {
                reason: reason.with_tool_calls(had_tools),
                stop_sequence: None,
            });
        }
    }
}

impl StreamDecoder for StreamReader {
    /// A chunk is content alone unless it has usage, a finish reason, an error, or is the
    /// end (`[DONE]`), or names its event (OpenAI's chunks never do; an error may).
    fn content_only(&self, event: &[u8]) -> bool {
        use crate::sse::has_key_with;
        use memchr::memmem::find;
        !(has_key_with(event, b"\"usage\"", b'{')
            || has_key_with(event, b"\"finish_reason\"", b'"')
            || find(event, b"\"error\"").is_some()
            || find(event, b"[DONE]").is_some()
            || find(event, b"event:").is_some())
    }

    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) {
        self.sse.feed(bytes, &mut self.frames);
        let mut frames = std::mem::take(&mut self.frames);
        for f in frames.drain(..) {
            self.on_frame(&f.data, out);
        }
        self.frames = frames;
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        self.at_eof = true;
        self.sse.finish(&mut self.frames);
        let frames = std::mem::take(&mut self.frames);
        for f in &frames {
            self.on_frame(&f.data, out);
        }
        if self.done {
            return;
        }
        self.done = true;
        if self.finish.is_some() {
            // Some vendors omit `[DONE]`; a finish reason is end enough.
            self.flush_finish(out);
        } else {
            out.push(StreamEvent::Error(premature_end()));
        }
    }
}

/// An `{"error":…}` chunk inside a stream.
fn stream_error(err: &Value) -> ApiError {
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .or(err.as_str())
        .unwrap_or("The upstream reported an error mid-stream.");
    let status = err
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..600).contains(c))
        .unwrap_or(500);
    let kind = match err.get("type").and_then(Value::as_str) {
        Some("rate_limit_exceeded" | "rate_limit_error") => ErrorKind::RateLimited,
        Some("overloaded_error") => ErrorKind::Overloaded,
        Some("invalid_request_error") => ErrorKind::InvalidRequest,
        _ => ErrorKind::from_status(status),
    };
    ApiError::new(kind, message).with_status(status)
}
