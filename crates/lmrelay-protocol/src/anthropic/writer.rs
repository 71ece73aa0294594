//! The client-side stream encoder: canonical [`StreamEvent`]s as Anthropic SSE frames
//! (protocols.md §2.7, recipes A and E of §10.10).
//!
//! Invariants:
//! - `message_start` comes first, written before the first frame with content (so that it
//!   carries the input and cache counts reported with the upstream's start);
//! - exactly one content block is open at a time, and consecutive text deltas share one text
//!   block (E25);
//! - nothing is written after `message_stop` or `error` (E23);
//! - without a `Finish` the stream ends with an `api_error`, never with `message_stop`.
//!
//! The first tool call streams as `input_json_delta`s on the block its `ToolCallStart`
//! opened. Calls that start while it is still open are held and written whole (start, one
//! delta, stop) when the message ends, so an upstream that interleaves the fragments of
//! parallel calls cannot make a fragment arrive for a closed block. (Only if text came between
//! a call and a late fragment of it would that fragment go to the closed block's index, which
//! clients accumulate by.)

use super::error::error_frame;
use super::response::{message_id, stop_reason};
use super::wire::{OutBlock, OutDelta, OutFrame, OutResponse, OutStop, OutUsage};
use crate::stream::premature_end;
use crate::{sse, tools, ResponseMeta, StreamEncoder};
use bytes::BytesMut;
use lmrelay_ir::{FinishReason, StreamEvent, Usage};
use serde_json::{Map, Value};

/// Encodes canonical stream events as an Anthropic Messages SSE stream.
#[derive(Debug)]
pub struct StreamWriter {
    meta: ResponseMeta,
    /// The upstream's message id, from `Start`.
    upstream_id: String,
    started: bool,
    closed: bool,
    /// The index the next content block gets.
    next_block: u32,
    open: Open,
    /// Tool calls by canonical index.
    tools: Vec<ToolSlot>,
    buffered: bool,
    had_tools: bool,
    finish: Option<(FinishReason, Option<String>)>,
    usage: Usage,
    /// Scratch buffer for frame JSON, reused for every frame.
    json: Vec<u8>,
}

/// The content block that is open, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    None,
    Text(u32),
    Thinking(u32),
    Tool { tool: usize, block: u32 },
}

#[derive(Debug, Default)]
struct ToolSlot {
    started: bool,
    id: String,
    name: String,
    /// The block it streamed into, when it was not buffered.
    block: Option<u32>,
    /// Arguments not yet written: those that came before the start, or all of them in
    /// buffered mode.
    args: String,
    emitted: bool,
}

// === impl StreamWriter ===

impl StreamWriter {
    pub fn new(meta: ResponseMeta) -> Self {
        StreamWriter {
            meta,
            upstream_id: String::new(),
            started: false,
            closed: false,
            next_block: 0,
            open: Open::None,
            tools: Vec::new(),
            buffered: false,
            had_tools: false,
            finish: None,
            usage: Usage::default(),
            json: Vec::with_capacity(256),
        }
    }

    /// Writes `message_start` if it has not gone out yet. It waits for the first event with
    /// content, so the input and cache counts the upstream reported with its own start are in
    /// it.
    fn ensure_started(&mut self, out: &mut BytesMut) {
        if self.started {
            return;
        }
        self.started = true;
        let id = message_id(&self.upstream_id);
        let frame = OutFrame::MessageStart {
            message: OutResponse {
                id: &id,
                kind: "message",
                role: "assistant",
                model: &self.meta.model,
                content: Vec::new(),
                stop_reason: None,
                stop_sequence: None,
                usage: OutUsage::from_usage(&self.usage),
            },
        };
        emit(&mut self.json, out, &frame);
    }

    fn close_open(&mut self, out: &mut BytesMut) {
        let index = match self.open {
            Open::None => return,
            Open::Text(i) | Open::Thinking(i) | Open::Tool { block: i, .. } => i,
        };
        self.open = Open::None;
        emit(&mut self.json, out, &OutFrame::ContentBlockStop { index });
    }

