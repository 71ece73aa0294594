//! Request validation as strict as Bedrock's Converse (protocols.md §6.2): unknown fields,
//! union blocks with exactly one member, blank text, roles that must alternate starting
//! with `user`, tool ids and names, tool results answering earlier calls, `toolConfig`
//! whenever tool blocks appear, `inferenceConfig` ranges, and Claude's `thinking` rules.
//! Each refusal is a `ValidationException` message, worded like Bedrock's.

use serde_json::{Map, Value};

const TOP_LEVEL: &[&str] = &[
    "messages",
    "system",
    "inferenceConfig",
    "toolConfig",
    "guardrailConfig",
    "additionalModelRequestFields",
    "additionalModelResponseFieldPaths",
    "promptVariables",
    "requestMetadata",
    "performanceConfig",
    "outputConfig",
    "serviceTier",
];
const IMAGE_FORMATS: &[&str] = &["png", "jpeg", "gif", "webp"];
const DOCUMENT_FORMATS: &[&str] = &[
    "pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md",
];

fn union_key<'a>(
    block: &'a Value,
    at: &str,
    allowed: &[&str],
) -> Result<(&'a str, &'a Value), String> {
    let obj = block
        .as_object()
        .ok_or_else(|| format!("{at} must be an object."))?;
    if obj.len() != 1 {
        return Err(format!(
            "{at} must have exactly one member set (it has {}).",
            obj.len()
        ));
    }
    let (k, v) = obj.iter().next().ok_or_else(|| format!("{at} is empty."))?;
    if !allowed.contains(&k.as_str()) {
        return Err(format!("{at}: extraneous key [{k}] is not permitted"));
    }
    Ok((k.as_str(), v))
}

fn only_keys(obj: &Map<String, Value>, at: &str, allowed: &[&str]) -> Result<(), String> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!("{at}: extraneous key [{k}] is not permitted")),
        None => Ok(()),
    }
}

fn is_base64(s: &str) -> bool {
    !s.is_empty()
        && s.len() % 4 == 0
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

fn text_block(v: &Value, at: &str) -> Result<(), String> {
    match v.as_str() {
        Some(t) if t.trim().is_empty() => Err(format!(
            "The text field in the ContentBlock object at {at} is blank. Add text to the text field, and try again."
        )),
        Some(_) => Ok(()),
        None => Err(format!("{at}.text must be a string.")),
    }
}

fn bytes_source(v: &Value, at: &str) -> Result<(), String> {
    let source = v
        .get("source")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("{at}.source is required."))?;
    only_keys(source, &format!("{at}.source"), &["bytes", "s3Location"])?;
    match source.get("bytes").and_then(Value::as_str) {
        Some(b) if is_base64(b) => Ok(()),
        Some(_) => Err(format!("{at}.source.bytes is not valid base64.")),
        None => Err(format!(
            "{at}.source.bytes is required (the mock has no S3)."
        )),
    }
}

fn media(kind: &str, v: &Value, at: &str) -> Result<(), String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{at}.{kind} must be an object."))?;
    let format = obj.get("format").and_then(Value::as_str).unwrap_or("");
    if kind == "image" {
        only_keys(obj, &format!("{at}.image"), &["format", "source"])?;
        if !IMAGE_FORMATS.contains(&format) {
            return Err(format!(
                "{at}.image.format must be one of png, jpeg, gif, webp."
            ));
        }
    } else {
        only_keys(
            obj,
            &format!("{at}.document"),
            &["format", "name", "source", "context", "citations"],
        )?;
        if !DOCUMENT_FORMATS.contains(&format) {
            return Err(format!(
                "{at}.document.format is not a supported document format."
            ));
        }
        let name = obj.get("name").and_then(Value::as_str).unwrap_or("");
        if name.is_empty()
            || !name.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '(' | ')' | '[' | ']')
            })
            || name.contains("  ")
        {
            return Err(format!("{at}.document.name is not a valid document name."));
        }
    }
    bytes_source(v, &format!("{at}.{kind}"))
}

fn valid_tool_use_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

fn valid_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

