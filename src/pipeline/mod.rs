//! The batch pipeline: one function per stage, each in its own module, with typed hand-offs.
//!
//! ```text
//! Vec<Change> -> classify -> Classified -> working_set -> WorkingSet
//!   -> candidates -> Candidates -> score -> Vec<ScoredPair> -> graph -> Graph
//!   -> resolve -> Resolution -> write_set -> WriteSet   (committed by the engine)
//! ```
//!
//! [`run`] drives the stages for one batch; it reads the store and the blocking index and
//! writes nothing: the engine commits the write set it returns (sled first, then the index),
//! under its writer lock. Every write of the engine goes through this one path or through the
//! same commit with a write set built from this module's helpers.

mod candidates;
mod classify;
mod graph;
mod resolve;
mod score;
mod working_set;
mod write_set;

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

pub(crate) use write_set::{build_entity, change_event, end_entity, names_of};

use crate::blocking::{BlockingIndex, IndexError};
use crate::config::Config;
use crate::ingest::profile::Profile;
use crate::ingest::{RecordId, SourceRecord};
use crate::matching::term_frequencies::TermKey;
use crate::matching::Model;
use crate::store::{Decision, EntityId, Store, StoreError, StoredRecord, WriteSet};

/// A stage failed reading the store or the index; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// sled failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// tantivy failed.
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// One change of a batch.
#[derive(Debug, Clone)]
pub enum Change {
    /// Insert or update a record.
    Upsert(SourceRecord, Profile),
    /// Delete a record.
    Delete(RecordId),
    /// Match a stored record again as if it had changed (after a steward decision).
    Reevaluate(RecordId),
}

/// What happened to one change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// New record.
    Inserted,
    /// Changed record, re-matched.
    Updated,
    /// Same content as stored: nothing done.
    Unchanged,
    /// Record deleted.
    Deleted,
    /// Delete of a record that does not exist.
    NotFound,
    /// A later change to the same record in the same batch replaced this one.
    Superseded,
    /// Matched again without a change to its content.
    Reevaluated,
}

/// Result of one change.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeOutcome {
    /// Record id.
    pub record: RecordId,
    /// What happened.
    pub status: Status,
    /// Entity the record belongs to afterwards (`None` once deleted).
    pub entity: Option<EntityId>,
}

/// Per-batch counts, as reported by the CLI and the HTTP API.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Summary {
    /// New records.
    pub inserted: usize,
    /// Changed records.
    pub updated: usize,
    /// Records identical to what was stored.
    pub unchanged: usize,
    /// Deleted records.
    pub deleted: usize,
    /// Deletes of unknown records.
    pub not_found: usize,
    /// Records replaced by a later version in the same batch.
    pub superseded: usize,
    /// Records matched again after a decision.
    pub reevaluated: usize,
    /// Rejected records (see `errors`).
    pub rejected: usize,
}

impl Summary {
    /// Adds another summary's counts.
    pub fn merge(&mut self, o: &Summary) {
        self.inserted += o.inserted;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.deleted += o.deleted;
        self.not_found += o.not_found;
        self.superseded += o.superseded;
        self.reevaluated += o.reevaluated;
        self.rejected += o.rejected;
    }

    /// Counts outcomes.
    pub fn add(&mut self, outcomes: &[ChangeOutcome]) {
        for o in outcomes {
            match o.status {
                Status::Inserted => self.inserted += 1,
                Status::Updated => self.updated += 1,
                Status::Unchanged => self.unchanged += 1,
                Status::Deleted => self.deleted += 1,
                Status::NotFound => self.not_found += 1,
                Status::Superseded => self.superseded += 1,
                Status::Reevaluated => self.reevaluated += 1,
            }
        }
    }
}

/// Steward decisions a batch records or revokes, as clustering sees them.
pub(crate) struct Steward<'a> {
    store: &'a Store,
    /// Decisions made with this batch.
    pub decisions: &'a [Decision],
    /// Keys of the decisions this batch revokes.
    pub revoked: Vec<[u8; 32]>,
    /// Stored decisions no longer in force: revoked, or replaced by one made now.
    replaced: HashSet<[u8; 32]>,
    /// Whether any decision can apply (most stores have none: no per-record look-ups then).
    any: bool,
    /// Who asked for this write, empty for matching.
    pub actor: &'a str,
    /// Why.
    pub reason: &'a str,
}

