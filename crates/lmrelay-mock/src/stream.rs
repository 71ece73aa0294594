//! Streamed response bodies: one pre-rendered event per body chunk, flushed
//! one at a time, with the `drop_after_events` / `stream_error_after` /
//! `event_delay_ms` faults applied. The stream is dropped (and stops) as soon
//! as the client disconnects.

use std::io;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;

use crate::faults::FaultSettings;

enum Step {
    Event(Bytes),
    Abort,
}

/// Plans the steps: the events, cut by whichever fault comes first.
fn steps(events: Vec<Bytes>, error_event: Bytes, faults: &FaultSettings) -> Vec<Step> {
    let drop_at = faults.drop_after_events;
    let error_at = faults.stream_error_after;
    let mut out = Vec::with_capacity(events.len() + 1);
    for (i, ev) in events.into_iter().enumerate() {
        if drop_at == Some(i) && error_at.is_none_or(|e| e >= i) {
            out.push(Step::Abort);
            return out;
        }
        if error_at == Some(i) {
            out.push(Step::Event(error_event));
            return out;
        }
        out.push(Step::Event(ev));
    }
    out
}

/// A 200 streamed response of `events` with `content_type`.
pub(crate) fn response(
    content_type: &'static str,
    events: Vec<Bytes>,
    error_event: Bytes,
    faults: &FaultSettings,
) -> Response {
    let plan = steps(events, error_event, faults).into_iter();
    let delay = Duration::from_millis(faults.event_delay_ms);
    let stream = futures_util::stream::unfold((plan, true), move |(mut plan, first)| async move {
        if !first {
            if delay.is_zero() {
                // Returning Pending once makes hyper flush the previous event on its own.
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(delay).await;
            }
        }
        match plan.next()? {
            Step::Event(b) => Some((Ok::<Bytes, io::Error>(b), (plan, false))),
            Step::Abort => Some((
                Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "mock: drop_after_events",
                )),
                (plan, false),
            )),
        }
    });
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if content_type.starts_with("text/event-stream") {
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    }
    resp
}

/// `data: <json>\n\n`.
pub(crate) fn sse_data(json: &serde_json::Value) -> Bytes {
    Bytes::from(format!("data: {json}\n\n"))
}

/// `event: <name>\ndata: <json>\n\n`.
pub(crate) fn sse_event(name: &str, json: &serde_json::Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {json}\n\n"))
}

/// `<json>\n`.
pub(crate) fn ndjson_line(json: &serde_json::Value) -> Bytes {
    Bytes::from(format!("{json}\n"))
}
