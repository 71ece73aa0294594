//! Upstream streams: Bedrock ConverseStream (raw AWS event-stream bytes), fed in the chunks the input describes (`lmrelay_fuzz::chunks`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = lmrelay_protocol::bedrock::StreamReader::new();
    lmrelay_fuzz::decode_stream(&mut reader, data);
});
