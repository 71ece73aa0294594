//! Gemini flavor (Generative Language API `v1beta`): `POST
//! /v1beta/models/{model}:generateContent`, `:streamGenerateContent` (SSE with `?alt=sse`,
//! else a JSON array), `:countTokens`, `:embedContent`, `:batchEmbedContents`, and `GET
//! /v1beta/models[/{model}]`, with the `x-goog-api-key` header (or `?key=`), Google's error
//! bodies (`{"error":{code,message,status,details}}`) and validation (`validate.rs`).
//!
//! Answers follow the shared plan (`reply.rs`): thought parts when
//! `thinkingConfig.includeThoughts`, a `thoughtSignature` on the first function call (or the
//! last text part) when thinking or for Gemini 3 models, which also check signatures on
//! replay.

mod validate;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use crate::embed;
use crate::faults::FailNext;
use crate::reply::{self, Finish, Plan, PlanInput, ToolChoice, ToolDef};
use crate::server::{json_response, parse_json, set_header, KeyCheck, Shared};
use crate::stream;
use crate::util::{base64_encode, new_id, word_pieces};

type S = State<Arc<Shared>>;

/// The signature Google documents for function calls whose real signature is unknown.
const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

pub(crate) fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1beta/models", get(models))
        .route("/v1beta/models/{target}", get(model).post(call))
        .fallback(unknown_url)
        .layer(middleware::from_fn_with_state(shared, edge))
}

// === errors ===

/// A Google API error response.
fn error(status: StatusCode, message: &str, details: Option<Value>) -> Response {
    let mut body = json!({"code": status.as_u16(), "message": message, "status": status_name(status.as_u16())});
    if let Some(d) = details {
        body["details"] = d;
    }
    json_response(status, &json!({ "error": body }))
}

pub(super) fn invalid(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, message, None)
}

fn status_name(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 | 402 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        500 => "INTERNAL",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    }
}

fn fault_response(f: &FailNext) -> Response {
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let name = f
        .error_type
        .clone()
        .unwrap_or_else(|| status_name(f.status).to_string());
    let message = match name.as_str() {
        "RESOURCE_EXHAUSTED" => "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
        "UNAVAILABLE" => "The model is overloaded. Please try again later.",
        "INTERNAL" => "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
        "DEADLINE_EXCEEDED" => "Deadline expired before operation could complete.",
        "PERMISSION_DENIED" => "The caller does not have permission",
        "NOT_FOUND" => "Requested entity was not found.",
        "UNAUTHENTICATED" => "Request had invalid authentication credentials.",
        _ => "mock: injected error",
    };
    let details = f.retry_after.map(|secs| {
        json!([{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{secs}s")}])
    });
    let mut body = json!({"code": f.status, "message": message, "status": name});
    if let Some(d) = details {
        body["details"] = d;
    }
    json_response(status, &json!({ "error": body }))
}

fn stream_error_event() -> Bytes {
    sse(
        &json!({"error": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}}),
    )
}

fn not_found_for(model: &str, method: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("models/{model} is not found for API version v1beta, or is not supported for {method}. Call ListModels to see the list of available models and their supported methods."),
        None,
    )
}

async fn unknown_url() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "Requested entity was not found.",
        None,
    )
}

// === edge: auth and headers ===

async fn edge(State(s): S, req: Request, next: Next) -> Response {
    let key = req
        .headers()
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| query_param(req.uri().query(), "key"));
    let mut resp = match s.check_key(key.as_deref()) {
        KeyCheck::Missing => error(
            StatusCode::FORBIDDEN,
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
            None,
        ),
        KeyCheck::Wrong => error(
            StatusCode::BAD_REQUEST,
            "API key not valid. Please pass a valid API key.",
            Some(json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID", "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"}}])),
        ),
        KeyCheck::Ok => next.run(req).await,
    };
    if resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == "application/json")
    {
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=UTF-8"),
        );
    }
    set_header(&mut resp, "server", "scaffolding on HTTPServer2");
    set_header(&mut resp, "vary", "Origin, X-Origin, Referer");
    resp
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| v.to_string())
    })
}

// === models ===

fn is_embedding(model: &str) -> bool {
    model.contains("embedding")
}

/// Gemini 3 and later sign function calls and check the signatures on replay.
pub(super) fn signs_calls(model: &str) -> bool {
    model.starts_with("gemini-3")
}

/// Models that cannot think.
fn cannot_think(model: &str) -> bool {
    model.starts_with("gemini-2.0") || model.starts_with("gemini-1")
}

/// Models that only think (a budget of 0 is refused).
fn always_thinks(model: &str) -> bool {
    model.contains("-pro")
}

