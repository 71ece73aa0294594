//! Deterministic answer planning, independent of any wire format.
//!
//! Each flavor extracts a [`PlanInput`] from its request JSON; [`plan`] decides
//! the reply (thinking, text or tool call, finish reason, token counts) and the
//! flavor renders it. Rules:
//! - text is `echo: <last user text>`; after a tool result it is
//!   `tool result: <result text>`;
//! - offered tools (and a tool choice other than none) → call the first or the
//!   named tool with `{"<first schema property or 'input'>": "<last user text>"}`;
//! - scripted turns, for real applications driven through the gateway: a last user text
//!   holding `[[call NAME {json}]]` calls tool NAME (when offered) with exactly those
//!   arguments, and one holding `[[say "text"]]` (a JSON string)
//!   answers exactly that text;
//! - thinking enabled → `Thinking about: <last user text>` first;
//! - stop sequences cut the text; max tokens truncate it to that many words;
//! - input tokens = ceil(text chars / 4), at least 1; output tokens = words of
//!   text + thinking + compact tool arguments JSON.

use serde_json::{Map, Value};

use crate::util::{first_words, fnv1a, word_count};

/// A tool offered by the request.
#[derive(Clone, Debug)]
pub(crate) struct ToolDef {
    pub name: String,
    pub first_property: Option<String>,
}

/// The request's tool choice, normalised.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) enum ToolChoice {
    #[default]
    Auto,
    None,
    Required,
    Named(String),
}

/// What the planner needs to know about a request.
#[derive(Clone, Debug, Default)]
pub(crate) struct PlanInput {
    /// Text of the last user message that has text.
    pub last_user_text: String,
    /// `Some(texts)` when the conversation ends with tool results.
    pub tool_results: Option<Vec<String>>,
    pub tools: Vec<ToolDef>,
    pub tool_choice: ToolChoice,
    pub thinking: bool,
    pub stop: Vec<String>,
    pub max_tokens: Option<u64>,
    /// Characters of all system/message text (input token estimate basis).
    pub input_chars: usize,
}

/// A planned tool call.
#[derive(Clone, Debug)]
pub(crate) struct PlannedCall {
    pub name: String,
    /// Always a JSON object.
    pub arguments: Value,
}

impl PlannedCall {
    /// Compact JSON text of the arguments.
    pub fn arguments_json(&self) -> String {
        self.arguments.to_string()
    }
}

/// Why the reply ended.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Finish {
    Stop,
    Length,
    StopSequence(String),
    ToolCalls,
}

/// The planned reply.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub thinking: Option<String>,
    pub text: String,
    pub tool_call: Option<PlannedCall>,
    pub finish: Finish,
    /// Estimated input tokens (cache reads not included).
    pub input_tokens: u64,
    /// Output tokens including thinking.
    pub output_tokens: u64,
    /// The thinking part of `output_tokens`.
    pub thinking_tokens: u64,
}

/// Token estimate for `chars` characters of text: ceil(chars / 4), at least 1.
pub(crate) fn estimate_tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4).max(1)
}

/// Stable signature for a thinking text: `sig_` + 16 hex digits.
pub(crate) fn thinking_signature(thinking: &str) -> String {
    format!("sig_{:016x}", fnv1a(thinking.as_bytes()))
}

/// Plans the reply for `input`.
pub(crate) fn plan(input: &PlanInput) -> Plan {
    let thinking = input
        .thinking
        .then(|| format!("Thinking about: {}", input.last_user_text));
    let mut text = String::new();
    let mut tool_call = None;
    let mut finish = Finish::Stop;

    let script = Script::find(&input.last_user_text);
    if let Some(results) = &input.tool_results {
        text = format!("tool result: {}", results.join("\n"));
    } else if let Some(Script::Say(said)) = script {
        text = said;
    } else if let Some(call) = script.and_then(|s| s.call_in(input)) {
        tool_call = Some(call);
        finish = Finish::ToolCalls;
    } else if !input.tools.is_empty() && input.tool_choice != ToolChoice::None {
        let tool = match &input.tool_choice {
            ToolChoice::Named(name) => input
                .tools
                .iter()
                .find(|t| &t.name == name)
                .cloned()
                .unwrap_or(ToolDef {
                    name: name.clone(),
                    first_property: None,
                }),
            _ => input.tools[0].clone(),
        };
        let key = tool.first_property.unwrap_or_else(|| "input".to_string());
        let mut args = Map::new();
        args.insert(key, Value::String(input.last_user_text.clone()));
        tool_call = Some(PlannedCall {
            name: tool.name,
            arguments: Value::Object(args),
        });
        finish = Finish::ToolCalls;
    } else {
        text = format!("echo: {}", input.last_user_text);
    }

    if tool_call.is_none() {
        let hit = input
            .stop
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| text.find(s.as_str()).map(|pos| (pos, s.clone())))
            .min_by_key(|(pos, _)| *pos);
        if let Some((pos, seq)) = hit {
            text.truncate(pos);
            finish = Finish::StopSequence(seq);
        }
        if let Some(max) = input.max_tokens {
            if word_count(&text) > max {
                text = first_words(&text, max);
                finish = Finish::Length;
            }
        }
    }

    let thinking_tokens = thinking.as_deref().map_or(0, word_count);
    let call_tokens = tool_call
        .as_ref()
        .map_or(0, |c| word_count(&c.arguments_json()));
    Plan {
        output_tokens: word_count(&text) + thinking_tokens + call_tokens,
        thinking_tokens,
        thinking,
        text,
        tool_call,
        finish,
        input_tokens: estimate_tokens(input.input_chars),
    }
}

