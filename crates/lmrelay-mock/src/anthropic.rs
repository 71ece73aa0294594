//! Anthropic flavor: `POST /v1/messages`, `POST /v1/messages/count_tokens`,
//! `GET /v1/models[/{id}]`, with `x-api-key`/Bearer auth, the required
//! `anthropic-version` header, Anthropic's validation rules and error bodies
//! (`{"type":"error","error":{type,message},"request_id"}`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::faults::FailNext;
use crate::reply::{self, Finish, Plan, PlanInput, ToolChoice, ToolDef};
use crate::server::{json_response, parse_json, set_default_header, set_header, KeyCheck, Shared};
use crate::stream;
use crate::util::{fragments, new_id, rfc3339, unix_now, word_pieces};

type S = State<Arc<Shared>>;

const LIMIT: u64 = 4_000;
const TOKEN_LIMIT: u64 = 2_000_000;

/// (limit, remaining, reset) header names and the limit, per rate-limit kind.
const RATE_LIMIT_HEADERS: [(&str, &str, &str, u64); 4] = [
    (
        "anthropic-ratelimit-requests-limit",
        "anthropic-ratelimit-requests-remaining",
        "anthropic-ratelimit-requests-reset",
        LIMIT,
    ),
    (
        "anthropic-ratelimit-tokens-limit",
        "anthropic-ratelimit-tokens-remaining",
        "anthropic-ratelimit-tokens-reset",
        TOKEN_LIMIT,
    ),
    (
        "anthropic-ratelimit-input-tokens-limit",
        "anthropic-ratelimit-input-tokens-remaining",
        "anthropic-ratelimit-input-tokens-reset",
        TOKEN_LIMIT,
    ),
    (
        "anthropic-ratelimit-output-tokens-limit",
        "anthropic-ratelimit-output-tokens-remaining",
        "anthropic-ratelimit-output-tokens-reset",
        TOKEN_LIMIT / 5,
    ),
];

pub(crate) fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1/messages", post(messages))
        .route("/v1/messages/count_tokens", post(count_tokens))
        .route("/v1/models", get(models))
        .route("/v1/models/{id}", get(model))
        .fallback(unknown_url)
        .layer(middleware::from_fn_with_state(shared, edge))
}

// === errors ===

/// An Anthropic error response; the same request id goes in the body and the `request-id` header.
fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let rid = new_id("req_", 24);
    let mut resp = json_response(
        status,
        &json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": rid}),
    );
    set_header(&mut resp, "request-id", &rid);
    resp
}

fn invalid(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "invalid_request_error", message)
}

fn kind_for_status(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        s if s >= 500 => "api_error",
        _ => "invalid_request_error",
    }
}

fn fault_response(f: &FailNext) -> Response {
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let kind = f
        .error_type
        .clone()
        .unwrap_or_else(|| kind_for_status(f.status).to_string());
    let message = match kind.as_str() {
        "rate_limit_error" => "Number of request tokens has exceeded your per-minute rate limit (https://docs.claude.com/en/api/rate-limits); see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later. You may also contact sales at https://www.anthropic.com/contact-sales to discuss your options for a rate limit increase.",
        "overloaded_error" => "Overloaded",
        "api_error" => "Internal server error",
        "billing_error" => "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
        "permission_error" => "Your API key does not have permission to use the specified resource.",
        "not_found_error" => "Not found",
        "authentication_error" => "invalid x-api-key",
        _ => "mock: injected error",
    };
    let mut resp = error(status, &kind, message);
    if f.status == 429 {
        set_header(&mut resp, "anthropic-ratelimit-requests-remaining", "0");
    }
    if let Some(secs) = f.retry_after {
        set_header(&mut resp, "retry-after", &secs.to_string());
    }
    resp
}

async fn unknown_url() -> Response {
    error(StatusCode::NOT_FOUND, "not_found_error", "Not Found")
}

// === edge: auth, version header, response headers ===

