//! JSON helpers shared by the codecs: decoding with errors that name the offending field,
//! and lenient handling of tool-call argument text.

use lmrelay_ir::ApiError;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The most characters of a field path an error names.
const MAX_PATH: usize = 120;

/// Decodes a request body, turning serde's error into a 400 that names the field at fault
/// (for example `messages[0].content: invalid type: integer, expected a string`).
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(
            "The request body is empty; send a JSON object.",
        ));
    }
    // The path is tracked only to explain a failure: a body that decodes pays nothing for it.
    if let Ok(v) = serde_json::from_slice(body) {
        return Ok(v);
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let mut path = e.path().to_string();
        // A path through deeply nested JSON is cut to what helps a reader find it.
        if path.len() > MAX_PATH {
            let mut end = MAX_PATH;
            while !path.is_char_boundary(end) {
                end -= 1;
            }
            path.truncate(end);
            path.push('…');
        }
        let inner = e.into_inner();
        let msg = if inner.is_syntax() || inner.is_eof() {
            format!("The request body is not valid JSON: {inner}")
        } else if path.is_empty() || path == "." {
            format!("Invalid request body: {inner}")
        } else {
            format!("Invalid request body at `{path}`: {inner}")
        };
        let err = ApiError::invalid(msg);
        if path.is_empty() || path == "." {
            err
        } else {
            err.with_param(path)
        }
    })
}

/// Parses tool-call arguments text into a JSON object, the way Anthropic and Ollama want them.
///
/// Empty text becomes `{}`; a value that is not an object is wrapped as `{"value": …}`; text
/// that is not JSON at all is kept as `{"_raw": "<text>"}` rather than lost.
pub fn arguments_to_object(arguments: &str) -> Value {
    let trimmed = arguments.trim();
    if trimmed.is_empty() {
        return Value::Object(Map::new());
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(Value::Object(map)) => Value::Object(map),
        Ok(other) => {
            let mut map = Map::new();
            map.insert("value".into(), other);
            Value::Object(map)
        }
        Err(_) => {
            let mut map = Map::new();
            map.insert("_raw".into(), Value::String(arguments.to_owned()));
            Value::Object(map)
        }
    }
}

/// Serialises a tool-call argument object back to compact JSON text, keeping key order.
pub fn object_to_arguments(value: &Value) -> String {
    match value {
        Value::Null => "{}".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Serialises a value that cannot fail to serialise (plain data, string keys).
pub fn to_vec<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Serialising derived structs with string keys cannot fail; fall back to `null` anyway so
    // a codec never panics on a path users reach.
    serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec())
}

/// A short, printable excerpt of a body, for error messages about unreadable upstream replies.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_owned();
    }
    let mut out: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_are_parsed_defensively() {
        assert_eq!(arguments_to_object(""), json!({}));
        assert_eq!(arguments_to_object("  "), json!({}));
        assert_eq!(arguments_to_object(r#"{"a":1}"#), json!({"a":1}));
        assert_eq!(arguments_to_object("[1]"), json!({"value":[1]}));
        assert_eq!(arguments_to_object("{oops"), json!({"_raw":"{oops"}));
    }

    #[test]
    fn key_order_survives_a_round_trip() {
        let text = r#"{"z":1,"a":2,"m":{"y":1,"b":2}}"#;
        assert_eq!(object_to_arguments(&arguments_to_object(text)), text);
    }

    #[derive(serde::Deserialize, Debug)]
    #[expect(dead_code, reason = "fields exist only to be decoded")]
    struct Probe {
        model: String,
        messages: Vec<ProbeMsg>,
    }
    #[derive(serde::Deserialize, Debug)]
    #[expect(dead_code, reason = "fields exist only to be decoded")]
    struct ProbeMsg {
        content: String,
    }

    #[test]
    fn decode_errors_name_the_field() {
        let err = decode_body::<Probe>(br#"{"model":"m","messages":[{"content":5}]}"#)
            .expect_err("wrong type");
        assert!(
            err.message.contains("messages[0].content"),
            "{}",
            err.message
        );
        assert_eq!(err.status, 400);
        let err = decode_body::<Probe>(br#"{"messages":[]}"#).expect_err("missing");
        assert!(err.message.contains("model"), "{}", err.message);
        let err = decode_body::<Probe>(b"{not json").expect_err("syntax");
        assert!(err.message.contains("not valid JSON"), "{}", err.message);
        let err = decode_body::<Probe>(b"").expect_err("empty");
        assert!(err.message.contains("empty"), "{}", err.message);
    }
}
