//! Anthropic endpoints: messages, count_tokens, models (also under `/anthropic`).

use super::{accept, chat, check_key, json};
use crate::error::{ErrorReply, GatewayError};
use crate::protocol::ClientProtocol;
use crate::relay;
use crate::server::AppState;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use lmrelay_protocol::anthropic;

pub async fn messages(State(st): State<AppState>, req: Request) -> Response {
    chat(st, ClientProtocol::Anthropic, req).await
}

/// `POST /v1/messages/count_tokens`: the upstream's count when it is Anthropic, otherwise
/// an estimate (Claude Code calls this and must not get a 404).
pub async fn count_tokens(State(st): State<AppState>, req: Request) -> Response {
    let protocol = ClientProtocol::Anthropic;
    let a = match accept(&st, protocol, req).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let chat = match anthropic::decode_count_tokens(&a.body) {
        Ok(c) => c,
        Err(e) => return ErrorReply::new(protocol, GatewayError::BadRequest(e)).into_response(),
    };
    if let Err(e) = crate::auth::authorize_model(a.ex.key.as_deref(), &chat.model) {
        return ErrorReply::new(protocol, e).into_response();
    }
    match relay::count_tokens(a.rt, &a.ex, &chat).await {
        Ok((n, provider)) => {
            let mut r = json(anthropic::encode_count_tokens(n));
            if let Some(p) = provider {
                relay::set_provider(r.headers_mut(), &p);
            }
            r
        }
        Err(r) => r,
    }
}

pub async fn list_models(State(st): State<AppState>, headers: HeaderMap) -> Response {
    match check_key(&st, ClientProtocol::Anthropic, &headers) {
        Ok(caller) => json(anthropic::encode_models(&caller.models())),
        Err(r) => r,
    }
}

pub async fn get_model(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let protocol = ClientProtocol::Anthropic;
    match check_key(&st, protocol, &headers).and_then(|c| c.model(protocol, id)) {
        Ok(m) => json(anthropic::encode_model(&m)),
        Err(r) => r,
    }
}
