//! The engine's side of activity: ingest (map, resolve the customer, commit), what every
//! commit does for activity (the activity of deleted records re-resolved or kept
//! unresolved, erased with an erasure; touched entities reclassified), re-resolution of
//! unresolved activity when a matching customer arrives, and the customer file.

use std::collections::{BTreeMap, HashMap, HashSet};

use rayon::prelude::*;

use super::{now_ms, Engine, EngineError};
use crate::activity::{
    self, Activity, ActivityOutcome, ActivityStatus, ActivityWrite, ResolvedBy, StoredActivity,
};
use crate::blocking::keys;
use crate::classify::{ClassWrite, Classification, Quantiles};
use crate::ingest::profile::Profile;
use crate::ingest::{Item, Position, RecordError, RecordId};
use crate::store::{ChangeEvent, ChangeKind, EntityId, EntityState, SourceKey, WriteSet};

/// Outcomes of an activity batch, in payload order.
pub type ActivityResults = Vec<(Position, Result<ActivityOutcome, RecordError>)>;

/// Classified entities above which quantile cut points are refreshed only once a minute.
const QUANTILES_EAGER: usize = 5_000;

impl Engine {
    /// Whether `source` is an activity source.
    pub fn is_activity_source(&self, source: &str) -> bool {
        self.config.activity_sources.contains_key(source)
    }

    /// Ingests a batch of activity records of one activity source: each is mapped (errors per
    /// record), upserted by key (an unchanged record is a no-op), attached to the identity
    /// record it names or that a match probe of its identifying fields links it to, or kept
    /// unresolved; the touched customers are reclassified in the same commit.
    pub fn ingest_activity(
        &self,
        source: &str,
        items: Vec<Item>,
    ) -> Result<ActivityResults, EngineError> {
        let src = self
            .config
            .activity_sources
            .get(source)
            .ok_or_else(|| EngineError::UnknownSource(source.to_string()))?;
        let config = &self.config;
        let mapped: Vec<(Position, Result<activity::Mapped, RecordError>)> = items
            .into_par_iter()
            .map(|(position, raw)| {
                let r = raw
                    .map_err(|reason| RecordError {
                        position,
                        key: None,
                        field: None,
                        reason,
                    })
                    .and_then(|raw| activity::map(config, src, position, &raw));
                (position, r)
            })
            .collect();
        let rejected = mapped.iter().filter(|(_, r)| r.is_err()).count();
        if rejected > 0 {
            self.metrics.rejected(source, rejected as u64);
        }
        let _guard = self.write_lock.lock().expect("writer lock");
        // The last record of a key wins within the batch.
        let mut last: HashMap<RecordId, usize> = HashMap::new();
        for (i, (_, r)) in mapped.iter().enumerate() {
            if let Ok(m) = r {
                last.insert(activity::activity_id(source, &m.activity.key), i);
            }
        }
        let now = now_ms();
        let mut ws = self.write_set("", String::new())?;
        let mut out = Vec::with_capacity(mapped.len());
        for (i, (position, r)) in mapped.into_iter().enumerate() {
            let m = match r {
                Ok(m) => m,
                Err(e) => {
                    out.push((position, Err(e)));
                    continue;
                }
            };
            let id = activity::activity_id(source, &m.activity.key);
            if last.get(&id) != Some(&i) {
                out.push((
                    position,
                    Ok(ActivityOutcome {
                        activity_id: id,
                        status: ActivityStatus::Superseded,
                        record_id: None,
                        entity_id: None,
                        resolved_by: None,
                    }),
                ));
                continue;
            }
            let hash = m.activity.content_hash();
            let old = self.store.activity(id)?;
            if let Some(o) = old.as_ref().filter(|o| o.hash == hash) {
                out.push((
                    position,
                    Ok(ActivityOutcome {
                        activity_id: id,
                        status: ActivityStatus::Unchanged,
                        record_id: o.record,
                        entity_id: self.entity_of(o.record)?,
                        resolved_by: o.resolved_by,
                    }),
                ));
                continue;
            }
            let resolved = self.resolve_customer(&m.activity, m.profile.as_ref())?;
            let new = StoredActivity {
                activity: m.activity,
                record: resolved.map(|(r, _, _)| r),
                resolved_by: resolved.map(|(_, b, _)| b),
                hash,
                stored_at: now,
            };
            let unresolved_keys = if new.record.is_none() {
                self.unresolved_keys(&new.activity, m.profile.as_ref())
            } else {
                Vec::new()
            };
            let old_unresolved_keys = old
                .as_ref()
                .filter(|o| o.record.is_none())
                .map(|o| {
                    self.unresolved_keys(
                        &o.activity,
                        activity::profile_of(config, &o.activity).as_ref(),
                    )
                })
                .unwrap_or_default();
            out.push((
                position,
                Ok(ActivityOutcome {
                    activity_id: id,
                    status: if old.is_some() {
                        ActivityStatus::Updated
                    } else {
                        ActivityStatus::Inserted
                    },
                    record_id: new.record,
                    entity_id: resolved.map(|(_, _, e)| e),
                    resolved_by: new.resolved_by,
                }),
            ));
            ws.activity.push(ActivityWrite {
                id,
                old,
                new: Some(new),
                unresolved_keys,
                old_unresolved_keys,
            });
        }
        if !ws.activity.is_empty() {
            self.commit(ws, &[], &[])?;
        }
        Ok(out)
    }

