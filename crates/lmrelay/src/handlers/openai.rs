//! OpenAI endpoints: chat, legacy completions, embeddings, models.

use super::{accept, chat, check_key, json};
use crate::error::{ErrorReply, GatewayError};
use crate::protocol::ClientProtocol;
use crate::relay;
use crate::server::AppState;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use lmrelay_protocol::openai;

pub async fn chat_completions(State(st): State<AppState>, req: Request) -> Response {
    chat(st, ClientProtocol::OpenAiChat, req).await
}

/// `POST /v1/responses`: the Responses API over the same chat path.
pub async fn responses(State(st): State<AppState>, req: Request) -> Response {
    chat(st, ClientProtocol::OpenAiResponses, req).await
}

/// `GET /v1/responses/{id}`: a kept response (`[responses] store = true`), else 404.
pub async fn get_response(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    kept_response(st, id, headers, false).await
}

/// `DELETE /v1/responses/{id}`: forgets a kept response.
pub async fn delete_response(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    kept_response(st, id, headers, true).await
}

async fn kept_response(st: AppState, id: String, headers: HeaderMap, delete: bool) -> Response {
    let protocol = ClientProtocol::OpenAiResponses;
    let caller = match check_key(&st, protocol, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let scope = caller.key.as_ref().map_or("-", |k| k.name.as_str());
    let live = &caller.rt.live;
    let found = if !caller.rt.config.responses.store {
        Ok(None)
    } else if delete {
        crate::kept_responses::delete(live, scope, &id)
            .await
            .map(|gone| gone.then(|| lmrelay_protocol::responses::history::deleted(&id)))
    } else {
        crate::kept_responses::get(live, scope, &id).await
    };
    match found {
        Ok(Some(body)) => json(body),
        Ok(None) => {
            let err = lmrelay_ir::ApiError::new(
                lmrelay_ir::ErrorKind::NotFound,
                format!("No response with id '{id}' is kept here."),
            )
            .with_code("response_not_found");
            ErrorReply::new(protocol, GatewayError::BadRequest(err)).into_response()
        }
        Err(e) => ErrorReply::new(protocol, GatewayError::BadRequest(e)).into_response(),
    }
}

pub async fn completions(State(st): State<AppState>, req: Request) -> Response {
    chat(st, ClientProtocol::OpenAiCompletion, req).await
}

pub async fn embeddings(State(st): State<AppState>, req: Request) -> Response {
    let protocol = ClientProtocol::OpenAi;
    let mut a = match accept(&st, protocol, req).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (embed, base64) = match openai::decode_embed_request(&a.body) {
        Ok(v) => v,
        Err(e) => return ErrorReply::new(protocol, GatewayError::BadRequest(e)).into_response(),
    };
    if let Err(e) = crate::auth::authorize_model(a.ex.key.as_deref(), &embed.model) {
        return ErrorReply::new(protocol, e).into_response();
    }
    // About four bytes a token: what the limits count before the answer says.
    let estimate = (a.body.len() / 4) as u64;
    if let Err(r) = super::admit(&mut a, protocol, estimate).await {
        return r;
    }
    match relay::embed(a.rt, &a.ex, &embed).await {
        Ok((answer, provider)) => {
            let mut r = json(openai::encode_embed_response(&answer, &embed.model, base64));
            relay::set_provider(r.headers_mut(), &provider);
            r
        }
        Err(r) => r,
    }
}

/// `GET /v1/models`; Anthropic clients (which send `anthropic-version`) get their shape.
pub async fn list_models(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if headers.contains_key("anthropic-version") {
        return super::anthropic::list_models(State(st), headers).await;
    }
    match check_key(&st, ClientProtocol::OpenAi, &headers) {
        Ok(caller) => json(openai::encode_models(&caller.models())),
        Err(r) => r,
    }
}

/// `GET /v1/models/{id}` (ids may contain `/`).
pub async fn get_model(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if headers.contains_key("anthropic-version") {
        return super::anthropic::get_model(State(st), Path(id), headers).await;
    }
    let protocol = ClientProtocol::OpenAi;
    match check_key(&st, protocol, &headers).and_then(|c| c.model(protocol, id)) {
        Ok(m) => json(openai::encode_model(&m)),
        Err(r) => r,
    }
}

/// The listing entry of a model name that resolves, if it does.
pub(crate) fn model_info(rt: &crate::Runtime, id: &str) -> Option<lmrelay_ir::ModelInfo> {
    let first = rt.resolve(id).into_iter().next()?;
    let owned_by = if rt.config.routes.iter().any(|r| r.model == id) {
        "lmrelay".to_owned()
    } else {
        rt.providers[first.provider].config.name.clone()
    };
    Some(lmrelay_ir::ModelInfo {
        id: id.to_owned(),
        owned_by,
        created_secs: rt.created_secs,
    })
}
