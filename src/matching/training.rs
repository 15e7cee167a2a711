//! Learning m and u from the data, without labels.
//!
//! u (how often non-matches reach each level) comes from random record pairs, which are almost
//! all non-matches. m (how often matches reach each level) comes from expectation-maximisation
//! over blocked pairs with u held fixed, as Splink does: each pair's match probability under the
//! current m weighs its levels into the next m. EM runs once per blocking rule and leaves out
//! the comparisons that rule blocks on (its pairs agree on them by construction); each
//! comparison's m is the mean over the rules that could estimate it. Probabilities are smoothed so that no level
//! becomes impossible, and the prior stays the configured one (blocked pairs are not a random
//! sample).

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::Model;
use crate::blocking::keys;
use crate::config::Config;
use crate::ingest::profile::Profile;

/// Pseudo-count added to every level when estimating probabilities.
const SMOOTHING: f64 = 0.5;
/// Keys shared by more records than this are skipped when enumerating blocked pairs.
const MAX_BUCKET: usize = 1_000;

/// What training did, for the CLI and the log.
#[derive(Debug, Clone, Serialize)]
pub struct TrainingSummary {
    /// Random pairs used for u.
    pub random_pairs: usize,
    /// One entry per blocking rule that offered pairs.
    pub rules: Vec<RuleSummary>,
}

/// EM over the pairs of one blocking rule.
#[derive(Debug, Clone, Serialize)]
pub struct RuleSummary {
    /// The rule.
    pub rule: String,
    /// Pairs it offered.
    pub pairs: usize,
    /// EM iterations run.
    pub iterations: usize,
    /// Share of its pairs EM considers matches.
    pub match_share: f64,
    /// Comparisons whose m it estimated (those the rule does not block on).
    pub estimated: Vec<String>,
}

/// Small deterministic generator (xorshift64*), so training is repeatable.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n as u64) as usize
    }
}

/// Fits the model's m and u to `profiles`.
pub fn train(
    model: &mut Model,
    config: &Config,
    profiles: &[Profile],
    random_pairs: usize,
    iterations: usize,
) -> TrainingSummary {
    let n = profiles.len();

    // u from random pairs (almost all non-matches).
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut u_counts: Vec<Vec<f64>> = model
        .comparisons
        .iter()
        .map(|c| vec![SMOOTHING; c.levels.len()])
        .collect();
    let mut sampled = 0;
    if n >= 2 {
        for _ in 0..random_pairs {
            let (a, b) = (rng.below(n), rng.below(n));
            if a == b {
                continue;
            }
            for (k, l) in model
                .levels(&profiles[a], &profiles[b])
                .into_iter()
                .enumerate()
            {
                if let Some(l) = l {
                    u_counts[k][l as usize] += 1.0;
                }
            }
            sampled += 1;
        }
    }
    for (c, counts) in model.comparisons.iter_mut().zip(&u_counts) {
        let total: f64 = counts.iter().sum();
        // Only where random pairs gave real evidence.
        if total > SMOOTHING * counts.len() as f64 + 100.0 {
            for (level, cnt) in c.levels.iter_mut().zip(counts) {
                level.u = cnt / total;
            }
        }
    }
    model.refresh();

    // m by EM, once per blocking rule: its pairs agree on the rule's attributes by
    // construction, so those comparisons are left out of that rule's estimate.
    let mut m_sums: Vec<Option<(Vec<f64>, usize)>> = vec![None; model.comparisons.len()];
    let mut rules = Vec::new();
    for rule in &config.matching.blocking {
        let blocked_attrs: HashSet<usize> = rule.parts.iter().map(|p| p.attr).collect();
        let free: Vec<bool> = model
            .comparisons
            .iter()
            .map(|c| !blocked_attrs.contains(&c.attr))
            .collect();
        let mut buckets: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, p) in profiles.iter().enumerate() {
            for k in keys::keys_of_rule(config, rule, p) {
                buckets.entry(k).or_default().push(i);
            }
        }
        let mut pairs: HashSet<(usize, usize)> = HashSet::new();
        for b in buckets.values().filter(|b| b.len() <= MAX_BUCKET) {
            for (i, &x) in b.iter().enumerate() {
                for &y in &b[i + 1..] {
                    pairs.insert((x.min(y), x.max(y)));
                }
            }
        }
        if pairs.is_empty() || !free.iter().any(|f| *f) {
            continue;
        }
        let mut pairs: Vec<(usize, usize)> = pairs.into_iter().collect();
        pairs.sort_unstable();
        let pair_levels: Vec<Vec<Option<u8>>> = pairs
            .iter()
            .map(|&(a, b)| model.levels(&profiles[a], &profiles[b]))
            .collect();
        let mut m: Vec<Vec<f64>> = model
            .comparisons
            .iter()
            .map(|c| c.levels.iter().map(|l| l.m).collect())
            .collect();
        let (share, done) = em(model, &mut m, &free, &pair_levels, iterations);
        for (k, est) in m.into_iter().enumerate() {
            if free[k] {
                let slot = m_sums[k].get_or_insert_with(|| (vec![0.0; est.len()], 0));
                for (s, v) in slot.0.iter_mut().zip(est) {
                    *s += v;
                }
                slot.1 += 1;
            }
        }
        rules.push(RuleSummary {
            rule: rule.label.clone(),
            pairs: pair_levels.len(),
            iterations: done,
            match_share: share,
            estimated: model
                .comparisons
                .iter()
                .zip(&free)
                .filter(|(_, f)| **f)
                .map(|(c, _)| c.label.clone())
                .collect(),
        });
    }
    for (c, sum) in model.comparisons.iter_mut().zip(m_sums) {
        if let Some((sums, runs)) = sum {
            for (level, s) in c.levels.iter_mut().zip(sums) {
                level.m = s / runs as f64;
            }
        }
    }
    model.refresh();
    TrainingSummary {
        random_pairs: sampled,
        rules,
    }
}

