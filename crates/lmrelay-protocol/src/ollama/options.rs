//! The request knobs `/api/chat` and `/api/generate` share: `options` (sampling), `format`,
//! `think`, `keep_alive` and the newer pass-through fields, in both directions.
//!
//! Options lmrelay models become [`Sampling`]; the rest (`num_ctx`, `repeat_penalty`, …) stay
//! in `ChatRequest::extra["options"]`, with `keep_alive` and friends beside it, so that an
//! Ollama upstream gets them back verbatim.

use lmrelay_ir::{ApiError, Extra, Reasoning, ResponseFormat, Sampling};
use serde_json::{Map, Value};

/// Extra keys an Ollama client may send that go back, verbatim, to an Ollama upstream.
pub(super) const PASSTHROUGH_KEYS: &[&str] = &[
    "keep_alive",
    "truncate",
    "shift",
    "logprobs",
    "top_logprobs",
];

/// The options lmrelay maps to [`Sampling`].
const SAMPLING_KEYS: &[&str] = &[
    "temperature",
    "top_p",
    "top_k",
    "num_predict",
    "stop",
    "seed",
    "frequency_penalty",
    "presence_penalty",
];

/// The request fields `/api/chat` and `/api/generate` share, flattened into both bodies.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct Knobs {
    #[serde(default)]
    pub options: Option<Map<String, Value>>,
    #[serde(default)]
    pub format: Option<Value>,
    #[serde(default)]
    pub think: Option<Value>,
    #[serde(default)]
    pub keep_alive: Option<Value>,
    #[serde(default)]
    pub truncate: Option<Value>,
    #[serde(default)]
    pub shift: Option<Value>,
    #[serde(default)]
    pub logprobs: Option<Value>,
    #[serde(default)]
    pub top_logprobs: Option<Value>,
}

/// What the shared fields decode to.
pub(super) struct Decoded {
    pub sampling: Sampling,
    pub response_format: Option<ResponseFormat>,
    pub reasoning: Option<Reasoning>,
    pub extra: Extra,
}

// === decoding (client side) ===

pub(super) fn decode(knobs: Knobs) -> Result<Decoded, ApiError> {
    let mut extra = Extra::new();
    let sampling = match knobs.options {
        Some(options) => {
            let (sampling, rest) = decode_options(options)?;
            if !rest.is_empty() {
                extra.insert("options".into(), Value::Object(rest));
            }
            sampling
        }
        None => Sampling::default(),
    };
    let passthrough = [
        ("keep_alive", knobs.keep_alive),
        ("truncate", knobs.truncate),
        ("shift", knobs.shift),
        ("logprobs", knobs.logprobs),
        ("top_logprobs", knobs.top_logprobs),
    ];
    for (key, value) in passthrough {
        match value {
            Some(Value::Null) | None => {}
            Some(v) => {
                extra.insert(key.into(), v);
            }
        }
    }
    Ok(Decoded {
        sampling,
        response_format: decode_format(knobs.format)?,
        reasoning: decode_think(knobs.think)?,
        extra,
    })
}

/// Splits `options` into sampling and the options lmrelay does not model.
fn decode_options(
    mut options: Map<String, Value>,
) -> Result<(Sampling, Map<String, Value>), ApiError> {
    let mut s = Sampling {
        temperature: float(&options, "temperature")?,
        top_p: float(&options, "top_p")?,
        top_k: int(&options, "top_k")?.map(|v| u32::try_from(v.max(0)).unwrap_or(u32::MAX)),
        max_tokens: int(&options, "num_predict")?
            .filter(|v| *v > 0)
            .map(|v| u32::try_from(v).unwrap_or(u32::MAX)),
        seed: int(&options, "seed")?,
        frequency_penalty: float(&options, "frequency_penalty")?,
        presence_penalty: float(&options, "presence_penalty")?,
        ..Sampling::default()
    };
    s.stop = match options.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(t) => Ok(t.clone()),
                _ => Err(bad_option("stop", "an array of strings")),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(bad_option("stop", "an array of strings")),
    };
    s.stop.retain(|t| !t.is_empty());
    for key in SAMPLING_KEYS {
        options.remove(*key);
    }
    Ok((s, options))
}

fn float(options: &Map<String, Value>, key: &str) -> Result<Option<f64>, ApiError> {
    match options.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(Some)
            .ok_or_else(|| bad_option(key, "a number")),
        Some(_) => Err(bad_option(key, "a number")),
    }
}

