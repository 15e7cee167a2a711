//! The one place that orchestrates a batch: ingest -> block -> score -> cluster -> survive ->
//! store -> index.
//!
//! [`Engine::prepare`] maps and normalizes raw records (in parallel, outside any lock);
//! [`Engine::apply`] takes the prepared changes of one batch under the writer lock, finds
//! candidates (committed ones in tantivy, the batch's own through a [`BatchIndex`]), scores
//! them in parallel, clusters, recomputes the touched golden records and commits everything in
//! one sled transaction and one flush, then one tantivy commit. [`Committer`] groups concurrent
//! HTTP writes into such batches.

mod activity;

pub use activity::ActivityResults;

use std::collections::{HashMap, HashSet};
use std::sync::{mpsc, Arc, Mutex};

use rayon::prelude::*;
use serde::Serialize;

use crate::blocking::{self, keys, BatchIndex, BlockingIndex, IndexError};
use crate::config::Config;
use crate::ingest::profile::{self, Profile};
use crate::ingest::{self, Position, RawRecord, RecordError, RecordId, SourceRecord};
use crate::matching::{Explanation, Model};
use crate::pipeline::{
    self, build_entity, change_event, end_entity, names_of, PhaseTimer, StageError, Staged,
};
pub use crate::pipeline::{Change, ChangeOutcome, Status, Summary};
use crate::store::{
    ChangeKind, Decision, Entity, EntityId, EntityState, LinkVerdict, Override, ReviewItem,
    SourceKey, Store, StoreError, StoredRecord, Verdict, WriteSet,
};

impl From<StageError> for EngineError {
    fn from(e: StageError) -> Self {
        match e {
            StageError::Store(e) => Self::Store(e),
            StageError::Index(e) => Self::Index(e),
        }
    }
}

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
    /// Quantile cut points of the classification's quantile bands, and when computed.
    quantiles: Mutex<(crate::classify::Quantiles, std::time::Instant)>,
    /// Wall time of the last commit's reclassification, ns (benches read it).
    reclassify_ns: std::sync::atomic::AtomicU64,
}

