//! The same-protocol fast path: an OpenAI client served by a plain `openai` provider (and an
//! Anthropic client by an `anthropic` one) gets the upstream's answer as it was sent, so
//! what the canonical answer drops — further choices, logprobs, `system_fingerprint`,
//! `service_tier` — reaches it unchanged, and the answer otherwise equals the canonical
//! path's (a route that caches takes the canonical path, which the cache needs).

mod common;

use common::{Client, Env};
use serde_json::{json, Value};

const ROUTES: &str = r#"
[[routes]]
model = "fast-openai"
targets = ["oa/gpt-4o-mini"]

[[routes]]
model = "canonical-openai"
targets = ["oa/gpt-4o-mini"]
cache = true

[[routes]]
model = "fast-anthropic"
targets = ["an/claude-3-5-haiku-latest"]

[[routes]]
model = "canonical-anthropic"
targets = ["an/claude-3-5-haiku-latest"]
cache = true
"#;

async fn ask(env: &Env, client: Client, body: &Value) -> (Value, Vec<u8>) {
    let (status, _, bytes) = env
        .post_raw(client, client.path(), body.to_string().into_bytes())
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    (serde_json::from_slice(&bytes).expect("json"), bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn choices_logprobs_fingerprint_and_tier_reach_an_openai_client_unchanged() {
    let env = Env::start_with(ROUTES).await;
    let mut body = Client::OpenAi.chat("fast-openai", "three little words", false, false);
    body["n"] = json!(3);
    body["logprobs"] = json!(true);
    body["service_tier"] = json!("flex");
    let (fast, _) = ask(&env, Client::OpenAi, &body).await;
    let choices = fast["choices"].as_array().expect("choices");
    assert_eq!(choices.len(), 3, "{fast}");
    for (i, c) in choices.iter().enumerate() {
        assert_eq!(c["index"], i);
        let tokens = c["logprobs"]["content"].as_array().expect("logprobs");
        assert!(!tokens.is_empty() && tokens[0]["token"].is_string(), "{c}");
    }
    assert_eq!(fast["system_fingerprint"], "fp_mock");
    assert_eq!(fast["service_tier"], "flex");
    assert_eq!(fast["model"], "gpt-4o-mini", "the upstream's own answer");
    // The mock got the client's fields as sent.
    let sent = env.openai.requests();
    let upstream = &sent[0].body;
    assert_eq!(upstream["n"], 3);
    assert_eq!(upstream["service_tier"], "flex");
    // The canonical path answers with one choice and none of those fields.
    body["model"] = json!("canonical-openai");
    let (canonical, _) = ask(&env, Client::OpenAi, &body).await;
    assert_eq!(canonical["choices"].as_array().map(Vec::len), Some(1));
    assert!(canonical.get("system_fingerprint").is_none());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_reaches_the_upstream_as_sent_with_the_model_renamed() {
    let env = Env::start_with(ROUTES).await;
    let mut body = Client::OpenAi.chat("fast-openai", "as sent", false, false);
    // Fields the canonical path rewrites or does not know.
    body["max_tokens"] = json!(12);
    body["x_vendor_option"] = json!({"keep": [1, 2]});
    ask(&env, Client::OpenAi, &body).await;
    let got = env.openai.requests()[0].body.clone();
    let mut want = body.clone();
    want["model"] = json!("gpt-4o-mini");
    assert_eq!(got, want);
    // A stream asks for usage the client did not (lmrelay counts tokens), and no more.
    body["stream"] = json!(true);
    body.as_object_mut()
        .expect("object")
        .remove("stream_options");
    ask_stream(&env, Client::OpenAi, &body).await;
    let got = env.openai.requests()[1].body.clone();
    want["stream"] = json!(true);
    want["stream_options"] = json!({"include_usage": true});
    assert_eq!(got, want);
    // An Anthropic client's body too, system string and all.
    let mut body = Client::Anthropic.chat("fast-anthropic", "as sent", false, false);
    body["system"] = json!("plain string system");
    body["metadata"] = json!({"user_id": "u-1"});
    ask(&env, Client::Anthropic, &body).await;
    let got = env.anthropic.requests()[0].body.clone();
    body["model"] = json!("claude-3-5-haiku-latest");
    assert_eq!(got, body);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_and_canonical_paths_give_the_same_answer() {
    let env = Env::start_with(ROUTES).await;
    for (client, family) in [(Client::OpenAi, "openai"), (Client::Anthropic, "anthropic")] {
        let fast_model = format!("fast-{family}");
        let canonical_model = format!("canonical-{family}");
        // Plain text, a tool call, and the follow-up with the tool's result.
        let mut cases = vec![
            client.chat("", "say something plain", false, false),
            client.chat("", "what is the weather in Paris", false, true),
        ];
        let (_, bytes) = ask(&env, client, &{
            let mut b = cases[1].clone();
            b["model"] = json!(fast_model);
            b
        })
        .await;
        let call = client
            .answer(&bytes)
            .tool_calls
            .first()
            .cloned()
            .expect("a tool call");
        cases.push(client.tool_followup("", "what is the weather in Paris", &call, "sunny", false));
        for case in cases {
            let mut fast = case.clone();
            fast["model"] = json!(fast_model);
            let mut canonical = case;
            canonical["model"] = json!(canonical_model);
            let (_, a) = ask(&env, client, &fast).await;
            let (_, b) = ask(&env, client, &canonical).await;
            let (mut a, mut b) = (client.answer(&a), client.answer(&b));
            // Tool-call ids are the upstream's own, new on every answer.
            for t in a.tool_calls.iter_mut().chain(b.tool_calls.iter_mut()) {
                t.0.clear();
            }
            assert_eq!(a, b, "{family}: {fast}");
        }
    }
    env.stop().await;
}

/// A streamed request's raw answer.
async fn ask_stream(env: &Env, client: Client, body: &Value) -> String {
    let (status, headers, bytes) = env
        .post_raw(client, client.path(), body.to_string().into_bytes())
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert!(headers["content-type"]
        .to_str()
        .is_ok_and(|t| t.starts_with("text/event-stream")));
    String::from_utf8(bytes).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_pass_through_and_match_the_canonical_stream() {
    let env = Env::start_with(ROUTES).await;
    for (client, family) in [(Client::OpenAi, "openai"), (Client::Anthropic, "anthropic")] {
        for tools in [false, true] {
            for include_usage in [true, false] {
                if client == Client::Anthropic && !include_usage {
                    continue;
                }
                let mut body = client.chat("", "stream me a few words", true, tools);
                if !include_usage {
                    body.as_object_mut()
                        .expect("object")
                        .remove("stream_options");
                }
                body["model"] = json!(format!("fast-{family}"));
                let fast = ask_stream(&env, client, &body).await;
                body["model"] = json!(format!("canonical-{family}"));
                let canonical = ask_stream(&env, client, &body).await;
                let (mut a, mut b) = (
                    client.stream(fast.as_bytes()),
                    client.stream(canonical.as_bytes()),
                );
                for t in a.tool_calls.iter_mut().chain(b.tool_calls.iter_mut()) {
                    t.0.clear();
                }
                if !include_usage {
                    // Neither path shows usage the client did not ask for.
                    assert_eq!((a.input_tokens, b.input_tokens), (0, 0), "{fast}");
                }
                assert_eq!(
                    a, b,
                    "{family} tools={tools} usage={include_usage}\n{fast}\n---\n{canonical}"
                );
                if client == Client::OpenAi {
                    // The upstream's own chunks, as sent.
                    assert!(
                        fast.contains("\"system_fingerprint\":\"fp_mock\""),
                        "{fast}"
                    );
                    assert!(fast.ends_with("data: [DONE]\n\n"), "{fast}");
                    assert_eq!(
                        fast.contains("\"choices\":[]"),
                        include_usage,
                        "the usage chunk only when asked: {fast}"
                    );
                }
            }
        }
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_on_the_fast_path_ends_with_an_error_in_the_clients_shape() {
    let env = Env::start_with(ROUTES).await;
    env.openai
        .faults()
        .update(|f| f.drop_after_events = Some(4));
    let body = {
        let mut b =
            Client::OpenAi.chat("fast-openai", "a stream that breaks off early", true, false);
        b["stream_options"] = json!({"include_usage": true});
        b
    };
    let text = ask_stream(&env, Client::OpenAi, &body).await;
    let last = text
        .trim_end()
        .rsplit("\n\n")
        .next()
        .expect("a last event")
        .to_owned();
    let data: Value =
        serde_json::from_str(last.trim_start_matches("data: ")).expect("the last event is JSON");
    assert!(data["error"]["message"].is_string(), "{text}");
    // Every event before it is whole.
    for event in text.trim_end().split("\n\n") {
        assert!(event.starts_with("data: "), "{event:?} in {text}");
    }
    env.stop().await;
}
