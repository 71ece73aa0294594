//! Secrets (API keys, tokens) as a type that cannot be printed by accident.

use std::fmt;

/// A secret string. `Debug` and `Display` show only a fixed mask; [`Secret::expose`] is the
/// one way to read it, so every use is easy to audit.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

// === impl Secret ===

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A stable, non-reversible id for logs, metrics and admin output: the first 8 hex
    /// digits of the secret's SHA-256.
    pub fn id(&self) -> String {
        short_id(&self.0)
    }
}

/// The first 8 hex digits of a text's SHA-256: how a secret is named where it must not be
/// shown.
pub fn short_id(text: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(text.as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("sk-very-secret");
        assert!(!format!("{s:?} {s}").contains("very"));
        assert_eq!(s.expose(), "sk-very-secret");
        assert_eq!(s.id().len(), 8);
    }
}