fn model_object(id: &str) -> Value {
    let methods = if is_embedding(id) {
        json!(["embedContent", "countTextTokens", "countTokens"])
    } else {
        json!([
            "generateContent",
            "countTokens",
            "createCachedContent",
            "batchGenerateContent"
        ])
    };
    json!({
        "name": format!("models/{id}"), "version": "001", "displayName": id,
        "description": format!("Mock {id}"), "inputTokenLimit": 1_048_576,
        "outputTokenLimit": 65_536, "supportedGenerationMethods": methods,
        "temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2,
        "thinking": !is_embedding(id) && !cannot_think(id)
    })
}

async fn models(State(s): S) -> Response {
    let list: Vec<Value> = s.listed_models().map(model_object).collect();
    json_response(StatusCode::OK, &json!({ "models": list }))
}

async fn model(State(s): S, Path(target): Path<String>) -> Response {
    if s.knows_model(&target) {
        json_response(StatusCode::OK, &model_object(&target))
    } else {
        error(
            StatusCode::NOT_FOUND,
            &format!("models/{target} is not found for API version v1beta."),
            None,
        )
    }
}

// === the model methods ===

async fn call(
    State(s): S,
    Path(target): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let Some((model, method)) = target.rsplit_once(':') else {
        return unknown_url().await;
    };
    let known = [
        "generateContent",
        "streamGenerateContent",
        "countTokens",
        "embedContent",
        "batchEmbedContents",
    ];
    if !known.contains(&method) {
        return unknown_url().await;
    }
    let embedding_method = method.ends_with("mbedContent") || method == "batchEmbedContents";
    if !s.knows_model(model) || is_embedding(model) != embedding_method && method != "countTokens" {
        return not_found_for(model, method);
    }
    if method != "countTokens" {
        if let Some(f) = s.gate().await {
            return fault_response(&f);
        }
    }
    let req = match parse_json(&body) {
        Ok(r) => r,
        Err(e) => return invalid(&format!("Invalid JSON payload received. {e}")),
    };
    match method {
        "generateContent" => generate(&s, model, &req, None).await,
        "streamGenerateContent" => {
            let sse = query_param(query.as_deref(), "alt").as_deref() == Some("sse");
            generate(&s, model, &req, Some(sse)).await
        }
        "countTokens" => count_tokens(model, &req),
        "embedContent" => embed_content(model, &req),
        _ => batch_embed(model, &req),
    }
}

/// `generateContent`, or `streamGenerateContent` when `stream` is `Some(alt_sse)`.
async fn generate(s: &Shared, model: &str, req: &Value, stream: Option<bool>) -> Response {
    if let Err(resp) = validate::generate(req, model) {
        return resp;
    }
    let thinking = &req["generationConfig"]["thinkingConfig"];
    let budget = thinking["thinkingBudget"].as_i64();
    let wants_thoughts = thinking["includeThoughts"].as_bool() == Some(true);
    if cannot_think(model) && (wants_thoughts || budget.is_some_and(|b| b > 0)) {
        return invalid("Thinking is not supported for this model.");
    }
    if always_thinks(model) && budget == Some(0) {
        return invalid("Budget 0 is invalid. This model only works in thinking mode.");
    }
    let json_mode = req["generationConfig"]["responseMimeType"] == "application/json";
    let functions = req["tools"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t.get("functionDeclarations").is_some()));
    if model.starts_with("gemini-2") && json_mode && functions {
        return invalid(
            "Function calling with a response mime type: 'application/json' is unsupported",
        );
    }
    let input = plan_input(req);
    let plan = reply::plan(&input);
    let answer = Answer::new(s, model, &plan, &input);
    match stream {
        None => json_response(StatusCode::OK, &answer.whole()),
        Some(sse_framing) => {
            let chunks = answer.chunks();
            s.stall().await;
            if sse_framing {
                let events = chunks.iter().map(sse).collect();
                stream::response(
                    "text/event-stream",
                    events,
                    stream_error_event(),
                    &s.faults.get(),
                )
            } else {
                let body: Vec<String> = chunks.iter().map(Value::to_string).collect();
                let mut resp = json_response(StatusCode::OK, &Value::Null);
                *resp.body_mut() = format!("[{}]", body.join(",\r\n")).into();
                resp
            }
        }
    }
}

