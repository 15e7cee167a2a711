//! Stage 3, candidates: for every incoming record, the committed records (through the blocking
//! index, one posting look-up per distinct key of the batch) and the other batch records
//! (through a [`BatchIndex`]) worth scoring against it.

use std::collections::HashSet;

use rayon::prelude::*;

use super::classify::Incoming;
use crate::blocking::{self, keys, BatchIndex, BlockingIndex, IndexError};
use crate::config::Config;
use crate::ingest::RecordId;

/// Candidates of one incoming record.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Found {
    /// Committed records.
    pub committed: Vec<RecordId>,
    /// Other incoming records, by position in the batch's incoming list.
    pub batch: Vec<u32>,
}

/// Candidates of a batch.
#[derive(Debug, Default)]
pub(crate) struct Candidates {
    /// Blocking keys of every incoming record (indexed with it once committed).
    pub keys: Vec<Vec<String>>,
    /// Candidates of every incoming record.
    pub found: Vec<Found>,
}

impl Candidates {
    /// Pairs to score, each once: (incoming position, candidate). A pair of two batch records
    /// comes once, from the smaller position.
    pub fn pairs(&self) -> Vec<(usize, Candidate)> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (i, f) in self.found.iter().enumerate() {
            out.extend(f.committed.iter().map(|r| (i, Candidate::Existing(*r))));
            for &j in &f.batch {
                let j = j as usize;
                if j > i && seen.insert((i, j)) {
                    out.push((i, Candidate::Batch(j)));
                }
            }
        }
        out
    }
}

/// The other side of a pair to score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Candidate {
    /// Another incoming record (position).
    Batch(usize),
    /// A committed record.
    Existing(RecordId),
}

/// Finds candidates for the incoming records; records in `moving` are not taken from the
/// index (their committed version is stale).
pub(crate) fn find(
    config: &Config,
    index: &BlockingIndex,
    incoming: &[Incoming],
    moving: &HashSet<RecordId>,
) -> Result<Candidates, IndexError> {
    let batch_keys: Vec<Vec<String>> = incoming
        .par_iter()
        .map(|x| keys::keys(config, &x.record.profile))
        .collect();
    let found = {
        let batch_index = BatchIndex::build(&batch_keys);
        let limit = config.matching.max_candidates;
        let distinct: Vec<&str> = batch_index.keys().collect();
        let looked_up: Vec<Vec<Option<Vec<RecordId>>>> = distinct
            .par_chunks(2048)
            .map(|chunk| index.postings(chunk, blocking::GENERIC_KEY_RECORDS))
            .collect::<Result<_, _>>()?;
        let postings: blocking::StorePostings = distinct
            .iter()
            .copied()
            .zip(looked_up.into_iter().flatten())
            .collect();
        (0..incoming.len())
            .into_par_iter()
            .map(|i| {
                let (committed, batch) = blocking::rank(
                    &batch_keys[i],
                    i as u32,
                    limit,
                    &|k| postings.get(k).and_then(|p| p.as_deref()),
                    &batch_index,
                    &|r| moving.contains(r),
                );
                Found { committed, batch }
            })
            .collect()
    };
    Ok(Candidates {
        keys: batch_keys,
        found,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_pairs_come_once_and_committed_ones_each_time() {
        let r = RecordId::of("crm", "X");
        let c = Candidates {
            keys: vec![Vec::new(); 3],
            found: vec![
                Found {
                    committed: vec![r],
                    batch: vec![1, 2],
                },
                Found {
                    committed: vec![r],
                    batch: vec![0, 2],
                },
                Found {
                    committed: Vec::new(),
                    batch: vec![0, 1],
                },
            ],
        };
        assert_eq!(
            c.pairs(),
            [
                (0, Candidate::Existing(r)),
                (0, Candidate::Batch(1)),
                (0, Candidate::Batch(2)),
                (1, Candidate::Existing(r)),
                (1, Candidate::Batch(2)),
            ]
        );
    }
}
