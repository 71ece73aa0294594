//! Gemini's request validation, as strict as the real API: unknown fields are a 400
//! ("Invalid JSON payload received. Unknown name …"), and so are the rules lmrelay's encoder
//! must keep (non-empty parts, one data field per part, objects as function responses, as
//! many responses as calls, tool schemas in Gemini's OpenAPI subset, signatures on Gemini 3
//! function calls).
//!
//! Only the camelCase spelling is accepted (the real API also takes snake_case; lmrelay
//! sends camelCase).

use axum::response::Response;
use serde_json::{Map, Value};

use super::{invalid, signs_calls, SKIP_SIGNATURE};
use crate::util::is_base64;

const REQUEST_KEYS: &[&str] = &[
    "model",
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "safetySettings",
    "generationConfig",
    "cachedContent",
];
const CONTENT_KEYS: &[&str] = &["role", "parts"];
const PART_KEYS: &[&str] = &[
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
    "thought",
    "thoughtSignature",
    "videoMetadata",
];
/// The `data` oneof of a part.
const DATA_KEYS: &[&str] = &[
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
];
const TOOL_KEYS: &[&str] = &[
    "functionDeclarations",
    "googleSearch",
    "googleSearchRetrieval",
    "codeExecution",
    "urlContext",
];
const FUNCTION_KEYS: &[&str] = &[
    "name",
    "description",
    "parameters",
    "parametersJsonSchema",
    "response",
    "responseJsonSchema",
    "behavior",
];
const SCHEMA_KEYS: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];
const TYPES: &[&str] = &[
    "string", "number", "integer", "boolean", "array", "object", "null",
];
const GENERATION_KEYS: &[&str] = &[
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "thinkingConfig",
    "mediaResolution",
];
const THINKING_KEYS: &[&str] = &["includeThoughts", "thinkingBudget", "thinkingLevel"];
const EMBED_KEYS: &[&str] = &[
    "model",
    "content",
    "taskType",
    "title",
    "outputDimensionality",
];

/// Validates a `generateContent` body for `model`.
pub(super) fn generate(req: &Value, model: &str) -> Result<(), Response> {
    let obj = object(req, "")?;
    unknown(obj, REQUEST_KEYS, "")?;
    let contents = match obj.get("contents") {
        Some(Value::Array(c)) if !c.is_empty() => c,
        _ => {
            return Err(invalid(
                "* GenerateContentRequest.contents: contents is not specified\n",
            ))
        }
    };
    for (i, c) in contents.iter().enumerate() {
        content(c, &format!("contents[{i}]"), true)?;
    }
    if let Some(system) = obj.get("systemInstruction") {
        content(system, "system_instruction", false)?;
    }
    function_turns(contents)?;
    if signs_calls(model) {
        signatures(contents)?;
    }
    let declared = tools(obj.get("tools"))?;
    tool_config(obj.get("toolConfig"), &declared)?;
    generation_config(obj.get("generationConfig"))
}

/// Validates an `embedContent` request (also one entry of `batchEmbedContents`).
pub(super) fn embed(req: &Value, path: &str) -> Result<(), Response> {
    let obj = object(req, path)?;
    unknown(obj, EMBED_KEYS, path)?;
    match obj.get("content") {
        Some(c) => content(c, &join(path, "content"), false),
        None => Err(invalid(&format!(
            "* EmbedContentRequest.{}: content is required\n",
            join(path, "content")
        ))),
    }
}

fn content(c: &Value, path: &str, needs_role: bool) -> Result<(), Response> {
    let obj = object(c, path)?;
    unknown(obj, CONTENT_KEYS, path)?;
    if needs_role {
        match obj.get("role").and_then(Value::as_str) {
            None | Some("user") | Some("model") => {}
            Some(_) => return Err(invalid("Please use a valid role: user, model.")),
        }
    }
    let parts = match obj.get("parts") {
        Some(Value::Array(p)) if !p.is_empty() => p,
        _ => {
            return Err(invalid(&format!(
                "* GenerateContentRequest.{path}.parts: contents.parts must not be empty.\n"
            )))
        }
    };
    for (j, p) in parts.iter().enumerate() {
        part(p, &format!("{path}.parts[{j}]"))?;
    }
    Ok(())
}

