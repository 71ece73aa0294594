//! Ollama endpoints: chat, generate, embeddings, and the model-info endpoints clients such
//! as Open WebUI probe.

use super::{accept, chat, check_key, json};
use crate::error::{ErrorReply, GatewayError};
use crate::protocol::ClientProtocol;
use crate::relay;
use crate::server::AppState;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use lmrelay_protocol::ollama;

/// The Ollama version lmrelay reports; clients gate features on it.
pub const OLLAMA_COMPAT_VERSION: &str = "0.12.6";

pub async fn chat_handler(State(st): State<AppState>, req: Request) -> Response {
    chat(st, ClientProtocol::OllamaChat, req).await
}

pub async fn generate(State(st): State<AppState>, req: Request) -> Response {
    chat(st, ClientProtocol::OllamaGenerate, req).await
}

/// `POST /api/embed` and the legacy `POST /api/embeddings`.
async fn embed_common(st: AppState, req: Request, legacy: bool) -> Response {
    let protocol = ClientProtocol::Ollama;
    let mut a = match accept(&st, protocol, req).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let decoded = if legacy {
        ollama::decode_embeddings_legacy(&a.body)
    } else {
        ollama::decode_embed(&a.body)
    };
    let embed = match decoded {
        Ok(e) => e,
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
            let body = if legacy {
                ollama::encode_embeddings_legacy(&answer)
            } else {
                let elapsed = a.ex.started.elapsed().as_nanos() as u64;
                ollama::encode_embed(&answer, &embed.model, elapsed)
            };
            let mut r = json(body);
            relay::set_provider(r.headers_mut(), &provider);
            r
        }
        Err(r) => r,
    }
}

pub async fn embed(State(st): State<AppState>, req: Request) -> Response {
    embed_common(st, req, false).await
}

pub async fn embeddings(State(st): State<AppState>, req: Request) -> Response {
    embed_common(st, req, true).await
}

pub async fn tags(State(st): State<AppState>, headers: HeaderMap) -> Response {
    match check_key(&st, ClientProtocol::Ollama, &headers) {
        Ok(caller) => json(ollama::encode_tags(&caller.models())),
        Err(r) => r,
    }
}

pub async fn ps(State(st): State<AppState>, headers: HeaderMap) -> Response {
    match check_key(&st, ClientProtocol::Ollama, &headers) {
        // lmrelay loads nothing into memory; nothing is "running".
        Ok(_) => json(ollama::encode_ps(&[])),
        Err(r) => r,
    }
}

pub async fn show(State(st): State<AppState>, req: Request) -> Response {
    let protocol = ClientProtocol::Ollama;
    let a = match accept(&st, protocol, req).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let model = match ollama::decode_show(&a.body) {
        Ok(m) => m,
        Err(e) => return ErrorReply::new(protocol, GatewayError::BadRequest(e)).into_response(),
    };
    if let Err(e) = crate::auth::authorize_model(a.ex.key.as_deref(), &model) {
        return ErrorReply::new(protocol, e).into_response();
    }
    match super::openai::model_info(&a.rt, &model) {
        Some(m) => json(ollama::encode_show(&m)),
        None => ErrorReply::new(
            protocol,
            GatewayError::NoRoute(format!("model '{model}' not found")),
        )
        .into_response(),
    }
}

pub async fn version() -> Response {
    json(ollama::encode_version(OLLAMA_COMPAT_VERSION))
}

/// `GET /` and `HEAD /`: Ollama clients' health probe.
pub async fn root() -> Response {
    (
        [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "Ollama is running",
    )
        .into_response()
}

/// Model management (`pull`, `push`, `create`, `copy`, `delete`, blobs): not a gateway's job.
pub async fn not_managed() -> Response {
    let err = lmrelay_ir::ApiError::new(
        lmrelay_ir::ErrorKind::NotImplemented,
        "lmrelay is a gateway and does not manage models; pull or create models on the upstream Ollama server.",
    );
    crate::error::render(ClientProtocol::Ollama, &err)
}
