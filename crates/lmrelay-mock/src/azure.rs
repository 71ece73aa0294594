//! Azure OpenAI flavor: the OpenAI flavor's answers behind Azure's URLs and auth.
//!
//! - `POST /openai/deployments/{deployment}/chat/completions?api-version=…` and
//!   `…/embeddings`: the deployment (one of the server's models) picks the model, the body's
//!   `model` is ignored; a missing `api-version` is a 404, a malformed one a 400.
//! - `POST /openai/v1/chat/completions`, `/openai/v1/embeddings`: the body's `model` is the
//!   deployment; no `api-version` needed.
//! - `GET /openai/models?api-version=…`, `GET /openai/v1/models`.
//! - Auth: `api-key: <key>` or `Authorization: Bearer <token>`, checked like other flavors.
//! - Answers carry `prompt_filter_results` and per-choice `content_filter_results`; a stream
//!   begins with Azure's chunk with empty `choices`, `id: ""` and `model: ""`.
//! - Faults: scripted failures come in Azure's error shapes; error type `content_filter`
//!   with status 400 is a filtered prompt (`code: content_filter`), with status 200 an answer
//!   cut by the output filter (`finish_reason: content_filter`).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::faults::FailNext;
use crate::openai;
use crate::server::{json_response, parse_json, set_default_header, set_header, KeyCheck, Shared};
use crate::stream;
use crate::util::{new_hex_id, new_id, unix_now};

type S = State<Arc<Shared>>;

pub(crate) fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/openai/deployments/{deployment}/chat/completions",
            post(deployment_chat),
        )
        .route(
            "/openai/deployments/{deployment}/embeddings",
            post(deployment_embeddings),
        )
        .route("/openai/models", get(models))
        .route("/openai/v1/chat/completions", post(v1_chat))
        .route("/openai/v1/embeddings", post(v1_embeddings))
        .route("/openai/v1/models", get(models))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared, edge))
}

// === errors ===

/// Azure's common error shape: `{"error":{"code","message"}}`.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "404", "Resource not found")
}

fn deployment_not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "DeploymentNotFound",
        "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.",
    )
}

fn content_filter_results() -> Value {
    let safe = json!({"filtered": false, "severity": "safe"});
    json!({"hate": safe, "self_harm": safe, "sexual": safe, "violence": safe})
}

fn prompt_filter_results() -> Value {
    json!([{"prompt_index": 0, "content_filter_results": content_filter_results()}])
}

/// The scripted failure `f` as Azure sends it.
fn fault_response(f: &FailNext) -> Response {
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let retry = f.retry_after.unwrap_or(1);
    let mut resp = match (f.status, f.error_type.as_deref()) {
        (400, Some("content_filter")) => json_response(
            status,
            &json!({"error": {
                "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
                "type": null, "param": "prompt", "code": "content_filter", "status": 400,
                "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {
                    "hate": {"filtered": true, "severity": "high"},
                    "self_harm": {"filtered": false, "severity": "safe"},
                    "sexual": {"filtered": false, "severity": "safe"},
                    "violence": {"filtered": false, "severity": "safe"}}}}}),
        ),
        (429, _) => error(
            status,
            "429",
            &format!("Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after {retry} second. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit."),
        ),
        (401, _) => error(status, "401", "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."),
        (403, _) => error(status, "403", "Public access is disabled. Please configure private endpoint."),
        (404, _) => deployment_not_found(),
        (400, _) => error(status, "BadRequest", "mock: injected bad request"),
        (503, _) => error(status, "ServiceUnavailable", "The service is temporarily unable to process your request. Please try again later."),
        (s, _) if s >= 500 => error(status, "InternalServerError", "The server had an error while processing your request. Sorry about that!"),
        (_, _) => error(status, "BadRequest", "mock: injected error"),
    };
    if f.status == 429 {
        set_header(&mut resp, "retry-after", &retry.to_string());
        set_header(&mut resp, "retry-after-ms", &(retry * 1000).to_string());
        set_header(&mut resp, "x-ratelimit-remaining-requests", "0");
    } else if let Some(secs) = f.retry_after {
        set_header(&mut resp, "retry-after", &secs.to_string());
    }
    resp
}

// === edge: auth, api-version and headers ===

