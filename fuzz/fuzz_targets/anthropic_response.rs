//! Upstream answers and error bodies: Anthropic messages.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lmrelay_protocol::anthropic::decode_response(data);
    let _ = lmrelay_protocol::anthropic::decode_error(529, data);
});
