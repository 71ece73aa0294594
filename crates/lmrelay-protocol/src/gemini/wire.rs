//! Private serde mirrors of the Gemini wire format (protocols.md §4): what lmrelay writes
//! (`Out*`, camelCase as the API documents it) and what it reads (`Wire*`, which also accepts
//! the snake_case spelling the protobuf JSON mapping allows, and ignores unknown fields).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;

// === request ===

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OutRequest<'a> {
    /// Only inside a `countTokens` `generateContentRequest`, which needs it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub contents: Vec<OutContent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<OutSystem<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<OutTools<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<OutToolConfig<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation_config: Option<OutGenerationConfig<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OutCountTokens<'a> {
    pub generate_content_request: OutRequest<'a>,
}

#[derive(Serialize)]
pub(super) struct OutContent<'a> {
    pub role: &'static str,
    pub parts: Vec<OutPart<'a>>,
}

#[derive(Serialize)]
pub(super) struct OutSystem<'a> {
    pub parts: Vec<OutPart<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OutPart<'a> {
    #[serde(flatten)]
    pub data: OutData<'a>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub thought: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<Cow<'a, str>>,
}

/// The one data field of a part.
#[derive(Serialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub(super) enum OutData<'a> {
    Text(&'a str),
    InlineData {
        mime_type: Cow<'a, str>,
        data: Cow<'a, str>,
    },
    FunctionCall {
        name: &'a str,
        args: Value,
    },
    FunctionResponse {
        name: Cow<'a, str>,
        response: Value,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OutTools<'a> {
    pub function_declarations: Vec<OutFunction<'a>>,
}

#[derive(Serialize)]
pub(super) struct OutFunction<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OutToolConfig<'a> {
    pub function_calling_config: OutFunctionCalling<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OutFunctionCalling<'a> {
    pub mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_function_names: Option<Vec<&'a str>>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct OutGenerationConfig<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_config: Option<OutThinking>,
}

#[derive(Serialize, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(super) struct OutThinking {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_thoughts: Option<bool>,
}

// === response ===

/// A `GenerateContentResponse`: a whole answer, or one chunk of a stream. A chunk may also be
/// an `{"error": …}` object.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct WireResponse {
    pub candidates: Vec<WireCandidate>,
    #[serde(alias = "prompt_feedback")]
    pub prompt_feedback: Option<WirePromptFeedback>,
    #[serde(alias = "usage_metadata")]
    pub usage_metadata: Option<WireUsage>,
    #[serde(alias = "model_version")]
    pub model_version: String,
    #[serde(alias = "response_id")]
    pub response_id: String,
    pub error: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct WireCandidate {
    pub content: Option<WireContent>,
    #[serde(alias = "finish_reason")]
    pub finish_reason: Option<String>,
    pub index: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct WireContent {
    pub parts: Vec<WirePart>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct WirePart {
    pub text: Option<String>,
    pub thought: bool,
    #[serde(alias = "thought_signature")]
    pub thought_signature: Option<String>,
    #[serde(alias = "function_call")]
    pub function_call: Option<WireFunctionCall>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct WireFunctionCall {
    pub id: Option<String>,
    pub name: String,
    pub args: Value,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct WirePromptFeedback {
    #[serde(alias = "block_reason")]
    pub block_reason: Option<String>,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct WireUsage {
    #[serde(alias = "prompt_token_count")]
    pub prompt_token_count: u64,
    #[serde(alias = "candidates_token_count")]
    pub candidates_token_count: u64,
    #[serde(alias = "thoughts_token_count")]
    pub thoughts_token_count: Option<u64>,
    #[serde(alias = "cached_content_token_count")]
    pub cached_content_token_count: u64,
    #[serde(alias = "tool_use_prompt_token_count")]
    pub tool_use_prompt_token_count: u64,
}