/// Whether `v` looks like a dated api-version (`2024-10-21`, `2025-04-01-preview`).
fn dated_api_version(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 10
        && b[..10].iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
        && matches!(&v[10..], "" | "-preview")
}

fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

async fn edge(State(s): S, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let key = headers
        .get("api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::to_string)
        });
    let classic = !req.uri().path().starts_with("/openai/v1/");
    let api_version = query_param(req.uri().query(), "api-version").map(str::to_string);
    let allowance = key
        .as_deref()
        .filter(|_| req.method() == Method::POST)
        .and_then(|k| s.faults.count_key_request(k));
    let mut resp = match s.check_key(key.as_deref()) {
        KeyCheck::Missing => error(
            StatusCode::UNAUTHORIZED,
            "401",
            "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.",
        ),
        KeyCheck::Wrong => error(
            StatusCode::UNAUTHORIZED,
            "401",
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
        ),
        KeyCheck::Ok if classic && api_version.is_none() => {
            error(StatusCode::NOT_FOUND, "404", "Resource not found")
        }
        KeyCheck::Ok
            if classic && !api_version.as_deref().is_some_and(dated_api_version) =>
        {
            error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "API version not supported",
            )
        }
        KeyCheck::Ok if allowance.is_some_and(|a| !a.allowed) => {
            let mut r = fault_response(&FailNext {
                status: 429,
                count: 1,
                retry_after: Some(1),
                error_type: None,
            });
            set_header(&mut r, "x-ratelimit-reset-requests", "1s");
            r
        }
        KeyCheck::Ok => next.run(req).await,
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
    }
    set_default_header(&mut resp, "apim-request-id", &new_hex_id("", 32));
    set_default_header(&mut resp, "x-request-id", &new_hex_id("", 32));
    set_default_header(&mut resp, "x-ms-region", "Sweden Central");
    set_default_header(&mut resp, "x-ratelimit-remaining-requests", "999");
    set_default_header(&mut resp, "x-ratelimit-remaining-tokens", "999000");
    resp
}

// === chat ===

async fn deployment_chat(State(s): S, Path(deployment): Path<String>, body: Bytes) -> Response {
    chat(&s, Some(deployment), body).await
}

async fn v1_chat(State(s): S, body: Bytes) -> Response {
    chat(&s, None, body).await
}

/// The body with `model` set to the deployment, and the deployment; `Err` is the answer.
fn with_deployment(
    s: &Shared,
    deployment: Option<String>,
    body: &[u8],
) -> Result<(Value, String), Response> {
    let Ok(mut req) = parse_json(body) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "We could not parse the JSON body of your request.",
        ));
    };
    let deployment = match deployment {
        Some(d) => d,
        None => match req.get("model").and_then(Value::as_str) {
            Some(m) if !m.is_empty() => m.to_string(),
            _ => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "Missing required parameter: 'model'.",
                ))
            }
        },
    };
    if !s.knows_model(&deployment) {
        return Err(deployment_not_found());
    }
    if let Some(obj) = req.as_object_mut() {
        obj.insert("model".into(), json!(deployment));
    }
    Ok((req, deployment))
}

async fn chat(s: &Shared, deployment: Option<String>, body: Bytes) -> Response {
    let failure = s.gate().await;
    let (req, deployment) = match with_deployment(s, deployment, &body) {
        Ok(r) => r,
        Err(resp) => return failure.map_or(resp, |f| fault_response(&f)),
    };
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    match failure {
        Some(f) if f.status == 200 && f.error_type.as_deref() == Some("content_filter") => {
            return filtered_answer(s, &deployment, stream)
        }
        Some(f) => return fault_response(&f),
        None => {}
    }
    let resp = openai::answer_chat(s, Bytes::from(req.to_string())).await;
    if resp.status() != StatusCode::OK {
        return resp;
    }
    if stream {
        prepend_filter_chunk(resp)
    } else {
        annotate(resp).await
    }
}

/// Adds Azure's filter annotations to a non-streamed answer.
async fn annotate(resp: Response) -> Response {
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "mock: body",
        );
    };
    let Ok(mut v) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    v["prompt_filter_results"] = prompt_filter_results();
    if let Some(choices) = v.get_mut("choices").and_then(Value::as_array_mut) {
        for c in choices {
            c["content_filter_results"] = content_filter_results();
        }
    }
    let mut resp = json_response(StatusCode::OK, &v);
    for (k, val) in &parts.headers {
        if !resp.headers().contains_key(k) {
            resp.headers_mut().insert(k.clone(), val.clone());
        }
    }
    resp
}

