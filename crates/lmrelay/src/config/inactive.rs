//! Settings a config accepts that would have no effect as written: `lmrelay check` prints
//! them and `serve` logs them, so a setting that does nothing never passes for protection.

use super::{AuthMode, Config};
use crate::glob;

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
    }
    if c.anonymous_rpm.is_some() && !c.keys.is_empty() && c.auth == AuthMode::Default {
        out.push(
            "limits.anonymous_rpm: every request needs a gateway key, so no caller is anonymous"
                .to_owned(),
        );
    }
    for (i, p) in c.providers.iter().enumerate() {
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
[cache]
enabled = false
[limits]
anonymous_rpm = 10
[[providers]]
name = "oa"
type = "openai"
keys = ["k"]
models = ["gpt-4o-mini"]
prices = { "gpt-4o" = { input = 1.0, output = 2.0 }, "gpt-4o-mini" = { input = 0.1, output = 0.2 } }
[[routes]]
model = "cached"
targets = ["oa/gpt-4o-mini"]
cache = true
[[routes]]
model = "shared"
targets = ["oa/gpt-4o-mini"]
cache_shared = true
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
        ] {
            assert!(
                found.iter().any(|l| l.starts_with(field)),
                "{field} in {found:#?}"
            );
        }
        assert_eq!(found.len(), 5, "{found:#?}");
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
