//! HTTP handlers, thin by design: accept (request id, body limit, gateway key), decode with
//! the client protocol's codec, hand over to [`crate::relay`], encode.

pub mod anthropic;
pub mod ollama;
pub mod openai;
pub mod service;

use crate::auth;
use crate::config::KeyConfig;
use crate::error::{ErrorReply, GatewayError};
use crate::protocol::ClientProtocol;
use crate::relay::{self, Exchange};
use crate::runtime::Runtime;
use crate::server::{AppState, RequestId};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::sync::Arc;
use std::time::Instant;

/// A request past the edge checks.
pub(crate) struct Accepted {
    pub rt: Arc<Runtime>,
    pub ex: Exchange,
    pub body: Bytes,
    pub key: Option<KeyConfig>,
}

/// Runs the edge checks every API request goes through: gateway key, then the body limit.
pub(crate) async fn accept(
    st: &AppState,
    protocol: ClientProtocol,
    req: Request,
) -> Result<Accepted, Response> {
    let started = Instant::now();
    let rt = st.runtime.load_full();
    let (parts, body) = req.into_parts();
    let fail = |e: GatewayError| ErrorReply::new(protocol, e).into_response();
    let key = auth::authenticate(&rt.config, &parts.headers)
        .map_err(fail)?
        .cloned();
    let limit = rt.config.max_body;
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(fail(GatewayError::BodyTooLarge { limit }));
    }
    let body = match Limited::new(body, limit).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(fail(GatewayError::BodyTooLarge { limit }))
        }
        Err(_) => {
            return Err(fail(GatewayError::BadRequest(
                lmrelay_ir::ApiError::invalid("The request body could not be read."),
            )))
        }
    };
    let request_id = parts
        .extensions
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    Ok(Accepted {
        rt,
        ex: Exchange {
            protocol,
            request_id,
            started,
            started_ms: crate::now_ms(),
            headers: parts.headers,
        },
        body,
        key,
    })
}

/// The one chat path: accept, decode, check the allowlist, relay.
pub(crate) async fn chat(st: AppState, protocol: ClientProtocol, req: Request) -> Response {
    let a = match accept(&st, protocol, req).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let chat = match protocol.decode(&a.body) {
        Ok(c) => c,
        Err(e) => return ErrorReply::new(protocol, GatewayError::BadRequest(e)).into_response(),
    };
    if let Err(e) = auth::authorize_model(a.key.as_ref(), &chat.model) {
        return ErrorReply::new(protocol, e).into_response();
    }
    relay::chat(a.rt, a.ex, chat).await
}

/// Checks the key of a request that has no body worth reading (listings).
pub(crate) fn check_key(
    st: &AppState,
    protocol: ClientProtocol,
    headers: &http::HeaderMap,
) -> Result<Arc<Runtime>, Response> {
    let rt = st.runtime.load_full();
    auth::authenticate(&rt.config, headers)
        .map_err(|e| ErrorReply::new(protocol, e).into_response())?;
    Ok(rt)
}

/// A JSON response.
pub(crate) fn json(body: Vec<u8>) -> Response {
    ([(http::header::CONTENT_TYPE, "application/json")], body).into_response()
}
