//! Entity membership for one batch: which nodes (incoming records and the existing entities
//! they touch) end up together.
//!
//! Scored links at or above the link weight are taken strongest first. Two clusters join only
//! when the whole of one agrees with the whole of the other: the mean weight over every cross
//! pair must reach the review weight, so a single strong pair cannot chain two unlike groups
//! (namesakes, family members sharing a phone), and most of the cross pairs that can tell
//! (both records hold a given name, birth date or identifier) must not conflict personally:
//! sparse records do not outvote the ones that show two people. A link is also refused when
//! one of its records resembles another customer about as well: the link and that rival are
//! exclusive explanations of the record, and the link's odds are divided among them. Refused
//! links and pairs between the review and link weights that end in different clusters become
//! review items. Sorting the links makes the
//! result independent of the order records arrived in within the batch.

use std::collections::HashMap;

use crate::matching::PairCheck;

/// Largest number of cross pairs scored for one merge check; bigger clusters are sampled.
const MAX_CHECK_SIDE: usize = 48;

/// A scored pair of nodes.
#[derive(Debug, Clone, Copy)]
pub struct Edge {
    /// One node.
    pub a: usize,
    /// The other node.
    pub b: usize,
    /// Match weight.
    pub weight: f64,
}

/// Outcome of clustering.
#[derive(Debug)]
pub struct Clusters {
    /// Cluster representative of every node.
    pub root: Vec<usize>,
    /// Pairs a steward should look at: review-band pairs left apart and refused links.
    pub review: Vec<(Edge, &'static str)>,
}

/// Steward decisions between nodes: must-links join first, cannot-links are never violated
/// (not even transitively through third records).
#[derive(Debug, Default, Clone)]
pub struct Constraints {
    /// Pairs a steward said are the same customer.
    pub must: Vec<(usize, usize)>,
    /// Pairs a steward said are different customers.
    pub cannot: Vec<(usize, usize)>,
}

/// Clusters `n` nodes. `initial` lists groups of nodes that start together (existing
/// entities); `weight` scores any two nodes and says whether they conflict personally
/// (household members): called for merge checks, cached by the caller. A merge is refused when
/// most cross pairs conflict, or when their mean weight is below the review weight.
pub fn cluster(
    n: usize,
    initial: &[Vec<usize>],
    edges: &[Edge],
    link_weight: f64,
    review_weight: f64,
    constraints: &Constraints,
    mut weight: impl FnMut(usize, usize) -> PairCheck,
) -> Clusters {
    let mut parent: Vec<usize> = (0..n).collect();
    let mut members: HashMap<usize, Vec<usize>> = (0..n).map(|i| (i, vec![i])).collect();
    // Whether joining the groups of a and b would put a cannot-linked pair together.
    let forbidden = |parent: &mut Vec<usize>, a: usize, b: usize| {
        let (ra, rb) = (find(parent, a), find(parent, b));
        constraints.cannot.iter().any(|&(p, q)| {
            let (rp, rq) = (find(parent, p), find(parent, q));
            (rp == ra && rq == rb) || (rp == rb && rq == ra)
        })
    };
    // Must-links first, then existing entities: an entity holding a pair a steward has since
    // set apart sheds a member not must-linked to the rest (joining the entity first could
    // shed the must-linked one instead).
    for &(a, b) in &constraints.must {
        if !forbidden(&mut parent, a, b) {
            union(&mut parent, &mut members, a, b);
        }
    }
    for group in initial {
        let Some(&first) = group.first() else {
            continue;
        };
        for &x in &group[1..] {
            // A member a steward has since set apart from the rest leaves the group.
            if !forbidden(&mut parent, first, x) {
                union(&mut parent, &mut members, first, x);
            }
        }
    }
    let mut links: Vec<Edge> = edges
        .iter()
        .copied()
        .filter(|e| e.weight >= link_weight)
        .collect();
    links.sort_by(|x, y| {
        y.weight
            .total_cmp(&x.weight)
            .then(x.a.min(x.b).cmp(&y.a.min(y.b)))
            .then(x.a.max(x.b).cmp(&y.a.max(y.b)))
    });
    let mut neighbours: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
    for e in edges {
        neighbours[e.a].push((e.b, e.weight));
        neighbours[e.b].push((e.a, e.weight));
    }
    let mut review = Vec::new();
    for e in links {
        let (ra, rb) = (find(&mut parent, e.a), find(&mut parent, e.b));
        if ra == rb {
            continue;
        }
        if forbidden(&mut parent, e.a, e.b) {
            review.push((e, "conflicts_with_decision"));
            continue;
        }
        let margin = e.weight - link_weight;
        let rival = Rivals {
            margin,
            review_weight,
            neighbours: &neighbours,
            members: &members,
        };
        let rival = rival
            .weight(e.a, rb, &mut parent, &mut weight)
            .max(rival.weight(e.b, ra, &mut parent, &mut weight));
        if e.weight - rival < link_weight {
            review.push((e, "ambiguous"));
            continue;
        }
        let (ma, mb) = (&members[&ra], &members[&rb]);
        let (sa, sb) = (sample(ma), sample(mb));
        let mut total = 0.0;
        let mut conflicts = 0usize;
        let mut informative = 0usize;
        for &x in &sa {
            for &y in &sb {
                let check = weight(x, y);
                if (x == e.a && y == e.b) || (x == e.b && y == e.a) {
                    // the link itself: its weight as scored, and it does not conflict
                    total += e.weight;
                } else {
                    total += check.weight;
                    conflicts += usize::from(check.conflict && check.informative);
                }
                informative += usize::from(check.informative);
            }
        }
        let pairs = sa.len() * sb.len();
        let mean = total / pairs as f64;
        if mean >= review_weight && conflicts * 2 <= informative.max(1) {
            union(&mut parent, &mut members, ra, rb);
        } else {
            review.push((e, "conflicts_with_entity"));
        }
    }
    for e in edges {
        if e.weight >= review_weight
            && e.weight < link_weight
            && find(&mut parent, e.a) != find(&mut parent, e.b)
        {
            review.push((*e, "below_link_threshold"));
        }
    }
    let root = (0..n).map(|i| find(&mut parent, i)).collect();
    Clusters { root, review }
}

/// What a link's rivals are judged by: the link's `margin` over the link weight, the review
/// weight, every node's scored neighbours and the current groups.
struct Rivals<'a> {
    margin: f64,
    review_weight: f64,
    neighbours: &'a [Vec<(usize, f64)>],
    members: &'a HashMap<usize, Vec<usize>>,
}

