//! Private serde mirrors of the Anthropic Messages wire format: what lmrelay reads (client
//! requests, upstream responses and stream frames) and what it writes.
//!
//! Read types are lenient: unknown fields are ignored and unknown block, source, delta and
//! frame types deserialize to an `Other` variant that callers skip. Write types borrow from
//! the canonical values so encoding copies as little as possible.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

// ---------------------------------------------------------------------------------------------
// Read side
// ---------------------------------------------------------------------------------------------

/// A `POST /v1/messages` (or `count_tokens`) body.
#[derive(Debug, Deserialize)]
pub(super) struct WireRequest {
    pub model: String,
    pub messages: Vec<WireMessage>,
    pub max_tokens: Option<u32>,
    pub system: Option<WireContent>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u32>,
    pub stop_sequences: Option<Vec<String>>,
    pub metadata: Option<WireMetadata>,
    pub stream: Option<bool>,
    /// Kept as values: custom tools and versioned server tools have different shapes.
    pub tools: Option<Vec<Value>>,
    pub tool_choice: Option<WireToolChoice>,
    pub thinking: Option<WireThinking>,
    pub output_config: Option<Map<String, Value>>,
    /// Everything lmrelay does not model, kept for an Anthropic upstream.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireMetadata {
    pub user_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireMessage {
    pub role: WireRole,
    pub content: WireContent,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum WireRole {
    User,
    Assistant,
    System,
    Developer,
}

/// `content`, `system` and `tool_result.content`: a string or an array of blocks.
#[derive(Debug)]
pub(super) enum WireContent {
    Text(String),
    Blocks(Vec<WireBlock>),
}

/// A content block, request or response side.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum WireBlock {
    Text {
        text: String,
        cache_control: Option<Value>,
    },
    Image {
        source: WireSource,
        cache_control: Option<Value>,
    },
    Document {
        source: WireSource,
        title: Option<String>,
        cache_control: Option<Value>,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
        cache_control: Option<Value>,
    },
    ToolResult {
        tool_use_id: String,
        content: Option<WireContent>,
        is_error: Option<bool>,
        cache_control: Option<Value>,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
        signature: Option<String>,
    },
    RedactedThinking {
        data: String,
    },
    /// Server-tool blocks, search results, and anything newer: skipped.
    #[serde(other)]
    Other,
}

/// The `source` of an image or document block.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum WireSource {
    Base64 {
        media_type: Option<String>,
        data: String,
    },
    Url {
        url: String,
    },
    Text {
        data: String,
    },
    File {
        file_id: String,
    },
    Content {
        content: WireContent,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireToolChoice {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: Option<String>,
    pub disable_parallel_tool_use: Option<bool>,
}

/// A client-defined tool (no `type`, or `type: "custom"`).
#[derive(Debug, Deserialize)]
pub(super) struct WireCustomTool {
    pub name: String,
    pub description: Option<String>,
    pub input_schema: Option<Value>,
    pub cache_control: Option<Value>,
    pub strict: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireThinking {
    #[serde(rename = "type")]
    pub kind: String,
    pub budget_tokens: Option<u32>,
    /// `display` and anything newer.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// A non-streamed response.
#[derive(Debug, Deserialize)]
pub(super) struct WireResponse {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub content: Vec<WireBlock>,
    pub stop_reason: Option<String>,
    pub stop_sequence: Option<String>,
    #[serde(default)]
    pub usage: WireUsage,
}

/// Usage counts; every field may be absent or null.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub(super) struct WireUsage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cache_creation_input_tokens: Option<u64>,
    pub cache_read_input_tokens: Option<u64>,
}

/// One stream frame (the `data:` JSON of an SSE event).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum WireFrame {
    MessageStart {
        message: WireStartMessage,
    },
    ContentBlockStart {
        index: u64,
        content_block: WireBlock,
    },
    ContentBlockDelta {
        index: u64,
        delta: WireDelta,
    },
    ContentBlockStop {},
    MessageDelta {
        delta: WireMessageDelta,
        #[serde(default)]
        usage: WireUsage,
    },
    MessageStop {},
    Error {
        error: WireErrorBody,
    },
    /// `ping` and anything newer.
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireStartMessage {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub usage: WireUsage,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireMessageDelta {
    pub stop_reason: Option<String>,
    pub stop_sequence: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum WireDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        #[serde(default)]
        partial_json: String,
    },
    ThinkingDelta {
        thinking: String,
    },
    SignatureDelta {
        signature: String,
    },
    /// `citations_delta` and anything newer.
    #[serde(other)]
    Other,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct WireErrorBody {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Write side
// ---------------------------------------------------------------------------------------------

/// A content block as lmrelay writes it (requests upstream, responses and stream frames to
/// clients).
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum OutBlock<'a> {
    Text {
        text: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<&'a Value>,
    },
    Image {
        source: OutSource<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<&'a Value>,
    },
    Document {
        source: OutSource<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        title: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<&'a Value>,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Value,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<&'a Value>,
    },
    ToolResult {
        tool_use_id: &'a str,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        content: Vec<OutBlock<'a>>,
        #[serde(skip_serializing_if = "is_false")]
        is_error: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<&'a Value>,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    RedactedThinking {
        data: &'a str,
    },
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum OutSource<'a> {
    Base64 {
        media_type: Cow<'a, str>,
        data: Cow<'a, str>,
    },
    Url {
        url: &'a str,
    },
    Text {
        media_type: &'static str,
        data: String,
    },
    File {
        file_id: &'a str,
    },
}

#[derive(Debug, Serialize)]
pub(super) struct OutMessage<'a> {
    pub role: &'static str,
    pub content: Vec<OutBlock<'a>>,
}

/// A whole response message (also the `message` of `message_start`).
#[derive(Debug, Serialize)]
pub(super) struct OutResponse<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub role: &'static str,
    pub model: &'a str,
    pub content: Vec<OutBlock<'a>>,
    pub stop_reason: Option<&'static str>,
    pub stop_sequence: Option<&'a str>,
    pub usage: OutUsage,
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub(super) struct OutUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
}

/// One stream frame lmrelay writes; [`OutFrame::name`] is its SSE `event:` name.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum OutFrame<'a> {
    MessageStart {
        message: OutResponse<'a>,
    },
    ContentBlockStart {
        index: u32,
        content_block: OutBlock<'a>,
    },
    ContentBlockDelta {
        index: u32,
        delta: OutDelta<'a>,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: OutStop<'a>,
        usage: OutUsage,
    },
    MessageStop,
    Error {
        error: OutError<'a>,
    },
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum OutDelta<'a> {
    #[serde(rename = "text_delta")]
    Text { text: &'a str },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: &'a str },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: &'a str },
    #[serde(rename = "signature_delta")]
    Signature { signature: &'a str },
}

#[derive(Debug, Serialize)]
pub(super) struct OutStop<'a> {
    pub stop_reason: &'static str,
    pub stop_sequence: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub(super) struct OutError<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub message: &'a str,
}

// === impl WireContent ===

impl<'de> Deserialize<'de> for WireContent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ContentVisitor;

