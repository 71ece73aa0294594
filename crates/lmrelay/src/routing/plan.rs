//! The plan for one request: which candidates, in which order, how many attempts.
//!
//! Steps, in order: the model's configured candidates ([`super::resolve`]); the first
//! matching policy rule (`[[rules]]`), which may replace the targets, strategy, regions and
//! `max_attempts`; the strategy's order; data residency (`x-lmrelay-region`, the key's
//! `regions`, the rule's `regions` — each narrows, none widens, and failover never leaves
//! them); the routing script, if any; and last health: ready targets first, then unhealthy
//! ones, then those whose breaker is open — the order within each group kept, and nothing
//! dropped, so a wrong health verdict costs time but never causes an outage.

use super::script::{ScriptCandidate, ScriptInput};
use super::{candidate, resolve, strategy, targets_places, Candidate};
use crate::config::{KeyConfig, RuleConfig, Strategy};
use crate::error::GatewayError;
use crate::glob;
use crate::health::Standing;
use crate::runtime::Runtime;
use http::HeaderMap;

/// The header that restricts a request to providers of some regions (comma-separated).
pub const REGION_HEADER: &str = "x-lmrelay-region";

/// What routing may look at in a request.
pub struct RequestFacts<'a> {
    pub model: &'a str,
    pub key: Option<&'a KeyConfig>,
    /// `openai`, `anthropic`, `ollama` or `responses`.
    pub protocol: &'a str,
    pub headers: &'a HeaderMap,
    pub estimated_tokens: u64,
    pub max_output_tokens: Option<u64>,
    pub stream: bool,
}

/// The candidates to try, in order, each with its standing when the plan was made.
pub struct Plan {
    pub candidates: Vec<(Candidate, Standing)>,
    /// The most upstream requests to make; `None`: no limit beyond the candidates' keys.
    pub max_attempts: Option<u32>,
    /// Whether the route caches answers (`cache = true`), and shares them across keys.
    pub cache: bool,
    pub cache_shared: bool,
}

/// Plans a request; errors are the client's (unknown model, region not allowed).
pub fn plan(rt: &Runtime, facts: &RequestFacts<'_>) -> Result<Plan, GatewayError> {
    let config = &rt.config;
    let resolved = resolve(rt, facts.model, facts.key.is_none_or(|k| k.direct));
    let rule = config.rules.iter().position(|r| rule_matches(r, facts));
    let rule_cfg = rule.map(|i| &config.rules[i]);
    let route_cfg = resolved.route.map(|i| &config.routes[i]);
    let (mut cands, schedule) =
        match rule.and_then(|i| Some((i, config.rules[i].targets.as_ref()?))) {
            Some((i, targets)) => {
                let places = targets_places(config, targets, facts.model);
                let cands = places.into_iter().map(|p| candidate(rt, p)).collect();
                (cands, rt.rule_schedules[i].as_ref())
            }
            None => (
                resolved.candidates,
                resolved.route.map(|i| &rt.route_schedules[i]),
            ),
        };
    if cands.is_empty() {
        return Err(GatewayError::UnknownModel(facts.model.to_owned()));
    }
    if let Some(r) = rule_cfg {
        tracing::debug!(rule = %r.name, model = facts.model, "routing rule matched");
    }
    let strategy = rule_cfg
        .and_then(|r| r.strategy)
        .or(route_cfg.map(|r| r.strategy))
        .unwrap_or(Strategy::Failover);
    match strategy {
        Strategy::Failover => {}
        Strategy::Weighted => {
            let first = match schedule {
                Some(s) => s.next(),
                None => strategy::weighted_draw(&cands, fastrand::f64()),
            };
            strategy::weighted(&mut cands, first);
        }
        Strategy::Latency => strategy::latency(
            &mut cands,
            facts.stream,
            config.health.exploration,
            fastrand::f64(),
            fastrand::usize(..),
        ),
        Strategy::Cheapest => strategy::cheapest(
            &mut cands,
            rt,
            facts.estimated_tokens,
            facts.max_output_tokens,
        ),
    }
    restrict_regions(rt, facts, rule_cfg, &mut cands)?;
    if let Some(script) = &config.script {
        run_script(rt, facts, script, &mut cands);
    }
    let now = crate::now_ms();
    let mut planned: Vec<(Candidate, Standing)> = cands
        .into_iter()
        .map(|c| {
            let standing = rt.providers[c.provider]
                .health
                .standing(&config.health, &c.stats, now);
            (c, standing)
        })
        .collect();
    planned.sort_by_key(|(_, s)| *s);
    Ok(Plan {
        candidates: planned,
        max_attempts: rule_cfg
            .and_then(|r| r.max_attempts)
            .or(route_cfg.and_then(|r| r.max_attempts)),
        cache: route_cfg.is_some_and(|r| r.cache),
        cache_shared: route_cfg.is_some_and(|r| r.cache_shared),
    })
}

