//! The envelope of a chat request: what the gateway's policy needs of an OpenAI Chat or an
//! Anthropic Messages body (the model, whether it streams, the counts the bounds check, a
//! size for the token estimate, how the conversation opens), read without decoding its
//! messages. A request that goes to an upstream of its own protocol is then forwarded as the
//! client sent it, with only the model name spliced in ([`Envelope::body_for`]).
//!
//! An envelope is read only from a body that needs nothing else rewritten; for any other
//! (or one that is not even an envelope) the readers return `None`, and the canonical decoder
//! takes the body and says precisely what is wrong with it.

use bytes::{BufMut, Bytes, BytesMut};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::ops::Range;

/// What policy needs of a chat request, and where its model name sits in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The model the client asked for.
    pub model: String,
    /// Whether the answer is streamed.
    pub stream: bool,
    /// Whether the client asked for usage in its stream (OpenAI's
    /// `stream_options.include_usage`; always so for Anthropic, whose streams carry it).
    pub include_usage: bool,
    /// The most output tokens asked for.
    pub max_tokens: Option<u32>,
    /// Whether the client asked the model to reason (so its reasoning is content to it).
    pub reasoning: bool,
    /// How many messages (turns), tools, stop sequences and choices the request has, for the
    /// bounds every request is held to.
    pub messages: usize,
    pub tools: usize,
    pub stop: usize,
    pub n: Option<u32>,
    /// The input tokens estimated the way the canonical path estimates them: about four
    /// characters a token of message text (16 more a message, 1600 tokens an image) and of
    /// tool definitions.
    pub estimated_tokens: u64,
    /// A hash of how the conversation opens (the system prompt and the turns up to the first
    /// user turn), so its later requests keep the same upstream key.
    pub opening: Option<u64>,
    /// Where the model's JSON string is in the body, quotes included.
    model_span: Range<usize>,
    /// Where `"stream_options":{"include_usage":true},` goes in, so that an upstream asked
    /// to stream reports usage the client did not ask for (the gateway counts tokens).
    usage_request_at: Option<usize>,
}

/// What the usage request inserted into a streamed OpenAI body says.
const ASK_USAGE: &[u8] = br#""stream_options":{"include_usage":true},"#;

#[derive(Deserialize)]
struct OpenAiWire<'a> {
    #[serde(borrow)]
    model: &'a RawValue,
    #[serde(borrow)]
    messages: Vec<&'a RawValue>,
    stream: Option<bool>,
    stream_options: Option<OpenAiStreamOptions>,
    max_completion_tokens: Option<u32>,
    max_tokens: Option<u32>,
    #[serde(borrow)]
    tools: Option<Vec<&'a RawValue>>,
    #[serde(borrow)]
    functions: Option<Vec<&'a RawValue>>,
    /// A string or a list of strings.
    #[serde(borrow)]
    stop: Option<&'a RawValue>,
    n: Option<u32>,
    #[serde(borrow)]
    reasoning_effort: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct OpenAiStreamOptions {
    include_usage: Option<bool>,
}

#[derive(Deserialize)]
struct AnthropicWire<'a> {
    #[serde(borrow)]
    model: &'a RawValue,
    #[serde(borrow)]
    messages: Vec<&'a RawValue>,
    #[serde(borrow)]
    system: Option<&'a RawValue>,
    stream: Option<bool>,
    max_tokens: u32,
    #[serde(borrow)]
    tools: Option<Vec<&'a RawValue>>,
    #[serde(borrow)]
    stop_sequences: Option<Vec<&'a RawValue>>,
    #[serde(borrow)]
    thinking: Option<Thinking<'a>>,
}

#[derive(Deserialize)]
struct Thinking<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
}

/// A message's role, the one field the opening hash needs.
#[derive(Deserialize)]
struct RoleOnly<'a> {
    #[serde(borrow)]
    role: Cow<'a, str>,
}

// === impl Envelope ===

