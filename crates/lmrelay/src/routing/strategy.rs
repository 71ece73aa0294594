//! Route strategies: how a route orders its candidates before health has its say.
//!
//! - `failover`: config order.
//! - `weighted`: smooth weighted round-robin over the targets' weights (a target's own
//!   `weight`, else its provider's); the pick goes first, the rest follow by weight, heaviest
//!   first, ties in config order. The schedule is prebuilt per route, and picking is one
//!   atomic increment.
//! - `latency`: lowest recent latency first (time to first token for streams, whole request
//!   otherwise); a target with no sample yet goes first so it gets measured; ties in config
//!   order. A small share of requests (`health.exploration`) puts another target first, so a
//!   provider that became faster is noticed.
//! - `cheapest`: lowest estimated cost first — the request's estimated input tokens and its
//!   `max_tokens` (else the provider's default) at the provider's prices for the model;
//!   targets without a price go after priced ones; ties in config order.

use super::Candidate;
use crate::config::Price;
use crate::glob;
use crate::runtime::Runtime;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The longest prebuilt weighted schedule; larger weight sums are scaled down to it.
const MAX_PERIOD: u64 = 1000;

/// A prebuilt smooth weighted round-robin sequence and the position in it.
#[derive(Debug)]
pub struct Schedule {
    picks: Box<[u16]>,
    next: AtomicUsize,
}

// === impl Schedule ===

impl Schedule {
    /// The smooth weighted round-robin sequence for `weights` (nginx's algorithm: each step
    /// adds every weight to its counter, picks the largest counter and subtracts the total
    /// from it), over one period.
    pub fn new(weights: &[u32]) -> Schedule {
        let weights = scaled(weights);
        let total: i64 = weights.iter().map(|&w| w as i64).sum();
        let mut current = vec![0i64; weights.len()];
        let mut picks = Vec::with_capacity(total as usize);
        for _ in 0..total {
            let mut best = 0;
            for (i, w) in weights.iter().enumerate() {
                current[i] += *w as i64;
                if current[i] > current[best] {
                    best = i;
                }
            }
            current[best] -= total;
            picks.push(best as u16);
        }
        Schedule {
            picks: picks.into_boxed_slice(),
            next: AtomicUsize::new(0),
        }
    }