impl<'a> Steward<'a> {
    /// The decisions of a batch: `decisions` made, `revoked` revoked.
    pub fn new(
        store: &'a Store,
        decisions: &'a [Decision],
        revoked: Vec<[u8; 32]>,
        actor: &'a str,
        reason: &'a str,
    ) -> Self {
        let replaced = decisions
            .iter()
            .map(Decision::key)
            .chain(revoked.iter().copied())
            .collect();
        Self {
            store,
            decisions,
            revoked,
            replaced,
            any: !decisions.is_empty() || store.has_decisions(),
            actor,
            reason,
        }
    }

    /// Decisions in force for a record: stored ones, minus those revoked or replaced now,
    /// plus the ones being made now.
    pub fn decisions_for(&self, id: RecordId) -> Result<Vec<Decision>, StoreError> {
        if !self.any {
            return Ok(Vec::new());
        }
        let mut v: Vec<Decision> = self
            .store
            .decisions_of(id)?
            .into_iter()
            .filter(|d| !self.replaced.contains(&d.key()))
            .collect();
        v.extend(
            self.decisions
                .iter()
                .filter(|d| d.a == id || d.b == id)
                .cloned(),
        );
        Ok(v)
    }
}

/// What one batch will write, ready to commit.
pub(crate) struct Staged<'m> {
    /// The write set.
    pub ws: WriteSet,
    /// Outcome of every change, in batch order.
    pub outcomes: Vec<ChangeOutcome>,
    /// Records to index after the commit: id, blocking keys, whether it was indexed before.
    pub index_upserts: Vec<(RecordId, Vec<String>, bool)>,
    /// Records to take out of the index after the commit, with their source.
    pub deleted: Vec<(RecordId, StoredRecord)>,
    /// Source of each upsert by change position.
    pub upsert_sources: Vec<Option<String>>,
    /// Term-frequency counts of the batch: kept once committed, reverted if dropped.
    pub terms: TermGuard<'m>,
}

/// What a batch reads: configuration, model, store and blocking index.
pub(crate) struct Sources<'a> {
    /// Configuration.
    pub config: &'a Config,
    /// Scoring model (term frequencies are counted in for the batch).
    pub model: &'a Model,
    /// The store, as committed.
    pub store: &'a Store,
    /// The blocking index, as committed.
    pub index: &'a BlockingIndex,
}

