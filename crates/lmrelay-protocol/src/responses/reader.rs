//! Reads an OpenAI Responses SSE stream into canonical events.
//!
//! State is kept per `output_index` (protocols.md §1.11): a call's `name` and `call_id` come
//! from `output_item.added`, and an item that had no deltas is read from its `.done` payload
//! (E10). Unknown event types (hosted tools, audio, …) are skipped. The stream must end with
//! `response.completed`, `response.incomplete` or `response.failed`; an `error` event in
//! either of its shapes ends it too.

use super::response::{failure, finish_of, join_summary};
use super::wire::{OutputItem, ResponseError, ResponseObject};
use crate::signature::openai;
use crate::sse::{SseEvent, SseParser};
use crate::stream::premature_end;
use crate::StreamDecoder;
use lmrelay_ir::{ApiError, ErrorKind, StreamEvent};
use serde::Deserialize;

/// The events lmrelay reads, by `type`.
#[derive(Deserialize)]
#[serde(tag = "type")]
enum WireEvent {
    #[serde(rename = "response.created", alias = "response.in_progress")]
    Created { response: ResponseObject },
    #[serde(rename = "response.output_item.added")]
    ItemAdded {
        output_index: usize,
        item: OutputItem,
    },
    #[serde(rename = "response.output_item.done")]
    ItemDone {
        output_index: usize,
        item: OutputItem,
    },
    #[serde(
        rename = "response.output_text.delta",
        alias = "response.refusal.delta"
    )]
    TextDelta { output_index: usize, delta: String },
    #[serde(
        rename = "response.reasoning_summary_text.delta",
        alias = "response.reasoning_text.delta"
    )]
    ReasoningDelta { output_index: usize, delta: String },
    #[serde(rename = "response.reasoning_summary_part.added")]
    SummaryPartAdded {
        output_index: usize,
        #[serde(default)]
        summary_index: usize,
    },
    #[serde(rename = "response.function_call_arguments.delta")]
    ArgumentsDelta { output_index: usize, delta: String },
    #[serde(rename = "response.function_call_arguments.done")]
    ArgumentsDone {
        output_index: usize,
        #[serde(default)]
        arguments: String,
    },
    #[serde(
        rename = "response.completed",
        alias = "response.incomplete",
        alias = "response.failed"
    )]
    Terminal { response: ResponseObject },
    #[serde(rename = "error")]
    Error {
        #[serde(default)]
        code: Option<String>,
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        error: Option<ResponseError>,
    },
    #[serde(other)]
    Other,
}

/// What the reader knows about one output item.
#[derive(Default)]
struct ItemState {
    /// The canonical index of a function call.
    call: Option<u32>,
    /// Deltas (text, reasoning or arguments) were seen.
    had_deltas: bool,
    /// Arguments were delivered (by deltas or by `.done`).
    arguments_sent: bool,
}

/// Decoder of OpenAI Responses streams.
pub struct StreamReader {
    sse: SseParser,
    frames: Vec<SseEvent>,
    items: Vec<(usize, ItemState)>,
    next_call: u32,
    started: bool,
    had_calls: bool,
    ended: bool,
}

// === impl StreamReader ===

impl StreamReader {
    pub fn new() -> Self {
        StreamReader {
            sse: SseParser::new(),
            frames: Vec::new(),
            items: Vec::new(),
            next_call: 0,
            started: false,
            had_calls: false,
            ended: false,
        }
    }

    fn item(&mut self, output_index: usize) -> &mut ItemState {
        let at = match self.items.iter().position(|(i, _)| *i == output_index) {
            Some(at) => at,
            None => {
                self.items.push((output_index, ItemState::default()));
                self.items.len() - 1
            }
        };
        &mut self.items[at].1
    }

