//! OpenAI flavor: `POST /v1/chat/completions`, `POST /v1/completions`,
//! `POST /v1/responses` (in `openai_responses.rs`),
//! `POST /v1/embeddings`, `GET /v1/models[/{id}]`, with OpenAI's auth, headers,
//! validation and error bodies (`{"error":{message,type,param,code}}`).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};

use crate::embed;
use crate::faults::FailNext;
use crate::reply::{self, Finish, Plan, PlanInput, ToolChoice, ToolDef};
use crate::server::{json_response, parse_json, set_default_header, set_header, KeyCheck, Shared};
use crate::stream;
use crate::util::{fragments, go_duration_ms, new_hex_id, new_id, unix_now, word_pieces};

type S = State<Arc<Shared>>;

const MODEL_CREATED: u64 = 1_715_367_049;
const RPM_LIMIT: u64 = 10_000;
const TPM_LIMIT: u64 = 30_000_000;

pub(crate) fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/v1/responses", post(crate::openai_responses::responses))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(models))
        .route("/v1/models/{id}", get(model))
        .fallback(unknown_url)
        .layer(middleware::from_fn_with_state(shared, edge))
}

// === errors ===

/// An OpenAI error response.
pub(crate) fn error(
    status: StatusCode,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response {
    json_response(
        status,
        &json!({"error": {"message": message, "type": kind, "param": param, "code": code}}),
    )
}

pub(crate) fn bad_request(message: &str, param: Option<&str>, code: Option<&str>) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        message,
        "invalid_request_error",
        param,
        code,
    )
}

/// OpenAI's reasoning model families.
pub(crate) fn reasoning_model(model: &str) -> bool {
    ["o1", "o3", "o4", "gpt-5"]
        .iter()
        .any(|p| model.starts_with(p))
}

pub(crate) fn model_not_found(model: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("The model `{model}` does not exist or you do not have access to it."),
        "invalid_request_error",
        None,
        Some("model_not_found"),
    )
}

pub(crate) fn invalid_json() -> Response {
    bad_request(
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
        None,
        None,
    )
}

/// Masks a key as OpenAI does: a short prefix, stars, the last four characters.
fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < 12 {
        return "*".repeat(chars.len().min(8));
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

/// The scripted failure `f` as OpenAI would send it.
pub(crate) fn fault_response(f: &FailNext) -> Response {
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let retry = f.retry_after.unwrap_or(1);
    let mut resp = match (f.status, f.error_type.as_deref()) {
        (_, Some("insufficient_quota")) => error(
            status,
            "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
            "insufficient_quota",
            None,
            Some("insufficient_quota"),
        ),
        (429, kind) => error(
            status,
            &format!("Rate limit reached for requests in organization org-mock on requests per min (RPM): Limit {RPM_LIMIT}, Used {RPM_LIMIT}, Requested 1. Please try again in {retry}s. Visit https://platform.openai.com/account/rate-limits to learn more."),
            kind.unwrap_or("requests"),
            None,
            Some("rate_limit_exceeded"),
        ),
        (400, kind) => bad_request_kind("mock: injected bad request", kind),
        (401, _) => error(status, "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", None, Some("invalid_api_key")),
        (403, kind) => error(status, "Country, region, or territory not supported", kind.unwrap_or("request_forbidden"), None, Some("unsupported_country_region_territory")),
        (404, _) => model_not_found("unknown"),
        (503, kind) => error(status, "The server is overloaded or not ready yet.", kind.unwrap_or("server_error"), None, None),
        (s, kind) if s >= 500 => error(status, "The server had an error while processing your request. Sorry about that!", kind.unwrap_or("server_error"), None, None),
        (_, kind) => error(status, "mock: injected error", kind.unwrap_or("invalid_request_error"), None, None),
    };
    if f.status == 429 && f.error_type.as_deref() != Some("insufficient_quota") {
        set_header(&mut resp, "x-ratelimit-remaining-requests", "0");
        set_header(
            &mut resp,
            "x-ratelimit-reset-requests",
            &go_duration_ms(retry * 1000),
        );
    }
    if let Some(secs) = f.retry_after {
        set_header(&mut resp, "retry-after", &secs.to_string());
    }
    resp
}

fn bad_request_kind(message: &str, kind: Option<&str>) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        message,
        kind.unwrap_or("invalid_request_error"),
        None,
        None,
    )
}