/// [`EngineError::VersionConflict`] when the caller expected another version.
fn expect_version(id: EntityId, expected: Option<u64>, current: u64) -> Result<(), EngineError> {
    match expected {
        Some(v) if v != current => Err(EngineError::VersionConflict {
            id,
            expected: v,
            current,
        }),
        _ => Ok(()),
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
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
            config.cache_mb,
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
            quantiles: Mutex::new((
                crate::classify::Quantiles::default(),
                std::time::Instant::now(),
            )),
            reclassify_ns: std::sync::atomic::AtomicU64::new(0),
        };
        engine.load_terms()?;
        engine.load_quantiles()?;
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

    /// Merges the blocking index's segments into one in the background when a bulk load left
    /// several (see [`BlockingIndex::merge_in_background`]); `true` when a merge started. A
    /// server calls it once at start.
    pub fn optimize_index(&self) -> Result<bool, EngineError> {
        Ok(self.index.merge_in_background()?)
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

    /// Closes the engine after a load that inserted `inserted` and updated `updated` records;
    /// when the load was bulk (it wrote at least `ingest.repack_after` records, and at least as
    /// many as the store held before it), the store is then repacked into a fresh database
    /// ([`crate::store::compact::repack`]: sled keeps ~1.8x the live bytes after a bulk load).
    /// An error closing is the outer error. `None`: no repack was due; else the repack's
    /// outcome (the load is committed either way).
    pub fn close_after_load(
        self,
        inserted: u64,
        updated: u64,
    ) -> Result<Option<Result<crate::store::compact::Compacted, StoreError>>, EngineError> {
        self.close()?;
        let before = self.store.record_count()?.saturating_sub(inserted);
        let config = Arc::clone(&self.config);
        drop(self);
        let written = inserted + updated;
        let bulk = config.repack_after > 0 && written >= config.repack_after && written >= before;
        Ok(bulk.then(|| crate::store::compact::repack(&config)))
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
        expect_version(id, expected, e.version)?;
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
        let mut ws = self.write_set(actor, String::new())?;
        ws.verdicts.push(v.clone());
        self.commit(ws, &[], &[])?;
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
            profile::normalize_value(kind, &o.value, None, None, probe, None).map_err(
                |reason| EngineError::InvalidValue(format!("attribute {attr:?}: {reason}")),
            )?;
        }
        let _guard = self.write_lock.lock().expect("writer lock");
        let prev = self.live_entity(id, expected_version)?;
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
        let refs: Vec<(RecordId, &StoredRecord)> = members.iter().map(|(id, r)| (*id, r)).collect();
        let entity = build_entity(&self.config, id, Some(base), &refs, now);
        let reason = match entity.overrides.get(attr) {
            Some(o) => format!("override of {attr}: {}", o.reason),
            None => format!("override of {attr} removed"),
        };
        let mut ws = self.write_set(actor, reason)?;
        ws.events
            .push(change_event(&entity, Some(&prev), &names_of(&members), now));
        ws.entities.push(entity.clone());
        self.commit(ws, &[], &[])?;
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

    /// Matches every stored record again from scratch (normalized again from its supplied values)
    /// with the current model, in batches.
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
            let mut ws = self.write_set("rematch", "full re-match".into())?;
            for e in self.store.entities() {
                let e = e?;
                if e.state != EntityState::Active {
                    continue;
                }
                let ended = end_entity(&e, EntityState::Deleted, now);
                ws.events
                    .push(change_event(&ended, Some(&e), &HashMap::new(), now));
                ws.entities.push(ended);
            }
            self.commit(ws, &[], &[])?;
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
                    // Normalized again, so a store written by an older normalization (a
                    // changed tokenizer, a new name rule) is matched as new records would be;
                    // a value the current rules reject keeps its stored form.
                    let profile = self
                        .config
                        .sources
                        .get(&rec.source)
                        .and_then(|src| profile::build(&self.config, src, &rec).ok())
                        .unwrap_or(r.profile);
                    Change::Upsert(rec, profile)
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
        let Some(mut item) = self.store.review_item(&ReviewItem::key(a, b))? else {
            return Ok(false);
        };
        item.queued_at = now_ms();
        item.skips += 1;
        let mut ws = self.write_set("", String::new())?;
        ws.review.push(item);
        self.commit(ws, &[], &[])?;
        Ok(true)
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
        // In chunks, so the documents are made on every core (one record at a time would
        // hand every record to the thread pool alone).
        let mut n = 0;
        let mut chunk = Vec::with_capacity(REINDEX_CHUNK);
        for r in self.store.records() {
            let (id, rec) = r?;
            chunk.push((id, keys::keys(&self.config, &rec.profile), false));
            if chunk.len() == REINDEX_CHUNK {
                self.index.upsert_many(&chunk)?;
                n += chunk.len();
                chunk.clear();
            }
        }
        self.index.upsert_many(&chunk)?;
        n += chunk.len();
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
    /// transaction, and honours them while clustering this batch: the stages of
    /// [`crate::pipeline`] under the writer lock, then [`Engine::commit`].
    fn apply_with(
        &self,
        mut changes: Vec<Change>,
        pending: &Pending,
    ) -> Result<Vec<ChangeOutcome>, EngineError> {
        let _guard = self.write_lock.lock().expect("writer lock");
        for &(id, version) in &pending.expected {
            let current = self.store.entity(id)?.map_or(0, |e| e.version);
            expect_version(id, Some(version), current)?;
        }
        let revoked = self.check_decisions(pending, &mut changes)?;
        let steward = pipeline::Steward::new(
            &self.store,
            &pending.decisions,
            revoked,
            &pending.actor,
            &pending.reason,
        );
        let mut timer = PhaseTimer::new(changes.len());
        let sources = pipeline::Sources {
            config: &self.config,
            model: &self.model,
            store: &self.store,
            index: &self.index,
        };
        let Staged {
            mut ws,
            outcomes,
            index_upserts,
            deleted,
            upsert_sources,
            terms,
        } = pipeline::run(&sources, &steward, changes, now_ms(), &mut timer)?;
        if pending.erase {
            let erased: Vec<(RecordId, &StoredRecord)> =
                deleted.iter().map(|(id, r)| (*id, r)).collect();
            let report = self.redact_erased(&mut ws, &erased)?;
            *pending.erased.lock().expect("pending") = Some(report);
        }

        timer.phase("commit");
        let deleted_ids: Vec<RecordId> = deleted.iter().map(|(id, _)| *id).collect();
        ws.erasing = pending.erase;
        self.commit(ws, &index_upserts, &deleted_ids)?;
        terms.keep();
        let phases = timer.finish();
        self.metrics.batch(&phases);
        *self.last_phases.lock().expect("phase lock") = phases;
        for (_, rec) in &deleted {
            self.metrics.deleted(&rec.source, 1);
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

    /// The one write path, under the writer lock: commits a write set with the audit entries
    /// of the requests that caused it ([`crate::audit::drafts`]) in one sled transaction and
    /// flush, then brings the blocking index in step (`indexed` records with their keys,
    /// `unindexed` records out) tagged with the batch sequence, and wakes feed readers.
    fn commit(
        &self,
        mut ws: WriteSet,
        indexed: &[(RecordId, Vec<String>, bool)],
        unindexed: &[RecordId],
    ) -> Result<u64, EngineError> {
        let orphaned = self.settle_activity(&mut ws)?;
        let classes_changed = ws.classes.len();
        let drafts = crate::audit::drafts();
        ws.audit = drafts.iter().map(crate::audit::Draft::stored).collect();
        let seq = self.store.commit(&ws)?;
        drafts.iter().for_each(crate::audit::Draft::mark_committed);
        let started = std::time::Instant::now();
        self.index.upsert_many(indexed)?;
        for id in unindexed {
            self.index.delete(*id);
        }
        let written = started.elapsed();
        self.index.publish(seq)?;
        tracing::debug!(
            records = indexed.len(),
            write_ms = written.as_millis() as u64,
            publish_ms = (started.elapsed() - written).as_millis() as u64,
            "batch indexed"
        );
        if !ws.events.is_empty() {
            self.changes.send_replace(self.store.last_change_seq()?);
            self.store.prune_changes(self.config.change_retention)?;
        }
        self.refresh_quantiles(classes_changed)?;
        // Activity waiting for a customer these records may be, and activity whose record
        // was deleted: resolved again now that the records are matchable.
        let mut waiting = self.waiting_for(&ws)?;
        waiting.extend(orphaned);
        waiting.sort_unstable();
        waiting.dedup();
        if !waiting.is_empty() {
            self.reresolve(waiting)?;
        }
        Ok(seq)
    }

    /// An empty write set on the current counters, for writes outside matching.
    fn write_set(&self, actor: &str, reason: String) -> Result<WriteSet, EngineError> {
        Ok(WriteSet {
            next_entity: self.store.next_entity()?,
            next_record_seq: self.store.next_record_seq()?,
            actor: actor.to_string(),
            reason,
            ..WriteSet::default()
        })
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
            // Profile, entity, source and key are all a probe needs (no values, no hash).
            let Some(r) = self.store.record_for_matching(id)? else {
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

/// A write job for the [`Committer`].
struct Job {
    changes: Vec<Change>,
    reply: mpsc::SyncSender<Result<Vec<ChangeOutcome>, String>>,
    /// Audit entries of the requests the changes come from, committed with them.
    audit: Vec<crate::audit::Draft>,
}

/// Records indexed at once by [`Engine::reindex`].
const REINDEX_CHUNK: usize = 10_000;

/// Groups of at most this many changes are applied on the writer thread alone.
const SMALL_GROUP: usize = 256;

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
                // Small groups run on this thread alone: waking the worker pool for a few
                // records costs more than it saves. This thread is then a rayon worker of
                // that one-thread pool, whose parallel work it would keep to itself: large
                // groups run in a pool as wide as the machine.
                let alone = rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .use_current_thread()
                    .build()
                    .ok();
                let wide = rayon::ThreadPoolBuilder::new()
                    .thread_name(|i| format!("goldrec-writer-{i}"))
                    .build()
                    .ok();
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
                    let apply = || crate::audit::with_drafts(drafts, || engine.apply(all));
                    let applied = match (&alone, &wide) {
                        (Some(pool), _) if n <= SMALL_GROUP => pool.install(apply),
                        (Some(_), Some(pool)) => pool.install(apply),
                        _ => apply(),
                    };
                    match applied {
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
