//! Stage 7, write set: everything the batch writes, built from the resolution: the records with
//! their entities, every rebuilt entity with its golden record (survivorship, on every core),
//! tombstones of entities merged away or left empty, review items, one change event per changed
//! entity, and the outcome of every change.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rayon::prelude::*;

use super::classify::Classified;
use super::graph::{Graph, Node};
use super::resolve::Resolution;
use super::working_set::WorkingSet;
use super::{ChangeOutcome, Status, Steward};
use crate::config::Config;
use crate::ingest::RecordId;
use crate::store::{
    ChangeEvent, ChangeKind, Entity, EntityId, EntityState, GoldenValue, ReviewItem, ReviewOutcome,
    SourceKey, StoreError, StoredRecord, WriteSet,
};
use crate::survivorship;

/// Builds the write set of a batch and fills in the outcome of every change that entered
/// matching or was deleted.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build(
    config: &Config,
    steward: &Steward,
    batch: &mut Classified,
    graph: &Graph,
    resolution: Resolution,
    work: &WorkingSet,
    existing: &HashMap<RecordId, StoredRecord>,
    now: i64,
) -> Result<WriteSet, StoreError> {
    let store = work.store();
    let nodes = &graph.nodes;
    let mut ws = WriteSet::default();
    let mut changed_entities: BTreeMap<EntityId, Entity> = BTreeMap::new();
    let mut records_out: HashMap<RecordId, StoredRecord> = HashMap::new();
    // Committed members not in the working set (records of entities a batch record joins)
    // are read whole, on every core, before survivorship (they were read one at a time).
    let to_read: Vec<RecordId> = resolution
        .entity_members
        .values()
        .flatten()
        .filter_map(|&n| match nodes[n] {
            Node::Existing(id) if work.member(id).is_none() => Some(id),
            _ => None,
        })
        .collect();
    let read: HashMap<RecordId, StoredRecord> = to_read
        .into_par_iter()
        .filter_map(|id| store.record(id).map(|r| r.map(|r| (id, r))).transpose())
        .collect::<Result<_, _>>()?;
    // Survivorship reads the members where they are (the batch, the working set, the records
    // just read); only the records to write are copied: the batch's, and committed ones that
    // move to another entity.
    let mut rebuilt: Vec<(EntityId, Vec<(RecordId, &StoredRecord)>)> = Vec::new();
    for (eid, group) in &resolution.entity_members {
        let mut members: Vec<(RecordId, &StoredRecord)> = Vec::new();
        for &n in group {
            match nodes[n] {
                Node::Batch(id) => {
                    let r = &batch.incoming[n].record;
                    let mut out = r.clone();
                    out.entity = *eid;
                    records_out.insert(id, out);
                    members.push((id, r));
                }
                Node::Existing(id) => {
                    // Candidates were read without their values: a member comes whole from
                    // its loaded entity, or from the store.
                    if let Some(r) = work.member(id).or_else(|| read.get(&id)) {
                        if r.entity != *eid {
                            let mut out = r.clone();
                            out.entity = *eid;
                            records_out.insert(id, out);
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
    for ((eid, _), entity) in rebuilt.into_iter().zip(built) {
        changed_entities.insert(eid, entity);
    }
    for (gone, into) in &resolution.merged_away {
        if let Some(w) = work.entities.get(gone) {
            changed_entities.insert(
                *gone,
                end_entity(&w.entity, EntityState::Merged { into: *into }, now),
            );
        }
    }
    // Entities that lost members but were not rebuilt above (all members gone, or only
    // removals happened).
    for (eid, w) in &work.entities {
        if changed_entities.contains_key(eid) {
            continue;
        }
        let members: Vec<(RecordId, &StoredRecord)> =
            w.members.iter().map(|(k, v)| (*k, v)).collect();
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
    for x in &batch.deleted {
        batch.outcomes[x.pos] = Some(ChangeOutcome {
            record: x.id,
            status: Status::Deleted,
            entity: None,
        });
        ws.deleted_records.push(x.id);
        records_out.remove(&x.id);
    }
    for (n, x) in batch.incoming.iter().enumerate() {
        batch.outcomes[x.pos] = Some(ChangeOutcome {
            record: x.id,
            status: if x.reevaluated {
                Status::Reevaluated
            } else if x.old.is_some() {
                Status::Updated
            } else {
                Status::Inserted
            },
            entity: Some(resolution.node_entity[n]),
        });
    }
    for (e, reason) in &resolution.review {
        let (a, b) = (nodes[e.a].id(), nodes[e.b].id());
        ws.review.push(ReviewItem {
            a,
            b,
            match_probability: crate::matching::probability(e.weight),
            match_weight: e.weight,
            reason: reason.to_string(),
            queued_at: now,
            skips: 0,
        });
    }
    ws.records = records_out.into_iter().collect();
    ws.records.sort_by_key(|(id, _)| *id);
    // Change events, one per changed entity, in the same transaction.
    let mut names: HashMap<RecordId, SourceKey> = HashMap::new();
    let mut name = |id: RecordId, r: &StoredRecord| {
        names.entry(id).or_insert_with(|| SourceKey {
            source: r.source.clone(),
            key: r.key.clone(),
        });
    };
    for x in &batch.incoming {
        name(x.id, &x.record);
    }
    for x in &batch.deleted {
        name(x.id, &x.record);
    }
    for (id, r) in existing {
        name(*id, r);
    }
    for w in work.entities.values() {
        for (id, r) in &w.members {
            name(*id, r);
        }
    }
    ws.events = changed_entities
        .values()
        .map(|e| change_event(e, work.entities.get(&e.id).map(|w| &w.entity), &names, now))
        .collect();
    ws.entities = changed_entities.into_values().collect();
    ws.next_entity = resolution.next_entity;
    ws.next_record_seq = batch.next_seq;
    ws.record_delta = batch.incoming.iter().filter(|x| x.old.is_none()).count() as i64
        - batch.deleted.len() as i64;
    ws.decisions = steward.decisions.to_vec();
    // A decision on a queued pair: keep what the matcher leaned to (the item goes below).
    for d in steward.decisions {
        if let Some(item) = store.review_item(&d.key())? {
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
    ws.revoked = steward.revoked.clone();
    ws.actor = steward.actor.to_string();
    ws.reason = steward.reason.to_string();
    // Queued pairs of changed or deleted records are stale: drop them (pairs re-scored in
    // this batch were queued again above). A new record has none (a deleted record's pairs
    // left the queue with it): only stored ones are looked up, on every core.
    let stale: Vec<Vec<[u8; 32]>> = batch
        .incoming
        .iter()
        .filter(|x| x.old.is_some())
        .map(|x| x.id)
        .chain(batch.deleted.iter().map(|x| x.id))
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|id| store.review_keys_of(id))
        .collect::<Result<_, _>>()?;
    ws.review_done.extend(stale.into_iter().flatten());
    Ok(ws)
}

/// An entity ended (merged away or deleted): members, golden values and consent cleared,
/// version bumped; overrides and history stay.
pub(crate) fn end_entity(e: &Entity, state: EntityState, now: i64) -> Entity {
    let mut e = e.clone();
    e.state = state;
    e.version += 1;
    e.members.clear();
    e.golden.clear();
    e.consent.clear();
    e.updated_at = now;
    e
}

/// Builds an entity from its members: golden record by survivorship, version bumped.
pub(crate) fn build_entity(
    config: &Config,
    id: EntityId,
    prev: Option<Entity>,
    members: &[(RecordId, &StoredRecord)],
    now: i64,
) -> Entity {
    let mut golden = survivorship::golden(config, members);
    let consent = crate::consent::golden(&config.purposes, members);
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

/// The source and key of every member, for change events.
pub(crate) fn names_of(members: &[(RecordId, StoredRecord)]) -> HashMap<RecordId, SourceKey> {
    members
        .iter()
        .map(|(id, r)| {
            (
                *id,
                SourceKey {
                    source: r.source.clone(),
                    key: r.key.clone(),
                },
            )
        })
        .collect()
}

/// The change event of one entity, compared with its state before the batch.
pub(crate) fn change_event(
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
        classification: BTreeMap::new(),
        classification_was: None,
    }
}
