//! Client request bodies: Anthropic messages and count_tokens.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lmrelay_protocol::anthropic::decode_request(data);
    let _ = lmrelay_protocol::anthropic::decode_count_tokens(data);
});
