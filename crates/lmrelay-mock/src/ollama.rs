//! Ollama flavor: `POST /api/chat`, `POST /api/generate`, `POST /api/embed`,
//! `POST /api/embeddings`, `GET /api/tags`, `POST /api/show`, `GET /api/ps`,
//! `GET /api/version`, `GET|HEAD /`. No auth; NDJSON streams (the default);
//! errors are `{"error":"…"}`.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};

use crate::embed;
use crate::faults::FailNext;
use crate::reply::{self, Finish, Plan, PlanInput, ToolChoice, ToolDef};
use crate::server::{json_response, parse_json, set_header, Shared};
use crate::stream;
use crate::util::{fnv1a, new_id_lower, rfc3339, rfc3339_now_nanos, unix_now, word_pieces};

type S = State<Arc<Shared>>;

const VERSION: &str = "0.12.6";
const NDJSON: &str = "application/x-ndjson";

pub(crate) fn router(_shared: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/", get(root))
        .route("/api/version", get(version))
        .route("/api/tags", get(tags))
        .route("/api/ps", get(ps))
        .route("/api/show", post(show))
        .route("/api/chat", post(chat))
        .route("/api/generate", post(generate))
        .route("/api/embed", post(embed_handler))
        .route("/api/embeddings", post(embeddings_legacy))
        .fallback(not_found_page)
}

fn text_response(status: StatusCode, text: &'static str) -> Response {
    let mut resp = Response::new(Body::from(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

async fn root() -> Response {
    text_response(StatusCode::OK, "Ollama is running")
}

async fn not_found_page() -> Response {
    text_response(StatusCode::NOT_FOUND, "404 page not found")
}

// === errors ===

fn error(status: StatusCode, message: &str) -> Response {
    json_response(status, &json!({"error": message}))
}

fn model_not_found(model: &str) -> Response {
    error(StatusCode::NOT_FOUND, &format!("model '{model}' not found"))
}

fn fault_response(f: &FailNext) -> Response {
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let default = match f.status {
        429 => "too many requests",
        503 => "server busy, please try again.  maximum pending requests exceeded",
        500 => "model runner has unexpectedly stopped, this may be due to resource limitations or an internal error, check ollama server logs for details",
        502 => "bad gateway",
        _ => "mock: injected error",
    };
    let mut resp = error(status, f.error_type.as_deref().unwrap_or(default));
    if let Some(secs) = f.retry_after {
        set_header(&mut resp, "retry-after", &secs.to_string());
    }
    resp
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Array(_) => "array",
        Value::Null => "null",
        Value::Object(_) => "object",
    }
}

/// Parses the body and checks `model`; returns (request, model).
fn parse_with_model(body: &[u8]) -> Result<(Value, String), Response> {
    let req = parse_json(body).map_err(|e| error(StatusCode::BAD_REQUEST, &e))?;
    if !req.is_object() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "json: cannot unmarshal into Go value of type api.ChatRequest",
        ));
    }
    let model = req
        .get("model")
        .or_else(|| req.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if model.is_empty() {
        return Err(error(StatusCode::BAD_REQUEST, "model is required"));
    }
    Ok((req, model))
}

fn check_images(images: Option<&Value>) -> Result<(), Response> {
    for img in images.and_then(Value::as_array).into_iter().flatten() {
        match img.as_str() {
            Some(s) if s.starts_with("data:") => {
                return Err(error(StatusCode::BAD_REQUEST, "illegal base64 data at input byte 4"))
            }
            Some(_) => {}
            None => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    &format!("json: cannot unmarshal {} into Go struct field Message.messages.images of type api.ImageData", go_type(img)),
                ))
            }
        }
    }
    Ok(())
}

fn validate_chat(req: &Value) -> Result<(), Response> {
    for m in req
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(c) = m.get("content").filter(|c| !c.is_string() && !c.is_null()) {
            return Err(error(
                StatusCode::BAD_REQUEST,
                &format!("json: cannot unmarshal {} into Go struct field Message.messages.content of type string", go_type(c)),
            ));
        }
        for call in m
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(args) = call.get("function").and_then(|f| f.get("arguments")) {
                if !args.is_object() && !args.is_null() {
                    return Err(error(
                        StatusCode::BAD_REQUEST,
                        &format!("json: cannot unmarshal {} into Go struct field ToolCallFunction.messages.tool_calls.function.arguments of type api.ToolCallFunctionArguments", go_type(args)),
                    ));
                }
            }
        }
        check_images(m.get("images"))?;
    }
    Ok(())
}

// === planning and rendering ===

