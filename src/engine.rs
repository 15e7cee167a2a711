//! The one place that orchestrates a batch: ingest -> block -> score -> cluster -> survive ->
//! store -> index.
//!
//! [`Engine::prepare`] maps and normalizes raw records (in parallel, outside any lock);
//! [`Engine::apply`] takes the prepared changes of one batch under the writer lock, finds
//! candidates (committed ones in tantivy, the batch's own through a [`BatchIndex`]), scores
//! them in parallel, clusters, recomputes the touched golden records and commits everything in
//! one sled transaction and one flush, then one tantivy commit. [`Committer`] groups concurrent
//! HTTP writes into such batches.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{mpsc, Arc, Mutex};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::blocking::{self, keys, BatchIndex, BlockingIndex, IndexError};
use crate::cluster::{self, Edge};
use crate::config::Config;
use crate::ingest::profile::{self, Profile};
use crate::ingest::{self, Position, RawRecord, RecordError, RecordId, SourceRecord};
use crate::matching::term_frequencies::TermKey;
use crate::matching::PairCheck;
use crate::matching::{Explanation, Model};
use crate::store::{
    ChangeEvent, ChangeKind, Decision, Entity, EntityId, EntityState, GoldenValue, LinkVerdict,
    Override, ReviewItem, ReviewOutcome, SourceKey, Store, StoreError, StoredRecord, Verdict,
    WriteSet,
};
use crate::survivorship;

/// Engine failure: storage or index trouble (bad input is reported per record instead).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// sled failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// tantivy failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The named source is not configured.
    #[error("unknown source {0:?}")]
    UnknownSource(String),
    /// The batch this change was grouped with failed; nothing of it was stored.
    #[error("batch failed, nothing was stored: {0}")]
    Batch(String),
    /// No live entity with this id.
    #[error("no live entity {0}")]
    EntityNotFound(EntityId),
    /// No stored record with this source and key.
    #[error("no record {key:?} in source {source_name:?}")]
    RecordNotFound {
        /// Source name.
        source_name: String,
        /// Record key.
        key: String,
    },
    /// The caller's version of the entity is stale.
    #[error("entity {id} is at version {current}, not {expected}")]
    VersionConflict {
        /// Entity.
        id: EntityId,
        /// Version the caller expected.
        expected: u64,
        /// Current version.
        current: u64,
    },
    /// A steward-supplied value is not valid for its attribute.
    #[error("{0}")]
    InvalidValue(String),
    /// The writer thread is gone (server shutting down).
    #[error("the writer is shutting down")]
    Closed,
    /// A steward action contradicts decisions in force (listed); nothing was applied.
    #[error("the action contradicts {} decision(s) in force", .0.len())]
    DecisionConflict(Vec<Decision>),
    /// A verdict on a pair that is not an automatic link (why).
    #[error("{0}")]
    NotAutomaticLink(String),
}

/// The entities of a decision's two records afterwards (`None` for a record gone).
pub type PairEntities = (Option<EntityId>, Option<EntityId>);

/// A steward action's outcome, with the decisions it revoked because they were in the way
/// (only when the caller asked for that; otherwise such an action fails whole with
/// [`EngineError::DecisionConflict`]).
#[derive(Debug)]
pub struct StewardOutcome<T> {
    /// What the action returns.
    pub value: T,
    /// Decisions revoked because they contradicted the action.
    pub revoked: Vec<Decision>,
}

/// Steward decisions to record or revoke with a batch.
#[derive(Debug, Default)]
struct Pending {
    decisions: Vec<Decision>,
    revoked: Vec<[u8; 32]>,
    /// Entity versions the caller read; checked under the writer lock.
    expected: Vec<(EntityId, u64)>,
    /// Who asked for this write (history), empty for matching.
    actor: String,
    /// Why.
    reason: String,
    /// Entities a merge puts together: a cannot-link between any of their members conflicts.
    together: Vec<EntityId>,
    /// Revoke the decisions in force that `decisions` contradict instead of refusing.
    revoke_conflicting: bool,
    /// The decisions revoked because they were in the way (filled under the writer lock).
    revoked_conflicting: Mutex<Vec<Decision>>,
    /// The batch's deletes are an erasure ([`Engine::erase`]).
    erase: bool,
    /// What the erasure did (filled under the writer lock).
    erased: Mutex<Option<Erasure>>,
}

/// What to erase (right to be forgotten).
#[derive(Debug, Clone)]
pub enum ErasureTarget {
    /// One source record.
    Record {
        /// Source name.
        source: String,
        /// Record key.
        key: String,
    },
    /// Every record of a live entity.
    Entity(EntityId),
}

/// What an erasure removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Erasure {
    /// Source records erased.
    pub records: usize,
    /// Entities whose every record was erased (their final event is `erased`).
    pub entities_erased: Vec<EntityId>,
    /// Entities that lost records but live on.
    pub entities_changed: Vec<EntityId>,
    /// Decisions removed (they named an erased record).
    pub decisions_removed: usize,
    /// Past change events redacted.
    pub events_redacted: usize,
    /// Change sequence after the erasure.
    pub last_change: u64,
}

/// Prepared records of a payload, in payload order: a change, or why the record was rejected.
pub type Prepared = Vec<(Position, Result<Change, RecordError>)>;

/// Candidates of one incoming record: committed records, and positions in the batch.
type Found = (Vec<RecordId>, Vec<u32>);

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

/// A candidate entity for a probe record, best record pair explained.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeMatch {
    /// Entity id.
    pub entity: EntityId,
    /// Member record that scored best.
    pub record: RecordId,
    /// Its source and key.
    pub source: String,
    /// Its key.
    pub key: String,
    /// Decision the engine would take: `link`, `review` or `distinct`.
    pub decision: &'static str,
    /// Score and per-comparison breakdown.
    pub explanation: Explanation,
}

