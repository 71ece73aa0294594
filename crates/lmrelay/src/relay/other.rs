//! The other endpoints that reach upstreams: embeddings, and token counting (with the
//! estimate used when the upstream cannot count).

use super::failures::Failures;
use super::Exchange;
use crate::error::{ErrorReply, GatewayError};
use crate::runtime::Runtime;
use crate::upstream::{self, transport_error};
use axum::response::{IntoResponse, Response};
use lmrelay_ir::{ChatRequest, EmbedRequest, EmbedResponse};
use lmrelay_providers::UpstreamError;
use std::sync::Arc;

/// Serves an embeddings request from the first candidate that can embed.
pub async fn embed(
    rt: Arc<Runtime>,
    ex: &Exchange,
    req: &EmbedRequest,
) -> Result<(EmbedResponse, String), Response> {
    let plan = plan_for(&rt, ex, &req.model, 0)?;
    let mut failures = Failures::default();
    for (c, _) in &plan.candidates {
        let provider = &rt.providers[c.provider];
        let key = match provider.next_key() {
            Ok(k) => k,
            Err(choice) => {
                failures.record(provider, super::no_usable_key(provider, &choice));
                continue;
            }
        };
        let target = provider.target(
            &c.model,
            key.as_ref().map(|k| &k.secret),
            ex.protocol.dialect(),
            &ex.headers,
        );
        let http_req = match provider.adapter.embed_request(req, &target) {
            Ok(r) => r,
            Err(e) => {
                failures.record_local(provider, e);
                continue;
            }
        };
        let timeout = provider.config.timeouts.total;
        let result = match upstream::send(&provider.client, http_req, timeout).await {
            Ok(resp) if resp.status().is_success() => {
                match upstream::read_body(resp, timeout).await {
                    Ok(body) => provider
                        .adapter
                        .embed_response(&body)
                        .map_err(UpstreamError::unreadable),
                    Err(e) => Err(transport_error(&e)),
                }
            }
            Ok(resp) => {
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let body = upstream::read_error_body(resp, timeout).await;
                Err(provider.adapter.error(status, &headers, &body))
            }
            Err(e) => Err(transport_error(&e)),
        };
        match result {
            Ok(answer) => {
                provider.health.record_success(&c.stats, None, None);
                let mut outcome = super::pending_outcome(&rt, ex, provider, c);
                // Providers that do not count embedding tokens are charged the estimate.
                outcome.usage.input = match answer.input_tokens {
                    0 => ex.estimated_tokens,
                    n => n,
                };
                outcome.finish(&rt.live);
                return Ok((answer, provider.config.name.clone()));
            }
            Err(err) => {
                provider.health.record_failure(
                    &rt.config.health,
                    &c.stats,
                    err.kind,
                    crate::now_ms(),
                );
                failures.record(provider, err);
            }
        }
    }
    Err(failures.into_response(ex.protocol))
}

/// Counts a request's input tokens: asks the first candidate when its type can count,
/// otherwise estimates (about four characters a token). Also returns the provider that
/// counted, or `None` for an estimate.
pub async fn count_tokens(
    rt: Arc<Runtime>,
    ex: &Exchange,
    req: &ChatRequest,
) -> Result<(u64, Option<String>), Response> {
    let plan = plan_for(&rt, ex, &req.model, estimate_tokens(req))?;
    let Some((c, _)) = plan.candidates.first() else {
        return Err(
            ErrorReply::new(ex.protocol, GatewayError::UnknownModel(req.model.clone()))
                .into_response(),
        );
    };
    let provider = &rt.providers[c.provider];
    let Ok(key) = provider.next_key() else {
        // No usable key to count with: estimate.
        return Ok((estimate_tokens(req), None));
    };
    let target = provider.target(
        &c.model,
        key.as_ref().map(|k| &k.secret),
        ex.protocol.dialect(),
        &ex.headers,
    );
    if let Some(Ok(http_req)) = provider.adapter.count_tokens_request(req, &target) {
        let timeout = provider.config.timeouts.total;
        if let Ok(resp) = upstream::send(&provider.client, http_req, timeout).await {
            if resp.status().is_success() {
                if let Ok(body) = upstream::read_body(resp, timeout).await {
                    if let Ok(n) = provider.adapter.count_tokens_response(&body) {
                        return Ok((n, Some(provider.config.name.clone())));
                    }
                }
            }
        }
    }
    Ok((estimate_tokens(req), None))
}

/// The routing plan for a request that is not a chat (rules, residency and health apply
/// as they do to chats: an EU-only key's embeddings stay in the EU too).
fn plan_for(
    rt: &Runtime,
    ex: &Exchange,
    model: &str,
    estimated_tokens: u64,
) -> Result<crate::routing::Plan, Response> {
    let facts = crate::routing::RequestFacts {
        model,
        key: ex.key.as_deref(),
        protocol: ex.protocol.family(),
        headers: &ex.headers,
        estimated_tokens,
        max_output_tokens: None,
        stream: false,
    };
    crate::routing::plan(rt, &facts).map_err(|e| ErrorReply::new(ex.protocol, e).into_response())
}

/// A rough token estimate: characters of text, tool calls and tool schemas, over four.
pub fn estimate_tokens(req: &ChatRequest) -> u64 {
    use lmrelay_ir::ContentPart;
    fn chars(parts: &[ContentPart]) -> usize {
        parts
            .iter()
            .map(|p| match p {
                ContentPart::Text { text, .. } | ContentPart::Reasoning { text, .. } => text.len(),
                ContentPart::ToolCall {
                    name, arguments, ..
                } => name.len() + arguments.len(),
                ContentPart::ToolResult { content, .. } => chars(content),
                ContentPart::Image { .. } => 1600 * 4,
                _ => 0,
            })
            .sum()
    }
    let mut n: usize = req.messages.iter().map(|m| chars(&m.content) + 16).sum();
    for t in &req.tools {
        n += t.name.len() + t.description.as_ref().map_or(0, String::len);
        n += t.parameters.as_ref().map_or(0, |p| p.to_string().len());
    }
    (n as u64).div_ceil(4).max(1)
}
