//! Complete answers: the object Responses clients get, and reading OpenAI's.

use crate::responses::{decode_response, encode_response};
use crate::signature;
use crate::ResponseMeta;
use lmrelay_ir::{ChatResponse, ContentPart, ErrorKind, FinishReason, Usage};
use serde_json::{json, Value};

fn meta() -> ResponseMeta {
    ResponseMeta {
        model: "client-model".into(),
        started_ms: 1_767_000_000_000,
        ..ResponseMeta::default()
    }
}

fn encoded(resp: &ChatResponse) -> Value {
    serde_json::from_slice(&encode_response(resp, &meta(), 1_767_000_004_000)).expect("json")
}

fn usage() -> Usage {
    Usage {
        input: 812,
        output: 95,
        cache_read: 512,
        cache_write: 0,
        reasoning: Some(64),
    }
}

#[test]
fn an_answer_becomes_output_items_in_order() {
    let v = encoded(&ChatResponse {
        id: "chatcmpl-1".into(),
        model: "up".into(),
        content: vec![
            ContentPart::Reasoning {
                text: "plan".into(),
                signature: Some(signature::openai("gAAAA")),
            },
            ContentPart::text("Check"),
            ContentPart::text("ing."),
            ContentPart::ToolCall {
                id: "call_1".into(),
                name: "get_weather".into(),
                arguments: "{\"city\":\"Paris\"}".into(),
                cache_control: None,
            },
        ],
        finish: FinishReason::Stop,
        stop_sequence: None,
        usage: usage(),
    });
    assert!(v["id"].as_str().is_some_and(|id| id.starts_with("resp_")));
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["model"], "client-model");
    assert_eq!(v["created_at"], 1_767_000_000);
    assert_eq!(v["completed_at"], 1_767_000_004);
    for required in [
        "parallel_tool_calls",
        "tool_choice",
        "tools",
        "error",
        "incomplete_details",
        "instructions",
        "metadata",
        "temperature",
        "top_p",
    ] {
        assert!(v.get(required).is_some(), "{required}");
    }
    assert!(
        v.get("output_text").is_none(),
        "an SDK property, never a wire field"
    );
    let out = v["output"].as_array().expect("output");
    assert_eq!(out.len(), 3);
    assert_eq!(out[0]["type"], "reasoning");
    assert_eq!(
        out[0]["summary"],
        json!([{"type": "summary_text", "text": "plan"}])
    );
    assert_eq!(
        out[0]["encrypted_content"], "gAAAA",
        "OpenAI's value goes back byte-exact"
    );
    assert_eq!(out[1]["type"], "message");
    assert_eq!(
        out[1]["content"],
        json!([{"type": "output_text", "text": "Checking.", "annotations": []}])
    );
    assert_eq!(out[2]["type"], "function_call");
    assert_eq!(out[2]["call_id"], "call_1");
    assert!(out[2]["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("fc_")));
    assert_eq!(out[2]["status"], "completed");
    assert_eq!(
        v["usage"],
        json!({"input_tokens": 812, "input_tokens_details": {"cached_tokens": 512},
        "output_tokens": 95, "output_tokens_details": {"reasoning_tokens": 64}, "total_tokens": 907})
    );
}

#[test]
fn length_and_filter_are_incomplete() {
    for (finish, reason) in [
        (FinishReason::Length, "max_output_tokens"),
        (FinishReason::ContentFilter, "content_filter"),
    ] {
        let v = encoded(&ChatResponse {
            finish,
            content: vec![ContentPart::text("x")],
            ..ChatResponse::default()
        });
        assert_eq!(v["status"], "incomplete");
        assert_eq!(v["incomplete_details"]["reason"], reason);
        assert!(v.get("completed_at").is_none());
    }
}

#[test]
fn anthropic_signatures_are_tagged_for_the_client_and_come_back_bare() {
    let v = encoded(&ChatResponse {
        content: vec![ContentPart::Reasoning {
            text: "t".into(),
            signature: Some("EqQBsig".into()),
        }],
        ..ChatResponse::default()
    });
    let enc = v["output"][0]["encrypted_content"]
        .as_str()
        .expect("enc")
        .to_owned();
    assert_eq!(enc, "anthropic:EqQBsig");
    let back = crate::responses::decode_request(
        json!({"model": "m", "input": [{"role": "user", "content": "q"},
            {"type": "reasoning", "summary": [], "encrypted_content": enc}]})
        .to_string()
        .as_bytes(),
    )
    .expect("decodes");
    assert_eq!(
        back.messages[1].content[0],
        ContentPart::Reasoning {
            text: String::new(),
            signature: Some("EqQBsig".into())
        }
    );
}

#[test]
fn openai_answers_decode() {
    let body = json!({"id": "resp_1", "object": "response", "created_at": 1, "status": "completed", "model": "gpt-5",
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "a"}, {"type": "summary_text", "text": "b"}], "encrypted_content": "gAAA"},
            {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": [{"type": "output_text", "text": "hi", "annotations": []}]},
            {"type": "web_search_call", "id": "ws_1", "status": "completed"},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": "{}", "status": "completed"}
        ],
        "usage": {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4}, "output_tokens": 7, "output_tokens_details": {"reasoning_tokens": 3}, "total_tokens": 17}});
    let r = decode_response(body.to_string().as_bytes()).expect("decodes");
    assert_eq!(r.id, "resp_1");
    assert_eq!(r.finish, FinishReason::ToolCalls);
    assert_eq!(
        r.content[0],
        ContentPart::Reasoning {
            text: "a\n\nb".into(),
            signature: Some(signature::openai("gAAA"))
        }
    );
    assert_eq!(r.content[1], ContentPart::text("hi"));
    assert!(matches!(&r.content[2], ContentPart::ToolCall { id, .. } if id == "call_1"));
    assert_eq!(
        r.usage,
        Usage {
            input: 10,
            output: 7,
            cache_read: 4,
            cache_write: 0,
            reasoning: Some(3)
        }
    );
}