/// The goldrec engine: configuration, model, store and blocking index.
pub struct Engine {
    /// Validated configuration.
    pub config: Arc<Config>,
    /// Scoring model.
    pub model: Arc<Model>,
    /// Durable state; written only by the engine (readers get [`Engine::reads`]).
    store: Store,
    /// Blocking index (derived from the store).
    index: BlockingIndex,
    write_lock: Mutex<()>,
    /// Wall time per phase of the last applied batch (ms).
    last_phases: Mutex<Vec<(&'static str, f64)>>,
    /// Last committed change sequence, for long-polling readers of the feed.
    changes: tokio::sync::watch::Sender<u64>,
    /// Prometheus metrics of ingest and batches (and of the HTTP API serving this engine).
    metrics: crate::metrics::Metrics,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Engine {
    /// Opens the data directory; rebuilds the blocking index when it does not reflect sled.
    pub fn open(config: Config) -> Result<Self, EngineError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| IndexError::Io {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let store = Store::open(
            &config.data_dir.join("sled"),
            &config.encryption,
            &config.data_dir,
        )?;
        let index = BlockingIndex::open(
            &config.data_dir.join("index"),
            config.index_memory_mb,
            store.sealer(),
        )?;
        let mut model = Model::from_config(&config);
        if let Some(trained) = store.load_model()? {
            if model.adopt(&trained) {
                tracing::info!("using the trained model");
            } else {
                tracing::warn!("the trained model does not fit the configured comparisons, using the configured one; run goldrec train again");
            }
        }
        let model = Arc::new(model);
        let engine = Self {
            config: Arc::new(config),
            model,
            store,
            index,
            write_lock: Mutex::new(()),
            last_phases: Mutex::new(Vec::new()),
            changes: tokio::sync::watch::Sender::new(0),
            metrics: crate::metrics::Metrics::new(),
        };
        engine.load_terms()?;
        engine.changes.send_replace(engine.store.last_change_seq()?);
        let seq = engine.store.batch_seq()?;
        if engine.index.committed_seq() != seq {
            tracing::warn!(
                index_seq = engine.index.committed_seq(),
                store_seq = seq,
                "blocking index does not reflect the store, rebuilding"
            );
            engine.reindex()?;
        }
        Ok(engine)
    }

    /// Term frequencies from the snapshot written at the last close, when no batch was
    /// committed since; otherwise (a crash, an older store) counted from every record.
    fn load_terms(&self) -> Result<(), EngineError> {
        self.model
            .set_population(self.store.record_count()?, self.store.entity_count()?);
        if let Some(bytes) = self.store.load_terms()? {
            if self.model.restore_terms(&bytes) {
                return Ok(());
            }
        }
        tracing::info!("counting term frequencies from the stored records");
        self.count_terms()
    }

    /// Commits the records the blocking index holds in memory and saves what the next open
    /// needs to start without a full scan (the term-frequency counts). Call when the engine is done with writes; later writes make the
    /// snapshot stale (the next open then counts again).
    pub fn close(&self) -> Result<(), EngineError> {
        // A poisoned lock means a writer panicked: the snapshot may be stale, skip it.
        let Ok(_guard) = self.write_lock.lock() else {
            return Ok(());
        };
        let seq = self.store.batch_seq()?;
        if self.index.has_pending() || self.index.committed_seq() != seq {
            self.index.commit(seq)?;
        }
        self.store.save_terms(seq, self.model.terms_snapshot())?;
        Ok(())
    }

    /// Counts every stored record into the model's term frequencies.
    fn count_terms(&self) -> Result<(), EngineError> {
        let mut chunk = Vec::with_capacity(10_000);
        for r in self.store.records() {
            chunk.push(r?.1.profile);
            if chunk.len() == chunk.capacity() {
                self.model.count_terms(&chunk, 1);
                chunk.clear();
            }
        }
        self.model.count_terms(&chunk, 1);
        Ok(())
    }

    /// Records a steward decision about two records and re-evaluates both at once (one
    /// transaction): `same` joins their entities, `different` sets them apart for good.
    /// Returns the entities of `a` and `b` afterwards. A decision that contradicts decisions
    /// in force fails with [`EngineError::DecisionConflict`], unless `revoke_conflicting`.
    pub fn decide(
        &self,
        decision: Decision,
        revoke_conflicting: bool,
    ) -> Result<StewardOutcome<PairEntities>, EngineError> {
        let (a, b) = (decision.a, decision.b);
        let out = self.decide_all(vec![decision], revoke_conflicting)?;
        Ok(StewardOutcome {
            value: (out.value[&a], out.value[&b]),
            revoked: out.revoked,
        })
    }

    /// Records several decisions in one transaction, re-evaluating every record they name;
    /// returns each record's entity afterwards.
    pub fn decide_all(
        &self,
        decisions: Vec<Decision>,
        revoke_conflicting: bool,
    ) -> Result<StewardOutcome<HashMap<RecordId, Option<EntityId>>>, EngineError> {
        let ids: Vec<RecordId> = decisions.iter().flat_map(|d| [d.a, d.b]).collect();
        self.decide_and_reevaluate(decisions, ids, Vec::new(), Vec::new(), revoke_conflicting)
    }

    /// Records decisions and re-evaluates the given records in one transaction, after checking
    /// the expected entity versions and the decisions in force under the writer lock.
    fn decide_and_reevaluate(
        &self,
        decisions: Vec<Decision>,
        mut ids: Vec<RecordId>,
        expected: Vec<(EntityId, u64)>,
        together: Vec<EntityId>,
        revoke_conflicting: bool,
    ) -> Result<StewardOutcome<HashMap<RecordId, Option<EntityId>>>, EngineError> {
        ids.sort_unstable();
        ids.dedup();
        let (actor, reason) = decisions
            .first()
            .map(|d| (d.actor.clone(), d.reason.clone()))
            .unwrap_or_default();
        let pending = Pending {
            decisions,
            revoked: Vec::new(),
            expected,
            actor,
            reason,
            together,
            revoke_conflicting,
            revoked_conflicting: Mutex::default(),
            ..Pending::default()
        };
        let out = self.apply_with(
            ids.iter().map(|id| Change::Reevaluate(*id)).collect(),
            &pending,
        )?;
        Ok(StewardOutcome {
            value: ids
                .into_iter()
                .zip(out.into_iter().map(|o| o.entity))
                .collect(),
            revoked: pending.revoked_conflicting.into_inner().expect("pending"),
        })
    }

    /// Merges live entities: must-links between them, so the merge sticks. The oldest id
    /// survives; the others redirect to it. `expected` versions (entity id -> version) make it
    /// conditional. A cannot-link between any of their members (or one the new must-links
    /// reach) fails it whole with [`EngineError::DecisionConflict`], unless
    /// `revoke_conflicting`.
    pub fn merge_entities(
        &self,
        ids: &[EntityId],
        actor: &str,
        reason: &str,
        expected: &HashMap<EntityId, u64>,
        revoke_conflicting: bool,
    ) -> Result<StewardOutcome<EntityId>, EngineError> {
        let mut anchors = Vec::new();
        let mut versions = Vec::new();
        for &id in ids {
            let e = self.live_entity(id, expected.get(&id).copied())?;
            if let Some(&v) = expected.get(&id) {
                versions.push((id, v));
            }
            anchors.push(*e.members.first().ok_or(EngineError::EntityNotFound(id))?);
        }
        let now = now_ms();
        let decisions: Vec<Decision> = anchors
            .windows(2)
            .map(|w| Decision {
                a: w[0].min(w[1]),
                b: w[0].max(w[1]),
                verdict: Verdict::Same,
                actor: actor.to_string(),
                reason: reason.to_string(),
                at: now,
            })
            .collect();
        let out = self.decide_and_reevaluate(
            decisions,
            anchors.clone(),
            versions,
            ids.to_vec(),
            revoke_conflicting,
        )?;
        Ok(StewardOutcome {
            value: out.value[&anchors[0]].ok_or(EngineError::EntityNotFound(ids[0]))?,
            revoked: out.revoked,
        })
    }

    /// Splits records out of a live entity: each group becomes its own entity (must-links
    /// inside a group, cannot-links against the rest and the other groups). The records left
    /// keep the entity id; every group gets a new id. Returns the group entities in order. A
    /// must-link across the cut (or a cannot-link inside a group) fails it whole with
    /// [`EngineError::DecisionConflict`], unless `revoke_conflicting`.
    pub fn split_entity(
        &self,
        id: EntityId,
        groups: &[Vec<RecordId>],
        actor: &str,
        reason: &str,
        expected_version: Option<u64>,
        revoke_conflicting: bool,
    ) -> Result<StewardOutcome<Vec<EntityId>>, EngineError> {
        let e = self.live_entity(id, expected_version)?;
        let mut moving: HashSet<RecordId> = HashSet::new();
        for g in groups {
            if g.is_empty() {
                return Err(EngineError::InvalidValue(
                    "a split group needs at least one record".into(),
                ));
            }
            for r in g {
                if !e.members.contains(r) {
                    return Err(EngineError::InvalidValue(format!(
                        "record {r} is not a member of entity {id}"
                    )));
                }
                if !moving.insert(*r) {
                    return Err(EngineError::InvalidValue(format!(
                        "record {r} is named twice"
                    )));
                }
            }
        }
        let rest: Vec<RecordId> = e
            .members
            .iter()
            .copied()
            .filter(|r| !moving.contains(r))
            .collect();
        if rest.is_empty() {
            return Err(EngineError::InvalidValue(
                "a split must leave at least one record in the entity".into(),
            ));
        }
        let now = now_ms();
        let decision = |a: RecordId, b: RecordId, verdict| Decision {
            a: a.min(b),
            b: a.max(b),
            verdict,
            actor: actor.to_string(),
            reason: reason.to_string(),
            at: now,
        };
        let mut decisions = Vec::new();
        for (gi, g) in groups.iter().enumerate() {
            for w in g.windows(2) {
                decisions.push(decision(w[0], w[1], Verdict::Same));
            }
            let others = rest.iter().chain(
                groups
                    .iter()
                    .enumerate()
                    .filter(|(gj, _)| *gj != gi)
                    .flat_map(|(_, o)| o.iter()),
            );
            for &o in others {
                for &r in g {
                    if r < o || !g.contains(&o) {
                        decisions.push(decision(r, o, Verdict::Different));
                    }
                }
            }
        }
        decisions.sort_by_key(|d| d.key());
        decisions.dedup_by_key(|d| d.key());
        // Only the split-out records move: the rest keep the entity and its id.
        let versions = expected_version.map(|v| vec![(id, v)]).unwrap_or_default();
        let out = self.decide_and_reevaluate(
            decisions,
            moving.into_iter().collect(),
            versions,
            Vec::new(),
            revoke_conflicting,
        )?;
        Ok(StewardOutcome {
            value: groups
                .iter()
                .map(|g| out.value[&g[0]].unwrap_or_default())
                .collect(),
            revoked: out.revoked,
        })
    }

    /// Under the writer lock: refuses a steward action whose decisions contradict decisions in
    /// force ([`crate::steward::conflicts`]), or, when it asks, revokes those (re-evaluating
    /// their records too). Returns every decision key the batch revokes.
    fn check_decisions(
        &self,
        pending: &Pending,
        changes: &mut Vec<Change>,
    ) -> Result<Vec<[u8; 32]>, EngineError> {
        let mut revoked = pending.revoked.clone();
        if pending.decisions.is_empty() {
            return Ok(revoked);
        }
        let mut together = Vec::new();
        for &id in &pending.together {
            if let Some(e) = self.store.entity(id)? {
                together.extend(e.members);
            }
        }
        let conflicts = crate::steward::conflicts(
            &pending.decisions,
            &together,
            &revoked.iter().copied().collect(),
            |r| self.store.decisions_of(r),
        )?;
        if conflicts.is_empty() {
            return Ok(revoked);
        }
        if !pending.revoke_conflicting {
            return Err(EngineError::DecisionConflict(conflicts));
        }
        let named: HashSet<RecordId> = changes
            .iter()
            .map(|c| match c {
                Change::Upsert(r, _) => r.id(),
                Change::Delete(id) | Change::Reevaluate(id) => *id,
            })
            .collect();
        let mut extra: Vec<RecordId> = conflicts
            .iter()
            .flat_map(|d| [d.a, d.b])
            .filter(|r| !named.contains(r))
            .collect();
        extra.sort_unstable();
        extra.dedup();
        changes.extend(extra.into_iter().map(Change::Reevaluate));
        revoked.extend(conflicts.iter().map(Decision::key));
        *pending.revoked_conflicting.lock().expect("pending") = conflicts;
        Ok(revoked)
    }

    /// A live entity, checked against an expected version.
    fn live_entity(&self, id: EntityId, expected: Option<u64>) -> Result<Entity, EngineError> {
        let e = match self.store.entity(id)? {
            Some(e) if e.state == EntityState::Active => e,
            _ => return Err(EngineError::EntityNotFound(id)),
        };
        if let Some(v) = expected {
            if v != e.version {
                return Err(EngineError::VersionConflict {
                    id,
                    expected: v,
                    current: e.version,
                });
            }
        }
        Ok(e)
    }

    /// Revokes a decision and re-evaluates its two records; `None` if there is no such
    /// decision.
    pub fn revoke(&self, key: [u8; 32], actor: &str) -> Result<Option<Decision>, EngineError> {
        let Some(d) = self.store.decision(&key)? else {
            return Ok(None);
        };
        self.apply_with(
            vec![Change::Reevaluate(d.a), Change::Reevaluate(d.b)],
            &Pending {
                decisions: Vec::new(),
                revoked: vec![key],
                actor: actor.to_string(),
                reason: "decision revoked".into(),
                ..Pending::default()
            },
        )?;
        Ok(Some(d))
    }

    /// Records a steward's verdict on an automatically linked pair (see
    /// [`crate::quality`]), durably, in one transaction. The pair must still be an automatic
    /// link (checked under the writer lock), else [`EngineError::NotAutomaticLink`]. A verdict
    /// changes no entity: it is a measurement.
    pub fn judge_link(
        &self,
        a: RecordId,
        b: RecordId,
        verdict: Verdict,
        actor: &str,
    ) -> Result<LinkVerdict, EngineError> {
        let _guard = self.write_lock.lock().expect("writer lock");
        let (ra, rb, entity) = crate::quality::automatic_link(self.reads(), a, b)?
            .map_err(EngineError::NotAutomaticLink)?;
        let (a, b, ra, rb) = if a <= b {
            (a, b, ra, rb)
        } else {
            (b, a, rb, ra)
        };
        let v = LinkVerdict {
            a,
            b,
            verdict,
            actor: actor.to_string(),
            at: now_ms(),
            entity,
            match_weight: self.model.explain(&ra.profile, &rb.profile).match_weight,
        };
        let ws = WriteSet {
            next_entity: self.store.next_entity()?,
            next_record_seq: self.store.next_record_seq()?,
            actor: actor.to_string(),
            verdicts: vec![v.clone()],
            ..WriteSet::default()
        };
        let seq = self.commit_audited(ws)?;
        // Keep the index's commit payload in step with the store.
        self.index.publish(seq)?;
        Ok(v)
    }

    /// Pins (`Some`) or unpins (`None`) a golden attribute of a live entity. With
    /// `expected_version`, a stale caller gets [`EngineError::VersionConflict`] and nothing
    /// changes. The entity, its golden record and the change event are written in one
    /// transaction.
    pub fn set_override(
        &self,
        id: EntityId,
        attr: &str,
        pin: Option<Override>,
        expected_version: Option<u64>,
        actor: &str,
    ) -> Result<Entity, EngineError> {
        let Some(a) = self.config.attr(attr) else {
            return Err(EngineError::InvalidValue(format!(
                "unknown attribute {attr:?}"
            )));
        };
        if let Some(o) = &pin {
            if o.value.trim().is_empty() {
                return Err(EngineError::InvalidValue(
                    "an override needs a value".into(),
                ));
            }
            let kind = self.config.attributes[a].kind;
            let probe = self
                .config
                .sources
                .values()
                .next()
                .expect("config has a source");
            profile::normalize_value(kind, &o.value, None, None, probe).map_err(|reason| {
                EngineError::InvalidValue(format!("attribute {attr:?}: {reason}"))
            })?;
        }
        let _guard = self.write_lock.lock().expect("writer lock");
        let prev = match self.store.entity(id)? {
            Some(e) if e.state == EntityState::Active => e,
            _ => return Err(EngineError::EntityNotFound(id)),
        };
        if let Some(expected) = expected_version {
            if expected != prev.version {
                return Err(EngineError::VersionConflict {
                    id,
                    expected,
                    current: prev.version,
                });
            }
        }
        let mut members = Vec::new();
        for rid in &prev.members {
            if let Some(r) = self.store.record(*rid)? {
                members.push((*rid, r));
            }
        }
        let mut base = prev.clone();
        match pin {
            Some(o) => {
                base.overrides.insert(attr.to_string(), o);
            }
            None => {
                base.overrides.remove(attr);
            }
        }
        let now = now_ms();
        let entity = build_entity(&self.config, id, Some(base), &members, now);
        let names: HashMap<RecordId, SourceKey> = members
            .iter()
            .map(|(rid, r)| {
                (
                    *rid,
                    SourceKey {
                        source: r.source.clone(),
                        key: r.key.clone(),
                    },
                )
            })
            .collect();
        let reason = match entity.overrides.get(attr) {
            Some(o) => format!("override of {attr}: {}", o.reason),
            None => format!("override of {attr} removed"),
        };
        let ws = WriteSet {
            next_entity: self.store.next_entity()?,
            next_record_seq: self.store.next_record_seq()?,
            actor: actor.to_string(),
            reason,
            events: vec![change_event(&entity, Some(&prev), &names, now)],
            entities: vec![entity.clone()],
            ..WriteSet::default()
        };
        let seq = self.commit_audited(ws)?;
        // Keep the index's commit payload in step with the store.
        self.index.publish(seq)?;
        self.changes.send_replace(self.store.last_change_seq()?);
        Ok(entity)
    }

    /// Fits m and u to the stored records (see [`crate::matching::training`]) and saves the
    /// model; it takes effect the next time the data directory is opened.
    pub fn train(
        &self,
        random_pairs: usize,
        iterations: usize,
    ) -> Result<(Model, crate::matching::training::TrainingSummary), EngineError> {
        let mut profiles = Vec::new();
        for r in self.store.records() {
            profiles.push(r?.1.profile);
        }
        let mut model = Model::from_config(&self.config);
        let summary = crate::matching::training::train(
            &mut model,
            &self.config,
            &profiles,
            random_pairs,
            iterations,
        );
        self.store.save_model(&model)?;
        Ok((model, summary))
    }

    /// Matches every stored record again from scratch with the current model, in batches.
    /// Entity ids are reassigned (old ids answer 404): use after training or a change of the
    /// matching configuration, before downstream systems depend on ids.
    pub fn rematch(&self) -> Result<usize, EngineError> {
        let mut all: Vec<StoredRecord> = Vec::new();
        for r in self.store.records() {
            all.push(r?.1);
        }
        // Arrival order is kept so first-non-empty survivorship stays meaningful.
        all.sort_by_key(|r| r.seq);
        {
            let _guard = self.write_lock.lock().expect("writer lock");
            // Every current entity ends, with a `deleted` event, so feed consumers follow.
            let now = now_ms();
            let mut ws = WriteSet {
                next_entity: self.store.next_entity()?,
                next_record_seq: self.store.next_record_seq()?,
                actor: "rematch".into(),
                reason: "full re-match".into(),
                ..WriteSet::default()
            };
            for e in self.store.entities() {
                let mut e = e?;
                if e.state != EntityState::Active {
                    continue;
                }
                let prev = e.clone();
                e.state = EntityState::Deleted;
                e.version += 1;
                e.members.clear();
                e.golden.clear();
                e.consent.clear();
                e.updated_at = now;
                ws.events
                    .push(change_event(&e, Some(&prev), &HashMap::new(), now));
                ws.entities.push(e);
            }
            self.store.commit(&ws)?;
            self.changes.send_replace(self.store.last_change_seq()?);
            self.store.clear_matching_state()?;
            self.index.clear()?;
            self.index.commit(self.store.batch_seq()?)?;
            let profiles: Vec<Profile> = all.iter().map(|r| r.profile.clone()).collect();
            self.model.count_terms(&profiles, -1);
        }
        let n = all.len();
        let mut it = all.into_iter();
        loop {
            let chunk: Vec<Change> = it
                .by_ref()
                .take(self.config.batch_size)
                .map(|r| {
                    let rec = SourceRecord {
                        source: r.source,
                        key: r.key,
                        values: r.values,
                        updated_at: r.updated_at,
                    };
                    Change::Upsert(rec, r.profile)
                })
                .collect();
            if chunk.is_empty() {
                break;
            }
            self.apply(chunk)?;
        }
        Ok(n)
    }

    /// Appends audit entries (time in ms, JSON) to the audit log; see [`crate::audit`].
    pub fn append_audit(&self, entries: &[(u64, Vec<u8>)]) -> Result<(), EngineError> {
        Ok(self.store.append_audit(entries)?)
    }

    /// Removes audit entries written before `before_ms`.
    pub fn prune_audit(&self, before_ms: u64) -> Result<usize, EngineError> {
        Ok(self.store.prune_audit(before_ms)?)
    }

    /// Read-only access to the stored records, entities, history, decisions and change feed.
    pub fn reads(&self) -> crate::store::Reads<'_> {
        crate::store::Reads(&self.store)
    }

    /// Number of records the blocking index holds (committed and pending).
    pub fn indexed(&self) -> u64 {
        self.index.len()
    }

    /// Skips a queued review pair (it goes to the back of the queue), under the writer lock
    /// so it cannot race a batch that drops or re-queues the pair. `false` if not queued.
    pub fn skip_review(&self, a: RecordId, b: RecordId) -> Result<bool, EngineError> {
        let _guard = self.write_lock.lock().expect("writer lock");
        Ok(self.store.skip_review(a, b, now_ms())?)
    }

    /// The metrics of this engine, for `/metrics`.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// The gauges of `/metrics`, read from the store now.
    pub fn store_gauges(&self) -> Result<crate::metrics::StoreGauges, EngineError> {
        Ok(crate::metrics::StoreGauges {
            records: self.store.record_count()?,
            entities: self.store.entity_count()?,
            review_queue: self.store.review_len() as u64,
            change_seq: self.store.last_change_seq()?,
        })
    }

    /// Wall time per phase (ms) of the last batch applied, in pipeline order.
    pub fn last_phases(&self) -> Vec<(&'static str, f64)> {
        self.last_phases.lock().expect("phase lock").clone()
    }

    /// Waits (blocking the async task, not a thread) until the change feed passes `after` or the
    /// timeout ends; returns the last committed change sequence.
    pub async fn wait_for_changes(&self, after: u64, timeout: std::time::Duration) -> u64 {
        let mut rx = self.changes.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|&last| last > after)).await;
        let last = *rx.borrow();
        last
    }

    /// Runs `f` with writes held off, so what it reads is consistent with the returned change
    /// sequence (an export followed by the feed from there has no gap and no overlap).
    pub fn snapshot<T>(&self, f: impl FnOnce(u64) -> T) -> Result<T, EngineError> {
        let _guard = self.write_lock.lock().expect("writer lock");
        let seq = self.store.last_change_seq()?;
        Ok(f(seq))
    }

    /// Rebuilds the blocking index from sled.
    pub fn reindex(&self) -> Result<usize, EngineError> {
        let _guard = self.write_lock.lock().expect("writer lock");
        self.index.clear()?;
        let mut n = 0;
        for r in self.store.records() {
            let (id, rec) = r?;
            self.index
                .upsert(id, &keys::keys(&self.config, &rec.profile), false)?;
            n += 1;
        }
        self.index.commit(self.store.batch_seq()?)?;
        Ok(n)
    }

    /// Maps and normalizes raw records of a source (in parallel). Failures come back per record.
    pub fn prepare(
        &self,
        source: &str,
        items: Vec<(Position, Result<RawRecord, String>)>,
    ) -> Result<Prepared, EngineError> {
        let src = self
            .config
            .sources
            .get(source)
            .ok_or_else(|| EngineError::UnknownSource(source.to_string()))?;
        let config = &self.config;
        let started = std::time::Instant::now();
        let prepared: Prepared = items
            .into_par_iter()
            .map(|(position, raw)| {
                let raw = match raw {
                    Ok(r) => r,
                    Err(reason) => {
                        return (
                            position,
                            Err(RecordError {
                                position,
                                key: None,
                                field: None,
                                reason,
                            }),
                        )
                    }
                };
                let rec = match ingest::map_record(config, src, position, &raw) {
                    Ok(r) => r,
                    Err(e) => return (position, Err(e)),
                };
                match profile::build(config, src, &rec) {
                    Ok(p) => (position, Ok(Change::Upsert(rec, p))),
                    Err(f) => (
                        position,
                        Err(RecordError {
                            position,
                            key: Some(rec.key),
                            field: Some(f.field),
                            reason: f.reason,
                        }),
                    ),
                }
            })
            .collect();
        let rejected = prepared.iter().filter(|(_, r)| r.is_err()).count();
        if rejected > 0 {
            self.metrics.rejected(source, rejected as u64);
        }
        self.metrics
            .phase("prepare", started.elapsed().as_secs_f64());
        Ok(prepared)
    }

    /// Applies one batch of changes atomically and durably; outcomes are in input order.
    pub fn apply(&self, changes: Vec<Change>) -> Result<Vec<ChangeOutcome>, EngineError> {
        self.apply_with(changes, &Pending::default())
    }

    /// [`Engine::apply`] that also records (or revokes) steward decisions in the same
    /// transaction, and honours them while clustering this batch.
    fn apply_with(
        &self,
        mut changes: Vec<Change>,
        pending: &Pending,
    ) -> Result<Vec<ChangeOutcome>, EngineError> {
        let _guard = self.write_lock.lock().expect("writer lock");
        for &(id, version) in &pending.expected {
            let current = self.store.entity(id)?.map_or(0, |e| e.version);
            if current != version {
                return Err(EngineError::VersionConflict {
                    id,
                    expected: version,
                    current,
                });
            }
        }
        let revoked = self.check_decisions(pending, &mut changes)?;
        // Decisions in force for a record: stored ones, minus those revoked or replaced now,
        // plus the ones being made now.
        let replaced: HashSet<[u8; 32]> = pending
            .decisions
            .iter()
            .map(Decision::key)
            .chain(revoked.iter().copied())
            .collect();
        // Most stores have no decisions: skip the per-record index look-ups then.
        let any_decisions = !pending.decisions.is_empty() || self.store.has_decisions();
        let decisions_for = |id: RecordId| -> Result<Vec<Decision>, EngineError> {
            if !any_decisions {
                return Ok(Vec::new());
            }
            let mut v: Vec<Decision> = self
                .store
                .decisions_of(id)?
                .into_iter()
                .filter(|d| !replaced.contains(&d.key()))
                .collect();
            v.extend(
                pending
                    .decisions
                    .iter()
                    .filter(|d| d.a == id || d.b == id)
                    .cloned(),
            );
            Ok(v)
        };
        let mut timer = PhaseTimer::new(changes.len());
        // Source of each upsert, for the ingest counters once the batch is committed.
        let upsert_sources: Vec<Option<String>> = changes
            .iter()
            .map(|c| match c {
                Change::Upsert(r, _) => Some(r.source.clone()),
                _ => None,
            })
            .collect();
        let now = now_ms();
        let config = &self.config;
        let model = &self.model;
        let review_weight = model.review_weight();
        let link_weight = model.link_weight();

        timer.phase("classify");
        // 1. Classify: last change per record wins; unchanged content is a no-op.
        let mut last: HashMap<RecordId, usize> = HashMap::new();
        for (i, c) in changes.iter().enumerate() {
            let id = match c {
                Change::Upsert(r, _) => r.id(),
                Change::Delete(id) | Change::Reevaluate(id) => *id,
            };
            last.insert(id, i);
        }
        let mut outcomes: Vec<Option<ChangeOutcome>> = vec![None; changes.len()];
        let mut next_seq = self.store.next_record_seq()?;
        let mut next_entity = self.store.next_entity()?;
        // Records entering matching (inserted or updated), and deleted ones.
        let mut incoming: Vec<(usize, RecordId, StoredRecord, Option<StoredRecord>)> = Vec::new();
        let mut deleted: Vec<(usize, RecordId, StoredRecord)> = Vec::new();
        let mut reevaluated: HashSet<RecordId> = HashSet::new();
        // Stored versions of the changed records, read on every core.
        let mut stored: Vec<Option<StoredRecord>> = changes
            .par_iter()
            .enumerate()
            .map(|(i, c)| {
                let id = match c {
                    Change::Upsert(r, _) => r.id(),
                    Change::Delete(id) | Change::Reevaluate(id) => *id,
                };
                if last[&id] == i {
                    self.store.record(id)
                } else {
                    Ok(None)
                }
            })
            .collect::<Result<_, _>>()?;
        for (i, c) in changes.into_iter().enumerate() {
            let id = match &c {
                Change::Upsert(r, _) => r.id(),
                Change::Delete(id) | Change::Reevaluate(id) => *id,
            };
            if last[&id] != i {
                outcomes[i] = Some(ChangeOutcome {
                    record: id,
                    status: Status::Superseded,
                    entity: None,
                });
                continue;
            }
            let existing = stored[i].take();
            match c {
                Change::Upsert(rec, profile) => {
                    let hash = hex(&rec.content_hash());
                    if let Some(old) = &existing {
                        if old.hash == hash {
                            outcomes[i] = Some(ChangeOutcome {
                                record: id,
                                status: Status::Unchanged,
                                entity: Some(old.entity),
                            });
                            continue;
                        }
                    }
                    let stored = StoredRecord {
                        source: rec.source,
                        key: rec.key,
                        values: rec.values,
                        updated_at: rec.updated_at,
                        hash,
                        entity: 0,
                        seq: existing.as_ref().map_or_else(
                            || {
                                next_seq += 1;
                                next_seq - 1
                            },
                            |o| o.seq,
                        ),
                        ingested_at: existing.as_ref().map_or(now, |o| o.ingested_at),
                        changed_at: now,
                        profile,
                    };
                    incoming.push((i, id, stored, existing));
                }
                Change::Reevaluate(_) => match existing {
                    Some(old) => {
                        reevaluated.insert(id);
                        incoming.push((i, id, old.clone(), Some(old)));
                    }
                    None => {
                        outcomes[i] = Some(ChangeOutcome {
                            record: id,
                            status: Status::NotFound,
                            entity: None,
                        })
                    }
                },
                Change::Delete(_) => match existing {
                    Some(old) => deleted.push((i, id, old)),
                    None => {
                        outcomes[i] = Some(ChangeOutcome {
                            record: id,
                            status: Status::NotFound,
                            entity: None,
                        })
                    }
                },
            }
        }

        timer.phase("working_set");
        // 2. Working set of touched entities, with members minus the records that move.
        let mut work = Work::new(&self.store);
        let moving: HashSet<RecordId> = incoming
            .iter()
            .map(|x| x.1)
            .chain(deleted.iter().map(|x| x.1))
            .collect();
        work.load_many(
            deleted
                .iter()
                .map(|x| x.2.entity)
                .chain(
                    incoming
                        .iter()
                        .filter_map(|x| x.3.as_ref().map(|o| o.entity)),
                )
                .collect(),
        )?;
        for (_, id, old) in &deleted {
            work.remove_member(old.entity, *id);
        }
        for (_, id, _, old) in &incoming {
            if let Some(old) = old {
                work.remove_member(old.entity, *id);
            }
        }

        // The prior follows the population: the store's records and entities before this batch.
        model.set_population(self.store.record_count()?, self.store.entity_count()?);
        // Term frequencies count the batch in before scoring, so records of one bulk load see
        // each other's values; the guard takes them out again if the batch fails.
        let tf_guard = TermGuard::new(
            model,
            incoming
                .iter()
                .filter_map(|x| x.3.as_ref().map(|o| &o.profile))
                .chain(deleted.iter().map(|x| &x.2.profile)),
            incoming.iter().map(|x| &x.2.profile),
        );

        timer.phase("candidates");
        // 3. Candidates: committed records through tantivy, batch records through the side index.
        let batch_keys: Vec<Vec<String>> = incoming
            .par_iter()
            .map(|x| keys::keys(config, &x.2.profile))
            .collect();
        let batch_index = BatchIndex::build(&batch_keys);
        let limit = config.matching.max_candidates;
        // One posting look-up per distinct key of the batch, not one query per record.
        let distinct: Vec<&str> = batch_index.keys().collect();
        let looked_up: Vec<Vec<Option<Vec<RecordId>>>> = distinct
            .par_chunks(2048)
            .map(|chunk| self.index.postings(chunk, blocking::GENERIC_KEY_RECORDS))
            .collect::<Result<_, _>>()?;
        let postings: blocking::StorePostings = distinct
            .iter()
            .copied()
            .zip(looked_up.into_iter().flatten())
            .collect();
        let found: Vec<Found> = (0..incoming.len())
            .into_par_iter()
            .map(|i| {
                blocking::rank(
                    &batch_keys[i],
                    i as u32,
                    limit,
                    &|k| postings.get(k).and_then(|p| p.as_deref()),
                    &batch_index,
                    &|r| moving.contains(r),
                )
            })
            .collect();

        timer.phase("nodes");
        // 4. Nodes: batch records first, then every existing record met as a candidate.
        let mut nodes: Vec<Node> = incoming.iter().map(|x| Node::Batch(x.1)).collect();
        let mut node_of: HashMap<RecordId, usize> =
            incoming.iter().enumerate().map(|(i, x)| (x.1, i)).collect();
        let mut needed: BTreeSet<RecordId> = BTreeSet::new();
        for (committed, _) in &found {
            needed.extend(committed.iter().copied());
        }
        let fetched: Vec<(RecordId, Option<StoredRecord>)> = needed
            .into_par_iter()
            // Profiles only: candidates are scored, not written (see the members below).
            .map(|id| (id, self.store.record_for_matching(id).ok().flatten()))
            .collect();
        let mut existing: HashMap<RecordId, StoredRecord> = HashMap::new();
        for (id, r) in fetched {
            if let Some(r) = r {
                existing.insert(id, r);
            }
        }
        let profile_of = |n: usize,
                          nodes: &[Node],
                          existing: &HashMap<RecordId, StoredRecord>,
                          work: &Work|
         -> Option<Profile> {
            match nodes[n] {
                Node::Batch(_) => Some(incoming[n].2.profile.clone()),
                Node::Existing(id) => existing
                    .get(&id)
                    .map(|r| r.profile.clone())
                    .or_else(|| work.member(id).map(|r| r.profile.clone())),
            }
        };

        timer.phase("score");
        // 5. Score candidate pairs in parallel.
        let pairs: Vec<(usize, Candidate)> = found
            .iter()
            .enumerate()
            .flat_map(|(i, (committed, batch))| {
                committed
                    .iter()
                    .map(move |r| (i, Candidate::Existing(*r)))
                    .chain(
                        batch
                            .iter()
                            .filter(move |&&j| (j as usize) > i)
                            .map(move |&j| (i, Candidate::Batch(j as usize))),
                    )
            })
            .collect();
        let mut seen = HashSet::new();
        let pairs: Vec<(usize, Candidate)> = pairs
            .into_iter()
            .filter(|(i, c)| match c {
                Candidate::Batch(j) => seen.insert((*i.min(j), *i.max(j))),
                Candidate::Existing(_) => true,
            })
            .collect();
        let scored: Vec<(usize, Candidate, f64)> = pairs
            .into_par_iter()
            .filter_map(|(i, c)| {
                let a = &incoming[i].2.profile;
                let b = match c {
                    Candidate::Batch(j) => &incoming[j].2.profile,
                    Candidate::Existing(r) => &existing.get(&r)?.profile,
                };
                // Pairs below the review weight are dropped anyway: stop scoring them early.
                let w = model.weight_at_least(a, b, review_weight)?;
                Some((i, c, w))
            })
            .collect();
        work.load_many(
            scored
                .iter()
                .filter(|x| x.2 >= review_weight)
                .filter_map(|(_, c, _)| match c {
                    Candidate::Existing(r) => existing.get(r).map(|r| r.entity),
                    Candidate::Batch(_) => None,
                })
                .collect(),
        )?;
        let mut edges = Vec::new();
        for (i, c, w) in scored {
            if w < review_weight {
                continue;
            }
            let b = match c {
                Candidate::Batch(j) => j,
                Candidate::Existing(r) => {
                    let entity = existing[&r].entity;
                    work.load(entity)?;
                    *node_of.entry(r).or_insert_with(|| {
                        nodes.push(Node::Existing(r));
                        nodes.len() - 1
                    })
                }
            };
            edges.push(Edge { a: i, b, weight: w });
        }
        // A must-linked partner's entity joins the batch, so the decision can take effect.
        for (_, id, _, _) in &incoming {
            for d in decisions_for(*id)? {
                let other = if d.a == *id { d.b } else { d.a };
                if d.verdict == Verdict::Same
                    && !node_of.contains_key(&other)
                    && work.member(other).is_none()
                {
                    if let Some(r) = self.store.record(other)? {
                        work.load(r.entity)?;
                    }
                }
            }
        }
        // Every member of a touched entity is a node, so clusters start from whole entities.
        let mut initial: Vec<Vec<usize>> = Vec::new();
        let mut entity_of_group: Vec<EntityId> = Vec::new();
        for (&eid, ent) in &work.entities {
            let mut group = Vec::new();
            for id in ent.members.keys() {
                let n = *node_of.entry(*id).or_insert_with(|| {
                    nodes.push(Node::Existing(*id));
                    nodes.len() - 1
                });
                group.push(n);
            }
            initial.push(group);
            entity_of_group.push(eid);
        }
        // Decisions between nodes become clustering constraints.
        let mut constraints = cluster::Constraints::default();
        let mut cannot_ids: HashSet<(RecordId, RecordId)> = HashSet::new();
        let mut seen_decisions: HashSet<[u8; 32]> = HashSet::new();
        for node in &nodes {
            for d in decisions_for(node.id())? {
                if !seen_decisions.insert(d.key()) {
                    continue;
                }
                let (Some(&x), Some(&y)) = (node_of.get(&d.a), node_of.get(&d.b)) else {
                    continue;
                };
                match d.verdict {
                    Verdict::Same => constraints.must.push((x, y)),
                    Verdict::Different => {
                        constraints.cannot.push((x, y));
                        cannot_ids.insert((d.a, d.b));
                        cannot_ids.insert((d.b, d.a));
                    }
                }
            }
        }
        constraints.must.sort_unstable();
        constraints.cannot.sort_unstable();
        // An updated record stays in its entity when it still agrees with the rest of it (or is
        // its only member), so ids do not churn on edits.
        for (i, (_, id, _, old)) in incoming.iter().enumerate() {
            let Some(old) = old else { continue };
            let Some(gi) = entity_of_group.iter().position(|e| *e == old.entity) else {
                continue;
            };
            let stays = {
                let ent = &work.entities[&old.entity];
                if ent.members.is_empty() {
                    // The entity's only record: it keeps the id while it still describes the
                    // same customer as before; an edit into someone else leaves the id behind.
                    model.weight(&incoming[i].2.profile, &old.profile) >= link_weight
                } else {
                    let ws: Vec<f64> = ent
                        .members
                        .values()
                        .map(|m| model.weight(&incoming[i].2.profile, &m.profile))
                        .collect();
                    let max = ws.iter().copied().fold(f64::MIN, f64::max);
                    let mean = ws.iter().sum::<f64>() / ws.len() as f64;
                    max >= link_weight && mean >= review_weight
                }
            };
            let set_apart = work.entities[&old.entity]
                .members
                .keys()
                .any(|m| cannot_ids.contains(&(*id, *m)));
            if stays && !set_apart {
                initial[gi].push(i);
                work.keep_id_for.insert(*id, old.entity);
            }
        }

        timer.phase("cluster");
        // 6. Cluster.
        let mut cache: HashMap<(usize, usize), PairCheck> = HashMap::new();
        let profiles: Vec<Option<Profile>> = (0..nodes.len())
            .map(|n| profile_of(n, &nodes, &existing, &work))
            .collect();
        let clusters = cluster::cluster(
            nodes.len(),
            &initial,
            &edges,
            link_weight,
            review_weight,
            &constraints,
            |x, y| {
                *cache.entry((x.min(y), x.max(y))).or_insert_with(|| {
                    match (&profiles[x], &profiles[y]) {
                        (Some(a), Some(b)) => model.weight_and_conflict(a, b),
                        _ => PairCheck {
                            weight: f64::MIN / 4.0,
                            conflict: false,
                            informative: false,
                        },
                    }
                })
            },
        );

        timer.phase("resolve");
        // 7. Resolve clusters into entities: a cluster keeps the oldest entity id it contains;
        // the other entities in it are merged into that one.
        let mut by_root: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (n, &r) in clusters.root.iter().enumerate() {
            by_root.entry(r).or_default().push(n);
        }
        let mut node_entity: Vec<EntityId> = vec![0; nodes.len()];
        let mut entity_members: BTreeMap<EntityId, Vec<usize>> = BTreeMap::new();
        let mut merged_away: Vec<(EntityId, EntityId)> = Vec::new();
        let mut claimed: HashSet<EntityId> = HashSet::new();
        for group in by_root.values() {
            let mut ids: BTreeSet<EntityId> = BTreeSet::new();
            for &n in group {
                match nodes[n] {
                    Node::Existing(id) => {
                        if let Some(e) = work.entity_of(id) {
                            ids.insert(e);
                        }
                    }
                    Node::Batch(id) => {
                        if let Some(&e) = work.keep_id_for.get(&id) {
                            ids.insert(e);
                        }
                    }
                }
            }
            // Skip clusters that are exactly an untouched existing entity.
            let has_batch = group.iter().any(|&n| matches!(nodes[n], Node::Batch(_)));
            if !has_batch && ids.len() == 1 {
                let e = *ids.first().expect("one id");
                let whole = work
                    .entities
                    .get(&e)
                    .is_some_and(|w| w.members.len() == group.len());
                if whole && !claimed.contains(&e) {
                    claimed.insert(e);
                    continue;
                }
            }
            if !has_batch && ids.is_empty() {
                continue;
            }
            // An id already kept by another part of a split entity is not kept twice: the
            // part that comes first (smallest node) keeps it, the others get new ids.
            ids.retain(|e| !claimed.contains(e));
            claimed.extend(ids.iter().copied());
            let survivor = match ids.first() {
                Some(&e) => e,
                None => {
                    next_entity += 1;
                    next_entity - 1
                }
            };
            for &other in ids.iter().skip(1) {
                merged_away.push((other, survivor));
            }
            for &n in group {
                node_entity[n] = survivor;
            }
            entity_members.insert(survivor, group.clone());
        }

        timer.phase("build");
        // 8. Build the write set.
        let mut ws = WriteSet::default();
        let mut changed_entities: BTreeMap<EntityId, Entity> = BTreeMap::new();
        let mut records_out: HashMap<RecordId, StoredRecord> = HashMap::new();
        let mut rebuilt: Vec<(EntityId, Vec<(RecordId, StoredRecord)>)> = Vec::new();
        for (eid, group) in &entity_members {
            let mut members: Vec<(RecordId, StoredRecord)> = Vec::new();
            for &n in group {
                match nodes[n] {
                    Node::Batch(id) => {
                        let mut r = incoming[n].2.clone();
                        r.entity = *eid;
                        members.push((id, r));
                    }
                    Node::Existing(id) => {
                        // Candidates were read without their values: a member to write comes
                        // whole from its loaded entity, or from the store.
                        let r = match work.member(id) {
                            Some(r) => Some(r.clone()),
                            None => self.store.record(id)?,
                        };
                        if let Some(mut r) = r {
                            if r.entity != *eid {
                                r.entity = *eid;
                                records_out.insert(id, r.clone());
                            }
                            members.push((id, r));
                        }
                    }
                }
            }
            members.sort_by_key(|(id, _)| *id);
            rebuilt.push((*eid, members));
        }
        // Survivorship of every rebuilt entity, on every core.
        let built: Vec<Entity> = rebuilt
            .par_iter()
            .map(|(eid, members)| {
                let prev = work.entities.get(eid).map(|w| w.entity.clone());
                build_entity(config, *eid, prev, members, now)
            })
            .collect();
        for ((eid, members), entity) in rebuilt.into_iter().zip(built) {
            for (id, r) in members {
                if matches!(nodes[node_of[&id]], Node::Batch(_)) {
                    records_out.insert(id, r);
                }
            }
            changed_entities.insert(eid, entity);
        }
        for (gone, into) in &merged_away {
            if let Some(w) = work.entities.get(gone) {
                let mut e = w.entity.clone();
                e.state = EntityState::Merged { into: *into };
                e.version += 1;
                e.members.clear();
                e.golden.clear();
                e.consent.clear();
                e.updated_at = now;
                changed_entities.insert(*gone, e);
            }
        }
        // Entities that lost members but were not rebuilt above (all members gone, or only
        // removals happened).
        for (eid, w) in &work.entities {
            if changed_entities.contains_key(eid) {
                continue;
            }
            let members: Vec<(RecordId, StoredRecord)> =
                w.members.iter().map(|(k, v)| (*k, v.clone())).collect();
            let mut e = build_entity(config, *eid, Some(w.entity.clone()), &members, now);
            if members.is_empty() {
                e.state = EntityState::Deleted;
            }
            if e.members != w.entity.members
                || e.golden != w.entity.golden
                || e.consent != w.entity.consent
            {
                changed_entities.insert(*eid, e);
            }
        }
        for (i, id, _) in &deleted {
            outcomes[*i] = Some(ChangeOutcome {
                record: *id,
                status: Status::Deleted,
                entity: None,
            });
            ws.deleted_records.push(*id);
        }
        for (n, (i, id, _, old)) in incoming.iter().enumerate() {
            outcomes[*i] = Some(ChangeOutcome {
                record: *id,
                status: if reevaluated.contains(id) {
                    Status::Reevaluated
                } else if old.is_some() {
                    Status::Updated
                } else {
                    Status::Inserted
                },
                entity: Some(node_entity[n]),
            });
        }
        let now_ms = now;
        for (e, reason) in &clusters.review {
            let (a, b) = (nodes[e.a].id(), nodes[e.b].id());
            ws.review.push(ReviewItem {
                a,
                b,
                match_probability: crate::matching::probability(e.weight),
                match_weight: e.weight,
                reason: reason.to_string(),
                queued_at: now_ms,
                skips: 0,
            });
        }
        for (_, id, _) in &deleted {
            records_out.remove(id);
        }
        ws.records = records_out.into_iter().collect();
        ws.records.sort_by_key(|(id, _)| *id);
        // Change events, one per changed entity, in the same transaction.
        let mut source_keys: HashMap<RecordId, SourceKey> = HashMap::new();
        let mut name = |id: RecordId, r: &StoredRecord| {
            source_keys.entry(id).or_insert_with(|| SourceKey {
                source: r.source.clone(),
                key: r.key.clone(),
            });
        };
        for (_, id, r, _) in &incoming {
            name(*id, r);
        }
        for (_, id, r) in &deleted {
            name(*id, r);
        }
        for (id, r) in &existing {
            name(*id, r);
        }
        for w in work.entities.values() {
            for (id, r) in &w.members {
                name(*id, r);
            }
        }
        ws.events = changed_entities
            .values()
            .map(|e| {
                change_event(
                    e,
                    work.entities.get(&e.id).map(|w| &w.entity),
                    &source_keys,
                    now,
                )
            })
            .collect();
        ws.entities = changed_entities.into_values().collect();
        ws.next_entity = next_entity;
        ws.next_record_seq = next_seq;
        ws.record_delta =
            incoming.iter().filter(|x| x.3.is_none()).count() as i64 - deleted.len() as i64;
        ws.decisions = pending.decisions.clone();
        // A decision on a queued pair: keep what the matcher leaned to (the item goes below).
        for d in &pending.decisions {
            if let Some(item) = self.store.review_item(&d.key())? {
                ws.review_outcomes.push(ReviewOutcome {
                    a: d.a,
                    b: d.b,
                    match_probability: item.match_probability,
                    reason: item.reason,
                    verdict: d.verdict,
                    at: d.at,
                });
            }
        }
        ws.revoked = revoked;
        ws.actor = pending.actor.clone();
        ws.reason = pending.reason.clone();

        // Queued pairs of changed or deleted records are stale: drop them (pairs re-scored in
        // this batch were queued again above).
        for id in incoming
            .iter()
            .map(|x| x.1)
            .chain(deleted.iter().map(|x| x.1))
        {
            ws.review_done.extend(self.store.review_keys_of(id)?);
        }

        if pending.erase {
            let erased: Vec<(RecordId, &StoredRecord)> =
                deleted.iter().map(|(_, id, r)| (*id, r)).collect();
            let report = self.redact_erased(&mut ws, &erased)?;
            *pending.erased.lock().expect("pending") = Some(report);
        }

        timer.phase("commit");
        // 9. Commit: sled first (the truth), then the derived index tagged with the batch seq.
        let drafts = crate::audit::drafts();
        ws.audit = drafts.iter().map(crate::audit::Draft::stored).collect();
        let seq = self.store.commit(&ws)?;
        drafts.iter().for_each(crate::audit::Draft::mark_committed);
        for (i, (_, id, _, old)) in incoming.iter().enumerate() {
            self.index.upsert(*id, &batch_keys[i], old.is_some())?;
        }
        for (_, id, _) in &deleted {
            self.index.delete(*id);
        }
        self.index.publish(seq)?;
        tf_guard.keep();
        if !ws.events.is_empty() {
            self.changes.send_replace(self.store.last_change_seq()?);
            self.store.prune_changes(self.config.change_retention)?;
        }
        let phases = timer.finish();
        self.metrics.batch(&phases);
        *self.last_phases.lock().expect("phase lock") = phases;
        for (_, _, rec) in &deleted {
            self.metrics.deleted(&rec.source, 1);
        }
        // A superseded change reports where its record ended up after the batch.
        let mut outcomes: Vec<ChangeOutcome> = outcomes
            .into_iter()
            .map(|o| o.expect("every change has an outcome"))
            .collect();
        for i in 0..outcomes.len() {
            if outcomes[i].status == Status::Superseded {
                outcomes[i].entity = outcomes[last[&outcomes[i].record]].entity;
            }
        }
        let mut ingested: HashMap<(&str, &'static str), u64> = HashMap::new();
        for (o, source) in outcomes.iter().zip(&upsert_sources) {
            if let Some(source) = source {
                let outcome = match o.status {
                    Status::Inserted => "inserted",
                    Status::Updated => "updated",
                    Status::Unchanged => "unchanged",
                    Status::Superseded => "superseded",
                    _ => "other",
                };
                *ingested.entry((source, outcome)).or_default() += 1;
            }
        }
        for ((source, outcome), n) in ingested {
            self.metrics.ingested(source, outcome, n);
        }
        Ok(outcomes)
    }

    /// Copies the store as stored (sealed values and the wrapped data key with them) into a new
    /// database at `dir` while no batch commits (the writer lock is held for the copy); returns
    /// the record count, live entity count and change sequence the copy holds.
    pub fn copy_store_to(&self, dir: &std::path::Path) -> Result<(u64, u64, u64), EngineError> {
        let _guard = self.write_lock.lock().expect("writer lock");
        self.store.copy_raw_to(dir)?;
        Ok((
            self.store.record_count()?,
            self.store.entity_count()?,
            self.store.last_change_seq()?,
        ))
    }

    /// Commits a write set with the audit entries of the requests that caused it
    /// ([`crate::audit::drafts`]) in the same transaction.
    fn commit_audited(&self, mut ws: WriteSet) -> Result<u64, EngineError> {
        let drafts = crate::audit::drafts();
        ws.audit = drafts.iter().map(crate::audit::Draft::stored).collect();
        let seq = self.store.commit(&ws)?;
        drafts.iter().for_each(crate::audit::Draft::mark_committed);
        Ok(seq)
    }

    /// Erases a source record or every record of an entity (right to be forgotten), in one
    /// transaction: the records leave sled, the index, the review queue and the term counts;
    /// decisions naming them are removed; every past change event that names them (or an
    /// entity left with no record) is redacted in place, keeping its sequence; an entity left
    /// with no record ends with an `erased` event carrying no personal data. Stale copies in
    /// sled's log stay sealed under the data key until `goldrec compact` rewrites the store
    /// under a new one.
    pub fn erase(
        &self,
        target: &ErasureTarget,
        actor: &str,
        reason: &str,
    ) -> Result<Erasure, EngineError> {
        let ids: Vec<RecordId> = match target {
            ErasureTarget::Record { source, key } => {
                let id = RecordId::of(source, key);
                if self.store.record(id)?.is_none() {
                    return Err(EngineError::RecordNotFound {
                        source_name: source.clone(),
                        key: key.clone(),
                    });
                }
                vec![id]
            }
            ErasureTarget::Entity(id) => self.live_entity(*id, None)?.members,
        };
        let pending = Pending {
            actor: actor.to_string(),
            reason: reason.to_string(),
            erase: true,
            ..Pending::default()
        };
        self.apply_with(ids.into_iter().map(Change::Delete).collect(), &pending)?;
        let mut report = pending
            .erased
            .into_inner()
            .expect("pending")
            .unwrap_or_default();
        report.last_change = self.store.last_change_seq()?;
        Ok(report)
    }

    /// Completes the write set of an erasure of `erased`: their decisions revoked, entities
    /// left empty marked erased with nothing personal kept, their keys left out of this
    /// batch's events, and the past events naming them redacted.
    fn redact_erased(
        &self,
        ws: &mut WriteSet,
        erased: &[(RecordId, &StoredRecord)],
    ) -> Result<Erasure, EngineError> {
        let ids: HashSet<RecordId> = erased.iter().map(|(id, _)| *id).collect();
        let keys: HashSet<(String, String)> = erased
            .iter()
            .map(|(_, r)| (r.source.clone(), r.key.clone()))
            .collect();
        let mut report = Erasure {
            records: ids.len(),
            ..Erasure::default()
        };
        let revoked_before = ws.revoked.len();
        for id in &ids {
            for d in self.store.decisions_of(*id)? {
                ws.revoked.push(d.key());
            }
        }
        ws.revoked.sort_unstable();
        ws.revoked.dedup();
        report.decisions_removed = ws.revoked.len() - revoked_before;
        let mut gone = HashSet::new();
        for e in &mut ws.entities {
            if e.state == EntityState::Deleted {
                e.golden.clear();
                e.overrides.clear();
                gone.insert(e.id);
                report.entities_erased.push(e.id);
            } else {
                report.entities_changed.push(e.id);
            }
        }
        let named = |k: &SourceKey| keys.contains(&(k.source.clone(), k.key.clone()));
        for ev in &mut ws.events {
            ev.members.retain(|k| !named(k));
            ev.joined.retain(|k| !named(k));
            ev.left.retain(|k| !named(k));
            if ev.kind == ChangeKind::Deleted {
                ev.kind = ChangeKind::Erased;
                ev.golden.clear();
            }
        }
        let redaction = self.store.redacted_pages(&ids, &keys, &gone)?;
        ws.redacted_pages = redaction.pages;
        for t in redaction.tombstones {
            // Entities of this batch were cleared above; earlier tombstones are rewritten.
            if !ws.entities.iter().any(|e| e.id == t.id) {
                ws.entities.push(t);
            }
        }
        ws.forgotten_pairs = self.store.pairs_naming(&ids)?;
        report.events_redacted = ws
            .redacted_pages
            .iter()
            .flat_map(|(_, p)| &p.entries)
            .filter(|x| x.event.redacted)
            .count();
        Ok(report)
    }

    /// Scores a record against the stored entities without storing anything: candidate entities
    /// with the best-scoring member pair explained, best first.
    pub fn probe(&self, profile: &Profile, limit: usize) -> Result<Vec<ProbeMatch>, EngineError> {
        let keys = keys::keys(&self.config, profile);
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let postings: HashMap<&str, Option<Vec<RecordId>>> = refs
            .iter()
            .copied()
            .zip(self.index.postings(&refs, blocking::GENERIC_KEY_RECORDS)?)
            .collect();
        // The probe is a batch of one: its own keys count in the bucket sizes.
        let own = BatchIndex::build(std::slice::from_ref(&keys));
        let (cands, _) = blocking::rank(
            &keys,
            0,
            self.config.matching.max_candidates.max(limit),
            &|k| postings.get(k).and_then(|p| p.as_deref()),
            &own,
            &|_| false,
        );
        let mut best: HashMap<EntityId, ProbeMatch> = HashMap::new();
        for id in cands {
            let Some(r) = self.store.record(id)? else {
                continue;
            };
            let explanation = self.model.explain(profile, &r.profile);
            let decision = if explanation.decision_probability >= self.model.link_threshold {
                "link"
            } else if explanation.decision_probability >= self.model.review_threshold {
                "review"
            } else {
                "distinct"
            };
            let m = ProbeMatch {
                entity: r.entity,
                record: id,
                source: r.source.clone(),
                key: r.key.clone(),
                decision,
                explanation,
            };
            match best.get(&r.entity) {
                Some(b) if b.explanation.match_weight >= m.explanation.match_weight => {}
                _ => {
                    best.insert(r.entity, m);
                }
            }
        }
        let mut out: Vec<ProbeMatch> = best.into_values().collect();
        out.sort_by(|a, b| {
            b.explanation
                .match_weight
                .total_cmp(&a.explanation.match_weight)
                .then(a.entity.cmp(&b.entity))
        });
        out.truncate(limit);
        Ok(out)
    }
}