fn part(p: &Value, path: &str) -> Result<(), Response> {
    let obj = object(p, path)?;
    unknown(obj, PART_KEYS, path)?;
    let data: Vec<&str> = DATA_KEYS
        .iter()
        .copied()
        .filter(|k| obj.contains_key(*k))
        .collect();
    match data.as_slice() {
        [] => {
            return Err(invalid(&format!(
                "* GenerateContentRequest.{path}.data: required oneof field 'data' must have one initialized field\n"
            )))
        }
        [_] => {}
        [_, second, ..] => {
            return Err(invalid(&format!(
                "Invalid value at '{path}' (oneof), oneof field 'data' is already set. Cannot set '{second}'"
            )))
        }
    }
    if let Some(sig) = obj.get("thoughtSignature") {
        if !sig.as_str().is_some_and(is_base64) {
            return Err(invalid(&format!(
                "Invalid value at '{path}.thought_signature' (TYPE_BYTES), Base64 decoding failed for {sig}"
            )));
        }
    }
    let signed = obj.contains_key("thoughtSignature") || obj.contains_key("thought");
    match obj.get("text") {
        Some(Value::String(t)) if t.is_empty() && !signed => {
            return Err(invalid(
                "Unable to submit request because it has an empty text parameter. Add a value to the parameter and try again. Learn more: https://cloud.google.com/vertex-ai/generative-ai/docs/multimodal/gemini",
            ))
        }
        Some(Value::String(_)) | None => {}
        Some(other) => {
            return Err(invalid(&format!(
                "Invalid value at '{path}.text' (TYPE_STRING), {other}"
            )))
        }
    }
    if let Some(inline) = obj.get("inlineData") {
        inline_data(inline, &format!("{path}.inline_data"))?;
    }
    if let Some(call) = obj.get("functionCall") {
        function_call(call, &format!("{path}.function_call"))?;
    }
    if let Some(resp) = obj.get("functionResponse") {
        function_response(resp, &format!("{path}.function_response"))?;
    }
    Ok(())
}

fn inline_data(inline: &Value, at: &str) -> Result<(), Response> {
    let o = object(inline, at)?;
    unknown(o, &["mimeType", "data"], at)?;
    if !o.get("mimeType").is_some_and(Value::is_string) {
        return Err(invalid(&format!(
            "* GenerateContentRequest.{at}.mime_type: mime_type is required\n"
        )));
    }
    if !o.get("data").and_then(Value::as_str).is_some_and(is_base64) {
        return Err(invalid(&format!(
            "Invalid value at '{at}.data' (TYPE_BYTES), Base64 decoding failed"
        )));
    }
    Ok(())
}

fn function_call(call: &Value, at: &str) -> Result<(), Response> {
    let o = object(call, at)?;
    unknown(o, &["id", "name", "args"], at)?;
    if !o.get("name").is_some_and(Value::is_string) {
        return Err(invalid(&format!(
            "* GenerateContentRequest.{at}.name: Name is not specified.\n"
        )));
    }
    if o.get("args").is_some_and(|a| !a.is_object()) {
        return Err(invalid(&format!(
            "Invalid value at '{at}.args' (type.googleapis.com/google.protobuf.Struct)"
        )));
    }
    Ok(())
}

fn function_response(resp: &Value, at: &str) -> Result<(), Response> {
    let o = object(resp, at)?;
    unknown(
        o,
        &[
            "id",
            "name",
            "response",
            "willContinue",
            "scheduling",
            "parts",
        ],
        at,
    )?;
    if !o.get("name").is_some_and(Value::is_string) {
        return Err(invalid(&format!(
            "* GenerateContentRequest.{at}.name: Name is not specified.\n"
        )));
    }
    match o.get("response") {
        Some(Value::Object(_)) => Ok(()),
        Some(other) => Err(invalid(&format!(
            "Invalid value at '{at}.response' (type.googleapis.com/google.protobuf.Struct), {other}"
        ))),
        None => Err(invalid(&format!(
            "* GenerateContentRequest.{at}.response: response is required\n"
        ))),
    }
}

/// Function responses answer the function-call turn right before them, one per call.
fn function_turns(contents: &[Value]) -> Result<(), Response> {
    let count = |c: &Value, key: &str| {
        c.get("parts")
            .and_then(Value::as_array)
            .map_or(0, |p| p.iter().filter(|p| p.get(key).is_some()).count())
    };
    for (i, c) in contents.iter().enumerate() {
        let responses = count(c, "functionResponse");
        if responses == 0 {
            continue;
        }
        let calls = i.checked_sub(1).map_or(0, |prev| {
            let p = &contents[prev];
            if p.get("role").and_then(Value::as_str) == Some("model") {
                count(p, "functionCall")
            } else {
                0
            }
        });
        if calls != responses {
            return Err(invalid("Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn."));
        }
    }
    Ok(())
}