#[test]
fn failed_and_incomplete_openai_answers() {
    let failed = json!({"id": "resp_1", "status": "failed", "model": "m", "output": [],
        "error": {"code": "rate_limit_exceeded", "message": "slow down"}});
    let e = decode_response(failed.to_string().as_bytes()).expect_err("failed");
    assert_eq!(e.kind, ErrorKind::RateLimited);
    assert_eq!(e.code.as_deref(), Some("rate_limit_exceeded"));
    let inc = json!({"id": "resp_1", "status": "incomplete", "model": "m", "output": [],
        "incomplete_details": {"reason": "max_output_tokens"}});
    assert_eq!(
        decode_response(inc.to_string().as_bytes())
            .expect("ok")
            .finish,
        FinishReason::Length
    );
    assert_eq!(
        decode_response(b"<html>").expect_err("junk").kind,
        ErrorKind::BadGateway
    );
}

#[test]
fn a_call_of_a_namespaced_tool_goes_back_with_its_namespace() {
    let resp = ChatResponse {
        id: "chatcmpl-1".into(),
        model: "up".into(),
        content: vec![
            ContentPart::ToolCall {
                id: "call_1".into(),
                name: "multi_agent_v1__close_agent".into(),
                arguments: "{}".into(),
                cache_control: None,
            },
            ContentPart::ToolCall {
                id: "call_2".into(),
                name: "exec_command".into(),
                arguments: "{}".into(),
                cache_control: None,
            },
        ],
        finish: FinishReason::ToolCalls,
        usage: usage(),
        ..ChatResponse::default()
    };
    let meta = ResponseMeta {
        tool_namespaces: vec!["multi_agent_v1".into()],
        ..meta()
    };
    let v: Value =
        serde_json::from_slice(&encode_response(&resp, &meta, 1_767_000_004_000)).expect("json");
    assert_eq!(v["output"][0]["name"], "close_agent");
    assert_eq!(v["output"][0]["namespace"], "multi_agent_v1");
    assert_eq!(v["output"][1]["name"], "exec_command");
    assert!(v["output"][1].get("namespace").is_none());
}