        impl<'de> Visitor<'de> for ContentVisitor {
            type Value = WireContent;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of content blocks")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<WireContent, E> {
                Ok(WireContent::Text(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<WireContent, E> {
                Ok(WireContent::Text(v))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WireContent, A::Error> {
                let mut blocks = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(block) = seq.next_element()? {
                    blocks.push(block);
                }
                Ok(WireContent::Blocks(blocks))
            }
        }

        deserializer.deserialize_any(ContentVisitor)
    }
}

// === impl OutFrame ===

impl OutFrame<'_> {
    /// The SSE `event:` name, equal to the frame's `type`.
    pub fn name(&self) -> &'static str {
        match self {
            OutFrame::MessageStart { .. } => "message_start",
            OutFrame::ContentBlockStart { .. } => "content_block_start",
            OutFrame::ContentBlockDelta { .. } => "content_block_delta",
            OutFrame::ContentBlockStop { .. } => "content_block_stop",
            OutFrame::MessageDelta { .. } => "message_delta",
            OutFrame::MessageStop => "message_stop",
            OutFrame::Error { .. } => "error",
        }
    }
}

// === impl OutUsage ===

impl OutUsage {
    /// Anthropic counts: `input_tokens` excludes cache reads and writes.
    pub fn from_usage(u: &lmrelay_ir::Usage) -> Self {
        OutUsage {
            input_tokens: u.uncached_input(),
            output_tokens: u.output,
            cache_creation_input_tokens: u.cache_write,
            cache_read_input_tokens: u.cache_read,
        }
    }
}

// === impl WireUsage ===

impl WireUsage {
    /// Canonical usage (input includes cache tokens).
    pub fn to_usage(self) -> lmrelay_ir::Usage {
        lmrelay_ir::Usage::from_uncached(
            self.input_tokens.unwrap_or(0),
            self.output_tokens.unwrap_or(0),
            self.cache_read_input_tokens.unwrap_or(0),
            self.cache_creation_input_tokens.unwrap_or(0),
        )
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}
