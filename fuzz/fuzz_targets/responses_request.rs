//! Client request bodies: OpenAI Responses (`responses::decode_request`), and what the kept
//! responses code reads from them (`history::continuation`, `input_items`, and a body spliced
//! behind a kept record and decoded again).

#![no_main]

use libfuzzer_sys::fuzz_target;
use lmrelay_protocol::responses::{self, history};

const RECORD: &[u8] = br#"{"input":[{"type":"message","role":"user","content":"Hi"}],"response":{"id":"resp_1","status":"completed","output":[{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Hello"}]}]}}"#;

fuzz_target!(|data: &[u8]| {
    let _ = responses::decode_request(data);
    let _ = history::continuation(data);
    let _ = history::input_items(data);
    if let Ok(body) = history::continue_from(data, RECORD) {
        let _ = responses::decode_request(&body);
    }
});
