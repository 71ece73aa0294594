//! Chat Completions responses, both directions, and the usage and finish-reason vocabulary
//! the stream codecs share.

use crate::json::to_vec;
use crate::tools::random_id;
use crate::ResponseMeta;
use lmrelay_ir::{ApiError, ChatResponse, ContentPart, ErrorKind, FinishReason, Usage};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize)]
struct WireResponse {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    choices: Vec<WireChoice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    #[serde(default)]
    message: WireMessage,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct WireMessage {
    content: Option<Value>,
    refusal: Option<String>,
    reasoning_content: Option<String>,
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
}

#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    id: String,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    #[serde(default)]
    name: String,
    #[serde(default)]
    arguments: Value,
}

/// OpenAI's usage object, as read from upstreams (vendors vary the details).
#[derive(Deserialize, Serialize, Default, Debug, Clone)]
pub(crate) struct WireUsage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Deserialize, Serialize, Default, Debug, Clone)]
pub(crate) struct PromptDetails {
    #[serde(default)]
    pub cached_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u64>,
}

#[derive(Deserialize, Serialize, Default, Debug, Clone)]
pub(crate) struct CompletionDetails {
    #[serde(default)]
    pub reasoning_tokens: u64,
}

// === impl WireUsage ===

impl WireUsage {
    pub(crate) fn to_usage(&self) -> Usage {
        let details = self.prompt_tokens_details.as_ref();
        let mut output = self.completion_tokens;
        let reasoning = self
            .completion_tokens_details
            .as_ref()
            .map(|d| d.reasoning_tokens);
        // xAI leaves reasoning out of completion_tokens but counts it in the total.
        if let Some(r) = reasoning {
            if self.total_tokens > self.prompt_tokens + output
                && self.total_tokens == self.prompt_tokens + output + r
            {
                output += r;
            }
        }
        Usage {
            input: self.prompt_tokens,
            output,
            cache_read: details.map_or(0, |d| d.cached_tokens),
            cache_write: details.and_then(|d| d.cache_write_tokens).unwrap_or(0),
            reasoning,
        }
    }

    pub(crate) fn from_usage(u: &Usage) -> Self {
        WireUsage {
            prompt_tokens: u.input,
            completion_tokens: u.output,
            total_tokens: u.total(),
            prompt_tokens_details: Some(PromptDetails {
                cached_tokens: u.cache_read,
                cache_write_tokens: (u.cache_write > 0).then_some(u.cache_write),
            }),
            completion_tokens_details: Some(CompletionDetails {
                reasoning_tokens: u.reasoning.unwrap_or(0),
            }),
        }
    }
}

/// Maps an upstream `finish_reason` to the canonical one (vendors add `eos`, `""`, `error`).
pub(crate) fn finish_from_str(s: &str) -> FinishReason {
    match s {
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        "error" => FinishReason::Error,
        _ => FinishReason::Stop,
    }
}

/// The OpenAI `finish_reason` for a canonical one.
pub fn finish_reason_str(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop
        | FinishReason::StopSequence
        | FinishReason::Pause
        | FinishReason::Error => "stop",
        FinishReason::Length | FinishReason::ContextExceeded => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::ContentFilter => "content_filter",
    }
}

/// Reads the usage and finish reason of a Chat Completions response passed through as is;
/// the rest of it is skipped, not built. Not a chat completion: a 502, as decoding says.
pub fn answer_summary(body: &[u8]) -> Result<crate::AnswerSummary, ApiError> {
    #[derive(Deserialize)]
    struct View<'a> {
        #[serde(default, borrow)]
        choices: Vec<ChoiceView<'a>>,
        usage: Option<WireUsage>,
    }
    #[derive(Deserialize)]
    struct ChoiceView<'a> {
        #[serde(default, borrow)]
        finish_reason: Option<std::borrow::Cow<'a, str>>,
    }
    let v: View<'_> = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorKind::BadGateway,
            format!("The upstream sent a chat completion lmrelay could not read: {e}"),
        )
    })?;
    Ok(crate::AnswerSummary {
        usage: v
            .usage
            .as_ref()
            .map(WireUsage::to_usage)
            .unwrap_or_default(),
        finish: v
            .choices
            .first()
            .and_then(|c| c.finish_reason.as_deref())
            .map_or(FinishReason::Stop, finish_from_str),
    })
}

