//! Upstreams that misbehave: an answer too large to hold, a stream event that never ends, a
//! stream that never finishes, and an unreachable host. Each is bounded, answered in the
//! client's shape, and its error text carries no address or error chain.

mod common;

use common::{Client, Env};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the raw upstream does with each request.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Declares a body larger than lmrelay reads.
    HugeLength,
    /// Streams one SSE event whose data never ends.
    EndlessEvent,
    /// Streams a chunk every 100 ms, for ever.
    EndlessStream,
}

/// A one-behaviour HTTP upstream on a free port; returns its base URL (`…/v1`).
async fn upstream(behaviour: Behaviour) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(serve(s, behaviour));
        }
    });
    url
}

async fn serve(mut s: TcpStream, behaviour: Behaviour) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    // The request head and body (bounded; the body is small).
    let deadline = Instant::now() + Duration::from_secs(5);
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && Instant::now() < deadline {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let sse =
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
    match behaviour {
        Behaviour::HugeLength => {
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 900000000\r\n\r\n{")
                .await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        Behaviour::EndlessEvent => {
            let _ = s.write_all(sse.as_bytes()).await;
            let _ = chunk(
                &mut s,
                b"data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"",
            )
            .await;
            let filler = vec![b'a'; 256 * 1024];
            for _ in 0..64 {
                if chunk(&mut s, &filler).await.is_err() {
                    return;
                }
            }
        }
        Behaviour::EndlessStream => {
            let _ = s.write_all(sse.as_bytes()).await;
            for i in 0..600 {
                let event = format!(
                    "data: {{\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"w{i} \"}},\"finish_reason\":null}}]}}\n\n"
                );
                if chunk(&mut s, event.as_bytes()).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn chunk(s: &mut TcpStream, data: &[u8]) -> std::io::Result<()> {
    s.write_all(format!("{:x}\r\n", data.len()).as_bytes())
        .await?;
    s.write_all(data).await?;
    s.write_all(b"\r\n").await
}

fn provider(name: &str, url: &str, extra: &str) -> String {
    format!(
        "[[providers]]\nname = \"{name}\"\ntype = \"openai\"\nbase_url = \"{url}\"\nkeys = [\"k\"]\nmodels = [\"m\"]\n{extra}\n[[routes]]\nmodel = \"{name}\"\ntargets = [\"{name}/m\"]\n"
    )
}

fn message(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).expect("JSON error");
    v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_upstreams_are_bounded() {
    let huge = upstream(Behaviour::HugeLength).await;
    let endless_event = upstream(Behaviour::EndlessEvent).await;
    let endless = upstream(Behaviour::EndlessStream).await;
    let extra = [
        provider("huge", &huge, ""),
        provider("endless-event", &endless_event, ""),
        provider("endless", &endless, "stream_timeout = \"1s\""),
        // Nothing listens on port 9 of loopback.
        provider("unreachable", "http://127.0.0.1:9/v1", ""),
    ]
    .concat();
    let env = Env::start_with_top(
        "[health]\ninterval = \"0s\"\nfailure_threshold = 1000\n",
        &extra,
    )
    .await;

    // An answer declared larger than lmrelay reads: refused at once (its only candidate
    // failed, so the client gets a 503 saying why).
    let started = Instant::now();
    let body = Client::OpenAi.chat("huge", "hi", false, false);
    let (status, _, bytes) = env
        .post(Client::OpenAi, "/v1/chat/completions", &body)
        .await;
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&bytes));
    assert!(
        message(&bytes).contains("larger than"),
        "{}",
        message(&bytes)
    );
    assert!(started.elapsed() < Duration::from_secs(3));

    // An event that never ends: refused once 8 MiB are held without one.
    let body = Client::OpenAi.chat("endless-event", "hi", true, false);
    let (status, _, bytes) = env
        .post(Client::OpenAi, "/v1/chat/completions", &body)
        .await;
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&bytes));
    assert!(
        message(&bytes).contains("without completing an event"),
        "{}",
        message(&bytes)
    );

    // A stream that never finishes: cut at stream_timeout, with an error event after the
    // content that came.
    let started = Instant::now();
    let body = Client::OpenAi.chat("endless", "hi", true, false);
    let (status, _, bytes) = env
        .post(Client::OpenAi, "/v1/chat/completions", &body)
        .await;
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(status, 200);
    assert!(text.contains("w0 "), "{text}");
    assert!(text.contains("stream_timeout"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // An unreachable host: the client is told so, without addresses or OS errors.
    let body = Client::Anthropic.chat("unreachable", "hi", false, false);
    let (status, _, bytes) = env.post(Client::Anthropic, "/v1/messages", &body).await;
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&bytes));
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("could not connect"), "{text}");
    for leak in [
        "127.0.0.1",
        ":9",
        "os error",
        "Connection refused",
        "tcp connect",
    ] {
        assert!(!text.contains(leak), "{leak} in {text}");
    }
    // Other clients were served all along.
    let body = Client::OpenAi.chat("to-openai", "hi", false, false);
    assert_eq!(
        env.post(Client::OpenAi, "/v1/chat/completions", &body)
            .await
            .0,
        200
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_deadline_bounds_every_attempt_of_a_request() {
    let extra = "[[routes]]\nmodel = \"slow-everywhere\"\ntargets = [\"oa/gpt-4o-mini\", \"an/claude-3-5-haiku-latest\", \"ol/llama3.2\"]\n";
    let env = Env::start_with_top(
        "request_timeout = \"1s\"\n[health]\ninterval = \"0s\"\nfailure_threshold = 1000\n",
        extra,
    )
    .await;
    for mock in [&env.openai, &env.anthropic, &env.ollama] {
        mock.faults().set_latency_ms(1500);
    }
    for stream in [false, true] {
        let started = Instant::now();
        let body = Client::OpenAi.chat("slow-everywhere", "hi", stream, false);
        let (status, _, bytes) = env
            .post(Client::OpenAi, "/v1/chat/completions", &body)
            .await;
        let took = started.elapsed();
        // Each candidate answers after 1.5 s (three would take 4.5 s); the request's
        // deadline is 1 s: the first attempt is cut there, and no other starts.
        assert_eq!(status, 504, "{}", String::from_utf8_lossy(&bytes));
        assert!(
            took < Duration::from_millis(1800),
            "stream={stream}: {took:?}"
        );
        assert!(
            took >= Duration::from_millis(900),
            "stream={stream}: {took:?}"
        );
    }
    assert!(env.anthropic.requests().is_empty(), "no second attempt");
    assert!(env.ollama.requests().is_empty(), "no third attempt");
    for mock in [&env.openai, &env.anthropic, &env.ollama] {
        mock.faults().set_latency_ms(0);
    }
    let body = Client::OpenAi.chat("slow-everywhere", "hi", false, false);
    assert_eq!(
        env.post(Client::OpenAi, "/v1/chat/completions", &body)
            .await
            .0,
        200
    );
    env.stop().await;
}
