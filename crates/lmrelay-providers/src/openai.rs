//! The `openai` provider type, and OpenAI-compatible presets as data over it: a preset's
//! flags (see [`crate::Preset`]) adjust the encoded body and headers here, with no code
//! path keyed on a vendor's name.

use crate::adapter::{
    bearer, get, join, options, post_json, Adapter, Dialect, Target, UpstreamRequest,
};
use crate::classify::{classify, UpstreamError};
use http::HeaderMap;
use lmrelay_ir::{ApiError, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse};
use lmrelay_protocol::{openai, StreamDecoder};

/// OpenAI Chat Completions upstreams.
pub struct OpenAiAdapter;

impl Adapter for OpenAiAdapter {
    fn dialect(&self) -> Dialect {
        Dialect::OpenAi
    }

    fn chat_request(
        &self,
        req: &ChatRequest,
        target: &Target<'_>,
    ) -> Result<UpstreamRequest, ApiError> {
        let mut body = openai::encode_request(req, &options(target))?;
        if let Some(p) = target.preset {
            body = apply_preset(p, body)?;
        }
        chat_post(body, target)
    }

    /// Only without a preset: a vendor's body quirks are rewrites.
    fn passthrough_request(
        &self,
        body: bytes::Bytes,
        target: &Target<'_>,
    ) -> Option<Result<UpstreamRequest, ApiError>> {
        target.preset.is_none().then(|| chat_post(body, target))
    }

    fn chat_response(&self, body: &[u8]) -> Result<ChatResponse, ApiError> {
        openai::decode_response(body)
    }

    fn passes_answers_through(&self) -> bool {
        true
    }

    fn answer_summary(
        &self,
        body: &[u8],
    ) -> Option<Result<lmrelay_protocol::AnswerSummary, ApiError>> {
        Some(openai::answer_summary(body))
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(openai::StreamReader::new())
    }

    /// Non-reasoning models refuse `reasoning_effort`; some compatible servers refuse `top_k`.
    fn relax(&self, req: &mut ChatRequest, error: &ApiError) -> bool {
        if error.status != 400 {
            return false;
        }
        let names =
            |field: &str| error.param.as_deref() == Some(field) || error.message.contains(field);
        if names("reasoning_effort") && req.reasoning.is_some() {
            req.reasoning = None;
            return true;
        }
        if names("top_k") && req.sampling.top_k.is_some() {
            req.sampling.top_k = None;
            return true;
        }
        false
    }

    fn models_from(&self, body: &[u8]) -> Option<Vec<String>> {
        crate::adapter::list_ids(body, "data", &["id"])
    }

    fn health_request(&self, target: &Target<'_>) -> Option<Result<UpstreamRequest, ApiError>> {
        Some(get(join(target.base_url, "models"), &bearer(target)))
    }

    fn error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> UpstreamError {
        classify(status, headers, openai::decode_error(status, body))
    }

    fn embed_request(
        &self,
        req: &EmbedRequest,
        target: &Target<'_>,
    ) -> Result<UpstreamRequest, ApiError> {
        let body = openai::encode_embed_request(req, target.model);
        let mut request = post_json(join(target.base_url, "embeddings"), &bearer(target), body)?;
        add_headers(&mut request, target)?;
        Ok(request)
    }

    fn embed_response(&self, body: &[u8]) -> Result<EmbedResponse, ApiError> {
        openai::decode_embed_response(body)
    }
}

/// `POST {base}/chat/completions` with the key and the configured headers.
fn chat_post(
    body: impl Into<bytes::Bytes>,
    target: &Target<'_>,
) -> Result<UpstreamRequest, ApiError> {
    let mut request = post_json(
        join(target.base_url, "chat/completions"),
        &bearer(target),
        body,
    )?;
    add_headers(&mut request, target)?;
    Ok(request)
}

/// A preset's default headers, then the provider's configured `headers` over them.
pub(crate) fn add_headers(
    request: &mut UpstreamRequest,
    target: &Target<'_>,
) -> Result<(), ApiError> {
    let defaults = target.preset.map(|p| p.headers).unwrap_or_default();
    let configured = target.headers.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    for (name, value) in defaults.iter().copied().chain(configured) {
        let bad = |what: &str| {
            ApiError::new(
                lmrelay_ir::ErrorKind::Server,
                format!("The provider's header `{name}` has an invalid {what}."),
            )
        };
        let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad("name"))?;
        let value = http::HeaderValue::from_str(value).map_err(|_| bad("value"))?;
        request.headers_mut().insert(name, value);
    }
    Ok(())
}

/// Applies a preset's body quirks: dropped and renamed fields, `messages[].name` removed,
/// the `"required"` tool choice respelled, tool-call ids reshaped.
fn apply_preset(p: &crate::Preset, body: Vec<u8>) -> Result<Vec<u8>, ApiError> {
    let plain = p.drops.is_empty()
        && p.renames.is_empty()
        && !p.strip_message_names
        && p.required_tool_choice.is_none()
        && p.tool_call_ids == crate::ToolCallIds::Any;
    if plain {
        return Ok(body);
    }
    let mut v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            lmrelay_ir::ErrorKind::Server,
            format!("re-reading an encoded request: {e}"),
        )
    })?;
    let Some(obj) = v.as_object_mut() else {
        return Ok(body);
    };
    for field in p.drops {
        obj.remove(*field);
    }
    for (from, to) in p.renames {
        if let Some(x) = obj.remove(*from) {
            obj.insert((*to).to_owned(), x);
        }
    }
    if let Some(choice) = p.required_tool_choice {
        if obj.get("tool_choice").and_then(|c| c.as_str()) == Some("required") {
            obj.insert("tool_choice".into(), choice.into());
        }
    }
    if let Some(messages) = obj.get_mut("messages").and_then(|m| m.as_array_mut()) {
        for m in messages.iter_mut().filter_map(|m| m.as_object_mut()) {
            if p.strip_message_names {
                m.remove("name");
            }
            reshape_ids(p.tool_call_ids, m);
        }
    }
    Ok(serde_json::to_vec(&v).unwrap_or(body))
}

/// Rewrites a message's tool-call ids (on calls and on a tool result) to the vendor's shape.
fn reshape_ids(shape: crate::ToolCallIds, m: &mut serde_json::Map<String, serde_json::Value>) {
    if shape == crate::ToolCallIds::Any {
        return;
    }
    let fix = |id: &mut serde_json::Value| {
        if let Some(s) = id.as_str() {
            *id = crate::tool_call_id(shape, s).into_owned().into();
        }
    };
    if let Some(id) = m.get_mut("tool_call_id") {
        fix(id);
    }
    if let Some(calls) = m.get_mut("tool_calls").and_then(|c| c.as_array_mut()) {
        for id in calls.iter_mut().filter_map(|c| c.get_mut("id")) {
            fix(id);
        }
    }
}
