//! Upstream answers and error bodies: OpenAI chat, embeddings.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lmrelay_protocol::openai::decode_response(data);
    let _ = lmrelay_protocol::openai::decode_embed_response(data);
    let _ = lmrelay_protocol::openai::decode_error(400, data);
});
