//! Bedrock flavor (Converse API, protocols.md §6): `POST /model/{modelId}/converse`,
//! `/converse-stream` (the AWS binary event-stream, with real CRCs) and `/count-tokens`.
//!
//! Every request must be signed: SigV4 (`sigv4.rs` recomputes the signature with the
//! secret of the configured `ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]` key, checks the scope is
//! service `bedrock`, and that `X-Amz-Date` is close to the mock's clock), or a Bedrock API
//! key as `Authorization: Bearer`. With no configured keys any well-formed signature (or
//! bearer token) passes, its signature unchecked. Failures answer as AWS does: a
//! `{"message": …}` body and the exception's name in `x-amzn-ErrorType`.
//!
//! Answers follow the shared plan (`reply.rs`); Claude models (`anthropic.` ids and
//! inference profiles) think when `additionalModelRequestFields.thinking` asks, sign their
//! reasoning, and check on a tool-loop replay that the reasoning came back with the
//! mock's own signature. Claude 3.5 models refuse thinking, as the real ones do.

mod sigv4;
mod validate;

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use crate::faults::FailNext;
use crate::reply::{self, Finish, Plan, PlanInput, ToolChoice, ToolDef};
use crate::server::{json_response, parse_json, set_header, Shared};
use crate::stream;
use crate::util::{base64_encode, new_hex_id, new_id, unix_now, word_pieces};

type S = State<Arc<Shared>>;

/// Largest body the edge reads to check a signature.
const BODY_LIMIT: usize = 64 << 20;

pub(crate) fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/model/{model}/converse", post(converse))
        .route("/model/{model}/converse-stream", post(converse_stream))
        .route("/model/{model}/count-tokens", post(count_tokens))
        .fallback(unknown_url)
        .layer(middleware::from_fn_with_state(shared, edge))
}

// === errors ===

