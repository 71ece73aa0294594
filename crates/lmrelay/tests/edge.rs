//! The HTTP edge against hostile clients: a request head that never completes, an idle
//! keep-alive, too many connections, too many requests in flight, oversized heads, and a
//! client that stops reading its stream. Each case checks the status and shape, the bound
//! that held, and that other clients were served meanwhile.

mod common;

use common::{Client, Env};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn addr(env: &Env) -> String {
    env.url.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (or `limit` passes); returns what came and
/// how long it took.
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tokio::time::timeout_at(tokio::time::Instant::now() + limit, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (out, started.elapsed()),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the connection was still open after {limit:?}"),
        }
    }
}

async fn chat_ok(env: &Env) {
    let body = Client::OpenAi.chat("to-openai", "still served", false, false);
    let (status, _, bytes) = env
        .post(Client::OpenAi, "/v1/chat/completions", &body)
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_and_idle_connections_are_closed() {
    let top = "[server]\nheader_timeout = \"1s\"\nidle_timeout = \"2s\"\n";
    let env = Env::start_with_top(top, "").await;
    // Half a request head, then nothing: closed after header_timeout, not before.
    let mut slow = TcpStream::connect(addr(&env)).await.expect("connect");
    slow.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    chat_ok(&env).await;
    let (_, took) = read_until_closed(&mut slow, Duration::from_secs(10)).await;
    assert!(
        took >= Duration::from_millis(800),
        "closed too early: {took:?}"
    );
    assert!(took < Duration::from_secs(4), "closed late: {took:?}");
    // A head trickled a byte at a time is bounded the same way.
    let mut trickle = TcpStream::connect(addr(&env)).await.expect("connect");
    let started = Instant::now();
    let mut closed = false;
    for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter() {
        if trickle.write_all(&[*b]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !closed {
        let _ = read_until_closed(&mut trickle, Duration::from_secs(10)).await;
    }
    assert!(started.elapsed() < Duration::from_secs(6));
    // A connection that is idle (no request, or after one) is closed after idle_timeout.
    let mut idle = TcpStream::connect(addr(&env)).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).await.expect("answer");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let (_, took) = read_until_closed(&mut idle, Duration::from_secs(10)).await;
    assert!(
        took >= Duration::from_millis(1500),
        "idle closed too early: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "idle closed late: {took:?}");
    chat_ok(&env).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_get_a_503_in_their_protocol() {
    let env = Env::start_with_top("[server]\nmax_connections = 2\n", "").await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr(&env)).await.expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).await.expect("answer");
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        held.push(s);
    }
    for (path, shape) in [
        ("/v1/chat/completions", "invalid_request_error"),
        ("/v1/messages", "overloaded_error"),
        ("/api/chat", ""),
    ] {
        let mut s = TcpStream::connect(addr(&env)).await.expect("connect");
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{{}}"
        );
        s.write_all(req.as_bytes()).await.expect("write");
        let (answer, _) = read_until_closed(&mut s, Duration::from_secs(5)).await;
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 503"), "{text}");
        assert!(
            text.to_ascii_lowercase().contains("retry-after: 1"),
            "{text}"
        );
        let body: Value =
            serde_json::from_str(text.split("\r\n\r\n").nth(1).expect("body")).expect("JSON error");
        let message = body["error"]["message"]
            .as_str()
            .or(body["error"].as_str())
            .expect("a message");
        assert!(message.contains("max_connections"), "{body}");
        if path == "/v1/messages" {
            assert_eq!(body["type"], "error");
            assert_eq!(body["error"]["type"], shape);
        }
    }
    // A slot freed is a connection served.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    chat_ok(&env).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_max_in_flight_get_a_503_and_health_still_answers() {
    let env = Env::start_with_top("[server]\nmax_in_flight = 1\n", "").await;
    env.openai.faults().set_latency_ms(1500);
    let slow = {
        let env_url = env.url.clone();
        let http = env.http.clone();
        tokio::spawn(async move {
            let body = Client::OpenAi.chat("to-openai", "slow one", false, false);
            http.post(format!("{env_url}/v1/chat/completions"))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .expect("answer")
                .status()
                .as_u16()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let body = Client::Anthropic.chat("to-anthropic", "second", false, false);
    let (status, headers, bytes) = env.post(Client::Anthropic, "/v1/messages", &body).await;
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(headers["retry-after"], "1");
    let v: Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(v["error"]["type"], "overloaded_error", "{v}");
    let (status, _) = env.get("/healthz", &[]).await;
    assert_eq!(status, 200, "health answers under load");
    assert_eq!(slow.await.expect("join"), 200);
    env.openai.faults().set_latency_ms(0);
    chat_ok(&env).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_are_refused() {
    let env = Env::start_with_top(
        "[server]\nmax_headers = 20\nmax_header_bytes = \"16KiB\"\n",
        "",
    )
    .await;
    let many: String = (0..40).map(|i| format!("x-h{i}: v\r\n")).collect();
    let big = format!("x-big: {}\r\n", "a".repeat(40 * 1024));
    for extra in [many, big] {
        let mut s = TcpStream::connect(addr(&env)).await.expect("connect");
        let req = format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
        let _ = s.write_all(req.as_bytes()).await;
        let (answer, _) = read_until_closed(&mut s, Duration::from_secs(5)).await;
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 431"), "{text}");
    }
    chat_ok(&env).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_and_frees_its_slot() {
    let top = "max_body = \"1MiB\"\n[server]\nwrite_timeout = \"1s\"\nmax_in_flight = 1\n";
    let env = Env::start_with_top(top, "").await;
    // A long streamed answer (the mock echoes the prompt word by word: about 7 MB of
    // events, more than the sockets buffer), never read, over a small receive buffer.
    let words = "word ".repeat(40_000);
    let body = Client::OpenAi
        .chat("to-openai", &words, true, false)
        .to_string();
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let mut s = socket
        .connect(addr(&env).parse().expect("addr"))
        .await
        .expect("connect");
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    // While it holds the only slot, others are told 503; once it is dropped, they are served.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let quick = Client::OpenAi.chat("to-openai", "hello", false, false);
    let (status, _, _) = env
        .post(Client::OpenAi, "/v1/chat/completions", &quick)
        .await;
    assert_eq!(status, 503, "the stalled stream holds the slot");
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let (status, _, _) = env
            .post(Client::OpenAi, "/v1/chat/completions", &quick)
            .await;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stalled client was never dropped"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Its connection was closed before the answer was whole.
    let (answer, _) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(!String::from_utf8_lossy(&answer).contains("[DONE]"));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_key_over_max_concurrent_gets_a_429_and_others_are_served() {
    let keys = "[[keys]]\nname = \"one-at-a-time\"\nkey = \"k-one\"\nmodels = [\"*\"]\nmax_concurrent = 1\n\
                [[keys]]\nname = \"other\"\nkey = \"k-other\"\nmodels = [\"*\"]\n";
    let env = Env::start_with(keys).await;
    env.openai.faults().set_latency_ms(1000);
    let send = |key: &'static str| {
        let (url, http) = (env.url.clone(), env.http.clone());
        async move {
            let body = Client::OpenAi.chat("to-openai", "hi", false, false);
            let resp = http
                .post(format!("{url}/v1/chat/completions"))
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {key}"))
                .body(body.to_string())
                .send()
                .await
                .expect("answer");
            let status = resp.status().as_u16();
            (status, resp.bytes().await.expect("body"))
        }
    };
    let first = tokio::spawn(send("k-one"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, bytes) = send("k-one").await;
    assert_eq!(status, 429, "{}", String::from_utf8_lossy(&bytes));
    let v: Value = serde_json::from_slice(&bytes).expect("JSON");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("max_concurrent")),
        "{v}"
    );
    // Another key is not held back.
    let (status, _) = send("k-other").await;
    assert_eq!(status, 200);
    assert_eq!(first.await.expect("join").0, 200);
    // The slot was given back.
    let (status, _) = send("k-one").await;
    assert_eq!(status, 200);
    env.stop().await;
}
