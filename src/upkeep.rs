//! Upkeep of the customer file: per source and attribute, how complete and how fresh the data
//! is, the records not updated for `[upkeep] stale_after`, and the customers whose every
//! record is that old (they need re-verification). `GET /v1/quality/data`,
//! `goldrec quality-data`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::{Engine, EngineError};
use crate::store::{EntityId, EntityState};

const DAY_MS: f64 = 86_400_000.0;

/// One attribute of one source.
#[derive(Debug, Clone, Serialize)]
pub struct AttributeQuality {
    /// Records with a value.
    pub filled: u64,
    /// `filled / records`.
    pub completeness: f64,
    /// Update time of the newest record with a value, ms.
    pub newest_at: Option<i64>,
    /// Its age in days.
    pub newest_age_days: Option<f64>,
}

/// One identity source.
#[derive(Debug, Clone, Serialize)]
pub struct SourceQuality {
    /// Source.
    pub source: String,
    /// Stored records.
    pub records: u64,
    /// Records not updated for `stale_after`.
    pub stale_records: u64,
    /// Newest update, ms.
    pub newest_at: Option<i64>,
    /// Per mapped attribute.
    pub attributes: BTreeMap<String, AttributeQuality>,
}

/// One activity source.
#[derive(Debug, Clone, Serialize)]
pub struct ActivityQuality {
    /// Source.
    pub source: String,
    /// Stored activity records.
    pub records: u64,
    /// Activity waiting for its customer.
    pub unresolved: u64,
    /// Newest activity time, ms.
    pub newest_at: Option<i64>,
}

/// A customer whose every record is older than `stale_after`.
#[derive(Debug, Clone, Serialize)]
pub struct Reverify {
    /// Entity.
    pub entity_id: EntityId,
    /// Newest update of any of its records, ms.
    pub last_updated_at: i64,
    /// Age of that update in days.
    pub age_days: f64,
    /// Its records (source:key).
    pub records: Vec<String>,
}

/// The upkeep report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// When computed, ms.
    pub generated_at: i64,
    /// `[upkeep] stale_after` in days.
    pub stale_after_days: f64,
    /// Identity sources.
    pub sources: Vec<SourceQuality>,
    /// Activity sources.
    pub activity_sources: Vec<ActivityQuality>,
    /// Customers needing re-verification (all of them).
    pub reverify_total: u64,
    /// A page of them, by entity id.
    pub reverify: Vec<Reverify>,
    /// Entity id to pass as `after` for the next page.
    pub next_after: Option<EntityId>,
}

/// Computes the report at `now` (a scan of records, activity and entities); the
/// re-verification list is paged: entities after `after`, at most `limit`.
pub fn report(
    engine: &Engine,
    now: i64,
    after: Option<EntityId>,
    limit: usize,
) -> Result<Report, EngineError> {
    let config = &engine.config;
    let stale_before = now - config.stale_after_ms;
    let mut sources: BTreeMap<String, SourceQuality> = config
        .sources
        .values()
        .map(|s| {
            let attributes = s
                .fields
                .iter()
                .map(|(a, _)| {
                    (
                        config.attributes[*a].name.clone(),
                        AttributeQuality {
                            filled: 0,
                            completeness: 0.0,
                            newest_at: None,
                            newest_age_days: None,
                        },
                    )
                })
                .collect();
            (
                s.name.clone(),
                SourceQuality {
                    source: s.name.clone(),
                    records: 0,
                    stale_records: 0,
                    newest_at: None,
                    attributes,
                },
            )
        })
        .collect();
    let reads = engine.reads();
    for r in reads.records() {
        let (_, r) = r?;
        let Some(s) = sources.get_mut(&r.source) else {
            continue;
        };
        let t = r.recency();
        s.records += 1;
        s.stale_records += u64::from(t < stale_before);
        s.newest_at = Some(s.newest_at.map_or(t, |x| x.max(t)));
        for (name, q) in s.attributes.iter_mut() {
            if r.values.get(name).is_some_and(|v| !v.is_empty()) {
                q.filled += 1;
                q.newest_at = Some(q.newest_at.map_or(t, |x| x.max(t)));
            }
        }
    }
    let days = |t: i64| ((now - t) as f64 / DAY_MS * 10.0).round() / 10.0;
    for s in sources.values_mut() {
        for q in s.attributes.values_mut() {
            q.completeness = if s.records == 0 {
                0.0
            } else {
                (q.filled as f64 / s.records as f64 * 1000.0).round() / 1000.0
            };
            q.newest_age_days = q.newest_at.map(days);
        }
    }
    let mut activity: BTreeMap<String, ActivityQuality> = config
        .activity_sources
        .keys()
        .map(|n| {
            (
                n.clone(),
                ActivityQuality {
                    source: n.clone(),
                    records: 0,
                    unresolved: 0,
                    newest_at: None,
                },
            )
        })
        .collect();
    for a in engine.activities() {
        let (_, a) = a?;
        if let Some(q) = activity.get_mut(&a.activity.source) {
            q.records += 1;
            q.unresolved += u64::from(a.record.is_none());
            let t = a.activity.at;
            q.newest_at = Some(q.newest_at.map_or(t, |x| x.max(t)));
        }
    }
    let mut reverify = Vec::new();
    let mut total = 0;
    let mut next_after = None;
    for e in reads.entities() {
        let e = e?;
        if e.state != EntityState::Active {
            continue;
        }
        let mut newest = i64::MIN;
        let mut records = Vec::new();
        for m in &e.members {
            if let Some(r) = reads.record(*m)? {
                newest = newest.max(r.recency());
                records.push(format!("{}:{}", r.source, r.key));
            }
        }
        if records.is_empty() || newest >= stale_before {
            continue;
        }
        total += 1;
        if after.is_some_and(|a| e.id <= a) {
            continue;
        }
        if reverify.len() < limit {
            reverify.push(Reverify {
                entity_id: e.id,
                last_updated_at: newest,
                age_days: days(newest),
                records,
            });
        } else if next_after.is_none() {
            next_after = reverify.last().map(|r: &Reverify| r.entity_id);
        }
    }
    Ok(Report {
        generated_at: now,
        stale_after_days: config.stale_after_ms as f64 / DAY_MS,
        sources: sources.into_values().collect(),
        activity_sources: activity.into_values().collect(),
        reverify_total: total,
        reverify,
        next_after,
    })
}
