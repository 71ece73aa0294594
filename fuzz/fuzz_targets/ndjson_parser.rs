//! The NDJSON framing (`ndjson::NdjsonParser`): never panics, and gives the same lines
//! however the bytes are split.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lmrelay_protocol::ndjson::NdjsonParser;

fn parse(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut parser = NdjsonParser::new();
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
