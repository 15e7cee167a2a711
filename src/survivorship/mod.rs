//! Survivorship: choosing each golden value from an entity's member records, with lineage.
//!
//! Every attribute has a [`Rule`]; candidates are the members holding a value. Ties are broken
//! the same way every time: source priority, then recency, then first arrival, then record id,
//! so the golden record depends only on the member set, never on processing order.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use crate::config::{AttrKind, Config, Rule};
use crate::ingest::profile::Norm;
use crate::ingest::RecordId;
use crate::store::{GoldenValue, Lineage, StoredRecord};

/// Golden values of an entity from its members. Email, phone, date, postcode and identifier
/// values are given in their normalized form; lineage names the record that supplied them.
pub fn golden(
    config: &Config,
    members: &[(RecordId, &StoredRecord)],
) -> BTreeMap<String, GoldenValue> {
    let mut out = BTreeMap::new();
    for (attr, a) in config.attributes.iter().enumerate() {
        let rule = config.rules[attr];
        let candidates: Vec<Candidate> = members
            .iter()
            .filter_map(|(id, r)| {
                let value = r.values.get(&a.name)?;
                Some(Candidate {
                    id: *id,
                    record: r,
                    value,
                    group: Group::of(r, attr, value),
                    priority: config
                        .sources
                        .get(&r.source)
                        .map_or(usize::MAX, |s| s.priority),
                })
            })
            .collect();
        if candidates.is_empty() {
            continue;
        }
        let mut support: HashMap<&Group, usize> = HashMap::new();
        for c in &candidates {
            *support.entry(&c.group).or_default() += 1;
        }
        let winner = candidates
            .iter()
            .min_by(|x, y| {
                let by_rule = match rule {
                    Rule::SourcePriority => x.priority.cmp(&y.priority),
                    Rule::MostRecent => y.record.recency().cmp(&x.record.recency()),
                    Rule::MostFrequent => support[&y.group].cmp(&support[&x.group]),
                    Rule::Longest => y.value.chars().count().cmp(&x.value.chars().count()),
                    Rule::FirstNonEmpty => x.record.seq.cmp(&y.record.seq),
                };
                by_rule.then_with(|| tie_break(x, y))
            })
            .expect("candidates is not empty");
        // Contact data and codes are published in canonical form (E.164, ISO dates); names,
        // addresses and text as the winning source wrote them.
        let canonical = match a.kind {
            AttrKind::Email
            | AttrKind::Phone
            | AttrKind::Date
            | AttrKind::Postcode
            | AttrKind::Identifier => winner
                .record
                .profile
                .str(attr)
                .filter(|s| !s.starts_with("+?")),
            _ => None,
        };
        out.insert(
            a.name.clone(),
            GoldenValue {
                value: canonical.map_or_else(|| winner.value.clone(), String::from),
                steward: None,
                lineage: Some(Lineage {
                    record: winner.id,
                    source: winner.record.source.clone(),
                    key: winner.record.key.clone(),
                    rule,
                    observed_at: winner.record.recency(),
                    support: support[&winner.group],
                }),
            },
        );
    }
    out
}

/// One attribute whose member records disagree.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Conflict {
    /// Attribute.
    pub attribute: String,
    /// Rule that picks the winner.
    pub rule: Rule,
    /// The golden value now (a steward override shows in the entity's golden record).
    pub golden: Option<String>,
    /// Every distinct value (after normalization), with who holds it.
    pub candidates: Vec<ConflictCandidate>,
}

/// A candidate value of a conflicting attribute.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConflictCandidate {
    /// The value as its source wrote it.
    pub value: String,
    /// Source of the record that holds it.
    pub source: String,
    /// Key of that record.
    pub key: String,
    /// When that value was observed (source update time, else arrival), ms since epoch.
    pub observed_at: i64,
    /// Member records holding the same normalized value.
    pub support: usize,
    /// Whether survivorship picks this value.
    pub wins: bool,
}

/// The attributes whose members disagree, with every candidate value, so a steward sees what
/// to resolve.
pub fn conflicts(config: &Config, members: &[(RecordId, &StoredRecord)]) -> Vec<Conflict> {
    let chosen = golden(config, members);
    let mut out = Vec::new();
    for (attr, a) in config.attributes.iter().enumerate() {
        // Grouped as survivorship groups them; the candidates are sorted below.
        let mut groups: HashMap<Group, Vec<(RecordId, &StoredRecord)>> = HashMap::new();
        for (id, r) in members {
            if let Some(v) = r.values.get(&a.name) {
                groups
                    .entry(Group::of(r, attr, v))
                    .or_default()
                    .push((*id, r));
            }
        }
        if groups.len() < 2 {
            continue;
        }
        let winner = chosen
            .get(&a.name)
            .and_then(|g| g.lineage.as_ref())
            .map(|l| l.record);
        let mut candidates = Vec::new();
        for holders in groups.values() {
            // One line per distinct value: its most recent holder stands for it.
            let (_, r) = holders
                .iter()
                .max_by_key(|(id, r)| (r.recency(), *id))
                .expect("non-empty group");
            candidates.push(ConflictCandidate {
                value: r.values[&a.name].clone(),
                source: r.source.clone(),
                key: r.key.clone(),
                observed_at: r.recency(),
                support: holders.len(),
                wins: holders.iter().any(|(h, _)| Some(*h) == winner) && winner.is_some(),
            });
        }
        candidates.sort_by(|x, y| {
            y.wins
                .cmp(&x.wins)
                .then(y.support.cmp(&x.support))
                .then(x.value.cmp(&y.value))
                .then(x.source.cmp(&y.source))
                .then(x.key.cmp(&y.key))
        });
        out.push(Conflict {
            attribute: a.name.clone(),
            rule: config.rules[attr],
            golden: chosen.get(&a.name).map(|g| g.value.clone()),
            candidates,
        });
    }
    out
}

