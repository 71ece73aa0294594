//! Canonical stream events: what every upstream stream decodes to and every client stream
//! encoder consumes.

use crate::{ApiError, FinishReason, Usage};

/// One event of a streamed answer.
///
/// Order: `Start` first; then any mix of deltas; `Finish` and `Usage` near the end in either
/// order (upstreams differ); an `Error` ends the stream early. Tool calls are numbered by
/// `index` in order of appearance across the whole stream, starting at 0.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Start {
        id: String,
        model: String,
    },
    TextDelta(String),
    ReasoningDelta(String),
    /// The signature of the reasoning block that is open (Anthropic `signature_delta`).
    ReasoningSignature(String),
    /// A whole redacted-reasoning block.
    RedactedReasoning(String),
    ToolCallStart {
        index: u32,
        id: String,
        name: String,
    },
    ToolCallDelta {
        index: u32,
        arguments: String,
    },
    /// Usage so far; later events supersede earlier ones.
    Usage(Usage),
    Finish {
        reason: FinishReason,
        stop_sequence: Option<String>,
    },
    Error(ApiError),
}
