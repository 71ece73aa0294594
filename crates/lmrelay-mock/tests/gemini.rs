//! Gemini flavor: answers, SSE chunks, thinking and signatures, tools, auth, strict
//! validation, faults, embeddings, countTokens and models.
#![allow(clippy::unwrap_used)]

mod common;

use common::{get, json, parse_sse, post, read_chunks};
use lmrelay_mock::{spawn, Flavor, MockConfig, MockServer};
use serde_json::{json, Value};

const KEY: (&str, &str) = ("x-goog-api-key", "AIza-test");

async fn server(cache: u64) -> MockServer {
    spawn(
        Flavor::Gemini,
        MockConfig {
            cache_read_tokens: cache,
            keys: vec!["AIza-test".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

fn url(s: &MockServer, model: &str, method: &str) -> String {
    format!("{}/v1beta/models/{model}:{method}", s.base_url())
}

fn body(extra: Value) -> Value {
    let mut b = json!({"contents": [{"role": "user", "parts": [{"text": "hello world"}]}],
                       "systemInstruction": {"parts": [{"text": "be brief"}]}});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

fn tools() -> Value {
    json!([{"functionDeclarations": [{"name": "get_weather", "description": "w",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]}])
}

async fn generate(s: &MockServer, model: &str, b: &Value) -> (u16, Value) {
    let (st, _, t) = post(&url(s, model, "generateContent"), &[KEY], b).await;
    (st, json(&t))
}

#[tokio::test]
async fn answer_shape_and_usage() {
    let s = server(7).await;
    let (st, h, t) = post(
        &url(&s, "gemini-2.5-flash", "generateContent"),
        &[KEY],
        &body(json!({})),
    )
    .await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(h["content-type"], "application/json; charset=UTF-8");
    let v = json(&t);
    let c = &v["candidates"][0];
    assert_eq!(
        c["content"],
        json!({"parts": [{"text": "echo: hello world"}], "role": "model"})
    );
    assert_eq!(c["finishReason"], "STOP");
    assert_eq!(v["modelVersion"], "gemini-2.5-flash");
    assert!(v["responseId"].as_str().is_some_and(|i| !i.is_empty()));
    // 19 chars -> 5 tokens, plus 7 cached (included in the prompt count).
    let u = &v["usageMetadata"];
    assert_eq!(u["promptTokenCount"], 12);
    assert_eq!(u["cachedContentTokenCount"], 7);
    assert_eq!(u["candidatesTokenCount"], 3);
    assert_eq!(u["totalTokenCount"], 15);
    assert!(u.get("thoughtsTokenCount").is_none());

    let (_, v) = generate(
        &s,
        "gemini-2.5-flash",
        &body(json!({"generationConfig": {"maxOutputTokens": 2}})),
    )
    .await;
    assert_eq!(v["candidates"][0]["finishReason"], "MAX_TOKENS");
    assert_eq!(
        v["candidates"][0]["content"]["parts"][0]["text"],
        "echo: hello"
    );
    // The key may also come as ?key=.
    let (st, _, _) = post(
        &format!(
            "{}?key=AIza-test",
            url(&s, "gemini-2.5-flash", "generateContent")
        ),
        &[],
        &body(json!({})),
    )
    .await;
    assert_eq!(st, 200);
}

#[tokio::test]
async fn stream_chunks_are_whole_responses() {
    let s = server(0).await;
    let b = body(json!({"generationConfig": {"thinkingConfig": {"includeThoughts": true}}}));
    let resp = common::client()
        .post(format!(
            "{}?alt=sse",
            url(&s, "gemini-2.5-flash", "streamGenerateContent")
        ))
        .header(KEY.0, KEY.1)
        .header("content-type", "application/json")
        .body(b.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let (chunks, failed) = read_chunks(resp).await;
    assert!(!failed);
    let text = String::from_utf8(chunks.concat()).unwrap();
    assert!(
        text.starts_with("data: {") && text.ends_with("}\r\n\r\n"),
        "{text}"
    );
    let events: Vec<Value> = parse_sse(&text).iter().map(|e| e.json()).collect();
    assert!(events.len() > 3);
    let (mut thought, mut answer) = (String::new(), String::new());
    for (i, e) in events.iter().enumerate() {
        let c = &e["candidates"][0];
        assert_eq!(e["responseId"], events[0]["responseId"]);
        assert_eq!(c["finishReason"].is_string(), i + 1 == events.len(), "{e}");
        for p in c["content"]["parts"].as_array().unwrap() {
            if p["thought"] == true {
                thought.push_str(p["text"].as_str().unwrap());
            } else {
                answer.push_str(p["text"].as_str().unwrap());
            }
        }
    }
    assert_eq!(thought, "Thinking about: hello world");
    assert_eq!(answer, "echo: hello world");
    let last = events.last().unwrap();
    // The signature sits on the last part when there is no function call.
    assert!(last["candidates"][0]["content"]["parts"][0]["thoughtSignature"].is_string());
    assert_eq!(last["usageMetadata"]["thoughtsTokenCount"], 4);
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 3);
    assert!(events[0]["usageMetadata"]
        .get("candidatesTokenCount")
        .is_none());

    // Without alt=sse the stream is one JSON array.
    let (st, _, t) = post(
        &url(&s, "gemini-2.5-flash", "streamGenerateContent"),
        &[KEY],
        &body(json!({})),
    )
    .await;
    assert_eq!(st, 200);
    assert!(json(&t).as_array().is_some_and(|a| a.len() >= 2), "{t}");
}

#[tokio::test]
async fn tools_calls_and_results() {
    let s = server(0).await;
    let (st, v) = generate(&s, "gemini-2.5-flash", &body(json!({"tools": tools()}))).await;
    assert_eq!(st, 200, "{v}");
    let parts = &v["candidates"][0]["content"]["parts"];
    assert_eq!(
        parts,
        &json!([{"functionCall": {"name": "get_weather", "args": {"city": "hello world"}}}])
    );
    assert_eq!(v["candidates"][0]["finishReason"], "STOP");
    // NONE: no call.
    let (_, v) = generate(
        &s,
        "gemini-2.5-flash",
        &body(json!({"tools": tools(),
        "toolConfig": {"functionCallingConfig": {"mode": "NONE"}}})),
    )
    .await;
    assert_eq!(
        v["candidates"][0]["content"]["parts"][0]["text"],
        "echo: hello world"
    );
    // The result turn.
    let follow = json!({"contents": [
        {"role": "user", "parts": [{"text": "Paris?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "11 degrees"}}}]}],
        "tools": tools()});
    let (st, v) = generate(&s, "gemini-2.5-flash", &follow).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["candidates"][0]["content"]["parts"][0]["text"],
        "tool result: 11 degrees"
    );
    // A response count that does not match the calls is refused.
    let mut bad = follow.clone();
    bad["contents"][2]["parts"] = json!([
        {"functionResponse": {"name": "get_weather", "response": {"result": "a"}}},
        {"functionResponse": {"name": "get_weather", "response": {"result": "b"}}}]);
    let (st, v) = generate(&s, "gemini-2.5-flash", &bad).await;
    assert_eq!(st, 400);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("number of function response parts"));
}

#[tokio::test]
async fn gemini_3_signs_calls_and_checks_them_on_replay() {
    let s = server(0).await;
    let (_, v) = generate(&s, "gemini-3-pro-preview", &body(json!({"tools": tools()}))).await;
    let call = v["candidates"][0]["content"]["parts"][0].clone();
    let sig = call["thoughtSignature"].as_str().unwrap().to_string();
    let replay = |part: Value| {
        json!({"contents": [
            {"role": "user", "parts": [{"text": "hello world"}]},
            {"role": "model", "parts": [part]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "11"}}}]}],
            "tools": tools()})
    };
    let (st, v) = generate(&s, "gemini-3-pro-preview", &replay(call.clone())).await;
    assert_eq!(st, 200, "{v}");
    let mut unsigned = call.clone();
    unsigned.as_object_mut().unwrap().remove("thoughtSignature");
    let (st, v) = generate(&s, "gemini-3-pro-preview", &replay(unsigned.clone())).await;
    assert_eq!(st, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing a thought_signature"),
        "{v}"
    );
    let mut skip = unsigned.clone();
    skip["thoughtSignature"] = json!("skip_thought_signature_validator");
    assert_eq!(
        generate(&s, "gemini-3-pro-preview", &replay(skip)).await.0,
        200
    );
    let mut forged = unsigned;
    forged["thoughtSignature"] = json!("Zm9yZ2Vk");
    assert_eq!(
        generate(&s, "gemini-3-pro-preview", &replay(forged))
            .await
            .0,
        400
    );
    assert!(sig.starts_with("c2ln"));
    // Gemini 2.5 does not check.
    let mut plain = call;
    plain.as_object_mut().unwrap().remove("thoughtSignature");
    assert_eq!(
        generate(&s, "gemini-2.5-flash", &replay(plain)).await.0,
        200
    );
}

#[tokio::test]
async fn validation_is_strict() {
    let s = server(0).await;
    let cases = [
        (json!({"contents": [], }), "contents is not specified"),
        (body(json!({"bogus": 1})), "Unknown name \"bogus\""),
        (
            json!({"contents": [{"role": "user", "parts": []}]}),
            "must not be empty",
        ),
        (
            json!({"contents": [{"role": "user", "parts": [{"text": ""}]}]}),
            "empty text parameter",
        ),
        (
            json!({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}),
            "valid role",
        ),
        (
            json!({"contents": [{"role": "user", "parts": [{"text": "x", "inlineData": {"mimeType": "image/png", "data": "AA=="}}]}]}),
            "oneof",
        ),
        (
            json!({"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": "not base64!"}}]}]}),
            "Base64",
        ),
        (
            json!({"contents": [{"role": "user", "parts": [{"functionResponse": {"name": "f", "response": "x"}}]}]}),
            "protobuf.Struct",
        ),
        (
            body(
                json!({"tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "object", "additionalProperties": false, "properties": {"a": {"type": "string"}}}}]}]}),
            ),
            "Unknown name \"additionalProperties\"",
        ),
        (
            body(
                json!({"tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": ["string", "null"]}}}}]}]}),
            ),
            "Proto field is not repeating",
        ),
        (
            body(
                json!({"tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "array"}}}}]}]}),
            ),
            "items: missing field",
        ),
        (
            body(
                json!({"tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "object", "properties": {}}}]}]}),
            ),
            "should be non-empty for OBJECT type",
        ),
        (
            body(json!({"tools": [{"functionDeclarations": [{"name": "1f"}]}]})),
            "Invalid function name",
        ),
        (
            body(
                json!({"tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "string", "format": "email"}}}}]}]}),
            ),
            "only 'enum' and 'date-time'",
        ),
        (
            body(json!({"generationConfig": {"temperature": 3}})),
            "temperature",
        ),
        (
            body(
                json!({"generationConfig": {"responseSchema": {"type": "object", "properties": {"a": {"type": "string"}}}}}),
            ),
            "response_mime_type",
        ),
        (
            body(json!({"generationConfig": {"thinkingConfig": {"budget": 5}}})),
            "Unknown name \"budget\"",
        ),
        (
            body(
                json!({"toolConfig": {"functionCallingConfig": {"mode": "AUTO", "allowedFunctionNames": ["f"]}}}),
            ),
            "allowed_function_names",
        ),
    ];
    for (b, want) in cases {
        let (st, v) = generate(&s, "gemini-2.5-flash", &b).await;
        assert_eq!(st, 400, "{b} -> {v}");
        assert_eq!(v["error"]["status"], "INVALID_ARGUMENT", "{v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(want), "{b}: {msg}");
    }
    // Thinking options a model cannot take.
    let think = |budget: i64| {
        body(json!({"generationConfig": {"thinkingConfig": {"thinkingBudget": budget}}}))
    };
    assert_eq!(generate(&s, "gemini-2.0-flash", &think(1024)).await.0, 400);
    assert_eq!(generate(&s, "gemini-2.5-pro", &think(0)).await.0, 400);
    assert_eq!(generate(&s, "gemini-2.5-flash", &think(0)).await.0, 200);
    // Gemini 2 takes JSON mode or function calling, not both.
    let both = body(
        json!({"tools": tools(), "generationConfig": {"responseMimeType": "application/json"}}),
    );
    let (st, v) = generate(&s, "gemini-2.5-flash", &both).await;
    assert_eq!(st, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mime type"),
        "{v}"
    );
    assert_eq!(generate(&s, "gemini-3-pro-preview", &both).await.0, 200);
}

#[tokio::test]
async fn auth_models_and_unknown_models() {
    let s = server(0).await;
    let (st, _, t) = post(
        &url(&s, "gemini-2.5-flash", "generateContent"),
        &[],
        &body(json!({})),
    )
    .await;
    assert_eq!(st, 403);
    assert_eq!(json(&t)["error"]["status"], "PERMISSION_DENIED");
    let (st, _, t) = post(
        &url(&s, "gemini-2.5-flash", "generateContent"),
        &[("x-goog-api-key", "wrong")],
        &body(json!({})),
    )
    .await;
    assert_eq!(st, 400);
    let v = json(&t);
    assert_eq!(v["error"]["details"][0]["reason"], "API_KEY_INVALID");
    let (st, v) = generate(&s, "gemini-9", &body(json!({}))).await;
    assert_eq!(st, 404);
    assert_eq!(v["error"]["status"], "NOT_FOUND");
    // An embedding model does not generate.
    assert_eq!(
        generate(&s, "text-embedding-004", &body(json!({}))).await.0,
        404
    );

    let (st, _, t) = get(&format!("{}/v1beta/models", s.base_url()), &[KEY]).await;
    assert_eq!(st, 200);
    let v = json(&t);
    let names: Vec<&str> = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"models/gemini-2.5-flash"), "{names:?}");
    let (st, _, t) = get(
        &format!("{}/v1beta/models/gemini-2.5-flash", s.base_url()),
        &[KEY],
    )
    .await;
    assert_eq!(st, 200);
    assert!(json(&t)["supportedGenerationMethods"]
        .as_array()
        .unwrap()
        .contains(&json!("generateContent")));
}

#[tokio::test]
async fn faults_use_google_error_bodies() {
    let s = server(0).await;
    s.faults().fail_next(429, 1, Some(3));
    let (st, v) = generate(&s, "gemini-2.5-flash", &body(json!({}))).await;
    assert_eq!(st, 429);
    assert_eq!(v["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(v["error"]["code"], 429);
    assert_eq!(v["error"]["details"][0]["retryDelay"], "3s");
    s.faults().fail_next(503, 1, None);
    let (st, v) = generate(&s, "gemini-2.5-flash", &body(json!({}))).await;
    assert_eq!(st, 503);
    assert_eq!(v["error"]["status"], "UNAVAILABLE");
    assert_eq!(
        generate(&s, "gemini-2.5-flash", &body(json!({}))).await.0,
        200
    );

    s.faults().set_stream_error_after(Some(1));
    let (st, _, t) = post(
        &format!(
            "{}?alt=sse",
            url(&s, "gemini-2.5-flash", "streamGenerateContent")
        ),
        &[KEY],
        &body(json!({})),
    )
    .await;
    assert_eq!(st, 200);
    let events = parse_sse(&t);
    assert_eq!(events.len(), 2, "{t}");
    assert_eq!(events[1].json()["error"]["status"], "UNAVAILABLE");
}

#[tokio::test]
async fn embeddings_and_count_tokens() {
    let s = server(0).await;
    let (st, _, t) = post(
        &url(&s, "text-embedding-004", "embedContent"),
        &[KEY],
        &json!({"content": {"parts": [{"text": "hi"}]}, "outputDimensionality": 4}),
    )
    .await;
    assert_eq!(st, 200, "{t}");
    let one = json(&t)["embedding"]["values"].clone();
    assert_eq!(one.as_array().unwrap().len(), 4);
    let (st, _, t) = post(
        &url(&s, "text-embedding-004", "batchEmbedContents"),
        &[KEY],
        &json!({"requests": [
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "hi"}]}, "outputDimensionality": 4},
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "there"}]}}]}),
    )
    .await;
    assert_eq!(st, 200, "{t}");
    let v = json(&t);
    assert_eq!(v["embeddings"][0]["values"], one);
    assert_eq!(v["embeddings"][1]["values"].as_array().unwrap().len(), 8);
    let (st, _, _) = post(
        &url(&s, "text-embedding-004", "batchEmbedContents"),
        &[KEY],
        &json!({"requests": [{"model": "models/other", "content": {"parts": [{"text": "hi"}]}}]}),
    )
    .await;
    assert_eq!(st, 400);

    let (st, _, t) = post(
        &url(&s, "gemini-2.5-flash", "countTokens"),
        &[KEY],
        &json!({"contents": [{"role": "user", "parts": [{"text": "hello world"}]}]}),
    )
    .await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(json(&t)["totalTokens"], 3);
    let (st, _, t) = post(
        &url(&s, "gemini-2.5-flash", "countTokens"),
        &[KEY],
        &json!({"generateContentRequest": {"model": "models/gemini-2.5-flash",
            "contents": [{"role": "user", "parts": [{"text": "hello world"}]}],
            "systemInstruction": {"parts": [{"text": "be brief"}]}}}),
    )
    .await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(json(&t)["totalTokens"], 5);
}
