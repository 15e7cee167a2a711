//! Stage 2, working set: the existing entities a batch touches, loaded with their member
//! records, minus the records that move (changed, re-evaluated or deleted).

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;

use super::classify::Classified;
use crate::ingest::RecordId;
use crate::store::{Entity, EntityId, Store, StoreError, StoredRecord};

/// Touched entities of a batch, loaded with their member records.
pub(crate) struct WorkingSet<'a> {
    store: &'a Store,
    /// Loaded entities by id.
    pub entities: BTreeMap<EntityId, WorkEntity>,
    member_entity: HashMap<RecordId, EntityId>,
    /// Updated records that stay in their entity.
    pub keep_id_for: HashMap<RecordId, EntityId>,
}

/// An entity as stored before the batch, with its member records still in it.
pub(crate) struct WorkEntity {
    /// The entity before the batch.
    pub entity: Entity,
    /// Its members that stay put so far.
    pub members: BTreeMap<RecordId, StoredRecord>,
}

impl<'a> WorkingSet<'a> {
    /// The entities of the records the batch moves, without those records.
    pub fn of(store: &'a Store, batch: &Classified) -> Result<Self, StoreError> {
        let mut work = Self {
            store,
            entities: BTreeMap::new(),
            member_entity: HashMap::new(),
            keep_id_for: HashMap::new(),
        };
        work.load_many(
            batch
                .deleted
                .iter()
                .map(|x| x.record.entity)
                .chain(
                    batch
                        .incoming
                        .iter()
                        .filter_map(|x| x.old.as_ref().map(|o| o.entity)),
                )
                .collect(),
        )?;
        for x in &batch.deleted {
            work.remove_member(x.record.entity, x.id);
        }
        for x in &batch.incoming {
            if let Some(old) = &x.old {
                work.remove_member(old.entity, x.id);
            }
        }
        Ok(work)
    }

    /// Loads an entity with its members, once.
    pub fn load(&mut self, id: EntityId) -> Result<(), StoreError> {
        if self.entities.contains_key(&id) {
            return Ok(());
        }
        self.load_many(vec![id])
    }

    /// Loads several entities with their members, reading on every core.
    pub fn load_many(&mut self, mut ids: Vec<EntityId>) -> Result<(), StoreError> {
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

    /// Takes a record out of its entity (it moves or goes).
    pub fn remove_member(&mut self, entity: EntityId, id: RecordId) {
        if let Some(w) = self.entities.get_mut(&entity) {
            w.members.remove(&id);
        }
        self.member_entity.remove(&id);
    }

    /// A member record of a loaded entity.
    pub fn member(&self, id: RecordId) -> Option<&StoredRecord> {
        self.entities
            .get(self.member_entity.get(&id)?)?
            .members
            .get(&id)
    }

    /// The loaded entity a record is a member of.
    pub fn entity_of(&self, id: RecordId) -> Option<EntityId> {
        self.member_entity.get(&id).copied()
    }

    /// The store the set reads from.
    pub fn store(&self) -> &'a Store {
        self.store
    }
}
