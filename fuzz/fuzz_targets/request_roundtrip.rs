//! A client request decoded (the first byte picks the protocol) and, when it decodes, encoded
//! for every upstream dialect: encoders must answer an `Err`, never panic, whatever the
//! canonical request holds.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lmrelay_protocol::{
    anthropic, bedrock, cohere, gemini, ollama, openai, responses, UpstreamOptions,
};

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    let decoded = match kind % 6 {
        0 => openai::decode_request(body),
        1 => openai::decode_completion_request(body),
        2 => anthropic::decode_request(body),
        3 => ollama::decode_request(body),
        4 => ollama::decode_generate(body),
        _ => responses::decode_request(body),
    };
    let Ok(req) = decoded else {
        return;
    };
    let mut opts = UpstreamOptions::new("fuzz-model");
    let _ = openai::encode_request(&req, &opts);
    let _ = anthropic::encode_request(&req, &opts);
    let _ = ollama::encode_request(&req, &opts);
    let _ = gemini::encode_request(&req, &opts);
    let _ = cohere::encode_request(&req, &opts);
    let _ = bedrock::encode_request(&req, &opts);
    let _ = responses::encode_request(&req, &opts);
    opts.openai_compatible = true;
    let _ = openai::encode_request(&req, &opts);
});
