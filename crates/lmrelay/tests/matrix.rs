//! The 3 × 3 matrix: every client protocol against every upstream type, answered whole and
//! streamed, with a tool-call round trip, through a real gateway and real loopback HTTP.

mod common;

use common::{Client, Env, Upstream, CACHE_READ, CLIENTS, UPSTREAMS};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_answers_in_every_direction() {
    let env = Env::start().await;
    for client in CLIENTS {
        for up in UPSTREAMS {
            for stream in [false, true] {
                let body = client.chat(up.model(), "hello there", stream, false);
                let (status, headers, bytes) = env.post(client, client.path(), &body).await;
                let ctx = format!(
                    "{client:?} -> {up:?} stream={stream}: {}",
                    String::from_utf8_lossy(&bytes)
                );
                assert_eq!(status, 200, "{ctx}");
                assert_eq!(headers["x-lmrelay-provider"], up.provider(), "{ctx}");
                assert!(headers.contains_key("x-request-id"), "{ctx}");
                let a = if stream {
                    client.stream(&bytes)
                } else {
                    client.answer(&bytes)
                };
                assert_eq!(a.text, "echo: hello there", "{ctx}");
                assert!(a.tool_calls.is_empty(), "{ctx}");
                let natural = match client {
                    Client::OpenAi | Client::Ollama => "stop",
                    Client::Anthropic => "end_turn",
                };
                assert_eq!(a.finish, natural, "{ctx}");
                assert!(a.output_tokens > 0, "{ctx}");
                // Usage is normalised: total input includes cached tokens whatever the
                // upstream's convention (Ollama reports no cache).
                if up != Upstream::Ollama && client != Client::Ollama {
                    assert_eq!(a.cached_tokens, CACHE_READ, "{ctx}");
                    assert!(a.input_tokens > CACHE_READ, "{ctx}");
                }
                if client == Client::Ollama && up != Upstream::Ollama {
                    assert!(
                        a.input_tokens > CACHE_READ,
                        "prompt_eval_count is the total input: {ctx}"
                    );
                }
                // The upstream got its own format, with the system prompt in its place.
                let rec = env
                    .mock(up)
                    .last_request()
                    .expect("upstream saw the request");
                match up {
                    Upstream::Anthropic => {
                        // Blocks when translated; an Anthropic client's own string when
                        // its body is passed on (the same-protocol fast path).
                        let system = &rec.body["system"];
                        let text = system.as_str().or_else(|| system[0]["text"].as_str());
                        assert_eq!(text, Some("You are terse."), "{ctx}");
                        assert!(rec.body["max_tokens"].as_u64().is_some(), "{ctx}");
                        assert_eq!(rec.header("x-api-key"), Some("upstream-key"), "{ctx}");
                    }
                    Upstream::OpenAi => {
                        assert_eq!(rec.body["messages"][0]["role"], "system", "{ctx}");
                        assert_eq!(
                            rec.header("authorization"),
                            Some("Bearer upstream-key"),
                            "{ctx}"
                        );
                        if stream {
                            assert_eq!(rec.body["stream_options"]["include_usage"], true, "{ctx}");
                        }
                    }
                    Upstream::Ollama => {
                        assert_eq!(rec.body["messages"][0]["role"], "system", "{ctx}");
                        assert_eq!(rec.body["stream"], stream, "{ctx}");
                    }
                }
                // The client's gateway key never travels upstream.
                assert!(
                    rec.headers.iter().all(|(_, v)| !v.contains("client-key")),
                    "{ctx}"
                );
            }
        }
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_call_round_trip_in_every_direction() {
    let env = Env::start().await;
    for client in CLIENTS {
        for up in UPSTREAMS {
            for stream in [false, true] {
                let question = "Paris";
                let body = client.chat(up.model(), question, stream, true);
                let (status, _, bytes) = env.post(client, client.path(), &body).await;
                let ctx = format!("{client:?} -> {up:?} stream={stream}");
                assert_eq!(status, 200, "{ctx}: {}", String::from_utf8_lossy(&bytes));
                let a = if stream {
                    client.stream(&bytes)
                } else {
                    client.answer(&bytes)
                };
                assert_eq!(a.tool_calls.len(), 1, "{ctx}: {a:?}");
                let call = &a.tool_calls[0];
                assert_eq!(call.1, "get_weather", "{ctx}");
                assert_eq!(call.2, json!({"city": "Paris"}), "{ctx}");
                assert!(!call.0.is_empty(), "tool call has an id: {ctx}");
                assert_eq!(a.finish, client.tool_finish(), "{ctx}");
                // Send the result back; the upstream validates the translated history.
                let follow = client.tool_followup(up.model(), question, call, "11 degrees", stream);
                let (status, _, bytes) = env.post(client, client.path(), &follow).await;
                assert_eq!(
                    status,
                    200,
                    "{ctx} follow-up: {}",
                    String::from_utf8_lossy(&bytes)
                );
                let b = if stream {
                    client.stream(&bytes)
                } else {
                    client.answer(&bytes)
                };
                assert_eq!(b.text, "tool result: 11 degrees", "{ctx}");
            }
        }
    }
    env.stop().await;
}

/// A one-pixel PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

/// A chat request carrying text and an inline PNG, in `client`'s format.
fn image_request(client: Client, model: &str) -> serde_json::Value {
    match client {
        Client::OpenAi => json!({"model": model, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}")}}]}]}),
        Client::Anthropic => {
            json!({"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]}]})
        }
        // Ollama sends bare base64 with no media type; the gateway sniffs it.
        Client::Ollama => json!({"model": model, "stream": false, "messages": [
            {"role": "user", "content": "what is this", "images": [PNG]}]}),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_reach_every_upstream_in_its_format() {
    let env = Env::start().await;
    for client in CLIENTS {
        for up in UPSTREAMS {
            let (status, _, bytes) = env
                .post(client, client.path(), &image_request(client, up.model()))
                .await;
            let ctx = format!("{client:?} -> {up:?}: {}", String::from_utf8_lossy(&bytes));
            assert_eq!(status, 200, "{ctx}");
            assert_eq!(client.answer(&bytes).text, "echo: what is this", "{ctx}");
            let rec = env.mock(up).last_request().expect("request");
            let m = &rec.body["messages"][0];
            let image = m["content"]
                .as_array()
                .and_then(|parts| parts.iter().find(|p| p["type"] != "text"))
                .cloned();
            match up {
                Upstream::OpenAi => assert_eq!(
                    image.map(|i| i["image_url"]["url"].clone()),
                    Some(json!(format!("data:image/png;base64,{PNG}"))),
                    "{ctx}"
                ),
                Upstream::Anthropic => assert_eq!(
                    image,
                    Some(
                        json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}})
                    ),
                    "{ctx}"
                ),
                Upstream::Ollama => assert_eq!(m["images"], json!([PNG]), "{ctx}"),
            }
        }
    }
    // URL images go to OpenAI and Anthropic as URLs.
    let body = json!({"model": "to-anthropic", "max_tokens": 10, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}, {"type": "text", "text": "cat?"}]}]});
    let (status, _, _) = env.post(Client::Anthropic, "/v1/messages", &body).await;
    assert_eq!(status, 200);
    let rec = env.anthropic.last_request().expect("request");
    assert_eq!(
        rec.body["messages"][0]["content"][0]["source"]["url"],
        "https://example.com/cat.png"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_thinking_signatures_pass_through_byte_exact() {
    let env = Env::start().await;
    let body = json!({"model": "to-anthropic", "max_tokens": 4000, "thinking": {"type": "enabled", "budget_tokens": 2000},
        "tools": [{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "messages": [{"role": "user", "content": "Oslo"}]});
    let (status, _, bytes) = env.post(Client::Anthropic, "/v1/messages", &body).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    let thinking = v["content"][0].clone();
    assert_eq!(thinking["type"], "thinking", "{v}");
    let sig = thinking["signature"]
        .as_str()
        .expect("signature")
        .to_owned();
    let tool_use = v["content"][1].clone();
    assert_eq!(tool_use["type"], "tool_use");
    // Replay the turn with its thinking block; the mock refuses a changed signature.
    let follow = json!({"model": "to-anthropic", "max_tokens": 4000, "thinking": {"type": "enabled", "budget_tokens": 2000},
        "tools": body["tools"], "messages": [
            {"role": "user", "content": "Oslo"},
            {"role": "assistant", "content": [thinking, tool_use.clone()]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use["id"], "content": "cold"}]}]});
    let (status, _, bytes) = env.post(Client::Anthropic, "/v1/messages", &follow).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let rec = env.anthropic.last_request().expect("request");
    assert_eq!(
        rec.body["messages"][1]["content"][0]["signature"],
        sig.as_str()
    );
    // To an OpenAI upstream the signed thinking is dropped, never forged or leaked.
    let mut to_openai = follow.clone();
    to_openai["model"] = json!("to-openai");
    let (status, _, bytes) = env
        .post(Client::Anthropic, "/v1/messages", &to_openai)
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let rec = env.openai.last_request().expect("request");
    assert!(
        !rec.body.to_string().contains(&sig),
        "signature must not reach OpenAI"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consecutive_and_mid_history_system_messages_reach_anthropic_legally() {
    let env = Env::start().await;
    let body = json!({"model": "to-anthropic", "messages": [
        {"role": "system", "content": "Rule one."},
        {"role": "user", "content": "a"},
        {"role": "user", "content": "b"},
        {"role": "developer", "content": "Rule two."},
        {"role": "assistant", "content": "ok"},
        {"role": "assistant", "content": "more"},
        {"role": "user", "content": [{"type": "text", "text": "c"}, {"type": "text", "text": ""}]}]});
    let (status, _, bytes) = env
        .post(Client::OpenAi, "/v1/chat/completions", &body)
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let rec = env.anthropic.last_request().expect("request");
    let system: Vec<String> = rec.body["system"]
        .as_array()
        .expect("system blocks")
        .iter()
        .map(|b| b["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(system.join("\n\n"), "Rule one.\n\nRule two.");
    let roles: Vec<&str> = rec.body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["role"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(roles, vec!["user", "assistant", "user"]);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_map_across_protocols() {
    let env = Env::start().await;
    let body = json!({"model": "to-anthropic", "messages": [{"role": "user", "content": "x"}],
        "temperature": 1.7, "top_p": 0.9, "max_tokens": 99, "stop": ["END"], "seed": 4,
        "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}}});
    let (status, _, _) = env
        .post(Client::OpenAi, "/v1/chat/completions", &body)
        .await;
    assert_eq!(status, 200);
    let rec = env.anthropic.last_request().expect("request");
    assert_eq!(rec.body["temperature"], 1.0, "clamped to Anthropic's range");
    assert_eq!(rec.body["top_p"], 0.9);
    assert_eq!(rec.body["max_tokens"], 99);
    assert_eq!(rec.body["stop_sequences"], json!(["END"]));
    assert_eq!(rec.body["output_config"]["format"]["type"], "json_schema");
    assert!(rec.body.get("seed").is_none());

    let body = json!({"model": "to-ollama", "messages": [{"role": "user", "content": "x"}],
        "temperature": 0.3, "max_tokens": 12, "stop": "END", "seed": 4, "response_format": {"type": "json_object"}});
    let (status, _, _) = env
        .post(Client::OpenAi, "/v1/chat/completions", &body)
        .await;
    assert_eq!(status, 200);
    let rec = env.ollama.last_request().expect("request");
    assert_eq!(
        rec.body["options"],
        json!({"temperature": 0.3, "num_predict": 12, "stop": ["END"], "seed": 4})
    );
    assert_eq!(rec.body["format"], "json");

    let body = json!({"model": "to-openai", "stream": false, "messages": [{"role": "user", "content": "x"}],
        "options": {"temperature": 0.2, "num_predict": 5, "top_k": 3, "num_ctx": 4096}, "keep_alive": "10m", "think": true});
    let (status, _, _) = env.post(Client::Ollama, "/api/chat", &body).await;
    assert_eq!(status, 200);
    let rec = env.openai.last_request().expect("request");
    assert_eq!(rec.body["temperature"], 0.2);
    assert_eq!(rec.body["max_completion_tokens"], 5);
    assert!(
        rec.body.get("keep_alive").is_none(),
        "Ollama-only fields stay out of OpenAI requests"
    );
    assert!(rec.body.get("options").is_none());
    // Ollama-only fields do reach an Ollama upstream.
    let mut same = body.clone();
    same["model"] = json!("to-ollama-thinking");
    let (status, _, _) = env.post(Client::Ollama, "/api/chat", &same).await;
    assert_eq!(status, 200);
    assert_eq!(
        env.ollama.last_request().expect("request").body["think"],
        true
    );
    let rec = env.ollama.last_request().expect("request");
    assert_eq!(rec.body["keep_alive"], "10m");
    assert_eq!(rec.body["options"]["num_ctx"], 4096);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_streams_by_default_and_generate_works() {
    let env = Env::start().await;
    for up in UPSTREAMS {
        let body = json!({"model": up.model(), "messages": [{"role": "user", "content": "hi"}]});
        let (status, headers, bytes) = env.post(Client::Ollama, "/api/chat", &body).await;
        assert_eq!(status, 200);
        assert_eq!(headers["content-type"], "application/x-ndjson");
        assert_eq!(Client::Ollama.stream(&bytes).text, "echo: hi");
        let body =
            json!({"model": up.model(), "prompt": "sing", "system": "be brief", "stream": false});
        let (status, _, bytes) = env.post(Client::Ollama, "/api/generate", &body).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(v["response"], "echo: sing");
        assert_eq!(v["done"], true);
    }
    // OpenAI legacy completions through every upstream.
    for up in UPSTREAMS {
        let body = json!({"model": up.model(), "prompt": "complete me", "max_tokens": 20});
        let (status, _, bytes) = env.post(Client::OpenAi, "/v1/completions", &body).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(v["choices"][0]["text"], "echo: complete me");
    }
    env.stop().await;
}

/// A loopback HTTP server that answers every request with the PNG.
async fn image_server() -> std::net::SocketAddr {
    use base64::Engine;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let png = base64::engine::general_purpose::STANDARD
        .decode(PNG)
        .expect("png");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        // Bounded: serves at most 8 requests.
        for _ in 0..8 {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let head = format!("HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", png.len());
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(&png).await;
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_images_are_downloaded_for_ollama_with_ssrf_guard() {
    let addr = image_server().await;
    let body = json!({"model": "to-ollama", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": format!("http://{addr}/cat.png")}}]}]});
    // By default a loopback (private) image host is refused, with a clear 400.
    let env = Env::start().await;
    let (status, _, bytes) = env
        .post(Client::OpenAi, "/v1/chat/completions", &body)
        .await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&bytes));
    assert!(Client::OpenAi.error_message(&bytes).contains("private"));
    // A host name is checked by what it resolves to (in the download client's resolver).
    let mut named = body.clone();
    named["messages"][0]["content"][1]["image_url"]["url"] =
        json!(format!("http://localhost:{}/cat.png", addr.port()));
    let (status, _, bytes) = env
        .post(Client::OpenAi, "/v1/chat/completions", &named)
        .await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&bytes));
    assert!(
        Client::OpenAi.error_message(&bytes).contains("private"),
        "{}",
        Client::OpenAi.error_message(&bytes)
    );
    assert!(env.ollama.requests().is_empty());
    env.stop().await;
    // Allowed explicitly, the image is fetched and sent inline.
    let env = Env::start_with_top("fetch_private_images = true", "").await;
    let (status, _, bytes) = env
        .post(Client::OpenAi, "/v1/chat/completions", &body)
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let rec = env.ollama.last_request().expect("request");
    assert_eq!(rec.body["messages"][0]["images"], json!([PNG]));
    // Other schemes are never fetched.
    let mut ftp = body.clone();
    ftp["messages"][0]["content"][1]["image_url"]["url"] = json!("file:///etc/passwd");
    let (status, _, bytes) = env.post(Client::OpenAi, "/v1/chat/completions", &ftp).await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&bytes));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_message_start_carries_the_upstreams_input_counts() {
    let env = Env::start().await;
    let body = Client::Anthropic.chat("to-anthropic", "count me in", true, false);
    let (status, _, bytes) = env.post(Client::Anthropic, "/v1/messages", &body).await;
    assert_eq!(status, 200);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let events = common::sse_events(&text);
    let start: serde_json::Value = serde_json::from_str(&events[0].1).expect("json");
    let usage = &start["message"]["usage"];
    assert!(
        usage["input_tokens"].as_u64().is_some_and(|n| n > 0),
        "{start}"
    );
    assert_eq!(
        usage["cache_read_input_tokens"],
        common::CACHE_READ,
        "{start}"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_a_model_cannot_do_is_dropped_across_protocols_but_not_within_one() {
    let env = Env::start().await;
    // Claude Code always asks for thinking and an effort.
    let claude = |model: &str| {
        json!({"model": model, "max_tokens": 2048, "thinking": {"type": "enabled", "budget_tokens": 1024},
            "output_config": {"effort": "high"}, "messages": [{"role": "user", "content": "ponder"}]})
    };
    for (model, thinks) in [
        ("to-ollama", false),
        ("to-ollama-thinking", true),
        ("to-openai", false),
        ("to-openai-reasoning", false),
    ] {
        let (status, _, bytes) = env
            .post(Client::Anthropic, "/v1/messages", &claude(model))
            .await;
        let ctx = format!("{model}: {}", String::from_utf8_lossy(&bytes));
        assert_eq!(status, 200, "{ctx}");
        let a = Client::Anthropic.answer(&bytes);
        assert_eq!(a.text, "echo: ponder", "{ctx}");
        assert_eq!(!a.reasoning.is_empty(), thinks, "{ctx}");
    }
    // The reasoning model got the effort; the other one was retried without it.
    let efforts: Vec<serde_json::Value> = env
        .openai
        .requests()
        .iter()
        .map(|r| r.body["reasoning_effort"].clone())
        .collect();
    assert_eq!(efforts, vec![json!("high"), json!(null), json!("high")]);
    // A client of the upstream's own protocol gets the upstream's refusal unchanged.
    let body = json!({"model": "to-openai", "reasoning_effort": "low", "messages": [{"role": "user", "content": "x"}]});
    let (status, _, bytes) = env
        .post(Client::OpenAi, "/v1/chat/completions", &body)
        .await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&bytes));
    assert!(Client::OpenAi
        .error_message(&bytes)
        .contains("reasoning_effort"));
    env.stop().await;
}