async fn edge(State(s): S, req: Request, next: Next) -> Response {
    let h = req.headers();
    let key = h
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            h.get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    v.get(..7)
                        .filter(|p| p.eq_ignore_ascii_case("bearer "))
                        .map(|_| v[7..].to_string())
                })
        });
    let has_version = h.get("anthropic-version").is_some_and(|v| !v.is_empty());
    let mut resp = match s.check_key(key.as_deref()) {
        KeyCheck::Missing => error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "x-api-key header is required",
        ),
        KeyCheck::Wrong => error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid x-api-key",
        ),
        KeyCheck::Ok if !has_version => invalid("anthropic-version: header is required"),
        KeyCheck::Ok => next.run(req).await,
    };
    let reset = rfc3339(unix_now() + 1, None);
    set_default_header(&mut resp, "request-id", &new_id("req_", 24));
    set_default_header(
        &mut resp,
        "anthropic-organization-id",
        "00000000-0000-4000-8000-000000000000",
    );
    for (limit_name, remaining_name, reset_name, limit) in RATE_LIMIT_HEADERS {
        set_default_header(&mut resp, limit_name, &limit.to_string());
        set_default_header(&mut resp, remaining_name, &(limit - 1).to_string());
        set_default_header(&mut resp, reset_name, &reset);
    }
    resp
}

// === validation ===

fn is_blank_text(s: &str) -> bool {
    s.trim().is_empty()
}

