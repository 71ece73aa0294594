//! Writes canonical events as a Responses SSE stream (protocols.md §1.11, "Streaming").
//!
//! The stream is well-formed by construction: `sequence_number` counts every event from 0;
//! `response.created` and `response.in_progress` come first; every item gets
//! `output_item.added` before its other events and `output_item.done` before the terminal
//! event; every content or summary part added is done; exactly one terminal event
//! (`response.completed`, `response.incomplete` or `response.failed`) ends it.
//!
//! A message or reasoning item stays open while its deltas continue and closes when
//! something else starts. Tool calls stay open together until text, reasoning or the end,
//! so parallel calls whose deltas interleave are written as they come.

use super::error::failed_error;
use super::response::{conclude, message_item, response_id, skeleton, summary_of};
use super::signature_to_client;
use super::wire::{OutputItem, OutputPart, ResponseObject, SummaryPart};
use crate::json::to_vec;
use crate::sse::write_event;
use crate::tools::random_id;
use crate::{ResponseMeta, StreamEncoder};
use bytes::BytesMut;
use lmrelay_ir::{ApiError, FinishReason, StreamEvent, Usage};
use serde::Serialize;

/// Encoder of Responses streams.
pub struct StreamWriter {
    meta: ResponseMeta,
    seq: u64,
    /// The response snapshot; `None` until the first event.
    response: Option<ResponseObject>,
    /// Finished items with their `output_index`.
    done: Vec<(usize, OutputItem)>,
    next_output: usize,
    open: Open,
    calls: Vec<OpenCall>,
    usage: Usage,
    finish: Option<FinishReason>,
    had_tool_calls: bool,
    closed: bool,
}

/// The message or reasoning item being written.
enum Open {
    None,
    Message {
        index: usize,
        id: String,
        text: String,
    },
    Reasoning {
        index: usize,
        id: String,
        text: String,
        signature: Option<String>,
        /// A summary part has been added (there was reasoning text).
        summary: bool,
    },
}

/// A function call being written.
struct OpenCall {
    ir_index: u32,
    index: usize,
    id: String,
    call_id: String,
    name: String,
    arguments: String,
}

