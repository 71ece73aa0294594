//! Model resolution: from the name a client asks for to an ordered list of candidates
//! (provider + the provider's model name). Routes come first, then providers whose model
//! lists match. The list is the seam the attempt loop fails over along.

use crate::config::Config;
use crate::glob;
use lmrelay_ir::ModelInfo;

/// One place a request may be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Index into `Config::providers`.
    pub provider: usize,
    /// The provider's name for the model.
    pub model: String,
}

/// The candidates for `model`, best first. Empty when nothing serves it.
///
/// Order of lookup: a route named exactly `model`, then a route whose glob matches, then
/// `provider/model` addressing one provider directly, then every provider whose `models`
/// match, in config order. An Ollama client's `name:latest` means `name` wherever nothing
/// answers to `name:latest` itself.
pub fn resolve(config: &Config, model: &str) -> Vec<Candidate> {
    let base = model.strip_suffix(":latest").filter(|b| !b.is_empty());
    if let Some(r) = find_route(config, model) {
        return route_candidates(config, r, model);
    }
    if let Some(b) = base {
        if let Some(r) = find_route(config, b) {
            return route_candidates(config, r, b);
        }
    }
    if let Some((p, m)) = model.split_once('/') {
        if let Some(provider) = config.providers.iter().position(|c| c.name == p) {
            return vec![Candidate {
                provider,
                model: m.to_owned(),
            }];
        }
    }
    let found = from_providers(config, model, false);
    if !found.is_empty() {
        return found;
    }
    match base {
        Some(b) => from_providers(config, b, true),
        None => found,
    }
}

fn find_route<'a>(config: &'a Config, model: &str) -> Option<&'a crate::config::RouteConfig> {
    config.routes.iter().find(|r| r.model == model).or_else(|| {
        config
            .routes
            .iter()
            .find(|r| glob::matches(&r.model, model))
    })
}

fn route_candidates(
    config: &Config,
    route: &crate::config::RouteConfig,
    model: &str,
) -> Vec<Candidate> {
    route
        .targets
        .iter()
        .filter_map(|t| {
            let provider = config.providers.iter().position(|p| p.name == t.provider)?;
            Some(Candidate {
                provider,
                model: if t.model == "*" {
                    model.to_owned()
                } else {
                    t.model.clone()
                },
            })
        })
        .collect()
}

/// Providers whose model list matches `model`; with `explicit_only`, `*` does not count
/// (so `x:latest` falls back to `x` only where `x` is named).
fn from_providers(config: &Config, model: &str, explicit_only: bool) -> Vec<Candidate> {
    config
        .providers
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            p.models
                .iter()
                .any(|pat| !(explicit_only && pat == "*") && glob::matches(pat, model))
        })
        .map(|(provider, _)| Candidate {
            provider,
            model: model.to_owned(),
        })
        .collect()
}

/// The public model table: route names, then provider model names (globs left out).
pub fn public_models(config: &Config, created_secs: u64) -> Vec<ModelInfo> {
    let mut out: Vec<ModelInfo> = Vec::new();
    let mut push = |id: &str, owner: &str| {
        if !glob::is_glob(id) && !out.iter().any(|m| m.id == id) {
            out.push(ModelInfo {
                id: id.to_owned(),
                owned_by: owner.to_owned(),
                created_secs,
            });
        }
    };
    for r in &config.routes {
        push(&r.model, "lmrelay");
    }
    for p in &config.providers {
        for m in &p.models {
            push(m, &p.name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_str, Format};

    fn config() -> Config {
        parse_str(
            r#"
[[providers]]
name = "oa"
type = "openai"
models = ["gpt-4o", "gpt-4o-mini"]
[[providers]]
name = "an"
type = "anthropic"
models = ["claude-*"]
[[providers]]
name = "local"
type = "ollama"
models = ["*"]
[[routes]]
model = "chat"
targets = ["an/claude-x", "oa/gpt-4o"]
[[routes]]
model = "fast*"
targets = ["local/*"]
"#,
            Format::Toml,
            "t.toml",
            &|_| None,
        )
        .expect("valid")
    }

    fn names(c: &[Candidate]) -> Vec<(usize, &str)> {
        c.iter().map(|c| (c.provider, c.model.as_str())).collect()
    }

    #[test]
    fn routes_then_providers_in_config_order() {
        let c = config();
        assert_eq!(
            names(&resolve(&c, "chat")),
            vec![(1, "claude-x"), (0, "gpt-4o")]
        );
        assert_eq!(
            names(&resolve(&c, "gpt-4o")),
            vec![(0, "gpt-4o"), (2, "gpt-4o")]
        );
        assert_eq!(
            names(&resolve(&c, "claude-3")),
            vec![(1, "claude-3"), (2, "claude-3")]
        );
        assert_eq!(names(&resolve(&c, "fast-one")), vec![(2, "fast-one")]);
        assert_eq!(
            names(&resolve(&c, "oa/gpt-4o-mini")),
            vec![(0, "gpt-4o-mini")]
        );
        assert_eq!(
            names(&resolve(&c, "chat:latest")),
            vec![(1, "claude-x"), (0, "gpt-4o")]
        );
        // A wildcard provider takes the name as asked.
        assert_eq!(
            names(&resolve(&c, "llama3.2:latest")),
            vec![(2, "llama3.2:latest")]
        );
    }

    #[test]
    fn public_table_skips_globs() {
        let ids: Vec<String> = public_models(&config(), 0)
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(ids, vec!["chat", "gpt-4o", "gpt-4o-mini"]);
    }
}
