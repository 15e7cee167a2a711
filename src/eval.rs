//! Pairwise match quality of the stored entities against a truth file.
//!
//! Every pair of records inside one entity is a predicted match (not only the pairs the
//! matcher compared); precision, recall and F1 are computed over those pairs against the true
//! pairs. Records are named by their key, or `source:key` when a key is not unique.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Serialize;

use crate::store::{EntityState, Store, StoreError};

/// Evaluation failure.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The truth file could not be read.
    #[error("cannot read truth file {path}: {reason}")]
    Truth {
        /// File.
        path: String,
        /// Reason.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Pairwise confusion counts and scores.
#[derive(Debug, Clone, Serialize)]
pub struct PairwiseScores {
    /// Records in the store.
    pub records: usize,
    /// Entities in the store.
    pub entities: usize,
    /// True pairs in the truth file.
    pub true_pairs: usize,
    /// Pairs inside predicted entities.
    pub predicted_pairs: usize,
    /// Predicted pairs that are true.
    pub true_positives: usize,
    /// Predicted pairs that are not true (false merges).
    pub false_positives: usize,
    /// True pairs not predicted (missed matches).
    pub false_negatives: usize,
    /// TP / predicted.
    pub precision: f64,
    /// TP / true.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
}

/// Reads a truth file of pairs: a CSV whose first two columns name two records (header row
/// skipped when its first cell is not a known record).
pub fn read_truth_pairs(path: &Path) -> Result<Vec<(String, String)>, EvalError> {
    let err = |reason: String| EvalError::Truth {
        path: path.display().to_string(),
        reason,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| err(e.to_string()))?;
    let mut pairs = Vec::new();
    for row in rdr.records() {
        let row = row.map_err(|e| err(e.to_string()))?;
        if row.len() < 2 {
            return Err(err(format!(
                "line {}: expected two columns",
                row.position().map_or(0, |p| p.line())
            )));
        }
        pairs.push((row[0].to_string(), row[1].to_string()));
    }
    Ok(pairs)
}

/// Scores the stored entities against true pairs.
pub fn pairwise(store: &Store, truth: &[(String, String)]) -> Result<PairwiseScores, EvalError> {
    // Name records by key, falling back to source:key for keys used by several sources.
    let mut key_count: HashMap<String, usize> = HashMap::new();
    let mut entity_of: HashMap<String, u64> = HashMap::new();
    let mut records = Vec::new();
    for r in store.records() {
        let (_, r) = r?;
        *key_count.entry(r.key.clone()).or_default() += 1;
        records.push((r.source, r.key, r.entity));
    }
    for (source, key, entity) in &records {
        let name = if key_count[key] > 1 {
            format!("{source}:{key}")
        } else {
            key.clone()
        };
        entity_of.insert(name, *entity);
    }
    let mut sizes: HashMap<u64, usize> = HashMap::new();
    for (_, _, e) in &records {
        *sizes.entry(*e).or_default() += 1;
    }
    let mut entities = 0;
    for e in store.entities() {
        if e?.state == EntityState::Active {
            entities += 1;
        }
    }
    let predicted_pairs: usize = sizes.values().map(|n| n * (n - 1) / 2).sum();
    let mut seen = HashSet::new();
    let mut tp = 0;
    let mut true_pairs = 0;
    for (a, b) in truth {
        let key = if a <= b {
            (a.clone(), b.clone())
        } else {
            (b.clone(), a.clone())
        };
        if a == b || !seen.insert(key) {
            continue;
        }
        true_pairs += 1;
        if let (Some(x), Some(y)) = (entity_of.get(a), entity_of.get(b)) {
            if x == y {
                tp += 1;
            }
        }
    }
    let precision = if predicted_pairs == 0 {
        1.0
    } else {
        tp as f64 / predicted_pairs as f64
    };
    let recall = if true_pairs == 0 {
        1.0
    } else {
        tp as f64 / true_pairs as f64
    };
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    Ok(PairwiseScores {
        records: records.len(),
        entities,
        true_pairs,
        predicted_pairs,
        true_positives: tp,
        false_positives: predicted_pairs - tp,
        false_negatives: true_pairs - tp,
        precision,
        recall,
        f1,
    })
}