impl Envelope {
    /// Reads an OpenAI Chat Completions body. `None` when it is not a plain envelope, or
    /// when forwarding it would need more than the model rewritten (`stream_options` that
    /// do not ask for usage on a stream, or at all on an answer that is not streamed).
    pub fn openai(body: &[u8]) -> Option<Envelope> {
        let w: OpenAiWire = serde_json::from_slice(body).ok()?;
        let stream = w.stream.unwrap_or(false);
        let include_usage = match &w.stream_options {
            None => false,
            Some(o) if stream && o.include_usage == Some(true) => true,
            Some(_) => return None,
        };
        let usage_request_at = if stream && !include_usage {
            Some(object_start(body)? + 1)
        } else {
            None
        };
        let tools = w.tools.iter().chain(&w.functions).flatten();
        let chars =
            text_chars(&w.messages, None) + tools.clone().map(|t| t.get().len()).sum::<usize>();
        let stop = match w.stop {
            None => 0,
            Some(raw) => stop_count(raw)?,
        };
        Some(Envelope {
            model: model_name(w.model)?,
            model_span: span_in(body, w.model)?,
            stream,
            include_usage,
            max_tokens: w.max_completion_tokens.or(w.max_tokens),
            reasoning: w.reasoning_effort.is_some_and(|e| e != "none"),
            messages: w.messages.len(),
            tools: tools.count(),
            stop,
            n: w.n,
            estimated_tokens: tokens(chars),
            opening: opening(None, &w.messages),
            usage_request_at,
        })
    }

    /// Reads an Anthropic Messages body. `None` when it is not a plain envelope (no
    /// `max_tokens`, which the canonical path fills in, for one).
    pub fn anthropic(body: &[u8]) -> Option<Envelope> {
        let w: AnthropicWire = serde_json::from_slice(body).ok()?;
        let tools = w.tools.as_deref().unwrap_or_default();
        Some(Envelope {
            model: model_name(w.model)?,
            model_span: span_in(body, w.model)?,
            stream: w.stream.unwrap_or(false),
            include_usage: true,
            max_tokens: Some(w.max_tokens),
            reasoning: w.thinking.is_some_and(|t| t.kind != "disabled"),
            messages: w.messages.len() + usize::from(w.system.is_some()),
            tools: tools.len(),
            stop: w.stop_sequences.as_ref().map_or(0, Vec::len),
            n: None,
            estimated_tokens: tokens(text_chars(&w.messages, w.system) + raw_len(tools)),
            opening: opening(w.system, &w.messages),
            usage_request_at: None,
        })
    }

    /// The body to send an upstream that calls the model `model`: the client's own bytes
    /// when nothing changes (no copy), else a copy with the model's name replaced (and, for
    /// an OpenAI stream, usage asked for).
    pub fn body_for(&self, body: &Bytes, model: &str) -> Bytes {
        let same_model = self.model == model;
        if same_model && self.usage_request_at.is_none() {
            return body.clone();
        }
        let quoted = if same_model {
            None
        } else {
            // A model name always encodes.
            Some(serde_json::to_vec(model).unwrap_or_default())
        };
        let extra = quoted.as_ref().map_or(0, Vec::len)
            + self.usage_request_at.map_or(0, |_| ASK_USAGE.len());
        let mut out = BytesMut::with_capacity(body.len() + extra);
        let mut from = 0;
        let mut edits: [(usize, usize, &[u8]); 2] = [(usize::MAX, usize::MAX, &[]); 2];
        if let Some(q) = &quoted {
            edits[0] = (self.model_span.start, self.model_span.end, q);
        }
        if let Some(at) = self.usage_request_at {
            edits[1] = (at, at, ASK_USAGE);
        }
        edits.sort_by_key(|e| e.0);
        for (start, end, with) in edits.into_iter().filter(|e| e.0 != usize::MAX) {
            out.put_slice(&body[from..start]);
            out.put_slice(with);
            from = end;
        }
        out.put_slice(&body[from..]);
        out.freeze()
    }
}

/// The model's name, when it is a JSON string.
fn model_name(raw: &RawValue) -> Option<String> {
    serde_json::from_str(raw.get()).ok()
}

/// Where a borrowed raw value sits in the body it was read from.
fn span_in(body: &[u8], raw: &RawValue) -> Option<Range<usize>> {
    let start = (raw.get().as_ptr() as usize).checked_sub(body.as_ptr() as usize)?;
    let end = start + raw.get().len();
    (end <= body.len()).then_some(start..end)
}

/// Where the body's top-level object opens.
fn object_start(body: &[u8]) -> Option<usize> {
    let at = body.iter().position(|b| !b.is_ascii_whitespace())?;
    (body[at] == b'{').then_some(at)
}

fn raw_len(values: &[&RawValue]) -> usize {
    values.iter().map(|v| v.get().len()).sum()
}

/// About four characters a token.
fn tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4).max(1)
}

