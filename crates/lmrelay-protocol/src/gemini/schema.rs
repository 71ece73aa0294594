//! Turning a JSON Schema into the OpenAPI-subset `Schema` Gemini accepts in
//! `functionDeclarations[].parameters` and `generationConfig.responseSchema`
//! (protocols.md §4.2, E15).
//!
//! Gemini rejects every key it does not know ("Invalid JSON payload received. Unknown name
//! …"), type arrays ("Proto field is not repeating"), arrays without `items`, and string
//! formats other than `enum` and `date-time`. So the cleaner keeps only what Gemini reads and
//! rewrites the rest into it:
//! - `$ref` to `$defs` / `definitions` is inlined (a recursive reference stops at a plain
//!   object), and the definitions themselves are dropped;
//! - `["string","null"]` and `anyOf` with a `null` branch become the type plus
//!   `nullable: true`; an `anyOf`/`oneOf` left with one branch is merged into its parent;
//!   `oneOf` becomes `anyOf`; `allOf` members are merged;
//! - `const` becomes an enum of one; enums of non-strings (Gemini's enums are strings) are
//!   moved into the description;
//! - `required` names only properties that exist; an array gets `items` if it had none;
//! - everything else (`$schema`, `additionalProperties`, `title`, `default`, `examples`,
//!   `pattern`, `exclusiveMinimum`, `propertyNames`, …) is dropped.

use serde_json::{json, Map, Value};

/// Nesting deeper than this is cut off (a guard against pathological schemas).
const MAX_DEPTH: usize = 48;

/// Keys copied as they are when their value has the right JSON type.
const NUMERIC_KEYS: &[&str] = &["minItems", "maxItems", "minimum", "maximum"];

/// Cleans a whole schema (its root may hold `$defs`).
pub fn clean_schema(schema: &Value) -> Value {
    let cleaner = Cleaner::new(schema);
    Value::Object(cleaner.clean(schema, 0, &mut Vec::new()))
}

/// The `parameters` of a function declaration: the cleaned schema with an object root, or
/// `None` for a tool without arguments (Gemini refuses an object with no properties there).
pub fn function_parameters(schema: Option<&Value>) -> Option<Value> {
    let schema = schema?;
    let mut cleaned = match clean_schema(schema) {
        Value::Object(m) => m,
        _ => return None,
    };
    let has_properties = cleaned
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty());
    if !has_properties {
        return None;
    }
    if !cleaned.contains_key("type") {
        cleaned.insert("type".into(), Value::from("object"));
    }
    Some(Value::Object(cleaned))
}

struct Cleaner<'a> {
    defs: Vec<&'a Map<String, Value>>,
}

// === impl Cleaner ===

impl<'a> Cleaner<'a> {
    fn new(root: &'a Value) -> Self {
        let defs = ["$defs", "definitions"]
            .iter()
            .filter_map(|k| root.get(*k).and_then(Value::as_object))
            .collect();
        Cleaner { defs }
    }

    fn lookup(&self, reference: &str) -> Option<(&'a Value, String)> {
        let name = reference
            .strip_prefix("#/$defs/")
            .or_else(|| reference.strip_prefix("#/definitions/"))?;
        self.defs
            .iter()
            .find_map(|d| d.get(name))
            .map(|v| (v, name.to_owned()))
    }