/// Term-frequency counts applied for a batch in progress; reverted on drop unless kept.
struct TermGuard<'a> {
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

    fn keep(mut self) {
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
struct PhaseTimer {
    records: usize,
    started: std::time::Instant,
    last: std::time::Instant,
    current: &'static str,
    phases: Vec<(&'static str, f64)>,
}

impl PhaseTimer {
    fn new(records: usize) -> Self {
        let now = std::time::Instant::now();
        Self {
            records,
            started: now,
            last: now,
            current: "start",
            phases: Vec::new(),
        }
    }

    fn phase(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.phases
            .push((self.current, (now - self.last).as_secs_f64() * 1e3));
        self.last = now;
        self.current = name;
    }

    fn finish(mut self) -> Vec<(&'static str, f64)> {
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

/// The change event of one entity, compared with its state before the batch.
fn change_event(
    e: &Entity,
    prev: Option<&Entity>,
    names: &HashMap<RecordId, SourceKey>,
    now: i64,
) -> ChangeEvent {
    let named = |ids: &mut dyn Iterator<Item = &RecordId>| -> Vec<SourceKey> {
        ids.filter_map(|id| names.get(id).cloned()).collect()
    };
    let before: BTreeSet<RecordId> = prev
        .map(|p| p.members.iter().copied().collect())
        .unwrap_or_default();
    let after: BTreeSet<RecordId> = e.members.iter().copied().collect();
    let joined = named(&mut after.difference(&before));
    let left = named(&mut before.difference(&after));
    let golden: BTreeMap<String, String> = e
        .golden
        .iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    let mut changed: Vec<String> = Vec::new();
    let empty = BTreeMap::new();
    let old = prev.map_or(&empty, |p| &p.golden);
    for k in golden.keys().chain(old.keys()) {
        if golden.get(k) != old.get(k).map(|g| &g.value) && !changed.contains(k) {
            changed.push(k.clone());
        }
    }
    // Consent after the change (a merged or deleted entity has none: unknown), and the state
    // before of every purpose that changed.
    let consent_of = |x: &Entity| -> BTreeMap<String, crate::consent::ConsentState> {
        if x.state != EntityState::Active {
            return BTreeMap::new();
        }
        x.consent
            .iter()
            .map(|(p, c)| (p.clone(), c.state))
            .collect()
    };
    let consent = consent_of(e);
    let was = prev.map(consent_of).unwrap_or_default();
    let unknown = crate::consent::ConsentState::Unknown;
    let consent_was: BTreeMap<String, crate::consent::ConsentState> = consent
        .keys()
        .chain(was.keys())
        .filter_map(|p| {
            let before = *was.get(p).unwrap_or(&unknown);
            let after = *consent.get(p).unwrap_or(&unknown);
            (before != after).then(|| (p.clone(), before))
        })
        .collect();
    let (kind, merged_into) = match (&e.state, prev) {
        (EntityState::Merged { into }, _) => (ChangeKind::Merged, Some(*into)),
        (EntityState::Deleted, _) => (ChangeKind::Deleted, None),
        (EntityState::Active, None) => (ChangeKind::Created, None),
        (EntityState::Active, Some(_)) if !joined.is_empty() => (ChangeKind::RecordJoined, None),
        (EntityState::Active, Some(_)) if !left.is_empty() => (ChangeKind::RecordLeft, None),
        (EntityState::Active, Some(_)) => (ChangeKind::Updated, None),
    };
    ChangeEvent {
        seq: 0,
        entity_id: e.id,
        kind,
        version: e.version,
        at: now,
        golden,
        members: named(&mut e.members.iter()),
        changed,
        joined,
        left,
        merged_into,
        redacted: false,
        consent,
        consent_was,
    }
}

/// Builds an entity from its members: golden record by survivorship, version bumped.
fn build_entity(
    config: &Config,
    id: EntityId,
    prev: Option<Entity>,
    members: &[(RecordId, StoredRecord)],
    now: i64,
) -> Entity {
    let refs: Vec<(RecordId, &StoredRecord)> = members.iter().map(|(id, r)| (*id, r)).collect();
    let mut golden = survivorship::golden(config, &refs);
    let consent = crate::consent::golden(&config.purposes, &refs);
    let ids: Vec<RecordId> = members.iter().map(|(id, _)| *id).collect();
    let overrides = prev
        .as_ref()
        .map(|p| p.overrides.clone())
        .unwrap_or_default();
    // Steward pins win over survivorship; lineage keeps what survivorship found.
    for (attr, o) in &overrides {
        let lineage = golden.get(attr).and_then(|g| g.lineage.clone());
        golden.insert(
            attr.clone(),
            GoldenValue {
                value: o.value.clone(),
                lineage,
                steward: Some(o.clone()),
            },
        );
    }
    match prev {
        Some(mut e) => {
            e.version += 1;
            e.state = EntityState::Active;
            e.members = ids;
            e.golden = golden;
            e.consent = consent;
            e.updated_at = now;
            e
        }
        None => Entity {
            id,
            version: 1,
            state: EntityState::Active,
            members: ids,
            golden,
            overrides,
            consent,
            created_at: now,
            updated_at: now,
            history: Vec::new(),
        },
    }
}

#[derive(Debug, Clone, Copy)]
enum Node {
    Batch(RecordId),
    Existing(RecordId),
}

impl Node {
    fn id(&self) -> RecordId {
        match self {
            Self::Batch(id) | Self::Existing(id) => *id,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Candidate {
    Batch(usize),
    Existing(RecordId),
}

/// Touched entities of a batch, loaded with their member records.
struct Work<'a> {
    store: &'a Store,
    entities: BTreeMap<EntityId, WorkEntity>,
    member_entity: HashMap<RecordId, EntityId>,
    /// Updated records that stay in their entity.
    keep_id_for: HashMap<RecordId, EntityId>,
}

struct WorkEntity {
    entity: Entity,
    members: BTreeMap<RecordId, StoredRecord>,
}

impl<'a> Work<'a> {
    fn new(store: &'a Store) -> Self {
        Self {
            store,
            entities: BTreeMap::new(),
            member_entity: HashMap::new(),
            keep_id_for: HashMap::new(),
        }
    }

    fn load(&mut self, id: EntityId) -> Result<(), StoreError> {
        if self.entities.contains_key(&id) {
            return Ok(());
        }
        let Some(entity) = self.store.entity(id)? else {
            return Ok(());
        };
        let mut members = BTreeMap::new();
        for rid in &entity.members {
            if let Some(r) = self.store.record(*rid)? {
                self.member_entity.insert(*rid, id);
                members.insert(*rid, r);
            }
        }
        self.entities.insert(id, WorkEntity { entity, members });
        Ok(())
    }

    /// Loads several entities with their members, reading on every core.
    fn load_many(&mut self, mut ids: Vec<EntityId>) -> Result<(), StoreError> {
        ids.sort_unstable();
        ids.dedup();
        ids.retain(|id| !self.entities.contains_key(id));
        let store = self.store;
        let loaded: Vec<Option<(Entity, BTreeMap<RecordId, StoredRecord>)>> = ids
            .par_iter()
            .map(|&id| {
                let Some(entity) = store.entity(id)? else {
                    return Ok(None);
                };
                let mut members = BTreeMap::new();
                for rid in &entity.members {
                    if let Some(r) = store.record(*rid)? {
                        members.insert(*rid, r);
                    }
                }
                Ok(Some((entity, members)))
            })
            .collect::<Result<_, StoreError>>()?;
        for (entity, members) in loaded.into_iter().flatten() {
            let id = entity.id;
            for rid in members.keys() {
                self.member_entity.insert(*rid, id);
            }
            self.entities.insert(id, WorkEntity { entity, members });
        }
        Ok(())
    }

    fn remove_member(&mut self, entity: EntityId, id: RecordId) {
        if let Some(w) = self.entities.get_mut(&entity) {
            w.members.remove(&id);
        }
        self.member_entity.remove(&id);
    }

    fn member(&self, id: RecordId) -> Option<&StoredRecord> {
        self.entities
            .get(self.member_entity.get(&id)?)?
            .members
            .get(&id)
    }

    fn entity_of(&self, id: RecordId) -> Option<EntityId> {
        self.member_entity.get(&id).copied()
    }
}

/// A write job for the [`Committer`].
struct Job {
    changes: Vec<Change>,
    reply: mpsc::SyncSender<Result<Vec<ChangeOutcome>, String>>,
    /// Audit entries of the requests the changes come from, committed with them.
    audit: Vec<crate::audit::Draft>,
}

/// Group commit for concurrent writers: jobs queue on a channel and a single thread applies all
/// queued jobs as one batch (one sled flush, one tantivy commit), then answers each.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Job>,
}

impl Committer {
    /// Starts the writer thread.
    pub fn start(engine: Arc<Engine>) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("goldrec-writer".into())
            .spawn(move || {
                let max = engine.config.batch_size;
                while let Ok(first) = rx.recv() {
                    let mut jobs = vec![first];
                    let mut n = jobs[0].changes.len();
                    while n < max {
                        match rx.try_recv() {
                            Ok(j) => {
                                n += j.changes.len();
                                jobs.push(j);
                            }
                            Err(_) => break,
                        }
                    }
                    let sizes: Vec<usize> = jobs.iter().map(|j| j.changes.len()).collect();
                    let mut all = Vec::with_capacity(n);
                    let mut replies = Vec::new();
                    let mut drafts = Vec::new();
                    for j in jobs {
                        all.extend(j.changes);
                        replies.push(j.reply);
                        drafts.extend(j.audit);
                    }
                    match crate::audit::with_drafts(drafts, || engine.apply(all)) {
                        Ok(outcomes) => {
                            let mut it = outcomes.into_iter();
                            for (size, reply) in sizes.into_iter().zip(replies) {
                                let _ = reply.send(Ok(it.by_ref().take(size).collect()));
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "batch failed");
                            for reply in replies {
                                let _ = reply.send(Err(e.to_string()));
                            }
                        }
                    }
                }
            })
            .expect("spawning the writer thread");
        Self { tx }
    }

    /// Submits changes and waits (blocking) until they are durable.
    pub fn submit(&self, changes: Vec<Change>) -> Result<Vec<ChangeOutcome>, EngineError> {
        let (reply, rx) = mpsc::sync_channel(1);
        self.tx
            .send(Job {
                changes,
                reply,
                audit: crate::audit::drafts(),
            })
            .map_err(|_| EngineError::Closed)?;
        match rx.recv() {
            Ok(Ok(o)) => Ok(o),
            Ok(Err(msg)) => Err(EngineError::Batch(msg)),
            Err(_) => Err(EngineError::Closed),
        }
    }
}
