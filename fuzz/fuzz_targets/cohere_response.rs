//! Upstream answers and error bodies: Cohere v2 chat and embed.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lmrelay_protocol::cohere::decode_response(data);
    let _ = lmrelay_protocol::cohere::decode_embed_response(data);
    let _ = lmrelay_protocol::cohere::decode_error(498, data);
});
