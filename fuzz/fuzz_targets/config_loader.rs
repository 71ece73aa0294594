//! The config loader (`lmrelay::config::parse_str`): TOML when the first byte is even, YAML
//! when it is odd; `${VAR}` resolves from a fixed table, never the process environment.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lmrelay::config::{parse_str, Format};

fn env(name: &str) -> Option<String> {
    match name {
        "OPENAI_API_KEY" => Some("sk-fuzz".to_owned()),
        "PORT" => Some("8080".to_owned()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let (format, file) = if kind % 2 == 0 {
        (Format::Toml, "fuzz.toml")
    } else {
        (Format::Yaml, "fuzz.yaml")
    };
    let _ = parse_str(text, format, file, &env);
});
