//! Client request bodies: Ollama `/api/embed` and the legacy `/api/embeddings`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lmrelay_protocol::ollama::decode_embed(data);
    let _ = lmrelay_protocol::ollama::decode_embeddings_legacy(data);
});
