//! OpenAI-compatible presets through the gateway, against the OpenAI mock standing in for
//! each vendor: the request reaches the preset's path with its auth header and its quirks
//! applied (fields the vendor refuses dropped, Mistral's tool-call ids, OpenRouter's
//! attribution headers), and the answer reaches the client.

mod common;

use common::{Client, Env};
use serde_json::{json, Value};

const EXTRA: &str = r#"
[[providers]]
name = "groq"
type = "groq"
base_url = "OPENAI_URL"
keys = ["upstream-key"]
models = ["gpt-4o-mini"]

[[providers]]
name = "cerebras"
type = "cerebras"
base_url = "OPENAI_URL"
keys = ["upstream-key"]
models = ["gpt-4o-mini"]

[[providers]]
name = "mistral"
type = "mistral"
base_url = "OPENAI_URL"
keys = ["upstream-key"]
models = ["gpt-4o-mini"]

[[providers]]
name = "openrouter"
type = "openrouter"
base_url = "OPENAI_URL"
keys = ["upstream-key"]
models = ["gpt-4o-mini"]
headers = { "HTTP-Referer" = "https://example.org" }

[[routes]]
model = "via-groq"
targets = ["groq/gpt-4o-mini"]

[[routes]]
model = "via-cerebras"
targets = ["cerebras/gpt-4o-mini"]

[[routes]]
model = "via-mistral"
targets = ["mistral/gpt-4o-mini"]

[[routes]]
model = "via-openrouter"
targets = ["openrouter/gpt-4o-mini"]
"#;

/// A tool-loop follow-up carrying fields some vendors refuse.
fn request(model: &str) -> Value {
    json!({
        "model": model,
        "messages": [
            {"role": "user", "content": "weather in Paris?", "name": "ann"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_abc123_long_openai_id", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_abc123_long_openai_id", "content": "sunny"}
        ],
        "tools": common::weather_tool_openai(),
        "logprobs": true,
        "logit_bias": {"50256": -100},
        "n": 1,
        "seed": 7,
        "max_tokens": 50
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presets_reach_their_path_with_auth_and_quirks() {
    let env = Env::start_with(EXTRA).await;
    // The mock refuses what each vendor refuses, as the vendor would.
    let refuses = |fields: &[&str]| {
        env.openai.faults().update(|f| {
            f.rejected_fields = fields.iter().map(|s| (*s).to_owned()).collect();
        })
    };
    refuses(&["logprobs", "logit_bias", "n"]);
    let (status, _, bytes) = env
        .post(
            Client::OpenAi,
            "/v1/chat/completions",
            &request("gpt-4o-mini"),
        )
        .await;
    assert_eq!(
        status,
        400,
        "without the preset the vendor refuses: {}",
        String::from_utf8_lossy(&bytes)
    );
    for (route, provider) in [
        ("via-groq", "groq"),
        ("via-cerebras", "cerebras"),
        ("via-mistral", "mistral"),
        ("via-openrouter", "openrouter"),
    ] {
        refuses(match provider {
            "groq" => &["logprobs", "logit_bias", "n"],
            "cerebras" => &["logit_bias", "frequency_penalty", "presence_penalty"],
            "mistral" => &["seed"],
            _ => &[],
        });
        env.openai.clear_requests();
        let (status, headers, bytes) = env
            .post(Client::OpenAi, "/v1/chat/completions", &request(route))
            .await;
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(status, 200, "{route}: {text}");
        assert_eq!(headers["x-lmrelay-provider"], provider, "{route}");
        let answer: Value = serde_json::from_slice(&bytes).expect("json");
        assert!(
            answer["choices"][0]["message"].is_object(),
            "{route}: {text}"
        );

        let sent = env.openai.last_request().expect("the mock saw the request");
        assert!(
            sent.path.ends_with("/chat/completions"),
            "{route}: {}",
            sent.path
        );
        assert_eq!(
            sent.header("authorization"),
            Some("Bearer upstream-key"),
            "{route}"
        );
        let b = &sent.body;
        assert_eq!(b["max_tokens"], 50, "{route}: presets take `max_tokens`");
        let call_id = b["messages"][1]["tool_calls"][0]["id"]
            .as_str()
            .expect("present");
        assert_eq!(call_id, b["messages"][2]["tool_call_id"], "{route}");
        match provider {
            "groq" => {
                for gone in ["logprobs", "logit_bias", "n"] {
                    assert!(b.get(gone).is_none(), "groq: `{gone}` sent");
                }
                assert!(b["messages"][0].get("name").is_none(), "groq: name sent");
            }
            "cerebras" => {
                assert!(b.get("logit_bias").is_none(), "cerebras: logit_bias sent");
                assert_eq!(b["logprobs"], true, "cerebras takes logprobs");
            }
            "mistral" => {
                assert_eq!(call_id.len(), 9, "mistral id {call_id}");
                assert!(call_id.bytes().all(|c| c.is_ascii_alphanumeric()));
                assert_eq!(b["random_seed"], 7);
                assert!(b.get("seed").is_none());
            }
            "openrouter" => {
                assert_eq!(sent.header("x-title"), Some("lmrelay"));
                assert_eq!(sent.header("http-referer"), Some("https://example.org"));
                assert_eq!(call_id, "call_abc123_long_openai_id");
                assert_eq!(b["logprobs"], true);
            }
            _ => unreachable!(),
        }
    }
    env.stop().await;
}