/// The whole request body.
pub(super) fn converse(req: &Value, claude: bool) -> Result<(), String> {
    let obj = req
        .as_object()
        .ok_or("Malformed input request: expected a JSON object.")?;
    only_keys(obj, "Malformed input request", TOP_LEVEL)?;
    let messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or("Malformed input request: messages is required and must not be empty.")?;
    let mut tool_ids: Vec<&str> = Vec::new();
    let mut has_tool_blocks = false;
    for (i, m) in messages.iter().enumerate() {
        let mo = m
            .as_object()
            .ok_or_else(|| format!("messages.{i} must be an object."))?;
        only_keys(mo, &format!("messages.{i}"), &["role", "content"])?;
        let role = mo.get("role").and_then(Value::as_str).unwrap_or("");
        let expected = if i % 2 == 0 { "user" } else { "assistant" };
        if role != "user" && role != "assistant" {
            return Err(format!("messages.{i}.role must be user or assistant."));
        }
        if role != expected {
            return Err(if i == 0 {
                "A conversation must start with a user message. Try again with a conversation that starts with a user message.".into()
            } else {
                "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.".into()
            });
        }
        let content = mo
            .get("content")
            .and_then(Value::as_array)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| format!("messages.{i}.content must be a non-empty array."))?;
        for (j, block) in content.iter().enumerate() {
            let at = format!("messages.{i}.content.{j}");
            let (kind, v) = union_key(
                block,
                &at,
                &[
                    "text",
                    "image",
                    "document",
                    "toolUse",
                    "toolResult",
                    "reasoningContent",
                    "cachePoint",
                    "guardContent",
                ],
            )?;
            match kind {
                "text" => text_block(v, &at)?,
                "image" | "document" => media(kind, v, &at)?,
                "toolUse" => {
                    if role != "assistant" {
                        return Err(format!(
                            "{at}: toolUse blocks belong in assistant messages."
                        ));
                    }
                    has_tool_blocks = true;
                    let t = v
                        .as_object()
                        .ok_or_else(|| format!("{at}.toolUse must be an object."))?;
                    only_keys(t, &format!("{at}.toolUse"), &["toolUseId", "name", "input"])?;
                    let id = t.get("toolUseId").and_then(Value::as_str).unwrap_or("");
                    if !valid_tool_use_id(id) {
                        return Err(format!("Value '{id}' at '{at}.toolUse.toolUseId' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.:-]+"));
                    }
                    if !valid_tool_name(t.get("name").and_then(Value::as_str).unwrap_or("")) {
                        return Err(format!("{at}.toolUse.name failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+"));
                    }
                    if !t.get("input").is_some_and(Value::is_object) {
                        return Err(format!("{at}.toolUse.input must be a JSON object."));
                    }
                    tool_ids.push(id);
                }
                "toolResult" => {
                    if role != "user" {
                        return Err(format!("{at}: toolResult blocks belong in user messages."));
                    }
                    has_tool_blocks = true;
                    let t = v
                        .as_object()
                        .ok_or_else(|| format!("{at}.toolResult must be an object."))?;
                    only_keys(
                        t,
                        &format!("{at}.toolResult"),
                        &["toolUseId", "content", "status"],
                    )?;
                    let id = t.get("toolUseId").and_then(Value::as_str).unwrap_or("");
                    if !tool_ids.contains(&id) {
                        return Err(format!("{at}.toolResult.toolUseId '{id}' does not match any toolUse block in a previous turn."));
                    }
                    let status = t.get("status").and_then(Value::as_str);
                    if status.is_some_and(|s| s != "success" && s != "error") {
                        return Err(format!("{at}.toolResult.status must be success or error."));
                    }
                    let inner = t
                        .get("content")
                        .and_then(Value::as_array)
                        .ok_or_else(|| format!("{at}.toolResult.content is required."))?;
                    if status == Some("error") && inner.is_empty() {
                        return Err(format!(
                            "{at}.toolResult: a result with status error must have content."
                        ));
                    }
                    for (k, c) in inner.iter().enumerate() {
                        let sub = format!("{at}.toolResult.content.{k}");
                        let (ck, cv) = union_key(c, &sub, &["text", "json", "image", "document"])?;
                        match ck {
                            "text" => text_block(cv, &sub)?,
                            "image" | "document" => media(ck, cv, &sub)?,
                            _ => {}
                        }
                    }
                }
                "reasoningContent" => {
                    if role != "assistant" {
                        return Err(format!(
                            "{at}: reasoningContent blocks belong in assistant messages."
                        ));
                    }
                    let (rk, rv) = union_key(
                        v,
                        &format!("{at}.reasoningContent"),
                        &["reasoningText", "redactedContent"],
                    )?;
                    if rk == "reasoningText" {
                        let r = rv.as_object().ok_or_else(|| {
                            format!("{at}.reasoningContent.reasoningText must be an object.")
                        })?;
                        only_keys(
                            r,
                            &format!("{at}.reasoningContent.reasoningText"),
                            &["text", "signature"],
                        )?;
                        if !r.get("text").is_some_and(Value::is_string) {
                            return Err(format!(
                                "{at}.reasoningContent.reasoningText.text is required."
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    if let Some(system) = obj.get("system") {
        let system = system.as_array().ok_or("system must be an array.")?;
        for (i, s) in system.iter().enumerate() {
            let at = format!("system.{i}");
            let (k, v) = union_key(s, &at, &["text", "cachePoint", "guardContent"])?;
            if k == "text" {
                text_block(v, &at)?;
            }
        }
    }
    if let Some(ic) = obj.get("inferenceConfig") {
        let ic = ic.as_object().ok_or("inferenceConfig must be an object.")?;
        only_keys(
            ic,
            "inferenceConfig",
            &["maxTokens", "temperature", "topP", "stopSequences"],
        )?;
        if let Some(m) = ic.get("maxTokens") {
            if m.as_u64().is_none_or(|m| m < 1) {
                return Err("Value at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1".into());
            }
        }
        for k in ["temperature", "topP"] {
            if let Some(v) = ic.get(k) {
                if !v.as_f64().is_some_and(|x| (0.0..=1.0).contains(&x)) {
                    return Err(format!("Value at 'inferenceConfig.{k}' failed to satisfy constraint: Member must have value less than or equal to 1"));
                }
            }
        }
        if let Some(s) = ic.get("stopSequences") {
            let ok = s.as_array().is_some_and(|a| {
                a.len() <= 2500 && a.iter().all(|x| x.as_str().is_some_and(|x| !x.is_empty()))
            });
            if !ok {
                return Err(
                    "inferenceConfig.stopSequences must be an array of non-empty strings.".into(),
                );
            }
        }
    }
    match obj.get("toolConfig") {
        None if has_tool_blocks => {
            return Err("The toolConfig field must be defined when using toolUse and toolResult content blocks.".into())
        }
        None => {}
        Some(tc) => {
            let tc = tc.as_object().ok_or("toolConfig must be an object.")?;
            only_keys(tc, "toolConfig", &["tools", "toolChoice"])?;
            let tools = tc.get("tools").and_then(Value::as_array).filter(|t| !t.is_empty()).ok_or("toolConfig.tools must be a non-empty array.")?;
            let mut names = Vec::new();
            for (i, t) in tools.iter().enumerate() {
                let at = format!("toolConfig.tools.{i}");
                let (k, spec) = union_key(t, &at, &["toolSpec", "cachePoint"])?;
                if k != "toolSpec" {
                    continue;
                }
                let spec = spec.as_object().ok_or_else(|| format!("{at}.toolSpec must be an object."))?;
                only_keys(spec, &format!("{at}.toolSpec"), &["name", "description", "inputSchema"])?;
                let name = spec.get("name").and_then(Value::as_str).unwrap_or("");
                if !valid_tool_name(name) {
                    return Err(format!("Value '{name}' at '{at}.toolSpec.name' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+"));
                }
                if spec.get("description").is_some_and(|d| d.as_str().is_none_or(str::is_empty)) {
                    return Err(format!("{at}.toolSpec.description must be a non-empty string."));
                }
                let (sk, schema) = union_key(spec.get("inputSchema").unwrap_or(&Value::Null), &format!("{at}.toolSpec.inputSchema"), &["json"])?;
                if sk != "json" || schema.get("type").and_then(Value::as_str) != Some("object") {
                    return Err(format!("{at}.toolSpec.inputSchema.json must be a JSON schema of type object."));
                }
                names.push(name);
            }
            if let Some(choice) = tc.get("toolChoice") {
                let (k, v) = union_key(choice, "toolConfig.toolChoice", &["auto", "any", "tool"])?;
                if k == "tool" {
                    let name = v.get("name").and_then(Value::as_str).unwrap_or("");
                    if !names.contains(&name) {
                        return Err(format!("toolConfig.toolChoice.tool.name '{name}' is not one of the tools."));
                    }
                } else if v.as_object().is_none_or(|o| !o.is_empty()) {
                    return Err(format!("toolConfig.toolChoice.{k} must be an empty object."));
                }
                if k != "auto" && !claude {
                    return Err("This model doesn't support the toolConfig.toolChoice.any field. Remove toolConfig.toolChoice.any and try again.".into());
                }
            }
        }
    }
    if let Some(extra) = obj.get("additionalModelRequestFields") {
        let extra = extra
            .as_object()
            .ok_or("additionalModelRequestFields must be an object.")?;
        if !claude {
            if let Some(k) = extra.keys().next() {
                return Err(format!("Malformed input request: #: extraneous key [{k}] is not permitted, please reformat your input and try again."));
            }
        }
        only_keys(
            extra,
            "additionalModelRequestFields",
            &["top_k", "thinking", "anthropic_beta"],
        )?;
        if let Some(thinking) = extra.get("thinking") {
            let budget = thinking
                .get("budget_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            if thinking.get("type").and_then(Value::as_str) != Some("enabled") || budget < 1024 {
                return Err(
                    "thinking.budget_tokens: Input should be greater than or equal to 1024".into(),
                );
            }
            let max = obj["inferenceConfig"]["maxTokens"].as_u64().unwrap_or(4096);
            if max <= budget {
                return Err("`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size".into());
            }
            if obj["inferenceConfig"]
                .get("temperature")
                .is_some_and(|t| t.as_f64() != Some(1.0))
            {
                return Err("`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking#important-considerations-when-using-extended-thinking".into());
            }
            if extra.contains_key("top_k") {
                return Err("`top_k` must be unset when thinking is enabled.".into());
            }
        }
    }
    Ok(())
}
