//! `clean_schema`: JSON Schema to the OpenAPI subset Gemini accepts (E15).

use crate::gemini::{clean_schema, function_parameters};
use serde_json::json;

#[test]
fn cleaning_table() {
    let cases = [
        (
            "unsupported keywords are dropped",
            json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                "title": "Args", "additionalProperties": false,
                "properties": {"q": {"type": "string", "minLength": 1, "pattern": "^a", "default": "a",
                    "examples": ["a"]}},
                "required": ["q"]}),
            json!({"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}),
        ),
        (
            "type arrays become a type plus nullable",
            json!({"type": ["string", "null"], "description": "d"}),
            json!({"type": "string", "description": "d", "nullable": true}),
        ),
        (
            "several types become anyOf",
            json!({"type": ["string", "integer"]}),
            json!({"anyOf": [{"type": "string"}, {"type": "integer"}]}),
        ),
        (
            "anyOf with a null branch collapses (pydantic Optional)",
            json!({"anyOf": [{"type": "integer"}, {"type": "null"}], "default": null, "title": "N"}),
            json!({"type": "integer", "nullable": true}),
        ),
        (
            "oneOf becomes anyOf",
            json!({"oneOf": [{"type": "string"}, {"type": "number", "exclusiveMinimum": 0}]}),
            json!({"anyOf": [{"type": "string"}, {"type": "number"}]}),
        ),
        (
            "const is an enum of one",
            json!({"type": "string", "const": "celsius"}),
            json!({"type": "string", "enum": ["celsius"]}),
        ),
        (
            "non-string enums move into the description",
            json!({"type": "integer", "enum": [1, 2], "description": "Level."}),
            json!({"type": "integer", "description": "Level. Allowed values: 1, 2."}),
        ),
        (
            "arrays get items; tuples keep their first member",
            json!({"type": "object", "properties": {
                "tags": {"type": "array"},
                "pair": {"type": "array", "items": [{"type": "number"}, {"type": "string"}], "minItems": 2}}}),
            json!({"type": "object", "properties": {
                "tags": {"type": "array", "items": {"type": "string"}},
                "pair": {"type": "array", "items": {"type": "number"}, "minItems": 2}}}),
        ),
        (
            "formats Gemini rejects are dropped",
            json!({"type": "object", "properties": {
                "when": {"type": "string", "format": "date-time"},
                "mail": {"type": "string", "format": "email"},
                "n": {"type": "integer", "format": "int64", "minimum": 0, "maximum": 9},
                "x": {"type": "number", "format": "decimal"}}}),
            json!({"type": "object", "properties": {
                "when": {"type": "string", "format": "date-time"},
                "mail": {"type": "string"},
                "n": {"type": "integer", "minimum": 0, "maximum": 9, "format": "int64"},
                "x": {"type": "number"}}}),
        ),
        (
            "required names only existing properties",
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a", "b"]}),
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}),
        ),
        (
            "allOf members are merged",
            json!({"allOf": [
                {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                {"properties": {"b": {"type": "string"}}, "required": ["b"]}]}),
            json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                "required": ["a", "b"]}),
        ),
    ];
    for (name, input, want) in cases {
        assert_eq!(clean_schema(&input), want, "{name}");
    }
}

#[test]
fn references_are_inlined_and_recursion_stops() {
    let schema = json!({
        "type": "object",
        "$defs": {
            "City": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
            "Node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"}}}
        },
        "definitions": {"Unit": {"type": "string", "enum": ["c", "f"]}},
        "properties": {
            "city": {"$ref": "#/$defs/City", "description": "Where."},
            "unit": {"$ref": "#/definitions/Unit"},
            "tree": {"$ref": "#/$defs/Node"},
            "lost": {"$ref": "#/$defs/Missing"}
        }
    });
    assert_eq!(
        clean_schema(&schema),
        json!({"type": "object", "properties": {
            "city": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"],
                "description": "Where."},
            "unit": {"type": "string", "enum": ["c", "f"]},
            "tree": {"type": "object", "properties": {"child": {"type": "object"}}},
            "lost": {}
        }})
    );
}

#[test]
fn function_parameters_need_properties() {
    assert_eq!(function_parameters(None), None);
    assert_eq!(
        function_parameters(Some(&json!({"type": "object", "properties": {}}))),
        None
    );
    assert_eq!(
        function_parameters(Some(&json!({"properties": {"a": {"type": "string"}}}))),
        Some(json!({"properties": {"a": {"type": "string"}}, "type": "object"}))
    );
}
