//! Embeddings in both directions and the listing endpoints' shapes.

use super::v;
use crate::ollama::{
    decode_embed, decode_embed_response, decode_embeddings_legacy, decode_show, digest,
    encode_embed, encode_embed_request, encode_embeddings_legacy, encode_ps, encode_show,
    encode_tags, encode_version, ollama_name,
};
use lmrelay_ir::{EmbedInput, EmbedRequest, EmbedResponse, ModelInfo};
use serde_json::json;

#[test]
fn embed_requests_from_clients() {
    let cases = [
        (
            json!({"model": "nomic", "input": "hi"}),
            vec!["hi"],
            None,
            None,
        ),
        (
            json!({"model": "nomic", "input": ["a", "b"], "truncate": false, "dimensions": 256}),
            vec!["a", "b"],
            Some(false),
            Some(256),
        ),
        (json!({"model": "nomic"}), vec![], None, None),
    ];
    for (body, texts, truncate, dimensions) in cases {
        let req = decode_embed(body.to_string().as_bytes()).expect("decodes");
        assert_eq!(
            req,
            EmbedRequest {
                model: "nomic".into(),
                input: EmbedInput::Texts(texts.into_iter().map(String::from).collect()),
                dimensions,
                user: None,
                truncate,
            },
            "{body}"
        );
    }
    let err = decode_embed(br#"{"model":"m","input":[1,2]}"#).expect_err("tokens");
    assert_eq!((err.status, err.param.as_deref()), (400, Some("input[0]")));
    assert!(decode_embed(br#"{"input":"x"}"#).is_err());

    let req = decode_embeddings_legacy(br#"{"model":"nomic","prompt":"hello"}"#).expect("decodes");
    assert_eq!(req.input, EmbedInput::Texts(vec!["hello".into()]));
    let req = decode_embeddings_legacy(br#"{"model":"nomic","prompt":""}"#).expect("decodes");
    assert!(req.input.is_empty());
}

#[test]
fn embed_answers_to_clients() {
    let resp = EmbedResponse {
        model: "upstream".into(),
        vectors: vec![vec![0.5, -1.25], vec![0.0, 2.0]],
        input_tokens: 7,
    };
    assert_eq!(
        v(&encode_embed(&resp, "nomic", 12_345)),
        json!({"model": "nomic", "embeddings": [[0.5, -1.25], [0.0, 2.0]], "total_duration": 12_345, "load_duration": 0, "prompt_eval_count": 7})
    );
    assert_eq!(
        v(&encode_embeddings_legacy(&resp)),
        json!({"embedding": [0.5, -1.25]})
    );
    assert_eq!(
        v(&encode_embeddings_legacy(&EmbedResponse::default())),
        json!({"embedding": []})
    );
}

#[test]
fn embed_upstream_both_ways() {
    let req = EmbedRequest {
        model: "client".into(),
        input: EmbedInput::Texts(vec!["a".into()]),
        dimensions: Some(64),
        user: Some("u".into()),
        truncate: Some(true),
    };
    assert_eq!(
        v(&encode_embed_request(&req, "nomic-embed-text").expect("encodes")),
        json!({"model": "nomic-embed-text", "input": ["a"], "truncate": true, "dimensions": 64})
    );
    let tokens = EmbedRequest {
        input: EmbedInput::Tokens(vec![vec![1, 2]]),
        ..req
    };
    assert_eq!(
        encode_embed_request(&tokens, "m")
            .expect_err("tokens")
            .status,
        400
    );

    let resp = decode_embed_response(
        br#"{"model":"nomic-embed-text","embeddings":[[0.1,0.2],[0.3,0.4]],"total_duration":1,"prompt_eval_count":4}"#,
    )
    .expect("decodes");
    assert_eq!(
        resp,
        EmbedResponse {
            model: "nomic-embed-text".into(),
            vectors: vec![vec![0.1, 0.2], vec![0.3, 0.4]],
            input_tokens: 4
        }
    );
    assert_eq!(
        decode_embed_response(b"{}")
            .expect_err("no embeddings")
            .status,
        502
    );
}

fn models() -> Vec<ModelInfo> {
    vec![
        ModelInfo {
            id: "gpt-4o".into(),
            owned_by: "openai".into(),
            created_secs: 1_700_000_000,
        },
        ModelInfo {
            id: "llama3.2:3b".into(),
            owned_by: "ollama".into(),
            created_secs: 0,
        },
        ModelInfo {
            id: "ns/name".into(),
            owned_by: "lmrelay".into(),
            created_secs: 0,
        },
    ]
}

#[test]
fn tags_shape() {
    let got = v(&encode_tags(&models()));
    let details = json!({"parent_model": "", "format": "", "family": "", "families": null, "parameter_size": "", "quantization_level": ""});
    assert_eq!(
        got["models"][0],
        json!({"name": "gpt-4o:latest", "model": "gpt-4o:latest", "modified_at": "2023-11-14T22:13:20.000000000Z", "size": 0, "digest": digest("gpt-4o:latest"), "details": details})
    );
    assert_eq!(got["models"][1]["name"], "llama3.2:3b");
    assert_eq!(got["models"][2]["name"], "ns/name:latest");
    assert_eq!(v(&encode_tags(&[])), json!({"models": []}));
}

#[test]
fn digests_are_stable_hex() {
    let d = digest("gpt-4o:latest");
    assert_eq!(d.len(), 64);
    assert!(d
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_eq!(d, digest("gpt-4o:latest"));
    assert_ne!(d, digest("gpt-4o:mini"));
    assert_eq!(ollama_name("a/b:c"), "a/b:c");
    assert_eq!(ollama_name("host:1/b"), "host:1/b:latest");
}

#[test]
fn show_ps_version_shapes() {
    let got = v(&encode_show(&models()[0]));
    assert_eq!(
        got,
        json!({
            "modelfile": "", "parameters": "", "template": "",
            "details": {"parent_model": "", "format": "", "family": "", "families": null, "parameter_size": "", "quantization_level": ""},
            "model_info": {"general.architecture": "lmrelay", "lmrelay.context_length": 131_072},
            "capabilities": ["completion", "tools", "vision", "thinking"],
            "modified_at": "2023-11-14T22:13:20.000000000Z"
        })
    );
    assert_eq!(v(&encode_ps(&[])), json!({"models": []}));
    let ps = v(&encode_ps(&models()[..1]));
    let entry = &ps["models"][0];
    assert_eq!(entry["name"], "gpt-4o:latest");
    assert_eq!(entry["size_vram"], 0);
    assert_eq!(entry["context_length"], 131_072);
    assert!(entry["expires_at"]
        .as_str()
        .is_some_and(|s| s.ends_with('Z')));
    assert_eq!(v(&encode_version("0.11.4")), json!({"version": "0.11.4"}));

    assert_eq!(
        decode_show(br#"{"model":"llama3.2"}"#).expect("model"),
        "llama3.2"
    );
    assert_eq!(
        decode_show(br#"{"name":"legacy"}"#).expect("name"),
        "legacy"
    );
    assert_eq!(
        decode_show(br#"{"model":"","name":"legacy"}"#).expect("name"),
        "legacy"
    );
    assert_eq!(decode_show(b"{}").expect_err("none").status, 400);
}
