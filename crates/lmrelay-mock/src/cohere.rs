//! Cohere flavor: `POST /v2/chat` (answers and SSE streams), `POST /v2/embed`,
//! `GET /v1/models`, with Bearer auth and Cohere's `{"id","message"}` error bodies.
//!
//! Validation is strict where a gateway's translation can go wrong: unknown top-level or
//! message fields, roles, content shapes, tool-call `arguments` that are not strings, tool
//! results whose `tool_call_id` answers no earlier call, `tool_choice` other than
//! `REQUIRED`/`NONE` (or without tools), `p` outside 0.01–0.99, `k` outside 0–500, and a
//! missing `input_type` on embeddings.
//!
//! Answers follow `reply.rs`. A tool call comes with a `tool_plan`; thinking (with
//! `thinking.type = "enabled"`) is a `thinking` content item. Usage reports `billed_units`
//! and `tokens`; `tokens.input_tokens` adds the 10 tokens of Cohere's prompt template.
//! An in-stream error (fault `stream_error_after`) is a `message-end` with
//! `finish_reason: ERROR` and an `error` message.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};

use crate::embed;
use crate::faults::FailNext;
use crate::reply::{self, Finish, Plan, PlanInput, ToolChoice, ToolDef};
use crate::server::{json_response, parse_json, set_header, KeyCheck, Shared};
use crate::stream;
use crate::util::{fragments, new_hex_id, word_pieces};

type S = State<Arc<Shared>>;

/// Tokens of Cohere's own prompt template, counted in `tokens` but not billed.
const TEMPLATE_TOKENS: u64 = 10;

const CHAT_FIELDS: &[&str] = &[
    "model",
    "messages",
    "tools",
    "strict_tools",
    "documents",
    "citation_options",
    "response_format",
    "safety_mode",
    "max_tokens",
    "stop_sequences",
    "temperature",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "k",
    "p",
    "logprobs",
    "tool_choice",
    "thinking",
    "priority",
    "stream",
];

const EMBED_FIELDS: &[&str] = &[
    "model",
    "texts",
    "images",
    "inputs",
    "input_type",
    "embedding_types",
    "output_dimension",
    "truncate",
    "max_tokens",
    "priority",
];

pub(crate) fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/v2/chat", post(chat))
        .route("/v2/embed", post(embed_handler))
        .route("/v1/models", get(models))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared, edge))
}

// === errors ===

/// Cohere's error body: `{"id": …, "message": …}`.
fn error(status: StatusCode, message: &str) -> Response {
    json_response(status, &json!({"id": new_uuid(), "message": message}))
}

fn invalid(message: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        &format!("invalid request: {message}"),
    )
}

fn new_uuid() -> String {
    let h = new_hex_id("", 32);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "404 page not found")
}

fn model_not_found(model: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("model '{model}' not found, make sure the correct model ID was used and that you have access to the model."),
    )
}

/// The scripted failure `f` as Cohere sends it.
fn fault_response(f: &FailNext) -> Response {
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match f.status {
        429 => error(status, "You are using a Trial key, which is limited to 10 API calls / minute. You can continue to use the Trial key for free or upgrade to a Production key with higher rate limits at 'https://dashboard.cohere.com/api-keys'. Contact us on 'https://discord.gg/XW44jPfYJu' or email us at support@cohere.com with any questions"),
        401 => error(status, "invalid api token"),
        402 => error(status, "Please add or update your payment method at https://dashboard.cohere.com/billing?tab=payment to continue"),
        400 => invalid("mock: injected bad request"),
        404 => model_not_found("unknown"),
        503 => error(status, "service unavailable"),
        s if s >= 500 => error(status, "internal server error, this has been reported to our developers"),
        _ => error(status, "mock: injected error"),
    };
    if let Some(secs) = f.retry_after {
        set_header(&mut resp, "retry-after", &secs.to_string());
    }
    resp
}

// === edge: auth and headers ===

