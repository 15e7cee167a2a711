//! Consistency of steward decisions. Must-links (`same`) join records for good, cannot-links
//! (`different`) keep them apart for good; the two must never contradict, or clustering would
//! have to break one of them silently. [`conflicts`] finds the decisions in force that a
//! steward action's new decisions contradict, so the action can be refused whole (409
//! `decision_conflict`) or, when the caller asks, applied with those decisions revoked.
//!
//! A *group* is what the must-links in force (stored, not revoked or replaced, plus the new
//! ones) join, together with the records a merge puts in one entity. A contradiction is:
//! - a stored decision on the same pair with the other verdict;
//! - a stored cannot-link inside one group (the new must-links or the merge would join it);
//! - a new cannot-link inside one group: one stored must-link on each must-link path between
//!   its two records (cutting them separates the two).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use crate::ingest::RecordId;
use crate::store::{Decision, Verdict};

type Key = [u8; 32];

/// Stored decisions in force that `new` contradicts, ordered by pair key. `together` lists
/// records that must end in one entity besides the must-links (a merge's members);
/// `revoked` are stored decisions revoked by the same action; `stored_of` reads the stored
/// decisions naming a record.
pub fn conflicts<E>(
    new: &[Decision],
    together: &[RecordId],
    revoked: &HashSet<Key>,
    mut stored_of: impl FnMut(RecordId) -> Result<Vec<Decision>, E>,
) -> Result<Vec<Decision>, E> {
    let new_verdict: HashMap<Key, Verdict> = new.iter().map(|d| (d.key(), d.verdict)).collect();
    let mut out: BTreeMap<Key, Decision> = BTreeMap::new();
    // Stored decisions in force around the records concerned: everything reachable over
    // must-links, and the cannot-links of those records.
    let mut in_force: BTreeMap<Key, Decision> = BTreeMap::new();
    let mut seen: HashSet<RecordId> = HashSet::new();
    let mut queue: Vec<RecordId> = new
        .iter()
        .flat_map(|d| [d.a, d.b])
        .chain(together.iter().copied())
        .collect();
    while let Some(r) = queue.pop() {
        if !seen.insert(r) {
            continue;
        }
        for d in stored_of(r)? {
            let k = d.key();
            if revoked.contains(&k) {
                continue;
            }
            if let Some(v) = new_verdict.get(&k) {
                // Replaced by the new decision: a contradiction when the verdict differs.
                if *v != d.verdict {
                    out.insert(k, d);
                }
                continue;
            }
            if d.verdict == Verdict::Same {
                queue.extend([d.a, d.b]);
            }
            in_force.insert(k, d);
        }
    }

    // Must-link graph: stored in force and new; its edges know whether they are stored.
    let mut adjacency: HashMap<RecordId, Vec<(RecordId, Option<Key>)>> = HashMap::new();
    let mut edge = |a: RecordId, b: RecordId, stored: Option<Key>| {
        adjacency.entry(a).or_default().push((b, stored));
        adjacency.entry(b).or_default().push((a, stored));
    };
    for (k, d) in &in_force {
        if d.verdict == Verdict::Same {
            edge(d.a, d.b, Some(*k));
        }
    }
    for d in new.iter().filter(|d| d.verdict == Verdict::Same) {
        edge(d.a, d.b, None);
    }
    let mut groups = UnionFind::default();
    for (a, next) in &adjacency {
        for (b, _) in next {
            groups.union(*a, *b);
        }
    }
    for w in together.windows(2) {
        groups.union(w[0], w[1]);
    }

    for (k, d) in &in_force {
        if d.verdict == Verdict::Different && groups.find(d.a) == groups.find(d.b) {
            out.insert(*k, d.clone());
        }
    }
    for d in new.iter().filter(|d| d.verdict == Verdict::Different) {
        if groups.find(d.a) != groups.find(d.b) {
            continue;
        }
        // Cut every must-link path from a to b, one shortest path at a time.
        let mut cut: HashSet<Key> = out.keys().copied().collect();
        while let Some(path) = path(&adjacency, &cut, d.a, d.b) {
            let Some(k) = path.into_iter().flatten().next() else {
                // Only new must-links join them: the action contradicts itself (ruled out by
                // the actions' own validation); nothing stored is to blame.
                break;
            };
            cut.insert(k);
            if let Some(s) = in_force.get(&k) {
                out.insert(k, s.clone());
            }
        }
    }
    Ok(out.into_values().collect())
}

