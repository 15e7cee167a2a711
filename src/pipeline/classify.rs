//! Stage 1, classify: which change of a batch counts for each record (the last one), and what
//! it does to the stored record: insert, update, re-evaluate, delete, or nothing.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;

use super::{Change, ChangeOutcome, Status};
use crate::ingest::RecordId;
use crate::store::{StoreError, StoredRecord};

/// A record entering matching: inserted, updated or re-evaluated.
#[derive(Debug)]
pub(crate) struct Incoming {
    /// Position of its change in the batch.
    pub pos: usize,
    /// Record id.
    pub id: RecordId,
    /// The record as it will be stored (entity still to decide).
    pub record: StoredRecord,
    /// The stored version before this batch.
    pub old: Option<StoredRecord>,
    /// Matched again without a change to its content.
    pub reevaluated: bool,
}

/// A stored record the batch deletes.
#[derive(Debug)]
pub(crate) struct Deleted {
    /// Position of its change in the batch.
    pub pos: usize,
    /// Record id.
    pub id: RecordId,
    /// The stored version.
    pub record: StoredRecord,
}

/// What the batch does, record by record.
#[derive(Debug, Default)]
pub(crate) struct Classified {
    /// Outcomes known already (superseded, unchanged, not found), by change position.
    pub outcomes: Vec<Option<ChangeOutcome>>,
    /// Position of the change that counts for each record.
    pub last: HashMap<RecordId, usize>,
    /// Records entering matching.
    pub incoming: Vec<Incoming>,
    /// Records deleted.
    pub deleted: Vec<Deleted>,
    /// Next free record sequence once the inserts are numbered.
    pub next_seq: u64,
    /// Source of each upsert by change position, for the ingest counters.
    pub upsert_sources: Vec<Option<String>>,
}

impl Classified {
    /// Records that leave their current place: changed, re-evaluated or deleted.
    pub fn moving(&self) -> HashSet<RecordId> {
        self.incoming
            .iter()
            .map(|x| x.id)
            .chain(self.deleted.iter().map(|x| x.id))
            .collect()
    }
}

/// The record a change is about.
pub(crate) fn record_of(c: &Change) -> RecordId {
    match c {
        Change::Upsert(r, _) => r.id(),
        Change::Delete(id) | Change::Reevaluate(id) => *id,
    }
}

