//! [`StreamWriter`]: canonical stream events as the NDJSON lines an Ollama client reads from
//! `/api/chat` or `/api/generate` (§10.10 recipes C and F).
//!
//! Ollama delivers tool calls whole, so calls are buffered per index and written as one
//! `tool_calls` line when the finish arrives. The final `done:true` line waits for
//! [`StreamEncoder::finish`], because some upstreams report usage after the finish reason.

use super::response::{put_final_fields, tool_call_value};
use crate::{json, time, ResponseMeta, StreamEncoder};
use bytes::{BufMut, BytesMut};
use lmrelay_ir::{FinishReason, StreamEvent, Usage};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Writes an Ollama NDJSON stream.
#[derive(Debug)]
pub struct StreamWriter {
    meta: ResponseMeta,
    /// `/api/generate` (`response`) rather than `/api/chat` (`message`).
    generate: bool,
    /// `created_at` of intermediate lines (the request's arrival; no clock here).
    created_at: String,
    /// `{"model":…,"created_at":…,` — the start of every intermediate line, rendered once.
    line_head: Vec<u8>,
    /// Tool calls not yet written, by index.
    calls: BTreeMap<u32, PendingCall>,
    usage: Usage,
    finish: Option<FinishReason>,
    closed: bool,
}

#[derive(Debug, Default)]
struct PendingCall {
    id: String,
    name: String,
    arguments: String,
}

// === impl StreamWriter ===

impl StreamWriter {
    pub fn new(meta: ResponseMeta, generate: bool) -> Self {
        let created_at = time::rfc3339_from_unix_ms(meta.started_ms);
        let mut line_head = Vec::with_capacity(96);
        line_head.extend_from_slice(b"{\"model\":");
        line_head.extend_from_slice(&json::to_vec(&meta.model));
        line_head.extend_from_slice(b",\"created_at\":");
        line_head.extend_from_slice(&json::to_vec(&created_at));
        line_head.push(b',');
        StreamWriter {
            meta,
            generate,
            created_at,
            line_head,
            calls: BTreeMap::new(),
            usage: Usage::default(),
            finish: None,
            closed: false,
        }
    }

    /// A line's common head: `model` and `created_at`.
    fn head(&self, created_at: String) -> Map<String, Value> {
        let mut obj = Map::new();
        obj.insert("model".into(), Value::from(self.meta.model.as_str()));
        obj.insert("created_at".into(), Value::from(created_at));
        obj
    }

    /// An intermediate line with text and/or thinking (and, for chat, tool calls).
    fn delta_line(
        &self,
        content: &str,
        thinking: Option<&str>,
        calls: Option<Vec<Value>>,
        out: &mut BytesMut,
    ) {
        if calls.is_none() {
            // The per-token path: the rendered head plus one or two string escapes.
            out.put_slice(&self.line_head);
            out.put_slice(if self.generate {
                b"\"response\":"
            } else {
                b"\"message\":{\"role\":\"assistant\",\"content\":"
            });
            json_string(out, content);
            if let Some(t) = thinking {
                out.put_slice(b",\"thinking\":");
                json_string(out, t);
            }
            if !self.generate {
                out.put_u8(b'}');
            }
            out.put_slice(b",\"done\":false}\n");
            return;
        }
        let mut obj = self.head(self.created_at.clone());
        if self.generate {
            obj.insert("response".into(), Value::from(content));
            if let Some(t) = thinking {
                obj.insert("thinking".into(), Value::from(t));
            }
        } else {
            let mut message = Map::new();
            message.insert("role".into(), Value::from("assistant"));
            message.insert("content".into(), Value::from(content));
            if let Some(t) = thinking {
                message.insert("thinking".into(), Value::from(t));
            }
            if let Some(calls) = calls {
                message.insert("tool_calls".into(), Value::Array(calls));
            }
            obj.insert("message".into(), Value::Object(message));
        }
        obj.insert("done".into(), Value::Bool(false));
        write_line(out, &Value::Object(obj));
    }

    /// Writes the buffered tool calls as one line (chat only; `/api/generate` has none).
    fn flush_calls(&mut self, out: &mut BytesMut) {
        let calls = std::mem::take(&mut self.calls);
        if calls.is_empty() || self.generate {
            return;
        }
        let values = calls
            .into_iter()
            .map(|(index, c)| {
                let id = if c.id.is_empty() {
                    crate::tools::random_id("call_", 8)
                } else {
                    c.id
                };
                tool_call_value(index as usize, &id, &c.name, &c.arguments)
            })
            .collect();
        self.delta_line("", None, Some(values), out);
    }

