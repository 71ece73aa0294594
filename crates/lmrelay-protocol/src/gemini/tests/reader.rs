//! `StreamReader`: Gemini SSE chunks to canonical events, however the bytes are split.

use crate::gemini::StreamReader;
use crate::signature::{gemini_part, gemini_thought};
use crate::StreamDecoder;
use lmrelay_ir::{ErrorKind, FinishReason, StreamEvent, Usage};
use proptest::prelude::*;

/// A thinking, tool-calling stream as Gemini sends it (`\r\n\r\n` between events, usage on
/// several chunks, no terminator).
const EXAMPLE: &str = concat!(
    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Thinking about \",\"thought\":true}],\"role\":\"model\"},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":120,\"totalTokenCount\":120,\"cachedContentTokenCount\":100},\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"r-1\"}\r\n\r\n",
    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Paris.\",\"thought\":true,\"thoughtSignature\":\"dGg=\"}],\"role\":\"model\"},\"index\":0}],\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"r-1\"}\r\n\r\n",
    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Checking \"}],\"role\":\"model\"},\"index\":0}],\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"r-1\"}\r\n\r\n",
    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"é.\"},{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"Paris\"}},\"thoughtSignature\":\"Y2FsbA==\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":120,\"candidatesTokenCount\":12,\"thoughtsTokenCount\":30,\"cachedContentTokenCount\":100,\"totalTokenCount\":162},\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"r-1\"}\r\n\r\n",
);

fn decode(chunks: &[&[u8]]) -> Vec<StreamEvent> {
    let mut r = StreamReader::new();
    let mut out = Vec::new();
    for c in chunks {
        r.feed(c, &mut out);
    }
    r.finish(&mut out);
    out
}

fn expected(call_id: &str) -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start {
            id: "r-1".into(),
            model: "gemini-2.5-flash".into(),
        },
        StreamEvent::Usage(Usage {
            input: 120,
            output: 0,
            cache_read: 100,
            cache_write: 0,
            reasoning: None,
        }),
        StreamEvent::ReasoningDelta("Thinking about ".into()),
        StreamEvent::ReasoningDelta("Paris.".into()),
        StreamEvent::ReasoningSignature(gemini_thought("dGg=")),
        StreamEvent::TextDelta("Checking ".into()),
        StreamEvent::Usage(Usage {
            input: 120,
            output: 42,
            cache_read: 100,
            cache_write: 0,
            reasoning: Some(30),
        }),
        StreamEvent::TextDelta("é.".into()),
        StreamEvent::ReasoningSignature(gemini_part("Y2FsbA==")),
        StreamEvent::ToolCallStart {
            index: 0,
            id: call_id.into(),
            name: "get_weather".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "{\"city\":\"Paris\"}".into(),
        },
        StreamEvent::Finish {
            reason: FinishReason::ToolCalls,
            stop_sequence: None,
        },
    ]
}

fn call_id(events: &[StreamEvent]) -> String {
    events
        .iter()
        .find_map(|e| match e {
            StreamEvent::ToolCallStart { id, .. } => Some(id.clone()),
            _ => None,
        })
        .expect("a tool call")
}

#[test]
fn decodes_the_reference_stream_in_several_splits() {
    let bytes = EXAMPLE.as_bytes();
    let whole = decode(&[bytes]);
    let id = call_id(&whole);
    assert!(id.starts_with("call_"), "{id}");
    assert_eq!(whole, expected(&id));
    // The same response id gives the same call id, whatever the split.
    let singles: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(decode(&singles), expected(&id));
    let sevens: Vec<&[u8]> = bytes.chunks(7).collect();
    assert_eq!(decode(&sevens), expected(&id));
    let lf = EXAMPLE.replace("\r\n", "\n");
    assert_eq!(decode(&[lf.as_bytes()]), expected(&id));
}

proptest! {
    #[test]
    fn same_events_however_the_bytes_are_split(cuts in proptest::collection::vec(0usize..EXAMPLE.len(), 0..16)) {
        let bytes = EXAMPLE.as_bytes();
        let mut cuts = cuts;
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut prev = 0;
        for c in cuts {
            chunks.push(&bytes[prev..c]);
            prev = c;
        }
        chunks.push(&bytes[prev..]);
        let events = decode(&chunks);
        let id = call_id(&events);
        prop_assert_eq!(events, expected(&id));
    }
}

#[test]
fn an_end_before_any_finish_reason_is_an_error() {
    let events = decode(&[b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hel\"}]}}],\"responseId\":\"r\"}\r\n\r\n"]);
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(matches!(&events[2], StreamEvent::Error(e) if e.kind == ErrorKind::BadGateway));
}

#[test]
fn usage_after_the_finish_is_still_reported() {
    let events = decode(&[
        b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]},\"finishReason\":\"MAX_TOKENS\"}]}\r\n\r\n",
        b"data: {\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":1}}\r\n\r\n",
    ]);
    assert_eq!(
        events[1..],
        [
            StreamEvent::TextDelta("Hi".into()),
            StreamEvent::Finish {
                reason: FinishReason::Length,
                stop_sequence: None
            },
            StreamEvent::Usage(Usage {
                input: 3,
                output: 1,
                ..Usage::default()
            }),
        ]
    );
}

#[test]
fn a_blocked_prompt_finishes_with_content_filter() {
    let events = decode(&[
        b"data: {\"promptFeedback\":{\"blockReason\":\"SAFETY\"},\"responseId\":\"r\"}\r\n\r\n",
    ]);
    assert_eq!(
        events[1..],
        [StreamEvent::Finish {
            reason: FinishReason::ContentFilter,
            stop_sequence: None
        }]
    );
}

#[test]
fn an_error_chunk_ends_the_stream() {
    let events = decode(&[
        b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]}}]}\r\n\r\n",
        b"data: {\"error\":{\"code\":503,\"message\":\"The model is overloaded.\",\"status\":\"UNAVAILABLE\"}}\r\n\r\n",
        b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"ignored\"}]},\"finishReason\":\"STOP\"}]}\r\n\r\n",
    ]);
    assert_eq!(events.len(), 3, "{events:?}");
    let StreamEvent::Error(e) = &events[2] else {
        panic!("{events:?}")
    };
    assert_eq!((e.kind, e.status), (ErrorKind::Overloaded, 503));
    assert_eq!(e.message, "The model is overloaded.");
}

#[test]
fn garbage_is_an_error() {
    let events = decode(&[b"data: {not json\r\n\r\n"]);
    assert!(matches!(&events[..], [StreamEvent::Error(e)] if e.kind == ErrorKind::BadGateway));
}
