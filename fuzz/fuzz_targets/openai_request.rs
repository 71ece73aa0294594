//! Client request bodies: OpenAI Chat Completions (`openai::decode_request`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lmrelay_protocol::openai::decode_request(data);
});