impl Rivals<'_> {
    /// Weight taken off a link of `x` to the group rooted at `other` because `x` also
    /// resembles other groups that are not that customer: the link and its rivals are
    /// exclusive explanations of `x`, so the link's odds become `o / (1 + sum of the rivals'
    /// odds)` (one rival per group, its strongest pair with `x`). A rival is a neighbour of
    /// `x` in neither group that no member of `other` resembles without a personal conflict,
    /// or that some member conflicts with (another person, not a record of the same one split
    /// off: a namesake can resemble a sparse member). A sparse record that matches
    /// two namesakes, or two siblings sharing a phone, equally well links to neither. Rivals
    /// more than 6 bits below the margin cannot matter and are not checked.
    fn weight(
        &self,
        x: usize,
        other: usize,
        parent: &mut [usize],
        weight: &mut impl FnMut(usize, usize) -> PairCheck,
    ) -> f64 {
        let own = find(parent, x);
        let mut target: Option<Vec<usize>> = None;
        let mut best: HashMap<usize, f64> = HashMap::new();
        for &(y, w) in &self.neighbours[x] {
            if w < self.margin - 6.0 {
                continue;
            }
            let ry = find(parent, y);
            if ry == own || ry == other || best.get(&ry).is_some_and(|&b| b >= w) {
                continue;
            }
            let target = target.get_or_insert_with(|| sample(&self.members[&other]));
            // A record split off the customer resembles some member and conflicts with none;
            // a namesake may resemble a sparse member (a name and a city) but conflicts with
            // the members that tell (another birth date, phone, mailbox).
            let mut resembles = false;
            let mut conflicts = false;
            for &m in target.iter() {
                let c = weight(y, m);
                resembles |= !c.conflict && c.weight >= self.review_weight;
                conflicts |= c.conflict;
            }
            let same_customer = resembles && !conflicts;
            if !same_customer {
                best.insert(ry, w);
            }
        }
        if best.is_empty() {
            return 0.0;
        }
        (1.0 + best.values().map(|w| w.exp2()).sum::<f64>()).log2()
    }
}