async fn unknown_url(method: Method, uri: axum::http::Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("Invalid URL ({method} {})", uri.path()),
        "invalid_request_error",
        None,
        None,
    )
}

// === edge: auth and response headers ===

async fn edge(State(s): S, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.get(..7)
                .filter(|p| p.eq_ignore_ascii_case("bearer "))
                .map(|_| &v[7..])
        })
        .map(str::to_string);
    // A per-key request limit counts model requests (POSTs), as real limits do.
    let allowance = bearer
        .as_deref()
        .filter(|_| req.method() == axum::http::Method::POST)
        .and_then(|k| s.faults.count_key_request(k));
    let mut resp = match s.check_key(bearer.as_deref()) {
        KeyCheck::Ok if allowance.is_some_and(|a| !a.allowed) => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "Rate limit reached for requests on this key. Please try again in 1s.",
                "requests",
                None,
                Some("rate_limit_exceeded"),
            );
            set_header(&mut r, "retry-after", "1");
            set_header(&mut r, "x-ratelimit-reset-requests", "1s");
            r
        }
        KeyCheck::Ok => next.run(req).await,
        KeyCheck::Missing => error(
            StatusCode::UNAUTHORIZED,
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            None,
            None,
        ),
        KeyCheck::Wrong => error(
            StatusCode::UNAUTHORIZED,
            &format!(
                "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
                mask_key(bearer.as_deref().unwrap_or_default())
            ),
            "invalid_request_error",
            None,
            Some("invalid_api_key"),
        ),
    };
    if let Some(a) = allowance {
        set_header(
            &mut resp,
            "x-ratelimit-limit-requests",
            &a.limit.to_string(),
        );
        set_header(
            &mut resp,
            "x-ratelimit-remaining-requests",
            &a.remaining.to_string(),
        );
        // The window refills in a minute, as OpenAI's request limits do.
        set_header(&mut resp, "x-ratelimit-reset-requests", "1m0s");
    }
    set_default_header(&mut resp, "x-request-id", &new_hex_id("req_", 32));
    set_default_header(
        &mut resp,
        "openai-processing-ms",
        &started.elapsed().as_millis().to_string(),
    );
    set_default_header(&mut resp, "openai-version", "2020-10-01");
    set_default_header(&mut resp, "openai-organization", "user-mock");
    set_default_header(
        &mut resp,
        "x-ratelimit-limit-requests",
        &RPM_LIMIT.to_string(),
    );
    set_default_header(
        &mut resp,
        "x-ratelimit-limit-tokens",
        &TPM_LIMIT.to_string(),
    );
    set_default_header(
        &mut resp,
        "x-ratelimit-remaining-requests",
        &(RPM_LIMIT - 1).to_string(),
    );
    set_default_header(
        &mut resp,
        "x-ratelimit-remaining-tokens",
        &(TPM_LIMIT - 1000).to_string(),
    );
    set_default_header(&mut resp, "x-ratelimit-reset-requests", "6ms");
    set_default_header(&mut resp, "x-ratelimit-reset-tokens", "2ms");
    resp
}

// === chat completions ===

fn finish_reason(f: &Finish) -> &'static str {
    match f {
        Finish::Stop | Finish::StopSequence(_) => "stop",
        Finish::Length => "length",
        Finish::ToolCalls => "tool_calls",
    }
}

