//! Upstream answers and error bodies: Bedrock Converse and CountTokens.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lmrelay_protocol::bedrock::decode_response(data);
    let _ = lmrelay_protocol::bedrock::decode_count_tokens(data);
    let _ = lmrelay_protocol::bedrock::decode_error(400, Some("ValidationException"), data);
    let _ = lmrelay_protocol::bedrock::decode_error(500, None, data);
});
