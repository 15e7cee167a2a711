//! Match quality of the stored entities against a truth file.
//!
//! Pairwise scores count every pair of records inside one entity as a predicted match (not only
//! the pairs the matcher compared). The report adds blocking recall (the share of true pairs
//! that share a blocking key, so the scorer is offered them), the worst missed matches and false
//! merges with their explanations, and optionally a threshold sweep over all blocked pairs.
//! Records are named by key, or `source:key` when a key is used by several sources.
//!
//! Without a truth file, [`entity_report`] shows over-merging at a glance: the entity-size
//! distribution and the largest entities with their number of distinct names and birth dates
//! (`goldrec eval --report`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::blocking::keys;
use crate::config::{AttrKind, Config};
use crate::engine::Engine;
use crate::ingest::profile::{Norm, Profile};
use crate::matching::{probability, Explanation};
use crate::store::{EntityState, StoreError, StoredRecord};

/// Keys shared by more records than this are skipped when enumerating pairs for the sweep.
const MAX_SWEEP_BUCKET: usize = 1_000;
/// Thresholds (match probability) of the sweep.
const SWEEP_THRESHOLDS: &[f64] = &[
    0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999,
];

/// Evaluation failure.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The truth file could not be read.
    #[error("cannot read truth file {path}: {reason}")]
    Truth {
        /// File.
        path: String,
        /// Reason.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Pairwise confusion counts and scores.
#[derive(Debug, Clone, Serialize)]
pub struct PairwiseScores {
    /// Records in the store.
    pub records: usize,
    /// Entities in the store.
    pub entities: usize,
    /// True pairs in the truth file (between stored records).
    pub true_pairs: usize,
    /// Pairs inside predicted entities.
    pub predicted_pairs: usize,
    /// Predicted pairs that are true.
    pub true_positives: usize,
    /// Predicted pairs that are not true (false merges).
    pub false_positives: usize,
    /// True pairs not predicted (missed matches).
    pub false_negatives: usize,
    /// TP / predicted.
    pub precision: f64,
    /// TP / true.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
}

/// One missed match or false merge, explained.
#[derive(Debug, Clone, Serialize)]
pub struct Example {
    /// One record.
    pub a: String,
    /// The other record.
    pub b: String,
    /// Entity of `a`.
    pub entity_a: u64,
    /// Entity of `b`.
    pub entity_b: u64,
    /// Whether the two records share a blocking key.
    pub blocked_together: bool,
    /// The model's view of the pair.
    pub explanation: Explanation,
}

/// Pairwise quality of the blocked pairs at one threshold (before clustering).
#[derive(Debug, Clone, Serialize)]
pub struct SweepRow {
    /// Match probability threshold.
    pub threshold: f64,
    /// Blocked pairs at or above it.
    pub predicted: usize,
    /// True pairs among them.
    pub true_positives: usize,
    /// Precision.
    pub precision: f64,
    /// Recall over all true pairs.
    pub recall: f64,
    /// F1.
    pub f1: f64,
}

/// The full evaluation report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Pairwise scores of the entities.
    pub scores: PairwiseScores,
    /// True pairs that share a blocking key.
    pub blocked_true_pairs: usize,
    /// blocked_true_pairs / true_pairs.
    pub blocking_recall: f64,
    /// Missed matches, lowest match weight first.
    pub missed_matches: Vec<Example>,
    /// False merges, highest match weight first.
    pub false_merges: Vec<Example>,
    /// Threshold sweep, if asked for.
    pub sweep: Option<Vec<SweepRow>>,
    /// Entity sizes and the largest entities, if asked for (`--report`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entities: Option<EntityReport>,
}

/// Upper bounds of the entity-size buckets of [`EntityReport::sizes`]; larger ones share the
/// last bucket.
const SIZE_BUCKETS: &[(usize, usize)] = &[
    (1, 1),
    (2, 2),
    (3, 3),
    (4, 4),
    (5, 5),
    (6, 10),
    (11, 20),
    (21, 50),
    (51, 100),
    (101, usize::MAX),
];

/// Entities of one size range.
#[derive(Debug, Clone, Serialize)]
pub struct SizeBucket {
    /// Member count range, e.g. `"6-10"` (`"101+"` for the last).
    pub size: String,
    /// Entities of that size.
    pub entities: usize,
    /// Records in them.
    pub records: usize,
}