/// Whether a model can think, as Ollama's capability check decides from the model; here
/// from its family name.
fn model_thinks(model: &str) -> bool {
    const FAMILIES: &[&str] = &[
        "qwen3",
        "deepseek-r1",
        "gpt-oss",
        "magistral",
        "cogito",
        "thinking",
    ];
    FAMILIES.iter().any(|f| model.contains(f))
}

/// Ollama refuses `think` for a model without the thinking capability (400).
fn check_think(req: &Value, model: &str) -> Result<(), Response> {
    if truthy_think(req.get("think")) && !model_thinks(model) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            &format!("\"{model}\" does not support thinking"),
        ));
    }
    Ok(())
}

fn truthy_think(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !s.is_empty() && s != "false",
        _ => false,
    }
}

fn options_stop_max(req: &Value) -> (Vec<String>, Option<u64>) {
    let options = req.get("options");
    let stop = reply::stop_list(options.and_then(|o| o.get("stop")));
    let max = options
        .and_then(|o| o.get("num_predict"))
        .and_then(Value::as_u64);
    (stop, max)
}

fn chat_plan_input(req: &Value) -> PlanInput {
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let role = |m: &Value| {
        m.get("role")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let content = |m: &Value| {
        m.get("content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let input_chars = messages
        .iter()
        .map(|m| reply::text_chars(m.get("content")))
        .sum();
    let last_user_text = messages
        .iter()
        .rev()
        .filter(|m| role(m) == "user")
        .map(content)
        .find(|t| !t.is_empty())
        .unwrap_or_default();
    let trailing: Vec<String> = messages
        .iter()
        .rev()
        .take_while(|m| role(m) == "tool")
        .map(content)
        .collect();
    let tool_results = (!trailing.is_empty()).then(|| trailing.into_iter().rev().collect());
    let tools = req
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
    let tool_choice = match req.get("tool_choice") {
        Some(Value::String(s)) if s == "none" => ToolChoice::None,
        Some(Value::String(s)) if s == "required" => ToolChoice::Required,
        Some(Value::Object(o)) => o
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .map_or(ToolChoice::Auto, |n| ToolChoice::Named(n.to_string())),
        _ => ToolChoice::Auto,
    };
    let (stop, max_tokens) = options_stop_max(req);
    PlanInput {
        last_user_text,
        tool_results,
        tools,
        tool_choice,
        thinking: truthy_think(req.get("think")),
        stop,
        max_tokens,
        input_chars,
    }
}

fn done_reason(f: &Finish) -> &'static str {
    match f {
        Finish::Length => "length",
        _ => "stop",
    }
}

/// The final-line metrics (all durations in nanoseconds).
fn metrics(plan: &Plan, out: &mut Map<String, Value>) {
    let load = 1_250_000u64;
    let prompt_eval = plan.input_tokens * 250_000;
    let eval = plan.output_tokens.max(1) * 12_000_000;
    out.insert("total_duration".into(), json!(load + prompt_eval + eval));
    out.insert("load_duration".into(), json!(load));
    out.insert("prompt_eval_count".into(), json!(plan.input_tokens));
    out.insert("prompt_eval_duration".into(), json!(prompt_eval));
    out.insert("eval_count".into(), json!(plan.output_tokens));
    out.insert("eval_duration".into(), json!(eval));
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn wants_stream(req: &Value) -> bool {
    req.get("stream").and_then(Value::as_bool).unwrap_or(true)
}

fn stream_error_event() -> Bytes {
    stream::ndjson_line(
        &json!({"error": "an error was encountered while running the model: unexpected EOF"}),
    )
}

async fn chat(State(s): S, body: Bytes) -> Response {
    if let Some(f) = s.gate().await {
        return fault_response(&f);
    }
    let (req, model) = match parse_with_model(&body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(r) = validate_chat(&req) {
        return r;
    }
    if !s.knows_model(&model) {
        return model_not_found(&model);
    }
    if let Err(r) = check_think(&req, &model) {
        return r;
    }
    let messages_empty = req
        .get("messages")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if messages_empty {
        return json_response(
            StatusCode::OK,
            &json!({"model": model, "created_at": rfc3339_now_nanos(),
                    "message": {"role": "assistant", "content": ""}, "done_reason": "load", "done": true}),
        );
    }
    let plan = reply::plan(&chat_plan_input(&req));
    let calls = plan.tool_call.as_ref().map(|c| {
        json!([{"id": new_id_lower("call_", 8),
                "function": {"index": 0, "name": c.name, "arguments": c.arguments}}])
    });
    if !wants_stream(&req) {
        let mut message = object(json!({"role": "assistant", "content": plan.text}));
        if let Some(t) = &plan.thinking {
            message.insert("thinking".into(), json!(t));
        }
        if let Some(c) = &calls {
            message.insert("tool_calls".into(), c.clone());
        }
        let mut out = object(
            json!({"model": model, "created_at": rfc3339_now_nanos(), "message": message,
                                    "done_reason": done_reason(&plan.finish), "done": true}),
        );
        metrics(&plan, &mut out);
        return json_response(StatusCode::OK, &Value::Object(out));
    }
    let line = |message: Value| {
        stream::ndjson_line(
            &json!({"model": model, "created_at": rfc3339_now_nanos(), "message": message, "done": false}),
        )
    };
    let mut events = Vec::new();
    if let Some(t) = &plan.thinking {
        for piece in word_pieces(t) {
            events.push(line(
                json!({"role": "assistant", "content": "", "thinking": piece}),
            ));
        }
    }
    for piece in word_pieces(&plan.text) {
        events.push(line(json!({"role": "assistant", "content": piece})));
    }
    if let Some(c) = calls {
        events.push(line(
            json!({"role": "assistant", "content": "", "tool_calls": c}),
        ));
    }
    let mut last = object(json!({"model": model, "created_at": rfc3339_now_nanos(),
                                 "message": {"role": "assistant", "content": ""},
                                 "done": true, "done_reason": done_reason(&plan.finish)}));
    metrics(&plan, &mut last);
    events.push(stream::ndjson_line(&Value::Object(last)));
    s.stall().await;
    stream::response(NDJSON, events, stream_error_event(), &s.faults.get())
}

async fn generate(State(s): S, body: Bytes) -> Response {
    if let Some(f) = s.gate().await {
        return fault_response(&f);
    }
    let (req, model) = match parse_with_model(&body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(r) = check_images(req.get("images")) {
        return r;
    }
    if !s.knows_model(&model) {
        return model_not_found(&model);
    }
    if let Err(r) = check_think(&req, &model) {
        return r;
    }
    let prompt = req
        .get("prompt")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if prompt.is_empty() {
        let unload = req
            .get("keep_alive")
            .is_some_and(|k| k.as_i64() == Some(0) || k.as_str() == Some("0"));
        return json_response(
            StatusCode::OK,
            &json!({"model": model, "created_at": rfc3339_now_nanos(), "response": "",
                    "done": true, "done_reason": if unload { "unload" } else { "load" }}),
        );
    }
    let (stop, max_tokens) = options_stop_max(&req);
    let input = PlanInput {
        input_chars: prompt.chars().count() + reply::text_chars(req.get("system")),
        last_user_text: prompt,
        thinking: truthy_think(req.get("think")),
        stop,
        max_tokens,
        ..PlanInput::default()
    };
    let plan = reply::plan(&input);
    let context = json!([1, 2, 3]);
    if !wants_stream(&req) {
        let mut out = object(
            json!({"model": model, "created_at": rfc3339_now_nanos(), "response": plan.text}),
        );
        if let Some(t) = &plan.thinking {
            out.insert("thinking".into(), json!(t));
        }
        out.insert("done".into(), json!(true));
        out.insert("done_reason".into(), json!(done_reason(&plan.finish)));
        out.insert("context".into(), context);
        metrics(&plan, &mut out);
        return json_response(StatusCode::OK, &Value::Object(out));
    }
    let line = |response: &str, thinking: Option<&str>| {
        let mut o = object(
            json!({"model": model, "created_at": rfc3339_now_nanos(), "response": response}),
        );
        if let Some(t) = thinking {
            o.insert("thinking".into(), json!(t));
        }
        o.insert("done".into(), json!(false));
        stream::ndjson_line(&Value::Object(o))
    };
    let mut events = Vec::new();
    if let Some(t) = &plan.thinking {
        events.extend(word_pieces(t).into_iter().map(|p| line("", Some(p))));
    }
    events.extend(word_pieces(&plan.text).into_iter().map(|p| line(p, None)));
    let mut last = object(
        json!({"model": model, "created_at": rfc3339_now_nanos(), "response": "",
                                 "done": true, "done_reason": done_reason(&plan.finish), "context": context}),
    );
    metrics(&plan, &mut last);
    events.push(stream::ndjson_line(&Value::Object(last)));
    s.stall().await;
    stream::response(NDJSON, events, stream_error_event(), &s.faults.get())
}

// === embeddings ===

fn dims_of(req: &Value) -> usize {
    req.get("dimensions")
        .and_then(Value::as_u64)
        .filter(|d| (1..=8192).contains(d))
        .map_or(embed::DEFAULT_DIMS, |d| d as usize)
}

async fn embed_handler(State(s): S, body: Bytes) -> Response {
    if let Some(f) = s.gate().await {
        return fault_response(&f);
    }
    let (req, model) = match parse_with_model(&body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let inputs: Vec<String> = match req.get("input") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        Some(_) => return error(StatusCode::BAD_REQUEST, "invalid input type"),
    };
    if !s.knows_model(&model) {
        return model_not_found(&model);
    }
    let dims = dims_of(&req);
    let embeddings: Vec<Value> = inputs
        .iter()
        .map(|t| embed::as_json_floats(&embed::vector(t, dims)))
        .collect();
    let tokens: u64 = inputs
        .iter()
        .map(|t| reply::estimate_tokens(t.chars().count()))
        .sum();
    json_response(
        StatusCode::OK,
        &json!({"model": model, "embeddings": embeddings, "total_duration": 14_143_917u64,
                "load_duration": 1_019_500u64, "prompt_eval_count": tokens}),
    )
}

async fn embeddings_legacy(State(s): S, body: Bytes) -> Response {
    if let Some(f) = s.gate().await {
        return fault_response(&f);
    }
    let (req, model) = match parse_with_model(&body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !s.knows_model(&model) {
        return model_not_found(&model);
    }
    let prompt = req
        .get("prompt")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let embedding = if prompt.is_empty() {
        json!([])
    } else {
        embed::as_json_floats(&embed::vector(prompt, dims_of(&req)))
    };
    json_response(StatusCode::OK, &json!({"embedding": embedding}))
}

// === model listing ===

fn is_embedding_model(name: &str) -> bool {
    name.contains("embed")
}

fn full_name(name: &str) -> String {
    if name.contains(':') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

fn details(name: &str) -> Value {
    let family = if is_embedding_model(name) {
        "nomic-bert"
    } else {
        "llama"
    };
    json!({"parent_model": "", "format": "gguf", "family": family, "families": [family],
           "parameter_size": if is_embedding_model(name) { "137M" } else { "3.2B" },
           "quantization_level": if is_embedding_model(name) { "F16" } else { "Q4_K_M" }})
}

fn digest(name: &str) -> String {
    let h = fnv1a(name.as_bytes());
    format!(
        "{h:016x}{:016x}{:016x}{:016x}",
        h.rotate_left(13),
        h.rotate_left(29),
        h.rotate_left(43)
    )
}

fn modified_at() -> String {
    rfc3339(1_735_689_600, Some(0)).replace(".000000000Z", ".000000000+00:00")
}

async fn tags(State(s): S) -> Response {
    let models: Vec<Value> = s
        .listed_models()
        .map(|m| {
            let name = full_name(m);
            json!({"name": name, "model": name, "modified_at": modified_at(),
                   "size": 2_019_393_189u64, "digest": digest(&name), "details": details(&name)})
        })
        .collect();
    json_response(StatusCode::OK, &json!({"models": models}))
}

async fn ps(State(s): S) -> Response {
    let expires = rfc3339(unix_now() + 300, Some(0));
    let models: Vec<Value> = s
        .listed_models()
        .map(|m| {
            let name = full_name(m);
            json!({"name": name, "model": name, "size": 2_019_393_189u64, "digest": digest(&name),
                   "details": details(&name), "expires_at": expires, "size_vram": 2_019_393_189u64,
                   "context_length": 4096})
        })
        .collect();
    json_response(StatusCode::OK, &json!({"models": models}))
}

async fn show(State(s): S, body: Bytes) -> Response {
    let (_req, model) = match parse_with_model(&body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !s.knows_model(&model) {
        return model_not_found(&model);
    }
    let embedding = is_embedding_model(&model);
    let capabilities = if embedding {
        json!(["embedding"])
    } else if model_thinks(&model) {
        json!(["completion", "tools", "thinking"])
    } else {
        json!(["completion", "tools"])
    };
    let arch = if embedding { "nomic-bert" } else { "llama" };
    let mut info = Map::new();
    info.insert("general.architecture".into(), json!(arch));
    info.insert(
        "general.parameter_count".into(),
        json!(if embedding {
            136_727_040u64
        } else {
            3_212_749_888u64
        }),
    );
    info.insert(
        format!("{arch}.context_length"),
        json!(if embedding { 2048 } else { 131_072 }),
    );
    info.insert(
        format!("{arch}.embedding_length"),
        json!(if embedding { 768 } else { 3072 }),
    );
    json_response(
        StatusCode::OK,
        &json!({
            "modelfile": format!("# Modelfile generated by lmrelay-mock\nFROM {}\n", full_name(&model)),
            "parameters": "stop                           \"<|eot_id|>\"",
            "template": "{{ .Prompt }}",
            "details": details(&model),
            "model_info": info,
            "capabilities": capabilities,
            "modified_at": modified_at()
        }),
    )
}

async fn version() -> Response {
    json_response(StatusCode::OK, &json!({"version": VERSION}))
}
