//! Chat Completions requests: decoding what OpenAI clients send, and encoding what OpenAI and
//! OpenAI-compatible upstreams accept.

use crate::json::{decode_body, to_vec};
use crate::tools::{image_source_from_url, image_url, parse_data_url};
use crate::UpstreamOptions;
use lmrelay_ir::{
    ApiError, ChatRequest, ContentPart, Extra, Message, Reasoning, ResponseFormat, Role, Sampling,
    Tool, ToolChoice,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Deserialize)]
struct WireRequest {
    model: String,
    messages: Vec<WireMessage>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    /// Not OpenAI's own, but accepted by many compatible servers (vLLM, Groq, …).
    top_k: Option<u32>,
    max_completion_tokens: Option<u32>,
    max_tokens: Option<u32>,
    stop: Option<Stop>,
    n: Option<u32>,
    seed: Option<i64>,
    frequency_penalty: Option<f64>,
    presence_penalty: Option<f64>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    tools: Option<Vec<WireTool>>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    functions: Option<Vec<WireFunction>>,
    function_call: Option<Value>,
    response_format: Option<Value>,
    reasoning_effort: Option<String>,
    user: Option<String>,
    #[serde(flatten)]
    extra: Extra,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct StreamOptions {
    include_usage: Option<bool>,
}

#[derive(Deserialize)]
struct WireMessage {
    role: String,
    content: Option<Value>,
    name: Option<String>,
    tool_calls: Option<Vec<WireToolCall>>,
    tool_call_id: Option<String>,
    function_call: Option<WireFunctionCall>,
    reasoning_content: Option<String>,
    reasoning: Option<String>,
}

#[derive(Deserialize, Serialize)]
struct WireToolCall {
    id: String,
    #[serde(rename = "type", default = "function_type")]
    kind: String,
    function: WireFunctionCall,
}

#[derive(Deserialize, Serialize)]
struct WireFunctionCall {
    name: String,
    #[serde(default)]
    arguments: Value,
}

#[derive(Deserialize)]
struct WireTool {
    #[serde(rename = "type", default = "function_type")]
    kind: String,
    function: Option<WireFunction>,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    description: Option<String>,
    parameters: Option<Value>,
    strict: Option<bool>,
}

fn function_type() -> String {
    "function".to_owned()
}

/// Decodes a `POST /v1/chat/completions` body.
pub fn decode_request(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let w: WireRequest = decode_body(body)?;
    if w.messages.is_empty() {
        return Err(
            ApiError::invalid("`messages` must contain at least one message.")
                .with_param("messages"),
        );
    }
    let mut messages: Vec<Message> = Vec::with_capacity(w.messages.len());
    for (i, m) in w.messages.into_iter().enumerate() {
        decode_message(i, m, &mut messages)?;
    }
    let mut tools = Vec::new();
    for (i, t) in w.tools.into_iter().flatten().enumerate() {
        if t.kind != "function" {
            return Err(ApiError::invalid(format!(
                "Tool type `{}` is not supported; lmrelay translates `function` tools.",
                t.kind
            ))
            .with_param(format!("tools[{i}].type")));
        }
        let f = t.function.ok_or_else(|| {
            ApiError::invalid("A function tool needs a `function` object.")
                .with_param(format!("tools[{i}].function"))
        })?;
        tools.push(tool_from_wire(f));
    }
    tools.extend(w.functions.into_iter().flatten().map(tool_from_wire));
    let tool_choice = match w.tool_choice.or(w.function_call) {
        Some(v) => decode_tool_choice(&v)?,
        None => None,
    };
    let stop = match w.stop {
        Some(Stop::One(s)) => vec![s],
        Some(Stop::Many(v)) => v,
        None => vec![],
    };
    let reasoning = w.reasoning_effort.map(|effort| Reasoning {
        enabled: effort != "none",
        effort: Some(effort),
        budget_tokens: None,
    });
    Ok(ChatRequest {
        model: w.model,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: w.parallel_tool_calls,
        sampling: Sampling {
            max_tokens: w.max_completion_tokens.or(w.max_tokens),
            temperature: w.temperature,
            top_p: w.top_p,
            top_k: w.top_k,
            stop: stop.into_iter().filter(|s| !s.is_empty()).collect(),
            seed: w.seed,
            frequency_penalty: w.frequency_penalty,
            presence_penalty: w.presence_penalty,
            n: w.n,
        },
        response_format: w
            .response_format
            .map(|v| decode_response_format(&v))
            .transpose()?,
        reasoning,
        user: w.user,
        stream: w.stream.unwrap_or(false),
        include_usage: w
            .stream_options
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
        extra: w.extra,
        tool_namespaces: Vec::new(),
    })
}

fn tool_from_wire(f: WireFunction) -> Tool {
    Tool {
        name: f.name,
        description: f.description,
        parameters: f.parameters,
        strict: f.strict,
        cache_control: None,
    }
}

fn decode_message(i: usize, m: WireMessage, out: &mut Vec<Message>) -> Result<(), ApiError> {
    let role = match m.role.as_str() {
        "system" => Role::System,
        "developer" => Role::Developer,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" | "function" => {
            let call_id = m
                .tool_call_id
                .clone()
                .or_else(|| m.name.clone())
                .ok_or_else(|| {
                    ApiError::invalid("A `tool` message needs a `tool_call_id`.")
                        .with_param(format!("messages[{i}].tool_call_id"))
                })?;
            let content = decode_content(i, m.content.as_ref())?;
            let name = crate::tools::tool_name_for(out, &call_id).or(m.name);
            let result = ContentPart::ToolResult {
                cache_control: None,
                call_id,
                name,
                content,
                is_error: false,
            };
            // Tool results live in user messages; consecutive results share one.
            match out.last_mut() {
                Some(prev)
                    if prev.role == Role::User
                        && prev
                            .content
                            .iter()
                            .all(|p| matches!(p, ContentPart::ToolResult { .. })) =>
                {
                    prev.content.push(result)
                }
                _ => out.push(Message {
                    role: Role::User,
                    content: vec![result],
                    name: None,
                }),
            }
            return Ok(());
        }
        other => {
            return Err(ApiError::invalid(format!(
                "Unknown role `{other}`; expected system, developer, user, assistant or tool."
            ))
            .with_param(format!("messages[{i}].role")))
        }
    };
    let mut content = Vec::new();
    if role == Role::Assistant {
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
    }
    content.extend(decode_content(i, m.content.as_ref())?);
    for call in m.tool_calls.into_iter().flatten() {
        content.push(ContentPart::ToolCall {
            cache_control: None,
            id: call.id,
            name: call.function.name,
            arguments: arguments_text(call.function.arguments),
        });
    }
    if let Some(fc) = m.function_call {
        content.push(ContentPart::ToolCall {
            cache_control: None,
            id: fc.name.clone(),
            name: fc.name,
            arguments: arguments_text(fc.arguments),
        });
    }
    out.push(Message {
        role,
        content,
        name: m.name,
    });
    Ok(())
}

