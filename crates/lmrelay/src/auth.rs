//! Gateway keys: who is calling, and whether they may use the model they asked for.
//!
//! A key is read from `Authorization: Bearer`, `x-api-key` or `api-key`, compared by its
//! SHA-256, and never forwarded upstream.

use crate::config::{AuthMode, Config, KeyConfig, KeyMatcher};
use crate::error::GatewayError;
use crate::glob;
use http::HeaderMap;
use sha2::{Digest, Sha256};

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
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    bearer
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .or_else(|| headers.get("api-key").and_then(|v| v.to_str().ok()))
        .filter(|k| !k.is_empty())
}

/// Identifies the caller. `Ok(None)` means access is open and no known key was presented.
pub fn authenticate<'a>(
    config: &'a Config,
    headers: &HeaderMap,
) -> Result<Option<&'a KeyConfig>, GatewayError> {
    if config.keys.is_empty() {
        return Ok(None);
    }
    let found = presented_key(headers).and_then(|k| {
        let digest = hash_key(k);
        config.keys.iter().find(|c| match &c.key {
            KeyMatcher::Sha256(h) => *h == digest,
            KeyMatcher::Plain(s) => hash_key(s.expose()) == digest,
        })
    });
    match (found, config.auth) {
        (Some(k), _) => Ok(Some(k)),
        (None, AuthMode::None) => Ok(None),
        (None, AuthMode::Default) => Err(GatewayError::Unauthorized),
    }
}

/// Checks a key's model allowlist.
pub fn authorize_model(key: Option<&KeyConfig>, model: &str) -> Result<(), GatewayError> {
    match key {
        None => Ok(()),
        Some(k) if k.models.iter().any(|p| glob::matches(p, model)) => Ok(()),
        Some(k) => Err(GatewayError::ModelNotAllowed {
            key: k.name.clone(),
            model: model.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_str, Format};

    fn config(extra: &str) -> Config {
        let text = format!(
            "{extra}\n[[keys]]\nname = \"a\"\nkey = \"sha256:{}\"\nmodels = [\"gpt-*\"]\n[[keys]]\nname = \"b\"\nkey = \"plain-b\"\nmodels = []\n",
            hash_key("secret-a")
        );
        parse_str(&text, Format::Toml, "t.toml", &|_| None).expect("valid")
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
        assert_eq!(a.map(|k| k.name.as_str()), Some("a"));
        let b = authenticate(&c, &headers("x-api-key", "plain-b")).expect("ok");
        assert_eq!(b.map(|k| k.name.as_str()), Some("b"));
        assert!(authenticate(&c, &headers("api-key", "secret-a")).is_ok());
        assert!(matches!(
            authenticate(&c, &HeaderMap::new()),
            Err(GatewayError::Unauthorized)
        ));
        assert!(matches!(
            authenticate(&c, &headers("x-api-key", "nope")),
            Err(GatewayError::Unauthorized)
        ));
        assert!(authorize_model(a, "gpt-4o").is_ok());
        assert!(authorize_model(a, "claude").is_err());
        assert!(authorize_model(b, "gpt-4o").is_err());
    }

    #[test]
    fn auth_none_admits_anyone() {
        let c = config("auth = \"none\"");
        assert!(authenticate(&c, &HeaderMap::new()).expect("open").is_none());
    }

    #[test]
    fn hash_matches_sha256() {
        assert_eq!(
            hash_key("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
    }
}
