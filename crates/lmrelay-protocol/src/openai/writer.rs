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

    /// Writes one chunk straight into `out`: the stream's prefix, the choice written by
    /// `choice` (nothing for a chunk with empty `choices`), and the usage.
    fn chunk(&self, out: &mut BytesMut, usage: Option<&Usage>, choice: impl FnOnce(&mut BytesMut)) {
        out.put_slice(&self.prefix);
        choice(out);
        out.put_u8(b']');
        if let Some(u) = usage {
            out.put_slice(b",\"usage\":");
            out.put_slice(&to_vec(&WireUsage::from_usage(u)));
        } else if self.meta.include_usage {
            out.put_slice(b",\"usage\":null");
        }
        out.put_slice(b"}\n\n");
    }

    /// A chunk whose choice carries a delta (chat) or text (completions) written by `body`,
    /// with a null finish reason.
    fn delta_chunk(&self, out: &mut BytesMut, body: impl FnOnce(&mut BytesMut)) {
        let open: &[u8] = match self.mode {
            StreamMode::Chat => b"{\"index\":0,\"delta\":",
            StreamMode::Completion => b"{\"index\":0,\"text\":",
        };
        self.chunk(out, None, |out| {
            out.put_slice(open);
            body(out);
            out.put_slice(b",\"logprobs\":null,\"finish_reason\":null}");
        });
    }

    fn text(&self, field: &str, text: &str, out: &mut BytesMut) {
        let mode = self.mode;
        self.delta_chunk(out, |out| match mode {
            StreamMode::Chat => {
                out.put_slice(b"{\"");
                out.put_slice(field.as_bytes());
                out.put_slice(b"\":");
                json_string(out, text);
                out.put_u8(b'}');
            }
            StreamMode::Completion => json_string(out, text),
        });
    }
}

/// A small number as decimal text, without allocating.
fn itoa_u32(n: u32) -> ItoaBuf {
    let mut buf = ItoaBuf {
        bytes: [0; 10],
        start: 10,
    };
    let mut n = n;
    loop {
        buf.start -= 1;
        buf.bytes[buf.start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf
}

/// Decimal digits of a `u32`.
struct ItoaBuf {
    bytes: [u8; 10],
    start: usize,
}

impl ItoaBuf {
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[self.start..]
    }
}

/// Appends `s` as a JSON string literal.
fn json_string(out: &mut BytesMut, s: &str) {
    // Writing a &str into a BytesMut cannot fail.
    let _ = serde_json::to_writer(out.writer(), s);
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
                self.delta_chunk(out, |out| {
                    out.put_slice(br#"{"role":"assistant","content":""}"#)
                });
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
                    self.delta_chunk(out, |out| {
                        out.put_slice(b"{\"tool_calls\":[{\"index\":");
                        out.put_slice(itoa_u32(*index).as_bytes());
                        out.put_slice(b",\"id\":");
                        json_string(out, id);
                        out.put_slice(b",\"type\":\"function\",\"function\":{\"name\":");
                        json_string(out, name);
                        out.put_slice(b",\"arguments\":\"\"}}]}");
                    });
                }
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                if self.mode == StreamMode::Chat && !arguments.is_empty() {
                    self.delta_chunk(out, |out| {
                        out.put_slice(b"{\"tool_calls\":[{\"index\":");
                        out.put_slice(itoa_u32(*index).as_bytes());
                        out.put_slice(b",\"function\":{\"arguments\":");
                        json_string(out, arguments);
                        out.put_slice(b"}}]}");
                    });
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
                self.chunk(out, None, |out| {
                    out.put_slice(key);
                    out.put_slice(finish_reason_str(reason).as_bytes());
                    out.put_slice(b"\"}");
                });
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
            self.chunk(out, Some(&usage), |_| {});
        }
        out.put_slice(b"data: [DONE]\n\n");
        self.closed = true;
    }

    fn is_closed(&self) -> bool {
        self.closed
    }
}

#[cfg(test)]
mod tests {
    use super::itoa_u32;

    #[test]
    fn decimal_digits() {
        for n in [0u32, 7, 42, 1000, u32::MAX] {
            assert_eq!(itoa_u32(n).as_bytes(), n.to_string().as_bytes());
        }
    }
}