/// The chunk Azure streams first: no choices, only the prompt's filter results.
fn filter_chunk() -> Bytes {
    stream::sse_data(&json!({
        "choices": [], "created": 0, "id": "", "model": "", "object": "",
        "prompt_filter_results": prompt_filter_results(),
    }))
}

fn prepend_filter_chunk(resp: Response) -> Response {
    let (parts, body) = resp.into_parts();
    let first = futures_util::stream::once(async { Ok::<Bytes, axum::Error>(filter_chunk()) });
    let body = Body::from_stream(first.chain(body.into_data_stream()));
    Response::from_parts(parts, body)
}

/// An answer the output filter stopped: no content, `finish_reason: content_filter`.
fn filtered_answer(s: &Shared, deployment: &str, streamed: bool) -> Response {
    let id = new_id("chatcmpl-", 29);
    let created = unix_now();
    let filtered = json!({"hate": {"filtered": true, "severity": "high"},
                          "self_harm": {"filtered": false, "severity": "safe"},
                          "sexual": {"filtered": false, "severity": "safe"},
                          "violence": {"filtered": false, "severity": "safe"}});
    if !streamed {
        return json_response(
            StatusCode::OK,
            &json!({
                "id": id, "object": "chat.completion", "created": created, "model": deployment,
                "prompt_filter_results": prompt_filter_results(),
                "choices": [{"index": 0, "finish_reason": "content_filter",
                             "message": {"role": "assistant", "content": null},
                             "content_filter_results": filtered}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 0, "total_tokens": 5},
            }),
        );
    }
    let chunk = |choices: Value| {
        stream::sse_data(&json!({"id": id, "object": "chat.completion.chunk",
                                 "created": created, "model": deployment, "choices": choices}))
    };
    let events = vec![
        filter_chunk(),
        chunk(
            json!([{"index": 0, "delta": {"role": "assistant", "content": ""},
                      "finish_reason": null, "content_filter_results": {}}]),
        ),
        chunk(
            json!([{"index": 0, "delta": {}, "finish_reason": "content_filter",
                      "content_filter_results": filtered}]),
        ),
        Bytes::from_static(b"data: [DONE]\n\n"),
    ];
    stream::response(
        "text/event-stream; charset=utf-8",
        events,
        Bytes::from_static(
            b"data: {\"error\":{\"code\":\"InternalServerError\",\"message\":\"mock\"}}\n\n",
        ),
        &s.faults.get(),
    )
}

// === embeddings and models ===

async fn deployment_embeddings(
    State(s): S,
    Path(deployment): Path<String>,
    body: Bytes,
) -> Response {
    embeddings(&s, Some(deployment), body).await
}

async fn v1_embeddings(State(s): S, body: Bytes) -> Response {
    embeddings(&s, None, body).await
}

async fn embeddings(s: &Shared, deployment: Option<String>, body: Bytes) -> Response {
    if let Some(f) = s.gate().await {
        return fault_response(&f);
    }
    match with_deployment(s, deployment, &body) {
        Ok((req, _)) => openai::answer_embeddings(s, Bytes::from(req.to_string())),
        Err(resp) => resp,
    }
}

async fn models(State(s): S) -> Response {
    let data: Vec<Value> = s
        .listed_models()
        .map(|m| {
            json!({"id": m, "object": "model", "created": 1_715_367_049u64,
                   "status": "succeeded", "lifecycle_status": "generally-available",
                   "capabilities": {"chat_completion": true, "embeddings": m.contains("embedding")}})
        })
        .collect();
    json_response(StatusCode::OK, &json!({"object": "list", "data": data}))
}

#[cfg(test)]
mod tests {
    use super::dated_api_version;

    #[test]
    fn api_versions() {
        assert!(dated_api_version("2024-10-21"));
        assert!(dated_api_version("2025-04-01-preview"));
        assert!(!dated_api_version("v1"));
        assert!(!dated_api_version("2024-10"));
        assert!(!dated_api_version("2024-10-21-beta"));
    }
}
