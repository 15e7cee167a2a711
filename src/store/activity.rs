//! The activity and classification trees: reads, and the batches a commit applies.
//!
//! `activity`: activity id (16) -> [`StoredActivity`] (JSON, sealed);
//! `activity_by_record`: identity record id (16) + activity id (16) -> empty;
//! `activity_unresolved`: reference hash (8) + activity id (16) -> empty;
//! `classes`: entity id (u64 BE) -> [`Classification`] (JSON, sealed);
//! `segments`: segment name + 0x00 + entity id (u64 BE) -> empty.

use super::{sled_err, trees, EntityId, Store, StoreError, WriteSet};
use crate::activity::StoredActivity;
use crate::classify::Classification;
use crate::ingest::RecordId;

/// The sled batches of a write set's activity and classification changes.
#[derive(Default)]
pub(super) struct Batches {
    pub activity: sled::Batch,
    pub by_record: sled::Batch,
    pub unresolved: sled::Batch,
    pub classes: sled::Batch,
    pub segments: sled::Batch,
}

fn segment_key(name: &str, id: EntityId) -> Vec<u8> {
    let mut k = Vec::with_capacity(name.len() + 9);
    k.extend_from_slice(name.as_bytes());
    k.push(0);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

impl Store {
    /// An 8-byte reference hash of a customer reference (a record id or a blocking key), the
    /// prefix of `activity_unresolved`; keyed by the data key in an encrypted store.
    pub fn ref_hash(&self, reference: &str) -> [u8; 8] {
        let h = match &self.sealer {
            Some(s) => blake3::hash(s.ref_term(reference).as_bytes()),
            None => blake3::hash(reference.as_bytes()),
        };
        h.as_bytes()[..8].try_into().expect("8 bytes")
    }

    /// A stored activity by id.
    pub fn activity(&self, id: RecordId) -> Result<Option<StoredActivity>, StoreError> {
        match self
            .activity
            .get(id.0)
            .map_err(sled_err("reading activity"))?
        {
            None => Ok(None),
            Some(v) => {
                let v = self.unseal(trees::ACTIVITY, &id.0, &v)?;
                super::decode(trees::ACTIVITY, &v).map(Some)
            }
        }
    }

    /// Ids of the activity attached to an identity record.
    pub fn activity_ids_of(&self, record: RecordId) -> Result<Vec<RecordId>, StoreError> {
        self.activity_by_record
            .scan_prefix(record.0)
            .keys()
            .map(|k| {
                let k = k.map_err(sled_err("reading activity by record"))?;
                Ok(RecordId(k[16..32].try_into().expect("32-byte key")))
            })
            .collect()
    }

    /// The activity attached to identity records, with ids.
    pub fn activity_of(
        &self,
        records: &[RecordId],
    ) -> Result<Vec<(RecordId, StoredActivity)>, StoreError> {
        let mut out = Vec::new();
        for r in records {
            for id in self.activity_ids_of(*r)? {
                if let Some(a) = self.activity(id)? {
                    out.push((id, a));
                }
            }
        }
        Ok(out)
    }

    /// Unresolved activity ids filed under a reference hash.
    pub fn unresolved_under(&self, hash: [u8; 8]) -> Result<Vec<RecordId>, StoreError> {
        self.activity_unresolved
            .scan_prefix(hash)
            .keys()
            .map(|k| {
                let k = k.map_err(sled_err("reading unresolved activity"))?;
                Ok(RecordId(k[8..24].try_into().expect("24-byte key")))
            })
            .collect()
    }

    /// Whether no activity waits for its customer.
    pub fn unresolved_is_empty(&self) -> bool {
        self.activity_unresolved.is_empty()
    }

    /// Whether no activity is stored.
    pub fn activity_is_empty(&self) -> bool {
        self.activity.is_empty()
    }

    /// True when no entity has a stored classification.
    pub fn classes_are_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// Number of stored activity records (a scan).
    pub fn activity_count(&self) -> usize {
        self.activity.len()
    }

    /// Every stored activity, in id order.
    pub fn activities(
        &self,
    ) -> impl Iterator<Item = Result<(RecordId, StoredActivity), StoreError>> + '_ {
        self.activity.iter().map(|kv| {
            let (k, v) = kv.map_err(sled_err("scanning activity"))?;
            let id = RecordId(k.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                tree: trees::ACTIVITY,
                reason: "key is not 16 bytes".into(),
            })?);
            let v = self.unseal(trees::ACTIVITY, &k, &v)?;
            Ok((id, super::decode(trees::ACTIVITY, &v)?))
        })
    }

    /// An entity's stored classification.
    pub fn classification(&self, id: EntityId) -> Result<Option<Classification>, StoreError> {
        let k = id.to_be_bytes();
        match self
            .classes
            .get(k)
            .map_err(sled_err("reading a classification"))?
        {
            None => Ok(None),
            Some(v) => {
                let v = self.unseal(trees::CLASSES, &k, &v)?;
                super::decode(trees::CLASSES, &v).map(Some)
            }
        }
    }

    /// Every stored classification, by entity id.
    pub fn classifications(
        &self,
    ) -> impl Iterator<Item = Result<(EntityId, Classification), StoreError>> + '_ {
        self.classes.iter().map(|kv| {
            let (k, v) = kv.map_err(sled_err("scanning classifications"))?;
            let id = super::key_u64(&k);
            let v = self.unseal(trees::CLASSES, &k, &v)?;
            Ok((id, super::decode(trees::CLASSES, &v)?))
        })
    }

    /// Members of a segment after entity `after`, in id order, at most `limit`.
    pub fn segment_members(
        &self,
        name: &str,
        after: Option<EntityId>,
        limit: usize,
    ) -> Result<Vec<EntityId>, StoreError> {
        let prefix = segment_key(name, 0);
        let prefix = &prefix[..prefix.len() - 8];
        let start = match after {
            Some(a) => segment_key(name, a.saturating_add(1)),
            None => prefix.to_vec(),
        };
        let mut out = Vec::new();
        for k in self.segments.range(start..).keys() {
            let k = k.map_err(sled_err("reading a segment"))?;
            if !k.starts_with(prefix) || k.len() != prefix.len() + 8 {
                break;
            }
            out.push(super::key_u64(&k[prefix.len()..]));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Whether an entity is in a segment.
    pub fn in_segment(&self, name: &str, id: EntityId) -> Result<bool, StoreError> {
        self.segments
            .contains_key(segment_key(name, id))
            .map_err(sled_err("reading a segment"))
    }

    /// The batches of `w`'s activity and classification changes, values sealed.
    pub(super) fn activity_batches(&self, w: &WriteSet) -> Batches {
        let mut b = Batches::default();
        for a in &w.activity {
            if let Some(old) = &a.old {
                if let Some(r) = old.record {
                    b.by_record.remove([&r.0[..], &a.id.0[..]].concat());
                }
            }
            for h in &a.old_unresolved_keys {
                b.unresolved.remove([&h[..], &a.id.0[..]].concat());
            }
            match &a.new {
                None => b.activity.remove(&a.id.0),
                Some(new) => {
                    let bytes = serde_json::to_vec(new).expect("activity serializes");
                    b.activity
                        .insert(&a.id.0, self.seal(trees::ACTIVITY, &a.id.0, bytes));
                    match new.record {
                        Some(r) => b.by_record.insert([&r.0[..], &a.id.0[..]].concat(), &[]),
                        None => {
                            for h in &a.unresolved_keys {
                                b.unresolved.insert([&h[..], &a.id.0[..]].concat(), &[]);
                            }
                        }
                    }
                }
            }
        }
        for c in &w.classes {
            let k = c.entity.to_be_bytes();
            for s in &c.old_segments {
                b.segments.remove(segment_key(s, c.entity));
            }
            match &c.new {
                None => b.classes.remove(&k),
                Some(n) => {
                    let bytes = serde_json::to_vec(n).expect("classification serializes");
                    b.classes.insert(&k, self.seal(trees::CLASSES, &k, bytes));
                    for s in &n.segments {
                        b.segments.insert(segment_key(s, c.entity), &[]);
                    }
                }
            }
        }
        b
    }
}
