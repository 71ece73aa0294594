//! Writes canonical events as an OpenAI SSE stream (chat or legacy completions chunks).
//!
//! The parts of every chunk that never change within a stream (id, created, model) are
//! rendered once; each event then costs one small JSON string escape.

use super::error::error_object;
use super::response::{completion_id, finish_reason_str, WireUsage};
use crate::json::to_vec;
use crate::{ResponseMeta, StreamEncoder};
use bytes::{BufMut, BytesMut};
use lmrelay_ir::{StreamEvent, Usage};

/// Which OpenAI endpoint the stream answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamMode {
    Chat,
    /// Legacy `/v1/completions`: `text_completion` chunks with `text`.
    Completion,
}

/// Encoder of OpenAI streams.
pub struct StreamWriter {
    meta: ResponseMeta,
    mode: StreamMode,
    /// `data: {"id":…,"object":…,"created":…,"model":…,"choices":[{"index":0,` up to the
    /// per-event part; built at `Start`.
    prefix: Vec<u8>,
    usage: Option<Usage>,
    had_tool_calls: bool,
    finished: bool,
    closed: bool,
}

// === impl StreamWriter ===

impl StreamWriter {
    pub fn new(meta: ResponseMeta, mode: StreamMode) -> Self {
        StreamWriter {
            meta,
            mode,
            prefix: Vec::new(),
            usage: None,
            had_tool_calls: false,
            finished: false,
            closed: false,
        }
    }

    fn ensure_prefix(&mut self, upstream_id: &str) {
        if !self.prefix.is_empty() {
            return;
        }
        let (id_prefix, object) = match self.mode {
            StreamMode::Chat => ("chatcmpl-", "chat.completion.chunk"),
            StreamMode::Completion => ("cmpl-", "text_completion"),
        };
        let id = completion_id(upstream_id, id_prefix);
        let mut p = Vec::with_capacity(128);
        p.extend_from_slice(b"data: {\"id\":");
        p.extend_from_slice(&to_vec(&id));
        p.extend_from_slice(b",\"object\":\"");
        p.extend_from_slice(object.as_bytes());
        p.extend_from_slice(b"\",\"created\":");
        p.extend_from_slice(self.meta.created_secs().to_string().as_bytes());
        p.extend_from_slice(b",\"model\":");
        p.extend_from_slice(&to_vec(&self.meta.model));
        p.extend_from_slice(b",\"choices\":[");
        self.prefix = p;
    }

    /// Writes one chunk: `choice_body` is the JSON of the single choice, or nothing for a
    /// chunk with empty `choices`.
    fn chunk(&self, out: &mut BytesMut, choice: Option<&[u8]>, usage: Option<&Usage>) {
        out.put_slice(&self.prefix);
        if let Some(c) = choice {
            out.put_slice(c);
        }
        out.put_u8(b']');
        if let Some(u) = usage {
            out.put_slice(b",\"usage\":");
            out.put_slice(&to_vec(&WireUsage::from_usage(u)));
        } else if self.meta.include_usage {
            out.put_slice(b",\"usage\":null");
        }
        out.put_slice(b"}\n\n");
    }

    /// A choice carrying a delta (chat) or text (completions), with a null finish reason.
    fn delta_choice(&self, delta_json: &[u8]) -> Vec<u8> {
        let mut c = Vec::with_capacity(delta_json.len() + 48);
        match self.mode {
            StreamMode::Chat => {
                c.extend_from_slice(b"{\"index\":0,\"delta\":");
                c.extend_from_slice(delta_json);
                c.extend_from_slice(b",\"logprobs\":null,\"finish_reason\":null}");
            }
            StreamMode::Completion => {
                c.extend_from_slice(b"{\"index\":0,\"text\":");
                c.extend_from_slice(delta_json);
                c.extend_from_slice(b",\"logprobs\":null,\"finish_reason\":null}");
            }
        }
        c
    }