    fn error_line(&mut self, message: &str, out: &mut BytesMut) {
        let mut obj = Map::new();
        obj.insert("error".into(), Value::from(message));
        write_line(out, &Value::Object(obj));
        self.closed = true;
    }
}

impl StreamEncoder for StreamWriter {
    fn content_type(&self) -> &'static str {
        "application/x-ndjson"
    }

    fn push(&mut self, event: &StreamEvent, out: &mut BytesMut) {
        if self.closed {
            return;
        }
        match event {
            StreamEvent::Start { .. }
            | StreamEvent::ReasoningSignature(_)
            | StreamEvent::RedactedReasoning(_) => {}
            StreamEvent::TextDelta(text) => {
                if !text.is_empty() {
                    self.delta_line(text, None, None, out);
                }
            }
            StreamEvent::ReasoningDelta(text) => {
                if self.meta.include_reasoning && !text.is_empty() {
                    self.delta_line("", Some(text), None, out);
                }
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                let call = self.calls.entry(*index).or_default();
                if call.id.is_empty() {
                    call.id.clone_from(id);
                }
                if call.name.is_empty() {
                    call.name.clone_from(name);
                }
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                self.calls
                    .entry(*index)
                    .or_default()
                    .arguments
                    .push_str(arguments);
            }
            StreamEvent::Usage(usage) => self.usage = *usage,
            StreamEvent::Finish { reason, .. } => {
                self.finish = Some(*reason);
                self.flush_calls(out);
            }
            StreamEvent::Error(err) => self.error_line(&err.message, out),
        }
    }

    fn finish(&mut self, now_ms: u64, out: &mut BytesMut) {
        if self.closed {
            return;
        }
        let Some(reason) = self.finish else {
            self.error_line("upstream stream ended prematurely", out);
            return;
        };
        self.flush_calls(out);
        let mut obj = self.head(time::rfc3339_from_unix_ms(now_ms));
        if self.generate {
            obj.insert("response".into(), Value::from(""));
        } else {
            let mut message = Map::new();
            message.insert("role".into(), Value::from("assistant"));
            message.insert("content".into(), Value::from(""));
            obj.insert("message".into(), Value::Object(message));
        }
        put_final_fields(&mut obj, reason, &self.usage, self.meta.started_ms, now_ms);
        write_line(out, &Value::Object(obj));
        self.closed = true;
    }

    fn is_closed(&self) -> bool {
        self.closed
    }
}

fn write_line(out: &mut BytesMut, value: &Value) {
    out.put_slice(&json::to_vec(value));
    out.put_u8(b'\n');
}

/// Appends `s` as a JSON string literal.
fn json_string(out: &mut BytesMut, s: &str) {
    // Writing a &str into a BytesMut cannot fail.
    let _ = serde_json::to_writer(out.writer(), s);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(reasoning: bool) -> ResponseMeta {
        ResponseMeta {
            model: "llama3.2".into(),
            started_ms: 0,
            include_usage: false,
            include_reasoning: reasoning,
            tool_namespaces: Vec::new(),
        }
    }

    #[test]
    fn per_token_lines_are_byte_exact() {
        let mut out = BytesMut::new();
        let mut w = StreamWriter::new(meta(true), false);
        w.push(&StreamEvent::TextDelta("hi \"x\"\n".into()), &mut out);
        w.push(&StreamEvent::ReasoningDelta("hmm".into()), &mut out);
        let mut g = StreamWriter::new(meta(false), true);
        g.push(&StreamEvent::TextDelta("é".into()), &mut out);
        let head = r#"{"model":"llama3.2","created_at":"1970-01-01T00:00:00.000000000Z","#;
        assert_eq!(
            String::from_utf8(out.to_vec()).expect("utf-8"),
            format!(
                "{head}\"message\":{{\"role\":\"assistant\",\"content\":\"hi \\\"x\\\"\\n\"}},\"done\":false}}\n\
                 {head}\"message\":{{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"hmm\"}},\"done\":false}}\n\
                 {head}\"response\":\"é\",\"done\":false}}\n"
            )
        );
    }
}