fn usage(plan: &Plan, cache: u64) -> Value {
    let prompt = plan.input_tokens + cache;
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": plan.output_tokens,
        "total_tokens": prompt + plan.output_tokens,
        "prompt_tokens_details": {"cached_tokens": cache, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": plan.thinking_tokens, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0
        }
    })
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn check_model(req: &Value) -> Result<String, Response> {
    match req.get("model") {
        Some(Value::String(m)) if !m.is_empty() => Ok(m.clone()),
        _ => Err(bad_request(
            "you must provide a model parameter",
            None,
            None,
        )),
    }
}

pub(crate) fn check_common(req: &Value) -> Result<(), Response> {
    if !req.is_object() {
        return Err(bad_request(
            &format!(
                "Invalid type for body: expected an object, but got {} instead.",
                type_name(req)
            ),
            None,
            Some("invalid_type"),
        ));
    }
    let streaming = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if !streaming && req.get("stream_options").is_some_and(|v| !v.is_null()) {
        return Err(bad_request(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            Some("stream_options"),
            None,
        ));
    }
    if let Some(t) = req.get("temperature").and_then(Value::as_f64) {
        if !(0.0..=2.0).contains(&t) {
            return Err(bad_request(
                &format!("Invalid 'temperature': decimal out of range. Expected a value between 0 and 2, but got {t} instead."),
                Some("temperature"),
                Some("decimal_above_max_value"),
            ));
        }
    }
    Ok(())
}

/// Validates a chat request like the real API (the parts gateway translations can break).
fn validate_chat(req: &Value) -> Result<(), Response> {
    check_common(req)?;
    check_model(req)?;
    let messages = match req.get("messages") {
        None | Some(Value::Null) => {
            return Err(bad_request(
                "Missing required parameter: 'messages'.",
                Some("messages"),
                Some("missing_required_parameter"),
            ))
        }
        Some(Value::Array(m)) => m,
        Some(other) => {
            return Err(bad_request(
                &format!(
                    "Invalid type for 'messages': expected an array, but got {} instead.",
                    type_name(other)
                ),
                Some("messages"),
                Some("invalid_type"),
            ))
        }
    };
    if messages.is_empty() {
        return Err(bad_request(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            Some("messages"),
            Some("empty_array"),
        ));
    }
    // (assistant index, all ids, ids still unanswered)
    let mut open: Option<(usize, Vec<String>, Vec<String>)> = None;
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        if ![
            "system",
            "developer",
            "user",
            "assistant",
            "tool",
            "function",
        ]
        .contains(&role)
        {
            return Err(bad_request(
                &format!("Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'."),
                Some(&format!("messages[{i}].role")),
                Some("invalid_value"),
            ));
        }
        if role != "tool" {
            if let Some((ai, _, missing)) = open.take() {
                if !missing.is_empty() {
                    return Err(unanswered_calls(ai, &missing));
                }
            }
        }
        match role {
            "tool" => {
                let Some(id) = m.get("tool_call_id").and_then(Value::as_str) else {
                    let p = format!("messages[{i}].tool_call_id");
                    return Err(bad_request(
                        &format!("Missing required parameter: '{p}'."),
                        Some(&p),
                        Some("missing_required_parameter"),
                    ));
                };
                match open.as_mut() {
                    Some((_, all, missing)) if all.iter().any(|x| x == id) => missing.retain(|x| x != id),
                    _ => {
                        return Err(bad_request(
                            "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
                            Some(&format!("messages.[{i}].role")),
                            None,
                        ))
                    }
                }
            }
            "assistant" => {
                let calls = m
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let mut ids = Vec::new();
                for (j, c) in calls.iter().enumerate() {
                    let args = c.get("function").and_then(|f| f.get("arguments"));
                    if let Some(a) = args.filter(|a| !a.is_string()) {
                        let p = format!("messages[{i}].tool_calls[{j}].function.arguments");
                        return Err(bad_request(
                            &format!(
                                "Invalid type for '{p}': expected a string, but got {} instead.",
                                type_name(a)
                            ),
                            Some(&p),
                            Some("invalid_type"),
                        ));
                    }
                    match c.get("id").and_then(Value::as_str) {
                        Some(id) => ids.push(id.to_string()),
                        None => {
                            let p = format!("messages[{i}].tool_calls[{j}].id");
                            return Err(bad_request(
                                &format!("Missing required parameter: '{p}'."),
                                Some(&p),
                                Some("missing_required_parameter"),
                            ));
                        }
                    }
                }
                if !ids.is_empty() {
                    open = Some((i, ids.clone(), ids));
                }
            }
            _ => {
                if m.get("content").is_none_or(Value::is_null) && role != "function" {
                    let p = format!("messages[{i}].content");
                    return Err(bad_request(
                        &format!("Missing required parameter: '{p}'."),
                        Some(&p),
                        Some("missing_required_parameter"),
                    ));
                }
            }
        }
    }
    if let Some((ai, _, missing)) = open {
        if !missing.is_empty() {
            return Err(unanswered_calls(ai, &missing));
        }
    }
    Ok(())
}

