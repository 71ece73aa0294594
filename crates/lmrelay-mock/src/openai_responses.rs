//! OpenAI flavor, Responses API: `POST /v1/responses`, non-streamed and streamed
//! (protocols.md §1.11), with OpenAI's validation of the parts a translation can break:
//! unknown (chat-only) parameters, flat function tools, every `function_call` answered by a
//! `function_call_output` and the reverse, `reasoning` only on reasoning models, and
//! reasoning items sent back with the `encrypted_content` this server made, byte-exact.
//!
//! Reasoning models (`o*`, `gpt-5*`) asked with `reasoning.effort` think: a reasoning item
//! with `encrypted_content` (when `include` asks for it) and, when `reasoning.summary` is
//! set, a summary. The stream is the documented event sequence with `sequence_number`s.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};
use std::sync::Arc;

use crate::openai::{
    bad_request, check_common, check_model, error, fault_response, invalid_json, is_stream,
    model_not_found, reasoning_model, type_name,
};
use crate::reply::{self, thinking_signature, Finish, Plan, PlanInput, ToolChoice, ToolDef};
use crate::server::{json_response, parse_json, Shared};
use crate::stream;
use crate::util::{fragments, new_id, unix_now, word_pieces};

/// The request fields the Responses API knows; anything else is an "Unknown parameter".
const KNOWN: &[&str] = &[
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning",
    "text",
    "max_output_tokens",
    "temperature",
    "top_p",
    "top_logprobs",
    "store",
    "stream",
    "stream_options",
    "include",
    "metadata",
    "previous_response_id",
    "truncation",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "service_tier",
    "background",
    "conversation",
    "prompt",
    "max_tool_calls",
    "client_metadata",
    "prompt_cache_retention",
];

/// The prefix of the `encrypted_content` this server makes.
const ENCRYPTED: &str = "gAAAAB";

pub(crate) async fn responses(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    if let Some(f) = s.gate().await {
        return fault_response(&f);
    }
    let Ok(req) = parse_json(&body) else {
        return invalid_json();
    };
    if let Err(resp) = validate(&req) {
        return resp;
    }
    let model = req["model"].as_str().unwrap_or_default().to_owned();
    if !s.knows_model(&model) {
        return model_not_found(&model);
    }
    let effort = req.pointer("/reasoning/effort").filter(|v| !v.is_null());
    if effort.is_some() && !reasoning_model(&model) {
        return bad_request(
            "Unsupported parameter: 'reasoning.effort' is not supported with this model.",
            Some("reasoning.effort"),
            Some("unsupported_parameter"),
        );
    }
    let thinking = effort.and_then(Value::as_str).is_some_and(|e| e != "none");
    let mut input = plan_input(&req);
    input.thinking = thinking;
    let plan = reply::plan(&input);
    let answer = Answer::new(&req, &model, plan, s.cache_read_tokens);
    if !is_stream(&req) {
        return json_response(StatusCode::OK, &answer.response("completed", true));
    }
    let events = answer.events();
    s.stall().await;
    let faults = s.faults.get();
    // An injected in-stream error takes the place (and the number) of event `n`.
    let error = json!({"type": "error", "code": "server_error",
        "message": "The server had an error while processing your request. Sorry about that!",
        "param": null, "sequence_number": faults.stream_error_after.unwrap_or(0)});
    stream::response(
        "text/event-stream; charset=utf-8",
        events,
        stream::sse_event("error", &error),
        &faults,
    )
}

// === validation ===

