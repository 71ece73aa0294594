//! Upstream answers and error bodies: Ollama chat, embeddings, show.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lmrelay_protocol::ollama::decode_response(data);
    let _ = lmrelay_protocol::ollama::decode_embed_response(data);
    let _ = lmrelay_protocol::ollama::decode_show(data);
    let _ = lmrelay_protocol::ollama::decode_error(404, data);
});