/// Whether every condition a rule sets holds for the request.
fn rule_matches(rule: &RuleConfig, facts: &RequestFacts<'_>) -> bool {
    let key_ok = match (&rule.key, facts.key) {
        (None, _) => true,
        (Some(pat), Some(k)) => glob::matches(pat, &k.name),
        (Some(_), None) => false,
    };
    key_ok
        && rule
            .model
            .as_deref()
            .is_none_or(|pat| glob::matches(pat, facts.model))
        && rule.protocol.as_deref().is_none_or(|p| p == facts.protocol)
        && rule.headers.iter().all(|(name, value)| {
            facts
                .headers
                .get_all(name.as_str())
                .iter()
                .any(|v| v.to_str().is_ok_and(|v| v.trim() == value))
        })
}

/// Keeps only candidates whose provider's region every restriction allows; 403 naming the
/// region when none is left.
fn restrict_regions(
    rt: &Runtime,
    facts: &RequestFacts<'_>,
    rule: Option<&RuleConfig>,
    cands: &mut Vec<Candidate>,
) -> Result<(), GatewayError> {
    let header: Vec<String> = facts
        .headers
        .get_all(REGION_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|r| r.trim().to_ascii_lowercase())
        .filter(|r| !r.is_empty())
        .collect();
    let lower = |v: &[String]| v.iter().map(|r| r.to_ascii_lowercase()).collect::<Vec<_>>();
    let sets: Vec<(&str, Vec<String>)> = [
        Some(("the x-lmrelay-region header", header)),
        facts
            .key
            .filter(|k| !k.regions.is_empty())
            .map(|k| ("the gateway key", lower(&k.regions))),
        rule.and_then(|r| r.regions.as_ref())
            .map(|r| ("a routing rule", lower(r))),
    ]
    .into_iter()
    .flatten()
    .filter(|(_, s)| !s.is_empty())
    .collect();
    if sets.is_empty() {
        return Ok(());
    }
    cands.retain(|c| {
        let region = rt.providers[c.provider]
            .config
            .region
            .as_deref()
            .map(str::to_ascii_lowercase);
        region.is_some_and(|r| sets.iter().all(|(_, set)| set.contains(&r)))
    });
    if cands.is_empty() {
        let described = sets
            .iter()
            .map(|(who, set)| format!("{} (from {who})", set.join(", ")))
            .collect::<Vec<_>>()
            .join(" and ");
        return Err(GatewayError::RegionNotAllowed {
            model: facts.model.to_owned(),
            regions: described,
        });
    }
    Ok(())
}

/// Lets the routing script order (and narrow) the candidates; on any failure the order
/// stays as it is and the failure is logged.
fn run_script(
    rt: &Runtime,
    facts: &RequestFacts<'_>,
    script: &crate::config::ScriptConfig,
    cands: &mut Vec<Candidate>,
) {
    let now = crate::now_ms();
    let views: Vec<ScriptCandidate<'_>> = cands
        .iter()
        .map(|c| {
            let p = &rt.providers[c.provider];
            let price = strategy::price_of(&p.config.prices, &c.model);
            ScriptCandidate {
                provider: &p.config.name,
                model: &c.model,
                region: p.config.region.as_deref(),
                healthy: p.health.standing(&rt.config.health, &c.stats, now) == Standing::Ready,
                breaker: p.health.breaker.state(now).as_str(),
                latency_ms: c.stats.latency_ms(facts.stream),
                input_price: price.map(|p| p.input),
                output_price: price.map(|p| p.output),
                weight: c.weight,
            }
        })
        .collect();
    let input = ScriptInput {
        model: facts.model,
        key: facts.key.map(|k| k.name.as_str()),
        protocol: facts.protocol,
        headers: facts.headers,
        estimated_tokens: facts.estimated_tokens,
        max_output_tokens: facts.max_output_tokens,
        candidates: &views,
    };
    match script.0.order(&input) {
        Ok(order) => {
            let reordered: Vec<Candidate> = order
                .iter()
                .filter_map(|&i| cands.get(i).cloned())
                .collect();
            if !reordered.is_empty() {
                *cands = reordered;
            }
        }
        Err(e) => {
            tracing::warn!(script = script.0.path(), error = %e, "routing script failed; using the configured order");
        }
    }
}