/// Classifies a batch: the last change per record wins, the others are superseded; an upsert
/// with the stored content is a no-op. `read` gives a record's stored version (called on every
/// core, once per record); inserts are numbered from `next_seq`.
pub(crate) fn classify(
    changes: Vec<Change>,
    next_seq: u64,
    now: i64,
    read: impl Fn(RecordId) -> Result<Option<StoredRecord>, StoreError> + Sync,
) -> Result<Classified, StoreError> {
    let mut last: HashMap<RecordId, usize> = HashMap::new();
    for (i, c) in changes.iter().enumerate() {
        last.insert(record_of(c), i);
    }
    let upsert_sources = changes
        .iter()
        .map(|c| match c {
            Change::Upsert(r, _) => Some(r.source.clone()),
            _ => None,
        })
        .collect();
    let mut stored: Vec<Option<StoredRecord>> = changes
        .par_iter()
        .enumerate()
        .map(|(i, c)| {
            let id = record_of(c);
            if last[&id] == i {
                read(id)
            } else {
                Ok(None)
            }
        })
        .collect::<Result<_, _>>()?;
    let mut out = Classified {
        outcomes: vec![None; changes.len()],
        next_seq,
        upsert_sources,
        ..Classified::default()
    };
    let outcome = |record, status, entity| {
        Some(ChangeOutcome {
            record,
            status,
            entity,
        })
    };
    for (i, c) in changes.into_iter().enumerate() {
        let id = record_of(&c);
        if last[&id] != i {
            out.outcomes[i] = outcome(id, Status::Superseded, None);
            continue;
        }
        let existing = stored[i].take();
        match c {
            Change::Upsert(rec, profile) => {
                let hash = hex(&rec.content_hash());
                if let Some(old) = &existing {
                    if old.hash == hash {
                        out.outcomes[i] = outcome(id, Status::Unchanged, Some(old.entity));
                        continue;
                    }
                }
                let seq = match &existing {
                    Some(o) => o.seq,
                    None => {
                        out.next_seq += 1;
                        out.next_seq - 1
                    }
                };
                let record = StoredRecord {
                    source: rec.source,
                    key: rec.key,
                    values: rec.values,
                    updated_at: rec.updated_at,
                    hash,
                    entity: 0,
                    seq,
                    ingested_at: existing.as_ref().map_or(now, |o| o.ingested_at),
                    changed_at: now,
                    profile,
                };
                out.incoming.push(Incoming {
                    pos: i,
                    id,
                    record,
                    old: existing,
                    reevaluated: false,
                });
            }
            Change::Reevaluate(_) => match existing {
                Some(old) => out.incoming.push(Incoming {
                    pos: i,
                    id,
                    record: old.clone(),
                    old: Some(old),
                    reevaluated: true,
                }),
                None => out.outcomes[i] = outcome(id, Status::NotFound, None),
            },
            Change::Delete(_) => match existing {
                Some(record) => out.deleted.push(Deleted { pos: i, id, record }),
                None => out.outcomes[i] = outcome(id, Status::NotFound, None),
            },
        }
    }
    out.last = last;
    Ok(out)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::profile::Profile;
    use crate::ingest::SourceRecord;

    fn upsert(key: &str, name: &str) -> Change {
        Change::Upsert(
            SourceRecord {
                source: "crm".into(),
                key: key.into(),
                values: [("name".to_string(), name.to_string())].into(),
                updated_at: None,
            },
            Profile::default(),
        )
    }

    fn stored(change: &Change, entity: u64, seq: u64) -> StoredRecord {
        let Change::Upsert(r, p) = change else {
            panic!("an upsert")
        };
        StoredRecord {
            source: r.source.clone(),
            key: r.key.clone(),
            values: r.values.clone(),
            updated_at: None,
            hash: hex(&r.content_hash()),
            entity,
            seq,
            ingested_at: 1,
            changed_at: 1,
            profile: p.clone(),
        }
    }

    #[test]
    fn last_change_wins_and_same_content_is_unchanged() {
        let kept = upsert("A", "Ann Lee");
        let store: HashMap<RecordId, StoredRecord> = [
            (RecordId::of("crm", "A"), stored(&kept, 7, 3)),
            (RecordId::of("crm", "B"), stored(&upsert("B", "Bo"), 8, 4)),
        ]
        .into();
        let changes = vec![
            upsert("B", "Bo Chan"),
            kept,
            upsert("B", "Bo Li"),
            upsert("C", "Cy"),
            Change::Delete(RecordId::of("crm", "Z")),
            Change::Reevaluate(RecordId::of("crm", "Y")),
        ];
        let c = classify(changes, 10, 99, |id| Ok(store.get(&id).cloned())).unwrap();
        let status: Vec<Option<Status>> = c
            .outcomes
            .iter()
            .map(|o| o.as_ref().map(|o| o.status))
            .collect();
        assert_eq!(
            status,
            [
                Some(Status::Superseded),
                Some(Status::Unchanged),
                None,
                None,
                Some(Status::NotFound),
                Some(Status::NotFound)
            ]
        );
        assert_eq!(c.outcomes[1].as_ref().unwrap().entity, Some(7));
        // The update keeps its sequence and arrival time; the insert takes the next one.
        let b = &c.incoming[0];
        assert_eq!((b.pos, b.record.seq, b.record.ingested_at), (2, 4, 1));
        assert_eq!(b.record.values["name"], "Bo Li");
        assert!(b.old.is_some() && !b.reevaluated);
        let new = &c.incoming[1];
        assert_eq!(
            (new.pos, new.record.seq, new.record.ingested_at),
            (3, 10, 99)
        );
        assert_eq!(c.next_seq, 11);
        assert_eq!(c.moving().len(), 2);
    }

    #[test]
    fn deletes_and_reevaluations_of_stored_records() {
        let a = upsert("A", "Ann");
        let store: HashMap<RecordId, StoredRecord> =
            [(RecordId::of("crm", "A"), stored(&a, 5, 1))].into();
        let id = RecordId::of("crm", "A");
        let c = classify(vec![Change::Reevaluate(id)], 2, 0, |id| {
            Ok(store.get(&id).cloned())
        })
        .unwrap();
        assert!(c.incoming[0].reevaluated);
        assert_eq!(c.incoming[0].record.entity, 5);
        let c = classify(vec![a, Change::Delete(id)], 2, 0, |id| {
            Ok(store.get(&id).cloned())
        })
        .unwrap();
        assert_eq!(c.outcomes[0].as_ref().unwrap().status, Status::Superseded);
        assert_eq!(c.deleted.len(), 1);
        assert_eq!(c.deleted[0].record.entity, 5);
        assert_eq!(c.next_seq, 2);
    }
}