/// One large entity: how many members, and how many people they might be.
#[derive(Debug, Clone, Serialize)]
pub struct LargeEntity {
    /// Entity id.
    pub entity: u64,
    /// Member records.
    pub members: usize,
    /// Distinct normalized full names (given and family tokens, in any order).
    pub distinct_names: usize,
    /// Distinct birth dates.
    pub distinct_birth_dates: usize,
    /// Some of the distinct names (given name first), most frequent first.
    pub names: Vec<String>,
}

/// Over-merging at a glance, from the store alone: entity sizes and the largest entities.
#[derive(Debug, Clone, Serialize)]
pub struct EntityReport {
    /// Entities with at least one member.
    pub entities: usize,
    /// Stored records.
    pub records: usize,
    /// The attribute whose values count as birth dates (the first of kind `date`), if any.
    pub date_attribute: Option<String>,
    /// Entities per size range, smallest first; empty ranges left out.
    pub sizes: Vec<SizeBucket>,
    /// Entities whose members carry more than one birth date.
    pub entities_with_several_birth_dates: usize,
    /// The largest entities, most members first.
    pub largest: Vec<LargeEntity>,
}

/// Names shown per large entity.
const NAMES_SHOWN: usize = 5;

/// The full name of a profile: (the sorted given and family tokens of every person-name
/// attribute, given- and family-name attributes too, so `Wang Ming`, `Ming Wang` and `王明`
/// are one name; the tokens given first, for display). `None` without a name.
fn name_key(profile: &Profile, name_attrs: &[usize]) -> Option<(String, String)> {
    let mut given: Vec<&str> = Vec::new();
    let mut family: Vec<&str> = Vec::new();
    for &a in name_attrs {
        match profile.attrs.get(a) {
            Some(Some(Norm::Name(n))) => {
                given.extend(n.given.iter().map(String::as_str));
                family.extend(n.family.iter().map(String::as_str));
            }
            Some(Some(Norm::Str(s))) => given.extend(s.split_whitespace()),
            Some(Some(Norm::Tokens(t))) => given.extend(t.iter().map(String::as_str)),
            _ => {}
        }
    }
    if given.is_empty() && family.is_empty() {
        return None;
    }
    given.extend(family);
    let display = given.join(" ");
    given.sort_unstable();
    Some((given.join(" "), display))
}

#[derive(Default)]
struct EntityAcc {
    members: usize,
    /// Name key -> (records, the name as first seen).
    names: HashMap<String, (usize, String)>,
    dates: HashSet<String>,
}

/// The entity-size distribution and the `largest` largest entities with their distinct names
/// and birth dates (the first attribute of kind `date` in the configuration), read from the
/// store without a truth file.
pub fn entity_report(engine: &Engine, largest: usize) -> Result<EntityReport, EvalError> {
    report_entities(
        &engine.config,
        engine.reads().records().map(|r| r.map(|(_, r)| r)),
        largest,
    )
}

fn report_entities(
    config: &Config,
    records: impl Iterator<Item = Result<StoredRecord, StoreError>>,
    largest: usize,
) -> Result<EntityReport, EvalError> {
    let name_attrs: Vec<usize> = config
        .attributes
        .iter()
        .enumerate()
        .filter(|(_, a)| {
            matches!(
                a.kind,
                AttrKind::PersonName | AttrKind::GivenName | AttrKind::FamilyName
            )
        })
        .map(|(i, _)| i)
        .collect();
    let date_attr = config
        .attributes
        .iter()
        .position(|a| a.kind == AttrKind::Date);
    let mut acc: HashMap<u64, EntityAcc> = HashMap::new();
    let mut records_seen = 0;
    for r in records {
        let r = r?;
        records_seen += 1;
        let e = acc.entry(r.entity).or_default();
        e.members += 1;
        if let Some((key, display)) = name_key(&r.profile, &name_attrs) {
            e.names.entry(key).or_insert((0, display)).0 += 1;
        }
        if let Some(d) = date_attr.and_then(|a| r.profile.str(a)) {
            if !e.dates.contains(d) {
                e.dates.insert(d.to_string());
            }
        }
    }
    let mut sizes: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    for e in acc.values() {
        let b = SIZE_BUCKETS
            .iter()
            .position(|&(lo, hi)| (lo..=hi).contains(&e.members))
            .unwrap_or(SIZE_BUCKETS.len() - 1);
        let s = sizes.entry(b).or_default();
        s.0 += 1;
        s.1 += e.members;
    }
    let sizes = sizes
        .into_iter()
        .map(|(b, (entities, records))| {
            let (lo, hi) = SIZE_BUCKETS[b];
            SizeBucket {
                size: match hi {
                    usize::MAX => format!("{lo}+"),
                    _ if lo == hi => lo.to_string(),
                    _ => format!("{lo}-{hi}"),
                },
                entities,
                records,
            }
        })
        .collect();
    let mut big: Vec<(&u64, &EntityAcc)> = acc.iter().collect();
    big.sort_by(|a, b| {
        b.1.members
            .cmp(&a.1.members)
            .then(b.1.names.len().cmp(&a.1.names.len()))
            .then(a.0.cmp(b.0))
    });
    let largest = big
        .into_iter()
        .take(largest)
        .map(|(&id, e)| {
            let mut names: Vec<&(usize, String)> = e.names.values().collect();
            names.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            LargeEntity {
                entity: id,
                members: e.members,
                distinct_names: e.names.len(),
                distinct_birth_dates: e.dates.len(),
                names: names
                    .into_iter()
                    .take(NAMES_SHOWN)
                    .map(|(_, n)| n.clone())
                    .collect(),
            }
        })
        .collect();
    Ok(EntityReport {
        entities: acc.len(),
        records: records_seen,
        date_attribute: date_attr.map(|a| config.attributes[a].name.clone()),
        sizes,
        entities_with_several_birth_dates: acc.values().filter(|e| e.dates.len() > 1).count(),
        largest,
    })
}