/// Runs the stages for one batch (under the caller's writer lock); times each in `timer`.
pub(crate) fn run<'a>(
    src: &Sources<'a>,
    steward: &Steward,
    changes: Vec<Change>,
    now: i64,
    timer: &mut PhaseTimer,
) -> Result<Staged<'a>, StageError> {
    let Sources {
        config,
        model,
        store,
        index,
    } = *src;
    timer.phase("classify");
    let mut batch = classify::classify(changes, store.next_record_seq()?, now, |id| {
        store.record(id)
    })?;

    timer.phase("working_set");
    let mut work = working_set::WorkingSet::of(store, &batch)?;
    // The prior follows the population: the store's records and entities before this batch.
    model.set_population(store.record_count()?, store.entity_count()?);
    // Term frequencies count the batch in before scoring, so records of one bulk load see
    // each other's values; the guard takes them out again if the batch fails.
    let terms = TermGuard::new(
        model,
        batch
            .incoming
            .iter()
            .filter_map(|x| x.old.as_ref().map(|o| &o.profile))
            .chain(batch.deleted.iter().map(|x| &x.record.profile)),
        batch.incoming.iter().map(|x| &x.record.profile),
    );

    timer.phase("candidates");
    let found = candidates::find(config, index, &batch.incoming, &batch.moving())?;

    timer.phase("nodes");
    let existing = score::fetch(store, &found)?;

    timer.phase("score");
    let scored = score::score(model, &batch.incoming, &found, &existing);
    tracing::debug!(
        records = batch.incoming.len(),
        committed_candidates = found.found.iter().map(|f| f.committed.len()).sum::<usize>(),
        batch_candidates = found.found.iter().map(|f| f.batch.len()).sum::<usize>(),
        read = existing.len(),
        kept_pairs = scored.len(),
        "batch candidates"
    );
    let graph = graph::build(
        model,
        steward,
        &batch.incoming,
        scored,
        &existing,
        &mut work,
    )?;

    timer.phase("cluster");
    let clusters = resolve::cluster(
        model,
        &graph,
        &graph::profiles(&graph, &batch.incoming, &existing, &work),
    );

    timer.phase("resolve");
    let resolution = resolve::resolve(
        &graph.nodes,
        clusters,
        |id| work.entity_of(id),
        |id| work.keep_id_for.get(&id).copied(),
        |e, n| work.entities.get(&e).is_some_and(|w| w.members.len() == n),
        store.next_entity()?,
    );

    timer.phase("build");
    let ws = write_set::build(
        config, steward, &mut batch, &graph, resolution, &work, &existing, now,
    )?;
    // A superseded change reports where its record ended up after the batch.
    let mut outcomes: Vec<ChangeOutcome> = batch
        .outcomes
        .into_iter()
        .map(|o| o.expect("every change has an outcome"))
        .collect();
    for i in 0..outcomes.len() {
        if outcomes[i].status == Status::Superseded {
            outcomes[i].entity = outcomes[batch.last[&outcomes[i].record]].entity;
        }
    }
    Ok(Staged {
        ws,
        outcomes,
        index_upserts: batch
            .incoming
            .iter()
            .zip(found.keys)
            .map(|(x, keys)| (x.id, keys, x.old.is_some()))
            .collect(),
        deleted: batch
            .deleted
            .into_iter()
            .map(|x| (x.id, x.record))
            .collect(),
        upsert_sources: batch.upsert_sources,
        terms,
    })
}

/// Term-frequency counts applied for a batch in progress; reverted on drop unless kept.
pub(crate) struct TermGuard<'a> {
    model: &'a Model,
    removed: Vec<Vec<Option<TermKey>>>,
    added: Vec<Vec<Option<TermKey>>>,
    kept: bool,
}

impl<'a> TermGuard<'a> {
    fn new<'p>(
        model: &'a Model,
        removed: impl Iterator<Item = &'p Profile>,
        added: impl Iterator<Item = &'p Profile>,
    ) -> Self {
        let removed: Vec<_> = removed.map(|p| model.tf_values(p)).collect();
        let added: Vec<_> = added.map(|p| model.tf_values(p)).collect();
        model.count_values(&removed, -1);
        model.count_values(&added, 1);
        Self {
            model,
            removed,
            added,
            kept: false,
        }
    }

    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for TermGuard<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.model.count_values(&self.added, -1);
            self.model.count_values(&self.removed, 1);
        }
    }
}

/// Wall time per phase of a batch, logged at debug level (`RUST_LOG=goldrec=debug`).
pub(crate) struct PhaseTimer {
    records: usize,
    started: std::time::Instant,
    last: std::time::Instant,
    current: &'static str,
    phases: Vec<(&'static str, f64)>,
}

impl PhaseTimer {
    pub fn new(records: usize) -> Self {
        let now = std::time::Instant::now();
        Self {
            records,
            started: now,
            last: now,
            current: "start",
            phases: Vec::new(),
        }
    }

    pub fn phase(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.phases
            .push((self.current, (now - self.last).as_secs_f64() * 1e3));
        self.last = now;
        self.current = name;
    }

    pub fn finish(mut self) -> Vec<(&'static str, f64)> {
        self.phase("end");
        let phases: Vec<String> = self
            .phases
            .iter()
            .skip(1)
            .map(|(n, ms)| format!("{n}={ms:.0}ms"))
            .collect();
        tracing::debug!(
            records = self.records,
            total_ms = self.started.elapsed().as_millis() as u64,
            phases = %phases.join(" "),
            "batch applied"
        );
        self.phases.into_iter().skip(1).collect()
    }
}
