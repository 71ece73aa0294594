//! Request bodies, as raw wire JSON, for the three client protocols, and the deterministic
//! prompt text the mocks echo back (one stream chunk per word).

use serde_json::{json, Value};

/// Words the prompt cycles through; a few need JSON escaping or are multi-byte, as real
/// model output does.
#[rustfmt::skip]
const VOCABULARY: &[&str] = &[
    "The", "gateway", "relays", "each", "chunk", "as", "soon", "as", "it", "arrives,",
    "\"quoted\"", "naïve", "café", "back\\slash", "<tag>", "🙂", "and", "then", "waits.",
];

/// A prompt of `words` whitespace-separated words; the mocks answer `echo: <prompt>`, one
/// stream chunk per word.
pub fn prompt(words: usize) -> String {
    let mut out = String::new();
    for i in 0..words {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(VOCABULARY[i % VOCABULARY.len()]);
    }
    out
}

/// A tool the mocks will call, with `city` as its first property (so the call's arguments
/// are `{"city": <prompt>}`).
fn openai_tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}}])
}

/// An OpenAI `/v1/chat/completions` body.
pub fn openai_chat(model: &str, text: &str, stream: bool, tools: bool) -> Value {
    let mut body = json!({"model": model, "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": text}]});
    if stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
    }
    if tools {
        body["tools"] = openai_tools();
    }
    body
}

/// An Anthropic `/v1/messages` body (`max_tokens` large enough not to cut the echo).
pub fn anthropic_messages(model: &str, text: &str, stream: bool, tools: bool) -> Value {
    let mut body = json!({"model": model, "max_tokens": 8192, "system": "You are terse.",
        "messages": [{"role": "user", "content": text}], "stream": stream});
    if tools {
        body["tools"] = json!([{"name": "get_weather", "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                             "required": ["city"]}}]);
    }
    body
}

/// An Ollama `/api/chat` body.
pub fn ollama_chat(model: &str, text: &str, stream: bool, tools: bool) -> Value {
    let mut body = json!({"model": model, "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": text}], "stream": stream});
    if tools {
        body["tools"] = openai_tools();
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_has_the_asked_number_of_words() {
        assert_eq!(prompt(0), "");
        assert_eq!(prompt(3), "The gateway relays");
        assert_eq!(prompt(1000).split_whitespace().count(), 1000);
    }
}