fn request_id() -> String {
    let h = new_hex_id("", 32);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// An AWS JSON error: `{"message": …}` with `x-amzn-ErrorType`.
fn aws_error(status: StatusCode, exception: &str, message: &str) -> Response {
    let mut resp = json_response(status, &json!({ "message": message }));
    set_header(
        &mut resp,
        "x-amzn-errortype",
        &format!("{exception}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
    );
    resp
}

pub(super) fn invalid(message: &str) -> Response {
    aws_error(StatusCode::BAD_REQUEST, "ValidationException", message)
}

fn forbidden(exception: &str, message: &str) -> Response {
    aws_error(StatusCode::FORBIDDEN, exception, message)
}

fn exception_for(status: u16) -> (&'static str, &'static str) {
    match status {
        400 => ("ValidationException", "Malformed input request, please reformat your input and try again."),
        401 | 403 => ("AccessDeniedException", "You don't have access to the model with the specified model ID."),
        404 => ("ResourceNotFoundException", "This model version has reached the end of its life. Please refer to the AWS documentation for more details."),
        408 => ("ModelTimeoutException", "Model has timed out in processing the request. Try your request again."),
        424 => ("ModelErrorException", "The system encountered an unexpected error during processing. Try your request again."),
        429 => ("ThrottlingException", "Too many requests, please wait before trying again."),
        503 => ("ServiceUnavailableException", "Bedrock is unable to process your request."),
        _ => ("InternalServerException", "The server encountered an internal error."),
    }
}

fn fault_response(f: &FailNext) -> Response {
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (name, message) = exception_for(f.status);
    let name = f.error_type.as_deref().unwrap_or(name);
    let mut resp = aws_error(status, name, message);
    if let Some(secs) = f.retry_after {
        set_header(&mut resp, "retry-after", &secs.to_string());
    }
    resp
}

async fn unknown_url() -> Response {
    forbidden("UnknownOperationException", "Unknown operation")
}

// === edge: signatures and headers ===

async fn edge(State(s): S, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return invalid("Request body too large.");
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let received = sigv4::Received {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &headers,
        body: &body,
    };
    let mut resp = match authenticate(&s, &received) {
        Err(resp) => resp,
        Ok(()) => next.run(Request::from_parts(parts, Body::from(body))).await,
    };
    set_header(&mut resp, "x-amzn-requestid", &request_id());
    resp
}

/// Checks the request's signature or bearer token against the configured keys.
fn authenticate(s: &Shared, req: &sigv4::Received<'_>) -> Result<(), Response> {
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(authorization) = header("authorization") else {
        return Err(forbidden(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    let unrecognized = || {
        forbidden(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    };
    if let Some(token) = authorization.strip_prefix("Bearer ") {
        let ok = !token.trim().is_empty()
            && (s.keys.is_empty() || s.keys.iter().any(|k| !k.contains(':') && k == token));
        return if ok { Ok(()) } else { Err(unrecognized()) };
    }
    let auth = sigv4::parse_authorization(authorization)
        .map_err(|r| forbidden(r.exception, &r.message))?;
    let secret = if s.keys.is_empty() {
        None
    } else {
        let key = s.keys.iter().find_map(|k| {
            let mut p = k.splitn(3, ':');
            let (id, secret, token) = (p.next()?, p.next()?, p.next());
            (id == auth.access_key_id).then_some((secret, token))
        });
        let Some((secret, token)) = key else {
            return Err(unrecognized());
        };
        if token != header("x-amz-security-token") {
            return Err(unrecognized());
        }
        Some(secret)
    };
    sigv4::verify(&auth, req, secret, unix_now()).map_err(|r| forbidden(r.exception, &r.message))
}

// === models ===

/// Anthropic models, by plain id, inference profile or ARN.
fn is_claude(model: &str) -> bool {
    model.contains("anthropic.")
}

/// Claude models that cannot think.
fn cannot_think(model: &str) -> bool {
    model.contains("claude-3-5") || model.contains("claude-3-haiku")
}

// === the operations ===

async fn converse(State(s): S, Path(model): Path<String>, body: Bytes) -> Response {
    answer(&s, &model, &body, false).await
}

async fn converse_stream(State(s): S, Path(model): Path<String>, body: Bytes) -> Response {
    answer(&s, &model, &body, true).await
}

async fn answer(s: &Shared, model: &str, body: &[u8], streamed: bool) -> Response {
    if !s.knows_model(model) {
        return invalid("The provided model identifier is invalid.");
    }
    if let Some(f) = s.gate().await {
        return fault_response(&f);
    }
    let req = match parse_json(body) {
        Ok(r) => r,
        Err(e) => {
            return invalid(&format!(
                "Malformed input request: {e}, please reformat your input and try again."
            ))
        }
    };
    let claude = is_claude(model);
    if let Err(message) = validate::converse(&req, claude) {
        return invalid(&message);
    }
    let thinking = req["additionalModelRequestFields"]
        .get("thinking")
        .is_some();
    if thinking && cannot_think(model) {
        return invalid(
            "The model returned the following errors: thinking: Extra inputs are not permitted",
        );
    }
    if thinking {
        if let Err(message) = check_replayed_reasoning(&req) {
            return invalid(&message);
        }
    }
    let input = plan_input(&req);
    let plan = reply::plan(&input);
    let answer = Answer {
        plan: &plan,
        claude,
        cache: s.cache_read_tokens,
        tool_use_id: new_id("tooluse_", 22),
    };
    if !streamed {
        return json_response(StatusCode::OK, &answer.whole());
    }
    s.stall().await;
    let mut resp = stream::response(
        "application/vnd.amazon.eventstream",
        answer.frames(),
        exception_frame(
            "serviceUnavailableException",
            "Bedrock is unable to process your request.",
        ),
        &s.faults.get(),
    );
    resp.headers_mut().remove(header::CACHE_CONTROL);
    resp.headers_mut().insert(
        "x-amzn-bedrock-content-type",
        HeaderValue::from_static("application/json"),
    );
    resp
}

async fn count_tokens(State(s): S, Path(model): Path<String>, body: Bytes) -> Response {
    if !s.knows_model(&model) {
        return invalid("The provided model identifier is invalid.");
    }
    let req = match parse_json(&body) {
        Ok(r) => r,
        Err(e) => return invalid(&format!("Malformed input request: {e}")),
    };
    let inner = &req["input"]["converse"];
    if req.as_object().is_none_or(|o| o.len() != 1) || !inner.is_object() {
        return invalid("input.converse is required.");
    }
    if let Err(message) = validate::converse(inner, is_claude(&model)) {
        return invalid(&message);
    }
    let tokens = reply::estimate_tokens(plan_input(inner).input_chars);
    json_response(StatusCode::OK, &json!({ "inputTokens": tokens }))
}

/// With thinking on, a tool loop's last assistant turn must start with its reasoning, signed
/// by this mock (as Claude requires the thinking block back, unchanged).
fn check_replayed_reasoning(req: &Value) -> Result<(), String> {
    let messages = req["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let ends_with_results = messages
        .last()
        .is_some_and(|m| blocks(m).iter().any(|b| b.get("toolResult").is_some()));
    let Some(assistant) = messages.iter().rev().find(|m| m["role"] == "assistant") else {
        return Ok(());
    };
    if !ends_with_results {
        return Ok(());
    }
    let first = blocks(assistant).first();
    let reasoning = first.and_then(|b| b["reasoningContent"]["reasoningText"].as_object());
    let Some(r) = reasoning else {
        return Err("Expected `thinking` or `redacted_thinking`, but found `tool_use`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks).".into());
    };
    let text = r.get("text").and_then(Value::as_str).unwrap_or("");
    if r.get("signature").and_then(Value::as_str) != Some(&signature(text)) {
        return Err("Invalid `signature` in `thinking` block".into());
    }
    Ok(())
}

/// The signature the mock gives a reasoning text.
fn signature(text: &str) -> String {
    base64_encode(reply::thinking_signature(text).as_bytes())
}

// === planning ===

fn blocks(m: &Value) -> &[Value] {
    m.get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn texts(blocks: &[Value]) -> Vec<&str> {
    blocks
        .iter()
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect()
}

fn result_text(b: &Value) -> String {
    texts(blocks(&b["toolResult"])).join("\n")
}

fn plan_input(req: &Value) -> PlanInput {
    let messages = req["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let system = req["system"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut input_chars: usize = texts(system).iter().map(|t| t.chars().count()).sum();
    for m in messages {
        input_chars += texts(blocks(m))
            .iter()
            .map(|t| t.chars().count())
            .sum::<usize>();
        input_chars += blocks(m)
            .iter()
            .filter(|b| b.get("toolResult").is_some())
            .map(|b| result_text(b).chars().count())
            .sum::<usize>();
    }
    let is_user = |m: &&Value| m["role"] == "user";
    let last_user_text = messages
        .iter()
        .rev()
        .filter(is_user)
        .map(|m| texts(blocks(m)).join("\n"))
        .find(|t| !t.is_empty())
        .unwrap_or_default();
    let tool_results = messages
        .last()
        .filter(is_user)
        .map(|m| {
            blocks(m)
                .iter()
                .filter(|b| b.get("toolResult").is_some())
                .map(result_text)
                .collect::<Vec<_>>()
        })
        .filter(|r| !r.is_empty());
    let tc = &req["toolConfig"];
    let tools = tc["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            let spec = t.get("toolSpec")?;
            Some(ToolDef {
                name: spec.get("name")?.as_str()?.to_owned(),
                first_property: reply::first_property(spec["inputSchema"].get("json")),
            })
        })
        .collect();
    let tool_choice = match tc["toolChoice"].as_object().and_then(|o| o.iter().next()) {
        Some((k, _)) if k == "any" => ToolChoice::Required,
        Some((k, v)) if k == "tool" => {
            ToolChoice::Named(v["name"].as_str().unwrap_or("").to_owned())
        }
        _ => ToolChoice::Auto,
    };
    let ic = &req["inferenceConfig"];
    PlanInput {
        last_user_text,
        tool_results,
        tools,
        tool_choice,
        thinking: req["additionalModelRequestFields"]
            .get("thinking")
            .is_some(),
        stop: reply::stop_list(ic.get("stopSequences")),
        max_tokens: ic["maxTokens"].as_u64(),
        input_chars,
    }
}

// === rendering ===

struct Answer<'a> {
    plan: &'a Plan,
    claude: bool,
    cache: u64,
    tool_use_id: String,
}

impl Answer<'_> {
    fn stop_reason(&self) -> &'static str {
        match self.plan.finish {
            Finish::Stop => "end_turn",
            Finish::Length => "max_tokens",
            Finish::StopSequence(_) => "stop_sequence",
            Finish::ToolCalls => "tool_use",
        }
    }

    /// Claude reports the stop sequence it hit.
    fn additional(&self) -> Option<Value> {
        match &self.plan.finish {
            Finish::StopSequence(seq) if self.claude => Some(json!({ "stop_sequence": seq })),
            _ => None,
        }
    }

    fn usage(&self) -> Value {
        let p = self.plan;
        let mut u = json!({
            "inputTokens": p.input_tokens,
            "outputTokens": p.output_tokens,
            "totalTokens": p.input_tokens + self.cache + p.output_tokens,
        });
        if self.cache > 0 {
            u["cacheReadInputTokens"] = json!(self.cache);
            u["cacheWriteInputTokens"] = json!(0);
        }
        u
    }

    fn whole(&self) -> Value {
        let p = self.plan;
        let mut content = Vec::new();
        if let Some(t) = &p.thinking {
            content.push(json!({"reasoningContent": {"reasoningText": {"text": t, "signature": signature(t)}}}));
        }
        if !p.text.is_empty() {
            content.push(json!({ "text": p.text }));
        }
        if let Some(c) = &p.tool_call {
            content.push(json!({"toolUse": {"toolUseId": self.tool_use_id, "name": c.name, "input": c.arguments}}));
        }
        let mut out = json!({
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": self.stop_reason(),
            "usage": self.usage(),
            "metrics": {"latencyMs": 42},
        });
        if let Some(a) = self.additional() {
            out["additionalModelResponseFields"] = a;
        }
        out
    }

    /// The ConverseStream frames, one event each.
    fn frames(&self) -> Vec<Bytes> {
        let p = self.plan;
        let mut out = vec![event(
            "messageStart",
            &json!({"role": "assistant", "p": "abcdefghijklmnopqrstuvwxyzABCDEF"}),
        )];
        let mut index = 0;
        if let Some(t) = &p.thinking {
            for piece in word_pieces(t) {
                out.push(event("contentBlockDelta", &json!({"contentBlockIndex": index, "delta": {"reasoningContent": {"text": piece}}, "p": "abcd"})));
            }
            out.push(event("contentBlockDelta", &json!({"contentBlockIndex": index, "delta": {"reasoningContent": {"signature": signature(t)}}})));
            out.push(event(
                "contentBlockStop",
                &json!({"contentBlockIndex": index}),
            ));
            index += 1;
        }
        if !p.text.is_empty() {
            for piece in word_pieces(&p.text) {
                out.push(event(
                    "contentBlockDelta",
                    &json!({"contentBlockIndex": index, "delta": {"text": piece}, "p": "abcdefgh"}),
                ));
            }
            out.push(event(
                "contentBlockStop",
                &json!({"contentBlockIndex": index}),
            ));
            index += 1;
        }
        if let Some(c) = &p.tool_call {
            out.push(event("contentBlockStart", &json!({"contentBlockIndex": index, "start": {"toolUse": {"toolUseId": self.tool_use_id, "name": c.name}}})));
            let args = c.arguments_json();
            let mid = (1..args.len())
                .find(|i| args.is_char_boundary(*i) && *i >= args.len() / 2)
                .unwrap_or(args.len());
            for piece in [&args[..mid], &args[mid..]] {
                if !piece.is_empty() {
                    out.push(event("contentBlockDelta", &json!({"contentBlockIndex": index, "delta": {"toolUse": {"input": piece}}})));
                }
            }
            out.push(event(
                "contentBlockStop",
                &json!({"contentBlockIndex": index}),
            ));
        }
        let mut stop = json!({ "stopReason": self.stop_reason() });
        if let Some(a) = self.additional() {
            stop["additionalModelResponseFields"] = a;
        }
        out.push(event("messageStop", &stop));
        out.push(event(
            "metadata",
            &json!({"usage": self.usage(), "metrics": {"latencyMs": 42}}),
        ));
        out
    }
}

// === event-stream encoding ===

/// One AWS event-stream message: prelude (lengths and their CRC32), string headers, the
/// payload and the CRC32 of everything before it.
pub(crate) fn frame(headers: &[(&str, &str)], payload: &[u8]) -> Bytes {
    let mut h = Vec::new();
    for (name, value) in headers {
        h.push(name.len() as u8);
        h.extend_from_slice(name.as_bytes());
        h.push(7);
        h.extend_from_slice(&(value.len() as u16).to_be_bytes());
        h.extend_from_slice(value.as_bytes());
    }
    let total = 12 + h.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    let prelude = crc32fast::hash(&out);
    out.extend_from_slice(&prelude.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    Bytes::from(out)
}

fn event(kind: &str, payload: &Value) -> Bytes {
    frame(
        &[
            (":event-type", kind),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string().as_bytes(),
    )
}

fn exception_frame(kind: &str, message: &str) -> Bytes {
    frame(
        &[
            (":exception-type", kind),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        json!({ "message": message }).to_string().as_bytes(),
    )
}