/// Decodes a Chat Completions response from an upstream.
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, ApiError> {
    let w: WireResponse = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorKind::BadGateway,
            format!("The upstream sent a chat completion lmrelay could not read: {e}"),
        )
    })?;
    let mut content = Vec::new();
    let mut finish = FinishReason::Stop;
    if let Some(choice) = w.choices.into_iter().next() {
        let m = choice.message;
        if let Some(r) = m
            .reasoning_content
            .or(m.reasoning)
            .filter(|r| !r.is_empty())
        {
            content.push(ContentPart::Reasoning {
                text: r,
                signature: None,
            });
        }
        match m.content {
            Some(Value::String(s)) if !s.is_empty() => content.push(ContentPart::text(s)),
            Some(Value::Array(parts)) => {
                for p in parts {
                    if let Some(t) = p.get("text").and_then(Value::as_str) {
                        content.push(ContentPart::text(t));
                    }
                }
            }
            _ => {}
        }
        if let Some(r) = m.refusal.filter(|r| !r.is_empty()) {
            content.push(ContentPart::text(r));
        }
        for c in m.tool_calls {
            content.push(ContentPart::ToolCall {
                cache_control: None,
                id: if c.id.is_empty() {
                    random_id("call_", 24)
                } else {
                    c.id
                },
                name: c.function.name,
                arguments: match c.function.arguments {
                    Value::String(s) => s,
                    Value::Null => String::new(),
                    other => other.to_string(),
                },
            });
        }
        finish = finish_from_str(choice.finish_reason.as_deref().unwrap_or("stop"));
    }
    let mut resp = ChatResponse {
        id: w.id,
        model: w.model,
        content,
        finish,
        stop_sequence: None,
        usage: w.usage.map(|u| u.to_usage()).unwrap_or_default(),
    };
    resp.finish = resp.finish.with_tool_calls(resp.has_tool_calls());
    Ok(resp)
}

#[derive(Serialize)]
struct OutResponse<'a> {
    id: String,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [OutChoice<'a>; 1],
    usage: WireUsage,
}

#[derive(Serialize)]
struct OutChoice<'a> {
    index: u32,
    message: OutMessage<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    content: Option<String>,
    refusal: Option<()>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<OutToolCall<'a>>,
}

#[derive(Serialize)]
struct OutToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: OutFunction<'a>,
}

#[derive(Serialize)]
struct OutFunction<'a> {
    name: &'a str,
    arguments: &'a str,
}

/// The `chatcmpl-` id to show a client for an upstream response id.
pub(crate) fn completion_id(upstream_id: &str, prefix: &str) -> String {
    if upstream_id.starts_with(prefix) {
        upstream_id.to_owned()
    } else if upstream_id.is_empty() {
        random_id(prefix, 24)
    } else {
        format!("{prefix}{upstream_id}")
    }
}

/// Encodes a canonical response as a Chat Completions body for an OpenAI client.
pub fn encode_response(resp: &ChatResponse, meta: &ResponseMeta) -> Vec<u8> {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    for p in &resp.content {
        match p {
            ContentPart::Text { text: t, .. } => text.push_str(t),
            ContentPart::Reasoning { text: t, .. } => reasoning.push_str(t),
            ContentPart::ToolCall {
                id,
                name,
                arguments,
                ..
            } => tool_calls.push(OutToolCall {
                id,
                kind: "function",
                function: OutFunction { name, arguments },
            }),
            _ => {}
        }
    }
    let finish = resp.finish.with_tool_calls(!tool_calls.is_empty());
    let body = OutResponse {
        id: completion_id(&resp.id, "chatcmpl-"),
        object: "chat.completion",
        created: meta.created_secs(),
        model: &meta.model,
        choices: [OutChoice {
            index: 0,
            message: OutMessage {
                role: "assistant",
                content: (!text.is_empty() || tool_calls.is_empty()).then_some(text),
                refusal: None,
                reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
                tool_calls,
            },
            logprobs: None,
            finish_reason: finish_reason_str(finish),
        }],
        usage: WireUsage::from_usage(&resp.usage),
    };
    to_vec(&body)
}