    /// Closes the open block and opens a new one; returns its index.
    fn open_block(&mut self, block: OutBlock<'_>, out: &mut BytesMut) -> u32 {
        let index = self.next_block;
        self.next_block += 1;
        emit(
            &mut self.json,
            out,
            &OutFrame::ContentBlockStart {
                index,
                content_block: block,
            },
        );
        index
    }

    fn delta(&mut self, index: u32, delta: OutDelta<'_>, out: &mut BytesMut) {
        emit(
            &mut self.json,
            out,
            &OutFrame::ContentBlockDelta { index, delta },
        );
    }

    fn text(&mut self, text: &str, out: &mut BytesMut) {
        if text.is_empty() {
            return;
        }
        self.ensure_started(out);
        let index = match self.open {
            Open::Text(i) => i,
            _ => {
                self.close_open(out);
                let i = self.open_block(
                    OutBlock::Text {
                        text: "",
                        cache_control: None,
                    },
                    out,
                );
                self.open = Open::Text(i);
                i
            }
        };
        self.delta(index, OutDelta::Text { text }, out);
    }

    /// The open thinking block, opening one if needed.
    fn thinking_block(&mut self, out: &mut BytesMut) -> u32 {
        self.ensure_started(out);
        if let Open::Thinking(i) = self.open {
            return i;
        }
        self.close_open(out);
        let i = self.open_block(
            OutBlock::Thinking {
                thinking: "",
                signature: "",
            },
            out,
        );
        self.open = Open::Thinking(i);
        i
    }

    fn redacted(&mut self, data: &str, out: &mut BytesMut) {
        self.ensure_started(out);
        self.close_open(out);
        let index = self.open_block(OutBlock::RedactedThinking { data }, out);
        emit(&mut self.json, out, &OutFrame::ContentBlockStop { index });
    }

    fn slot(&mut self, index: u32) -> usize {
        let i = index as usize;
        if self.tools.len() <= i {
            self.tools.resize_with(i + 1, ToolSlot::default);
        }
        i
    }

    fn tool_start(&mut self, index: u32, id: &str, name: &str, out: &mut BytesMut) {
        self.ensure_started(out);
        self.had_tools = true;
        let t = self.slot(index);
        let slot = &mut self.tools[t];
        if slot.started {
            return;
        }
        slot.started = true;
        slot.id = if id.is_empty() {
            tools::random_id("toolu_", 24)
        } else {
            id.to_owned()
        };
        slot.name = name.to_owned();
        // While one call streams, later ones are held and written whole at the end: a late
        // fragment of the streaming call still lands in its open block, and blocks never
        // overlap.
        if matches!(self.open, Open::Tool { .. }) {
            self.buffered = true;
        }
        if self.buffered {
            return;
        }
        self.close_open(out);
        let block = self.next_block;
        self.next_block += 1;
        let slot = &mut self.tools[t];
        emit(
            &mut self.json,
            out,
            &OutFrame::ContentBlockStart {
                index: block,
                content_block: OutBlock::ToolUse {
                    cache_control: None,
                    id: &slot.id,
                    name: &slot.name,
                    input: Value::Object(Map::new()),
                },
            },
        );
        slot.block = Some(block);
        self.open = Open::Tool { tool: t, block };
        if !slot.args.is_empty() {
            let args = std::mem::take(&mut slot.args);
            self.delta(
                block,
                OutDelta::InputJson {
                    partial_json: &args,
                },
                out,
            );
        }
    }

    fn tool_delta(&mut self, index: u32, arguments: &str, out: &mut BytesMut) {
        if arguments.is_empty() {
            return;
        }
        let t = self.slot(index);
        match self.open {
            Open::Tool { tool, block } if tool == t => {
                self.delta(
                    block,
                    OutDelta::InputJson {
                        partial_json: arguments,
                    },
                    out,
                );
            }
            _ => {
                let slot = &mut self.tools[t];
                match slot.block.filter(|_| slot.started) {
                    Some(block) => {
                        // A late fragment for a closed block (an upstream interleaving
                        // parallel calls): delivered at its block index, which clients
                        // accumulate by, rather than lost; later calls are buffered whole.
                        self.buffered = true;
                        self.delta(
                            block,
                            OutDelta::InputJson {
                                partial_json: arguments,
                            },
                            out,
                        );
                    }
                    None => slot.args.push_str(arguments),
                }
            }
        }
    }