fn sample(m: &[usize]) -> Vec<usize> {
    if m.len() <= MAX_CHECK_SIDE {
        return m.to_vec();
    }
    let step = m.len() as f64 / MAX_CHECK_SIDE as f64;
    (0..MAX_CHECK_SIDE)
        .map(|i| m[(i as f64 * step) as usize])
        .collect()
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

fn union(parent: &mut [usize], members: &mut HashMap<usize, Vec<usize>>, a: usize, b: usize) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra == rb {
        return;
    }
    // Keep the smaller root so representatives are deterministic.
    let (keep, gone) = if ra < rb { (ra, rb) } else { (rb, ra) };
    parent[gone] = keep;
    let moved = members.remove(&gone).unwrap_or_default();
    members.entry(keep).or_default().extend(moved);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cross pair between records that both hold identifying values.
    fn pc(weight: f64, conflict: bool) -> PairCheck {
        PairCheck {
            weight,
            conflict,
            informative: true,
        }
    }

    #[test]
    fn sparse_records_do_not_outvote_a_personal_conflict() {
        // 0 and 1 are siblings (conflict); 2 is a sparse record (family name and the shared
        // phone) linked to both, to 1 far more strongly (its given name's initial agrees, say).
        // {1, 2} forms first; 0 must not join it through 2.
        let edges = [edge(1, 2, 35.0), edge(0, 2, 20.0)];
        let w = |x: usize, y: usize| match (x.min(y), x.max(y)) {
            (0, 1) => pc(20.0, true),
            (p, q) => PairCheck {
                weight: if (p, q) == (1, 2) { 35.0 } else { 20.0 },
                conflict: false,
                informative: false,
            },
        };
        let c = cluster(3, &[], &edges, 10.0, 0.0, &Constraints::default(), w);
        assert_eq!(c.root[1], c.root[2]);
        assert_ne!(c.root[0], c.root[2]);
    }

    #[test]
    fn a_conflict_between_records_that_cannot_tell_does_not_refuse_a_merge() {
        // 0 and 1 are one customer (an entity); 2 is a support record with her name's family
        // part and her mailbox, linked strongly to 0. Against 1 it holds nothing identifying,
        // only a mailbox 1 does not have: that pair cannot tell, so it does not refuse the
        // merge on its own.
        let edges = [edge(0, 2, 30.0)];
        let w = |x: usize, y: usize| match (x.min(y), x.max(y)) {
            (0, 1) => PairCheck {
                weight: 25.0,
                conflict: false,
                informative: true,
            },
            (0, 2) => PairCheck {
                weight: 30.0,
                conflict: false,
                informative: false,
            },
            _ => PairCheck {
                weight: -5.0,
                conflict: true,
                informative: false,
            },
        };
        // Whether 2 joins the entity {0, 1}, with `tells` deciding which pairs can tell.
        let joins = |tells: fn(&PairCheck) -> bool| {
            let c = cluster(
                3,
                &[vec![0, 1]],
                &edges,
                10.0,
                0.0,
                &Constraints::default(),
                |x, y| {
                    let mut check = w(x, y);
                    check.informative = tells(&check);
                    check
                },
            );
            c.root[2] == c.root[0]
        };
        assert!(joins(|c| c.informative));
        // The same conflict between records that can tell (two given names) refuses it.
        assert!(!joins(|c| c.informative || c.conflict));
    }

    #[test]
    fn a_record_that_fits_two_other_customers_equally_links_to_neither() {
        // 0 and 1 are namesakes (they disagree on everything else); 2 holds only the name and a
        // city both live in, so it resembles each of them as much.
        let edges = [edge(0, 2, 14.0), edge(1, 2, 13.0)];
        let w = |x: usize, y: usize| match (x.min(y), x.max(y)) {
            (0, 1) => pc(-20.0, false),
            (0, 2) => pc(14.0, false),
            _ => pc(13.0, false),
        };
        let c = cluster(3, &[], &edges, 10.0, 0.0, &Constraints::default(), w);
        assert_ne!(c.root[2], c.root[0]);
        assert_ne!(c.root[2], c.root[1]);
        assert!(c.review.iter().any(|(_, why)| *why == "ambiguous"));
        // A rival far weaker than the link does not stop it.
        let edges = [edge(0, 2, 30.0), edge(1, 2, 13.0)];
        let c = cluster(3, &[], &edges, 10.0, 0.0, &Constraints::default(), w);
        assert_eq!(c.root[2], c.root[0]);
        assert_ne!(c.root[2], c.root[1]);
    }

    #[test]
    fn records_of_one_customer_are_not_each_others_rivals() {
        // 0, 1 and 2 are one customer, 3 a new record of theirs: all pairs resemble each other,
        // so the links of 3 to every one of them are not competing explanations.
        let edges = [
            edge(0, 1, 25.0),
            edge(1, 2, 24.0),
            edge(0, 2, 23.0),
            edge(3, 0, 15.0),
            edge(3, 1, 15.0),
            edge(3, 2, 14.0),
        ];
        let c = cluster(
            4,
            &[],
            &edges,
            10.0,
            0.0,
            &Constraints::default(),
            |_, _| pc(15.0, false),
        );
        assert!((1..4).all(|i| c.root[i] == c.root[0]), "{:?}", c.root);
    }

    #[test]
    fn a_namesake_resembling_a_sparse_member_is_still_a_rival() {
        // Lucy Ortega #1: 0 (full record) and 1 (support record with her phone); Lucy #2: 2
        // (another birth date and phone). 3 holds only "Lucy Ortega, San Diego". 2 resembles
        // the sparse 1 (name and city, below the link weight) but conflicts with 0: it is
        // another customer, so 3 matches two customers about equally and links to neither.
        let edges = [
            edge(0, 1, 50.0),
            edge(3, 0, 14.0),
            edge(3, 1, 14.0),
            edge(3, 2, 14.0),
            edge(1, 2, 8.0),
        ];
        let check = |x: usize, y: usize| match (x.min(y), x.max(y)) {
            (0, 2) => pc(-5.0, true),
            (1, 2) => pc(8.0, false),
            (0, 1) => pc(50.0, false),
            _ => pc(14.0, false),
        };
        let c = cluster(
            4,
            &[vec![0, 1], vec![2]],
            &edges,
            10.0,
            0.0,
            &Constraints::default(),
            check,
        );
        assert_ne!(c.root[3], c.root[0], "{:?}", c.root);
        assert_ne!(c.root[3], c.root[2], "{:?}", c.root);
        assert_ne!(c.root[0], c.root[2], "{:?}", c.root);
    }

    fn edge(a: usize, b: usize, weight: f64) -> Edge {
        Edge { a, b, weight }
    }

    #[test]
    fn strong_links_join_and_weak_ones_go_to_review() {
        let edges = [edge(0, 1, 20.0), edge(1, 2, 2.0)];
        let c = cluster(
            3,
            &[],
            &edges,
            10.0,
            0.0,
            &Constraints::default(),
            |_, _| pc(20.0, false),
        );
        assert_eq!(c.root[0], c.root[1]);
        assert_ne!(c.root[1], c.root[2]);
        assert_eq!(c.review.len(), 1);
        assert_eq!(c.review[0].1, "below_link_threshold");
    }

    #[test]
    fn a_single_strong_pair_does_not_chain_unlike_groups() {
        // 0-1 and 2-3 are tight pairs; 1-2 links strongly but 0 and 3 disagree with the other side.
        let edges = [edge(0, 1, 30.0), edge(2, 3, 30.0), edge(1, 2, 12.0)];
        let w = |x: usize, y: usize| match (x.min(y), x.max(y)) {
            (0, 1) | (2, 3) => pc(30.0, false),
            (1, 2) => pc(12.0, false),
            _ => pc(-25.0, false),
        };
        let c = cluster(4, &[], &edges, 10.0, 0.0, &Constraints::default(), w);
        assert_eq!(c.root[0], c.root[1]);
        assert_eq!(c.root[2], c.root[3]);
        assert_ne!(c.root[0], c.root[2]);
        assert_eq!(c.review[0].1, "conflicts_with_entity");
    }

    #[test]
    fn outcome_does_not_depend_on_edge_order() {
        let mut edges = vec![
            edge(0, 1, 15.0),
            edge(1, 2, 14.0),
            edge(2, 3, 16.0),
            edge(3, 4, 11.0),
        ];
        let w = |x: usize, y: usize| pc(if x.abs_diff(y) <= 1 { 15.0 } else { -1.0 }, false);
        let first = cluster(5, &[], &edges, 10.0, 0.0, &Constraints::default(), w).root;
        edges.reverse();
        assert_eq!(
            first,
            cluster(5, &[], &edges, 10.0, 0.0, &Constraints::default(), w).root
        );
    }

    #[test]
    fn groups_that_conflict_personally_do_not_merge_but_one_bad_pair_does_not_split() {
        // 0-1 and 2-3 each one person; 1-2 link strongly (shared phone and address).
        let edges = [edge(0, 1, 30.0), edge(2, 3, 30.0), edge(1, 2, 20.0)];
        let household = |_: usize, _: usize| pc(20.0, true);
        let c = cluster(
            4,
            &[],
            &edges,
            10.0,
            0.0,
            &Constraints::default(),
            household,
        );
        assert_ne!(
            c.root[0], c.root[2],
            "every cross pair conflicts: a family, not one person"
        );
        let one_bad = |x: usize, y: usize| pc(20.0, (x.min(y), x.max(y)) == (0, 3));
        let c = cluster(4, &[], &edges, 10.0, 0.0, &Constraints::default(), one_bad);
        assert_eq!(
            c.root[0], c.root[3],
            "one corrupted pair among four does not split a person"
        );
    }

    #[test]
    fn decisions_bind_even_through_third_records() {
        // 0-1 and 1-2 link strongly; a steward said 0 and 2 are different people.
        let edges = [edge(0, 1, 30.0), edge(1, 2, 25.0), edge(3, 4, 1.0)];
        let c = Constraints {
            must: vec![(3, 4)],
            cannot: vec![(0, 2)],
        };
        let r = cluster(5, &[], &edges, 10.0, 0.0, &c, |_, _| pc(30.0, false)).root;
        assert_ne!(r[0], r[2], "cannot-link holds transitively");
        assert_eq!(r[3], r[4], "must-link joins a pair the model doubts");
        // A cannot-link inside an existing entity takes the later member out.
        let c = Constraints {
            must: vec![],
            cannot: vec![(5, 7)],
        };
        let r = cluster(8, &[vec![5, 6, 7]], &[], 10.0, 0.0, &c, |_, _| {
            pc(30.0, false)
        })
        .root;
        assert_eq!(r[5], r[6]);
        assert_ne!(r[5], r[7]);
    }

    #[test]
    fn initial_groups_stay_together() {
        let c = cluster(
            3,
            &[vec![0, 2]],
            &[],
            10.0,
            0.0,
            &Constraints::default(),
            |_, _| pc(0.0, false),
        );
        assert_eq!(c.root[0], c.root[2]);
        assert_ne!(c.root[0], c.root[1]);
    }
}
