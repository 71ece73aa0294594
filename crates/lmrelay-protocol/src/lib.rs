//! Pure codecs between lmrelay's canonical types (`lmrelay-ir`) and the wire formats of
//! OpenAI (Chat Completions and Responses), Anthropic and Ollama (both directions), Google Gemini and Cohere (upstream side
//! only).
//!
//! Each format module has both directions, because lmrelay speaks every format as a server
//! (to clients) and as a client (to upstreams):
//! - client side: `decode_request`, `encode_response`, `StreamWriter`, `render_error`;
//! - upstream side: `encode_request`, `decode_response`, `StreamReader`, `decode_error`.
//!
//! No I/O, no clocks, no configuration lookups: callers pass in what a codec needs (the
//! client-visible model name, timestamps), so every function here is table-testable.

pub mod anthropic;
pub mod bedrock;
pub mod cohere;
pub mod envelope;
pub mod gemini;
pub mod json;
pub mod ndjson;
pub mod ollama;
pub mod openai;
pub mod responses;
pub mod signature;
pub mod sse;
pub mod stream;
pub mod time;
pub mod tools;

pub use envelope::Envelope;
pub use stream::{ResponseMeta, StreamDecoder, StreamEncoder, UpstreamOptions};

/// What the gateway needs of an answer it passes to a client of the same protocol
/// unchanged: its usage and finish reason, read without building the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerSummary {
    pub usage: lmrelay_ir::Usage,
    pub finish: lmrelay_ir::FinishReason,
}