fn unanswered_calls(assistant_index: usize, missing: &[String]) -> Response {
    bad_request(
        &format!(
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
            missing.join(", ")
        ),
        Some(&format!("messages.[{assistant_index}].role")),
        None,
    )
}

fn chat_plan_input(req: &Value) -> PlanInput {
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let input_chars = messages
        .iter()
        .map(|m| reply::text_chars(m.get("content")))
        .sum();
    let last_user_text = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(|m| reply::text_of(m.get("content")))
        .unwrap_or_default();
    let trailing_tools: Vec<String> = messages
        .iter()
        .rev()
        .take_while(|m| m.get("role").and_then(Value::as_str) == Some("tool"))
        .map(|m| reply::text_of(m.get("content")))
        .collect();
    let tool_results =
        (!trailing_tools.is_empty()).then(|| trailing_tools.into_iter().rev().collect());
    let mut tools: Vec<ToolDef> = req
        .get("tools")
        .and_then(Value::as_array)
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
    tools.extend(
        req.get("functions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|f| {
                Some(ToolDef {
                    name: f.get("name")?.as_str()?.to_string(),
                    first_property: reply::first_property(f.get("parameters")),
                })
            }),
    );
    let choice = req.get("tool_choice").or_else(|| req.get("function_call"));
    let tool_choice = match choice {
        Some(Value::String(s)) if s == "none" => ToolChoice::None,
        Some(Value::String(s)) if s == "required" => ToolChoice::Required,
        Some(Value::Object(o)) => o
            .get("function")
            .and_then(|f| f.get("name"))
            .or_else(|| o.get("name"))
            .and_then(Value::as_str)
            .map_or(ToolChoice::Auto, |n| ToolChoice::Named(n.to_string())),
        _ => ToolChoice::Auto,
    };
    PlanInput {
        last_user_text,
        tool_results,
        tools,
        tool_choice,
        thinking: false,
        stop: reply::stop_list(req.get("stop")),
        max_tokens: req
            .get("max_completion_tokens")
            .and_then(Value::as_u64)
            .or_else(|| req.get("max_tokens").and_then(Value::as_u64)),
        input_chars,
    }
}