/// The entity report as text for a person.
pub fn render_entity_report(r: &EntityReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "entities {}  records {}", r.entities, r.records);
    let _ = writeln!(out, "entity sizes (members: entities, records)");
    for b in &r.sizes {
        let _ = writeln!(out, "  {:>7}: {:>9} {:>10}", b.size, b.entities, b.records);
    }
    let date = r.date_attribute.as_deref().unwrap_or("birth date");
    let _ = writeln!(
        out,
        "entities with more than one {date}: {}",
        r.entities_with_several_birth_dates
    );
    let _ = writeln!(
        out,
        "largest entities (members, distinct names, distinct {date}):"
    );
    for e in &r.largest {
        let _ = writeln!(
            out,
            "  {:>10} {:>6} {:>6} {:>6}  {}{}",
            e.entity,
            e.members,
            e.distinct_names,
            e.distinct_birth_dates,
            e.names.join(" / "),
            if e.distinct_names > e.names.len() {
                " ..."
            } else {
                ""
            }
        );
    }
    out
}

/// Reads a truth file of pairs: a CSV whose first two columns name two records (header first).
pub fn read_truth_pairs(path: &Path) -> Result<Vec<(String, String)>, EvalError> {
    let rows = read_rows(path)?;
    Ok(rows.into_iter().map(|r| (r.0, r.1)).collect())
}

/// Reads a truth file of cluster labels (`record,cluster` per row, header first) into pairs.
pub fn read_truth_clusters(path: &Path) -> Result<Vec<(String, String)>, EvalError> {
    let mut clusters: HashMap<String, Vec<String>> = HashMap::new();
    for (record, label) in read_rows(path)? {
        clusters.entry(label).or_default().push(record);
    }
    let mut pairs = Vec::new();
    for members in clusters.values() {
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                pairs.push((a.clone(), b.clone()));
            }
        }
    }
    Ok(pairs)
}

