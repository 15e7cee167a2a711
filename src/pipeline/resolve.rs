//! Stage 6, resolve: clusters the batch graph and turns clusters into entities. A cluster
//! keeps the oldest entity id it contains and the other entities in it are merged into that
//! one; a cluster with no entity id gets a new one; a cluster that is exactly an untouched
//! entity is left alone.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::graph::{self, Graph, Node};
use crate::cluster::{self, Edge};
use crate::ingest::profile::Profile;
use crate::ingest::RecordId;
use crate::matching::{Model, PairCheck};
use crate::store::EntityId;

/// Entities after the batch.
#[derive(Debug, Default)]
pub(crate) struct Resolution {
    /// Entity of every node (0 for nodes of untouched entities).
    pub node_entity: Vec<EntityId>,
    /// Nodes of every entity the batch rebuilds.
    pub entity_members: BTreeMap<EntityId, Vec<usize>>,
    /// Entities merged away, and the entity they went into.
    pub merged_away: Vec<(EntityId, EntityId)>,
    /// Pairs for a steward, with why.
    pub review: Vec<(Edge, &'static str)>,
    /// Next free entity id.
    pub next_entity: EntityId,
}

/// Clusters the graph with the model's link and review weights and the nodes' profiles.
pub(crate) fn cluster(
    model: &Model,
    g: &Graph,
    profiles: &[Option<&Profile>],
) -> cluster::Clusters {
    let mut cache: HashMap<(usize, usize), PairCheck> = HashMap::new();
    cluster::cluster(
        g.nodes.len(),
        &g.initial,
        &g.edges,
        model.link_weight(),
        model.review_weight(),
        &g.constraints,
        |x, y| {
            *cache
                .entry((x.min(y), x.max(y)))
                .or_insert_with(|| graph::check(model, profiles[x], profiles[y]))
        },
    )
}

/// Turns clusters into entities. `entity_of` gives the current entity of a committed node
/// (`None` if not loaded), `kept` the entity an updated record stays in, `whole` whether an
/// entity's loaded member count equals a number; new ids start at `next_entity`.
pub(crate) fn resolve(
    nodes: &[Node],
    clusters: cluster::Clusters,
    entity_of: impl Fn(RecordId) -> Option<EntityId>,
    kept: impl Fn(RecordId) -> Option<EntityId>,
    whole: impl Fn(EntityId, usize) -> bool,
    mut next_entity: EntityId,
) -> Resolution {
    let mut by_root: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (n, &r) in clusters.root.iter().enumerate() {
        by_root.entry(r).or_default().push(n);
    }
    let mut out = Resolution {
        node_entity: vec![0; nodes.len()],
        review: clusters.review,
        ..Resolution::default()
    };
    let mut claimed: HashSet<EntityId> = HashSet::new();
    for group in by_root.values() {
        let mut ids: BTreeSet<EntityId> = BTreeSet::new();
        for &n in group {
            let e = match nodes[n] {
                Node::Existing(id) => entity_of(id),
                Node::Batch(id) => kept(id),
            };
            ids.extend(e);
        }
        // Skip clusters that are exactly an untouched existing entity.
        let has_batch = group.iter().any(|&n| matches!(nodes[n], Node::Batch(_)));
        if !has_batch && ids.len() == 1 {
            let e = *ids.first().expect("one id");
            if whole(e, group.len()) && !claimed.contains(&e) {
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
            out.merged_away.push((other, survivor));
        }
        for &n in group {
            out.node_entity[n] = survivor;
        }
        out.entity_members.insert(survivor, group.clone());
    }
    out.next_entity = next_entity;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rid(k: &str) -> RecordId {
        RecordId::of("crm", k)
    }

    /// Nodes: 0 = incoming A, 1 = incoming B, 2..4 = committed C, D (entity 5), E (entity 9).
    fn nodes() -> Vec<Node> {
        vec![
            Node::Batch(rid("A")),
            Node::Batch(rid("B")),
            Node::Existing(rid("C")),
            Node::Existing(rid("D")),
            Node::Existing(rid("E")),
        ]
    }

    fn entity_of(id: RecordId) -> Option<EntityId> {
        if id == rid("C") || id == rid("D") {
            Some(5)
        } else if id == rid("E") {
            Some(9)
        } else {
            None
        }
    }

    fn clusters(root: Vec<usize>) -> cluster::Clusters {
        cluster::Clusters {
            root,
            review: Vec::new(),
        }
    }

    #[test]
    fn oldest_id_survives_and_new_records_get_new_ids() {
        // A joins C, D and E: entity 9 merges into 5. B alone gets a new id.
        let r = resolve(
            &nodes(),
            clusters(vec![0, 1, 0, 0, 0]),
            entity_of,
            |_| None,
            |_, _| false,
            100,
        );
        assert_eq!(r.node_entity, [5, 100, 5, 5, 5]);
        assert_eq!(r.merged_away, [(9, 5)]);
        assert_eq!(r.entity_members[&5], [0, 2, 3, 4]);
        assert_eq!(r.entity_members[&100], [1]);
        assert_eq!(r.next_entity, 101);
    }

    #[test]
    fn untouched_entity_is_left_alone_and_a_split_id_is_kept_once() {
        // E alone is its whole entity: left out. C and D end in different clusters: the part
        // with the smaller node keeps 5, the other part gets a new id.
        let r = resolve(
            &nodes(),
            clusters(vec![0, 1, 2, 3, 4]),
            entity_of,
            |_| None,
            |e, n| e == 9 && n == 1,
            100,
        );
        assert!(!r.entity_members.contains_key(&9));
        assert_eq!(r.node_entity[2], 5);
        assert_eq!(r.node_entity[3], 102);
        assert_eq!(r.node_entity[4], 0);
        assert_eq!((r.node_entity[0], r.node_entity[1]), (100, 101));
        assert!(r.merged_away.is_empty());
    }

    #[test]
    fn an_updated_record_keeps_its_entity() {
        let r = resolve(
            &nodes(),
            clusters(vec![0, 1, 2, 2, 4]),
            entity_of,
            |id| (id == rid("A")).then_some(7),
            |_, _| true,
            100,
        );
        assert_eq!(r.node_entity[0], 7);
        assert_eq!(r.next_entity, 101);
    }
}
