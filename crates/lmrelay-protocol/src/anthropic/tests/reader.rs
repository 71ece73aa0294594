//! `StreamReader`: Anthropic SSE frames to canonical events.

use crate::anthropic::{StreamReader, StreamWriter};
use crate::{ResponseMeta, StreamDecoder, StreamEncoder};
use bytes::BytesMut;
use lmrelay_ir::{ErrorKind, FinishReason, StreamEvent, Usage};
use proptest::prelude::*;

/// The example stream of protocols.md §2.7, with cache usage and a thinking block added.
const EXAMPLE: &str = concat!(
    "event: message_start\n",
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":42,\"output_tokens\":1,\"cache_creation_input_tokens\":5,\"cache_read_input_tokens\":100}}}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Hmm.\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQB/+==\"}}\n\n",
    "event: content_block_stop\n",
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: ping\n",
    "data: {\"type\":\"ping\"}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Checking.\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"citations_delta\",\"citation\":{}}}\n\n",
    "event: content_block_stop\n",
    "data: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_1\",\"name\":\"web_search\",\"input\":{}}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"q\\\":1}\"}}\n\n",
    "event: content_block_stop\n",
    "data: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":3,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01\",\"name\":\"get_weather\",\"input\":{}}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\": \\\"Paris\\\"}\"}}\n\n",
    "event: content_block_stop\n",
    "data: {\"type\":\"content_block_stop\",\"index\":3}\n\n",
    "event: brand_new_event\n",
    "data: {\"type\":\"brand_new_event\",\"x\":1}\n\n",
    "event: message_delta\n",
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":61}}\n\n",
    "event: message_stop\n",
    "data: {\"type\":\"message_stop\"}\n\n",
);

fn expected() -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start {
            id: "msg_01".into(),
            model: "claude-x".into(),
        },
        // message_start's input and cache counts, reported at once.
        StreamEvent::Usage(Usage {
            input: 147,
            output: 1,
            cache_read: 100,
            cache_write: 5,
            reasoning: None,
        }),
        StreamEvent::ReasoningDelta("Hmm.".into()),
        StreamEvent::ReasoningSignature("EqQB/+==".into()),
        StreamEvent::TextDelta("Checking.".into()),
        // Tool index counts tool_use blocks only, not Anthropic's block index.
        StreamEvent::ToolCallStart {
            index: 0,
            id: "toolu_01".into(),
            name: "get_weather".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "{\"city\": \"Paris\"}".into(),
        },
        StreamEvent::Usage(Usage {
            input: 147,
            output: 61,
            cache_read: 100,
            cache_write: 5,
            reasoning: None,
        }),
        StreamEvent::Finish {
            reason: FinishReason::ToolCalls,
            stop_sequence: None,
        },
    ]
}

fn decode(chunks: &[&[u8]]) -> Vec<StreamEvent> {
    let mut r = StreamReader::new();
    let mut out = Vec::new();
    for c in chunks {
        r.feed(c, &mut out);
    }
    r.finish(&mut out);
    out
}

#[test]
fn decodes_the_reference_stream_in_several_splits() {
    let bytes = EXAMPLE.as_bytes();
    assert_eq!(decode(&[bytes]), expected());
    let singles: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(decode(&singles), expected());
    let sevens: Vec<&[u8]> = bytes.chunks(7).collect();
    assert_eq!(decode(&sevens), expected());
    let crlf = EXAMPLE.replace('\n', "\r\n");
    assert_eq!(decode(&[crlf.as_bytes()]), expected());
}

#[test]
fn usage_in_message_delta_overrides_message_start() {
    let stream = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"m\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"stop_sequence\",\"stop_sequence\":\"END\"},\"usage\":{\"input_tokens\":9,\"cache_read_input_tokens\":1,\"output_tokens\":4}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"after stop\"}}\n\n",
    );
    let events = decode(&[stream.as_bytes()]);
    assert_eq!(
        events[2..],
        [
            StreamEvent::Usage(Usage {
                input: 10,
                output: 4,
                cache_read: 1,
                cache_write: 0,
                reasoning: None
            }),
            StreamEvent::Finish {
                reason: FinishReason::StopSequence,
                stop_sequence: Some("END".into())
            },
        ]
    );
}

