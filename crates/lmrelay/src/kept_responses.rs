//! Kept Responses API answers, when `[responses] store = true`: a request that does not say
//! `store: false` has its answer kept in the state store for `[responses] ttl`, so a later
//! request can continue it (`previous_response_id`) and `GET /v1/responses/{id}` can read it.
//!
//! Records are scoped to the gateway key (one team never reads another's), keyed
//! `responses:{key name}:{response id}`. The record is taken from the bytes the client gets —
//! the whole body, or the terminal event of a stream — so its id is the one the client sees;
//! the stream itself is passed through untouched, frame by frame. The write starts as the
//! last bytes pass, before the client has them, so a client continuing at once finds the
//! record. Failed, cut or cancelled answers are not kept. The wire work (splicing history, the record's shape) is
//! `lmrelay_protocol::responses::history`.

use crate::live::Live;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures_util::Stream;
use lmrelay_ir::{ApiError, ErrorKind};
use lmrelay_protocol::responses::history::{self, FinalResponse};
use serde_json::Value;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// The largest whole (non-streamed) answer kept.
const MAX_BODY: usize = 8 << 20;

/// A request whose answer is to be kept, once it has been sent.
pub struct Keep {
    live: Arc<Live>,
    scope: String,
    input: Vec<Value>,
    ttl: Duration,
}

/// The store key of a kept response.
fn record_key(scope: &str, id: &str) -> String {
    format!("responses:{scope}:{id}")
}

fn store_failed(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorKind::Unavailable,
        format!("Kept responses are unavailable: the state store failed ({e})."),
    )
}

/// Before decoding a `POST /v1/responses` body: splices in the conversation its
/// `previous_response_id` names (404 when none is kept for this key), and says whether its
/// answer is to be kept. Returns the body to decode.
pub async fn prepare(
    live: &Arc<Live>,
    ttl: Duration,
    scope: &str,
    body: Bytes,
) -> Result<(Bytes, Option<Keep>), ApiError> {
    let c = history::continuation(&body)?;
    let body = match &c.previous_response_id {
        None => body,
        Some(id) => {
            let record = live
                .store
                .get(&record_key(scope, id))
                .await
                .map_err(store_failed)?
                .ok_or_else(|| history::not_found(id))?;
            Bytes::from(history::continue_from(&body, &record)?)
        }
    };
    let keep = if c.store {
        Some(Keep {
            live: live.clone(),
            scope: scope.to_owned(),
            input: history::input_items(&body)?,
            ttl,
        })
    } else {
        None
    };
    Ok((body, keep))
}

/// A kept response object (`GET /v1/responses/{id}`); `None` when none is kept.
pub async fn get(live: &Live, scope: &str, id: &str) -> Result<Option<Vec<u8>>, ApiError> {
    let record = live
        .store
        .get(&record_key(scope, id))
        .await
        .map_err(store_failed)?;
    Ok(record.and_then(|r| history::kept_response(&r)))
}

/// Forgets a kept response (`DELETE /v1/responses/{id}`); whether there was one.
pub async fn delete(live: &Live, scope: &str, id: &str) -> Result<bool, ApiError> {
    live.store
        .delete(&record_key(scope, id))
        .await
        .map_err(store_failed)
}

// === impl Keep ===

impl Keep {
    /// Passes `response` through, keeping its answer once the client has all of it (a
    /// successful answer only).
    pub fn watch(self, response: Response) -> Response {
        if response.status() != http::StatusCode::OK {
            return response;
        }
        let streamed = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream"));
        let (parts, body) = response.into_parts();
        let length = axum::body::HttpBody::size_hint(&body).exact();
        let watched = Watch {
            inner: body.into_data_stream(),
            keep: Some(self),
            streamed,
            length,
            stream: FinalResponse::default(),
            whole: Vec::new(),
            saving: None,
        };
        Response::from_parts(parts, Body::from_stream(watched))
    }

    /// The write of the record. The answer's last bytes wait for it, so a client that
    /// continues the moment it has the answer finds it kept.
    fn store(self, response: &[u8]) -> Option<Saving> {
        let (id, record) = history::record(self.input, response)?;
        let key = record_key(&self.scope, &id);
        let (live, ttl) = (self.live, self.ttl);
        Some(Box::pin(async move {
            if let Err(e) = live.store.set(&key, record.into(), Some(ttl)).await {
                tracing::warn!(error = %e, "response not kept: the state store failed");
            }
        }))
    }
}

/// A record being written.
type Saving = Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// A response body that remembers what a kept record needs as it passes through.
struct Watch<S> {
    /// The chunk that completed the answer (`None`: the body's end), held back until its
    /// record is written.
    saving: Option<(Option<Bytes>, Saving)>,
    inner: S,
    keep: Option<Keep>,
    streamed: bool,
    /// A whole answer's length, when the body knows it.
    length: Option<u64>,
    /// A stream's final response object, as it passes.
    stream: FinalResponse,
    /// A whole answer's bytes (bounded by [`MAX_BODY`]).
    whole: Vec<u8>,
}

impl<S> Watch<S> {
    /// Looks at a chunk on its way; returns the record's write when it completed the answer.
    fn observe(&mut self, chunk: &[u8]) -> Option<Saving> {
        self.keep.as_ref()?;
        if !self.streamed {
            if self.whole.len() + chunk.len() > MAX_BODY {
                self.keep = None;
                self.whole = Vec::new();
            } else {
                self.whole.extend_from_slice(chunk);
            }
            if self.length == Some(self.whole.len() as u64) {
                return self.end();
            }
            return None;
        }
        // The terminal event is the stream's last: the answer is complete.
        let response = self.stream.feed(chunk)?;
        self.keep.take()?.store(&response)
    }

    /// A whole body ended: keeps the answer. (A stream that ends without its terminal
    /// event finished badly and keeps nothing.)
    fn end(&mut self) -> Option<Saving> {
        if self.streamed {
            self.keep = None;
            return None;
        }
        let whole = std::mem::take(&mut self.whole);
        self.keep.take()?.store(&whole)
    }
}

impl<S> Stream for Watch<S>
where
    S: Stream<Item = Result<Bytes, axum::Error>> + Unpin,
{
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some((_, saving)) = self.saving.as_mut() {
            std::task::ready!(saving.as_mut().poll(cx));
            let chunk = self.saving.take().and_then(|(chunk, _)| chunk);
            return Poll::Ready(chunk.map(Ok));
        }
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        match polled {
            Poll::Ready(Some(Ok(chunk))) => match self.observe(&chunk) {
                Some(saving) => {
                    self.saving = Some((Some(chunk), saving));
                    self.poll_next(cx)
                }
                None => Poll::Ready(Some(Ok(chunk))),
            },
            Poll::Ready(None) => match self.end() {
                // A body of unknown length: the record is written before the end is told.
                Some(saving) => {
                    self.saving = Some((None, saving));
                    self.poll_next(cx)
                }
                None => Poll::Ready(None),
            },
            // A body that failed (or a client that left, which drops the body unfinished)
            // keeps nothing.
            Poll::Ready(Some(Err(e))) => {
                self.keep = None;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