    /// Writes the calls held back in buffered mode, each as a whole block.
    fn flush_buffered(&mut self, out: &mut BytesMut) {
        self.close_open(out);
        for t in 0..self.tools.len() {
            let slot = &self.tools[t];
            if !slot.started || slot.block.is_some() || slot.emitted {
                continue;
            }
            let index = self.next_block;
            self.next_block += 1;
            let slot = &mut self.tools[t];
            slot.emitted = true;
            emit(
                &mut self.json,
                out,
                &OutFrame::ContentBlockStart {
                    index,
                    content_block: OutBlock::ToolUse {
                        cache_control: None,
                        id: &slot.id,
                        name: &slot.name,
                        input: Value::Object(Map::new()),
                    },
                },
            );
            if !slot.args.is_empty() {
                emit(
                    &mut self.json,
                    out,
                    &OutFrame::ContentBlockDelta {
                        index,
                        delta: OutDelta::InputJson {
                            partial_json: &slot.args,
                        },
                    },
                );
            }
            emit(&mut self.json, out, &OutFrame::ContentBlockStop { index });
        }
    }

    fn fail(&mut self, err: &lmrelay_ir::ApiError, out: &mut BytesMut) {
        emit(&mut self.json, out, &error_frame(err));
        self.closed = true;
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
        match event {
            StreamEvent::Start { id, .. } => self.upstream_id.clone_from(id),
            StreamEvent::TextDelta(text) => self.text(text, out),
            StreamEvent::ReasoningDelta(text) => {
                if self.meta.include_reasoning && !text.is_empty() {
                    let i = self.thinking_block(out);
                    self.delta(i, OutDelta::Thinking { thinking: text }, out);
                }
            }
            StreamEvent::ReasoningSignature(signature) => {
                if self.meta.include_reasoning && !signature.is_empty() {
                    let i = self.thinking_block(out);
                    self.delta(i, OutDelta::Signature { signature }, out);
                    // A signature ends its block: the next reasoning is a new block with its
                    // own signature, never merged under this one.
                    self.close_open(out);
                }
            }
            StreamEvent::RedactedReasoning(data) => {
                if self.meta.include_reasoning {
                    self.redacted(data, out);
                }
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.tool_start(*index, id, name, out);
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                self.tool_delta(*index, arguments, out);
            }
            StreamEvent::Usage(usage) => self.usage = *usage,
            StreamEvent::Finish {
                reason,
                stop_sequence,
            } => {
                self.ensure_started(out);
                self.finish = Some((*reason, stop_sequence.clone()));
                self.flush_buffered(out);
            }
            StreamEvent::Error(err) => self.fail(err, out),
        }
    }

    fn finish(&mut self, _now_ms: u64, out: &mut BytesMut) {
        if self.closed {
            return;
        }
        let Some((reason, stop_sequence)) = self.finish.take() else {
            self.fail(&premature_end(), out);
            return;
        };
        self.ensure_started(out);
        self.flush_buffered(out);
        let stop_reason = stop_reason(reason, self.had_tools, stop_sequence.as_deref());
        let frame = OutFrame::MessageDelta {
            delta: OutStop {
                stop_reason,
                stop_sequence: stop_sequence
                    .as_deref()
                    .filter(|_| stop_reason == "stop_sequence"),
            },
            usage: OutUsage::from_usage(&self.usage),
        };
        emit(&mut self.json, out, &frame);
        emit(&mut self.json, out, &OutFrame::MessageStop);
        self.closed = true;
    }

    fn is_closed(&self) -> bool {
        self.closed
    }
}

/// Serialises `frame` into the scratch buffer and writes it as one SSE event.
fn emit(json: &mut Vec<u8>, out: &mut BytesMut, frame: &OutFrame<'_>) {
    json.clear();
    if serde_json::to_writer(&mut *json, frame).is_ok() {
        sse::write_event(out, Some(frame.name()), json);
    }
}