/// Validates like the real API; `count_tokens` requests do not need `max_tokens`.
fn validate(req: &Value, count_tokens: bool) -> Result<(), Response> {
    if !req.is_object() {
        return Err(invalid("Input should be a valid dictionary"));
    }
    if !req.get("model").is_some_and(Value::is_string) {
        return Err(invalid("model: Field required"));
    }
    if !count_tokens {
        match req.get("max_tokens") {
            None | Some(Value::Null) => return Err(invalid("max_tokens: Field required")),
            Some(v) if v.as_u64().is_none() => {
                return Err(invalid("max_tokens: Input should be a valid integer"))
            }
            _ => {}
        }
    }
    if let Some(t) = req.get("temperature").and_then(Value::as_f64) {
        if t > 1.0 {
            return Err(invalid(
                "temperature: Input should be less than or equal to 1",
            ));
        }
        if t < 0.0 {
            return Err(invalid(
                "temperature: Input should be greater than or equal to 0",
            ));
        }
    }
    match req.get("system") {
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(Value::Array(blocks)) => {
            for (i, b) in blocks.iter().enumerate() {
                if b.get("type").and_then(Value::as_str) != Some("text") {
                    return Err(invalid(&format!("system.{i}.type: Input should be 'text'")));
                }
                match b.get("text").and_then(Value::as_str) {
                    None => return Err(invalid(&format!("system.{i}.text: Field required"))),
                    Some("") => {
                        return Err(invalid("system: text content blocks must be non-empty"))
                    }
                    Some(t) if is_blank_text(t) => {
                        return Err(invalid(
                            "system: text content blocks must contain non-whitespace text",
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        Some(_) => return Err(invalid("system: Input should be a valid list")),
    }
    for (i, t) in req
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let custom = t
            .get("type")
            .and_then(Value::as_str)
            .is_none_or(|k| k == "custom");
        if !custom {
            continue;
        }
        match t.get("input_schema") {
            None | Some(Value::Null) => {
                return Err(invalid(&format!(
                    "tools.{i}.custom.input_schema: Field required"
                )))
            }
            Some(schema) if schema.get("type").and_then(Value::as_str) != Some("object") => {
                return Err(invalid(&format!(
                    "tools.{i}.custom.input_schema.type: Input should be 'object'"
                )))
            }
            _ => {}
        }
    }
    let messages = match req.get("messages") {
        None | Some(Value::Null) => return Err(invalid("messages: Field required")),
        Some(Value::Array(m)) => m,
        Some(_) => return Err(invalid("messages: Input should be a valid list")),
    };
    if messages.is_empty() {
        return Err(invalid("messages: at least one message is required"));
    }
    let mut prev_role: Option<&str> = None;
    // tool_use ids of the previous assistant message, with its index.
    let mut pending: Option<(usize, Vec<String>)> = None;
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        if role != "user" && role != "assistant" {
            return Err(invalid(&format!(
                "messages.{i}.role: Input should be 'user' or 'assistant'"
            )));
        }
        if i == 0 && role != "user" {
            return Err(invalid(
                "messages: first message must use the \"user\" role",
            ));
        }
        if prev_role == Some(role) {
            return Err(invalid(&format!(
                "messages: roles must alternate between \"user\" and \"assistant\", but found multiple \"{role}\" roles in a row"
            )));
        }
        prev_role = Some(role);
        let is_final_assistant = role == "assistant" && i + 1 == messages.len();
        let empty_content = || {
            invalid(&format!(
                "messages.{i}: all messages must have non-empty content except for the optional final assistant message"
            ))
        };
        let expected = pending.take();
        let mut answered: Vec<String> = Vec::new();
        let mut tool_uses: Vec<String> = Vec::new();
        match m.get("content") {
            Some(Value::String(s)) => {
                if is_blank_text(s) && !is_final_assistant {
                    return Err(empty_content());
                }
            }
            Some(Value::Array(blocks)) => {
                if blocks.is_empty() && !is_final_assistant {
                    return Err(empty_content());
                }
                let mut seen_other = false;
                for (j, b) in blocks.iter().enumerate() {
                    let at = format!("messages.{i}.content.{j}");
                    match b.get("type").and_then(Value::as_str).unwrap_or_default() {
                        "text" => {
                            seen_other = true;
                            match b.get("text").and_then(Value::as_str) {
                                None => return Err(invalid(&format!("{at}.text.text: Field required"))),
                                Some("") => return Err(invalid("messages: text content blocks must be non-empty")),
                                Some(t) if is_blank_text(t) => {
                                    return Err(invalid("messages: text content blocks must contain non-whitespace text"))
                                }
                                Some(_) => {}
                            }
                        }
                        "image" => {
                            seen_other = true;
                            let src = b.get("source");
                            if src.and_then(|s| s.get("type")).and_then(Value::as_str)
                                == Some("base64")
                            {
                                let mt = src
                                    .and_then(|s| s.get("media_type"))
                                    .and_then(Value::as_str)
                                    .unwrap_or_default();
                                if !["image/jpeg", "image/png", "image/gif", "image/webp"]
                                    .contains(&mt)
                                {
                                    return Err(invalid(&format!(
                                        "{at}.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"
                                    )));
                                }
                            }
                        }
                        "tool_use" => {
                            seen_other = true;
                            if role != "assistant" {
                                return Err(invalid(&format!(
                                    "{at}: tool_use blocks are only allowed in assistant messages"
                                )));
                            }
                            let Some(id) = b.get("id").and_then(Value::as_str) else {
                                return Err(invalid(&format!("{at}.tool_use.id: Field required")));
                            };
                            if !b.get("name").is_some_and(Value::is_string) {
                                return Err(invalid(&format!(
                                    "{at}.tool_use.name: Field required"
                                )));
                            }
                            if !b.get("input").is_some_and(Value::is_object) {
                                return Err(invalid(&format!(
                                    "{at}.tool_use.input: Input should be a valid dictionary"
                                )));
                            }
                            tool_uses.push(id.to_string());
                        }
                        "tool_result" => {
                            if role != "user" {
                                return Err(invalid(&format!(
                                    "{at}: tool_result blocks are only allowed in user messages"
                                )));
                            }
                            let id = b
                                .get("tool_use_id")
                                .and_then(Value::as_str)
                                .unwrap_or_default();
                            let known = expected
                                .as_ref()
                                .is_some_and(|(_, ids)| ids.iter().any(|x| x == id));
                            if !known {
                                return Err(invalid(&format!(
                                    "{at}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                                )));
                            }
                            if seen_other {
                                return Err(invalid(&format!(
                                    "{at}: `tool_result` blocks must come before any other content in the user message"
                                )));
                            }
                            answered.push(id.to_string());
                        }
                        "thinking" => {
                            seen_other = true;
                            if !b.get("signature").is_some_and(Value::is_string) {
                                return Err(invalid(&format!(
                                    "{at}.thinking.signature: Field required"
                                )));
                            }
                        }
                        _ => seen_other = true,
                    }
                }
            }
            _ => return Err(empty_content()),
        }
        if let Some((ai, ids)) = expected {
            let missing: Vec<&str> = ids
                .iter()
                .filter(|id| !answered.contains(id))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return Err(orphan_tool_use(ai, &missing));
            }
        }
        if !tool_uses.is_empty() {
            pending = Some((i, tool_uses));
        }
    }
    if let Some((ai, ids)) = pending {
        let missing: Vec<&str> = ids.iter().map(String::as_str).collect();
        return Err(orphan_tool_use(ai, &missing));
    }
    Ok(())
}

fn orphan_tool_use(assistant_index: usize, ids: &[&str]) -> Response {
    invalid(&format!(
        "messages.{assistant_index}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
        ids.join(", ")
    ))
}

// === planning ===

fn tool_result_text(block: &Value) -> String {
    reply::text_of(block.get("content"))
}

fn tool_result_chars(block: &Value) -> usize {
    reply::text_chars(block.get("content"))
}

fn plan_input(req: &Value) -> PlanInput {
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let blocks_of = |m: &Value| {
        m.get("content")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut input_chars = reply::text_chars(req.get("system"));
    for m in &messages {
        input_chars += reply::text_chars(m.get("content"));
        input_chars += blocks_of(m)
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
            .map(tool_result_chars)
            .sum::<usize>();
    }
    let last_user_text = messages
        .iter()
        .rev()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(|m| reply::text_of(m.get("content")))
        .find(|t| !t.is_empty())
        .unwrap_or_default();
    let tool_results = messages
        .last()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(|m| {
            blocks_of(m)
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
                .map(tool_result_text)
                .collect::<Vec<_>>()
        })
        .filter(|r| !r.is_empty());
    let tools = req
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some(ToolDef {
                name: t.get("name")?.as_str()?.to_string(),
                first_property: reply::first_property(t.get("input_schema")),
            })
        })
        .collect();
    let tc = req.get("tool_choice");
    let tool_choice = match tc.and_then(|c| c.get("type")).and_then(Value::as_str) {
        Some("none") => ToolChoice::None,
        Some("any") => ToolChoice::Required,
        Some("tool") => tc
            .and_then(|c| c.get("name"))
            .and_then(Value::as_str)
            .map_or(ToolChoice::Required, |n| ToolChoice::Named(n.to_string())),
        _ => ToolChoice::Auto,
    };
    let thinking = matches!(
        req.get("thinking")
            .and_then(|t| t.get("type"))
            .and_then(Value::as_str),
        Some("enabled") | Some("adaptive")
    );
    PlanInput {
        last_user_text,
        tool_results,
        tools,
        tool_choice,
        thinking,
        stop: reply::stop_list(req.get("stop_sequences")),
        max_tokens: req.get("max_tokens").and_then(Value::as_u64),
        input_chars,
    }
}

fn stop_reason(f: &Finish) -> (&'static str, Value) {
    match f {
        Finish::Stop => ("end_turn", Value::Null),
        Finish::Length => ("max_tokens", Value::Null),
        Finish::StopSequence(s) => ("stop_sequence", json!(s)),
        Finish::ToolCalls => ("tool_use", Value::Null),
    }
}

fn usage(plan: &Plan, cache: u64, output_tokens: u64) -> Value {
    json!({
        "input_tokens": plan.input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cache,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output_tokens,
        "service_tier": "standard"
    })
}

// === handlers ===

async fn messages(State(s): S, body: Bytes) -> Response {
    if let Some(f) = s.gate().await {
        return fault_response(&f);
    }
    let req = match parse_json(&body) {
        Ok(r) => r,
        Err(e) => return invalid(&format!("There was an error parsing the body: {e}")),
    };
    if let Err(resp) = validate(&req, false) {
        return resp;
    }
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !s.knows_model(&model) {
        return error(
            StatusCode::NOT_FOUND,
            "not_found_error",
            &format!("model: {model}"),
        );
    }
    let plan = reply::plan(&plan_input(&req));
    let id = new_id("msg_", 24);
    let tool_id = new_id("toolu_", 24);
    let (reason, sequence) = stop_reason(&plan.finish);
    let signature = plan.thinking.as_deref().map(reply::thinking_signature);

    if !req.get("stream").and_then(Value::as_bool).unwrap_or(false) {
        let mut content = Vec::new();
        if let (Some(t), Some(sig)) = (&plan.thinking, &signature) {
            content.push(json!({"type": "thinking", "thinking": t, "signature": sig}));
        }
        if !plan.text.is_empty() {
            content.push(json!({"type": "text", "text": plan.text}));
        }
        if let Some(call) = &plan.tool_call {
            content.push(json!({"type": "tool_use", "id": tool_id, "name": call.name, "input": call.arguments}));
        }
        return json_response(
            StatusCode::OK,
            &json!({
                "id": id, "type": "message", "role": "assistant", "model": model,
                "content": content, "stop_reason": reason, "stop_sequence": sequence,
                "usage": usage(&plan, s.cache_read_tokens, plan.output_tokens)
            }),
        );
    }

    let ev = stream::sse_event;
    let mut events = vec![
        ev(
            "message_start",
            &json!({"type": "message_start", "message": {
                "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": null, "stop_sequence": null,
                "usage": usage(&plan, s.cache_read_tokens, 1)
            }}),
        ),
        ev("ping", &json!({"type": "ping"})),
    ];
    let mut index = 0;
    let start = |index: usize, block: Value| {
        ev(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        )
    };
    let delta = |index: usize, d: Value| {
        ev(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": d}),
        )
    };
    let stop = |index: usize| {
        ev(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        )
    };
    if let (Some(t), Some(sig)) = (&plan.thinking, &signature) {
        events.push(start(index, json!({"type": "thinking", "thinking": ""})));
        for piece in word_pieces(t) {
            events.push(delta(
                index,
                json!({"type": "thinking_delta", "thinking": piece}),
            ));
        }
        events.push(delta(
            index,
            json!({"type": "signature_delta", "signature": sig}),
        ));
        events.push(stop(index));
        index += 1;
    }
    if !plan.text.is_empty() {
        events.push(start(index, json!({"type": "text", "text": ""})));
        for piece in word_pieces(&plan.text) {
            events.push(delta(index, json!({"type": "text_delta", "text": piece})));
        }
        events.push(stop(index));
        index += 1;
    }
    if let Some(call) = &plan.tool_call {
        events.push(start(
            index,
            json!({"type": "tool_use", "id": tool_id, "name": call.name, "input": {}}),
        ));
        events.push(delta(
            index,
            json!({"type": "input_json_delta", "partial_json": ""}),
        ));
        for frag in fragments(&call.arguments_json()) {
            events.push(delta(
                index,
                json!({"type": "input_json_delta", "partial_json": frag}),
            ));
        }
        events.push(stop(index));
    }
    events.push(ev(
        "message_delta",
        &json!({"type": "message_delta",
                "delta": {"stop_reason": reason, "stop_sequence": sequence},
                "usage": {"input_tokens": plan.input_tokens, "cache_creation_input_tokens": 0,
                          "cache_read_input_tokens": s.cache_read_tokens,
                          "output_tokens": plan.output_tokens}}),
    ));
    events.push(ev("message_stop", &json!({"type": "message_stop"})));
    let error_event = ev(
        "error",
        &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    );
    s.stall().await;
    stream::response(
        "text/event-stream; charset=utf-8",
        events,
        error_event,
        &s.faults.get(),
    )
}

async fn count_tokens(State(s): S, body: Bytes) -> Response {
    let req = match parse_json(&body) {
        Ok(r) => r,
        Err(e) => return invalid(&format!("There was an error parsing the body: {e}")),
    };
    if let Err(resp) = validate(&req, true) {
        return resp;
    }
    let model = req.get("model").and_then(Value::as_str).unwrap_or_default();
    if !s.knows_model(model) {
        return error(
            StatusCode::NOT_FOUND,
            "not_found_error",
            &format!("model: {model}"),
        );
    }
    let input = plan_input(&req);
    json_response(
        StatusCode::OK,
        &json!({"input_tokens": reply::estimate_tokens(input.input_chars)}),
    )
}

fn model_object(id: &str) -> Value {
    json!({"type": "model", "id": id, "display_name": id, "created_at": "2025-02-19T00:00:00Z"})
}

async fn models(State(s): S) -> Response {
    let data: Vec<Value> = s.listed_models().map(model_object).collect();
    let first = data
        .first()
        .and_then(|m| m.get("id"))
        .cloned()
        .unwrap_or(Value::Null);
    let last = data
        .last()
        .and_then(|m| m.get("id"))
        .cloned()
        .unwrap_or(Value::Null);
    json_response(
        StatusCode::OK,
        &json!({"data": data, "has_more": false, "first_id": first, "last_id": last}),
    )
}

async fn model(State(s): S, Path(id): Path<String>) -> Response {
    if s.knows_model(&id) {
        json_response(StatusCode::OK, &model_object(&id))
    } else {
        error(
            StatusCode::NOT_FOUND,
            "not_found_error",
            &format!("model: {id}"),
        )
    }
}