    /// The index of the next target to put first; `None` for an empty schedule.
    pub fn next(&self) -> Option<usize> {
        if self.picks.is_empty() {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        Some(self.picks[n % self.picks.len()] as usize)
    }
}

/// Weights reduced by their common divisor and scaled to at most [`MAX_PERIOD`] in sum;
/// every target with a positive weight keeps at least 1.
fn scaled(weights: &[u32]) -> Vec<u32> {
    let g = weights.iter().copied().filter(|&w| w > 0).fold(0, gcd);
    let reduced: Vec<u64> = weights
        .iter()
        .map(|&w| w.checked_div(g).unwrap_or(0) as u64)
        .collect();
    let total: u64 = reduced.iter().sum();
    reduced
        .iter()
        .map(|&w| {
            if total <= MAX_PERIOD || w == 0 {
                w as u32
            } else {
                ((w * MAX_PERIOD / total).max(1)) as u32
            }
        })
        .collect()
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Puts `first` first and orders the rest by weight, heaviest first (stable).
pub fn weighted(cands: &mut [Candidate], first: Option<usize>) {
    if let Some(f) = first.filter(|&f| f < cands.len()) {
        cands[..=f].rotate_right(1);
        cands[1..].sort_by_key(|c| std::cmp::Reverse(c.weight));
    } else {
        cands.sort_by_key(|c| std::cmp::Reverse(c.weight));
    }
}

/// A weighted pick without a prebuilt schedule (targets that no route or rule lists): a
/// random draw in proportion to the weights.
pub fn weighted_draw(cands: &[Candidate], unit: f64) -> Option<usize> {
    let total: u64 = cands.iter().map(|c| c.weight as u64).sum();
    if total == 0 {
        return None;
    }
    let mut point = (unit * total as f64) as u64;
    for (i, c) in cands.iter().enumerate() {
        if point < c.weight as u64 {
            return Some(i);
        }
        point -= c.weight as u64;
    }
    Some(cands.len() - 1)
}

/// Lowest latency first (unknown first); with probability `exploration` (compared with
/// `unit`), another target is put first, chosen by `pick`.
pub fn latency(cands: &mut [Candidate], stream: bool, exploration: f64, unit: f64, pick: usize) {
    cands.sort_by(|a, b| {
        let (la, lb) = (a.stats.latency_ms(stream), b.stats.latency_ms(stream));
        match (la, lb) {
            (None, None) => std::cmp::Ordering::Equal,
            (None, Some(_)) => std::cmp::Ordering::Less,
            (Some(_), None) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => x.total_cmp(&y),
        }
    });
    if cands.len() > 1 && unit < exploration {
        let other = 1 + pick % (cands.len() - 1);
        cands[..=other].rotate_right(1);
    }
}

/// Cheapest first for a request of `input_tokens` and at most `max_output` tokens (`None`:
/// the provider's default `max_tokens`).
pub fn cheapest(cands: &mut [Candidate], rt: &Runtime, input_tokens: u64, max_output: Option<u64>) {
    let cost = |c: &Candidate| {
        let p = &rt.providers[c.provider].config;
        let out = max_output.unwrap_or(p.max_tokens as u64);
        price_of(&p.prices, &c.model)
            .map(|pr| (input_tokens as f64 * pr.input + out as f64 * pr.output) / 1e6)
            .unwrap_or(f64::INFINITY)
    };
    let mut keyed: Vec<(f64, Candidate)> = cands.iter().map(|c| (cost(c), c.clone())).collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (slot, (_, c)) in cands.iter_mut().zip(keyed) {
        *slot = c;
    }
}

/// A model's price: the exact name, else the first glob that matches it.
pub fn price_of<'a>(prices: &'a HashMap<String, Price>, model: &str) -> Option<&'a Price> {
    prices.get(model).or_else(|| {
        let mut globs: Vec<(&String, &Price)> =
            prices.iter().filter(|(k, _)| glob::is_glob(k)).collect();
        globs.sort_by(|a, b| a.0.cmp(b.0));
        globs
            .into_iter()
            .find(|(k, _)| glob::matches(k, model))
            .map(|(_, p)| p)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::TargetStats;
    use std::sync::Arc;

    fn cand(i: usize, weight: u32) -> Candidate {
        Candidate {
            provider: i,
            model: format!("m{i}"),
            weight,
            stats: Arc::new(TargetStats::default()),
        }
    }

    fn order(c: &[Candidate]) -> Vec<usize> {
        c.iter().map(|c| c.provider).collect()
    }

    #[test]
    fn smooth_schedule_interleaves_in_proportion() {
        let s = Schedule::new(&[5, 1, 1]);
        let picks: Vec<usize> = (0..7).map(|_| s.next().expect("pick")).collect();
        assert_eq!(picks, vec![0, 0, 1, 0, 2, 0, 0]);
        let s = Schedule::new(&[3, 1]);
        let mut counts = [0; 2];
        for _ in 0..1000 {
            counts[s.next().expect("pick")] += 1;
        }
        assert_eq!(counts, [750, 250]);
        assert_eq!(Schedule::new(&[]).next(), None);
    }

    #[test]
    fn huge_weights_are_scaled_and_keep_every_target() {
        let s = Schedule::new(&[1_000_000, 1]);
        assert!(s.picks.len() <= MAX_PERIOD as usize + 1);
        assert!(s.picks.contains(&1));
        assert_eq!(scaled(&[30, 20, 0]), vec![3, 2, 0]);
    }

    #[test]
    fn weighted_puts_the_pick_first_then_by_weight() {
        let mut c = vec![cand(0, 1), cand(1, 5), cand(2, 3)];
        weighted(&mut c, Some(2));
        assert_eq!(order(&c), vec![2, 1, 0]);
        let mut c = vec![cand(0, 1), cand(1, 5), cand(2, 3)];
        weighted(&mut c, Some(0));
        assert_eq!(order(&c), vec![0, 1, 2]);
    }

    #[test]
    fn weighted_draw_follows_the_weights() {
        let c = vec![cand(0, 1), cand(1, 3)];
        assert_eq!(weighted_draw(&c, 0.0), Some(0));
        assert_eq!(weighted_draw(&c, 0.24), Some(0));
        assert_eq!(weighted_draw(&c, 0.26), Some(1));
        assert_eq!(weighted_draw(&c, 0.999), Some(1));
    }

    #[test]
    fn latency_orders_fastest_first_unknown_first_and_explores() {
        let c: Vec<Candidate> = (0..3).map(|i| cand(i, 1)).collect();
        c[0].stats.latency.record(300.0);
        c[1].stats.latency.record(100.0);
        let mut v = c.clone();
        latency(&mut v, false, 0.05, 0.5, 0);
        assert_eq!(order(&v), vec![2, 1, 0], "unmeasured first, then fastest");
        c[2].stats.latency.record(200.0);
        let mut v = c.clone();
        latency(&mut v, false, 0.05, 0.5, 0);
        assert_eq!(order(&v), vec![1, 2, 0]);
        // Exploring: another target goes first.
        let mut v = c.clone();
        latency(&mut v, false, 0.05, 0.01, 1);
        assert_eq!(order(&v), vec![0, 1, 2]);
        // Streams go by time to first token when it is known.
        c[0].stats.ttft.record(5.0);
        let mut v = c.clone();
        latency(&mut v, true, 0.0, 0.5, 0);
        assert_eq!(v[0].provider, 0);
    }

    #[test]
    fn glob_prices_apply_when_no_exact_price_exists() {
        let mut prices = HashMap::new();
        prices.insert(
            "gpt-4o*".to_owned(),
            Price {
                input: 1.0,
                output: 2.0,
            },
        );
        prices.insert(
            "gpt-4o-mini".to_owned(),
            Price {
                input: 0.1,
                output: 0.2,
            },
        );
        assert_eq!(price_of(&prices, "gpt-4o-mini").map(|p| p.input), Some(0.1));
        assert_eq!(price_of(&prices, "gpt-4o-2024").map(|p| p.input), Some(1.0));
        assert!(price_of(&prices, "claude").is_none());
    }
}
