//! The canonical chat response and finish reasons.

use crate::{ContentPart, Usage};

/// A complete (non-streamed) answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatResponse {
    /// The upstream's response id, when it gave one.
    pub id: String,
    /// The model that answered, as the upstream named it.
    pub model: String,
    /// Text, tool calls and reasoning, in the order the model produced them.
    pub content: Vec<ContentPart>,
    pub finish: FinishReason,
    /// The stop sequence that ended the output, when the upstream reports it.
    pub stop_sequence: Option<String>,
    pub usage: Usage,
}

/// Why the model stopped, in canonical terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FinishReason {
    #[default]
    Stop,
    StopSequence,
    Length,
    ToolCalls,
    ContentFilter,
    /// Anthropic `pause_turn`: a long server-tool turn was paused.
    Pause,
    ContextExceeded,
    Error,
}

// === impl ChatResponse ===

impl ChatResponse {
    pub fn has_tool_calls(&self) -> bool {
        self.content
            .iter()
            .any(|p| matches!(p, ContentPart::ToolCall { .. }))
    }

    /// The concatenated text of the answer.
    pub fn text(&self) -> String {
        crate::request::text_of(&self.content)
    }
}

// === impl FinishReason ===

impl FinishReason {
    /// Makes the reason agree with what was produced: a natural stop becomes `ToolCalls`
    /// when tool calls were produced (some upstreams say `stop` or `""` even then), and
    /// `ToolCalls` becomes `Stop` when none were.
    pub fn with_tool_calls(self, had_tool_calls: bool) -> Self {
        match self {
            FinishReason::Stop | FinishReason::StopSequence if had_tool_calls => {
                FinishReason::ToolCalls
            }
            FinishReason::ToolCalls if !had_tool_calls => FinishReason::Stop,
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FinishReason;

    #[test]
    fn finish_reason_agrees_with_tool_calls() {
        assert_eq!(
            FinishReason::Stop.with_tool_calls(true),
            FinishReason::ToolCalls
        );
        assert_eq!(
            FinishReason::ToolCalls.with_tool_calls(false),
            FinishReason::Stop
        );
        assert_eq!(
            FinishReason::Length.with_tool_calls(true),
            FinishReason::Length
        );
        assert_eq!(
            FinishReason::ToolCalls.with_tool_calls(true),
            FinishReason::ToolCalls
        );
    }
}
