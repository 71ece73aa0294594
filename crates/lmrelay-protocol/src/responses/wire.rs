//! The Responses API's wire types (protocols.md §1.11), shared by both directions: input
//! items and their parts, tools, the response object, output items and usage.
//!
//! Everything lmrelay reads is lenient (ids, statuses and annotations may be missing, as in
//! Codex's history); everything it writes carries the fields openai-python requires.

use lmrelay_ir::Usage;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// `input`: one user message as a string, or a list of items.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Input {
    Text(String),
    /// Items stay objects until [`super::request`] has read their `type`, which a message
    /// may leave out.
    Items(Vec<Map<String, Value>>),
}

/// An input item lmrelay translates (after `type` is filled in for bare messages).
#[derive(Deserialize, Serialize, Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum InputItem {
    Message {
        role: String,
        content: Content,
    },
    FunctionCall {
        call_id: String,
        name: String,
        arguments: String,
        /// The namespace of a namespaced tool's call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
    },
    FunctionCallOutput {
        call_id: String,
        output: Content,
    },
    Reasoning {
        #[serde(default)]
        summary: Vec<SummaryPart>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<String>,
    },
}

/// A message's (or a tool output's) content: a string or parts. Read by hand (not as an
/// untagged enum) so a bad part is named with its index and its own error.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(untagged)]
pub(crate) enum Content {
    Text(String),
    Parts(Vec<Part>),
}

/// A content part of an input message (or of assistant history).
#[derive(Deserialize, Serialize, Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Part {
    InputText {
        text: String,
    },
    InputImage {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        image_url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    InputFile {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file_data: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file_url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filename: Option<String>,
    },
    OutputText {
        text: String,
    },
    Refusal {
        refusal: String,
    },
    /// Parts lmrelay does not translate (audio, …) are skipped.
    #[serde(other)]
    Other,
}

/// One entry of a reasoning item's `summary`.
#[derive(Deserialize, Serialize, Debug, Clone, PartialEq)]
pub(crate) struct SummaryPart {
    #[serde(rename = "type", default = "summary_text")]
    pub kind: String,
    pub text: String,
}

/// A tool as the client declared it; only `function` tools are translated.
#[derive(Deserialize)]
pub(crate) struct WireTool {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub parameters: Option<Value>,
    pub strict: Option<bool>,
    /// A `namespace` tool's own tools.
    #[serde(default)]
    pub tools: Vec<WireTool>,
}

/// A flat function tool, as lmrelay sends it (both `parameters` and `strict` always present).
#[derive(Serialize)]
pub(crate) struct OutTool<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub parameters: Value,
    pub strict: bool,
}

/// `tool_choice`: a mode or an object.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum WireToolChoice {
    Mode(String),
    Object(ToolChoiceObject),
}

#[derive(Deserialize)]
pub(crate) struct ToolChoiceObject {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: Option<String>,
    pub mode: Option<String>,
}

/// `reasoning`: effort and summary.
#[derive(Deserialize, Serialize, Default)]
pub(crate) struct WireReasoning {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// `text`: the output format (flat, unlike chat's nested `json_schema`).
#[derive(Deserialize, Serialize, Default)]
pub(crate) struct TextConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<TextFormat>,
}

#[derive(Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum TextFormat {
    Text,
    JsonObject,
    JsonSchema {
        name: String,
        schema: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        strict: Option<bool>,
    },
}

/// The response object, as lmrelay writes it and reads it.
#[derive(Deserialize, Serialize, Debug, Clone)]
pub(crate) struct ResponseObject {
    #[serde(default)]
    pub id: String,
    #[serde(default = "response_object")]
    pub object: String,
    #[serde(default)]
    pub created_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<u64>,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub error: Option<ResponseError>,
    #[serde(default)]
    pub incomplete_details: Option<IncompleteDetails>,
    #[serde(default)]
    pub instructions: Option<Value>,
    #[serde(default)]
    pub metadata: Map<String, Value>,
    #[serde(default)]
    pub output: Vec<OutputItem>,
    #[serde(default = "yes")]
    pub parallel_tool_calls: bool,
    #[serde(default)]
    pub tool_choice: Value,
    #[serde(default)]
    pub tools: Vec<Value>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub usage: Option<WireUsage>,
}