/// EM for m over one rule's pairs, u fixed; `free[k]` marks the comparisons estimated. Returns
/// the match share and the iterations run.
fn em(
    model: &Model,
    m: &mut [Vec<f64>],
    free: &[bool],
    pair_levels: &[Vec<Option<u8>>],
    iterations: usize,
) -> (f64, usize) {
    let u: Vec<Vec<f64>> = model
        .comparisons
        .iter()
        .map(|c| c.levels.iter().map(|l| l.u).collect())
        .collect();
    let prior = model.prior();
    let prior_lo = (prior / (1.0 - prior)).ln();
    let mut share: f64 = 0.5;
    let mut done = 0;
    for it in 0..iterations {
        done = it + 1;
        let mut counts: Vec<Vec<f64>> = m.iter().map(|l| vec![SMOOTHING; l.len()]).collect();
        let mut total_p = 0.0;
        for levels in pair_levels {
            let p = if it == 0 {
                // The first step is the engine's own decision (every comparison, configured
                // prior), assigned hard: a soft start lets the match class swallow the many
                // blocked non-matches.
                let mut lo = prior_lo;
                for (k, l) in levels.iter().enumerate() {
                    if let Some(l) = l {
                        lo += (m[k][*l as usize] / u[k][*l as usize]).ln();
                    }
                }
                if lo > 0.0 {
                    1.0
                } else {
                    0.0
                }
            } else {
                let mut lo = (share / (1.0 - share)).ln();
                for (k, l) in levels.iter().enumerate() {
                    if let (true, Some(l)) = (free[k], l) {
                        lo += (m[k][*l as usize] / u[k][*l as usize]).ln();
                    }
                }
                1.0 / (1.0 + (-lo).exp())
            };
            total_p += p;
            for (k, l) in levels.iter().enumerate() {
                if let Some(l) = l {
                    counts[k][*l as usize] += p;
                }
            }
        }
        let new_share = (total_p / pair_levels.len() as f64).clamp(1e-6, 1.0 - 1e-6);
        let mut change = (new_share - share).abs();
        share = new_share;
        for (k, cnt) in counts.iter().enumerate() {
            if !free[k] {
                continue;
            }
            let total: f64 = cnt.iter().sum();
            for (mv, c) in m[k].iter_mut().zip(cnt) {
                let next = c / total;
                change = change.max((next - *mv).abs());
                *mv = next;
            }
        }
        if change < 1e-4 {
            break;
        }
    }
    (share, done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::ingest::profile::Norm;

    /// Synthetic data with known structure: every person appears twice, the copy keeping the
    /// email and birth date but often losing the phone. EM must find that matches agree on email
    /// and non-matches do not.
    #[test]
    fn em_learns_that_matches_agree_and_random_pairs_do_not() {
        let config = Config::parse(
            r#"
            [attributes]
            email = { kind = "email" }
            phone = { kind = "phone" }
            dob = { kind = "date" }
            [sources.s]
            format = "json"
            key = "id"
            fields = { email = "email", phone = "phone", dob = "dob" }
            [matching]
            blocking = ["email", "dob"]
            "#,
        )
        .unwrap();
        let mut model = Model::from_config(&config);
        let (e, p, d) = (
            config.attr("email").unwrap(),
            config.attr("phone").unwrap(),
            config.attr("dob").unwrap(),
        );
        let mut profiles = Vec::new();
        for i in 0..400u32 {
            for copy in 0..2 {
                let mut pr = Profile {
                    attrs: vec![None; 3],
                };
                // Distinct, unrelated local parts, as real addresses are.
                let mut h = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let local: String = (0..8)
                    .map(|_| {
                        h = h.rotate_left(5) ^ 0x2545_f491;
                        (b'a' + (h % 26) as u8) as char
                    })
                    .collect();
                pr.attrs[e] = Some(Norm::Str(format!("{local}@example.com")));
                if copy == 0 || i % 3 == 0 {
                    pr.attrs[p] = Some(Norm::Str(format!("+1415555{:04}", i)));
                }
                // Birth dates repeat every 50 people: blocking on them pairs non-matches too.
                pr.attrs[d] = Some(Norm::Str(format!("1980-01-{:02}", 1 + i % 25)));
                profiles.push(pr);
            }
        }
        let summary = train(&mut model, &config, &profiles, 50_000, 30);
        assert_eq!(summary.rules.len(), 2, "{summary:?}");
        let email = model
            .comparisons
            .iter()
            .find(|c| c.label == "email")
            .unwrap();
        assert!(
            email.levels[0].m > 0.9,
            "matches share the email: {:?}",
            email.levels
        );
        assert!(
            email.levels[0].u < 0.01,
            "random pairs do not: {:?}",
            email.levels
        );
        // Pairs blocked on birth date are mostly non-matches, and EM sees it.
        let by_dob = summary.rules.iter().find(|r| r.rule == "dob").unwrap();
        assert!(by_dob.match_share < 0.1, "{summary:?}");
        assert!(!by_dob.estimated.contains(&"dob".to_string()));
    }
}
