//! Upstream streams: OpenAI Responses SSE, fed in the chunks the input describes
//! (`lmrelay_fuzz::chunks`), through the decoder and through `history::FinalResponse`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lmrelay_protocol::responses::{history::FinalResponse, StreamReader};

fuzz_target!(|data: &[u8]| {
    let mut reader = StreamReader::new();
    lmrelay_fuzz::decode_stream(&mut reader, data);
    let mut last = FinalResponse::default();
    for chunk in lmrelay_fuzz::chunks(data) {
        let _ = last.feed(chunk);
    }
});