    fn clean(&self, node: &Value, depth: usize, stack: &mut Vec<String>) -> Map<String, Value> {
        let Value::Object(src) = node else {
            return Map::new();
        };
        let mut out = Map::new();
        if depth > MAX_DEPTH {
            out.insert("type".into(), Value::from("object"));
            return out;
        }
        if let Some(reference) = src.get("$ref").and_then(Value::as_str) {
            match self.lookup(reference) {
                Some((_, name)) if stack.contains(&name) => {
                    out.insert("type".into(), Value::from("object"));
                }
                Some((target, name)) => {
                    stack.push(name);
                    out = self.clean(target, depth + 1, stack);
                    stack.pop();
                }
                None => {}
            }
        }
        let mut nullable = false;
        let mut format = None;
        let mut required = None;
        let mut odd_enum = None;
        for (key, value) in src {
            match key.as_str() {
                "type" => put_type(value, &mut out, &mut nullable),
                "description" if value.is_string() => {
                    out.insert(key.clone(), value.clone());
                }
                "nullable" => nullable |= value.as_bool() == Some(true),
                "format" => format = value.as_str(),
                "required" => required = value.as_array(),
                "enum" => match value.as_array() {
                    Some(vals) if vals.iter().all(Value::is_string) => {
                        out.insert("enum".into(), value.clone());
                    }
                    Some(vals) => odd_enum = Some(vals.clone()),
                    None => {}
                },
                "const" if value.is_string() => {
                    out.insert("enum".into(), json!([value]));
                }
                "const" => odd_enum = Some(vec![value.clone()]),
                "properties" => {
                    if let Some(props) = value.as_object() {
                        let cleaned: Map<String, Value> = props
                            .iter()
                            .map(|(k, v)| {
                                (k.clone(), Value::Object(self.clean(v, depth + 1, stack)))
                            })
                            .collect();
                        out.insert("properties".into(), Value::Object(cleaned));
                    }
                }
                "items" => {
                    // A tuple (`items: [..]`) keeps its first member's schema.
                    let item = match value {
                        Value::Array(a) => a.first().cloned().unwrap_or(Value::Null),
                        other => other.clone(),
                    };
                    let cleaned = self.clean(&item, depth + 1, stack);
                    out.insert("items".into(), Value::Object(cleaned));
                }
                "anyOf" | "oneOf" => {
                    if let Some(variants) = value.as_array() {
                        self.put_variants(variants, &mut out, &mut nullable, depth, stack);
                    }
                }
                "allOf" => {
                    for member in value.as_array().into_iter().flatten() {
                        let cleaned = self.clean(member, depth + 1, stack);
                        merge(&mut out, cleaned);
                    }
                }
                "propertyOrdering"
                    if value
                        .as_array()
                        .is_some_and(|a| a.iter().all(Value::is_string)) =>
                {
                    out.insert(key.clone(), value.clone());
                }
                k if NUMERIC_KEYS.contains(&k) && value.is_number() => {
                    out.insert(key.clone(), value.clone());
                }
                _ => {}
            }
        }
        if nullable {
            out.insert("nullable".into(), Value::Bool(true));
        }
        let type_name = out
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase);
        if let Some(f) = format.filter(|f| format_allowed(type_name.as_deref(), f)) {
            out.insert("format".into(), Value::from(f));
        }
        if let Some(req) = required {
            let names: Vec<Value> = req
                .iter()
                .filter(|r| {
                    r.as_str().is_some_and(|name| {
                        out.get("properties")
                            .and_then(Value::as_object)
                            .is_some_and(|p| p.contains_key(name))
                    })
                })
                .cloned()
                .collect();
            if !names.is_empty() {
                out.insert("required".into(), Value::Array(names));
            }
        }
        if type_name.as_deref() == Some("array") && !out.contains_key("items") {
            out.insert("items".into(), json!({"type": "string"}));
        }
        if let Some(vals) = odd_enum {
            describe_values(&mut out, &vals);
        }
        out
    }

    fn put_variants(
        &self,
        variants: &[Value],
        out: &mut Map<String, Value>,
        nullable: &mut bool,
        depth: usize,
        stack: &mut Vec<String>,
    ) {
        let mut kept = Vec::with_capacity(variants.len());
        for v in variants {
            if v.get("type").and_then(Value::as_str) == Some("null") {
                *nullable = true;
                continue;
            }
            kept.push(self.clean(v, depth + 1, stack));
        }
        match kept.len() {
            0 => {}
            1 => {
                if let Some(only) = kept.pop() {
                    merge(out, only);
                }
            }
            _ => {
                let list = kept.into_iter().map(Value::Object).collect();
                out.insert("anyOf".into(), Value::Array(list));
            }
        }
    }
}

/// Writes `type`: a string as it is, a type list as one type plus `nullable`, or as an
/// `anyOf` of the types when several remain.
fn put_type(value: &Value, out: &mut Map<String, Value>, nullable: &mut bool) {
    match value {
        Value::String(t) if t == "null" => *nullable = true,
        Value::String(_) => {
            out.insert("type".into(), value.clone());
        }
        Value::Array(types) => {
            let names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            if names.contains(&"null") {
                *nullable = true;
            }
            let real: Vec<&str> = names.into_iter().filter(|t| *t != "null").collect();
            match real.as_slice() {
                [] => {}
                [one] => {
                    out.insert("type".into(), Value::from(*one));
                }
                many => {
                    let list = many.iter().map(|t| json!({"type": t})).collect();
                    out.insert("anyOf".into(), Value::Array(list));
                }
            }
        }
        _ => {}
    }
}

/// Adds `other`'s keys that `out` lacks; properties and `required` are united.
fn merge(out: &mut Map<String, Value>, other: Map<String, Value>) {
    for (k, v) in other {
        match (k.as_str(), out.get_mut(&k), v) {
            ("properties", Some(Value::Object(mine)), Value::Object(theirs)) => {
                for (pk, pv) in theirs {
                    mine.entry(pk).or_insert(pv);
                }
            }
            ("required", Some(Value::Array(mine)), Value::Array(theirs)) => {
                for name in theirs {
                    if !mine.contains(&name) {
                        mine.push(name);
                    }
                }
            }
            (_, Some(_), _) => {}
            (_, None, v) => {
                out.insert(k, v);
            }
        }
    }
}

/// Formats Gemini accepts for a type.
fn format_allowed(type_name: Option<&str>, format: &str) -> bool {
    match type_name {
        Some("string") => matches!(format, "enum" | "date-time"),
        Some("number") => matches!(format, "float" | "double"),
        Some("integer") => matches!(format, "int32" | "int64"),
        _ => false,
    }
}

/// Puts allowed values Gemini cannot take as an enum into the description instead.
fn describe_values(out: &mut Map<String, Value>, values: &[Value]) {
    let list: Vec<String> = values.iter().map(Value::to_string).collect();
    let note = format!("Allowed values: {}.", list.join(", "));
    let description = match out.get("description").and_then(Value::as_str) {
        Some(d) if !d.is_empty() => format!("{d} {note}"),
        _ => note,
    };
    out.insert("description".into(), Value::String(description));
}
