//! Client request bodies: Ollama `/api/generate` (`ollama::decode_generate`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lmrelay_protocol::ollama::decode_generate(data);
});
