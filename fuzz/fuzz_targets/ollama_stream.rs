//! Upstream streams: Ollama NDJSON, fed in the chunks the input describes (`lmrelay_fuzz::chunks`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = lmrelay_protocol::ollama::StreamReader::new();
    lmrelay_fuzz::decode_stream(&mut reader, data);
});
