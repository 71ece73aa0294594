//! The canonical chat request: messages, tools, sampling and output options.

use crate::Extra;
use serde_json::Value;

/// A chat request as every codec understands it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    /// The model name the client asked for (before routing).
    pub model: String,
    /// The conversation in order; system and developer turns stay where the client put them.
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub sampling: Sampling,
    pub response_format: Option<ResponseFormat>,
    pub reasoning: Option<Reasoning>,
    /// End-user identifier (`user`, `metadata.user_id`).
    pub user: Option<String>,
    pub stream: bool,
    /// The client wants usage reported in the stream (OpenAI `stream_options.include_usage`).
    pub include_usage: bool,
    /// Fields of the client's protocol that lmrelay does not model, passed on only to an
    /// upstream of that same protocol.
    pub extra: Extra,
    /// Tool namespaces the client declared (Responses `namespace` tools). Their tools are
    /// flattened to `{namespace}__{name}` (see [`namespaced_tool_name`]); the client's
    /// encoder splits calls back by these names.
    pub tool_namespaces: Vec<String>,
}

/// The flat name of tool `name` in namespace `namespace`: one name every upstream accepts
/// (letters, digits, `_` and `-`).
pub fn namespaced_tool_name(namespace: &str, name: &str) -> String {
    format!("{namespace}__{name}")
}

/// Splits a flat tool name back into one of `namespaces` and the tool's own name.
pub fn split_namespaced_tool<'a>(
    namespaces: &[String],
    flat: &'a str,
) -> Option<(&'a str, &'a str)> {
    namespaces.iter().find_map(|ns| {
        let rest = flat.strip_prefix(ns.as_str())?.strip_prefix("__")?;
        Some((&flat[..ns.len()], rest))
    })
}

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    /// OpenAI's successor of `system`; every other format treats it as `system`.
    Developer,
    User,
    Assistant,
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<ContentPart>,
    /// Optional participant name (OpenAI `name`).
    pub name: Option<String>,
}

/// A piece of a message. Tool results live in user messages, as in Anthropic's format;
/// codecs of formats with a separate tool role split and merge them. `cache_control` is
/// Anthropic's prompt-caching marker, which may sit on any block; only the Anthropic codec
/// reads or writes it.
#[derive(Debug, Clone, PartialEq)]
pub enum ContentPart {
    Text {
        text: String,
        /// Anthropic prompt-caching marker, kept only for Anthropic upstreams.
        cache_control: Option<Value>,
    },
    Image {
        source: ImageSource,
        /// OpenAI's `detail` hint; no other format has it.
        detail: Option<String>,
        cache_control: Option<Value>,
    },
    /// A document such as a PDF (OpenAI `file`, Anthropic `document`).
    File {
        media_type: Option<String>,
        /// Base64 data, without a `data:` prefix.
        data: Option<String>,
        file_id: Option<String>,
        filename: Option<String>,
        cache_control: Option<Value>,
    },
    Audio {
        format: String,
        data: String,
    },
    ToolCall {
        id: String,
        name: String,
        /// The arguments as JSON text, exactly as the model produced them.
        arguments: String,
        cache_control: Option<Value>,
    },
    ToolResult {
        call_id: String,
        /// The called tool's name, when known (Ollama needs it).
        name: Option<String>,
        content: Vec<ContentPart>,
        is_error: bool,
        cache_control: Option<Value>,
    },
    /// Model reasoning. A signature is opaque and valid only with the provider that made it.
    Reasoning {
        text: String,
        signature: Option<String>,
    },
    /// Anthropic's encrypted reasoning, passed back byte-exact or not at all.
    RedactedReasoning {
        data: String,
    },
}

/// Where an image comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageSource {
    Url(String),
    Base64 { media_type: String, data: String },
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments; `None` means no arguments.
    pub parameters: Option<Value>,
    pub strict: Option<bool>,
    pub cache_control: Option<Value>,
}

/// How the model must use the tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    Auto,
    None,
    Required,
    Named(String),
}

/// Sampling and length controls. `None` means "the upstream's default".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sampling {
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u32>,
    pub stop: Vec<String>,
    pub seed: Option<i64>,
    pub frequency_penalty: Option<f64>,
    pub presence_penalty: Option<f64>,
    pub n: Option<u32>,
}

/// The shape the output must take.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema {
        name: String,
        description: Option<String>,
        schema: Value,
        strict: Option<bool>,
    },
}

/// Reasoning ("thinking") controls.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reasoning {
    /// `false` when the client turned reasoning off explicitly.
    pub enabled: bool,
    /// `low`, `medium`, `high`, … as the client said it.
    pub effort: Option<String>,
    /// Anthropic-style token budget.
    pub budget_tokens: Option<u32>,
}

// === impl ChatRequest ===

impl ChatRequest {
    /// The text of the last user message, if any.
    pub fn last_user_text(&self) -> Option<String> {
        let msg = self.messages.iter().rev().find(|m| m.role == Role::User)?;
        Some(text_of(&msg.content))
    }

    /// Whether the client asked to see reasoning.
    pub fn wants_reasoning(&self) -> bool {
        self.reasoning.as_ref().is_some_and(|r| r.enabled)
    }
}

// === impl Message ===

impl Message {
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            content: vec![ContentPart::text(text)],
            name: None,
        }
    }

    /// Whether this is a system or developer turn.
    pub fn is_system(&self) -> bool {
        matches!(self.role, Role::System | Role::Developer)
    }
}

// === impl ContentPart ===

impl ContentPart {
    pub fn text(text: impl Into<String>) -> Self {
        ContentPart::Text {
            text: text.into(),
            cache_control: None,
        }
    }
}

/// Concatenates the text parts of `parts`, separated by nothing (text parts are fragments).
pub fn text_of(parts: &[ContentPart]) -> String {
    let mut out = String::new();
    for p in parts {
        if let ContentPart::Text { text, .. } = p {
            out.push_str(text);
        }
    }
    out
}