/// The characters of the messages' (and the system prompt's) strings, 16 more a message,
/// 6400 an image.
fn text_chars(messages: &[&RawValue], system: Option<&RawValue>) -> usize {
    let size =
        |v: &RawValue| serde_json::from_str::<TextSize>(v.get()).map_or(v.get().len(), |t| t.0);
    messages.iter().map(|m| size(m) + 16).sum::<usize>() + system.map_or(0, |s| size(s) + 16)
}

/// The characters of a JSON value's strings (keys aside), an image counted as 6400 (1600
/// tokens), walked without building the value.
struct TextSize(usize);

impl<'de> Deserialize<'de> for TextSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextSizeVisitor).map(TextSize)
    }
}

struct TextSizeVisitor;

/// What an image costs, in characters.
const IMAGE_CHARS: usize = 1600 * 4;

impl<'de> serde::de::Visitor<'de> for TextSizeVisitor {
    type Value = usize;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<usize, E> {
        Ok(0)
    }
    fn visit_i64<E>(self, _: i64) -> Result<usize, E> {
        Ok(0)
    }
    fn visit_u64<E>(self, _: u64) -> Result<usize, E> {
        Ok(0)
    }
    fn visit_f64<E>(self, _: f64) -> Result<usize, E> {
        Ok(0)
    }
    fn visit_unit<E>(self) -> Result<usize, E> {
        Ok(0)
    }
    fn visit_str<E>(self, s: &str) -> Result<usize, E> {
        Ok(s.len())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut n = 0;
        while let Some(TextSize(k)) = seq.next_element()? {
            n += k;
        }
        Ok(n)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
        let (mut n, mut image) = (0, false);
        while let Some(key) = map.next_key::<Key>()? {
            // The role is no text; an image part (OpenAI's `image_url`, Anthropic's `image`)
            // costs a fixed amount whatever its URL or data.
            match key {
                Key::Role => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
                Key::Type => {
                    let kind = map.next_value::<serde_json::Value>()?;
                    image |= matches!(kind.as_str(), Some("image_url" | "image"));
                }
                Key::Other => n += map.next_value::<TextSize>()?.0,
            }
        }
        Ok(if image { IMAGE_CHARS } else { n })
    }
}
/// The keys [`TextSize`] tells apart, read without a copy.
enum Key {
    Role,
    Type,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, s: &str) -> Result<Key, E> {
                Ok(match s {
                    "role" => Key::Role,
                    "type" => Key::Type,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_str(V)
    }
}

/// How many stop sequences a `stop` value holds (a string is one).
fn stop_count(raw: &RawValue) -> Option<usize> {
    match raw.get().as_bytes().first()? {
        b'"' => Some(1),
        b'n' => Some(0),
        _ => serde_json::from_str::<Vec<&RawValue>>(raw.get())
            .ok()
            .map(|v| v.len()),
    }
}

/// Hashes the system prompt and the messages up to the first user turn, as sent.
fn opening(system: Option<&RawValue>, messages: &[&RawValue]) -> Option<u64> {
    let first_user = messages
        .iter()
        .position(|m| serde_json::from_str::<RoleOnly>(m.get()).is_ok_and(|r| r.role == "user"))?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    if let Some(s) = system {
        s.get().hash(&mut h);
    }
    for m in &messages[..=first_user] {
        m.get().hash(&mut h);
    }
    Some(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn bytes(v: &Value) -> Bytes {
        Bytes::from(serde_json::to_vec(v).expect("json"))
    }

    fn parsed(b: &Bytes) -> Value {
        serde_json::from_slice(b).expect("the spliced body is JSON")
    }

    #[test]
    fn an_openai_body_is_read_and_its_model_replaced() {
        let body = bytes(&json!({
            "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
            "model": "fast",
            "max_tokens": 9,
            "n": 2,
            "stop": ["a", "b"],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "logprobs": true
        }));
        let e = Envelope::openai(&body).expect("envelope");
        assert_eq!(e.model, "fast");
        assert!(!e.stream && !e.include_usage);
        assert_eq!(
            (e.messages, e.tools, e.stop, e.n, e.max_tokens),
            (2, 1, 2, Some(2), Some(9))
        );
        assert!(e.opening.is_some());
        // The same model: the very same bytes.
        assert_eq!(e.body_for(&body, "fast").as_ptr(), body.as_ptr());
        let out = e.body_for(&body, "gpt-4o-\"mini\"");
        let mut want: Value = parsed(&body);
        want["model"] = json!("gpt-4o-\"mini\"");
        assert_eq!(parsed(&out), want);
    }

    #[test]
    fn an_openai_stream_asks_for_usage_unless_the_client_did() {
        let body = bytes(&json!({"model": "m", "stream": true, "messages": []}));
        let e = Envelope::openai(&body).expect("envelope");
        assert!(e.stream && !e.include_usage);
        let out = parsed(&e.body_for(&body, "m"));
        assert_eq!(out["stream_options"], json!({"include_usage": true}));
        let out = parsed(&e.body_for(&body, "other"));
        assert_eq!(out["stream_options"], json!({"include_usage": true}));
        assert_eq!(out["model"], "other");

        let asked = bytes(
            &json!({"model": "m", "stream": true, "stream_options": {"include_usage": true}, "messages": []}),
        );
        let e = Envelope::openai(&asked).expect("envelope");
        assert!(e.include_usage);
        assert_eq!(e.body_for(&asked, "m"), asked);
        // Options that would need rewriting go the canonical way.
        for v in [
            json!({"model": "m", "stream": true, "stream_options": {"include_usage": false}, "messages": []}),
            json!({"model": "m", "stream_options": {"include_usage": true}, "messages": []}),
        ] {
            assert_eq!(Envelope::openai(&bytes(&v)), None, "{v}");
        }
    }

    #[test]
    fn what_is_no_envelope_is_left_to_the_canonical_decoder() {
        for body in [
            &b""[..],
            b"[]",
            b"{\"model\": 5, \"messages\": []}",
            b"{\"messages\": []}",
            b"{\"model\": \"m\"}",
            b"{\"model\": \"m\", \"messages\": [], \"stream\": \"yes\"}",
            b"{\"model\": \"m\", \"model\": \"n\", \"messages\": []}",
            b"{\"model\": \"m\", \"messages\": []} trailing",
        ] {
            assert_eq!(
                Envelope::openai(body),
                None,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // Anthropic's `max_tokens` is required; the canonical path fills in a default.
        assert_eq!(
            Envelope::anthropic(br#"{"model": "m", "messages": []}"#),
            None
        );
    }

    #[test]
    fn an_anthropic_body_is_read_with_its_system_prompt() {
        let body = bytes(&json!({
            "model": "claude",
            "system": [{"type": "text", "text": "be brief"}],
            "max_tokens": 100,
            "stream": true,
            "stop_sequences": ["x"],
            "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
        }));
        let e = Envelope::anthropic(&body).expect("envelope");
        assert!(e.stream && e.include_usage);
        assert_eq!(
            (e.messages, e.tools, e.stop, e.max_tokens),
            (3, 0, 1, Some(100))
        );
        assert_eq!(e.body_for(&body, "claude").as_ptr(), body.as_ptr());
        let mut want = parsed(&body);
        want["model"] = json!("claude-sonnet-4-5");
        assert_eq!(parsed(&e.body_for(&body, "claude-sonnet-4-5")), want);
    }

    #[test]
    fn the_opening_follows_the_conversation_not_its_later_turns() {
        let first = bytes(&json!({"model": "m", "messages": [
            {"role": "system", "content": "s"}, {"role": "user", "content": "q"}]}));
        let later = bytes(&json!({"model": "m", "messages": [
            {"role": "system", "content": "s"}, {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a"}, {"role": "user", "content": "q2"}]}));
        let other = bytes(&json!({"model": "m", "messages": [
            {"role": "system", "content": "s"}, {"role": "user", "content": "other"}]}));
        let o = |b: &Bytes| Envelope::openai(b).expect("envelope").opening;
        assert_eq!(o(&first), o(&later));
        assert_ne!(o(&first), o(&other));
        let none = bytes(&json!({"model": "m", "messages": [{"role": "system", "content": "s"}]}));
        assert_eq!(o(&none), None);
    }

    #[test]
    fn a_body_with_leading_space_gets_usage_asked_inside_its_object() {
        let body = Bytes::from_static(b"  \n{\"model\":\"m\",\"stream\":true,\"messages\":[]}");
        let e = Envelope::openai(&body).expect("envelope");
        let out = e.body_for(&body, "n");
        assert_eq!(
            parsed(&out),
            json!({"stream_options": {"include_usage": true}, "model": "n", "stream": true, "messages": []})
        );
    }
}
