//! Errors: bad input, unknown models, body limits, upstream failures translated across
//! protocols (before and inside streams), always in the client's own shape.

mod common;

use common::{Client, Env, Upstream, CLIENTS, UPSTREAMS};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_right_status_and_shape_and_the_gateway_keeps_serving() {
    let env = Env::start().await;
    for client in CLIENTS {
        let model_field_bad = match client {
            Client::Anthropic => json!({"model": 7, "max_tokens": 5, "messages": []}),
            _ => json!({"model": 7, "messages": []}),
        };
        let cases: Vec<(Vec<u8>, u16, &str)> = vec![
            (b"{not json".to_vec(), 400, "JSON"),
            (b"".to_vec(), 400, "empty"),
            (model_field_bad.to_string().into_bytes(), 400, "model"),
            (json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": 5}).to_string().into_bytes(), 400, "model"),
            (json!({"model": "to-openai", "messages": "nope", "max_tokens": 5}).to_string().into_bytes(), 400, "messages"),
            (json!({"model": "no-such-model", "stream": false, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}).to_string().into_bytes(), 404, "no-such-model"),
            (vec![b' '; 70 * 1024], 413, "limit"),
        ];
        for (body, status, needle) in cases {
            let (got, headers, bytes) = env.post_raw(client, client.path(), body).await;
            let ctx = format!(
                "{client:?} expecting {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
            assert_eq!(got, status, "{ctx}");
            assert_eq!(headers["content-type"], "application/json", "{ctx}");
            let msg = client.error_message(&bytes);
            assert!(msg.contains(needle), "{ctx}");
        }
        // Still serving.
        let (status, _, _) = env
            .post(
                client,
                client.path(),
                &client.chat("to-openai", "still there?", false, false),
            )
            .await;
        assert_eq!(status, 200);
    }
    // Ollama clients leave out `messages` legitimately? No: model is still required.
    let (status, _, bytes) = env
        .post(Client::Ollama, "/api/chat", &json!({"messages": []}))
        .await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&bytes));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_and_methods_answer_in_the_protocol_shape() {
    let env = Env::start().await;
    let (status, body) = env.get("/v1/nothing", &[]).await;
    assert_eq!(status, 404);
    Client::OpenAi.error_message(&body);
    let (status, body) = env.get("/api/nothing", &[]).await;
    assert_eq!(status, 404);
    Client::Ollama.error_message(&body);
    let (status, body) = env.get("/v1/chat/completions", &[]).await;
    assert_eq!(status, 405);
    Client::OpenAi.error_message(&body);
    let (status, _, body) = env
        .post(Client::Ollama, "/api/pull", &json!({"model": "x"}))
        .await;
    assert_eq!(status, 501);
    Client::Ollama.error_message(&body);
    env.stop().await;
}

/// Statuses a client should see for an upstream failure, per product.md: retryable failures
/// become 503 (typed `overloaded_error` for Anthropic clients when the upstream was
/// overloaded), client-fault 4xx stay themselves, other non-retryable errors become 502.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_errors_are_translated_for_every_client() {
    // Each case starts with fresh keys: a 429 cools a key and a 401 takes it out, and the
    // next case must not find them so (an admin rotation clears the marks).
    let env = Env::start_with_top("[admin]\ntoken = \"admin-token\"\n", "").await;
    struct Case {
        upstream: Upstream,
        status: u16,
        error_type: Option<&'static str>,
        openai: u16,
        anthropic: u16,
        ollama: u16,
    }
    let cases = [
        Case {
            upstream: Upstream::Anthropic,
            status: 529,
            error_type: None,
            openai: 503,
            anthropic: 503,
            ollama: 503,
        },
        Case {
            upstream: Upstream::OpenAi,
            status: 503,
            error_type: None,
            openai: 503,
            anthropic: 503,
            ollama: 503,
        },
        Case {
            upstream: Upstream::OpenAi,
            status: 429,
            error_type: None,
            openai: 503,
            anthropic: 503,
            ollama: 503,
        },
        Case {
            upstream: Upstream::OpenAi,
            status: 429,
            error_type: Some("insufficient_quota"),
            openai: 502,
            anthropic: 502,
            ollama: 502,
        },
        Case {
            upstream: Upstream::Anthropic,
            status: 400,
            error_type: None,
            openai: 400,
            anthropic: 400,
            ollama: 400,
        },
        Case {
            upstream: Upstream::Ollama,
            status: 500,
            error_type: None,
            openai: 503,
            anthropic: 503,
            ollama: 503,
        },
        Case {
            upstream: Upstream::Anthropic,
            status: 401,
            error_type: None,
            openai: 502,
            anthropic: 502,
            ollama: 502,
        },
    ];
    for case in &cases {
        for client in CLIENTS {
            for provider in ["oa", "an", "ol"] {
                let (status, _) = env
                    .post_admin(
                        "/admin/keys/rotate",
                        &serde_json::json!({ "provider": provider }),
                    )
                    .await;
                assert_eq!(status, 200);
            }
            let mock = env.mock(case.upstream);
            match case.error_type {
                Some(t) => mock.faults().fail_next_typed(case.status, 1, Some(3), t),
                None => mock.faults().fail_next(case.status, 1, Some(3)),
            }
            let (status, headers, bytes) = env
                .post(
                    client,
                    client.path(),
                    &client.chat(case.upstream.model(), "x", false, false),
                )
                .await;
            let want = match client {
                Client::OpenAi => case.openai,
                Client::Anthropic => case.anthropic,
                Client::Ollama => case.ollama,
            };
            let ctx = format!(
                "{:?} {} -> {client:?}: {}",
                case.upstream,
                case.status,
                String::from_utf8_lossy(&bytes)
            );
            assert_eq!(status, want, "{ctx}");
            client.error_message(&bytes);
            if want == 503 || want == 529 {
                assert!(headers.contains_key("retry-after"), "{ctx}");
            }
            if client == Client::Anthropic && matches!(case.status, 503 | 529) {
                let ty = client.error_type(&bytes);
                assert_eq!(ty.as_deref(), Some("overloaded_error"), "{ctx}");
            }
            assert_eq!(
                headers["x-lmrelay-provider"],
                case.upstream.provider(),
                "{ctx}"
            );
            mock.faults().reset();
        }
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_inside_streams_use_the_client_protocol() {
    let env = Env::start().await;
    for up in UPSTREAMS {
        for client in CLIENTS {
            let mock = env.mock(up);
            // After content has reached the client (an error before it fails over instead).
            mock.faults().set_stream_error_after(Some(6));
            let (status, _, bytes) = env
                .post(
                    client,
                    client.path(),
                    &client.chat(
                        up.model(),
                        "one two three four five six seven eight nine ten",
                        true,
                        false,
                    ),
                )
                .await;
            mock.faults().reset();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let ctx = format!("{up:?} -> {client:?}: {text}");
            assert_eq!(status, 200, "{ctx}");
            match client {
                Client::OpenAi => {
                    let frames = common::sse_data(&text);
                    let last: serde_json::Value =
                        serde_json::from_str(frames.last().expect("frames")).expect("json");
                    assert!(last["error"]["message"].is_string(), "{ctx}");
                    assert!(!frames.iter().any(|f| f == "[DONE]"), "{ctx}");
                }
                Client::Anthropic => {
                    let events = common::sse_events(&text);
                    assert_eq!(events.last().map(|e| e.0.as_str()), Some("error"), "{ctx}");
                    assert!(!events.iter().any(|e| e.0 == "message_stop"), "{ctx}");
                }
                Client::Ollama => {
                    let last = text.lines().rfind(|l| !l.is_empty()).expect("lines");
                    let v: serde_json::Value = serde_json::from_str(last).expect("json");
                    assert!(v["error"].is_string(), "{ctx}");
                }
            }
        }
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_mid_stream_ends_in_an_error_not_a_silent_success() {
    let env = Env::start().await;
    for up in UPSTREAMS {
        for client in CLIENTS {
            env.mock(up).faults().set_drop_after_events(Some(6));
            let (status, _, bytes) = env
                .post(
                    client,
                    client.path(),
                    &client.chat(up.model(), "a b c d e f g h i j k l", true, false),
                )
                .await;
            env.mock(up).faults().reset();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let ctx = format!("{up:?} -> {client:?}: {text}");
            assert_eq!(status, 200, "{ctx}");
            assert!(
                text.contains("prematurely") || text.contains("cut off") || text.contains("error"),
                "{ctx}"
            );
            match client {
                Client::OpenAi => assert!(!text.contains("[DONE]"), "{ctx}"),
                Client::Anthropic => assert!(!text.contains("message_stop"), "{ctx}"),
                Client::Ollama => assert!(!text.contains("\"done\":true"), "{ctx}"),
            }
        }
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_before_the_first_event_is_still_an_http_error() {
    let env = Env::start().await;
    // The mock fails the streamed request with 529 before any byte: the client gets a
    // status, not a 200 with an error inside.
    env.anthropic.faults().fail_next(529, 1, Some(2));
    let (status, headers, bytes) = env
        .post(
            Client::OpenAi,
            "/v1/chat/completions",
            &Client::OpenAi.chat("to-anthropic", "x", true, false),
        )
        .await;
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(headers["retry-after"], "2");
    // An upstream that errs as its very first stream event also becomes a status.
    env.anthropic.faults().set_stream_error_after(Some(0));
    let (status, _, bytes) = env
        .post(
            Client::OpenAi,
            "/v1/chat/completions",
            &Client::OpenAi.chat("to-anthropic", "x", true, false),
        )
        .await;
    assert_ne!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    env.anthropic.faults().reset();
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_an_upstream_cannot_take_is_a_clear_400() {
    let env = Env::start().await;
    let body = json!({"model": "to-ollama", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]});
    let (status, _, bytes) = env
        .post(Client::OpenAi, "/v1/chat/completions", &body)
        .await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&bytes));
    assert!(Client::OpenAi
        .error_message(&bytes)
        .to_lowercase()
        .contains("image"));
    env.stop().await;
}

/// A bare-TCP Anthropic-style upstream that starts a message and then only pings, for as long
/// as the connection lasts (bounded: 10 s).
async fn pinging_upstream() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let Ok((mut sock, _)) = listener.accept().await else {
            return;
        };
        let mut buf = vec![0u8; 65536];
        let _ = sock.read(&mut buf).await;
        let start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"m\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n";
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
        let chunk = |s: &str| format!("{:x}\r\n{s}\r\n", s.len());
        if sock.write_all(head.as_bytes()).await.is_err()
            || sock.write_all(chunk(start).as_bytes()).await.is_err()
        {
            return;
        }
        for _ in 0..100 {
            let ping = "event: ping\ndata: {\"type\":\"ping\"}\n\n";
            if sock.write_all(chunk(ping).as_bytes()).await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_only_pings_does_not_hold_the_client() {
    let addr = pinging_upstream().await;
    let env = Env::start_with(&format!(
        "[[providers]]\nname = \"pinger\"\ntype = \"anthropic\"\nbase_url = \"http://{addr}\"\nkeys = [\"k\"]\nmodels = [\"claude-pings\"]\ntimeout = \"1s\"\n\n[[routes]]\nmodel = \"pings-then-openai\"\ntargets = [\"pinger/claude-pings\", \"oa/gpt-4o-mini\"]\n"
    ))
    .await;
    let started = std::time::Instant::now();
    let body = Client::OpenAi.chat("pings-then-openai", "hello", true, false);
    let (status, headers, bytes) = env
        .post(Client::OpenAi, "/v1/chat/completions", &body)
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(
        headers["x-lmrelay-provider"], "oa",
        "failed over after the first-content deadline"
    );
    assert_eq!(Client::OpenAi.stream(&bytes).text, "echo: hello");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    env.stop().await;
}

/// Bodies a hostile or broken client sends: each gets a 400 in the client's shape that names
/// what is wrong, and the gateway keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bodies_get_a_400_naming_the_field() {
    let env = Env::start_with_top("max_body = \"8MiB\"", "").await;
    let msgs = serde_json::json!([{"role": "user", "content": "hi"}]);
    let tools: Vec<serde_json::Value> = (0..600)
        .map(|i| serde_json::json!({"type": "function", "function": {"name": format!("f{i}")}}))
        .collect();
    let many: Vec<serde_json::Value> = (0..10_001)
        .map(|_| serde_json::json!({"role": "user", "content": "x"}))
        .collect();
    let nested = format!(
        "{{\"model\":\"to-openai\",\"messages\":[{{\"role\":\"user\",\"content\":\"x\"}}],\"metadata\":{}{}}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let cases: Vec<(Vec<u8>, Option<&str>)> = vec![
        (
            b"{\"model\":\"to-openai\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}"
                .to_vec(),
            None,
        ),
        (nested.into_bytes(), None),
        (
            br#"{"model":"to-openai","messages":[{"role":"user","content":"x"}],"max_tokens":1e400}"#
                .to_vec(),
            Some("max_tokens"),
        ),
        (
            br#"{"model":"to-openai","model":"x","messages":[{"role":"user","content":"x"}]}"#
                .to_vec(),
            None,
        ),
        (
            serde_json::json!({"model": "to-openai", "messages": msgs, "max_tokens": 1_000_000_000_000u64})
                .to_string()
                .into_bytes(),
            Some("max_tokens"),
        ),
        (
            serde_json::json!({"model": "to-openai", "messages": msgs, "n": 100_000})
                .to_string()
                .into_bytes(),
            Some("n"),
        ),
        (
            serde_json::json!({"model": "to-openai", "messages": msgs, "tools": tools})
                .to_string()
                .into_bytes(),
            Some("tools"),
        ),
        (
            serde_json::json!({"model": "to-openai", "messages": many})
                .to_string()
                .into_bytes(),
            Some("messages"),
        ),
    ];
    for (body, param) in cases {
        let (status, _, bytes) = env
            .post_raw(Client::OpenAi, "/v1/chat/completions", body.clone())
            .await;
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(
            status,
            400,
            "{}: {text}",
            String::from_utf8_lossy(&body[..80.min(body.len())])
        );
        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON error");
        assert_eq!(v["error"]["type"], "invalid_request_error", "{text}");
        if let Some(p) = param {
            assert_eq!(v["error"]["param"], p, "{text}");
        }
        assert!(text.len() < 2048, "a short error: {text}");
    }
    // The same bounds in Anthropic's shape.
    let body = serde_json::json!({"model": "to-openai", "max_tokens": 10, "messages": msgs,
        "tools": (0..600).map(|i| serde_json::json!({"name": format!("f{i}"), "input_schema": {"type": "object"}})).collect::<Vec<_>>()});
    let (status, _, bytes) = env.post(Client::Anthropic, "/v1/messages", &body).await;
    assert_eq!(status, 400);
    let v: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON error");
    assert_eq!(v["type"], "error");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("tools"));
    let ok = Client::OpenAi.chat("to-openai", "still fine", false, false);
    assert_eq!(
        env.post(Client::OpenAi, "/v1/chat/completions", &ok)
            .await
            .0,
        200
    );
    env.stop().await;
}