#[test]
fn error_event_after_200_is_an_error() {
    let stream = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"m\",\"usage\":{}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"ignored\"}}\n\n",
    );
    let events = decode(&[stream.as_bytes()]);
    assert_eq!(events.len(), 4, "{events:?}");
    let StreamEvent::Error(err) = &events[3] else {
        panic!("expected an error, got {:?}", events[3]);
    };
    assert_eq!(
        (err.kind, err.status, err.message.as_str()),
        (ErrorKind::Overloaded, 529, "Overloaded")
    );

    let rate = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow\"}}\n\n";
    let events = decode(&[rate.as_bytes()]);
    assert!(
        matches!(&events[..], [StreamEvent::Error(e)] if e.kind == ErrorKind::RateLimited && e.status == 429)
    );
    let api = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"x\"}}\n\n";
    assert!(
        matches!(&decode(&[api.as_bytes()])[..], [StreamEvent::Error(e)] if e.kind == ErrorKind::Server)
    );
}

#[test]
fn premature_end_and_garbage() {
    let cut = &EXAMPLE.as_bytes()[..EXAMPLE.find("event: message_delta").expect("marker")];
    let events = decode(&[cut]);
    assert_eq!(events[..events.len() - 1], expected()[..7]);
    assert!(
        matches!(events.last(), Some(StreamEvent::Error(e)) if e.kind == ErrorKind::BadGateway && e.message.contains("prematurely"))
    );

    let events = decode(&[b"event: message_start\ndata: {not json\n\n"]);
    assert!(
        matches!(&events[..], [StreamEvent::Error(e)] if e.kind == ErrorKind::BadGateway),
        "{events:?}"
    );

    // Nothing at all is a premature end too.
    assert!(matches!(&decode(&[])[..], [StreamEvent::Error(_)]));
}

#[test]
fn reader_then_writer_reproduces_an_anthropic_stream() {
    let events = decode(&[EXAMPLE.as_bytes()]);
    let mut w = StreamWriter::new(ResponseMeta {
        model: "alias".into(),
        include_reasoning: true,
        tool_namespaces: Vec::new(),
        ..ResponseMeta::default()
    });
    let mut out = BytesMut::new();
    for e in &events {
        w.push(e, &mut out);
    }
    w.finish(0, &mut out);
    let frames = super::frames(&out);
    let names: Vec<&str> = frames.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    assert_eq!(frames[0].1["message"]["id"], "msg_01");
    assert_eq!(frames[3].1["delta"]["signature"], "EqQB/+==");
    assert_eq!(
        frames[11].1["usage"],
        serde_json::json!({"input_tokens": 42, "output_tokens": 61, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 100})
    );
}

proptest! {
    #[test]
    fn same_events_however_the_bytes_are_split(cuts in proptest::collection::vec(0usize..EXAMPLE.len(), 0..24)) {
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
        prop_assert_eq!(decode(&chunks), expected());
    }
}

#[test]
fn only_block_deltas_and_pings_are_content_alone() {
    let r = StreamReader::new();
    let yes = [
        &b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n"[..],
        b"event:content_block_delta\r\ndata: {}\r\n\r\n",
        b"event: ping\ndata: {\"type\": \"ping\"}\n\n",
    ];
    let no = [
        &b"event: message_start\ndata: {}\n\n"[..],
        b"event: message_delta\ndata: {\"usage\":{\"output_tokens\":3}}\n\n",
        b"event: error\ndata: {\"type\":\"error\"}\n\n",
        b"event: content_block_deltas\ndata: {}\n\n",
        b"data: {\"type\":\"content_block_delta\"}\n\n",
        b"event: message_stop\ndata: {}\n\n",
    ];
    for e in yes {
        assert!(r.content_only(e), "{}", String::from_utf8_lossy(e));
    }
    for e in no {
        assert!(!r.content_only(e), "{}", String::from_utf8_lossy(e));
    }
}
