//! Codec tests for every direction of the Anthropic module.

mod client_request;
mod errors;
mod reader;
mod response;
mod upstream_request;
mod writer;

use crate::sse::SseParser;
use serde_json::Value;

/// Parses SSE output into (event name, data JSON) pairs.
pub(super) fn frames(bytes: &[u8]) -> Vec<(String, Value)> {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    parser.feed(bytes, &mut events);
    parser.finish(&mut events);
    events
        .into_iter()
        .map(|e| {
            let data: Value = serde_json::from_str(&e.data).expect("frame data is JSON");
            (e.event.unwrap_or_default(), data)
        })
        .collect()
}

/// Parses a JSON body.
pub(super) fn value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("valid JSON")
}
