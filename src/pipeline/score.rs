//! Stage 4, score: the committed candidates' profiles are read (on every core), and every
//! candidate pair is scored (on every core). Pairs below the review weight are dropped.

use std::collections::{BTreeSet, HashMap};

use rayon::prelude::*;

use super::candidates::{Candidate, Candidates};
use super::classify::Incoming;
use crate::ingest::RecordId;
use crate::matching::Model;
use crate::store::{Store, StoreError, StoredRecord};

/// A scored pair: incoming position, candidate, match weight (at least the review weight).
pub(crate) type ScoredPair = (usize, Candidate, f64);

/// The committed candidates of a batch, read for matching (profile and entity, no values).
/// A failed read fails the batch (nothing is written): a candidate silently left out would
/// let a duplicate through.
pub(crate) fn fetch(
    store: &Store,
    candidates: &Candidates,
) -> Result<HashMap<RecordId, StoredRecord>, StoreError> {
    let needed: BTreeSet<RecordId> = candidates
        .found
        .iter()
        .flat_map(|f| f.committed.iter().copied())
        .collect();
    needed
        .into_par_iter()
        .filter_map(|id| match store.record_for_matching(id) {
            Ok(Some(r)) => Some(Ok((id, r))),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        })
        .collect()
}

/// Scores every candidate pair; keeps those at or above the review weight.
pub(crate) fn score(
    model: &Model,
    incoming: &[Incoming],
    candidates: &Candidates,
    existing: &HashMap<RecordId, StoredRecord>,
) -> Vec<ScoredPair> {
    let review_weight = model.review_weight();
    candidates
        .pairs()
        .into_par_iter()
        .filter_map(|(i, c)| {
            let a = &incoming[i].record.profile;
            let b = match c {
                Candidate::Batch(j) => &incoming[j].record.profile,
                Candidate::Existing(r) => &existing.get(&r)?.profile,
            };
            // Pairs below the review weight are dropped anyway: stop scoring them early.
            let w = model.weight_at_least(a, b, review_weight)?;
            (w >= review_weight).then_some((i, c, w))
        })
        .collect()
}