    /// The live entity of an identity record.
    fn entity_of(&self, record: Option<RecordId>) -> Result<Option<EntityId>, EngineError> {
        match record {
            None => Ok(None),
            Some(r) => Ok(self.store.record(r)?.map(|r| r.entity)),
        }
    }

    /// The identity record an activity belongs to: the record it names, when stored; else the
    /// record a match probe of its identifying fields links it to, when one entity is linked.
    fn resolve_customer(
        &self,
        a: &Activity,
        profile: Option<&Profile>,
    ) -> Result<Option<(RecordId, ResolvedBy, EntityId)>, EngineError> {
        if let Some(c) = &a.customer {
            let id = RecordId::of(&c.source, &c.key);
            if let Some(r) = self.store.record(id)? {
                return Ok(Some((id, ResolvedBy::Key, r.entity)));
            }
        }
        let Some(p) = profile else { return Ok(None) };
        let found = self.probe(p, 2)?;
        let linked: Vec<_> = found.iter().filter(|m| m.decision == "link").collect();
        Ok(match linked.as_slice() {
            [one] => Some((one.record, ResolvedBy::Probe, one.entity)),
            _ => None,
        })
    }

    /// The `activity_unresolved` keys of an activity: the record it names and the blocking
    /// keys of its identifying fields.
    fn unresolved_keys(&self, a: &Activity, profile: Option<&Profile>) -> Vec<[u8; 8]> {
        let mut out = Vec::new();
        if let Some(c) = &a.customer {
            out.push(
                self.store
                    .ref_hash(&format!("r:{}", RecordId::of(&c.source, &c.key))),
            );
        }
        if let Some(p) = profile {
            for k in keys::keys(&self.config, p) {
                out.push(self.store.ref_hash(&format!("k:{k}")));
            }
        }
        out.sort_unstable();
        out.dedup();
        if out.is_empty() {
            // Nothing to be found by: filed under a constant so it is still listed.
            out.push(self.store.ref_hash("none"));
        }
        out
    }