fn count_tokens(model: &str, req: &Value) -> Response {
    let Some(obj) = req.as_object() else {
        return invalid("Invalid JSON payload received. Expected an object.");
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !["contents", "generateContentRequest"].contains(&k.as_str()))
    {
        return invalid(&format!(
            "Invalid JSON payload received. Unknown name \"{k}\": Cannot find field."
        ));
    }
    let inner = match (obj.get("contents"), obj.get("generateContentRequest")) {
        (Some(_), Some(_)) => {
            return invalid(
                "* CountTokensRequest: contents and generate_content_request cannot both be set.\n",
            )
        }
        (Some(c), None) => json!({ "contents": c }),
        (None, Some(g)) => {
            if g.get("model").and_then(Value::as_str) != Some(&format!("models/{model}")) {
                return invalid("* CountTokensRequest.generate_content_request.model: unexpected model name format\n");
            }
            g.clone()
        }
        (None, None) => {
            return invalid(
                "* CountTokensRequest: contents or generate_content_request must be set.\n",
            )
        }
    };
    if let Err(resp) = validate::generate(&inner, "") {
        return resp;
    }
    let tokens = reply::estimate_tokens(plan_input(&inner).input_chars);
    json_response(
        StatusCode::OK,
        &json!({"totalTokens": tokens, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens}]}),
    )
}

fn embedding(req: &Value) -> Value {
    let text = texts(&req["content"]).join("\n");
    let dims = req["outputDimensionality"]
        .as_u64()
        .map_or(embed::DEFAULT_DIMS, |d| d as usize);
    json!({ "values": embed::as_json_floats(&embed::vector(&text, dims)) })
}

fn embed_content(model: &str, req: &Value) -> Response {
    if let Err(resp) = validate::embed(req, "") {
        return resp;
    }
    if let Some(m) = req.get("model").and_then(Value::as_str) {
        if m != format!("models/{model}") {
            return invalid("* EmbedContentRequest.model: model in the request does not match the model in the URL\n");
        }
    }
    json_response(StatusCode::OK, &json!({ "embedding": embedding(req) }))
}

fn batch_embed(model: &str, req: &Value) -> Response {
    let requests = match req.as_object() {
        Some(o) if o.keys().all(|k| k == "requests") => o.get("requests").and_then(Value::as_array),
        _ => None,
    };
    let Some(requests) = requests.filter(|r| !r.is_empty()) else {
        return invalid(
            "* BatchEmbedContentsRequest.requests: requests is required and must not be empty\n",
        );
    };
    let mut out = Vec::with_capacity(requests.len());
    for (i, r) in requests.iter().enumerate() {
        if let Err(resp) = validate::embed(r, &format!("requests[{i}]")) {
            return resp;
        }
        if r.get("model").and_then(Value::as_str) != Some(&format!("models/{model}")) {
            return invalid(&format!("* BatchEmbedContentsRequest.requests[{i}].model: Model name in the request must be the same as the model name in the URL (models/{model}).\n"));
        }
        out.push(embedding(r));
    }
    json_response(StatusCode::OK, &json!({ "embeddings": out }))
}

// === planning ===

