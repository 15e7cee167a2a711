//! Property test of the steward workflow: random sequences of ingest, update, delete, merge,
//! split, decide and revoke, with the invariants checked after every step:
//! - every stored record belongs to exactly one live entity, which lists it;
//! - no live entity holds two records a steward said are different;
//! - every golden value comes from a member record (as written or normalized) or an override.
//!
//! A small deterministic generator drives many seeds (no extra dependency); a failure names
//! the seed and step to replay.

use std::collections::{HashMap, HashSet};

use goldrec::engine::{Change, Engine};
use goldrec::ingest::{Position, RawRecord, RecordId};
use goldrec::store::{Decision, EntityState, Verdict};
use serde_json::json;

use crate::helpers::config_for;

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

const PEOPLE: &[(&str, &str, &str, &str)] = &[
    (
        "Ann Lee",
        "ann.lee@example.com",
        "(212) 555-0101",
        "01/02/1980",
    ),
    (
        "Bob Stone",
        "bob.stone@example.com",
        "(212) 555-0102",
        "03/04/1975",
    ),
    (
        "Wei Zhang",
        "wei.zhang@example.com",
        "(212) 555-0103",
        "05/06/1990",
    ),
    (
        "Cara Diaz",
        "cara.diaz@example.com",
        "(212) 555-0104",
        "07/08/1985",
    ),
];

fn record(rng: &mut Rng, key: &str) -> RawRecord {
    let (name, email, phone, dob) = PEOPLE[rng.below(PEOPLE.len())];
    let mut m = RawRecord::new();
    m.insert("customer_id".into(), json!(key));
    m.insert("full_name".into(), json!(name));
    if rng.below(3) > 0 {
        m.insert("email".into(), json!(email));
    }
    if rng.below(3) > 0 {
        m.insert("phone".into(), json!(phone));
    }
    m.insert("birth_date".into(), json!(dob));
    m
}

fn check(engine: &Engine, seed: u64, step: usize) {
    let store = engine.reads();
    let mut members_of: HashMap<u64, HashSet<RecordId>> = HashMap::new();
    for e in store.entities() {
        let e = e.unwrap();
        if e.state == EntityState::Active {
            members_of.insert(e.id, e.members.iter().copied().collect());
            for (attr, g) in &e.golden {
                if g.steward.is_some() {
                    continue;
                }
                let l = g
                    .lineage
                    .as_ref()
                    .unwrap_or_else(|| panic!("seed {seed} step {step}: {attr} has no lineage"));
                assert!(
                    e.members.contains(&l.record),
                    "seed {seed} step {step}: golden {attr} of {} from a non-member",
                    e.id
                );
                let r = store.record(l.record).unwrap().unwrap();
                let raw = r.values.get(attr).cloned().unwrap_or_default();
                let norm = engine
                    .config
                    .attr(attr)
                    .and_then(|a| r.profile.str(a))
                    .unwrap_or_default();
                assert!(
                    g.value == raw || g.value == norm,
                    "seed {seed} step {step}: golden {attr} {:?} not from its record",
                    g.value
                );
            }
        }
    }
    let mut seen = HashSet::new();
    for r in store.records() {
        let (id, r) = r.unwrap();
        let m = members_of.get(&r.entity).unwrap_or_else(|| {
            panic!(
                "seed {seed} step {step}: record {id} points at dead entity {}",
                r.entity
            )
        });
        assert!(
            m.contains(&id),
            "seed {seed} step {step}: entity {} does not list record {id}",
            r.entity
        );
        assert!(seen.insert(id));
    }
    let listed: usize = members_of.values().map(HashSet::len).sum();
    assert_eq!(
        listed,
        seen.len(),
        "seed {seed} step {step}: a record is listed twice or a member is missing"
    );
    for d in store.decisions() {
        let d = d.unwrap();
        if d.verdict == Verdict::Different {
            let (a, b) = (store.record(d.a).unwrap(), store.record(d.b).unwrap());
            if let (Some(a), Some(b)) = (a, b) {
                assert_ne!(
                    a.entity, b.entity,
                    "seed {seed} step {step}: cannot-link violated"
                );
            }
        }
    }
}

#[test]
fn steward_operations_keep_the_invariants() {
    for seed in 1..=12u64 {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(config_for(dir.path())).unwrap();
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let keys: Vec<String> = (0..10).map(|i| format!("K{i}")).collect();
        for step in 0..40 {
            let live: Vec<RecordId> = engine.reads().records().map(|r| r.unwrap().0).collect();
            let entities: Vec<(u64, Vec<RecordId>)> = engine
                .reads()
                .entities()
                .map(|e| e.unwrap())
                .filter(|e| e.state == EntityState::Active)
                .map(|e| (e.id, e.members))
                .collect();
            match rng.below(8) {
                0..=2 => {
                    let n = 1 + rng.below(3);
                    let items: Vec<_> = (0..n)
                        .map(|i| {
                            let k = keys[rng.below(keys.len())].clone();
                            (Position::Index(i as u64), Ok(record(&mut rng, &k)))
                        })
                        .collect();
                    let changes: Vec<Change> = engine
                        .prepare("crm", items)
                        .unwrap()
                        .into_iter()
                        .map(|(_, c)| c.unwrap())
                        .collect();
                    engine.apply(changes).unwrap();
                }
                3 if !live.is_empty() => {
                    engine
                        .apply(vec![Change::Delete(live[rng.below(live.len())])])
                        .unwrap();
                }
                4 if entities.len() >= 2 => {
                    let (a, b) = (rng.below(entities.len()), rng.below(entities.len()));
                    if a != b {
                        let _ = engine.merge_entities(
                            &[entities[a].0, entities[b].0],
                            "prop",
                            "",
                            &HashMap::new(),
                        );
                    }
                }
                5 => {
                    if let Some((id, members)) = entities.iter().find(|(_, m)| m.len() >= 2) {
                        let out = members[rng.below(members.len())];
                        engine
                            .split_entity(*id, &[vec![out]], "prop", "", None)
                            .unwrap();
                    }
                }
                6 if live.len() >= 2 => {
                    let (a, b) = (live[rng.below(live.len())], live[rng.below(live.len())]);
                    if a != b {
                        let verdict = if rng.below(2) == 0 {
                            Verdict::Same
                        } else {
                            Verdict::Different
                        };
                        engine
                            .decide(Decision {
                                a: a.min(b),
                                b: a.max(b),
                                verdict,
                                actor: "prop".into(),
                                reason: String::new(),
                                at: 0,
                            })
                            .unwrap();
                    }
                }
                7 => {
                    let all: Vec<Decision> =
                        engine.reads().decisions().map(|d| d.unwrap()).collect();
                    if !all.is_empty() {
                        let d = &all[rng.below(all.len())];
                        engine.revoke(d.key(), "prop").unwrap();
                    }
                }
                _ => {}
            }
            check(&engine, seed, step);
        }
    }
}
