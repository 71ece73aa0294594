//! The endpoints besides chat: embeddings, model listings, token counting, Ollama's probes,
//! service endpoints, access control, cancellation and shutdown.

mod common;

use common::{Client, Env};
use serde_json::{json, Value};
use std::time::Duration;

fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_through_openai_and_ollama_upstreams() {
    let env = Env::start().await;
    for model in ["embed-openai", "embed-ollama"] {
        let (status, headers, bytes) = env
            .post(
                Client::OpenAi,
                "/v1/embeddings",
                &json!({"model": model, "input": ["alpha", "beta"]}),
            )
            .await;
        assert_eq!(status, 200, "{model}: {}", String::from_utf8_lossy(&bytes));
        let v = parse(&bytes);
        assert_eq!(v["object"], "list");
        assert_eq!(v["data"].as_array().map(Vec::len), Some(2));
        assert_eq!(v["data"][1]["index"], 1);
        let first: Vec<f32> =
            serde_json::from_value(v["data"][0]["embedding"].clone()).expect("floats");
        assert_eq!(
            first,
            lmrelay_mock::embedding_vector("alpha", first.len()),
            "{model}"
        );
        assert!(headers.contains_key("x-lmrelay-provider"));
        // base64: little-endian float32 of the same vector.
        let (status, _, bytes) = env
            .post(
                Client::OpenAi,
                "/v1/embeddings",
                &json!({"model": model, "input": "alpha", "encoding_format": "base64"}),
            )
            .await;
        assert_eq!(status, 200);
        let b64 = parse(&bytes)["data"][0]["embedding"]
            .as_str()
            .expect("base64")
            .to_owned();
        assert!(!b64.is_empty());
        // Ollama clients.
        let (status, _, bytes) = env
            .post(
                Client::Ollama,
                "/api/embed",
                &json!({"model": model, "input": ["alpha"]}),
            )
            .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
        let v = parse(&bytes);
        let got: Vec<f32> = serde_json::from_value(v["embeddings"][0].clone()).expect("floats");
        assert_eq!(got, first);
        let (status, _, bytes) = env
            .post(
                Client::Ollama,
                "/api/embeddings",
                &json!({"model": model, "prompt": "alpha"}),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            parse(&bytes)["embedding"].as_array().map(Vec::len),
            Some(first.len())
        );
    }
    // Anthropic has no embeddings API.
    let (status, _, bytes) = env
        .post(
            Client::OpenAi,
            "/v1/embeddings",
            &json!({"model": "to-anthropic", "input": "x"}),
        )
        .await;
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&bytes));
    Client::OpenAi.error_message(&bytes);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_listings_show_public_names_in_each_protocol() {
    let env = Env::start().await;
    let (status, bytes) = env.get("/v1/models", &[]).await;
    assert_eq!(status, 200);
    let v = parse(&bytes);
    let ids: Vec<&str> = v["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    for want in [
        "to-openai",
        "to-anthropic",
        "to-ollama",
        "gpt-4o-mini",
        "claude-3-5-haiku-latest",
        "llama3.2",
    ] {
        assert!(ids.contains(&want), "{want} in {ids:?}");
    }
    assert_eq!(v["data"][0]["object"], "model");
    let (status, bytes) = env.get("/v1/models/to-openai", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(parse(&bytes)["id"], "to-openai");
    let (status, bytes) = env.get("/v1/models/nope", &[]).await;
    assert_eq!(status, 404);
    Client::OpenAi.error_message(&bytes);
    for path in ["/v1/models", "/anthropic/v1/models"] {
        let (status, bytes) = env.get(path, &[("anthropic-version", "2023-06-01")]).await;
        assert_eq!(status, 200);
        let v = parse(&bytes);
        assert_eq!(v["data"][0]["type"], "model", "{v}");
        assert_eq!(v["has_more"], false);
        assert!(v["first_id"].is_string());
    }
    let (status, bytes) = env.get("/api/tags", &[]).await;
    assert_eq!(status, 200);
    let v = parse(&bytes);
    let names: Vec<&str> = v["models"]
        .as_array()
        .expect("models")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(names.contains(&"to-openai:latest"), "{names:?}");
    let (status, _, bytes) = env
        .post(
            Client::Ollama,
            "/api/show",
            &json!({"model": "to-openai:latest"}),
        )
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert!(parse(&bytes)["capabilities"]
        .as_array()
        .is_some_and(|c| c.contains(&json!("tools"))));
    let (status, _, bytes) = env
        .post(Client::Ollama, "/api/show", &json!({"model": "missing"}))
        .await;
    assert_eq!(status, 404);
    assert!(Client::Ollama.error_message(&bytes).contains("not found"));
    let (status, bytes) = env.get("/api/ps", &[]).await;
    assert_eq!(status, 200);
    assert!(parse(&bytes)["models"].is_array());
    let (status, bytes) = env.get("/api/version", &[]).await;
    assert_eq!(status, 200);
    assert!(parse(&bytes)["version"].is_string());
    let (status, bytes) = env.get("/", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, b"Ollama is running");
    let resp = env
        .http
        .head(format!("{}/", env.url))
        .send()
        .await
        .expect("head");
    assert_eq!(resp.status(), 200);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_tokens_asks_anthropic_and_estimates_elsewhere() {
    let env = Env::start().await;
    let body = json!({"model": "to-anthropic", "messages": [{"role": "user", "content": "count these words please"}]});
    for path in [
        "/v1/messages/count_tokens",
        "/anthropic/v1/messages/count_tokens",
    ] {
        let (status, _, bytes) = env.post(Client::Anthropic, path, &body).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
        assert!(parse(&bytes)["input_tokens"]
            .as_u64()
            .is_some_and(|n| n > 0));
    }
    assert_eq!(
        env.anthropic.last_request().map(|r| r.path),
        Some("/v1/messages/count_tokens".to_owned())
    );
    let mut other = body.clone();
    other["model"] = json!("to-ollama");
    let (status, _, bytes) = env
        .post(Client::Anthropic, "/v1/messages/count_tokens", &other)
        .await;
    assert_eq!(status, 200);
    assert!(parse(&bytes)["input_tokens"]
        .as_u64()
        .is_some_and(|n| n > 0));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_prefix_beta_query_and_beta_header() {
    let env = Env::start().await;
    let body = Client::Anthropic.chat("to-anthropic", "beta", false, false);
    let resp = env
        .http
        .post(format!("{}/anthropic/v1/messages?beta=true", env.url))
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "prompt-caching-2024-07-31")
        .header("authorization", "Bearer client-key")
        .body((body).to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let rec = env.anthropic.last_request().expect("request");
    assert_eq!(
        rec.header("anthropic-beta"),
        Some("prompt-caching-2024-07-31")
    );
    assert_eq!(
        rec.header("x-api-key"),
        Some("upstream-key"),
        "the upstream key replaces the client's"
    );
    // Only the betas the operator allows pass: the MCP connector (which makes Anthropic
    // fetch URLs the client names, on the operator's key) is not among the defaults.
    let resp = env
        .http
        .post(format!("{}/v1/messages", env.url))
        .header("anthropic-version", "2023-06-01")
        .header(
            "anthropic-beta",
            "mcp-client-2025-04-04, interleaved-thinking-2025-05-14,files-api-2025-04-14",
        )
        .header("anthropic-beta", "claude-code-20250219")
        .body(body.to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let rec = env.anthropic.last_request().expect("request");
    assert_eq!(
        rec.header("anthropic-beta"),
        Some("interleaved-thinking-2025-05-14,claude-code-20250219")
    );
    let resp = env
        .http
        .post(format!("{}/v1/messages", env.url))
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "mcp-client-2025-04-04")
        .body(body.to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let rec = env.anthropic.last_request().expect("request");
    assert_eq!(
        rec.header("anthropic-beta"),
        None,
        "nothing allowed, no header"
    );
    // Beta flags are not sent to other upstreams' formats (or anywhere else).
    let body = Client::Anthropic.chat("to-openai", "beta", false, false);
    let resp = env
        .http
        .post(format!("{}/v1/messages?beta=true", env.url))
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "prompt-caching-2024-07-31")
        .body((body).to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    assert!(env
        .openai
        .last_request()
        .expect("request")
        .header("anthropic-beta")
        .is_none());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_endpoints_and_request_ids() {
    let env = Env::start().await;
    let (status, _) = env.get("/healthz", &[]).await;
    assert_eq!(status, 200);
    let (status, _) = env.get("/readyz", &[]).await;
    assert_eq!(status, 200);
    let resp = env
        .http
        .get(format!("{}/healthz", env.url))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.headers()["x-request-id"], "abc-123");
    assert_eq!(resp.headers()["x-lmrelay-provider"], "lmrelay");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_keys_and_allowlists() {
    let hash = lmrelay::auth::hash_key("team-key");
    let env = Env::start_with(&format!(
        "[[keys]]\nname = \"team\"\nkey = \"sha256:{hash}\"\nmodels = [\"to-openai\"]\n"
    ))
    .await;
    let body = Client::OpenAi.chat("to-openai", "hi", false, false);
    let (status, _, bytes) = env
        .post(Client::OpenAi, "/v1/chat/completions", &body)
        .await;
    assert_eq!(status, 401, "{}", String::from_utf8_lossy(&bytes));
    Client::OpenAi.error_message(&bytes);
    let send = |model: &str, header: (&'static str, &'static str)| {
        env.http
            .post(format!("{}/v1/chat/completions", env.url))
            .header(header.0, header.1)
            .body((Client::OpenAi.chat(model, "hi", false, false)).to_string())
            .send()
    };
    for header in [
        ("authorization", "Bearer team-key"),
        ("x-api-key", "team-key"),
        ("api-key", "team-key"),
    ] {
        let resp = send("to-openai", header).await.expect("send");
        assert_eq!(resp.status(), 200, "{header:?}");
    }
    let resp = send("to-anthropic", ("authorization", "Bearer team-key"))
        .await
        .expect("send");
    assert_eq!(resp.status(), 403);
    let resp = send("to-openai", ("authorization", "Bearer wrong"))
        .await
        .expect("send");
    assert_eq!(resp.status(), 401);
    let text = resp.text().await.expect("body");
    assert!(!text.contains("wrong"), "the presented key is not echoed");
    // The gateway key never reaches the upstream.
    let rec = env.openai.last_request().expect("request");
    assert_eq!(rec.header("authorization"), Some("Bearer upstream-key"));
    let (status, _) = env.get("/v1/models", &[]).await;
    assert_eq!(status, 401);
    let (status, _) = env.get("/healthz", &[]).await;
    assert_eq!(status, 200, "probes stay open");
    env.stop().await;
}

/// A bare-TCP OpenAI-style upstream that streams one chunk every 20 ms until its peer goes
/// away, then reports how long after the first chunk the connection closed.
async fn endless_upstream() -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Receiver<Duration>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let Ok((mut sock, _)) = listener.accept().await else {
            return;
        };
        let mut buf = vec![0u8; 65536];
        let _ = sock.read(&mut buf).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
        if sock.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let started = std::time::Instant::now();
        // Bounded: at most 10 s of chunks.
        for i in 0..500 {
            let event = format!("data: {{\"id\":\"x\",\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"w{i} \"}},\"finish_reason\":null}}]}}\n\n");
            let chunk = format!("{:x}\r\n{event}\r\n", event.len());
            if sock.write_all(chunk.as_bytes()).await.is_err() || sock.flush().await.is_err() {
                let _ = tx.send(started.elapsed());
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    (addr, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_cancels_the_upstream_stream() {
    let (addr, closed) = endless_upstream().await;
    let env = Env::start_with(&format!(
        "[[providers]]\nname = \"endless\"\ntype = \"openai\"\nbase_url = \"http://{addr}/v1\"\nkeys = [\"k\"]\nmodels = [\"endless-model\"]\n"
    ))
    .await;
    let body = Client::OpenAi.chat("endless-model", "go", true, false);
    let mut resp = env
        .http
        .post(format!("{}/v1/chat/completions", env.url))
        .body(body.to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let first = resp.chunk().await.expect("chunk").expect("some bytes");
    assert!(!first.is_empty());
    drop(resp);
    // The upstream notices the gateway hanging up, long before its 10 s stream would end.
    let after = tokio::time::timeout(Duration::from_secs(5), closed)
        .await
        .expect("the upstream connection was closed")
        .expect("reported");
    assert!(after < Duration::from_secs(5), "closed after {after:?}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_an_in_flight_stream_finish() {
    let env = Env::start().await;
    env.anthropic.faults().set_event_delay_ms(10);
    let body = Client::Anthropic.chat(
        "to-anthropic",
        "one two three four five six seven eight",
        true,
        false,
    );
    let req = env
        .http
        .post(format!("{}/v1/messages", env.url))
        .header("anthropic-version", "2023-06-01")
        .body((body).to_string())
        .send();
    let pending = tokio::spawn(req);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let url = env.url.clone();
    let http = env.http.clone();
    let stopping = tokio::spawn(env.stop());
    let resp = pending.await.expect("join").expect("response");
    let text = resp.text().await.expect("stream completes");
    assert!(text.contains("message_stop"), "{text}");
    stopping.await.expect("stopped");
    // After shutdown the port no longer answers.
    assert!(http.get(format!("{url}/healthz")).send().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_load_requests_answer_without_calling_upstream() {
    let env = Env::start().await;
    for (path, body) in [
        (
            "/api/chat",
            json!({"model": "to-anthropic", "messages": []}),
        ),
        ("/api/generate", json!({"model": "to-openai"})),
    ] {
        let (status, _, bytes) = env.post(Client::Ollama, path, &body).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
        let v = parse(&bytes);
        assert_eq!(v["done_reason"], "load");
        assert_eq!(v["done"], true);
    }
    assert!(env.anthropic.requests().is_empty());
    assert!(env.openai.requests().is_empty());
    let (status, _, _) = env
        .post(
            Client::Ollama,
            "/api/chat",
            &json!({"model": "nope", "messages": []}),
        )
        .await;
    assert_eq!(status, 404);
    env.stop().await;
}
