//! Faithful fake OpenAI, Anthropic, Ollama, Gemini, Azure OpenAI and Cohere upstreams for lmrelay's
//! Faithful fake OpenAI, Anthropic, Ollama, Gemini and Bedrock upstreams for lmrelay's
//! tests and benchmarks.
//!
//! The mock speaks raw wire JSON (it shares no types with the gateway), so it
//! checks the gateway's translations independently. One server serves one
//! [`Flavor`]:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use lmrelay_mock::{spawn, Flavor, MockConfig};
//! let server = spawn(Flavor::OpenAi, MockConfig::default()).await?;
//! let base = server.base_url(); // http://127.0.0.1:PORT/v1
//! server.faults().fail_next(429, 1, Some(1));
//! # let _ = base; Ok(()) }
//! ```
//!
//! Answers are deterministic (see `reply.rs`): `echo: <last user text>`, a call
//! of the first offered tool, `tool result: <text>` after a tool result, and
//! optional thinking. Every request is recorded; faults are set in-process via
//! [`MockServer::faults`] or over HTTP (`POST /mock/faults`, `POST /mock/reset`,
//! `GET /mock/requests`).

// Handlers and their validation helpers return a ready provider error
// `Response` as the `Err` of a cold path; boxing it would only add noise.
#![allow(clippy::result_large_err)]

mod anthropic;
mod azure;
mod bedrock;
mod cohere;
mod embed;
mod faults;
mod gemini;
mod ollama;
mod openai;
mod openai_responses;
mod reply;
mod server;
mod stream;
mod util;

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use serde::Serialize;

pub use embed::vector as embedding_vector;
pub use faults::{FailNext, FaultSettings, Faults};
pub use server::{spawn, MockServer};

/// Which provider a server imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// OpenAI `/v1/chat/completions`, `/v1/completions`, `/v1/responses`, `/v1/embeddings`,
    /// `/v1/models`.
    OpenAi,
    /// Anthropic `/v1/messages`, `/v1/messages/count_tokens`, `/v1/models`.
    Anthropic,
    /// Ollama native `/api/*` and `/`.
    Ollama,
    /// Gemini `/v1beta/models/{model}:generateContent` and friends.
    Gemini,
    /// Azure OpenAI: OpenAI answers behind `/openai/deployments/{deployment}/…?api-version=`
    /// and `/openai/v1/…`, with the `api-key` header and content-filter annotations.
    Azure,
    /// Cohere v2 `/v2/chat`, `/v2/embed`, and `/v1/models`.
    Cohere,
    /// Bedrock `/model/{modelId}/converse`, `/converse-stream`, `/count-tokens`, SigV4.
    Bedrock,
}

impl Flavor {
    /// Lowercase name: `openai`, `anthropic`, `ollama`, `gemini`, `bedrock`.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::OpenAi => "openai",
            Flavor::Anthropic => "anthropic",
            Flavor::Ollama => "ollama",
            Flavor::Gemini => "gemini",
            Flavor::Azure => "azure",
            Flavor::Cohere => "cohere",
            Flavor::Bedrock => "bedrock",
        }
    }

    /// The models a server of this flavor knows when the config lists none.
    pub fn default_models(self) -> Vec<String> {
        let names: &[&str] = match self {
            Flavor::OpenAi => &["gpt-4o-mini", "gpt-4o", "o4-mini", "text-embedding-3-small"],
            Flavor::Anthropic => &["claude-3-5-haiku-latest", "claude-sonnet-4-5"],
            Flavor::Ollama => &["llama3.2:latest", "qwen3:latest", "nomic-embed-text:latest"],
            Flavor::Gemini => &[
                "gemini-2.5-flash",
                "gemini-2.5-pro",
                "gemini-2.0-flash",
                "gemini-3-pro-preview",
                "text-embedding-004",
                "gemini-embedding-001",
            ],
            // Deployment names.
            Flavor::Azure => &[
                "gpt-4o",
                "gpt4o-prod",
                "gpt-4o-mini",
                "text-embedding-3-small",
            ],
            Flavor::Cohere => &[
                "command-a-03-2025",
                "command-r-plus",
                "command-r7b-12-2024",
                "embed-v4.0",
                "embed-english-v3.0",
            ],
            Flavor::Bedrock => &[
                "anthropic.claude-3-5-haiku-20241022-v1:0",
                "us.anthropic.claude-sonnet-4-20250514-v1:0",
                "amazon.nova-lite-v1:0",
            ],
        };
        names.iter().map(|s| (*s).to_string()).collect()
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Flavor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "openai" => Ok(Flavor::OpenAi),
            "anthropic" => Ok(Flavor::Anthropic),
            "ollama" => Ok(Flavor::Ollama),
            "gemini" => Ok(Flavor::Gemini),
            "azure" => Ok(Flavor::Azure),
            "cohere" => Ok(Flavor::Cohere),
            "bedrock" => Ok(Flavor::Bedrock),
            other => Err(format!("unknown flavor {other:?}")),
        }
    }
}

/// Server configuration.
#[derive(Clone, Debug, Default)]
pub struct MockConfig {
    /// Address to bind; `None` = `127.0.0.1:0`.
    pub listen: Option<SocketAddr>,
    /// Accepted API keys; empty = any non-empty key. Ollama never checks keys.
    /// Gemini reads `x-goog-api-key` (or `?key=`). Bedrock takes
    /// `ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]` and recomputes each SigV4 signature with the
    /// secret, or a Bedrock API key (no `:`) as a bearer token.
    pub keys: Vec<String>,
    /// Known models; empty = [`Flavor::default_models`]; an entry `*` accepts any model.
    pub models: Vec<String>,
    /// Reported as cached input tokens (Anthropic `cache_read_input_tokens`,
    /// excluded from `input_tokens`; OpenAI `prompt_tokens_details.cached_tokens`,
    /// included in `prompt_tokens`; Gemini `cachedContentTokenCount`, included in
    /// `promptTokenCount`; Bedrock `cacheReadInputTokens`, excluded from `inputTokens`).
    /// Ollama ignores it.
    pub cache_read_tokens: u64,
}

/// One request as received (control endpoints under `/mock/` are not recorded).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Headers in arrival order, names lowercase, values lossily decoded.
    pub headers: Vec<(String, String)>,
    /// JSON body; a JSON string holding the raw text if it was not JSON; `null` if empty.
    pub body: serde_json::Value,
}

impl RecordedRequest {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