    fn frame(&mut self, data: &str, out: &mut Vec<StreamEvent>) {
        if self.ended || data.trim().is_empty() {
            return;
        }
        let ev: WireEvent = match serde_json::from_str(data) {
            Ok(ev) => ev,
            Err(e) => {
                out.push(StreamEvent::Error(ApiError::new(
                    ErrorKind::BadGateway,
                    format!("The upstream sent an unreadable Responses event: {e}"),
                )));
                self.ended = true;
                return;
            }
        };
        match ev {
            WireEvent::Created { response } => {
                if !self.started {
                    self.started = true;
                    out.push(StreamEvent::Start {
                        id: response.id,
                        model: response.model,
                    });
                }
            }
            WireEvent::ItemAdded { output_index, item } => {
                if let OutputItem::FunctionCall { call_id, name, .. } = item {
                    self.start_call(output_index, call_id, name, out);
                }
            }
            WireEvent::TextDelta {
                output_index,
                delta,
            } => {
                self.item(output_index).had_deltas = true;
                out.push(StreamEvent::TextDelta(delta));
            }
            WireEvent::ReasoningDelta {
                output_index,
                delta,
            } => {
                self.item(output_index).had_deltas = true;
                out.push(StreamEvent::ReasoningDelta(delta));
            }
            WireEvent::SummaryPartAdded {
                output_index,
                summary_index,
            } => {
                // Summary parts after the first are separated as `join_summary` does.
                if summary_index > 0 && self.item(output_index).had_deltas {
                    out.push(StreamEvent::ReasoningDelta("\n\n".to_owned()));
                }
            }
            WireEvent::ArgumentsDelta {
                output_index,
                delta,
            } => {
                let state = self.item(output_index);
                state.had_deltas = true;
                state.arguments_sent = true;
                if let Some(index) = state.call {
                    out.push(StreamEvent::ToolCallDelta {
                        index,
                        arguments: delta,
                    });
                }
            }
            WireEvent::ArgumentsDone {
                output_index,
                arguments,
            } => self.arguments_once(output_index, arguments, out),
            WireEvent::ItemDone { output_index, item } => self.item_done(output_index, item, out),
            WireEvent::Terminal { response } => self.terminal(response, out),
            WireEvent::Error {
                code,
                message,
                error,
            } => {
                let (code, message) = match error {
                    Some(e) => (e.code, e.message),
                    None => (code, message.unwrap_or_default()),
                };
                out.push(StreamEvent::Error(failure(code.as_deref(), &message)));
                self.ended = true;
            }
            WireEvent::Other => {}
        }
    }

    fn start_call(
        &mut self,
        output_index: usize,
        call_id: String,
        name: String,
        out: &mut Vec<StreamEvent>,
    ) {
        if self.item(output_index).call.is_some() {
            return;
        }
        let index = self.next_call;
        self.next_call += 1;
        self.had_calls = true;
        self.item(output_index).call = Some(index);
        out.push(StreamEvent::ToolCallStart {
            index,
            id: call_id,
            name,
        });
    }

    /// Sends a call's whole arguments when no delta carried them.
    fn arguments_once(
        &mut self,
        output_index: usize,
        arguments: String,
        out: &mut Vec<StreamEvent>,
    ) {
        let state = self.item(output_index);
        if state.arguments_sent {
            return;
        }
        state.arguments_sent = true;
        if let Some(index) = state.call {
            if !arguments.is_empty() {
                out.push(StreamEvent::ToolCallDelta { index, arguments });
            }
        }
    }

    fn item_done(&mut self, output_index: usize, item: OutputItem, out: &mut Vec<StreamEvent>) {
        match item {
            OutputItem::FunctionCall {
                call_id,
                name,
                arguments,
                ..
            } => {
                self.start_call(output_index, call_id, name, out);
                self.arguments_once(output_index, arguments, out);
            }
            OutputItem::Message { content, .. } if !self.item(output_index).had_deltas => {
                for p in content {
                    match p {
                        super::wire::OutputPart::OutputText { text, .. }
                        | super::wire::OutputPart::Refusal { refusal: text } => {
                            if !text.is_empty() {
                                out.push(StreamEvent::TextDelta(text))
                            }
                        }
                        super::wire::OutputPart::Other => {}
                    }
                }
            }
            OutputItem::Reasoning {
                summary,
                encrypted_content,
                ..
            } => {
                let had_deltas = self.item(output_index).had_deltas;
                let text = join_summary(&summary);
                if !had_deltas && !text.is_empty() {
                    out.push(StreamEvent::ReasoningDelta(text));
                }
                if let Some(e) = encrypted_content {
                    out.push(StreamEvent::ReasoningSignature(openai(&e)));
                }
            }
            _ => {}
        }
    }

    fn terminal(&mut self, response: ResponseObject, out: &mut Vec<StreamEvent>) {
        self.ended = true;
        if response.status == "failed" {
            let e = response.error.unwrap_or_default();
            out.push(StreamEvent::Error(failure(e.code.as_deref(), &e.message)));
            return;
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: response.id.clone(),
                model: response.model.clone(),
            });
        }
        if let Some(u) = &response.usage {
            out.push(StreamEvent::Usage(u.to_usage()));
        }
        let reason = finish_of(&response.status, response.incomplete_details.as_ref())
            .with_tool_calls(self.had_calls);
        out.push(StreamEvent::Finish {
            reason,
            stop_sequence: None,
        });
    }
}

impl Default for StreamReader {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamDecoder for StreamReader {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) {
        self.sse.feed(bytes, &mut self.frames);
        let frames = std::mem::take(&mut self.frames);
        for f in &frames {
            self.frame(&f.data, out);
        }
        self.frames = frames;
        self.frames.clear();
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        self.sse.finish(&mut self.frames);
        let frames = std::mem::take(&mut self.frames);
        for f in &frames {
            self.frame(&f.data, out);
        }
        if !self.ended {
            out.push(StreamEvent::Error(premature_end()));
            self.ended = true;
        }
    }
}