/// A scripted turn found in the last user text.
#[derive(Debug, PartialEq)]
enum Script {
    /// `[[call NAME {json}]]`
    Call(String, Value),
    /// `[[say "text"]]`
    Say(String),
}

impl Script {
    fn find(text: &str) -> Option<Script> {
        let start = text.find("[[")?;
        let rest = &text[start + 2..];
        if let Some(said) = rest.strip_prefix("say ") {
            // The JSON string ends where the deserializer stops.
            let mut de = serde_json::Deserializer::from_str(said).into_iter::<String>();
            return de.next()?.ok().map(Script::Say);
        }
        let call = rest.strip_prefix("call ")?;
        let (name, args) = call.split_once(' ')?;
        let mut de = serde_json::Deserializer::from_str(args).into_iter::<Value>();
        match de.next()? {
            Ok(v @ Value::Object(_)) => Some(Script::Call(name.to_owned(), v)),
            _ => None,
        }
    }

    /// The scripted call, when the request offers that tool and allows calls.
    fn call_in(self, input: &PlanInput) -> Option<PlannedCall> {
        let Script::Call(name, arguments) = self else {
            return None;
        };
        let offered = input.tools.iter().any(|t| t.name == name);
        (offered && input.tool_choice != ToolChoice::None)
            .then_some(PlannedCall { name, arguments })
    }
}

/// First property name of a JSON schema's `properties`, if any.
pub(crate) fn first_property(schema: Option<&Value>) -> Option<String> {
    schema?
        .get("properties")?
        .as_object()?
        .keys()
        .next()
        .cloned()
}

/// Joins the `text` of text parts (`{"type":"text","text":…}`) or returns a plain string.
pub(crate) fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Number of characters of text inside `content` (string or text parts; separators not counted).
pub(crate) fn text_chars(content: Option<&Value>) -> usize {
    match content {
        Some(Value::String(s)) => s.chars().count(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .map(|t| t.chars().count())
            .sum(),
        _ => 0,
    }
}

/// Stop sequences from a string or string array.
pub(crate) fn stop_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn input(text: &str) -> PlanInput {
        PlanInput {
            last_user_text: text.into(),
            input_chars: text.len(),
            ..Default::default()
        }
    }

    #[test]
    fn echo_and_limits() {
        let p = plan(&input("hello there world"));
        assert_eq!(p.text, "echo: hello there world");
        assert_eq!(p.output_tokens, 4);
        assert_eq!(p.input_tokens, 5);
        let mut i = input("a b c d");
        i.max_tokens = Some(2);
        let p = plan(&i);
        assert_eq!((p.text.as_str(), p.finish), ("echo: a", Finish::Length));
        let mut i = input("a STOP b");
        i.stop = vec!["STOP".into()];
        let p = plan(&i);
        assert_eq!(p.text, "echo: a ");
        assert_eq!(p.finish, Finish::StopSequence("STOP".into()));
    }

    #[test]
    fn tools() {
        let mut i = input("Paris");
        i.tools = vec![
            ToolDef {
                name: "a".into(),
                first_property: Some("city".into()),
            },
            ToolDef {
                name: "b".into(),
                first_property: None,
            },
        ];
        let p = plan(&i);
        let c = p.tool_call.unwrap();
        assert_eq!(
            (c.name.as_str(), c.arguments_json()),
            ("a", r#"{"city":"Paris"}"#.to_string())
        );
        i.tool_choice = ToolChoice::Named("b".into());
        assert_eq!(
            plan(&i).tool_call.unwrap().arguments_json(),
            r#"{"input":"Paris"}"#
        );
        // A scripted call names its tool and arguments; unoffered tools are not called.
        let mut s = input(r#"please [[call b {"path":"/tmp/x","n":2}]] now"#);
        s.tools = i.tools.clone();
        let c = plan(&s).tool_call.unwrap();
        assert_eq!(
            (c.name.as_str(), c.arguments_json()),
            ("b", r#"{"path":"/tmp/x","n":2}"#.to_string())
        );
        let mut s = input(r#"[[call nowhere {"a":1}]]"#);
        s.tools = i.tools.clone();
        assert_eq!(plan(&s).tool_call.unwrap().name, "a");
        let p = plan(&input(r#"[[say "line one\nline two"]] trailing"#));
        assert_eq!(p.text, "line one\nline two");
        i.tool_results = Some(vec!["11 degrees".into()]);
        let p = plan(&i);
        assert!(p.tool_call.is_none());
        assert_eq!(p.text, "tool result: 11 degrees");
    }
}