async fn edge(State(s): S, req: Request, next: Next) -> Response {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let allowance = bearer
        .as_deref()
        .filter(|_| req.method() == Method::POST)
        .and_then(|k| s.faults.count_key_request(k));
    let mut resp = match s.check_key(bearer.as_deref()) {
        KeyCheck::Missing => error(StatusCode::UNAUTHORIZED, "no api key supplied"),
        KeyCheck::Wrong => error(StatusCode::UNAUTHORIZED, "invalid api token"),
        KeyCheck::Ok if allowance.is_some_and(|a| !a.allowed) => fault_response(&FailNext {
            status: 429,
            count: 1,
            retry_after: Some(1),
            error_type: None,
        }),
        KeyCheck::Ok => next.run(req).await,
    };
    if !resp.headers().contains_key("x-trial-endpoint-call-limit") {
        set_header(&mut resp, "x-trial-endpoint-call-limit", "10");
    }
    if let Some(a) = allowance {
        set_header(
            &mut resp,
            "x-trial-endpoint-call-remaining",
            &a.remaining.to_string(),
        );
    }
    resp
}

// === validation ===

fn unknown_field(obj: &Map<String, Value>, allowed: &[&str], at: &str) -> Result<(), Response> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(invalid(&format!("unknown field: {at}{k}"))),
        None => Ok(()),
    }
}

/// `content` as a string or an array of parts of the allowed types.
fn check_content(content: Option<&Value>, types: &[&str], at: &str) -> Result<(), Response> {
    match content {
        Some(Value::String(_)) => Ok(()),
        Some(Value::Array(parts)) => {
            for (i, p) in parts.iter().enumerate() {
                let kind = p.get("type").and_then(Value::as_str).unwrap_or_default();
                if !types.contains(&kind) {
                    return Err(invalid(&format!(
                        "{at}.content[{i}].type must be one of {types:?}, got {kind:?}"
                    )));
                }
                let ok = match kind {
                    "text" => p.get("text").is_some_and(Value::is_string),
                    "image_url" => p
                        .get("image_url")
                        .and_then(|u| u.get("url"))
                        .is_some_and(Value::is_string),
                    _ => true,
                };
                if !ok {
                    return Err(invalid(&format!("{at}.content[{i}] is malformed")));
                }
            }
            Ok(())
        }
        _ => Err(invalid(&format!(
            "{at}.content must be a string or a list of content items"
        ))),
    }
}

