//! Upstream streams: Bedrock ConverseStream with valid AWS event-stream framing, so the
//! fuzzer reaches the event decoding behind the checksums.
//!
//! Input: one byte for the chunk size (low 6 bits + 1; the top bit cuts the stream short by
//! three bytes), then records separated by `0x00`. A record's first byte picks the frame
//! (`a` messageStart, `b` contentBlockStart, `c` contentBlockDelta, `d` contentBlockStop,
//! `e` messageStop, `f` metadata, `g` an exception, `h` an error message); the rest is its
//! payload.

#![no_main]

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use libfuzzer_sys::fuzz_target;
use lmrelay_protocol::StreamDecoder;

const EVENTS: [&str; 6] = [
    "messageStart",
    "contentBlockStart",
    "contentBlockDelta",
    "contentBlockStop",
    "messageStop",
    "metadata",
];

fn header(name: &'static str, value: &str) -> Header {
    Header::new(name, HeaderValue::String(value.to_owned().into()))
}

fn frame(record: &[u8]) -> Message {
    let Some((&kind, payload)) = record.split_first() else {
        return Message::new(bytes::Bytes::new());
    };
    let message = Message::new(payload.to_vec());
    match kind.wrapping_sub(b'a') % 8 {
        k @ 0..=5 => message
            .add_header(header(":message-type", "event"))
            .add_header(header(":event-type", EVENTS[usize::from(k)]))
            .add_header(header(":content-type", "application/json")),
        6 => message
            .add_header(header(":message-type", "exception"))
            .add_header(header(":exception-type", "throttlingException")),
        _ => message
            .add_header(header(":message-type", "error"))
            .add_header(header(":error-code", "InternalFailure"))
            .add_header(header(":error-message", &String::from_utf8_lossy(payload))),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&spec, records)) = data.split_first() else {
        return;
    };
    let mut stream = Vec::new();
    for record in records.split(|b| *b == 0) {
        if write_message_to(&frame(record), &mut stream).is_err() {
            return;
        }
    }
    if spec & 0x80 != 0 {
        stream.truncate(stream.len().saturating_sub(3));
    }
    let mut reader = lmrelay_protocol::bedrock::StreamReader::new();
    let mut out = Vec::new();
    for chunk in stream.chunks(usize::from(spec & 0x3f) + 1) {
        reader.feed(chunk, &mut out);
    }
    reader.finish(&mut out);
});
