//! Between whole answers and streams: [`StreamCollector`] adds a stream's events up into the
//! [`ChatResponse`] they describe, and [`ChatResponse::to_events`] plays an answer back as
//! the events of a stream. The response cache uses both: an answer is cached whether it
//! arrived whole or streamed, and served to clients of either kind.

use crate::{ChatResponse, ContentPart, StreamEvent};

/// Builds the answer a stream describes.
#[derive(Debug, Default)]
pub struct StreamCollector {
    response: ChatResponse,
    /// Position in `content` of each tool call, by stream index.
    tool_calls: Vec<(u32, usize)>,
    finished: bool,
    failed: bool,
}

// === impl StreamCollector ===

impl StreamCollector {
    pub fn push(&mut self, event: &StreamEvent) {
        let content = &mut self.response.content;
        match event {
            StreamEvent::Start { id, model } => {
                self.response.id.clone_from(id);
                self.response.model.clone_from(model);
            }
            StreamEvent::TextDelta(t) => match content.last_mut() {
                Some(ContentPart::Text { text, .. }) => text.push_str(t),
                _ => content.push(ContentPart::Text {
                    text: t.clone(),
                    cache_control: None,
                }),
            },
            StreamEvent::ReasoningDelta(t) => match content.last_mut() {
                Some(ContentPart::Reasoning {
                    text,
                    signature: None,
                }) => text.push_str(t),
                _ => content.push(ContentPart::Reasoning {
                    text: t.clone(),
                    signature: None,
                }),
            },
            StreamEvent::ReasoningSignature(s) => match content.last_mut() {
                Some(ContentPart::Reasoning { signature, .. }) => *signature = Some(s.clone()),
                _ => content.push(ContentPart::Reasoning {
                    text: String::new(),
                    signature: Some(s.clone()),
                }),
            },
            StreamEvent::RedactedReasoning(data) => {
                content.push(ContentPart::RedactedReasoning { data: data.clone() })
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.tool_calls.push((*index, content.len()));
                content.push(ContentPart::ToolCall {
                    id: id.clone(),
                    name: name.clone(),
                    arguments: String::new(),
                    cache_control: None,
                });
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                let at = self
                    .tool_calls
                    .iter()
                    .find(|(i, _)| i == index)
                    .map(|(_, at)| *at);
                if let Some(ContentPart::ToolCall { arguments: a, .. }) =
                    at.and_then(|at| content.get_mut(at))
                {
                    a.push_str(arguments);
                }
            }
            StreamEvent::Usage(u) => self.response.usage = *u,
            StreamEvent::Finish {
                reason,
                stop_sequence,
            } => {
                self.response.finish = *reason;
                self.response.stop_sequence.clone_from(stop_sequence);
                self.finished = true;
            }
            StreamEvent::Error(_) => self.failed = true,
        }
    }

    /// The answer, when the stream ended properly (finished, no error).
    pub fn finish(self) -> Option<ChatResponse> {
        (self.finished && !self.failed).then_some(self.response)
    }
}

// === impl ChatResponse ===

impl ChatResponse {
    /// The answer as the events of a stream: start, content in order, finish, usage.
    pub fn to_events(&self) -> Vec<StreamEvent> {
        let mut events = Vec::with_capacity(self.content.len() + 3);
        events.push(StreamEvent::Start {
            id: self.id.clone(),
            model: self.model.clone(),
        });
        let mut index = 0;
        for part in &self.content {
            match part {
                ContentPart::Text { text, .. } => events.push(StreamEvent::TextDelta(text.clone())),
                ContentPart::Reasoning { text, signature } => {
                    events.push(StreamEvent::ReasoningDelta(text.clone()));
                    if let Some(s) = signature {
                        events.push(StreamEvent::ReasoningSignature(s.clone()));
                    }
                }
                ContentPart::RedactedReasoning { data } => {
                    events.push(StreamEvent::RedactedReasoning(data.clone()))
                }
                ContentPart::ToolCall {
                    id,
                    name,
                    arguments,
                    ..
                } => {
                    events.push(StreamEvent::ToolCallStart {
                        index,
                        id: id.clone(),
                        name: name.clone(),
                    });
                    events.push(StreamEvent::ToolCallDelta {
                        index,
                        arguments: arguments.clone(),
                    });
                    index += 1;
                }
                _ => {}
            }
        }
        events.push(StreamEvent::Finish {
            reason: self.finish,
            stop_sequence: self.stop_sequence.clone(),
        });
        events.push(StreamEvent::Usage(self.usage));
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FinishReason, Usage};

    #[test]
    fn an_answer_survives_a_round_trip_through_events() {
        let answer = ChatResponse {
            id: "r1".into(),
            model: "m".into(),
            content: vec![
                ContentPart::Reasoning {
                    text: "think".into(),
                    signature: Some("sig".into()),
                },
                ContentPart::Text {
                    text: "hello".into(),
                    cache_control: None,
                },
                ContentPart::ToolCall {
                    id: "c1".into(),
                    name: "f".into(),
                    arguments: "{\"a\":1}".into(),
                    cache_control: None,
                },
            ],
            finish: FinishReason::ToolCalls,
            stop_sequence: None,
            usage: Usage {
                input: 10,
                output: 5,
                ..Usage::default()
            },
        };
        let mut c = StreamCollector::default();
        for e in answer.to_events() {
            c.push(&e);
        }
        assert_eq!(c.finish(), Some(answer));
    }

    #[test]
    fn deltas_add_up_and_errors_or_cut_streams_give_nothing() {
        let mut c = StreamCollector::default();
        for e in [
            StreamEvent::TextDelta("a".into()),
            StreamEvent::TextDelta("b".into()),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "x".into(),
                name: "f".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "{".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "}".into(),
            },
            StreamEvent::Finish {
                reason: FinishReason::Stop,
                stop_sequence: None,
            },
        ] {
            c.push(&e);
        }
        let r = c.finish().expect("finished");
        assert_eq!(r.content.len(), 2);
        assert!(
            matches!(&r.content[1], ContentPart::ToolCall { arguments, .. } if arguments == "{}")
        );
        let mut cut = StreamCollector::default();
        cut.push(&StreamEvent::TextDelta("a".into()));
        assert_eq!(cut.finish(), None, "no finish: not whole");
        let mut failed = StreamCollector::default();
        failed.push(&StreamEvent::Finish {
            reason: FinishReason::Stop,
            stop_sequence: None,
        });
        failed.push(&StreamEvent::Error(crate::ApiError::invalid("x")));
        assert_eq!(failed.finish(), None);
    }
}
