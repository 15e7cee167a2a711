//! Learning m and u from the data, without labels.
//!
//! u (how often non-matches reach each level) comes from random record pairs, which are almost
//! all non-matches. m (how often matches reach each level) comes from expectation-maximisation
//! over blocked pairs with u held fixed, as Splink does: each pair's match probability under the
//! current m weighs its levels into the next m. Probabilities are smoothed so that no level
//! becomes impossible, and the prior stays the configured one (blocked pairs are not a random
//! sample).

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::Model;
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
    /// Blocked pairs used for EM.
    pub blocked_pairs: usize,
    /// EM iterations run.
    pub iterations: usize,
    /// Share of blocked pairs EM considers matches.
    pub match_share: f64,
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

/// Fits the model's m and u to `profiles`; `keys[i]` are the blocking keys of `profiles[i]`.
pub fn train(
    model: &mut Model,
    profiles: &[Profile],
    keys: &[Vec<String>],
    random_pairs: usize,
    iterations: usize,
) -> TrainingSummary {
    let n = profiles.len();
    let levels_of =
        |a: usize, b: usize| -> Vec<Option<u8>> { model.levels(&profiles[a], &profiles[b]) };

    // u from random pairs.
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
            for (k, l) in levels_of(a, b).into_iter().enumerate() {
                if let Some(l) = l {
                    u_counts[k][l as usize] += 1.0;
                }
            }
            sampled += 1;
        }
    }

    // Blocked pairs for EM.
    let mut buckets: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, ks) in keys.iter().enumerate() {
        for k in ks {
            buckets.entry(k.as_str()).or_default().push(i);
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
    let mut pairs: Vec<(usize, usize)> = pairs.into_iter().collect();
    pairs.sort_unstable();
    let pair_levels: Vec<Vec<Option<u8>>> = pairs.iter().map(|&(a, b)| levels_of(a, b)).collect();

    // Only replace u where random pairs gave evidence.
    if sampled > 0 {
        for (c, counts) in model.comparisons.iter_mut().zip(&u_counts) {
            let total: f64 = counts.iter().sum();
            if total > SMOOTHING * counts.len() as f64 + 100.0 {
                for (level, cnt) in c.levels.iter_mut().zip(counts) {
                    level.u = cnt / total;
                }
            }
        }
    }

    let mut share: f64 = 0.5;
    let mut done = 0;
    for _ in 0..iterations {
        done += 1;
        let mut m_counts: Vec<Vec<f64>> = model
            .comparisons
            .iter()
            .map(|c| vec![SMOOTHING; c.levels.len()])
            .collect();
        let mut total_p = 0.0;
        for levels in &pair_levels {
            // Log-odds of match for the pair under the current parameters.
            let mut lo = (share / (1.0 - share)).ln();
            for (c, l) in model.comparisons.iter().zip(levels) {
                if let Some(l) = l {
                    let lv = &c.levels[*l as usize];
                    lo += (lv.m / lv.u).ln();
                }
            }
            let p = 1.0 / (1.0 + (-lo).exp());
            total_p += p;
            for (k, l) in levels.iter().enumerate() {
                if let Some(l) = l {
                    m_counts[k][*l as usize] += p;
                }
            }
        }
        let new_share = if pair_levels.is_empty() {
            share
        } else {
            (total_p / pair_levels.len() as f64).clamp(1e-6, 1.0 - 1e-6)
        };
        let mut change: f64 = (new_share - share).abs();
        share = new_share;
        for (c, counts) in model.comparisons.iter_mut().zip(&m_counts) {
            let total: f64 = counts.iter().sum();
            for (level, cnt) in c.levels.iter_mut().zip(counts) {
                let m = cnt / total;
                change = change.max((m - level.m).abs());
                level.m = m;
            }
        }
        model.refresh();
        if change < 1e-4 {
            break;
        }
    }
    TrainingSummary {
        random_pairs: sampled,
        blocked_pairs: pair_levels.len(),
        iterations: done,
        match_share: share,
    }
}
