//! Client request bodies: OpenAI embeddings (`openai::decode_embed_request`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lmrelay_protocol::openai::decode_embed_request(data);
});