/// Reads the rows of a two-column truth file (header first): `(record, label)` pairs for
/// cluster-label files.
pub fn read_rows(path: &Path) -> Result<Vec<(String, String)>, EvalError> {
    let err = |reason: String| EvalError::Truth {
        path: path.display().to_string(),
        reason,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| err(e.to_string()))?;
    let mut out = Vec::new();
    for row in rdr.records() {
        let row = row.map_err(|e| err(e.to_string()))?;
        if row.len() < 2 {
            let line = row.position().map_or(0, |p| p.line());
            return Err(err(format!("line {line}: expected two columns")));
        }
        out.push((row[0].to_string(), row[1].to_string()));
    }
    Ok(out)
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

/// Evaluates the engine's entities against true pairs; `examples` bounds each example list.
pub fn evaluate(
    engine: &Engine,
    truth: &[(String, String)],
    examples: usize,
    sweep: bool,
) -> Result<Report, EvalError> {
    let store = engine.reads();
    let mut recs: Vec<StoredRecord> = Vec::new();
    for r in store.records() {
        recs.push(r?.1);
    }
    let mut key_count: HashMap<&str, usize> = HashMap::new();
    for r in &recs {
        *key_count.entry(r.key.as_str()).or_default() += 1;
    }
    let names: Vec<String> = recs
        .iter()
        .map(|r| {
            if key_count[r.key.as_str()] > 1 {
                format!("{}:{}", r.source, r.key)
            } else {
                r.key.clone()
            }
        })
        .collect();
    let index_of: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();

    // True pairs between stored records, each once.
    let mut truth_set: HashSet<(usize, usize)> = HashSet::new();
    for (a, b) in truth {
        if let (Some(&x), Some(&y)) = (index_of.get(a.as_str()), index_of.get(b.as_str())) {
            if x != y {
                truth_set.insert((x.min(y), x.max(y)));
            }
        }
    }

    // Predicted pairs: every pair inside an entity.
    let mut members: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, r) in recs.iter().enumerate() {
        members.entry(r.entity).or_default().push(i);
    }
    let mut predicted = 0usize;
    let mut tp = 0usize;
    let mut false_merge_pairs = Vec::new();
    for m in members.values() {
        for (i, &x) in m.iter().enumerate() {
            for &y in &m[i + 1..] {
                predicted += 1;
                if truth_set.contains(&(x.min(y), x.max(y))) {
                    tp += 1;
                } else {
                    false_merge_pairs.push((x, y));
                }
            }
        }
    }
    let mut entities = 0;
    for e in store.entities() {
        if e?.state == EntityState::Active {
            entities += 1;
        }
    }
    let precision = ratio(tp, predicted);
    let recall = ratio(tp, truth_set.len());
    let scores = PairwiseScores {
        records: recs.len(),
        entities,
        true_pairs: truth_set.len(),
        predicted_pairs: predicted,
        true_positives: tp,
        false_positives: predicted - tp,
        false_negatives: truth_set.len() - tp,
        precision,
        recall,
        f1: f1(precision, recall),
    };

    // Blocking recall.
    let record_keys: Vec<HashSet<String>> = recs
        .iter()
        .map(|r| keys::keys(&engine.config, &r.profile).into_iter().collect())
        .collect();
    let blocked = |x: usize, y: usize| !record_keys[x].is_disjoint(&record_keys[y]);
    let blocked_true_pairs = truth_set.iter().filter(|&&(x, y)| blocked(x, y)).count();

    let example = |x: usize, y: usize| Example {
        a: names[x].clone(),
        b: names[y].clone(),
        entity_a: recs[x].entity,
        entity_b: recs[y].entity,
        blocked_together: blocked(x, y),
        explanation: engine.model.explain(&recs[x].profile, &recs[y].profile),
    };
    let mut missed: Vec<Example> = truth_set
        .iter()
        .filter(|&&(x, y)| recs[x].entity != recs[y].entity)
        .map(|&(x, y)| example(x, y))
        .collect();
    missed.sort_by(|a, b| {
        a.explanation
            .match_weight
            .total_cmp(&b.explanation.match_weight)
            .then(a.a.cmp(&b.a))
    });
    missed.truncate(examples);
    let mut false_merges: Vec<Example> = false_merge_pairs
        .iter()
        .map(|&(x, y)| example(x, y))
        .collect();
    false_merges.sort_by(|a, b| {
        b.explanation
            .match_weight
            .total_cmp(&a.explanation.match_weight)
            .then(a.a.cmp(&b.a))
    });
    false_merges.truncate(examples);

    let sweep = sweep.then(|| {
        let mut buckets: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, ks) in record_keys.iter().enumerate() {
            for k in ks {
                buckets.entry(k.as_str()).or_default().push(i);
            }
        }
        let mut pairs: HashSet<(usize, usize)> = HashSet::new();
        for b in buckets.values().filter(|b| b.len() <= MAX_SWEEP_BUCKET) {
            for (i, &x) in b.iter().enumerate() {
                for &y in &b[i + 1..] {
                    pairs.insert((x.min(y), x.max(y)));
                }
            }
        }
        let scored: Vec<(f64, bool)> = pairs
            .iter()
            .map(|&(x, y)| {
                (
                    probability(engine.model.weight(&recs[x].profile, &recs[y].profile)),
                    truth_set.contains(&(x, y)),
                )
            })
            .collect();
        SWEEP_THRESHOLDS
            .iter()
            .map(|&t| {
                let predicted = scored.iter().filter(|(p, _)| *p >= t).count();
                let tp = scored.iter().filter(|(p, m)| *p >= t && *m).count();
                let precision = ratio(tp, predicted);
                let recall = ratio(tp, truth_set.len());
                SweepRow {
                    threshold: t,
                    predicted,
                    true_positives: tp,
                    precision,
                    recall,
                    f1: f1(precision, recall),
                }
            })
            .collect()
    });

    Ok(Report {
        scores,
        blocked_true_pairs,
        blocking_recall: ratio(blocked_true_pairs, truth_set.len()),
        missed_matches: missed,
        false_merges,
        sweep,
        entities: None,
    })
}