    fn text(&self, field: &str, text: &str, out: &mut BytesMut) {
        let choice = match self.mode {
            StreamMode::Chat => {
                let mut d = Vec::with_capacity(text.len() + 16);
                d.extend_from_slice(b"{\"");
                d.extend_from_slice(field.as_bytes());
                d.extend_from_slice(b"\":");
                d.extend_from_slice(&to_vec(&text));
                d.push(b'}');
                self.delta_choice(&d)
            }
            StreamMode::Completion => self.delta_choice(&to_vec(&text)),
        };
        self.chunk(out, Some(&choice), None);
    }
}

impl StreamEncoder for StreamWriter {
    fn content_type(&self) -> &'static str {
        "text/event-stream"
    }

    fn push(&mut self, event: &StreamEvent, out: &mut BytesMut) {
        if self.closed {
            return;
        }
        if self.prefix.is_empty() {
            let id = match event {
                StreamEvent::Start { id, .. } => id.as_str(),
                _ => "",
            };
            self.ensure_prefix(id);
            if self.mode == StreamMode::Chat && !matches!(event, StreamEvent::Error(_)) {
                let c = self.delta_choice(br#"{"role":"assistant","content":""}"#);
                self.chunk(out, Some(&c), None);
            }
        }
        match event {
            StreamEvent::Start { .. } => {}
            StreamEvent::TextDelta(t) => self.text("content", t, out),
            StreamEvent::ReasoningDelta(t) => {
                if self.mode == StreamMode::Chat {
                    self.text("reasoning_content", t, out)
                }
            }
            StreamEvent::ReasoningSignature(_) | StreamEvent::RedactedReasoning(_) => {}
            StreamEvent::ToolCallStart { index, id, name } => {
                self.had_tool_calls = true;
                if self.mode == StreamMode::Chat {
                    let d = to_vec(&serde_json::json!({"tool_calls": [{
                        "index": index, "id": id, "type": "function",
                        "function": {"name": name, "arguments": ""}}]}));
                    let c = self.delta_choice(&d);
                    self.chunk(out, Some(&c), None);
                }
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                if self.mode == StreamMode::Chat && !arguments.is_empty() {
                    let mut d = Vec::with_capacity(arguments.len() + 64);
                    d.extend_from_slice(b"{\"tool_calls\":[{\"index\":");
                    d.extend_from_slice(index.to_string().as_bytes());
                    d.extend_from_slice(b",\"function\":{\"arguments\":");
                    d.extend_from_slice(&to_vec(arguments));
                    d.extend_from_slice(b"}}]}");
                    let c = self.delta_choice(&d);
                    self.chunk(out, Some(&c), None);
                }
            }
            StreamEvent::Usage(u) => self.usage = Some(*u),
            StreamEvent::Finish { reason, .. } => {
                if self.finished {
                    return;
                }
                self.finished = true;
                let reason = reason.with_tool_calls(self.had_tool_calls);
                let key: &[u8] = match self.mode {
                    StreamMode::Chat => {
                        b"{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\""
                    }
                    StreamMode::Completion => {
                        b"{\"index\":0,\"text\":\"\",\"logprobs\":null,\"finish_reason\":\""
                    }
                };
                let mut c = key.to_vec();
                c.extend_from_slice(finish_reason_str(reason).as_bytes());
                c.extend_from_slice(b"\"}");
                self.chunk(out, Some(&c), None);
            }
            StreamEvent::Error(err) => {
                out.put_slice(b"data: ");
                out.put_slice(&to_vec(&error_object(err)));
                out.put_slice(b"\n\n");
                self.closed = true;
            }
        }
    }

    fn finish(&mut self, _now_ms: u64, out: &mut BytesMut) {
        if self.closed {
            return;
        }
        if !self.finished {
            self.push(&StreamEvent::Error(crate::stream::premature_end()), out);
            return;
        }
        if self.meta.include_usage {
            let usage = self.usage.unwrap_or_default();
            self.chunk(out, None, Some(&usage));
        }
        out.put_slice(b"data: [DONE]\n\n");
        self.closed = true;
    }

    fn is_closed(&self) -> bool {
        self.closed
    }
}