fn parts(c: &Value) -> &[Value] {
    c.get("parts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The non-thought text parts of a content.
fn texts(c: &Value) -> Vec<String> {
    parts(c)
        .iter()
        .filter(|p| p.get("thought").and_then(Value::as_bool) != Some(true))
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// A function response's text: its `result`, `error` or `content` string, else its JSON.
fn response_text(p: &Value) -> String {
    let r = &p["functionResponse"]["response"];
    ["result", "error", "content", "output"]
        .iter()
        .find_map(|k| r.get(*k).and_then(Value::as_str))
        .map_or_else(|| r.to_string(), str::to_string)
}

fn plan_input(req: &Value) -> PlanInput {
    let contents = req
        .get("contents")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let is_user = |c: &&Value| c.get("role").and_then(Value::as_str) != Some("model");
    let mut input_chars: usize = texts(&req["systemInstruction"])
        .iter()
        .map(|t| t.chars().count())
        .sum();
    for c in contents {
        input_chars += texts(c).iter().map(|t| t.chars().count()).sum::<usize>();
        input_chars += parts(c)
            .iter()
            .filter(|p| p.get("functionResponse").is_some())
            .map(|p| response_text(p).chars().count())
            .sum::<usize>();
    }
    let last_user_text = contents
        .iter()
        .rev()
        .filter(is_user)
        .map(|c| texts(c).join("\n"))
        .find(|t| !t.is_empty())
        .unwrap_or_default();
    let tool_results = contents
        .last()
        .filter(is_user)
        .map(|c| {
            parts(c)
                .iter()
                .filter(|p| p.get("functionResponse").is_some())
                .map(response_text)
                .collect::<Vec<_>>()
        })
        .filter(|r| !r.is_empty());
    let tools = req["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["functionDeclarations"].as_array().into_iter().flatten())
        .filter_map(|d| {
            let schema = d
                .get("parameters")
                .or_else(|| d.get("parametersJsonSchema"));
            Some(ToolDef {
                name: d.get("name")?.as_str()?.to_string(),
                first_property: reply::first_property(schema),
            })
        })
        .collect();
    let fc = &req["toolConfig"]["functionCallingConfig"];
    let allowed = fc["allowedFunctionNames"].as_array();
    let tool_choice = match fc["mode"].as_str() {
        Some("NONE") => ToolChoice::None,
        Some("ANY" | "VALIDATED") => match allowed.map(Vec::as_slice) {
            Some([one]) => one
                .as_str()
                .map_or(ToolChoice::Required, |n| ToolChoice::Named(n.to_string())),
            _ => ToolChoice::Required,
        },
        _ => ToolChoice::Auto,
    };
    let config = &req["generationConfig"];
    PlanInput {
        last_user_text,
        tool_results,
        tools,
        tool_choice,
        thinking: config["thinkingConfig"]["includeThoughts"].as_bool() == Some(true),
        stop: reply::stop_list(config.get("stopSequences")),
        max_tokens: config["maxOutputTokens"].as_u64(),
        input_chars,
    }
}

/// Whether `sig` is a signature this mock made (base64 of `sig_…`).
pub(super) fn is_mock_signature(sig: &str) -> bool {
    // base64 of "sig_" begins with these five characters whatever follows.
    sig.starts_with("c2lnX")
}

// === rendering ===

/// One planned answer, rendered whole or as stream chunks.
struct Answer<'a> {
    plan: &'a Plan,
    model: &'a str,
    id: String,
    signature: Option<String>,
    cache: u64,
}

impl<'a> Answer<'a> {
    fn new(s: &Shared, model: &'a str, plan: &'a Plan, input: &PlanInput) -> Self {
        let signed = plan.thinking.is_some() || signs_calls(model);
        let basis = plan.thinking.as_deref().unwrap_or(&input.last_user_text);
        Answer {
            plan,
            model,
            id: new_id("", 22),
            signature: signed.then(|| base64_encode(reply::thinking_signature(basis).as_bytes())),
            cache: s.cache_read_tokens,
        }
    }

    fn finish_reason(&self) -> &'static str {
        match self.plan.finish {
            Finish::Length => "MAX_TOKENS",
            Finish::Stop | Finish::StopSequence(_) | Finish::ToolCalls => "STOP",
        }
    }

    fn usage(&self, output: Option<u64>) -> Value {
        let p = self.plan;
        let prompt = p.input_tokens + self.cache;
        let mut u = json!({"promptTokenCount": prompt,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}]});
        let mut total = prompt;
        if let Some(out) = output {
            let candidates = out - p.thinking_tokens;
            u["candidatesTokenCount"] = json!(candidates);
            if p.thinking_tokens > 0 {
                u["thoughtsTokenCount"] = json!(p.thinking_tokens);
            }
            total += out;
        }
        if self.cache > 0 {
            u["cachedContentTokenCount"] = json!(self.cache);
        }
        u["totalTokenCount"] = json!(total);
        u
    }

    /// The answer's parts; `pieces` splits text into words, as a stream sends it.
    fn parts(&self, pieces: bool) -> Vec<Value> {
        let p = self.plan;
        let split = |t: &str| -> Vec<String> {
            if pieces {
                word_pieces(t).into_iter().map(str::to_string).collect()
            } else {
                vec![t.to_string()]
            }
        };
        let mut out = Vec::new();
        if let Some(t) = &p.thinking {
            out.extend(
                split(t)
                    .into_iter()
                    .map(|t| json!({"text": t, "thought": true})),
            );
        }
        if !p.text.is_empty() {
            out.extend(split(&p.text).into_iter().map(|t| json!({ "text": t })));
        }
        if let Some(c) = &p.tool_call {
            out.push(json!({"functionCall": {"name": c.name, "args": c.arguments}}));
        }
        // The signature sits on the first function call, else on the last part.
        if let Some(sig) = &self.signature {
            let at = out
                .iter()
                .position(|p| p.get("functionCall").is_some())
                .or(out.len().checked_sub(1));
            if let Some(i) = at {
                out[i]["thoughtSignature"] = json!(sig);
            }
        }
        out
    }

    fn response(&self, parts: Vec<Value>, finish: bool, output: Option<u64>) -> Value {
        let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
        if finish {
            candidate["finishReason"] = json!(self.finish_reason());
        }
        json!({"candidates": [candidate], "usageMetadata": self.usage(output),
               "modelVersion": self.model, "responseId": self.id})
    }

    fn whole(&self) -> Value {
        let mut parts = self.parts(false);
        if parts.is_empty() {
            parts.push(json!({"text": ""}));
        }
        self.response(parts, true, Some(self.plan.output_tokens))
    }

    fn chunks(&self) -> Vec<Value> {
        let mut parts = self.parts(true);
        if parts.is_empty() {
            parts.push(json!({"text": ""}));
        }
        let last = parts.len() - 1;
        parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let done = i == last;
                self.response(vec![p], done, done.then_some(self.plan.output_tokens))
            })
            .collect()
    }
}

/// `data: <json>\r\n\r\n`, Gemini's framing.
fn sse(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\r\n\r\n"))
}
