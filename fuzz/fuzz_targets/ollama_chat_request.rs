//! Client request bodies: Ollama `/api/chat` (`ollama::decode_request`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lmrelay_protocol::ollama::decode_request(data);
});
