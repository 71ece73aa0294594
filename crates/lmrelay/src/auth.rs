//! Gateway keys: who is calling, and whether they may use the model they asked for.
//!
//! A key is read from `Authorization: Bearer`, `x-api-key` or `api-key`, compared by its
//! SHA-256, and never forwarded upstream.

use crate::config::KeyConfig;
use crate::error::GatewayError;
use crate::glob;
use crate::runtime::Runtime;
use http::HeaderMap;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The lowercase hex SHA-256 of a key, as `sha256:` config entries hold it.
pub fn hash_key(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The key a request presents, if any.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            // The scheme is case-insensitive (RFC 9110): `Bearer`, `bearer`, `BEARER`.
            let (scheme, token) = v.trim_start().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)
        })
        .map(str::trim);
    bearer
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .or_else(|| headers.get("api-key").and_then(|v| v.to_str().ok()))
        .filter(|k| !k.is_empty())
}

/// Identifies the caller: a config key or a key created at runtime, by the SHA-256 of what
/// the client presented. `Ok(None)` means access is open and no known key was presented.
pub fn authenticate(
    rt: &Runtime,
    headers: &HeaderMap,
) -> Result<Option<Arc<KeyConfig>>, GatewayError> {
    rt.live
        .gateway_keys
        .authenticate(&rt.config_keys, rt.config.auth, presented_key(headers))
}

/// Checks a key's model allowlist. An Ollama client's `name:latest` is `name` when `name` is
/// allowed (as model resolution treats it).
pub fn authorize_model(key: Option<&KeyConfig>, model: &str) -> Result<(), GatewayError> {
    let Some(k) = key else {
        return Ok(());
    };
    let allowed = |m: &str| k.models.iter().any(|p| glob::matches(p, m));
    let base = model.strip_suffix(":latest").filter(|b| !b.is_empty());
    if allowed(model) || base.is_some_and(allowed) {
        return Ok(());
    }
    Err(GatewayError::ModelNotAllowed {
        key: k.name.clone(),
        model: model.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_str, Format};
    use crate::live::Live;

    fn config(extra: &str) -> Runtime {
        let text = format!(
            "{extra}\n[[keys]]\nname = \"a\"\nkey = \"sha256:{}\"\nmodels = [\"gpt-*\"]\n[[keys]]\nname = \"b\"\nkey = \"plain-b\"\nmodels = []\n",
            hash_key("secret-a")
        );
        let c = parse_str(&text, Format::Toml, "t.toml", &|_| None).expect("valid");
        Runtime::build(c, &Live::in_memory(None)).expect("runtime")
    }

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, value.parse().expect("header"));
        h
    }

    #[test]
    fn keys_in_any_header_and_allowlists() {
        let c = config("");
        let a = authenticate(&c, &headers("authorization", "Bearer secret-a")).expect("ok");
        assert_eq!(a.as_ref().map(|k| k.name.as_str()), Some("a"));
        let b = authenticate(&c, &headers("x-api-key", "plain-b")).expect("ok");
        assert_eq!(b.as_ref().map(|k| k.name.as_str()), Some("b"));
        assert!(authenticate(&c, &headers("api-key", "secret-a")).is_ok());
        assert!(matches!(
            authenticate(&c, &HeaderMap::new()),
            Err(GatewayError::Unauthorized)
        ));
        assert!(matches!(
            authenticate(&c, &headers("x-api-key", "nope")),
            Err(GatewayError::Unauthorized)
        ));
        assert!(authorize_model(a.as_deref(), "gpt-4o").is_ok());
        assert!(authorize_model(a.as_deref(), "claude").is_err());
        assert!(authorize_model(b.as_deref(), "gpt-4o").is_err());
        assert!(
            authorize_model(a.as_deref(), "gpt-4o:latest").is_ok(),
            "Ollama's name:latest"
        );
    }

    #[test]
    fn auth_none_admits_anyone_without_a_key_but_not_a_wrong_key() {
        let c = config("auth = \"none\"");
        assert!(authenticate(&c, &HeaderMap::new()).expect("open").is_none());
        let a = authenticate(&c, &headers("authorization", "Bearer secret-a")).expect("ok");
        assert_eq!(a.map(|k| k.name.clone()).as_deref(), Some("a"));
        assert!(matches!(
            authenticate(&c, &headers("authorization", "Bearer wrong")),
            Err(GatewayError::Unauthorized)
        ));
    }

    #[test]
    fn the_bearer_scheme_in_any_case() {
        let c = config("");
        for v in [
            "Bearer secret-a",
            "bearer secret-a",
            "BEARER secret-a",
            "bEaReR  secret-a",
        ] {
            let k = authenticate(&c, &headers("authorization", v)).expect(v);
            assert_eq!(k.map(|k| k.name.clone()).as_deref(), Some("a"), "{v}");
        }
        assert!(presented_key(&headers("authorization", "Basic secret-a")).is_none());
    }

    #[test]
    fn hash_matches_sha256() {
        assert_eq!(
            hash_key("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
    }
}
