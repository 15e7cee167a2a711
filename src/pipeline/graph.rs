//! Stage 5, graph: the nodes to cluster (incoming records, every member of every touched
//! entity, and the records they scored against), the scored edges between them, the steward
//! decisions between them as constraints, and the entities each updated record may stay in.

use std::collections::{HashMap, HashSet};

use super::candidates::Candidate;
use super::classify::Incoming;
use super::score::ScoredPair;
use super::working_set::WorkingSet;
use super::Steward;
use crate::cluster::{Constraints, Edge};
use crate::ingest::profile::Profile;
use crate::ingest::RecordId;
use crate::matching::{Model, PairCheck};
use crate::store::{EntityId, StoreError, StoredRecord, Verdict};

/// A node of the batch graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Node {
    /// An incoming record (its node index is its incoming position).
    Batch(RecordId),
    /// A committed record.
    Existing(RecordId),
}

impl Node {
    /// The record of the node.
    pub fn id(&self) -> RecordId {
        match self {
            Self::Batch(id) | Self::Existing(id) => *id,
        }
    }
}

/// What clustering works on.
pub(crate) struct Graph {
    /// Nodes: incoming records first (same positions), then committed records.
    pub nodes: Vec<Node>,
    /// Groups of nodes that start together: the touched entities (and the updated records
    /// that stay in them).
    pub initial: Vec<Vec<usize>>,
    /// Scored edges.
    pub edges: Vec<Edge>,
    /// Steward decisions between nodes.
    pub constraints: Constraints,
}

/// Builds the graph; loads the entities of candidates that scored and of must-linked partners
/// into `work`, and records in `work.keep_id_for` the updated records that stay in their
/// entity.
pub(crate) fn build(
    model: &Model,
    steward: &Steward,
    incoming: &[Incoming],
    scored: Vec<ScoredPair>,
    existing: &HashMap<RecordId, StoredRecord>,
    work: &mut WorkingSet,
) -> Result<Graph, StoreError> {
    let mut nodes: Vec<Node> = incoming.iter().map(|x| Node::Batch(x.id)).collect();
    let mut node_of: HashMap<RecordId, usize> = incoming
        .iter()
        .enumerate()
        .map(|(i, x)| (x.id, i))
        .collect();
    work.load_many(
        scored
            .iter()
            .filter_map(|(_, c, _)| match c {
                Candidate::Existing(r) => existing.get(r).map(|r| r.entity),
                Candidate::Batch(_) => None,
            })
            .collect(),
    )?;
    let mut edges = Vec::new();
    for (i, c, w) in scored {
        let b = match c {
            Candidate::Batch(j) => j,
            Candidate::Existing(r) => {
                work.load(existing[&r].entity)?;
                *node_of.entry(r).or_insert_with(|| {
                    nodes.push(Node::Existing(r));
                    nodes.len() - 1
                })
            }
        };
        edges.push(Edge { a: i, b, weight: w });
    }
    // A must-linked partner's entity joins the batch, so the decision can take effect.
    for x in incoming {
        for d in steward.decisions_for(x.id)? {
            let other = if d.a == x.id { d.b } else { d.a };
            if d.verdict == Verdict::Same
                && !node_of.contains_key(&other)
                && work.member(other).is_none()
            {
                if let Some(r) = work.store().record(other)? {
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
    let mut constraints = Constraints::default();
    let mut cannot_ids: HashSet<(RecordId, RecordId)> = HashSet::new();
    let mut seen_decisions: HashSet<[u8; 32]> = HashSet::new();
    for node in &nodes {
        for d in steward.decisions_for(node.id())? {
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
    for (i, x) in incoming.iter().enumerate() {
        let Some(old) = &x.old else { continue };
        let Some(gi) = entity_of_group.iter().position(|e| *e == old.entity) else {
            continue;
        };
        let members = &work.entities[&old.entity].members;
        let set_apart = members.keys().any(|m| cannot_ids.contains(&(x.id, *m)));
        if !set_apart && stays(model, &x.record, old, members.values()) {
            initial[gi].push(i);
            work.keep_id_for.insert(x.id, old.entity);
        }
    }
    Ok(Graph {
        nodes,
        initial,
        edges,
        constraints,
    })
}

/// The profile of every node, where it lies (`None` for a committed record no longer
/// readable): borrowed, not copied, for clustering.
pub(crate) fn profiles<'a>(
    g: &Graph,
    incoming: &'a [Incoming],
    existing: &'a HashMap<RecordId, StoredRecord>,
    work: &'a WorkingSet,
) -> Vec<Option<&'a Profile>> {
    g.nodes
        .iter()
        .enumerate()
        .map(|(n, node)| match node {
            Node::Batch(_) => Some(&incoming[n].record.profile),
            Node::Existing(id) => existing
                .get(id)
                .or_else(|| work.member(*id))
                .map(|r| &r.profile),
        })
        .collect()
}

/// Whether an updated record stays in its entity: as the entity's only record, while it
/// still describes the same customer as before (an edit into someone else leaves the id
/// behind); otherwise while it links to one of the others and agrees with them on average.
pub(crate) fn stays<'r>(
    model: &Model,
    record: &StoredRecord,
    old: &StoredRecord,
    others: impl ExactSizeIterator<Item = &'r StoredRecord>,
) -> bool {
    let link_weight = model.link_weight();
    if others.len() == 0 {
        return model.weight(&record.profile, &old.profile) >= link_weight;
    }
    let ws: Vec<f64> = others
        .map(|m| model.weight(&record.profile, &m.profile))
        .collect();
    let max = ws.iter().copied().fold(f64::MIN, f64::max);
    let mean = ws.iter().sum::<f64>() / ws.len() as f64;
    max >= link_weight && mean >= model.review_weight()
}

/// Weight and personal conflict of two nodes, for the merge checks of clustering.
pub(crate) fn check(model: &Model, a: Option<&Profile>, b: Option<&Profile>) -> PairCheck {
    match (a, b) {
        (Some(a), Some(b)) => model.weight_and_conflict(a, b),
        _ => PairCheck {
            weight: f64::MIN / 4.0,
            conflict: false,
            informative: false,
        },
    }
}
