//! Upstream answers and error bodies: Gemini generateContent, embeddings, countTokens, models.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lmrelay_protocol::gemini::decode_response(data);
    let _ = lmrelay_protocol::gemini::decode_embed_response(data);
    let _ = lmrelay_protocol::gemini::decode_count_tokens(data);
    let _ = lmrelay_protocol::gemini::decode_models(data);
    let _ = lmrelay_protocol::gemini::decode_error(400, data);
});