fn validate_chat(req: &Value) -> Result<(), Response> {
    let Some(obj) = req.as_object() else {
        return Err(invalid("the request body must be a JSON object"));
    };
    unknown_field(obj, CHAT_FIELDS, "")?;
    if obj
        .get("model")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(invalid("model is required"));
    }
    let messages = match obj.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        _ => return Err(invalid("messages must be a non-empty list")),
    };
    let mut call_ids: Vec<String> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let Some(mo) = m.as_object() else {
            return Err(invalid(&format!("{at} must be an object")));
        };
        let role = mo.get("role").and_then(Value::as_str).unwrap_or_default();
        match role {
            "system" => {
                unknown_field(mo, &["role", "content"], &format!("{at}."))?;
                check_content(mo.get("content"), &["text"], &at)?;
            }
            "user" => {
                unknown_field(mo, &["role", "content"], &format!("{at}."))?;
                check_content(mo.get("content"), &["text", "image_url", "document"], &at)?;
            }
            "assistant" => {
                unknown_field(
                    mo,
                    &["role", "content", "tool_calls", "tool_plan", "citations"],
                    &format!("{at}."),
                )?;
                if let Some(c) = mo.get("content") {
                    check_content(Some(c), &["text", "thinking"], &at)?;
                }
                let calls = mo.get("tool_calls").and_then(Value::as_array);
                if mo.get("content").is_none() && calls.is_none_or(|c| c.is_empty()) {
                    return Err(invalid(&format!(
                        "{at}: an assistant message needs content or tool_calls"
                    )));
                }
                for (j, c) in calls.into_iter().flatten().enumerate() {
                    let cat = format!("{at}.tool_calls[{j}]");
                    let id = c.get("id").and_then(Value::as_str);
                    let f = c.get("function");
                    if id.is_none_or(str::is_empty)
                        || c.get("type").and_then(Value::as_str) != Some("function")
                        || f.and_then(|f| f.get("name"))
                            .and_then(Value::as_str)
                            .is_none()
                    {
                        return Err(invalid(&format!(
                            "{cat} needs an id, type function and a function name"
                        )));
                    }
                    if !f
                        .and_then(|f| f.get("arguments"))
                        .is_some_and(Value::is_string)
                    {
                        return Err(invalid(&format!(
                            "{cat}.function.arguments must be a string"
                        )));
                    }
                    call_ids.extend(id.map(str::to_string));
                }
            }
            "tool" => {
                unknown_field(mo, &["role", "content", "tool_call_id"], &format!("{at}."))?;
                let id = mo
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !call_ids.iter().any(|c| c == id) {
                    return Err(invalid(&format!(
                        "{at}.tool_call_id {id:?} does not match any tool call of an earlier assistant message"
                    )));
                }
                check_content(mo.get("content"), &["text", "document"], &at)?;
            }
            other => {
                return Err(invalid(&format!(
                    "{at}.role must be one of system, user, assistant or tool, got {other:?}"
                )))
            }
        }
    }
    let tools = obj.get("tools").and_then(Value::as_array);
    for (i, t) in tools.into_iter().flatten().enumerate() {
        let name = t
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str);
        if t.get("type").and_then(Value::as_str) != Some("function")
            || name.is_none_or(str::is_empty)
        {
            return Err(invalid(&format!(
                "tools[{i}] must be {{type: function, function: {{name, …}}}}"
            )));
        }
    }
    if let Some(choice) = obj.get("tool_choice") {
        if !matches!(choice.as_str(), Some("REQUIRED" | "NONE")) {
            return Err(invalid("tool_choice must be REQUIRED or NONE"));
        }
        if tools.is_none_or(|t| t.is_empty()) {
            return Err(invalid("tool_choice can only be set when tools are given"));
        }
    }
    if let Some(p) = obj.get("p") {
        if !p.as_f64().is_some_and(|p| (0.01..=0.99).contains(&p)) {
            return Err(invalid("p must be between 0.01 and 0.99"));
        }
    }
    if let Some(k) = obj.get("k") {
        if k.as_u64().is_none_or(|k| k > 500) {
            return Err(invalid("k must be an integer between 0 and 500"));
        }
    }
    if let Some(t) = obj.get("temperature") {
        if !t.as_f64().is_some_and(|t| t >= 0.0) {
            return Err(invalid("temperature must be a non-negative number"));
        }
    }
    if let Some(m) = obj.get("max_tokens") {
        if m.as_u64().is_none_or(|m| m < 1) {
            return Err(invalid("max_tokens must be a positive integer"));
        }
    }
    if let Some(f) = obj.get("response_format") {
        if !matches!(
            f.get("type").and_then(Value::as_str),
            Some("text" | "json_object")
        ) {
            return Err(invalid("response_format.type must be text or json_object"));
        }
    }
    if let Some(t) = obj.get("thinking") {
        if !matches!(
            t.get("type").and_then(Value::as_str),
            Some("enabled" | "disabled")
        ) {
            return Err(invalid("thinking.type must be enabled or disabled"));
        }
    }
    if let Some(s) = obj.get("stop_sequences") {
        if !s.as_array().is_some_and(|a| a.iter().all(Value::is_string)) {
            return Err(invalid("stop_sequences must be a list of strings"));
        }
    }
    Ok(())
}

fn plan_input(req: &Value) -> PlanInput {
    let messages = req["messages"].as_array().cloned().unwrap_or_default();
    let input_chars = messages
        .iter()
        .map(|m| reply::text_chars(m.get("content")))
        .sum();
    let last_user_text = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .map(|m| reply::text_of(m.get("content")))
        .unwrap_or_default();
    let trailing: Vec<String> = messages
        .iter()
        .rev()
        .take_while(|m| m["role"] == "tool")
        .map(|m| reply::text_of(m.get("content")))
        .collect();
    let tool_results = (!trailing.is_empty()).then(|| trailing.into_iter().rev().collect());
    let tools = req["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            let f = t.get("function")?;
            Some(ToolDef {
                name: f.get("name")?.as_str()?.to_string(),
                first_property: reply::first_property(f.get("parameters")),
            })
        })
        .collect();
    let tool_choice = match req["tool_choice"].as_str() {
        Some("REQUIRED") => ToolChoice::Required,
        Some("NONE") => ToolChoice::None,
        _ => ToolChoice::Auto,
    };
    PlanInput {
        last_user_text,
        tool_results,
        tools,
        tool_choice,
        thinking: req["thinking"]["type"] == "enabled",
        stop: reply::stop_list(req.get("stop_sequences")),
        max_tokens: req["max_tokens"].as_u64(),
        input_chars,
    }
}

