//! Bedrock flavor: SigV4 checked for real (wrong secret, service, time, token refused),
//! answers, the binary event-stream with valid CRCs, thinking and signatures for Claude,
//! tools, strict validation, faults and count-tokens.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::event_stream::HeaderValue;
use common::{client, json, read_chunks};
use lmrelay_mock::{spawn, FailNext, FaultSettings, Flavor, MockConfig, MockServer};
use serde_json::{json, Value};

const AKID: &str = "AKIAMOCK";
const SECRET: &str = "mock/secret+key";
const CLAUDE: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";
const HAIKU: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";
const NOVA: &str = "amazon.nova-lite-v1:0";

async fn server(cache: u64) -> MockServer {
    spawn(
        Flavor::Bedrock,
        MockConfig {
            cache_read_tokens: cache,
            keys: vec![
                format!("{AKID}:{SECRET}"),
                "TEMP:tsecret:tok3n".into(),
                "ABSKapikey".into(),
            ],
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

fn url(s: &MockServer, model: &str, op: &str) -> String {
    let encoded: String = model
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("{}/model/{encoded}/{op}", s.base_url())
}

struct Signer<'a> {
    akid: &'a str,
    secret: &'a str,
    token: Option<&'a str>,
    service: &'a str,
    time: SystemTime,
}

impl Default for Signer<'_> {
    fn default() -> Self {
        Signer {
            akid: AKID,
            secret: SECRET,
            token: None,
            service: "bedrock",
            time: SystemTime::now(),
        }
    }
}

/// Sends `body` signed as `signer` says; returns the response.
async fn send(url: &str, body: &Value, signer: Option<Signer<'_>>) -> reqwest::Response {
    let body = body.to_string();
    let mut req = http::Request::post(url)
        .header("content-type", "application/json")
        .header("host", url.split('/').nth(2).unwrap())
        .body(body.clone())
        .unwrap();
    if let Some(s) = signer {
        let identity: Identity =
            Credentials::new(s.akid, s.secret, s.token.map(str::to_owned), None, "test").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name(s.service)
            .time(s.time)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        let signable = SignableRequest::new(
            "POST",
            url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body.as_bytes()),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        instructions.apply_to_request_http1x(&mut req);
    }
    let mut r = client().post(url);
    for (k, v) in req.headers() {
        if k != "host" {
            r = r.header(k.as_str(), v.to_str().unwrap());
        }
    }
    r.body(body).send().await.unwrap()
}

async fn call(url: &str, body: &Value) -> (u16, reqwest::header::HeaderMap, String) {
    let resp = send(url, body, Some(Signer::default())).await;
    let status = resp.status().as_u16();
    let h = resp.headers().clone();
    (status, h, resp.text().await.unwrap())
}

fn hello(extra: Value) -> Value {
    let mut b = json!({"messages": [{"role": "user", "content": [{"text": "hello world"}]}],
                       "system": [{"text": "be brief"}]});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

fn tools() -> Value {
    json!({"tools": [{"toolSpec": {"name": "get_weather", "description": "w",
        "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}}}}]})
}

/// Decodes event-stream frames with the AWS SDK's own parser (CRCs checked).
fn frames(bytes: &[u8]) -> Vec<(String, String, Value)> {
    let mut buf = bytes::Bytes::copy_from_slice(bytes);
    let mut out = Vec::new();
    while !buf.is_empty() {
        let m = aws_smithy_eventstream::frame::read_message_from(&mut buf).unwrap();
        let h = |n: &str| {
            m.headers()
                .iter()
                .find(|h| h.name().as_str() == n)
                .and_then(|h| match h.value() {
                    HeaderValue::String(s) => Some(s.as_str().to_owned()),
                    _ => None,
                })
                .unwrap_or_default()
        };
        let kind = if h(":message-type") == "event" {
            h(":event-type")
        } else {
            h(":exception-type")
        };
        out.push((
            h(":message-type"),
            kind,
            serde_json::from_slice(m.payload()).unwrap(),
        ));
    }
    out
}

#[tokio::test]
async fn signatures_are_recomputed_and_checked() {
    let s = server(0).await;
    let u = url(&s, NOVA, "converse");
    let b = hello(json!({}));
    let status = |r: &reqwest::Response| r.status().as_u16();
    let err_type = |r: &reqwest::Response| {
        r.headers()["x-amzn-errortype"]
            .to_str()
            .unwrap()
            .split(':')
            .next()
            .unwrap()
            .to_owned()
    };

    let ok = send(&u, &b, Some(Signer::default())).await;
    assert_eq!(status(&ok), 200);
    assert!(ok.headers().contains_key("x-amzn-requestid"));

    let r = send(&u, &b, None).await;
    assert_eq!(
        (status(&r), err_type(&r)),
        (403, "MissingAuthenticationTokenException".into())
    );
    let r = send(
        &u,
        &b,
        Some(Signer {
            secret: "wrong",
            ..Signer::default()
        }),
    )
    .await;
    assert_eq!(
        (status(&r), err_type(&r)),
        (403, "InvalidSignatureException".into())
    );
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("signature we calculated does not match"));
    let r = send(
        &u,
        &b,
        Some(Signer {
            akid: "AKIAOTHER",
            ..Signer::default()
        }),
    )
    .await;
    assert_eq!(
        (status(&r), err_type(&r)),
        (403, "UnrecognizedClientException".into())
    );
    let r = send(
        &u,
        &b,
        Some(Signer {
            service: "bedrock-runtime",
            ..Signer::default()
        }),
    )
    .await;
    assert_eq!(
        (status(&r), err_type(&r)),
        (403, "InvalidSignatureException".into())
    );
    let hour_ago = SystemTime::now() - std::time::Duration::from_secs(3600);
    let r = send(
        &u,
        &b,
        Some(Signer {
            time: hour_ago,
            ..Signer::default()
        }),
    )
    .await;
    assert_eq!(status(&r), 403);
    assert!(r.text().await.unwrap().contains("Signature expired"));
    // Temporary credentials need their session token, signed.
    let temp = Signer {
        akid: "TEMP",
        secret: "tsecret",
        token: Some("tok3n"),
        ..Signer::default()
    };
    assert_eq!(status(&send(&u, &b, Some(temp)).await), 200);
    let no_token = Signer {
        akid: "TEMP",
        secret: "tsecret",
        ..Signer::default()
    };
    assert_eq!(status(&send(&u, &b, Some(no_token)).await), 403);
    // A body changed after signing.
    let signed_for_other = {
        let resp = client()
            .post(&u)
            .header("authorization", "AWS4-HMAC-SHA256 Credential=AKIAMOCK/20250101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000")
            .header("x-amz-date", "20250101T000000Z")
            .body(b.to_string())
            .send()
            .await
            .unwrap();
        resp.status().as_u16()
    };
    assert_eq!(signed_for_other, 403);
    // Bedrock API keys.
    let bearer = |k: &'static str| {
        client()
            .post(&u)
            .header("authorization", format!("Bearer {k}"))
            .body(b.to_string())
            .send()
    };
    assert_eq!(bearer("ABSKapikey").await.unwrap().status().as_u16(), 200);
    assert_eq!(bearer("nope").await.unwrap().status().as_u16(), 403);
}

#[tokio::test]
async fn answer_usage_and_stop_reasons() {
    let s = server(7).await;
    let (st, h, t) = call(
        &url(&s, NOVA, "converse"),
        &hello(json!({"inferenceConfig": {"maxTokens": 100}})),
    )
    .await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(h["content-type"], "application/json");
    let v = json(&t);
    assert_eq!(
        v["output"]["message"]["content"],
        json!([{"text": "echo: hello world"}])
    );
    assert_eq!(v["stopReason"], "end_turn");
    assert_eq!(v["usage"]["cacheReadInputTokens"], 7);
    let u = &v["usage"];
    assert_eq!(
        u["totalTokens"],
        u["inputTokens"].as_u64().unwrap() + 7 + u["outputTokens"].as_u64().unwrap()
    );
    let (_, _, t) = call(
        &url(&s, CLAUDE, "converse"),
        &hello(json!({"inferenceConfig": {"stopSequences": ["world"]}})),
    )
    .await;
    let v = json(&t);
    assert_eq!(v["stopReason"], "stop_sequence");
    assert_eq!(v["additionalModelResponseFields"]["stop_sequence"], "world");
    let (_, _, t) = call(
        &url(&s, NOVA, "converse"),
        &hello(json!({"inferenceConfig": {"maxTokens": 1}})),
    )
    .await;
    assert_eq!(json(&t)["stopReason"], "max_tokens");
}

#[tokio::test]
async fn stream_frames_thinking_and_tools() {
    let s = server(0).await;
    let body = hello(json!({
        "toolConfig": tools(),
        "inferenceConfig": {"maxTokens": 3000},
        "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    }));
    let resp = send(
        &url(&s, CLAUDE, "converse-stream"),
        &body,
        Some(Signer::default()),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.amazon.eventstream"
    );
    let (chunks, failed) = read_chunks(resp).await;
    assert!(!failed);
    let f = frames(&chunks.concat());
    let kinds: Vec<&str> = f.iter().map(|(_, k, _)| k.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"messageStart"));
    assert_eq!(&kinds[kinds.len() - 2..], &["messageStop", "metadata"]);
    assert!(kinds.contains(&"contentBlockStart"));
    let thinking: String = f
        .iter()
        .filter_map(|(_, _, p)| p["delta"]["reasoningContent"]["text"].as_str())
        .collect();
    assert_eq!(thinking, "Thinking about: hello world");
    let sig = f
        .iter()
        .find_map(|(_, _, p)| p["delta"]["reasoningContent"]["signature"].as_str())
        .unwrap()
        .to_owned();
    let start = f.iter().find(|(_, k, _)| k == "contentBlockStart").unwrap();
    let id = start.2["start"]["toolUse"]["toolUseId"]
        .as_str()
        .unwrap()
        .to_owned();
    let input: String = f
        .iter()
        .filter_map(|(_, _, p)| p["delta"]["toolUse"]["input"].as_str())
        .collect();
    assert_eq!(input, r#"{"city":"hello world"}"#);
    assert_eq!(f[f.len() - 2].2["stopReason"], "tool_use");

    // The tool loop: reasoning must come back first, with the mock's signature.
    let follow = |reasoning: Value| {
        let mut assistant = vec![
            json!({"toolUse": {"toolUseId": id, "name": "get_weather", "input": {"city": "Paris"}}}),
        ];
        if !reasoning.is_null() {
            assistant.insert(0, reasoning);
        }
        json!({
            "messages": [
                {"role": "user", "content": [{"text": "hello world"}]},
                {"role": "assistant", "content": assistant},
                {"role": "user", "content": [{"toolResult": {"toolUseId": id, "content": [{"text": "18C"}], "status": "success"}}]}
            ],
            "toolConfig": tools(),
            "inferenceConfig": {"maxTokens": 3000},
            "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}}
        })
    };
    let good = json!({"reasoningContent": {"reasoningText": {"text": "Thinking about: hello world", "signature": sig}}});
    let (st, _, t) = call(&url(&s, CLAUDE, "converse"), &follow(good)).await;
    assert_eq!(st, 200, "{t}");
    let content = &json(&t)["output"]["message"]["content"];
    assert_eq!(content[1], json!({"text": "tool result: 18C"}));
    let forged = json!({"reasoningContent": {"reasoningText": {"text": "Thinking about: hello world", "signature": "Zm9yZ2Vk"}}});
    let (st, h, t) = call(&url(&s, CLAUDE, "converse"), &follow(forged)).await;
    assert_eq!(st, 400);
    assert!(h["x-amzn-errortype"]
        .to_str()
        .unwrap()
        .starts_with("ValidationException"));
    assert!(t.contains("signature"));
    let (st, _, t) = call(&url(&s, CLAUDE, "converse"), &follow(Value::Null)).await;
    assert_eq!(st, 400);
    assert!(t.contains("must start with a thinking block"));
    // Claude 3.5 cannot think.
    let (st, _, t) = call(&url(&s, HAIKU, "converse"), &body).await;
    assert_eq!(st, 400);
    assert!(t.contains("thinking"));
}

#[tokio::test]
async fn validation_is_strict() {
    let s = server(0).await;
    let u = url(&s, CLAUDE, "converse");
    let cases = [
        (json!({"messages": []}), "messages"),
        (
            json!({"messages": [{"role": "assistant", "content": [{"text": "hi"}]}]}),
            "start with a user message",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"text": "a"}]}, {"role": "user", "content": [{"text": "b"}]}]}),
            "alternate",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"text": "  "}]}]}),
            "is blank",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"text": "a", "image": {}}]}]}),
            "exactly one member",
        ),
        (
            hello(json!({"temperature": 0.5})),
            "extraneous key [temperature]",
        ),
        (
            hello(json!({"inferenceConfig": {"temperature": 1.5}})),
            "inferenceConfig.temperature",
        ),
        (
            hello(json!({"inferenceConfig": {"max_tokens": 5}})),
            "extraneous key [max_tokens]",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"image": {"format": "bmp", "source": {"bytes": "AAAA"}}}]}]}),
            "image.format",
        ),
        (
            json!({"messages": [
            {"role": "user", "content": [{"text": "a"}]},
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "call 1", "name": "f", "input": {}}}]}]}),
            "toolUseId",
        ),
        (
            json!({"messages": [
            {"role": "user", "content": [{"text": "a"}]},
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "x"}]}}]}]}),
            "toolConfig field must be defined",
        ),
        (
            hello(json!({"toolConfig": {"tools": [], "toolChoice": {"auto": {}}}})),
            "toolConfig.tools",
        ),
        (
            hello(
                json!({"toolConfig": {"tools": tools()["tools"], "toolChoice": {"tool": {"name": "other"}}}}),
            ),
            "toolChoice.tool.name",
        ),
        (
            hello(
                json!({"additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 2048}}, "inferenceConfig": {"maxTokens": 1000}}),
            ),
            "max_tokens",
        ),
        (
            hello(
                json!({"additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}}, "inferenceConfig": {"maxTokens": 3000, "temperature": 0.2}}),
            ),
            "temperature",
        ),
    ];
    for (body, needle) in cases {
        let (st, h, t) = call(&u, &body).await;
        assert_eq!(st, 400, "{body} → {t}");
        assert!(h["x-amzn-errortype"]
            .to_str()
            .unwrap()
            .starts_with("ValidationException"));
        assert!(t.contains(needle), "{needle}: {t}");
    }
    // top_k and toolChoice any are Claude's; other models refuse them.
    let (st, _, _) = call(
        &url(&s, NOVA, "converse"),
        &hello(json!({"additionalModelRequestFields": {"top_k": 5}})),
    )
    .await;
    assert_eq!(st, 400);
    let (st, _, t) = call(
        &u,
        &hello(json!({"additionalModelRequestFields": {"top_k": 5}})),
    )
    .await;
    assert_eq!(st, 200, "{t}");
    let (st, _, t) = call(&url(&s, "meta.unknown-v1:0", "converse"), &hello(json!({}))).await;
    assert_eq!(st, 400);
    assert!(t.contains("model identifier is invalid"));
}

#[tokio::test]
async fn faults_and_stream_errors() {
    let s = server(0).await;
    s.faults().set(FaultSettings {
        fail_next: Some(FailNext {
            status: 429,
            count: 1,
            retry_after: None,
            error_type: None,
        }),
        ..FaultSettings::default()
    });
    let (st, h, t) = call(&url(&s, NOVA, "converse"), &hello(json!({}))).await;
    assert_eq!(st, 429);
    assert!(h["x-amzn-errortype"]
        .to_str()
        .unwrap()
        .starts_with("ThrottlingException"));
    assert!(json(&t)["message"].is_string());
    s.faults().set(FaultSettings {
        stream_error_after: Some(2),
        ..FaultSettings::default()
    });
    let resp = send(
        &url(&s, NOVA, "converse-stream"),
        &hello(json!({})),
        Some(Signer::default()),
    )
    .await;
    let (chunks, _) = read_chunks(resp).await;
    let f = frames(&chunks.concat());
    assert_eq!(f.len(), 3);
    assert_eq!(f[2].0, "exception");
    assert_eq!(f[2].1, "serviceUnavailableException");
    // count-tokens
    s.faults().reset();
    let (st, _, t) = call(
        &url(&s, NOVA, "count-tokens"),
        &json!({"input": {"converse": hello(json!({}))}}),
    )
    .await;
    assert_eq!(st, 200, "{t}");
    assert!(json(&t)["inputTokens"].as_u64().unwrap() > 0);
}
