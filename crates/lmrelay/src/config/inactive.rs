//! Settings a config accepts that would have no effect as written: `lmrelay check` prints
//! them and `serve` logs them, so a setting that does nothing never passes for protection.

use super::{AuthMode, Config, StoreBackend, Strategy};
use crate::glob;
use lmrelay_providers::adapter_for;

/// One line per setting that has no effect, naming the field and why.
pub fn inactive_settings(c: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for (i, r) in c.routes.iter().enumerate() {
        if r.cache && !c.cache.enabled {
            out.push(format!(
                "routes[{i}].cache (`{}`): the cache is off ([cache] enabled = false)",
                r.model
            ));
        }
        if r.cache_shared && !r.cache {
            out.push(format!(
                "routes[{i}].cache_shared (`{}`): the route does not cache (cache = false)",
                r.model
            ));
        }
        if r.strategy != Strategy::Weighted && r.targets.iter().any(|t| t.weight.is_some()) {
            out.push(format!(
                "routes[{i}].targets weight (`{}`): only the weighted strategy reads weights (strategy = \"{}\")",
                r.model,
                r.strategy.as_str()
            ));
        }
    }
    let latency_routed = c.routes.iter().any(|r| r.strategy == Strategy::Latency)
        || c.rules
            .iter()
            .any(|r| r.strategy == Some(Strategy::Latency));
    if c.health.exploration != super::HealthConfig::default().exploration && !latency_routed {
        out.push(
            "health.exploration: no route or rule uses the latency strategy, which alone reads it"
                .to_owned(),
        );
    }
    if c.anonymous_loopback && c.anonymous_rpm.is_none() {
        out.push("limits.anonymous_loopback: there is no anonymous_rpm to apply".to_owned());
    }
    if c.limits_on_failure == super::FailMode::Closed && c.store == StoreBackend::Memory {
        out.push(
            "store.limits_on_failure: the in-memory store cannot fail; it matters with backend = \"redis\""
                .to_owned(),
        );
    }
    if c.encryption_key.is_some() && c.admin_token.is_none() {
        out.push(
            "store.encryption_key: secrets are added through the admin API, which is off without [admin] token"
                .to_owned(),
        );
    }
    let fetches_images = c
        .providers
        .iter()
        .any(|p| adapter_for(p.kind).needs_inline_images());
    if c.fetch_private_images && !fetches_images {
        out.push(
            "fetch_private_images: no provider type here needs images downloaded (ollama, gemini and bedrock do)"
                .to_owned(),
        );
    }
    if c.anonymous_rpm.is_some() && !c.keys.is_empty() && c.auth == AuthMode::Default {
        out.push(
            "limits.anonymous_rpm: every request needs a gateway key, so no caller is anonymous"
                .to_owned(),
        );
    }
    for (i, p) in c.providers.iter().enumerate() {
        let fast_path = adapter_for(p.kind).passes_answers_through()
            && lmrelay_providers::preset_named(&p.type_name).is_none();
        if !p.passthrough && !fast_path {
            out.push(format!(
                "providers[{i}].passthrough (`{}`): this provider type always goes through the canonical codecs (only openai without a vendor preset, and anthropic, pass requests through)",
                p.name
            ));
        }
        let tls = &p.tls;
        if (tls.ca_file.is_some() || tls.client_cert.is_some()) && !p.base_url.starts_with("https:")
        {
            out.push(format!(
                "providers[{i}].ca_file/client_cert (`{}`): the base_url is not https, so no TLS is used",
                p.name
            ));
        }
        let mut priced: Vec<&String> = p
            .prices
            .keys()
            .filter(|m| !p.models.iter().any(|g| glob::matches(g, m)))
            .collect();
        priced.sort();
        for m in priced {
            out.push(format!(
                "providers[{i}].prices.{m} (`{}`): the provider does not serve `{m}` (models)",
                p.name
            ));
        }
    }
    let any_region = c.providers.iter().any(|p| p.region.is_some());
    for (i, k) in c.keys.iter().enumerate() {
        if !k.regions.is_empty() && !any_region {
            out.push(format!(
                "keys[{i}].regions (`{}`): no provider has a `region`, so this key can use none",
                k.name
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_str, Format};

    #[test]
    fn settings_without_effect_are_named() {
        let text = r#"
fetch_private_images = true
[cache]
enabled = false
[limits]
anonymous_rpm = 10
[store]
limits_on_failure = "closed"
[health]
exploration = 0.5
[[providers]]
name = "oa"
type = "openai"
keys = ["k"]
models = ["gpt-4o-mini"]
base_url = "http://127.0.0.1:9"
ca_file = "ca.pem"
prices = { "gpt-4o" = { input = 1.0, output = 2.0 }, "gpt-4o-mini" = { input = 0.1, output = 0.2 } }
[[providers]]
name = "gq"
type = "groq"
keys = ["k"]
models = ["llama-3.3-70b"]
passthrough = false
[[routes]]
model = "cached"
targets = ["oa/gpt-4o-mini"]
cache = true
[[routes]]
model = "shared"
targets = ["oa/gpt-4o-mini"]
cache_shared = true
[[routes]]
model = "weights"
targets = [{ target = "oa/gpt-4o-mini", weight = 3 }]
[[keys]]
name = "eu"
key = "k1"
models = ["*"]
regions = ["eu"]
"#;
        let c = parse_str(text, Format::Toml, "t.toml", &|_| None).expect("valid");
        let found = inactive_settings(&c);
        for field in [
            "routes[0].cache",
            "routes[1].cache_shared",
            "limits.anonymous_rpm",
            "providers[0].prices.gpt-4o ",
            "keys[0].regions",
            "routes[2].targets weight",
            "health.exploration",
            "store.limits_on_failure",
            "fetch_private_images",
            "providers[0].ca_file/client_cert",
            "providers[1].passthrough",
        ] {
            assert!(
                found.iter().any(|l| l.starts_with(field)),
                "{field} in {found:#?}"
            );
        }
        assert_eq!(found.len(), 11, "{found:#?}");
        let clean = parse_str(
            "[[providers]]\nname = \"oa\"\ntype = \"openai\"\nkeys = [\"k\"]\nmodels = [\"*\"]\n",
            Format::Toml,
            "t.toml",
            &|_| None,
        )
        .expect("valid");
        assert!(inactive_settings(&clean).is_empty());
    }
}
