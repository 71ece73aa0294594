//! `decode_response` and the other endpoints' answers.

use crate::gemini::{
    decode_count_tokens, decode_embed_response, decode_models, decode_response,
    encode_embed_request,
};
use crate::signature::{gemini_part, gemini_thought};
use lmrelay_ir::{ContentPart, EmbedInput, EmbedRequest, ErrorKind, FinishReason, Usage};
use serde_json::json;

fn decode(v: serde_json::Value) -> lmrelay_ir::ChatResponse {
    decode_response(v.to_string().as_bytes()).expect("decodes")
}

#[test]
fn text_thoughts_calls_signatures_and_usage() {
    let resp = decode(json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "Let me think.", "thought": true},
            {"text": "Calling tool."},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"},
            {"functionCall": {"id": "fc-7", "name": "get_time", "args": {}}}
        ]}, "finishReason": "STOP", "index": 0, "safetyRatings": []}],
        "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 12, "thoughtsTokenCount": 30,
            "cachedContentTokenCount": 100, "totalTokenCount": 162},
        "modelVersion": "gemini-2.5-flash", "responseId": "resp-1"
    }));
    assert_eq!(resp.id, "resp-1");
    assert_eq!(resp.model, "gemini-2.5-flash");
    assert_eq!(resp.finish, FinishReason::ToolCalls);
    assert_eq!(
        resp.usage,
        Usage {
            input: 120,
            output: 42,
            cache_read: 100,
            cache_write: 0,
            reasoning: Some(30)
        }
    );
    let ContentPart::ToolCall { id: made, .. } = &resp.content[3] else {
        panic!("{:?}", resp.content)
    };
    assert!(made.starts_with("call_") && made.len() == 29, "{made}");
    assert_eq!(
        resp.content,
        vec![
            ContentPart::Reasoning {
                text: "Let me think.".into(),
                signature: None
            },
            ContentPart::text("Calling tool."),
            ContentPart::Reasoning {
                text: String::new(),
                signature: Some(gemini_part("c2ln"))
            },
            ContentPart::ToolCall {
                id: made.clone(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into(),
                cache_control: None
            },
            ContentPart::ToolCall {
                id: "fc-7".into(),
                name: "get_time".into(),
                arguments: "{}".into(),
                cache_control: None
            },
        ]
    );
    // The made-up id is stable for the same response.
    let again = decode(
        json!({"responseId": "resp-1", "candidates": [{"content": {"parts": [
        {"text": "x"}, {"text": "y"}, {"functionCall": {"name": "get_weather", "args": {}}}]}}]}),
    );
    assert!(matches!(&again.content[2], ContentPart::ToolCall { id, .. } if id == made));
}

#[test]
fn a_signed_thought_keeps_its_signature() {
    let resp = decode(json!({"candidates": [{"content": {"parts": [
        {"text": "Plan.", "thought": true, "thoughtSignature": "dGg="},
        {"text": "Answer.", "thoughtSignature": "YW4="}]}, "finishReason": "STOP"}]}));
    assert_eq!(
        resp.content,
        vec![
            ContentPart::Reasoning {
                text: "Plan.".into(),
                signature: Some(gemini_thought("dGg="))
            },
            ContentPart::Reasoning {
                text: String::new(),
                signature: Some(gemini_part("YW4="))
            },
            ContentPart::text("Answer."),
        ]
    );
    assert_eq!(resp.finish, FinishReason::Stop);
    assert_eq!(resp.usage, Usage::default());
}

#[test]
fn finish_reasons() {
    let cases = [
        ("STOP", FinishReason::Stop),
        ("MAX_TOKENS", FinishReason::Length),
        ("SAFETY", FinishReason::ContentFilter),
        ("RECITATION", FinishReason::ContentFilter),
        ("BLOCKLIST", FinishReason::ContentFilter),
        ("PROHIBITED_CONTENT", FinishReason::ContentFilter),
        ("SPII", FinishReason::ContentFilter),
        ("MALFORMED_FUNCTION_CALL", FinishReason::Stop),
        ("SOMETHING_NEW", FinishReason::Stop),
    ];
    for (wire, want) in cases {
        let resp = decode(
            json!({"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": wire}]}),
        );
        assert_eq!(resp.finish, want, "{wire}");
    }
    // A safety stop may come without any content.
    let resp = decode(json!({"candidates": [{"finishReason": "SAFETY"}]}));
    assert!(resp.content.is_empty());
    assert_eq!(resp.finish, FinishReason::ContentFilter);
}

#[test]
fn a_blocked_prompt_is_a_content_filter_finish() {
    let resp = decode(
        json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
        "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9}}),
    );
    assert!(resp.content.is_empty());
    assert_eq!(resp.finish, FinishReason::ContentFilter);
    assert_eq!(resp.usage.input, 9);
}

#[test]
fn unreadable_answers_and_error_bodies_are_errors() {
    let err = decode_response(b"<html>").expect_err("not JSON");
    assert_eq!(err.kind, ErrorKind::BadGateway);
    let err = decode_response(
        br#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#,
    )
    .expect_err("an error body");
    assert_eq!(err.status, 503);
    assert_eq!(err.message, "The model is overloaded.");
}

#[test]
fn embeddings_count_tokens_and_models() {
    let req = EmbedRequest {
        model: "text-embedding-004".into(),
        input: EmbedInput::Texts(vec!["a".into(), "b".into()]),
        dimensions: Some(8),
        user: None,
        truncate: None,
    };
    let body: serde_json::Value =
        serde_json::from_slice(&encode_embed_request(&req, "text-embedding-004").expect("encodes"))
            .expect("JSON");
    assert_eq!(
        body,
        json!({"requests": [
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 8},
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 8}
        ]})
    );
    let tokens = EmbedRequest {
        input: EmbedInput::Tokens(vec![vec![1]]),
        ..req
    };
    assert_eq!(
        encode_embed_request(&tokens, "m")
            .expect_err("text only")
            .status,
        400
    );
    let resp = decode_embed_response(br#"{"embeddings":[{"values":[0.5,1]},{"values":[2]}]}"#)
        .expect("batch");
    assert_eq!(resp.vectors, vec![vec![0.5, 1.0], vec![2.0]]);
    let resp = decode_embed_response(br#"{"embedding":{"values":[3]}}"#).expect("single");
    assert_eq!(resp.vectors, vec![vec![3.0]]);
    assert!(decode_embed_response(b"{}").is_err());

    assert_eq!(
        decode_count_tokens(br#"{"totalTokens":31,"promptTokensDetails":[]}"#).expect("count"),
        31
    );
    assert!(decode_count_tokens(b"{}").is_err());

    let models = decode_models(
        br#"{"models":[
            {"name":"models/gemini-2.5-flash","supportedGenerationMethods":["generateContent","countTokens"]},
            {"name":"models/text-embedding-004","supportedGenerationMethods":["embedContent"]}],
            "nextPageToken":"x"}"#,
    )
    .expect("models");
    assert_eq!(models, vec!["gemini-2.5-flash".to_owned()]);
}