/// Gemini 3: every function-call step of the running turn (after the last user content of
/// its own) has a signature on its first call, one the model made or the documented skip
/// value.
fn signatures(contents: &[Value]) -> Result<(), Response> {
    let parts = |c: &Value| {
        c.get("parts")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let start = contents
        .iter()
        .rposition(|c| {
            c.get("role").and_then(Value::as_str) != Some("model")
                && parts(c).iter().any(|p| p.get("functionResponse").is_none())
        })
        .map_or(0, |i| i + 1);
    for (i, c) in contents.iter().enumerate().skip(start) {
        if c.get("role").and_then(Value::as_str) != Some("model") {
            continue;
        }
        let ps = parts(c);
        let Some((j, first)) = ps
            .iter()
            .enumerate()
            .find(|(_, p)| p.get("functionCall").is_some())
        else {
            continue;
        };
        let name = first["functionCall"]["name"].as_str().unwrap_or_default();
        match first.get("thoughtSignature").and_then(Value::as_str) {
            None => {
                return Err(invalid(&format!(
                    "Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:{name}` , position {}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.",
                    i * 10 + j + 1
                )))
            }
            Some(sig) if sig == SKIP_SIGNATURE || super::is_mock_signature(sig) => {}
            Some(_) => return Err(invalid("Corrupted thought signature.")),
        }
    }
    Ok(())
}

/// Validates the tools; returns the declared function names.
fn tools(tools: Option<&Value>) -> Result<Vec<String>, Response> {
    let mut names = Vec::new();
    let Some(tools) = tools else {
        return Ok(names);
    };
    let Value::Array(tools) = tools else {
        return Err(invalid(
            "Invalid JSON payload received. Unknown name \"tools\": Proto field is not repeating, cannot start list.",
        ));
    };
    for (i, t) in tools.iter().enumerate() {
        let at = format!("tools[{i}]");
        let o = object(t, &at)?;
        unknown(o, TOOL_KEYS, &at)?;
        let decls = o
            .get("functionDeclarations")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (j, d) in decls.iter().enumerate() {
            let at = format!("{at}.function_declarations[{j}]");
            let o = object(d, &at)?;
            unknown(o, FUNCTION_KEYS, &at)?;
            let name = o.get("name").and_then(Value::as_str).unwrap_or_default();
            if !valid_function_name(name) {
                return Err(invalid(&format!("* GenerateContentRequest.{at}.name: Invalid function name. Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), colons (:), or dashes (-), with a maximum length of 64.\n")));
            }
            if o.contains_key("parameters") && o.contains_key("parametersJsonSchema") {
                return Err(invalid(&format!("* GenerateContentRequest.{at}: parameters and parameters_json_schema cannot both be set\n")));
            }
            if let Some(params) = o.get("parameters") {
                let at = format!("{at}.parameters");
                schema(params, &at)?;
                let empty = params
                    .get("properties")
                    .and_then(Value::as_object)
                    .is_none_or(|p| p.is_empty());
                let is_object = params
                    .get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case("object"));
                if is_object && empty {
                    return Err(invalid(&format!("* GenerateContentRequest.{at}.properties: should be non-empty for OBJECT type\n")));
                }
            }
            names.push(name.to_string());
        }
    }
    Ok(names)
}

fn valid_function_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'))
}

/// An OpenAPI-subset `Schema`.
fn schema(v: &Value, path: &str) -> Result<(), Response> {
    let o = object(v, path)?;
    unknown(o, SCHEMA_KEYS, path)?;
    let type_name = match o.get("type") {
        None => None,
        Some(Value::String(t)) if TYPES.contains(&t.to_ascii_lowercase().as_str()) => {
            Some(t.to_ascii_lowercase())
        }
        Some(Value::Array(_)) => {
            return Err(invalid(&format!(
                "Invalid JSON payload received. Unknown name \"type\" at '{path}': Proto field is not repeating, cannot start list."
            )))
        }
        Some(other) => {
            return Err(invalid(&format!(
                "Invalid value at '{path}.type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), {other}"
            )))
        }
    };
    if let Some(f) = o.get("format").and_then(Value::as_str) {
        if type_name.as_deref() == Some("string") && !matches!(f, "enum" | "date-time") {
            return Err(invalid(&format!(
                "* GenerateContentRequest.{path}.format: only 'enum' and 'date-time' are supported for STRING type\n"
            )));
        }
    }
    if let Some(e) = o.get("enum") {
        if !e.as_array().is_some_and(|a| a.iter().all(Value::is_string)) {
            return Err(invalid(&format!(
                "Invalid value at '{path}.enum' (TYPE_STRING), {e}"
            )));
        }
    }
    let props = o.get("properties").and_then(Value::as_object);
    for (k, p) in props.into_iter().flatten() {
        schema(p, &format!("{path}.properties[{k}].value"))?;
    }
    for (i, r) in o
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let known = r
            .as_str()
            .is_some_and(|name| props.is_some_and(|p| p.contains_key(name)));
        if !known {
            return Err(invalid(&format!(
                "* GenerateContentRequest.{path}.required[{i}]: property is not defined\n"
            )));
        }
    }
    match o.get("items") {
        Some(items) => schema(items, &format!("{path}.items"))?,
        None if type_name.as_deref() == Some("array") => {
            return Err(invalid(&format!(
                "* GenerateContentRequest.{path}.items: missing field.\n"
            )))
        }
        None => {}
    }
    for (i, v) in o
        .get("anyOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        schema(v, &format!("{path}.any_of[{i}]"))?;
    }
    Ok(())
}