    /// Part of [`Engine::commit`], before the store commit: the activity of deleted records
    /// leaves them (erased with an erasure, else kept unresolved), and every entity whose
    /// members or activity changed is reclassified. Returns the activity to re-resolve after
    /// the commit.
    pub(super) fn settle_activity(&self, ws: &mut WriteSet) -> Result<Vec<RecordId>, EngineError> {
        let mut again = Vec::new();
        let erasing = ws.erasing;
        for rid in ws.deleted_records.clone() {
            for aid in self.store.activity_ids_of(rid)? {
                if ws.activity.iter().any(|w| w.id == aid) {
                    continue;
                }
                let Some(a) = self.store.activity(aid)? else {
                    continue;
                };
                let write = if erasing {
                    ActivityWrite {
                        id: aid,
                        old: Some(a),
                        new: None,
                        unresolved_keys: Vec::new(),
                        old_unresolved_keys: Vec::new(),
                    }
                } else {
                    let profile = activity::profile_of(&self.config, &a.activity);
                    if profile.is_some() {
                        again.push(aid);
                    }
                    let unresolved_keys = self.unresolved_keys(&a.activity, profile.as_ref());
                    let mut new = a.clone();
                    new.record = None;
                    new.resolved_by = None;
                    ActivityWrite {
                        id: aid,
                        old: Some(a),
                        new: Some(new),
                        unresolved_keys,
                        old_unresolved_keys: Vec::new(),
                    }
                };
                ws.activity.push(write);
            }
            if erasing {
                // Unresolved activity that names the erased record is its customer's too.
                let h = self.store.ref_hash(&format!("r:{rid}"));
                for aid in self.store.unresolved_under(h)? {
                    if ws.activity.iter().any(|w| w.id == aid) {
                        continue;
                    }
                    let Some(a) = self.store.activity(aid)? else {
                        continue;
                    };
                    let old_unresolved_keys = self.unresolved_keys(
                        &a.activity,
                        activity::profile_of(&self.config, &a.activity).as_ref(),
                    );
                    ws.activity.push(ActivityWrite {
                        id: aid,
                        old: Some(a),
                        new: None,
                        unresolved_keys: Vec::new(),
                        old_unresolved_keys,
                    });
                }
            }
        }
        if self.config.classification.is_some() {
            let started = std::time::Instant::now();
            self.reclassify(ws, &[])?;
            self.reclassify_ns.store(
                started.elapsed().as_nanos() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        Ok(again)
    }

    /// Unresolved activity that the records of a committed write set may resolve.
    pub(super) fn waiting_for(&self, ws: &WriteSet) -> Result<Vec<RecordId>, EngineError> {
        if ws.records.is_empty() || self.store.unresolved_is_empty() {
            return Ok(Vec::new());
        }
        let mut hashes = HashSet::new();
        for (id, rec) in &ws.records {
            hashes.insert(self.store.ref_hash(&format!("r:{id}")));
            for k in keys::keys(&self.config, &rec.profile) {
                hashes.insert(self.store.ref_hash(&format!("k:{k}")));
            }
        }
        let mut out = Vec::new();
        for h in hashes {
            out.extend(self.store.unresolved_under(h)?);
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Tries to resolve unresolved activity again (after a commit that stored or removed
    /// identity records), committing the ones that found their customer.
    pub(super) fn reresolve(&self, ids: Vec<RecordId>) -> Result<(), EngineError> {
        let mut ws = self.write_set("", "activity re-resolved".into())?;
        for id in ids {
            let Some(a) = self.store.activity(id)? else {
                continue;
            };
            if a.record.is_some() {
                continue;
            }
            let profile = activity::profile_of(&self.config, &a.activity);
            let Some((record, by, _)) = self.resolve_customer(&a.activity, profile.as_ref())?
            else {
                continue;
            };
            let old_unresolved_keys = self.unresolved_keys(&a.activity, profile.as_ref());
            let mut new = a.clone();
            new.record = Some(record);
            new.resolved_by = Some(by);
            ws.activity.push(ActivityWrite {
                id,
                old: Some(a),
                new: Some(new),
                unresolved_keys: Vec::new(),
                old_unresolved_keys,
            });
        }
        if !ws.activity.is_empty() {
            self.commit(ws, &[], &[])?;
        }
        Ok(())
    }

    /// Reclassifies every entity whose members or activity `ws` changes, recording the
    /// changed classifications and their change events in `ws`.
    fn reclassify(&self, ws: &mut WriteSet, extra: &[EntityId]) -> Result<(), EngineError> {
        let Some(rules) = &self.config.classification else {
            return Ok(());
        };
        if ws.activity.is_empty() && extra.is_empty() && self.store.activity_is_empty() {
            // No activity anywhere: nothing to classify (identity-only loads).
            return Ok(());
        }
        let now = now_ms();
        let in_ws: HashMap<RecordId, EntityId> =
            ws.records.iter().map(|(id, r)| (*id, r.entity)).collect();
        let mut touched: Vec<EntityId> = ws.entities.iter().map(|e| e.id).collect();
        touched.extend_from_slice(extra);
        for w in &ws.activity {
            for r in [w.old.as_ref(), w.new.as_ref()]
                .into_iter()
                .flatten()
                .filter_map(|a| a.record)
            {
                match in_ws.get(&r) {
                    Some(e) => touched.push(*e),
                    None => {
                        if let Some(rec) = self.store.record(r)? {
                            touched.push(rec.entity);
                        }
                    }
                }
            }
        }
        touched.sort_unstable();
        touched.dedup();
        let q = self.quantiles.lock().expect("quantiles").0.clone();
        // Last position of each entity in the write set, and of its event.
        let written: HashMap<EntityId, usize> = ws
            .entities
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id, i))
            .collect();
        let events: HashMap<EntityId, usize> = ws
            .events
            .iter()
            .enumerate()
            .map(|(i, e)| (e.entity_id, i))
            .collect();
        let mut classified = Vec::new();
        let index = WsIndex::of(ws);
        for id in touched {
            let entity = match written.get(&id) {
                Some(i) => Some(ws.entities[*i].clone()),
                None => self.store.entity(id)?,
            };
            let old = self.store.classification(id)?;
            let Some(entity) = entity.filter(|e| e.state == EntityState::Active) else {
                if let Some(old) = old {
                    ws.classes.push(ClassWrite {
                        entity: id,
                        old_segments: old.segments,
                        new: None,
                    });
                }
                continue;
            };
            // Only new activity for an entity whose members stay: its stored metrics plus the
            // new activity's (no read of its other activity); otherwise recomputed from all.
            let added: Option<Vec<&Activity>> = match (&old, written.contains_key(&id)) {
                (Some(_), false) if extra.is_empty() => inserts_of(ws, &index, &entity.members),
                _ => None,
            };
            let metrics = match (added, &old) {
                (Some(new_acts), Some(o)) => o.metrics.merged(&rules.metrics(new_acts)),
                _ => {
                    let acts = self.activity_with(ws, &index, &entity.members)?;
                    rules.metrics(acts.iter().map(|(_, a)| &a.activity))
                }
            };
            if old.is_none() && metrics.interactions == 0 {
                // No activity and never classified: nothing to say yet (identity-only loads
                // write no classification).
                continue;
            }
            let new = rules.classify(&metrics, &q, now);
            let (old_values, old_segments, old_metrics) = match &old {
                Some(o) => (Some(o.values.clone()), o.segments.clone(), Some(&o.metrics)),
                None => (None, Vec::new(), None),
            };
            let values_changed = old_values.as_ref() != Some(&new.values);
            if !values_changed && old_metrics == Some(&new.metrics) && old_segments == new.segments
            {
                continue;
            }
            if values_changed {
                match events.get(&id) {
                    Some(i) => {
                        let ev = &mut ws.events[*i];
                        ev.classification = new.values.clone();
                        ev.classification_was = Some(old_values.unwrap_or_default());
                    }
                    // Written by this batch without an event (a rewritten tombstone): no
                    // new version.
                    None if written.contains_key(&id) => {}
                    None => {
                        classified.push(self.classified_event(&entity, &new, old_values, now)?);
                    }
                }
            }
            ws.classes.push(ClassWrite {
                entity: id,
                old_segments,
                new: Some(new),
            });
        }
        // New versions go right after the entities with events (one entity per event).
        let at = ws.events.len();
        let (entities, evs): (Vec<_>, Vec<_>) = classified.into_iter().unzip();
        ws.entities.splice(at..at, entities);
        ws.events.extend(evs);
        Ok(())
    }

    /// A `classified` event with a new version of the entity, for an entity the write set
    /// does not otherwise change.
    fn classified_event(
        &self,
        entity: &crate::store::Entity,
        new: &Classification,
        old: Option<BTreeMap<String, String>>,
        now: i64,
    ) -> Result<(crate::store::Entity, ChangeEvent), EngineError> {
        let mut e = entity.clone();
        e.version += 1;
        e.updated_at = now;
        let mut members = Vec::with_capacity(e.members.len());
        for m in &e.members {
            if let Some(r) = self.store.record(*m)? {
                members.push(SourceKey {
                    source: r.source,
                    key: r.key,
                });
            }
        }
        let ev = ChangeEvent {
            seq: 0,
            entity_id: e.id,
            kind: ChangeKind::Classified,
            version: e.version,
            at: now,
            golden: e
                .golden
                .iter()
                .map(|(k, v)| (k.clone(), v.value.clone()))
                .collect(),
            members,
            changed: Vec::new(),
            joined: Vec::new(),
            left: Vec::new(),
            merged_into: None,
            redacted: false,
            consent: e
                .consent
                .iter()
                .map(|(p, c)| (p.clone(), c.state))
                .collect(),
            consent_was: BTreeMap::new(),
            classification: new.values.clone(),
            classification_was: Some(old.unwrap_or_default()),
        };
        Ok((e, ev))
    }

    /// The activity of `members` as it will be once `ws` is committed.
    fn activity_with(
        &self,
        ws: &WriteSet,
        index: &WsIndex,
        members: &[RecordId],
    ) -> Result<Vec<(RecordId, StoredActivity)>, EngineError> {
        let mut out: Vec<(RecordId, StoredActivity)> = Vec::new();
        for m in members {
            for id in self.store.activity_ids_of(*m)? {
                if index.ids.contains(&id) {
                    continue;
                }
                if let Some(a) = self.store.activity(id)? {
                    out.push((id, a));
                }
            }
            for &i in index.by_record.get(m).into_iter().flatten() {
                let w = &ws.activity[i];
                if let Some(n) = w.new.as_ref().filter(|n| n.record == Some(*m)) {
                    out.push((w.id, n.clone()));
                }
            }
        }
        Ok(out)
    }

    /// Refreshes the quantile cut points after a commit that changed classifications: at
    /// once while the store is small, else at most once a minute.
    pub(super) fn refresh_quantiles(&self, changed: usize) -> Result<(), EngineError> {
        let Some(rules) = &self.config.classification else {
            return Ok(());
        };
        if changed == 0 || !rules.uses_quantiles() {
            return Ok(());
        }
        let (over, at) = {
            let q = self.quantiles.lock().expect("quantiles");
            (q.0.over, q.1)
        };
        if over > QUANTILES_EAGER && at.elapsed() < std::time::Duration::from_secs(60) {
            return Ok(());
        }
        self.load_quantiles()
    }

    /// Computes the quantile cut points from the stored classifications.
    pub(super) fn load_quantiles(&self) -> Result<(), EngineError> {
        let mut metrics = Vec::new();
        for c in self.store.classifications() {
            metrics.push(c?.1.metrics);
        }
        let q = Quantiles::of(metrics.iter(), now_ms());
        *self.quantiles.lock().expect("quantiles") = (q, std::time::Instant::now());
        Ok(())
    }

    /// Reclassifies every live entity (time moves customers between bands: a running server
    /// does it every `[classification] refresh`, the CLI with `goldrec reclassify`); returns
    /// how many changed. The writer lock is taken per chunk of entities, so writes go on
    /// between chunks; an entity merged or deleted meanwhile loses its classification there.
    pub fn reclassify_all(&self) -> Result<usize, EngineError> {
        if self.config.classification.is_none() {
            return Ok(0);
        }
        // An identity-only store: nothing to classify and nothing to take back (the daily
        // refresh must not read every entity and its members' activity for nothing).
        if self.store.activity_is_empty() && self.store.classes_are_empty() {
            return Ok(0);
        }
        let ids: Vec<EntityId> = {
            let _guard = self.write_lock.lock().expect("writer lock");
            self.load_quantiles()?;
            self.store
                .entities()
                .filter_map(|e| e.ok())
                .filter(|e| e.state == EntityState::Active)
                .map(|e| e.id)
                .collect()
        };
        let mut changed = 0;
        for chunk in ids.chunks(5_000) {
            let _guard = self.write_lock.lock().expect("writer lock");
            let mut ws = self.write_set("system", "reclassified".into())?;
            self.reclassify(&mut ws, chunk)?;
            changed += ws.classes.len();
            if !ws.classes.is_empty() {
                self.commit(ws, &[], &[])?;
            }
        }
        Ok(changed)
    }

    /// Starts the thread that reclassifies every customer each `[classification] refresh`
    /// while the engine lives (it holds a weak reference and ends once the engine is dropped).
    /// Does nothing without classification rules or with `refresh = "off"`.
    pub fn start_refresh(engine: &std::sync::Arc<Engine>) {
        let Some(every) = engine
            .config
            .classification
            .as_ref()
            .and_then(|r| r.refresh_ms)
        else {
            return;
        };
        let every = std::time::Duration::from_millis(every as u64);
        let weak = std::sync::Arc::downgrade(engine);
        let step = every.min(std::time::Duration::from_millis(200));
        let spawned = std::thread::Builder::new()
            .name("reclassify".into())
            .spawn(move || {
                let mut last = std::time::Instant::now();
                loop {
                    std::thread::sleep(step);
                    let Some(engine) = weak.upgrade() else { return };
                    if last.elapsed() < every {
                        continue;
                    }
                    last = std::time::Instant::now();
                    match engine.reclassify_all() {
                        Ok(n) => tracing::info!(changed = n, "customers reclassified"),
                        Err(e) => tracing::warn!(error = %e, "reclassifying customers"),
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the reclassify thread");
        }
    }

    /// Wall time of the last commit's reclassification of the customers it touched.
    pub fn last_reclassify(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(
            self.reclassify_ns
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// The stored classification of an entity.
    pub fn classification(&self, id: EntityId) -> Result<Option<Classification>, EngineError> {
        Ok(self.store.classification(id)?)
    }

    /// Members of a segment after entity `after`, at most `limit`.
    pub fn segment_members(
        &self,
        name: &str,
        after: Option<EntityId>,
        limit: usize,
    ) -> Result<Vec<EntityId>, EngineError> {
        Ok(self.store.segment_members(name, after, limit)?)
    }

    /// Whether an entity is in a segment.
    pub fn in_segment(&self, name: &str, id: EntityId) -> Result<bool, EngineError> {
        Ok(self.store.in_segment(name, id)?)
    }

    /// The activity attached to an entity's members.
    pub fn activity_of(
        &self,
        members: &[RecordId],
    ) -> Result<Vec<(RecordId, StoredActivity)>, EngineError> {
        Ok(self.store.activity_of(members)?)
    }

    /// Every stored activity (for the upkeep report and checks).
    pub fn activities(
        &self,
    ) -> impl Iterator<Item = Result<(RecordId, StoredActivity), EngineError>> + '_ {
        self.store
            .activities()
            .map(|r| r.map_err(EngineError::from))
    }
}

/// The activity `ws` adds to `members` when every write touching them is an insert (no
/// update, move or removal); `None` otherwise.
fn inserts_of<'w>(
    ws: &'w WriteSet,
    index: &WsIndex,
    members: &[RecordId],
) -> Option<Vec<&'w Activity>> {
    let mut writes: Vec<usize> = members
        .iter()
        .flat_map(|m| index.by_record.get(m).into_iter().flatten().copied())
        .collect();
    writes.sort_unstable();
    writes.dedup();
    let members: HashSet<RecordId> = members.iter().copied().collect();
    let on = |a: Option<&StoredActivity>| {
        a.and_then(|a| a.record)
            .is_some_and(|r| members.contains(&r))
    };
    let mut out = Vec::new();
    for w in writes.into_iter().map(|i| &ws.activity[i]) {
        let (was, is) = (on(w.old.as_ref()), on(w.new.as_ref()));
        match (&w.old, &w.new) {
            _ if !was && !is => {}
            (None, Some(n)) => out.push(&n.activity),
            _ => return None,
        }
    }
    Some(out)
}

/// A write set's activity writes by identity record (before or after) and by id.
struct WsIndex {
    by_record: HashMap<RecordId, Vec<usize>>,
    ids: HashSet<RecordId>,
}

impl WsIndex {
    fn of(ws: &WriteSet) -> Self {
        let mut by_record: HashMap<RecordId, Vec<usize>> = HashMap::new();
        for (i, w) in ws.activity.iter().enumerate() {
            for r in [w.old.as_ref(), w.new.as_ref()]
                .into_iter()
                .flatten()
                .filter_map(|a| a.record)
            {
                let v = by_record.entry(r).or_default();
                if v.last() != Some(&i) {
                    v.push(i);
                }
            }
        }
        Self {
            by_record,
            ids: ws.activity.iter().map(|w| w.id).collect(),
        }
    }
}