fn arguments_text(v: Value) -> String {
    match v {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn decode_content(i: usize, content: Option<&Value>) -> Result<Vec<ContentPart>, ApiError> {
    let bad = |j: usize, what: &str| {
        ApiError::invalid(format!("Invalid content part: {what}."))
            .with_param(format!("messages[{i}].content[{j}]"))
    };
    match content {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::String(s)) if s.is_empty() => Ok(vec![]),
        Some(Value::String(s)) => Ok(vec![ContentPart::text(s.clone())]),
        Some(Value::Array(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for (j, p) in parts.iter().enumerate() {
                let kind = p.get("type").and_then(Value::as_str).unwrap_or("text");
                match kind {
                    "text" | "input_text" => {
                        let text = p
                            .get("text")
                            .and_then(Value::as_str)
                            .ok_or_else(|| bad(j, "a text part needs a string `text`"))?;
                        out.push(ContentPart::text(text));
                    }
                    "refusal" => {
                        if let Some(t) = p.get("refusal").and_then(Value::as_str) {
                            out.push(ContentPart::text(t));
                        }
                    }
                    "image_url" => {
                        let iu = p.get("image_url");
                        let url = iu
                            .and_then(|v| v.get("url").and_then(Value::as_str).or(v.as_str()))
                            .ok_or_else(|| bad(j, "an image_url part needs `image_url.url`"))?;
                        let detail = iu
                            .and_then(|v| v.get("detail"))
                            .and_then(Value::as_str)
                            .map(str::to_owned);
                        out.push(ContentPart::Image {
                            cache_control: None,
                            source: image_source_from_url(url),
                            detail,
                        });
                    }
                    "input_audio" => {
                        let a = p
                            .get("input_audio")
                            .ok_or_else(|| bad(j, "an input_audio part needs `input_audio`"))?;
                        out.push(ContentPart::Audio {
                            format: str_field(a, "format").unwrap_or_default(),
                            data: str_field(a, "data").unwrap_or_default(),
                        });
                    }
                    "file" => {
                        let f = p
                            .get("file")
                            .ok_or_else(|| bad(j, "a file part needs `file`"))?;
                        let (media_type, data) = match f
                            .get("file_data")
                            .and_then(Value::as_str)
                            .map(|d| parse_data_url(d).ok_or(d))
                        {
                            Some(Ok((m, d))) => (Some(m), Some(d)),
                            Some(Err(raw)) => (None, Some(raw.to_owned())),
                            None => (None, None),
                        };
                        out.push(ContentPart::File {
                            cache_control: None,
                            media_type,
                            data,
                            file_id: str_field(f, "file_id"),
                            filename: str_field(f, "filename"),
                        });
                    }
                    // Unknown part types are ignored rather than rejected: vendors add them.
                    _ => {}
                }
            }
            Ok(out)
        }
        Some(_) => Err(ApiError::invalid(
            "`content` must be a string, an array of content parts, or null.",
        )
        .with_param(format!("messages[{i}].content"))),
    }
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn decode_tool_choice(v: &Value) -> Result<Option<ToolChoice>, ApiError> {
    let choice = match v {
        Value::String(s) => match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" | "any" => ToolChoice::Required,
            other => {
                return Err(ApiError::invalid(format!(
                    "Unknown tool_choice `{other}`; expected auto, none, required or a function."
                ))
                .with_param("tool_choice"))
            }
        },
        Value::Object(o) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .or_else(|| o.get("name"))
                .and_then(Value::as_str);
            match (o.get("type").and_then(Value::as_str), name) {
                (_, Some(n)) => ToolChoice::Named(n.to_owned()),
                (Some("allowed_tools"), _) => {
                    match o
                        .get("allowed_tools")
                        .and_then(|a| a.get("mode"))
                        .and_then(Value::as_str)
                    {
                        Some("required") => ToolChoice::Required,
                        _ => ToolChoice::Auto,
                    }
                }
                _ => {
                    return Err(
                        ApiError::invalid("tool_choice object needs `function.name`.")
                            .with_param("tool_choice"),
                    )
                }
            }
        }
        Value::Null => return Ok(None),
        _ => {
            return Err(
                ApiError::invalid("tool_choice must be a string or an object.")
                    .with_param("tool_choice"),
            )
        }
    };
    Ok(Some(choice))
}

fn decode_response_format(v: &Value) -> Result<ResponseFormat, ApiError> {
    match v.get("type").and_then(Value::as_str) {
        Some("text") => Ok(ResponseFormat::Text),
        Some("json_object") => Ok(ResponseFormat::JsonObject),
        Some("json_schema") => {
            let js = v.get("json_schema").ok_or_else(|| {
                ApiError::invalid("response_format json_schema needs `json_schema`.")
                    .with_param("response_format.json_schema")
            })?;
            Ok(ResponseFormat::JsonSchema {
                name: str_field(js, "name").unwrap_or_else(|| "response".to_owned()),
                description: str_field(js, "description"),
                schema: js
                    .get("schema")
                    .cloned()
                    .unwrap_or(Value::Object(Map::new())),
                strict: js.get("strict").and_then(Value::as_bool),
            })
        }
        _ => Err(ApiError::invalid(
            "response_format.type must be text, json_object or json_schema.",
        )
        .with_param("response_format.type")),
    }
}

// --- upstream side ---

#[derive(Serialize)]
struct OutRequest<'a> {
    model: &'a str,
    messages: Vec<OutMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(flatten)]
    extra: &'a Extra,
}

