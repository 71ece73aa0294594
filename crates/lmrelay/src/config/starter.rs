//! `lmrelay init`: a commented starter config built from the providers the environment
//! names — the same ones the built-in default would use, in the same order — with each key
//! written as a `${VAR}` reference, never as its value.

use std::fmt::Write;

/// A provider the environment has a key for, as the starter config writes it.
struct Found {
    name: &'static str,
    key_var: &'static str,
    /// The base URL when the type's default will not do (with `${VAR}` for its parts).
    base_url: Option<String>,
    models: Vec<String>,
    /// How many keys the variable holds (comma-separated).
    keys: usize,
}

/// The starter config for `env`.
pub fn starter_config(env: &dyn Fn(&str) -> Option<String>) -> String {
    let mut found = Vec::new();
    let mut missing: Vec<(&str, &str)> = Vec::new();
    for known in super::env_default::known_providers() {
        // Parts of the URL are written as `${VAR}` references too.
        let url = known.base_url(env, |var, _| format!("${{{var}}}"));
        match (env(known.key_var), url) {
            (Some(v), Some(url)) => found.push(Found {
                name: known.name,
                key_var: known.key_var,
                base_url: known.custom_url().then_some(url),
                models: super::env_default::default_models(known.name),
                keys: v.split(',').filter(|k| !k.trim().is_empty()).count(),
            }),
            (None, _) => missing.push((known.name, known.key_var)),
            // The key is set but not the rest of the URL: like the default, left out.
            (Some(_), None) => {}
        }
    }

    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "# lmrelay.toml — written by `lmrelay init`. Check it with `lmrelay check`, run it with
# `lmrelay serve`. Every setting: docs/config.md. Keys are read from the environment
# (`${{VAR}}`), so this file holds no secret.

listen = \"127.0.0.1:8080\"

# Gateway keys: each app gets its own, with the models it may use and its limits. Without
# any, only this machine (loopback) may call the gateway.
# [[keys]]
# name = \"my-app\"
# key = \"sha256:...\"        # from `lmrelay hash-key` (reads the key on standard input)
# models = [\"*\"]
# rpm = 600
# budget_usd = 100

# The admin API and the dashboard at /ui.
# [admin]
# token = \"${{LMRELAY_ADMIN_TOKEN}}\"
"
    );
    if found.is_empty() {
        let _ = writeln!(
            w,
            "# No provider key was found in the environment (OPENAI_API_KEY, ANTHROPIC_API_KEY,
# GEMINI_API_KEY, GROQ_API_KEY, …): export one and run `lmrelay init` again, or fill in a
# block below.
"
        );
    }
    for f in &found {
        let _ = writeln!(
            w,
            "[[providers]]\nname = \"{}\"\ntype = \"{}\"",
            f.name, f.name
        );
        if let Some(url) = &f.base_url {
            let _ = writeln!(w, "base_url = \"{url}\"");
        }
        if f.keys > 1 {
            let _ = writeln!(
                w,
                "# {} holds {} comma-separated keys: give each its own variable and list them\n# here, so they rotate.",
                f.key_var, f.keys
            );
        }
        let _ = writeln!(w, "keys = [\"${{{}}}\"]", f.key_var);
        let models: Vec<String> = f.models.iter().map(|m| format!("\"{m}\"")).collect();
        let _ = writeln!(w, "models = [{}]\n", models.join(", "));
    }
    let ollama = super::env_default::ollama_url(env);
    let _ = writeln!(
        w,
        "# Local models; takes any model name the providers above do not claim.
[[providers]]
name = \"ollama\"
type = \"ollama\"
base_url = \"{ollama}\"
models = [\"*\"]
"
    );
    if !missing.is_empty() {
        let _ = writeln!(
            w,
            "# Other providers lmrelay knows (set the variable, then uncomment):"
        );
        for (name, var) in missing.iter().take(6) {
            let _ = writeln!(
                w,
                "# [[providers]]\n# name = \"{name}\"\n# type = \"{name}\"\n# keys = [\"${{{var}}}\"]\n# models = [\"*\"]\n#"
            );
        }
        let _ = writeln!(w);
    }
    let first = found.first().map_or("ollama", |f| f.name);
    let _ = writeln!(
        w,
        "# A model name of your own, served by the first target that answers (failover).
# [[routes]]
# model = \"default\"
# targets = [\"{first}/MODEL\", \"ollama/llama3.2\"]

# Several replicas share limits, usage and the cache through Redis.
# [store]
# backend = \"redis\"
# url = \"redis://127.0.0.1:6379\""
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_str, Format};

    #[test]
    fn the_starter_config_is_valid_and_holds_no_secret() {
        let env = |k: &str| match k {
            "OPENAI_API_KEY" => Some("sk-live-secret".to_owned()),
            "GROQ_API_KEY" => Some("gsk-1,gsk-2".to_owned()),
            "CLOUDFLARE_API_TOKEN" => Some("cf-secret".to_owned()),
            "CLOUDFLARE_ACCOUNT_ID" => Some("acct".to_owned()),
            _ => None,
        };
        let text = starter_config(&env);
        assert!(!text.contains("sk-live-secret") && !text.contains("gsk-1"));
        assert!(text.contains("keys = [\"${OPENAI_API_KEY}\"]"));
        assert!(text.contains("GROQ_API_KEY holds 2 comma-separated keys"));
        assert!(text.contains("${CLOUDFLARE_ACCOUNT_ID}/ai/v1"));
        let c = parse_str(&text, Format::Toml, "lmrelay.toml", &env).expect("valid");
        let names: Vec<&str> = c.providers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["openai", "groq", "cloudflare", "ollama"]);
        assert_eq!(c.providers[0].keys[0].expose(), "sk-live-secret");
        assert!(c.providers[2].base_url.contains("/accounts/acct/"));
        // With nothing in the environment: Ollama alone, still valid.
        let bare = starter_config(&|_| None);
        let c = parse_str(&bare, Format::Toml, "lmrelay.toml", &|_| None).expect("valid");
        assert_eq!(c.providers.len(), 1);
        assert!(bare.contains("No provider key was found"));
    }
}