struct Candidate<'a> {
    id: RecordId,
    record: &'a StoredRecord,
    value: &'a String,
    /// Normalized form: values equal after normalization count as the same value.
    group: Group<'a>,
    priority: usize,
}

/// What makes two candidate values the same: the normalized value, else the raw value
/// without case (compared as they are, not serialized: this runs for every member of every
/// rebuilt entity).
#[derive(PartialEq, Eq, Hash)]
enum Group<'a> {
    Norm(&'a Norm),
    Raw(String),
}

impl<'a> Group<'a> {
    fn of(r: &'a StoredRecord, attr: usize, value: &str) -> Self {
        match r.profile.attrs.get(attr) {
            Some(Some(norm)) => Group::Norm(norm),
            _ => Group::Raw(value.to_lowercase()),
        }
    }
}

fn tie_break(x: &Candidate, y: &Candidate) -> Ordering {
    x.priority
        .cmp(&y.priority)
        .then_with(|| y.record.recency().cmp(&x.record.recency()))
        .then_with(|| x.record.seq.cmp(&y.record.seq))
        .then_with(|| x.id.cmp(&y.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::profile::{Norm, Profile};

    const CONFIG: &str = r#"
        [attributes]
        email = { kind = "email" }
        city = { kind = "text" }
        [sources.crm]
        format = "csv"
        key = "id"
        fields = { email = "email", city = "city" }
        [sources.web]
        format = "ndjson"
        key = "id"
        fields = { email = "email", city = "city" }
        [survivorship]
        source_priority = ["crm", "web"]
        [survivorship.rules]
        email = "most_recent"
        city = "source_priority"
    "#;

    fn rec(source: &str, key: &str, email: &str, city: &str, t: i64, seq: u64) -> StoredRecord {
        StoredRecord {
            source: source.into(),
            key: key.into(),
            values: [
                ("email".to_string(), email.to_string()),
                ("city".to_string(), city.to_string()),
            ]
            .into_iter()
            .collect(),
            updated_at: Some(t),
            hash: String::new(),
            entity: 1,
            seq,
            ingested_at: 0,
            changed_at: 0,
            // Attribute ids follow attribute names: city (0), email (1).
            profile: Profile {
                attrs: vec![
                    Some(Norm::Str(city.to_lowercase())),
                    Some(Norm::Str(email.to_lowercase())),
                ],
            },
        }
    }

    fn run(config: &Config, recs: &[StoredRecord]) -> BTreeMap<String, GoldenValue> {
        let members: Vec<_> = recs.iter().map(|r| (r.id(), r)).collect();
        golden(config, &members)
    }

    #[test]
    fn rules_pick_their_winner_with_lineage() {
        let config = Config::parse(CONFIG).unwrap();
        let recs = [
            rec("web", "w1", "new@x.com", "Paris", 200, 1),
            rec("crm", "c1", "old@x.com", "Lyon", 100, 0),
        ];
        let g = run(&config, &recs);
        assert_eq!(g["email"].value, "new@x.com");
        assert_eq!(g["email"].lineage.as_ref().unwrap().source, "web");
        assert_eq!(g["email"].lineage.as_ref().unwrap().rule, Rule::MostRecent);
        assert_eq!(g["city"].value, "Lyon");
        assert_eq!(g["city"].lineage.as_ref().unwrap().key, "c1");
    }

    #[test]
    fn conflicts_list_every_distinct_value_and_the_winner() {
        let config = Config::parse(CONFIG).unwrap();
        let recs = [
            rec("web", "w1", "new@x.com", "Paris", 200, 1),
            rec("crm", "c1", "old@x.com", "Paris", 100, 0),
        ];
        let members: Vec<_> = recs.iter().map(|r| (r.id(), r)).collect();
        let c = conflicts(&config, &members);
        assert_eq!(c.len(), 1, "city agrees, email does not: {c:?}");
        assert_eq!(c[0].attribute, "email");
        assert_eq!(c[0].candidates.len(), 2);
        assert!(c[0].candidates[0].wins && c[0].candidates[0].value == "new@x.com");
    }

    #[test]
    fn result_does_not_depend_on_member_order() {
        let mut config = Config::parse(CONFIG).unwrap();
        for rule in [
            Rule::MostFrequent,
            Rule::Longest,
            Rule::FirstNonEmpty,
            Rule::MostRecent,
        ] {
            config.rules = vec![rule; 2];
            let mut recs = vec![
                rec("web", "w1", "a@x.com", "Paris", 100, 2),
                rec("crm", "c1", "b@x.com", "Paris", 100, 1),
                rec("web", "w2", "A@x.com", "Lyon", 100, 3),
            ];
            let first = run(&config, &recs);
            recs.reverse();
            assert_eq!(first, run(&config, &recs), "{rule:?}");
        }
        config.rules = vec![Rule::MostFrequent; 2];
        let recs = [
            rec("web", "w1", "a@x.com", "Paris", 100, 2),
            rec("crm", "c1", "b@x.com", "Lyon", 100, 1),
            rec("web", "w2", "A@X.com", "Paris", 100, 3),
        ];
        let g = run(&config, &recs);
        assert_eq!(
            g["email"].lineage.as_ref().unwrap().support,
            2,
            "case variants count as one value"
        );
        assert_eq!(g["city"].value, "Paris");
    }
}