/// The report as text for a person.
pub fn render_text(r: &Report) -> String {
    let s = &r.scores;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "records {}  entities {}  true pairs {}  predicted pairs {}",
        s.records, s.entities, s.true_pairs, s.predicted_pairs
    );
    let _ = writeln!(
        out,
        "TP {}  FP (false merges) {}  FN (missed) {}",
        s.true_positives, s.false_positives, s.false_negatives
    );
    let _ = writeln!(
        out,
        "precision {:.4}  recall {:.4}  F1 {:.4}",
        s.precision, s.recall, s.f1
    );
    let _ = writeln!(
        out,
        "blocking recall {:.4} ({} of {} true pairs share a blocking key)",
        r.blocking_recall, r.blocked_true_pairs, s.true_pairs
    );
    for (title, list) in [
        ("missed matches (lowest weight first)", &r.missed_matches),
        ("false merges (highest weight first)", &r.false_merges),
    ] {
        let _ = writeln!(out, "\n{title}: {} shown", list.len());
        for e in list {
            let levels: Vec<String> = e
                .explanation
                .comparisons
                .iter()
                .map(|c| {
                    format!(
                        "{}={}({:+.1})",
                        c.comparison,
                        c.level.as_deref().unwrap_or("null"),
                        c.weight
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "  {} [{}] ~ {} [{}]: weight {:.2} p {:.3}{}{}\n    {}",
                e.a,
                e.entity_a,
                e.b,
                e.entity_b,
                e.explanation.match_weight,
                e.explanation.match_probability,
                if e.explanation.personal_conflict {
                    " personal-conflict"
                } else {
                    ""
                },
                if e.blocked_together {
                    ""
                } else {
                    " NOT-BLOCKED"
                },
                levels.join(" ")
            );
        }
    }
    if let Some(rows) = &r.sweep {
        let _ = writeln!(
            out,
            "\nthreshold sweep over blocked pairs (before clustering)"
        );
        let _ = writeln!(
            out,
            "{:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "p>=", "predicted", "TP", "precision", "recall", "F1"
        );
        for row in rows {
            let _ = writeln!(
                out,
                "{:>9} {:>9} {:>9} {:>9.4} {:>9.4} {:>9.4}",
                row.threshold, row.predicted, row.true_positives, row.precision, row.recall, row.f1
            );
        }
    }
    out
}

/// The sweep as an SVG chart: precision, recall and F1 against the threshold.
pub fn sweep_svg(rows: &[SweepRow]) -> String {
    let (w, h, pad) = (640.0, 400.0, 50.0);
    let x = |i: usize| pad + (w - 2.0 * pad) * i as f64 / (rows.len().max(2) - 1) as f64;
    let lo = rows
        .iter()
        .flat_map(|r| [r.precision, r.recall])
        .fold(1.0f64, f64::min)
        .min(0.9);
    let y = |v: f64| h - pad - (h - 2.0 * pad) * (v - lo) / (1.0 - lo).max(1e-9);
    let line = |f: &dyn Fn(&SweepRow) -> f64, color: &str| {
        let pts: Vec<String> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| format!("{:.1},{:.1}", x(i), y(f(r))))
            .collect();
        format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>\n",
            pts.join(" ")
        )
    };
    let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    let _ = writeln!(s, "<text x=\"{pad}\" y=\"20\" font-size=\"14\">goldrec threshold sweep (blocked pairs, before clustering)</text>");
    for k in 0..=4 {
        let v = lo + (1.0 - lo) * k as f64 / 4.0;
        let _ = writeln!(s, "<line x1=\"{pad}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"5\" y=\"{:.1}\">{v:.3}</text>", w - pad, y(v), y(v), y(v) + 4.0);
    }
    for (i, r) in rows.iter().enumerate() {
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            x(i),
            h - pad + 16.0,
            r.threshold
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">match probability threshold</text>",
        w / 2.0,
        h - 10.0
    );
    s += &line(&|r| r.precision, "#1f77b4");
    s += &line(&|r| r.recall, "#d62728");
    s += &line(&|r| r.f1, "#2ca02c");
    for (i, (name, color)) in [
        ("precision", "#1f77b4"),
        ("recall", "#d62728"),
        ("F1", "#2ca02c"),
    ]
    .iter()
    .enumerate()
    {
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" fill=\"{color}\">{name}</text>",
            w - pad - 60.0,
            pad + 14.0 * i as f64
        );
    }
    s += "</svg>\n";
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::engine::Change;
    use crate::ingest::{Position, RawRecord};

    fn crm(key: &str, name: &str, dob: &str) -> (Position, Result<RawRecord, String>) {
        let v = serde_json::json!({"customer_id": key, "full_name": name, "birth_date": dob});
        let serde_json::Value::Object(m) = v else {
            unreachable!()
        };
        (Position::Index(0), Ok(m))
    }

    #[test]
    fn report_lists_a_force_merged_entity_with_its_distinct_names_and_birth_dates() {
        let dir = tempfile::tempdir().unwrap();
        let mut config =
            Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/goldrec.toml"))
                .unwrap();
        config.data_dir = dir.path().join("data"); // its key file lands beside it, in `dir`
        let engine = Engine::open(config).unwrap();
        let changes: Vec<Change> = engine
            .prepare(
                "crm",
                vec![
                    crm("C1", "Robert Smith", "01/02/1970"),
                    crm("C2", "Wang Ming", "03/04/1985"),
                    crm("C3", "Ann Lee", "05/06/1990"),
                    crm("C4", "Ming Wang", "03/04/1985"),
                ],
            )
            .unwrap()
            .into_iter()
            .map(|(_, c)| c.unwrap())
            .collect();
        engine.apply(changes).unwrap();
        let entity = |key: &str| {
            engine
                .reads()
                .records()
                .map(|r| r.unwrap().1)
                .find(|r| r.key == key)
                .unwrap()
                .entity
        };
        let (smith, wang, lee) = (entity("C1"), entity("C2"), entity("C3"));
        assert_ne!(smith, wang);
        // Two different people force-merged (C4 may or may not have joined Wang Ming: it is
        // the same name in another order, so it adds no distinct name either way).
        let merged = engine
            .merge_entities(&[smith, wang], "test", "force", &HashMap::new(), false)
            .unwrap()
            .value;
        let r = entity_report(&engine, 10).unwrap();
        assert_eq!(r.records, 4);
        assert_eq!(r.date_attribute.as_deref(), Some("birth_date"));
        let top = &r.largest[0];
        assert_eq!(top.entity, merged);
        assert!(top.members >= 2, "{top:?}");
        assert_eq!(top.distinct_names, 2, "{top:?}");
        assert_eq!(top.distinct_birth_dates, 2, "{top:?}");
        assert_eq!(top.names.len(), 2, "{top:?}");
        assert!(top.names.contains(&"robert smith".to_string()), "{top:?}");
        assert!(
            top.names
                .iter()
                .any(|n| n == "ming wang" || n == "wang ming"),
            "{top:?}"
        );
        assert_eq!(r.entities_with_several_birth_dates, 1);
        let single = r.largest.iter().find(|e| e.entity == lee).unwrap();
        assert_eq!((single.members, single.distinct_names), (1, 1));
        assert_eq!(single.names, vec!["ann lee".to_string()]);
        let counted: usize = r.sizes.iter().map(|b| b.records).sum();
        assert_eq!(counted, 4);
        let text = render_entity_report(&r);
        assert!(text.contains("robert smith"), "{text}");
    }

    #[test]
    fn svg_has_one_line_per_metric() {
        let rows: Vec<SweepRow> = [0.1, 0.5, 0.9]
            .iter()
            .map(|&t| SweepRow {
                threshold: t,
                predicted: 10,
                true_positives: 9,
                precision: 0.9,
                recall: 1.0 - t / 10.0,
                f1: 0.9,
            })
            .collect();
        let svg = sweep_svg(&rows);
        assert_eq!(svg.matches("<polyline").count(), 3);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    }
}