fn validate(req: &Value) -> Result<(), Response> {
    check_common(req)?;
    check_model(req)?;
    let obj = req.as_object().into_iter().flatten();
    if let Some((k, _)) = obj.into_iter().find(|(k, _)| !KNOWN.contains(&k.as_str())) {
        return Err(bad_request(
            &format!("Unknown parameter: '{k}'."),
            Some(k),
            Some("unknown_parameter"),
        ));
    }
    if req
        .get("previous_response_id")
        .is_some_and(|v| !v.is_null())
    {
        return Err(error(
            StatusCode::NOT_FOUND,
            "Previous response not found. Responses are not persisted by this mock.",
            "invalid_request_error",
            Some("previous_response_id"),
            Some("previous_response_not_found"),
        ));
    }
    for (i, t) in req["tools"].as_array().into_iter().flatten().enumerate() {
        if t["type"] == "function" && !t["name"].is_string() {
            let p = format!("tools[{i}].name");
            return Err(bad_request(
                &format!("Missing required parameter: '{p}'."),
                Some(&p),
                Some("missing_required_parameter"),
            ));
        }
    }
    match &req["input"] {
        Value::String(_) => Ok(()),
        Value::Array(items) => validate_items(items),
        Value::Null => Err(bad_request(
            "Missing required parameter: 'input'.",
            Some("input"),
            Some("missing_required_parameter"),
        )),
        other => Err(bad_request(
            &format!(
                "Invalid type for 'input': expected a string or an array, but got {} instead.",
                type_name(other)
            ),
            Some("input"),
            Some("invalid_type"),
        )),
    }
}

fn validate_items(items: &[Value]) -> Result<(), Response> {
    let mut calls: Vec<String> = Vec::new();
    let mut answered: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let missing = |f: &str| {
            let p = format!("input[{i}].{f}");
            bad_request(
                &format!("Missing required parameter: '{p}'."),
                Some(&p),
                Some("missing_required_parameter"),
            )
        };
        match item["type"].as_str().unwrap_or("message") {
            "message" => {
                let role = item["role"].as_str().ok_or_else(|| missing("role"))?;
                if !["user", "assistant", "system", "developer"].contains(&role) {
                    return Err(bad_request(
                        &format!("Invalid value: '{role}'. Supported values are: 'assistant', 'system', 'developer', and 'user'."),
                        Some(&format!("input[{i}].role")),
                        Some("invalid_value"),
                    ));
                }
                if item["content"].is_null() {
                    return Err(missing("content"));
                }
            }
            "function_call" => {
                let id = item["call_id"].as_str().ok_or_else(|| missing("call_id"))?;
                item["name"].as_str().ok_or_else(|| missing("name"))?;
                if !item["arguments"].is_string() {
                    return Err(missing("arguments"));
                }
                calls.push(id.to_owned());
            }
            "function_call_output" => {
                let id = item["call_id"].as_str().ok_or_else(|| missing("call_id"))?;
                if item["output"].is_null() {
                    return Err(missing("output"));
                }
                if !calls.iter().any(|c| c == id) {
                    return Err(bad_request(
                        &format!("No tool call found for function call output with call_id {id}."),
                        Some("input"),
                        None,
                    ));
                }
                answered.push(id.to_owned());
            }
            "reasoning" => match item["encrypted_content"].as_str() {
                Some(e) if e.starts_with(ENCRYPTED) => {}
                Some(_) => {
                    return Err(bad_request(
                        "The encrypted content for item could not be verified.",
                        Some(&format!("input[{i}].encrypted_content")),
                        Some("invalid_encrypted_content"),
                    ))
                }
                None => {
                    let id = item["id"].as_str().unwrap_or("rs_unknown");
                    return Err(error(
                        StatusCode::NOT_FOUND,
                        &format!("Item with id '{id}' not found. Items are not persisted when `store` is set to false. Try again with `store` set to true, or remove this item from your input."),
                        "invalid_request_error",
                        Some("input"),
                        None,
                    ));
                }
            },
            other => {
                return Err(bad_request(
                    &format!("Invalid value: '{other}'."),
                    Some(&format!("input[{i}].type")),
                    Some("invalid_value"),
                ))
            }
        }
    }
    if let Some(open) = calls.iter().find(|c| !answered.contains(c)) {
        return Err(bad_request(
            &format!("No tool output found for function call {open}."),
            Some("input"),
            None,
        ));
    }
    Ok(())
}

// === planning ===