fn include_usage(req: &Value) -> bool {
    req.get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

pub(crate) fn is_stream(req: &Value) -> bool {
    req.get("stream").and_then(Value::as_bool).unwrap_or(false)
}

fn stream_error_event() -> Bytes {
    stream::sse_data(&json!({"error": {
        "message": "The server had an error while processing your request. Sorry about that!",
        "type": "server_error", "param": null, "code": null
    }}))
}

async fn chat(State(s): S, body: Bytes) -> Response {
    if let Some(f) = s.gate().await {
        return fault_response(&f);
    }
    answer_chat(&s, body).await
}

/// A chat answer after the fault gate (shared with the Azure flavor, which gates itself).
pub(crate) async fn answer_chat(s: &Shared, body: Bytes) -> Response {
    let Ok(req) = parse_json(&body) else {
        return invalid_json();
    };
    let rejected = s.faults.get().rejected_fields;
    if let Some(field) = rejected.iter().find(|f| req.get(f.as_str()).is_some()) {
        return bad_request(
            &format!("property '{field}' is unsupported"),
            Some(field),
            Some("unsupported_parameter"),
        );
    }
    if let Err(resp) = validate_chat(&req) {
        return resp;
    }
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !s.knows_model(&model) {
        return model_not_found(&model);
    }
    // Like OpenAI, only reasoning models take `reasoning_effort`.
    if req.get("reasoning_effort").is_some_and(|v| !v.is_null()) && !reasoning_model(&model) {
        return bad_request(
            "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
            Some("reasoning_effort"),
            Some("unsupported_parameter"),
        );
    }
    let plan = reply::plan(&chat_plan_input(&req));
    let id = new_id("chatcmpl-", 29);
    let created = unix_now();
    let call_id = new_id("call_", 24);
    if !is_stream(&req) {
        let mut message = Map::new();
        message.insert("role".into(), json!("assistant"));
        message.insert(
            "content".into(),
            if plan.tool_call.is_some() {
                Value::Null
            } else {
                json!(plan.text)
            },
        );
        message.insert("refusal".into(), Value::Null);
        message.insert("annotations".into(), json!([]));
        if let Some(call) = &plan.tool_call {
            message.insert(
                "tool_calls".into(),
                json!([{"id": call_id, "type": "function",
                        "function": {"name": call.name, "arguments": call.arguments_json()}}]),
            );
        }
        // Like OpenAI: `n` choices (the same answer here), token logprobs when asked, and
        // the service tier that served the request.
        let n = req
            .get("n")
            .and_then(Value::as_u64)
            .unwrap_or(1)
            .clamp(1, 128);
        let logprobs = if req.get("logprobs").and_then(Value::as_bool) == Some(true) {
            json!({"content": token_logprobs(&plan.text), "refusal": null})
        } else {
            Value::Null
        };
        let choices: Vec<Value> = (0..n)
            .map(|i| {
                json!({"index": i, "message": message, "logprobs": logprobs,
                       "finish_reason": finish_reason(&plan.finish)})
            })
            .collect();
        let tier = req
            .get("service_tier")
            .and_then(Value::as_str)
            .filter(|t| *t != "auto")
            .unwrap_or("default");
        return json_response(
            StatusCode::OK,
            &json!({
                "id": id, "object": "chat.completion", "created": created, "model": model,
                "choices": choices,
                "usage": usage(&plan, s.cache_read_tokens),
                "service_tier": tier, "system_fingerprint": "fp_mock"
            }),
        );
    }
    let with_usage = include_usage(&req);
    let chunk = |choices: Value, usage: Option<Value>| {
        let mut c = json!({"id": id, "object": "chat.completion.chunk", "created": created,
                           "model": model, "service_tier": "default",
                           "system_fingerprint": "fp_mock", "choices": choices});
        if with_usage {
            c["usage"] = usage.unwrap_or(Value::Null);
        }
        stream::sse_data(&c)
    };
    let delta =
        |d: Value| json!([{"index": 0, "delta": d, "logprobs": null, "finish_reason": null}]);
    let mut events = vec![chunk(
        delta(json!({"role": "assistant", "content": "", "refusal": null})),
        None,
    )];
    for piece in word_pieces(&plan.text) {
        events.push(chunk(delta(json!({"content": piece})), None));
    }
    if let Some(call) = &plan.tool_call {
        events.push(chunk(
            delta(
                json!({"tool_calls": [{"index": 0, "id": call_id, "type": "function",
                                          "function": {"name": call.name, "arguments": ""}}]}),
            ),
            None,
        ));
        for frag in fragments(&call.arguments_json()) {
            events.push(chunk(
                delta(json!({"tool_calls": [{"index": 0, "function": {"arguments": frag}}]})),
                None,
            ));
        }
    }
    events.push(chunk(
        json!([{"index": 0, "delta": {}, "logprobs": null, "finish_reason": finish_reason(&plan.finish)}]),
        None,
    ));
    if with_usage {
        events.push(chunk(json!([]), Some(usage(&plan, s.cache_read_tokens))));
    }
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    s.stall().await;
    stream::response(
        "text/event-stream; charset=utf-8",
        events,
        stream_error_event(),
        &s.faults.get(),
    )
}

// === legacy completions ===

/// The prompt text: a string, the first of several strings, or token ids joined by spaces.
fn prompt_text(prompt: &Value) -> String {
    let ints = |a: &[Value]| {
        a.iter()
            .filter_map(Value::as_i64)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    match prompt {
        Value::String(s) => s.clone(),
        Value::Array(a) => match a.first() {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(inner)) => ints(inner),
            Some(_) => ints(a),
            None => String::new(),
        },
        _ => String::new(),
    }
}

async fn completions(State(s): S, body: Bytes) -> Response {
    if let Some(f) = s.gate().await {
        return fault_response(&f);
    }
    let Ok(req) = parse_json(&body) else {
        return invalid_json();
    };
    if let Err(resp) = check_common(&req) {
        return resp;
    }
    let model = match check_model(&req) {
        Ok(m) => m,
        Err(resp) => return resp,
    };
    let Some(prompt) = req.get("prompt").filter(|p| !p.is_null()) else {
        return bad_request(
            "Missing required parameter: 'prompt'.",
            Some("prompt"),
            Some("missing_required_parameter"),
        );
    };
    if !s.knows_model(&model) {
        return model_not_found(&model);
    }
    let text = prompt_text(prompt);
    let input = PlanInput {
        input_chars: text.chars().count(),
        last_user_text: text,
        stop: reply::stop_list(req.get("stop")),
        max_tokens: Some(req.get("max_tokens").and_then(Value::as_u64).unwrap_or(16)),
        ..PlanInput::default()
    };
    let plan = reply::plan(&input);
    let id = new_id("cmpl-", 29);
    let created = unix_now();
    let usage = usage(&plan, s.cache_read_tokens);
    if !is_stream(&req) {
        return json_response(
            StatusCode::OK,
            &json!({
                "id": id, "object": "text_completion", "created": created, "model": model,
                "choices": [{"text": plan.text, "index": 0, "logprobs": null,
                             "finish_reason": finish_reason(&plan.finish)}],
                "usage": usage, "system_fingerprint": "fp_mock"
            }),
        );
    }
    let with_usage = include_usage(&req);
    let chunk = |choices: Value, u: Option<Value>| {
        let mut c = json!({"id": id, "object": "text_completion", "created": created,
                           "model": model, "system_fingerprint": "fp_mock", "choices": choices});
        if with_usage {
            c["usage"] = u.unwrap_or(Value::Null);
        }
        stream::sse_data(&c)
    };
    let mut events: Vec<Bytes> = word_pieces(&plan.text)
        .into_iter()
        .map(|p| {
            chunk(
                json!([{"text": p, "index": 0, "logprobs": null, "finish_reason": null}]),
                None,
            )
        })
        .collect();
    events.push(chunk(
        json!([{"text": "", "index": 0, "logprobs": null, "finish_reason": finish_reason(&plan.finish)}]),
        None,
    ));
    if with_usage {
        events.push(chunk(json!([]), Some(usage)));
    }
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    s.stall().await;
    stream::response(
        "text/event-stream; charset=utf-8",
        events,
        stream_error_event(),
        &s.faults.get(),
    )
}

// === embeddings ===

async fn embeddings(State(s): S, body: Bytes) -> Response {
    if let Some(f) = s.gate().await {
        return fault_response(&f);
    }
    answer_embeddings(&s, body)
}

/// An embeddings answer after the fault gate (shared with the Azure flavor).
pub(crate) fn answer_embeddings(s: &Shared, body: Bytes) -> Response {
    let Ok(req) = parse_json(&body) else {
        return invalid_json();
    };
    if let Err(resp) = check_common(&req) {
        return resp;
    }
    let model = match check_model(&req) {
        Ok(m) => m,
        Err(resp) => return resp,
    };
    let invalid_input = || {
        bad_request(
            "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
            None,
            None,
        )
    };
    // (hash text, token count) per input
    let inputs: Vec<(String, u64)> = match req.get("input") {
        None | Some(Value::Null) => {
            return bad_request(
                "Missing required parameter: 'input'.",
                Some("input"),
                Some("missing_required_parameter"),
            )
        }
        Some(Value::String(t)) => vec![(t.clone(), reply::estimate_tokens(t.chars().count()))],
        Some(Value::Array(a)) if a.is_empty() || a.len() > 2048 => return invalid_input(),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(Value::as_str)
            .map(|t| (t.to_string(), reply::estimate_tokens(t.chars().count())))
            .collect(),
        Some(Value::Array(a)) if a.iter().all(Value::is_u64) => vec![tokens_input(a)],
        Some(Value::Array(a))
            if a.iter().all(|x| {
                x.as_array()
                    .is_some_and(|i| !i.is_empty() && i.iter().all(Value::is_u64))
            }) =>
        {
            a.iter()
                .filter_map(Value::as_array)
                .map(|i| tokens_input(i))
                .collect()
        }
        Some(_) => return invalid_input(),
    };
    let dims = match req.get("dimensions") {
        None | Some(Value::Null) => embed::DEFAULT_DIMS,
        Some(v) => match v.as_u64() {
            Some(d) if (1..=8192).contains(&d) => d as usize,
            _ => {
                return bad_request(
                    &format!("Invalid 'dimensions': integer below minimum value. Expected a value >= 1, but got {v} instead."),
                    Some("dimensions"),
                    Some("integer_below_min_value"),
                )
            }
        },
    };
    let base64 = match req.get("encoding_format").and_then(Value::as_str) {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return bad_request(
                &format!("Invalid value: '{other}'. Supported values are: 'float' and 'base64'."),
                Some("encoding_format"),
                Some("invalid_value"),
            )
        }
    };
    if !s.knows_model(&model) {
        return model_not_found(&model);
    }
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, (text, _))| {
            let v = embed::vector(text, dims);
            let e = if base64 {
                json!(embed::as_base64(&v))
            } else {
                embed::as_json_floats(&v)
            };
            json!({"object": "embedding", "index": i, "embedding": e})
        })
        .collect();
    let tokens: u64 = inputs.iter().map(|(_, t)| t).sum();
    json_response(
        StatusCode::OK,
        &json!({"object": "list", "data": data, "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
    )
}

fn tokens_input(ids: &[Value]) -> (String, u64) {
    let text = ids
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(",");
    (text, ids.len() as u64)
}

// === models ===

fn model_object(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": MODEL_CREATED, "owned_by": "system"})
}

async fn models(State(s): S) -> Response {
    let data: Vec<Value> = s.listed_models().map(model_object).collect();
    json_response(StatusCode::OK, &json!({"object": "list", "data": data}))
}

async fn model(State(s): S, Path(id): Path<String>) -> Response {
    if s.knows_model(&id) {
        json_response(StatusCode::OK, &model_object(&id))
    } else {
        error(
            StatusCode::NOT_FOUND,
            &format!("The model '{id}' does not exist"),
            "invalid_request_error",
            Some("model"),
            Some("model_not_found"),
        )
    }
}

/// OpenAI's `logprobs.content` for a text: one entry per word, with its UTF-8 bytes.
fn token_logprobs(text: &str) -> Value {
    let tokens: Vec<Value> = word_pieces(text)
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"token": t, "logprob": -0.01 * (i as f64 + 1.0),
                   "bytes": t.as_bytes(), "top_logprobs": []})
        })
        .collect();
    Value::Array(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keys() {
        let m = mask_key("sk-abcdefghijklmnopqrstuvwxyz1234");
        assert!(m.starts_with("sk-") && m.ends_with("1234") && !m.contains("abcdef"));
        assert_eq!(mask_key("short"), "*****");
    }
}
