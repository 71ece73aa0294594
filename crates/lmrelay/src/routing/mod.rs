//! Routing: from the name a client asks for to the ordered list of candidates the attempt
//! loop fails over along.
//!
//! [`resolve`] finds the configured candidates (routes first, then providers whose model
//! lists match); [`plan`] applies policy rules, data residency, the route's strategy
//! ([`strategy`]), the routing script ([`script`]) and health, in that order.

pub mod plan;
pub mod script;
pub mod strategy;

pub use plan::{plan, Plan, RequestFacts};

use crate::config::{Config, RouteConfig};
use crate::glob;
use crate::health::TargetStats;
use crate::runtime::Runtime;
use lmrelay_ir::ModelInfo;
use std::sync::Arc;

/// One place a request may be served.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Index into `Runtime::providers`.
    pub provider: usize,
    /// The provider's name for the model.
    pub model: String,
    /// The weight for `weighted` routing: the target's, else the provider's.
    pub weight: u32,
    /// The target's live stats.
    pub stats: Arc<TargetStats>,
}

/// The configured candidates for a model, and the route they came from.
pub struct Resolved {
    /// Index into `Config::routes`.
    pub route: Option<usize>,
    pub candidates: Vec<Candidate>,
}

/// A configured place: provider index, model name, target weight.
pub type Place = (usize, String, Option<u32>);

/// The candidates for `model`, in configured order. Empty when nothing serves it.
/// `direct`: whether the caller may address a provider directly (`provider/model`).
pub fn resolve(rt: &Runtime, model: &str, direct: bool) -> Resolved {
    let (route, places) = resolve_places(&rt.config, model, direct);
    Resolved {
        route,
        candidates: places.into_iter().map(|p| candidate(rt, p)).collect(),
    }
}

/// A place with its weight and live stats.
pub fn candidate(rt: &Runtime, (provider, model, weight): Place) -> Candidate {
    let p = &rt.providers[provider];
    Candidate {
        provider,
        weight: weight.unwrap_or(p.config.weight),
        stats: p.model_stats(&model),
        model,
    }
}

/// The places for `model`.
///
/// Order of lookup: a route named exactly `model`, then a route whose glob matches, then
/// `provider/model` addressing one provider directly (when the caller's key and the provider
/// allow it, `direct`, and the provider's `models` serve that name: a client cannot reach a
/// model the operator did not list),
/// then every provider whose `models` match, in config order. An Ollama client's `name:latest` means `name` wherever nothing
/// answers to `name:latest` itself.
pub fn resolve_places(config: &Config, model: &str, direct: bool) -> (Option<usize>, Vec<Place>) {
    let base = model.strip_suffix(":latest").filter(|b| !b.is_empty());
    if let Some(r) = find_route(config, model) {
        return (Some(r), route_places(config, &config.routes[r], model));
    }
    if let Some(b) = base {
        if let Some(r) = find_route(config, b) {
            return (Some(r), route_places(config, &config.routes[r], b));
        }
    }
    if let Some((p, m)) = model.split_once('/').filter(|_| direct) {
        let direct = config
            .providers
            .iter()
            .position(|c| c.name == p && c.direct && c.models.iter().any(|g| glob::matches(g, m)));
        if let Some(provider) = direct {
            return (None, vec![(provider, m.to_owned(), None)]);
        }
    }
    let found = from_providers(config, model, false);
    if !found.is_empty() {
        return (None, found);
    }
    match base {
        Some(b) => (None, from_providers(config, b, true)),
        None => (None, found),
    }
}

fn find_route(config: &Config, model: &str) -> Option<usize> {
    config
        .routes
        .iter()
        .position(|r| r.model == model)
        .or_else(|| {
            config
                .routes
                .iter()
                .position(|r| glob::matches(&r.model, model))
        })
}

fn route_places(config: &Config, route: &RouteConfig, model: &str) -> Vec<Place> {
    targets_places(config, &route.targets, model)
}

/// Places of a target list (a route's or a rule's); `*` takes the name asked for.
pub fn targets_places(
    config: &Config,
    targets: &[crate::config::RouteTarget],
    model: &str,
) -> Vec<Place> {
    targets
        .iter()
        .filter_map(|t| {
            let provider = config.providers.iter().position(|p| p.name == t.provider)?;
            let name = if t.model == "*" {
                model.to_owned()
            } else {
                t.model.clone()
            };
            Some((provider, name, t.weight))
        })
        .collect()
}

/// Providers whose model list matches `model`; with `explicit_only`, `*` does not count
/// (so `x:latest` falls back to `x` only where `x` is named).
fn from_providers(config: &Config, model: &str, explicit_only: bool) -> Vec<Place> {
    config
        .providers
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            p.models
                .iter()
                .any(|pat| !(explicit_only && pat == "*") && glob::matches(pat, model))
        })
        .map(|(provider, _)| (provider, model.to_owned(), None))
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

    fn names(c: &(Option<usize>, Vec<Place>)) -> Vec<(usize, &str)> {
        c.1.iter().map(|c| (c.0, c.1.as_str())).collect()
    }

    fn resolve(c: &Config, model: &str) -> (Option<usize>, Vec<Place>) {
        resolve_places(c, model, true)
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
        // Direct addressing reaches only what the provider's `models` list serves (here the
        // name falls through to the wildcard provider, as any other name would).
        assert_eq!(names(&resolve(&c, "oa/o1-pro")), vec![(2, "oa/o1-pro")]);
        assert_eq!(names(&resolve(&c, "local/qwen3")), vec![(2, "qwen3")]);
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
    fn direct_addressing_can_be_turned_off_per_provider() {
        let c = parse_str(
            "[[providers]]\nname = \"oa\"\ntype = \"openai\"\nmodels = [\"*\"]\ndirect = false\n",
            Format::Toml,
            "t.toml",
            &|_| None,
        )
        .expect("valid");
        // `oa/gpt-4o` is then just a name, which the wildcard provider serves as such.
        assert_eq!(names(&resolve(&c, "oa/gpt-4o")), vec![(0, "oa/gpt-4o")]);
    }

    #[test]
    fn direct_addressing_can_be_turned_off_per_key() {
        let c = parse_str(
            "[[providers]]\nname = \"oa\"\ntype = \"openai\"\nmodels = [\"gpt-4o\"]\n",
            Format::Toml,
            "t.toml",
            &|_| None,
        )
        .expect("valid");
        assert_eq!(names(&resolve(&c, "oa/gpt-4o")), vec![(0, "gpt-4o")]);
        // A key without `direct` asks for the name as written, which nothing serves.
        assert!(resolve_places(&c, "oa/gpt-4o", false).1.is_empty());
        assert_eq!(resolve_places(&c, "gpt-4o", false).1.len(), 1);
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
