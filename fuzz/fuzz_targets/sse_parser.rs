//! The SSE framing (`sse::SseParser`): never panics, and gives the same events however the
//! bytes are split.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lmrelay_protocol::sse::SseParser;

fn parse(chunks: &[&[u8]]) -> Vec<lmrelay_protocol::sse::SseEvent> {
    let mut parser = SseParser::new();
    let mut out = Vec::new();
    for chunk in chunks {
        parser.feed(chunk, &mut out);
    }
    parser.finish(&mut out);
    out
}

fuzz_target!(|data: &[u8]| {
    let chunks = lmrelay_fuzz::chunks(data);
    let whole = chunks.concat();
    assert_eq!(parse(&chunks), parse(&[&whole]));
});