#[derive(Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireToolCall>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
}

/// Encodes a canonical request as a Chat Completions body for an OpenAI(-compatible)
/// upstream. Streams always ask for usage, so a stream's token counts are known.
pub fn encode_request(req: &ChatRequest, opts: &UpstreamOptions) -> Result<Vec<u8>, ApiError> {
    let mut messages = Vec::with_capacity(req.messages.len() + 2);
    for m in &req.messages {
        encode_message(m, &mut messages)?;
    }
    let tools = req
        .tools
        .iter()
        .map(|t| {
            let mut f = Map::new();
            f.insert("name".into(), Value::String(t.name.clone()));
            if let Some(d) = &t.description {
                f.insert("description".into(), Value::String(d.clone()));
            }
            if let Some(p) = &t.parameters {
                f.insert("parameters".into(), p.clone());
            }
            if let Some(s) = t.strict {
                f.insert("strict".into(), Value::Bool(s));
            }
            serde_json::json!({"type": "function", "function": f})
        })
        .collect();
    let body = OutRequest {
        model: &opts.model,
        messages,
        temperature: req.sampling.temperature,
        top_p: req.sampling.top_p,
        // OpenAI itself rejects `top_k` and wants `max_completion_tokens`; compatible servers
        // take `top_k` and mostly still expect `max_tokens`.
        top_k: req.sampling.top_k.filter(|_| opts.openai_compatible),
        max_completion_tokens: req.sampling.max_tokens.filter(|_| !opts.openai_compatible),
        max_tokens: req.sampling.max_tokens.filter(|_| opts.openai_compatible),
        stop: &req.sampling.stop,
        n: req.sampling.n,
        seed: req.sampling.seed,
        frequency_penalty: req.sampling.frequency_penalty,
        presence_penalty: req.sampling.presence_penalty,
        stream: req.stream,
        stream_options: req
            .stream
            .then(|| serde_json::json!({"include_usage": true})),
        tools,
        tool_choice: req.tool_choice.as_ref().map(encode_tool_choice),
        parallel_tool_calls: req.parallel_tool_calls,
        response_format: req.response_format.as_ref().map(encode_response_format),
        // Only an effort the client named: non-reasoning models reject the field.
        reasoning_effort: req.reasoning.as_ref().and_then(|r| r.effort.as_deref()),
        user: req.user.as_deref(),
        extra: &req.extra,
    };
    Ok(to_vec(&body))
}

