//! The two stream roles every format plays: decoding an upstream's stream into canonical
//! events, and encoding canonical events as a client's stream. Plus the small context types
//! codecs take instead of reading clocks or config.

use bytes::BytesMut;
use lmrelay_ir::StreamEvent;

/// Turns an upstream's streamed bytes into canonical events.
pub trait StreamDecoder: Send {
    /// Consumes the next bytes (any split), appending the events they complete to `out`.
    /// A frame that cannot be understood becomes a `StreamEvent::Error`.
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>);
    /// The upstream closed the stream. If it ended before its terminal frame, appends an
    /// error event saying so.
    fn finish(&mut self, out: &mut Vec<StreamEvent>);
    /// Whether a whole SSE event (its bytes up to and including the blank line) certainly
    /// carries content alone — no usage, finish, error or end — so that a relay passing the
    /// stream on unchanged, past its first content, need not decode it. `false` when unsure.
    fn content_only(&self, _event: &[u8]) -> bool {
        false
    }
}

/// Turns canonical events into a client's stream frames.
///
/// After a terminal frame (the end of the stream, or an in-stream error) it writes nothing
/// more, whatever it is fed.
pub trait StreamEncoder: Send {
    /// The `Content-Type` of the stream.
    fn content_type(&self) -> &'static str;
    /// Encodes one event, appending frames to `out`.
    fn push(&mut self, event: &StreamEvent, out: &mut BytesMut);
    /// The upstream stream has ended: writes the closing frames. `now_ms` is the wall-clock
    /// time (Unix milliseconds), for formats that report durations.
    fn finish(&mut self, now_ms: u64, out: &mut BytesMut);
    /// Whether a terminal frame has been written.
    fn is_closed(&self) -> bool;
}

/// What a client-side encoder needs to know about the exchange.
#[derive(Debug, Clone, Default)]
pub struct ResponseMeta {
    /// The model name the client asked for; responses echo it.
    pub model: String,
    /// Wall-clock time the request arrived (Unix milliseconds).
    pub started_ms: u64,
    /// The client asked for usage in the stream (OpenAI `stream_options.include_usage`).
    pub include_usage: bool,
    /// The client asked to see reasoning (Ollama `think`, Anthropic `thinking`).
    pub include_reasoning: bool,
    /// The tool namespaces the client declared (`ChatRequest::tool_namespaces`): calls of
    /// their flattened tools go back to the client split into namespace and name.
    pub tool_namespaces: Vec<String>,
}

/// What an upstream-side encoder needs besides the request.
#[derive(Debug, Clone)]
pub struct UpstreamOptions {
    /// The provider's name for the model.
    pub model: String,
    /// `max_tokens` to send when the format requires one and the client gave none
    /// (Anthropic).
    pub default_max_tokens: u32,
    /// An OpenAI-compatible server rather than OpenAI itself: it takes `max_tokens` (not
    /// `max_completion_tokens`) and sampling extensions such as `top_k`.
    pub openai_compatible: bool,
}

// === impl ResponseMeta ===

impl ResponseMeta {
    pub fn created_secs(&self) -> u64 {
        self.started_ms / 1000
    }
}

// === impl UpstreamOptions ===

impl UpstreamOptions {
    pub fn new(model: impl Into<String>) -> Self {
        UpstreamOptions {
            model: model.into(),
            default_max_tokens: 4096,
            openai_compatible: false,
        }
    }
}

/// The error an encoder or decoder reports when an upstream stream stopped before its end.
pub fn premature_end() -> lmrelay_ir::ApiError {
    lmrelay_ir::ApiError::new(
        lmrelay_ir::ErrorKind::BadGateway,
        "The upstream stream ended prematurely.",
    )
}