/// The text of a message's content (a string, or its `input_text` / `output_text` parts).
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn plan_input(req: &Value) -> PlanInput {
    let items: Vec<Value> = match &req["input"] {
        Value::String(s) => vec![json!({"type": "message", "role": "user", "content": s})],
        Value::Array(a) => a.clone(),
        _ => vec![],
    };
    let is_message = |i: &Value| i["type"].as_str().unwrap_or("message") == "message";
    let instructions = req["instructions"].as_str().unwrap_or_default();
    let input_chars = instructions.chars().count()
        + items
            .iter()
            .filter(|i| is_message(i))
            .map(|i| content_text(&i["content"]).chars().count())
            .sum::<usize>();
    let last_user_text = items
        .iter()
        .rev()
        .find(|i| is_message(i) && i["role"] == "user")
        .map(|i| content_text(&i["content"]))
        .unwrap_or_default();
    let trailing: Vec<String> = items
        .iter()
        .rev()
        .take_while(|i| i["type"] == "function_call_output")
        .map(|i| content_text(&i["output"]))
        .collect();
    let tools = req["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["type"] == "function")
        .filter_map(|t| {
            Some(ToolDef {
                name: t["name"].as_str()?.to_owned(),
                first_property: reply::first_property(t.get("parameters")),
            })
        })
        .collect();
    let tool_choice = match &req["tool_choice"] {
        Value::String(s) if s == "none" => ToolChoice::None,
        Value::String(s) if s == "required" => ToolChoice::Required,
        Value::Object(o) => o
            .get("name")
            .and_then(Value::as_str)
            .map_or(ToolChoice::Auto, |n| ToolChoice::Named(n.to_owned())),
        _ => ToolChoice::Auto,
    };
    PlanInput {
        last_user_text,
        tool_results: (!trailing.is_empty()).then(|| trailing.into_iter().rev().collect()),
        tools,
        tool_choice,
        thinking: false,
        stop: vec![],
        max_tokens: req["max_output_tokens"].as_u64(),
        input_chars,
    }
}

// === answers ===

/// A planned answer with its ids, rendered as a response object or as a stream.
struct Answer {
    id: String,
    model: String,
    created: u64,
    plan: Plan,
    summary: bool,
    encrypted: bool,
    cache: u64,
    ids: [String; 3],
}

impl Answer {
    fn new(req: &Value, model: &str, plan: Plan, cache: u64) -> Self {
        let include = req["include"].as_array().into_iter().flatten();
        let encrypted = include
            .into_iter()
            .any(|v| v == "reasoning.encrypted_content");
        Answer {
            id: new_id("resp_", 32),
            model: model.to_owned(),
            created: unix_now(),
            summary: req
                .pointer("/reasoning/summary")
                .is_some_and(|v| !v.is_null()),
            encrypted,
            plan,
            cache,
            ids: [new_id("rs_", 32), new_id("msg_", 32), new_id("fc_", 32)],
        }
    }

    fn call_id(&self) -> String {
        format!("call_{}", &self.ids[2][3..27])
    }

    fn usage(&self) -> Value {
        let input = self.plan.input_tokens + self.cache;
        json!({"input_tokens": input, "input_tokens_details": {"cached_tokens": self.cache},
               "output_tokens": self.plan.output_tokens,
               "output_tokens_details": {"reasoning_tokens": self.plan.thinking_tokens},
               "total_tokens": input + self.plan.output_tokens})
    }

    /// The output items, finished (`done`) or as first added.
    fn items(&self, done: bool) -> Vec<Value> {
        let mut out = Vec::new();
        if let Some(thinking) = &self.plan.thinking {
            let mut item = json!({"type": "reasoning", "id": self.ids[0], "summary": []});
            if done && self.summary {
                item["summary"] = json!([{"type": "summary_text", "text": thinking}]);
            }
            if done && self.encrypted {
                item["encrypted_content"] =
                    json!(format!("{ENCRYPTED}{}", thinking_signature(thinking)));
            }
            out.push(item);
        }
        let status = if done { "completed" } else { "in_progress" };
        if let Some(call) = &self.plan.tool_call {
            let args = if done {
                call.arguments_json()
            } else {
                String::new()
            };
            out.push(
                json!({"type": "function_call", "id": self.ids[2], "call_id": self.call_id(),
                            "name": call.name, "arguments": args, "status": status}),
            );
        } else {
            let content = if done {
                json!([{"type": "output_text", "text": self.plan.text, "annotations": [], "logprobs": []}])
            } else {
                json!([])
            };
            out.push(
                json!({"type": "message", "id": self.ids[1], "role": "assistant",
                            "status": status, "content": content}),
            );
        }
        out
    }

    fn response(&self, status: &str, done: bool) -> Value {
        let length = self.plan.finish == Finish::Length;
        let status = if done && length { "incomplete" } else { status };
        json!({
            "id": self.id, "object": "response", "created_at": self.created,
            "completed_at": if status == "completed" { json!(unix_now()) } else { Value::Null },
            "status": status, "model": self.model, "error": null,
            "incomplete_details": if done && length { json!({"reason": "max_output_tokens"}) } else { Value::Null },
            "instructions": null, "metadata": {}, "parallel_tool_calls": true,
            "tool_choice": "auto", "tools": [], "temperature": 1.0, "top_p": 1.0,
            "output": if done { json!(self.items(true)) } else { json!([]) },
            "usage": if done { self.usage() } else { Value::Null },
            "store": false, "service_tier": "default"
        })
    }

    /// The whole event sequence.
    fn events(&self) -> Vec<Bytes> {
        let mut seq = 0u64;
        let mut out = Vec::new();
        let mut emit = |kind: &str, mut body: Value| {
            body["type"] = json!(kind);
            body["sequence_number"] = json!(seq);
            seq += 1;
            out.push(stream::sse_event(kind, &body));
        };
        emit(
            "response.created",
            json!({"response": self.response("in_progress", false)}),
        );
        emit(
            "response.in_progress",
            json!({"response": self.response("in_progress", false)}),
        );
        let added = self.items(false);
        for (index, (item, done)) in added.iter().zip(self.items(true)).enumerate() {
            let id = item["id"].clone();
            emit(
                "response.output_item.added",
                json!({"output_index": index, "item": item}),
            );
            let at = |extra: Value| {
                let mut v = json!({"item_id": id, "output_index": index});
                if let (Some(v), Value::Object(e)) = (v.as_object_mut(), extra) {
                    v.extend(e);
                }
                v
            };
            match item["type"].as_str() {
                Some("reasoning") if self.summary => {
                    let text = self.plan.thinking.clone().unwrap_or_default();
                    let part = |t: &str| json!({"type": "summary_text", "text": t});
                    emit(
                        "response.reasoning_summary_part.added",
                        at(json!({"summary_index": 0, "part": part("")})),
                    );
                    for piece in word_pieces(&text) {
                        emit(
                            "response.reasoning_summary_text.delta",
                            at(json!({"summary_index": 0, "delta": piece, "obfuscation": "x"})),
                        );
                    }
                    emit(
                        "response.reasoning_summary_text.done",
                        at(json!({"summary_index": 0, "text": text})),
                    );
                    emit(
                        "response.reasoning_summary_part.done",
                        at(json!({"summary_index": 0, "part": part(&text)})),
                    );
                }
                Some("message") => {
                    let text = &self.plan.text;
                    let part = |t: &str| json!({"type": "output_text", "text": t, "annotations": [], "logprobs": []});
                    emit(
                        "response.content_part.added",
                        at(json!({"content_index": 0, "part": part("")})),
                    );
                    for piece in word_pieces(text) {
                        emit(
                            "response.output_text.delta",
                            at(
                                json!({"content_index": 0, "delta": piece, "logprobs": [], "obfuscation": "x"}),
                            ),
                        );
                    }
                    emit(
                        "response.output_text.done",
                        at(json!({"content_index": 0, "text": text, "logprobs": []})),
                    );
                    emit(
                        "response.content_part.done",
                        at(json!({"content_index": 0, "part": part(text)})),
                    );
                }
                Some("function_call") => {
                    let args = done["arguments"].as_str().unwrap_or_default().to_owned();
                    for frag in fragments(&args) {
                        emit(
                            "response.function_call_arguments.delta",
                            at(json!({"delta": frag, "obfuscation": "x"})),
                        );
                    }
                    emit(
                        "response.function_call_arguments.done",
                        at(json!({"arguments": args})),
                    );
                }
                _ => {}
            }
            emit(
                "response.output_item.done",
                json!({"output_index": index, "item": done}),
            );
        }
        let last = self.response("completed", true);
        let kind = if last["status"] == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        emit(kind, json!({"response": last}));
        out
    }
}
