//! Kept responses, for a gateway that stores them (`store`, `previous_response_id`,
//! `GET /v1/responses/{id}`): what a request says about state, and the record a response is
//! kept as.
//!
//! A record is the request's input items (after its own history was spliced in) and the
//! response object the client got. A later request naming it continues from the record's
//! input and output; `instructions` are not inherited, as OpenAI documents. Items are carried
//! as opaque JSON: they go back through [`super::decode_request`] like any client's.

use crate::json::{decode_body, to_vec};
use crate::sse::{SseEvent, SseParser};
use lmrelay_ir::{ApiError, ErrorKind};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What a request says about kept state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continuation {
    /// The response this request continues, if any.
    pub previous_response_id: Option<String>,
    /// Whether the client wants this response kept (`store`, true by default).
    pub store: bool,
}

/// The fields of a request body this module reads and rewrites; the rest pass untouched.
#[derive(Deserialize, Serialize)]
struct Body {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    input: Option<Value>,
    #[serde(default, skip_serializing)]
    previous_response_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    store: Option<bool>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

/// A kept response.
#[derive(Deserialize, Serialize)]
struct Record {
    input: Vec<Value>,
    response: Value,
}

/// Finds the finished response object in a Responses stream as its bytes pass (any split).
#[derive(Default)]
pub struct FinalResponse {
    sse: SseParser,
    frames: Vec<SseEvent>,
}

/// The terminal event of a finished stream.
#[derive(Deserialize)]
struct Terminal {
    response: Value,
}

// === impl FinalResponse ===

impl FinalResponse {
    /// Consumes the next bytes; returns the response object of a `response.completed` or
    /// `response.incomplete` event among them (a failed stream has none).
    pub fn feed(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        self.sse.feed(bytes, &mut self.frames);
        let mut found = None;
        for f in self.frames.drain(..) {
            if matches!(
                f.event.as_deref(),
                Some("response.completed" | "response.incomplete")
            ) {
                found = serde_json::from_str::<Terminal>(&f.data)
                    .ok()
                    .map(|t| to_vec(&t.response));
            }
        }
        found
    }
}

/// Reads what a `POST /v1/responses` body says about kept state.
pub fn continuation(body: &[u8]) -> Result<Continuation, ApiError> {
    let b: Body = decode_body(body)?;
    Ok(Continuation {
        previous_response_id: b.previous_response_id.filter(|id| !id.is_empty()),
        store: b.store.unwrap_or(true),
    })
}

/// The body with the kept conversation in front of its own input and without
/// `previous_response_id`, ready for [`super::decode_request`].
pub fn continue_from(body: &[u8], record: &[u8]) -> Result<Vec<u8>, ApiError> {
    let mut b: Body = decode_body(body)?;
    let r: Record = serde_json::from_slice(record).map_err(|e| {
        ApiError::new(
            ErrorKind::Server,
            format!("A kept response could not be read: {e}"),
        )
    })?;
    let mut input = r.input;
    input.extend(
        r.response
            .get("output")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    );
    input.extend(items_of(b.input.take()));
    b.input = Some(Value::Array(input));
    Ok(to_vec(&b))
}

/// The input items of a body (a string input is one user message).
pub fn input_items(body: &[u8]) -> Result<Vec<Value>, ApiError> {
    let b: Body = decode_body(body)?;
    Ok(items_of(b.input))
}

fn items_of(input: Option<Value>) -> Vec<Value> {
    match input {
        Some(Value::String(text)) => {
            vec![serde_json::json!({"type": "message", "role": "user", "content": text})]
        }
        Some(Value::Array(items)) => items,
        _ => vec![],
    }
}

/// The record to keep for a response object the client got, when it finished (completed or
/// incomplete: a failed response is not kept); with the response's id.
pub fn record(input: Vec<Value>, response: &[u8]) -> Option<(String, Vec<u8>)> {
    let response: Value = serde_json::from_slice(response).ok()?;
    let id = response.get("id")?.as_str()?.to_owned();
    let status = response.get("status")?.as_str()?;
    if !matches!(status, "completed" | "incomplete") {
        return None;
    }
    Some((id, to_vec(&Record { input, response })))
}

/// The response object of a kept record, as `GET /v1/responses/{id}` returns it.
pub fn kept_response(record: &[u8]) -> Option<Vec<u8>> {
    let r: Record = serde_json::from_slice(record).ok()?;
    Some(to_vec(&r.response))
}

/// The answer to deleting a kept response.
pub fn deleted(id: &str) -> Vec<u8> {
    to_vec(&serde_json::json!({"id": id, "object": "response.deleted", "deleted": true}))
}

/// The error for a `previous_response_id` that names nothing kept (OpenAI's 404).
pub fn not_found(id: &str) -> ApiError {
    ApiError::new(
        ErrorKind::NotFound,
        format!("Previous response with id '{id}' not found."),
    )
    .with_param("previous_response_id")
    .with_code("previous_response_not_found")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_continuation_splices_the_kept_conversation_in_front() {
        let first = json!({"model": "m", "instructions": "old", "input": "hi"}).to_string();
        let input = input_items(first.as_bytes()).expect("items");
        let answer = json!({"id": "resp_1", "status": "completed", "output": [
            {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "hello", "annotations": []}]}]});
        let (id, rec) = record(input, answer.to_string().as_bytes()).expect("kept");
        assert_eq!(id, "resp_1");
        assert_eq!(kept_response(&rec), Some(to_vec(&answer)));
        let next = json!({"model": "m", "previous_response_id": "resp_1", "input": "again", "store": false}).to_string();
        let c = continuation(next.as_bytes()).expect("reads");
        assert_eq!(
            c,
            Continuation {
                previous_response_id: Some("resp_1".into()),
                store: false
            }
        );
        let body = continue_from(next.as_bytes(), &rec).expect("splices");
        let v: Value = serde_json::from_slice(&body).expect("json");
        assert!(v.get("previous_response_id").is_none());
        assert!(
            v.get("instructions").is_none(),
            "instructions are not inherited"
        );
        assert_eq!(v["input"].as_array().map(Vec::len), Some(3));
        let req = crate::responses::decode_request(&body).expect("decodes");
        assert_eq!(req.messages.len(), 3);
        assert_eq!(
            lmrelay_ir::request::text_of(&req.messages[1].content),
            "hello"
        );
    }

    #[test]
    fn the_final_response_is_found_in_a_stream_whatever_the_split() {
        let stream = concat!(
            "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"r\"}}\n\n",
            "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"status\":\"completed\"}}\n\n",
        );
        for cut in 0..stream.len() {
            let mut f = FinalResponse::default();
            let found = f
                .feed(&stream.as_bytes()[..cut])
                .or_else(|| f.feed(&stream.as_bytes()[cut..]));
            assert_eq!(
                found,
                Some(br#"{"id":"r","status":"completed"}"#.to_vec()),
                "cut {cut}"
            );
        }
        let failed =
            "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{}}\n\n";
        assert_eq!(FinalResponse::default().feed(failed.as_bytes()), None);
    }

    #[test]
    fn failed_responses_are_not_kept_and_store_defaults_to_true() {
        let failed = json!({"id": "resp_1", "status": "failed", "output": []}).to_string();
        assert!(record(vec![], failed.as_bytes()).is_none());
        let c = continuation(br#"{"model":"m","input":"x"}"#).expect("reads");
        assert!(c.store && c.previous_response_id.is_none());
        let e = not_found("resp_x");
        assert_eq!(
            (e.status, e.param.as_deref()),
            (404, Some("previous_response_id"))
        );
    }
}