fn int(options: &Map<String, Value>, key: &str) -> Result<Option<i64>, ApiError> {
    match options.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else if let Some(u) = n.as_u64() {
                Ok(Some(i64::try_from(u).unwrap_or(i64::MAX)))
            } else {
                match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
                    _ => Err(bad_option(key, "an integer")),
                }
            }
        }
        Some(_) => Err(bad_option(key, "an integer")),
    }
}

fn bad_option(key: &str, expected: &str) -> ApiError {
    ApiError::invalid(format!("`options.{key}` must be {expected}."))
        .with_param(format!("options.{key}"))
}

/// `format`: `"json"` or a JSON schema object.
fn decode_format(format: Option<Value>) -> Result<Option<ResponseFormat>, ApiError> {
    match format {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) if s == "json" => Ok(Some(ResponseFormat::JsonObject)),
        Some(Value::Object(schema)) => Ok(Some(ResponseFormat::JsonSchema {
            name: "response".into(),
            description: None,
            schema: Value::Object(schema),
            strict: None,
        })),
        Some(_) => Err(
            ApiError::invalid("`format` must be \"json\" or a JSON schema object.")
                .with_param("format"),
        ),
    }
}

/// `think`: a boolean or an effort level.
fn decode_think(think: Option<Value>) -> Result<Option<Reasoning>, ApiError> {
    match think {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(enabled)) => Ok(Some(Reasoning {
            enabled,
            ..Reasoning::default()
        })),
        Some(Value::String(effort)) => {
            let effort = effort.trim().to_ascii_lowercase();
            Ok(Some(match effort.as_str() {
                "" | "true" => Reasoning {
                    enabled: true,
                    ..Reasoning::default()
                },
                "false" | "none" => Reasoning::default(),
                _ => Reasoning {
                    enabled: true,
                    effort: Some(effort),
                    budget_tokens: None,
                },
            }))
        }
        Some(_) => Err(ApiError::invalid(
            "`think` must be a boolean or one of \"low\", \"medium\", \"high\".",
        )
        .with_param("think")),
    }
}

// === encoding (upstream side) ===

/// `options` for an Ollama upstream: the client's own unmodelled options (if it was an
/// Ollama client) with lmrelay's sampling on top.
pub(super) fn encode_options(sampling: &Sampling, extra: &Extra) -> Map<String, Value> {
    let mut out = match extra.get("options") {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    };
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            out.insert(key.into(), v);
        }
    };
    put("temperature", sampling.temperature.map(Value::from));
    put("top_p", sampling.top_p.map(Value::from));
    put("top_k", sampling.top_k.map(Value::from));
    put("num_predict", sampling.max_tokens.map(Value::from));
    let stop: Vec<Value> = sampling
        .stop
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| Value::from(s.as_str()))
        .collect();
    put("stop", (!stop.is_empty()).then_some(Value::Array(stop)));
    put("seed", sampling.seed.map(Value::from));
    put(
        "frequency_penalty",
        sampling.frequency_penalty.map(Value::from),
    );
    put(
        "presence_penalty",
        sampling.presence_penalty.map(Value::from),
    );
    out
}

/// `format` for an Ollama upstream.
pub(super) fn encode_format(format: Option<&ResponseFormat>) -> Option<Value> {
    match format? {
        ResponseFormat::Text => None,
        ResponseFormat::JsonObject => Some(Value::from("json")),
        ResponseFormat::JsonSchema { schema, .. } => Some(schema.clone()),
    }
}

/// `think` for an Ollama upstream (§10.6: `none` → false, `minimal` → "low",
/// `xhigh`/`ultra` → "max", low/medium/high/max kept).
pub(super) fn encode_think(reasoning: Option<&Reasoning>) -> Option<Value> {
    let r = reasoning?;
    if !r.enabled {
        return Some(Value::Bool(false));
    }
    let Some(effort) = r.effort.as_deref() else {
        return Some(Value::Bool(true));
    };
    Some(match effort.to_ascii_lowercase().as_str() {
        "none" => Value::Bool(false),
        "minimal" | "low" => Value::from("low"),
        "medium" => Value::from("medium"),
        "high" => Value::from("high"),
        "max" | "xhigh" | "ultra" => Value::from("max"),
        _ => Value::Bool(true),
    })
}