// === chat ===

fn finish_reason(f: &Finish) -> &'static str {
    match f {
        Finish::Stop => "COMPLETE",
        Finish::StopSequence(_) => "STOP_SEQUENCE",
        Finish::Length => "MAX_TOKENS",
        Finish::ToolCalls => "TOOL_CALL",
    }
}

fn usage(plan: &Plan) -> Value {
    json!({
        "billed_units": {"input_tokens": plan.input_tokens, "output_tokens": plan.output_tokens},
        "tokens": {"input_tokens": plan.input_tokens + TEMPLATE_TOKENS, "output_tokens": plan.output_tokens},
    })
}

fn tool_plan(name: &str) -> String {
    format!("I will use the {name} tool to answer.")
}

fn event(kind: &str, mut v: Value) -> Bytes {
    v["type"] = json!(kind);
    stream::sse_event(kind, &v)
}

async fn chat(State(s): S, body: Bytes) -> Response {
    if let Some(f) = s.gate().await {
        return fault_response(&f);
    }
    let Ok(req) = parse_json(&body) else {
        return invalid("the request body is not valid JSON");
    };
    if let Err(resp) = validate_chat(&req) {
        return resp;
    }
    let model = req["model"].as_str().unwrap_or_default();
    if !s.knows_model(model) || model.starts_with("embed") {
        return model_not_found(model);
    }
    let plan = reply::plan(&plan_input(&req));
    let id = new_uuid();
    let call_id = plan
        .tool_call
        .as_ref()
        .map(|c| format!("{}_{}", c.name, new_hex_id("", 12)));
    if !req["stream"].as_bool().unwrap_or(false) {
        let mut message = json!({"role": "assistant"});
        let mut content = Vec::new();
        if let Some(t) = &plan.thinking {
            content.push(json!({"type": "thinking", "thinking": t}));
        }
        if let (Some(call), Some(cid)) = (&plan.tool_call, &call_id) {
            message["tool_plan"] = json!(tool_plan(&call.name));
            message["tool_calls"] = json!([{"id": cid, "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json()}}]);
        } else {
            content.push(json!({"type": "text", "text": plan.text}));
        }
        if !content.is_empty() {
            message["content"] = Value::Array(content);
        }
        return json_response(
            StatusCode::OK,
            &json!({"id": id, "finish_reason": finish_reason(&plan.finish),
                    "message": message, "usage": usage(&plan)}),
        );
    }
    let mut events = vec![event(
        "message-start",
        json!({"id": id, "delta": {"message": {"role": "assistant", "content": [],
               "tool_plan": "", "tool_calls": [], "citations": []}}}),
    )];
    let mut index = 0;
    if let Some(t) = &plan.thinking {
        events.push(event(
            "content-start",
            json!({"index": index, "delta": {"message": {"content": {"type": "thinking", "thinking": ""}}}}),
        ));
        for piece in word_pieces(t) {
            events.push(event(
                "content-delta",
                json!({"index": index, "delta": {"message": {"content": {"thinking": piece}}}}),
            ));
        }
        events.push(event("content-end", json!({"index": index})));
        index += 1;
    }
    if let (Some(call), Some(cid)) = (&plan.tool_call, &call_id) {
        for piece in word_pieces(&tool_plan(&call.name)) {
            events.push(event(
                "tool-plan-delta",
                json!({"delta": {"message": {"tool_plan": piece}}}),
            ));
        }
        events.push(event(
            "tool-call-start",
            json!({"index": 0, "delta": {"message": {"tool_calls": {"id": cid, "type": "function",
                   "function": {"name": call.name, "arguments": ""}}}}}),
        ));
        for frag in fragments(&call.arguments_json()) {
            events.push(event(
                "tool-call-delta",
                json!({"index": 0, "delta": {"message": {"tool_calls": {"function": {"arguments": frag}}}}}),
            ));
        }
        events.push(event("tool-call-end", json!({"index": 0})));
    } else {
        events.push(event(
            "content-start",
            json!({"index": index, "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
        ));
        for piece in word_pieces(&plan.text) {
            events.push(event(
                "content-delta",
                json!({"index": index, "delta": {"message": {"content": {"text": piece}}}}),
            ));
        }
        events.push(event("content-end", json!({"index": index})));
    }
    events.push(event(
        "message-end",
        json!({"delta": {"finish_reason": finish_reason(&plan.finish), "usage": usage(&plan)}}),
    ));
    s.stall().await;
    stream::response(
        "text/event-stream",
        events,
        event(
            "message-end",
            json!({"delta": {"finish_reason": "ERROR", "error": "internal server error"}}),
        ),
        &s.faults.get(),
    )
}

// === embed and models ===

async fn embed_handler(State(s): S, body: Bytes) -> Response {
    if let Some(f) = s.gate().await {
        return fault_response(&f);
    }
    let Ok(req) = parse_json(&body) else {
        return invalid("the request body is not valid JSON");
    };
    let Some(obj) = req.as_object() else {
        return invalid("the request body must be a JSON object");
    };
    if let Err(resp) = unknown_field(obj, EMBED_FIELDS, "") {
        return resp;
    }
    let Some(model) = obj.get("model").and_then(Value::as_str) else {
        return invalid("model is required");
    };
    let texts: Vec<&str> = match obj.get("texts") {
        Some(Value::Array(a))
            if !a.is_empty() && a.len() <= 96 && a.iter().all(Value::is_string) =>
        {
            a.iter().filter_map(Value::as_str).collect()
        }
        _ => return invalid("texts must be a list of 1 to 96 strings"),
    };
    match obj.get("input_type").and_then(Value::as_str) {
        Some("search_document" | "search_query" | "classification" | "clustering") => {}
        _ => {
            return invalid("'input_type' is required for embed models v3 and higher: one of search_document, search_query, classification, clustering")
        }
    }
    let types: Vec<&str> = match obj.get("embedding_types") {
        None => vec!["float"],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        Some(_) => return invalid("embedding_types must be a list"),
    };
    if let Some(t) = types.iter().find(|t| {
        !matches!(
            **t,
            "float" | "int8" | "uint8" | "binary" | "ubinary" | "base64"
        )
    }) {
        return invalid(&format!("unknown embedding type {t:?}"));
    }
    let dims = match obj.get("output_dimension") {
        None => embed::DEFAULT_DIMS,
        Some(v) => match v.as_u64() {
            Some(d @ (256 | 512 | 1024 | 1536)) => d as usize,
            _ => return invalid("output_dimension must be one of 256, 512, 1024 or 1536"),
        },
    };
    if let Some(t) = obj.get("truncate") {
        if !matches!(t.as_str(), Some("NONE" | "START" | "END")) {
            return invalid("truncate must be NONE, START or END");
        }
    }
    if !s.knows_model(model) || !model.starts_with("embed") {
        return model_not_found(model);
    }
    let mut embeddings = Map::new();
    if types.contains(&"float") {
        let vectors: Vec<Value> = texts
            .iter()
            .map(|t| embed::as_json_floats(&embed::vector(t, dims)))
            .collect();
        embeddings.insert("float".into(), Value::Array(vectors));
    }
    let tokens: u64 = texts
        .iter()
        .map(|t| reply::estimate_tokens(t.chars().count()))
        .sum();
    json_response(
        StatusCode::OK,
        &json!({"id": new_uuid(), "embeddings": embeddings, "texts": texts,
                "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}},
                "response_type": "embeddings_by_type"}),
    )
}

async fn models(State(s): S) -> Response {
    let list: Vec<Value> = s
        .listed_models()
        .map(|m| {
            let endpoints = if m.starts_with("embed") {
                json!(["embed"])
            } else {
                json!(["chat"])
            };
            json!({"name": m, "endpoints": endpoints, "finetuned": false,
                   "context_length": 128000, "features": ["tools", "json_mode"]})
        })
        .collect();
    json_response(StatusCode::OK, &json!({"models": list}))
}
