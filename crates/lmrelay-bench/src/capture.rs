//! Real upstream stream bodies for the translation benchmark, captured once from the mocks:
//! per upstream format, a long text answer (one chunk per word) and a tool call whose long
//! arguments arrive in 16-character fragments (whole, in one line, for Ollama).

use crate::bodies::{self, ANTHROPIC_MODEL, OLLAMA_MODEL, OPENAI_MODEL};
use crate::env::{Env, UPSTREAM_KEY};
use crate::http::{Call, HttpClient};
use crate::translate::{split_chunks, Format};
use bytes::Bytes;

/// The streams of one upstream format, each split into the chunks the mock sent.
pub async fn streams(
    env: &Env,
    client: &HttpClient,
    upstream: Format,
    words: usize,
) -> Result<Vec<Vec<Bytes>>, String> {
    let text = bodies::prompt(words);
    let mut out = Vec::new();
    for tools in [false, true] {
        let call = call(env, upstream, &text, tools)?;
        let reply = client.send_ok(&call).await?;
        out.push(split_chunks(&reply.body, upstream.is_ndjson()));
    }
    env.clear_recorded();
    Ok(out)
}

fn call(env: &Env, upstream: Format, text: &str, tools: bool) -> Result<Call, String> {
    match upstream {
        Format::OpenAi => Call::new(
            &env.openai.root_url(),
            "/v1/chat/completions",
            &[("authorization", &format!("Bearer {UPSTREAM_KEY}"))],
            &bodies::openai_chat(OPENAI_MODEL, text, true, tools),
        ),
        Format::Anthropic => Call::new(
            &env.anthropic.root_url(),
            "/v1/messages",
            &[
                ("x-api-key", UPSTREAM_KEY),
                ("anthropic-version", "2023-06-01"),
            ],
            &bodies::anthropic_messages(ANTHROPIC_MODEL, text, true, tools),
        ),
        Format::Ollama => Call::new(
            &env.ollama.root_url(),
            "/api/chat",
            &[],
            &bodies::ollama_chat(OLLAMA_MODEL, text, tools),
        ),
    }
}