/// `error` of a failed response (and of the `error` stream event's nested form).
#[derive(Deserialize, Serialize, Debug, Clone, Default)]
pub(crate) struct ResponseError {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: String,
}

#[derive(Deserialize, Serialize, Debug, Clone)]
pub(crate) struct IncompleteDetails {
    pub reason: String,
}

/// An item of `output`.
#[derive(Deserialize, Serialize, Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum OutputItem {
    Message {
        #[serde(default)]
        id: String,
        #[serde(default = "assistant")]
        role: String,
        #[serde(default = "completed")]
        status: String,
        #[serde(default)]
        content: Vec<OutputPart>,
    },
    FunctionCall {
        #[serde(default)]
        id: String,
        call_id: String,
        name: String,
        #[serde(default)]
        arguments: String,
        #[serde(default = "completed")]
        status: String,
        /// The namespace of a namespaced tool's call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
    },
    Reasoning {
        #[serde(default)]
        id: String,
        #[serde(default)]
        summary: Vec<SummaryPart>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<String>,
    },
    /// Items of hosted tools and the like, which lmrelay does not translate.
    #[serde(other)]
    Other,
}

/// A part of an output message.
#[derive(Deserialize, Serialize, Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum OutputPart {
    OutputText {
        #[serde(default)]
        text: String,
        #[serde(default)]
        annotations: Vec<Value>,
    },
    Refusal {
        #[serde(default)]
        refusal: String,
    },
    #[serde(other)]
    Other,
}

/// Token counts in the Responses shape; both `*_details` objects are always written.
#[derive(Deserialize, Serialize, Debug, Clone, Default, PartialEq)]
pub(crate) struct WireUsage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub input_tokens_details: InputDetails,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub output_tokens_details: OutputDetails,
    #[serde(default)]
    pub total_tokens: u64,
}

#[derive(Deserialize, Serialize, Debug, Clone, Default, PartialEq)]
pub(crate) struct InputDetails {
    #[serde(default)]
    pub cached_tokens: u64,
}

#[derive(Deserialize, Serialize, Debug, Clone, Default, PartialEq)]
pub(crate) struct OutputDetails {
    #[serde(default)]
    pub reasoning_tokens: u64,
}

fn summary_text() -> String {
    "summary_text".to_owned()
}

fn response_object() -> String {
    "response".to_owned()
}

fn assistant() -> String {
    "assistant".to_owned()
}

fn completed() -> String {
    "completed".to_owned()
}

fn yes() -> bool {
    true
}

// === impl Content ===

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ContentVisitor;

        impl<'de> Visitor<'de> for ContentVisitor {
            type Value = Content;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of content parts")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Content, E> {
                Ok(Content::Text(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Content, E> {
                Ok(Content::Text(v))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
                let mut parts = Vec::new();
                loop {
                    let n = parts.len();
                    match seq.next_element::<Part>() {
                        Ok(Some(p)) => parts.push(p),
                        Ok(None) => return Ok(Content::Parts(parts)),
                        Err(e) => return Err(de::Error::custom(format_args!("content[{n}]: {e}"))),
                    }
                }
            }
        }

        d.deserialize_any(ContentVisitor)
    }
}

// === impl WireUsage ===

impl WireUsage {
    pub(crate) fn from_usage(u: &Usage) -> Self {
        WireUsage {
            input_tokens: u.input,
            input_tokens_details: InputDetails {
                cached_tokens: u.cache_read,
            },
            output_tokens: u.output,
            output_tokens_details: OutputDetails {
                reasoning_tokens: u.reasoning.unwrap_or(0),
            },
            total_tokens: u.total(),
        }
    }

    pub(crate) fn to_usage(&self) -> Usage {
        Usage {
            input: self.input_tokens,
            output: self.output_tokens,
            cache_read: self.input_tokens_details.cached_tokens,
            cache_write: 0,
            reasoning: Some(self.output_tokens_details.reasoning_tokens).filter(|r| *r > 0),
        }
    }
}
