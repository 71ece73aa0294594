//! Upstream answers and error bodies: OpenAI Responses.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lmrelay_protocol::responses::decode_response(data);
    let _ = lmrelay_protocol::responses::decode_error(400, data);
});