fn encode_message<'a>(m: &'a Message, out: &mut Vec<OutMessage<'a>>) -> Result<(), ApiError> {
    let role = match m.role {
        Role::System => "system",
        Role::Developer => "developer",
        Role::User => "user",
        Role::Assistant => "assistant",
    };
    // Tool results become `tool` messages ahead of the rest of the user turn.
    let mut parts: Vec<Value> = Vec::new();
    let mut tool_calls = Vec::new();
    let mut only_text = true;
    for p in &m.content {
        match p {
            ContentPart::ToolResult {
                call_id,
                content,
                is_error,
                ..
            } => {
                let mut text = crate::tools::flatten_text(content);
                if *is_error {
                    text.insert_str(0, "Error: ");
                }
                out.push(OutMessage {
                    role: "tool",
                    content: Some(Value::String(text)),
                    name: None,
                    tool_calls: vec![],
                    tool_call_id: Some(call_id),
                });
                // Images in a tool result cannot ride in a `tool` message: move them on.
                for c in content {
                    if let ContentPart::Image { .. } = c {
                        only_text = false;
                        parts.push(encode_part(c)?);
                    }
                }
            }
            ContentPart::ToolCall {
                id,
                name,
                arguments,
                ..
            } => tool_calls.push(WireToolCall {
                id: id.clone(),
                kind: function_type(),
                function: WireFunctionCall {
                    name: name.clone(),
                    arguments: Value::String(if arguments.is_empty() {
                        "{}".to_owned()
                    } else {
                        arguments.clone()
                    }),
                },
            }),
            // Reasoning and its signatures belong to the provider that made them.
            ContentPart::Reasoning { .. } | ContentPart::RedactedReasoning { .. } => {}
            ContentPart::Text { text, .. } if text.is_empty() => {}
            ContentPart::Text { .. } => parts.push(encode_part(p)?),
            _ => {
                only_text = false;
                parts.push(encode_part(p)?);
            }
        }
    }
    if parts.is_empty() && tool_calls.is_empty() {
        let had_results = m
            .content
            .iter()
            .any(|p| matches!(p, ContentPart::ToolResult { .. }));
        if had_results {
            return Ok(());
        }
    }
    let content = if parts.is_empty() {
        if role == "assistant" {
            None
        } else {
            Some(Value::String(String::new()))
        }
    } else if only_text && m.role != Role::User {
        // Plain strings are the most widely accepted form for non-user turns.
        let mut text = String::new();
        for t in parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
        {
            crate::tools::append_text(&mut text, t);
        }
        Some(Value::String(text))
    } else if only_text && parts.len() == 1 {
        parts[0].get("text").cloned()
    } else {
        Some(Value::Array(parts))
    };
    out.push(OutMessage {
        role,
        content,
        name: m.name.as_deref(),
        tool_calls,
        tool_call_id: None,
    });
    Ok(())
}