/// One event's fields; those that an event type lacks are left out.
#[derive(Serialize, Default)]
struct Ev<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<&'a ResponseObject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    item_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    item: Option<&'a OutputItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    part: Option<PartRef<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<[u8; 0]>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum PartRef<'a> {
    Output(&'a OutputPart),
    Summary(&'a SummaryPart),
}

// === impl StreamWriter ===

impl StreamWriter {
    pub fn new(meta: ResponseMeta) -> Self {
        StreamWriter {
            meta,
            seq: 0,
            response: None,
            done: Vec::new(),
            next_output: 0,
            open: Open::None,
            calls: Vec::new(),
            usage: Usage::default(),
            finish: None,
            had_tool_calls: false,
            closed: false,
        }
    }

    /// Writes one event, numbering it.
    fn emit(&mut self, out: &mut BytesMut, mut ev: Ev<'_>) {
        ev.sequence_number = self.seq;
        self.seq += 1;
        write_event(out, Some(ev.kind), &to_vec(&ev));
    }

    /// Writes `response.created` and `response.in_progress` before anything else.
    fn start(&mut self, upstream_id: &str, out: &mut BytesMut) {
        if self.response.is_some() {
            return;
        }
        let r = skeleton(&response_id(upstream_id), &self.meta, "in_progress");
        for kind in ["response.created", "response.in_progress"] {
            let seq = self.seq;
            self.seq += 1;
            let ev = Ev {
                kind,
                sequence_number: seq,
                response: Some(&r),
                ..Ev::default()
            };
            write_event(out, Some(kind), &to_vec(&ev));
        }
        self.response = Some(r);
    }

    fn text_delta(&mut self, delta: &str, out: &mut BytesMut) {
        if !matches!(self.open, Open::Message { .. }) {
            self.close_all("completed", out);
            let (index, id) = (self.take_index(), random_id("msg_", 24));
            let item = OutputItem::Message {
                id: id.clone(),
                role: "assistant".to_owned(),
                status: "in_progress".to_owned(),
                content: vec![],
            };
            self.item_event("response.output_item.added", index, &item, out);
            let part = empty_text_part();
            self.emit(
                out,
                Ev {
                    kind: "response.content_part.added",
                    item_id: Some(&id),
                    output_index: Some(index),
                    content_index: Some(0),
                    part: Some(PartRef::Output(&part)),
                    ..Ev::default()
                },
            );
            self.open = Open::Message {
                index,
                id,
                text: String::new(),
            };
        }
        let Open::Message { index, id, text } = &mut self.open else {
            return;
        };
        text.push_str(delta);
        let ev = Ev {
            kind: "response.output_text.delta",
            item_id: Some(id),
            output_index: Some(*index),
            content_index: Some(0),
            delta: Some(delta),
            logprobs: Some([]),
            ..Ev::default()
        };
        emit_with(&mut self.seq, out, ev);
    }

    /// Opens a reasoning item unless one is open.
    fn open_reasoning(&mut self, out: &mut BytesMut) {
        if matches!(self.open, Open::Reasoning { .. }) {
            return;
        }
        self.close_all("completed", out);
        let (index, id) = (self.take_index(), random_id("rs_", 24));
        let item = OutputItem::Reasoning {
            id: id.clone(),
            summary: vec![],
            encrypted_content: None,
        };
        self.item_event("response.output_item.added", index, &item, out);
        self.open = Open::Reasoning {
            index,
            id,
            text: String::new(),
            signature: None,
            summary: false,
        };
    }

    fn reasoning_delta(&mut self, delta: &str, out: &mut BytesMut) {
        self.open_reasoning(out);
        let Open::Reasoning {
            index,
            id,
            text,
            summary,
            ..
        } = &mut self.open
        else {
            return;
        };
        if !*summary {
            *summary = true;
            let part = SummaryPart {
                kind: "summary_text".to_owned(),
                text: String::new(),
            };
            let ev = Ev {
                kind: "response.reasoning_summary_part.added",
                item_id: Some(id),
                output_index: Some(*index),
                summary_index: Some(0),
                part: Some(PartRef::Summary(&part)),
                ..Ev::default()
            };
            emit_with(&mut self.seq, out, ev);
        }
        text.push_str(delta);
        let ev = Ev {
            kind: "response.reasoning_summary_text.delta",
            item_id: Some(id),
            output_index: Some(*index),
            summary_index: Some(0),
            delta: Some(delta),
            ..Ev::default()
        };
        emit_with(&mut self.seq, out, ev);
    }

    fn call_start(&mut self, ir_index: u32, call_id: &str, name: &str, out: &mut BytesMut) {
        self.close_open("completed", out);
        self.had_tool_calls = true;
        let call = OpenCall {
            ir_index,
            index: self.take_index(),
            id: random_id("fc_", 24),
            call_id: call_id.to_owned(),
            name: name.to_owned(),
            arguments: String::new(),
        };
        let item = call_item(&self.meta, &call, "in_progress");
        self.item_event("response.output_item.added", call.index, &item, out);
        self.calls.push(call);
    }

    /// Appends argument text to its call. A fragment for a call already closed (text came
    /// in between) cannot be written any more and is dropped.
    fn call_delta(&mut self, ir_index: u32, delta: &str, out: &mut BytesMut) {
        let Some(call) = self.calls.iter_mut().find(|c| c.ir_index == ir_index) else {
            return;
        };
        if delta.is_empty() {
            return;
        }
        call.arguments.push_str(delta);
        let ev = Ev {
            kind: "response.function_call_arguments.delta",
            item_id: Some(&call.id),
            output_index: Some(call.index),
            delta: Some(delta),
            ..Ev::default()
        };
        emit_with(&mut self.seq, out, ev);
    }

    fn take_index(&mut self) -> usize {
        self.next_output += 1;
        self.next_output - 1
    }

    fn item_event(
        &mut self,
        kind: &'static str,
        index: usize,
        item: &OutputItem,
        out: &mut BytesMut,
    ) {
        let ev = Ev {
            kind,
            output_index: Some(index),
            item: Some(item),
            ..Ev::default()
        };
        emit_with(&mut self.seq, out, ev);
    }

    /// Closes every open item, with `status` on messages and calls.
    fn close_all(&mut self, status: &str, out: &mut BytesMut) {
        self.close_open(status, out);
        for call in std::mem::take(&mut self.calls) {
            let ev = Ev {
                kind: "response.function_call_arguments.done",
                item_id: Some(&call.id),
                output_index: Some(call.index),
                arguments: Some(&call.arguments),
                ..Ev::default()
            };
            emit_with(&mut self.seq, out, ev);
            let item = call_item(&self.meta, &call, status);
            self.item_event("response.output_item.done", call.index, &item, out);
            self.done.push((call.index, item));
        }
    }

    /// Closes the open message or reasoning item.
    fn close_open(&mut self, status: &str, out: &mut BytesMut) {
        match std::mem::replace(&mut self.open, Open::None) {
            Open::None => {}
            Open::Message { index, id, text } => {
                let ev = Ev {
                    kind: "response.output_text.done",
                    item_id: Some(&id),
                    output_index: Some(index),
                    content_index: Some(0),
                    text: Some(&text),
                    logprobs: Some([]),
                    ..Ev::default()
                };
                emit_with(&mut self.seq, out, ev);
                let mut item = message_item(id.clone(), text);
                if let OutputItem::Message {
                    content, status: s, ..
                } = &mut item
                {
                    status.clone_into(s);
                    let ev = Ev {
                        kind: "response.content_part.done",
                        item_id: Some(&id),
                        output_index: Some(index),
                        content_index: Some(0),
                        part: content.first().map(PartRef::Output),
                        ..Ev::default()
                    };
                    emit_with(&mut self.seq, out, ev);
                }
                self.item_event("response.output_item.done", index, &item, out);
                self.done.push((index, item));
            }
            Open::Reasoning {
                index,
                id,
                text,
                signature,
                summary,
            } => {
                let parts = summary_of(&text);
                if summary {
                    let part = parts.first().cloned().unwrap_or(SummaryPart {
                        kind: "summary_text".to_owned(),
                        text: String::new(),
                    });
                    for kind in [
                        "response.reasoning_summary_text.done",
                        "response.reasoning_summary_part.done",
                    ] {
                        let text_done = kind.ends_with("text.done");
                        let ev = Ev {
                            kind,
                            item_id: Some(&id),
                            output_index: Some(index),
                            summary_index: Some(0),
                            text: text_done.then_some(text.as_str()),
                            part: (!text_done).then_some(PartRef::Summary(&part)),
                            ..Ev::default()
                        };
                        emit_with(&mut self.seq, out, ev);
                    }
                }
                let item = OutputItem::Reasoning {
                    id,
                    summary: parts,
                    encrypted_content: signature.as_deref().map(signature_to_client),
                };
                self.item_event("response.output_item.done", index, &item, out);
                self.done.push((index, item));
            }
        }
    }

    /// Writes the one terminal event with the final snapshot.
    fn terminate(&mut self, error: Option<&ApiError>, now_ms: u64, out: &mut BytesMut) {
        self.start("", out);
        self.close_all(
            if error.is_some() {
                "incomplete"
            } else {
                "completed"
            },
            out,
        );
        let Some(mut r) = self.response.take() else {
            return;
        };
        self.done.sort_by_key(|(i, _)| *i);
        r.output = std::mem::take(&mut self.done)
            .into_iter()
            .map(|(_, item)| item)
            .collect();
        let kind = match error {
            Some(err) => {
                r.status = "failed".to_owned();
                r.error = Some(failed_error(err));
                "response.failed"
            }
            None => {
                let finish = self
                    .finish
                    .unwrap_or_default()
                    .with_tool_calls(self.had_tool_calls);
                conclude(&mut r, finish, &self.usage, now_ms / 1000);
                if r.status == "incomplete" {
                    "response.incomplete"
                } else {
                    "response.completed"
                }
            }
        };
        let ev = Ev {
            kind,
            response: Some(&r),
            ..Ev::default()
        };
        emit_with(&mut self.seq, out, ev);
        self.closed = true;
    }
}

/// Numbers and writes `ev` (for callers holding borrows of the writer's other fields).
fn emit_with(seq: &mut u64, out: &mut BytesMut, mut ev: Ev<'_>) {
    ev.sequence_number = *seq;
    *seq += 1;
    write_event(out, Some(ev.kind), &to_vec(&ev));
}

fn empty_text_part() -> OutputPart {
    OutputPart::OutputText {
        text: String::new(),
        annotations: vec![],
    }
}

fn call_item(meta: &ResponseMeta, call: &OpenCall, status: &str) -> OutputItem {
    let (namespace, name) = super::response::client_tool_name(&meta.tool_namespaces, &call.name);
    OutputItem::FunctionCall {
        id: call.id.clone(),
        call_id: call.call_id.clone(),
        name,
        arguments: call.arguments.clone(),
        status: status.to_owned(),
        namespace,
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
        let upstream_id = match event {
            StreamEvent::Start { id, .. } => id.as_str(),
            _ => "",
        };
        self.start(upstream_id, out);
        match event {
            StreamEvent::Start { .. } => {}
            StreamEvent::TextDelta(t) if t.is_empty() => {}
            StreamEvent::TextDelta(t) => self.text_delta(t, out),
            StreamEvent::ReasoningDelta(t) if t.is_empty() => {}
            StreamEvent::ReasoningDelta(t) => self.reasoning_delta(t, out),
            StreamEvent::ReasoningSignature(s) => {
                self.open_reasoning(out);
                if let Open::Reasoning { signature, .. } = &mut self.open {
                    *signature = Some(s.clone());
                }
            }
            // Anthropic's redacted reasoning has no Responses form.
            StreamEvent::RedactedReasoning(_) => {}
            StreamEvent::ToolCallStart { index, id, name } => {
                self.call_start(*index, id, name, out)
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                self.call_delta(*index, arguments, out)
            }
            StreamEvent::Usage(u) => self.usage = *u,
            StreamEvent::Finish { reason, .. } => {
                self.finish.get_or_insert(*reason);
                self.close_all("completed", out);
            }
            StreamEvent::Error(err) => self.terminate(Some(err), 0, out),
        }
    }

    fn finish(&mut self, now_ms: u64, out: &mut BytesMut) {
        if self.closed {
            return;
        }
        if self.finish.is_none() {
            self.terminate(Some(&crate::stream::premature_end()), now_ms, out);
        } else {
            self.terminate(None, now_ms, out);
        }
    }

    fn is_closed(&self) -> bool {
        self.closed
    }
}