fn tool_config(config: Option<&Value>, declared: &[String]) -> Result<(), Response> {
    let Some(config) = config else {
        return Ok(());
    };
    let o = object(config, "tool_config")?;
    unknown(
        o,
        &["functionCallingConfig", "retrievalConfig"],
        "tool_config",
    )?;
    let Some(fc) = o.get("functionCallingConfig") else {
        return Ok(());
    };
    let at = "tool_config.function_calling_config";
    let fc = object(fc, at)?;
    unknown(fc, &["mode", "allowedFunctionNames"], at)?;
    let mode = fc.get("mode").and_then(Value::as_str).unwrap_or("AUTO");
    if !["AUTO", "ANY", "NONE", "VALIDATED", "MODE_UNSPECIFIED"].contains(&mode) {
        return Err(invalid(&format!(
            "Invalid value at '{at}.mode' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), \"{mode}\""
        )));
    }
    if let Some(names) = fc.get("allowedFunctionNames").and_then(Value::as_array) {
        if !matches!(mode, "ANY" | "VALIDATED") {
            return Err(invalid("* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: allowed_function_names should only be set when the mode is ANY or VALIDATED.\n"));
        }
        for n in names {
            if !n.as_str().is_some_and(|n| declared.iter().any(|d| d == n)) {
                return Err(invalid(&format!("* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: Function {n} not found in the function declarations.\n")));
            }
        }
    }
    Ok(())
}

fn generation_config(config: Option<&Value>) -> Result<(), Response> {
    let Some(config) = config else {
        return Ok(());
    };
    let at = "generation_config";
    let o = object(config, at)?;
    unknown(o, GENERATION_KEYS, at)?;
    if let Some(t) = o.get("temperature").and_then(Value::as_f64) {
        if !(0.0..=2.0).contains(&t) {
            return Err(invalid("* GenerateContentRequest.generation_config.temperature: temperature must be in the range [0.0, 2.0]\n"));
        }
    }
    if let Some(n) = o.get("candidateCount").and_then(Value::as_u64) {
        if !(1..=8).contains(&n) {
            return Err(invalid("* GenerateContentRequest.generation_config.candidate_count: must be between 1 and 8\n"));
        }
    }
    if o.get("maxOutputTokens")
        .is_some_and(|m| m.as_u64().is_none_or(|m| m == 0))
    {
        return Err(invalid("* GenerateContentRequest.generation_config.max_output_tokens: max_output_tokens must be positive.\n"));
    }
    if let Some(stops) = o.get("stopSequences").and_then(Value::as_array) {
        if stops.len() > 5 {
            return Err(invalid("* GenerateContentRequest.generation_config.stop_sequences: the number of stop_sequences must not exceed 5.\n"));
        }
    }
    let mime = o.get("responseMimeType").and_then(Value::as_str);
    if let Some(m) = mime {
        if !["text/plain", "application/json", "text/x.enum"].contains(&m) {
            return Err(invalid(&format!("* GenerateContentRequest.generation_config.response_mime_type: allowed mimetypes are `text/plain`, `application/json`, `text/x.enum`, but got {m}.\n")));
        }
    }
    if let Some(s) = o.get("responseSchema") {
        schema(s, "generation_config.response_schema")?;
        if !matches!(mime, Some("application/json" | "text/x.enum")) {
            return Err(invalid("* GenerateContentRequest.generation_config.response_schema: response_mime_type must be set to a compatible type (application/json or text/x.enum) when response_schema is set.\n"));
        }
    }
    if let Some(t) = o.get("thinkingConfig") {
        let at = "generation_config.thinking_config";
        let t = object(t, at)?;
        unknown(t, THINKING_KEYS, at)?;
    }
    Ok(())
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, Response> {
    v.as_object().ok_or_else(|| {
        invalid(&format!(
            "Invalid JSON payload received. Expected an object at '{}', got {v}.",
            if path.is_empty() { "." } else { path }
        ))
    })
}

fn unknown(obj: &Map<String, Value>, allowed: &[&str], path: &str) -> Result<(), Response> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) if path.is_empty() => Err(invalid(&format!(
            "Invalid JSON payload received. Unknown name \"{k}\": Cannot find field."
        ))),
        Some(k) => Err(invalid(&format!(
            "Invalid JSON payload received. Unknown name \"{k}\" at '{path}': Cannot find field."
        ))),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}