fn encode_part(p: &ContentPart) -> Result<Value, ApiError> {
    Ok(match p {
        ContentPart::Text { text, .. } => serde_json::json!({"type": "text", "text": text}),
        ContentPart::Image { source, detail, .. } => {
            let mut iu = Map::new();
            iu.insert("url".into(), Value::String(image_url(source)));
            if let Some(d) = detail {
                iu.insert("detail".into(), Value::String(d.clone()));
            }
            serde_json::json!({"type": "image_url", "image_url": iu})
        }
        ContentPart::Audio { format, data } => {
            serde_json::json!({"type": "input_audio", "input_audio": {"data": data, "format": format}})
        }
        ContentPart::File {
            media_type,
            data,
            file_id,
            filename,
            ..
        } => {
            let mut f = Map::new();
            if let Some(d) = data {
                let mime = media_type.as_deref().unwrap_or("application/pdf");
                f.insert(
                    "file_data".into(),
                    Value::String(format!("data:{mime};base64,{d}")),
                );
            }
            if let Some(id) = file_id {
                f.insert("file_id".into(), Value::String(id.clone()));
            }
            if let Some(n) = filename {
                f.insert("filename".into(), Value::String(n.clone()));
            }
            serde_json::json!({"type": "file", "file": f})
        }
        _ => {
            return Err(ApiError::invalid(
                "This content cannot be sent to an OpenAI-format upstream.",
            ))
        }
    })
}

fn encode_tool_choice(c: &ToolChoice) -> Value {
    match c {
        ToolChoice::Auto => Value::String("auto".into()),
        ToolChoice::None => Value::String("none".into()),
        ToolChoice::Required => Value::String("required".into()),
        ToolChoice::Named(n) => serde_json::json!({"type": "function", "function": {"name": n}}),
    }
}

fn encode_response_format(f: &ResponseFormat) -> Value {
    match f {
        ResponseFormat::Text => serde_json::json!({"type": "text"}),
        ResponseFormat::JsonObject => serde_json::json!({"type": "json_object"}),
        ResponseFormat::JsonSchema {
            name,
            description,
            schema,
            strict,
        } => {
            let mut js = Map::new();
            js.insert("name".into(), Value::String(name.clone()));
            if let Some(d) = description {
                js.insert("description".into(), Value::String(d.clone()));
            }
            js.insert("schema".into(), schema.clone());
            if let Some(s) = strict {
                js.insert("strict".into(), Value::Bool(*s));
            }
            serde_json::json!({"type": "json_schema", "json_schema": js})
        }
    }
}