/// Shortest must-link path from `a` to `b` avoiding the `cut` stored edges, as the stored key
/// of each edge (`None` for a new one).
fn path(
    adjacency: &HashMap<RecordId, Vec<(RecordId, Option<Key>)>>,
    cut: &HashSet<Key>,
    a: RecordId,
    b: RecordId,
) -> Option<Vec<Option<Key>>> {
    let mut prev: HashMap<RecordId, (RecordId, Option<Key>)> = HashMap::new();
    let mut queue = VecDeque::from([a]);
    let mut seen = HashSet::from([a]);
    while let Some(r) = queue.pop_front() {
        if r == b {
            let mut out = Vec::new();
            let mut cur = b;
            while cur != a {
                let (p, k) = prev[&cur];
                out.push(k);
                cur = p;
            }
            return Some(out);
        }
        for (n, k) in adjacency.get(&r).into_iter().flatten() {
            if k.is_some_and(|k| cut.contains(&k)) || !seen.insert(*n) {
                continue;
            }
            prev.insert(*n, (r, *k));
            queue.push_back(*n);
        }
    }
    None
}

/// Union-find over record ids.
#[derive(Default)]
struct UnionFind(HashMap<RecordId, RecordId>);

impl UnionFind {
    fn find(&mut self, x: RecordId) -> RecordId {
        let p = *self.0.get(&x).unwrap_or(&x);
        if p == x {
            return x;
        }
        let root = self.find(p);
        self.0.insert(x, root);
        root
    }

    fn union(&mut self, a: RecordId, b: RecordId) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.0.insert(ra.max(rb), ra.min(rb));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> RecordId {
        RecordId([n; 16])
    }

    fn d(a: u8, b: u8, verdict: Verdict) -> Decision {
        Decision {
            a: id(a.min(b)),
            b: id(a.max(b)),
            verdict,
            actor: "t".into(),
            reason: String::new(),
            at: 0,
        }
    }

    fn run(stored: &[Decision], new: &[Decision], together: &[RecordId]) -> Vec<(u8, u8)> {
        let out = conflicts::<()>(new, together, &HashSet::new(), |r| {
            Ok(stored
                .iter()
                .filter(|d| d.a == r || d.b == r)
                .cloned()
                .collect())
        })
        .unwrap();
        out.iter().map(|d| (d.a.0[0], d.b.0[0])).collect()
    }

    use Verdict::{Different, Same};

    #[test]
    fn the_reported_merge_names_the_cannot_link() {
        // A/B different, B-C must-linked; merging A with {B, C} joins A and B.
        let stored = [d(1, 2, Different), d(2, 3, Same)];
        assert_eq!(
            run(&stored, &[d(1, 3, Same)], &[id(1), id(3), id(2)]),
            [(1, 2)]
        );
        // A must-link from A to C alone reaches B through the stored B-C must-link.
        assert_eq!(run(&stored, &[d(1, 3, Same)], &[]), [(1, 2)]);
    }

    #[test]
    fn a_cannot_link_names_every_must_link_path_to_cut() {
        // 1-2-3 and 1-4-3: both paths must go.
        let stored = [d(1, 2, Same), d(2, 3, Same), d(1, 4, Same), d(4, 3, Same)];
        let got = run(&stored, &[d(1, 3, Different)], &[]);
        assert_eq!(got.len(), 2, "one must-link per path: {got:?}");
    }

    #[test]
    fn the_other_verdict_on_the_same_pair_is_a_conflict_and_the_same_one_is_not() {
        let stored = [d(1, 2, Different)];
        assert_eq!(run(&stored, &[d(1, 2, Same)], &[]), [(1, 2)]);
        assert!(run(&stored, &[d(1, 2, Different)], &[]).is_empty());
    }

    #[test]
    fn consistent_decisions_have_no_conflict() {
        let stored = [d(1, 2, Same), d(3, 4, Different)];
        assert!(run(&stored, &[d(2, 3, Same)], &[]).is_empty());
        assert!(run(&stored, &[d(1, 4, Different)], &[]).is_empty());
    }
}
