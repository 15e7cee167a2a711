//! The overview a steward sees first ([`Engine::overview`]): how many records and entities
//! there are, per source how many records and when they last arrived, and how large and how
//! old the open review queue is.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::{Engine, EngineError};
use crate::store::ReviewItem;

/// Counts of the whole store, per source and of the review queue.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Overview {
    /// Stored records.
    pub records: u64,
    /// Live entities.
    pub entities: u64,
    /// Last committed change sequence of the change feed.
    pub latest_change: u64,
    /// Per configured source (and any source with stored records), in name order.
    pub sources: Vec<SourceOverview>,
    /// The open review queue.
    pub review: ReviewOverview,
}

/// One source's records.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SourceOverview {
    /// Source name.
    pub source: String,
    /// Stored records of the source.
    pub records: u64,
    /// When goldrec first received the source's newest record (ms since epoch).
    pub last_ingested_at: Option<i64>,
    /// When goldrec last received a change to one of its records (ms since epoch).
    pub last_changed_at: Option<i64>,
}

/// The open review queue: pairs still to decide (both records stored, in different entities,
/// no decision), as `GET /v1/review` counts them before its filters.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReviewOverview {
    /// Open pairs.
    pub open: u64,
    /// When the longest-waiting open pair was queued (ms since epoch).
    pub oldest_queued_at: Option<i64>,
    /// When the latest open pair was queued (ms since epoch).
    pub newest_queued_at: Option<i64>,
}

impl Engine {
    /// The overview: counters from the store's meta, one scan of the records for the
    /// per-source figures and one of the review queue. Reads only; the scan makes it a
    /// dashboard call (linear in records), not a hot path.
    pub fn overview(&self) -> Result<Overview, EngineError> {
        let reads = self.reads();
        let mut sources: BTreeMap<String, SourceOverview> = self
            .config
            .sources
            .keys()
            .map(|name| {
                let s = SourceOverview {
                    source: name.clone(),
                    records: 0,
                    last_ingested_at: None,
                    last_changed_at: None,
                };
                (name.clone(), s)
            })
            .collect();
        for r in reads.records() {
            let (_, r) = r?;
            let s = sources
                .entry(r.source.clone())
                .or_insert_with(|| SourceOverview {
                    source: r.source.clone(),
                    records: 0,
                    last_ingested_at: None,
                    last_changed_at: None,
                });
            s.records += 1;
            s.last_ingested_at = s.last_ingested_at.max(Some(r.ingested_at));
            s.last_changed_at = s.last_changed_at.max(Some(r.changed_at));
        }
        let mut review = ReviewOverview {
            open: 0,
            oldest_queued_at: None,
            newest_queued_at: None,
        };
        for item in reads.review_items() {
            let item = item?;
            let (Some(a), Some(b)) = (reads.record(item.a)?, reads.record(item.b)?) else {
                continue;
            };
            if a.entity == b.entity || reads.decision(&ReviewItem::key(item.a, item.b))?.is_some() {
                continue;
            }
            review.open += 1;
            let t = item.queued_at;
            review.oldest_queued_at = Some(review.oldest_queued_at.map_or(t, |o| o.min(t)));
            review.newest_queued_at = review.newest_queued_at.max(Some(t));
        }
        Ok(Overview {
            records: reads.record_count()?,
            entities: reads.entity_count()?,
            latest_change: reads.last_change_seq()?,
            sources: sources.into_values().collect(),
            review,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_store_lists_the_configured_sources_with_nothing_queued() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::config::Config::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/goldrec.toml"
        )))
        .unwrap();
        config.data_dir = dir.path().to_path_buf();
        let names: Vec<String> = config.sources.keys().cloned().collect();
        let engine = Engine::open(config).unwrap();
        let o = engine.overview().unwrap();
        assert_eq!((o.records, o.entities, o.review.open), (0, 0, 0));
        let listed: Vec<String> = o.sources.iter().map(|s| s.source.clone()).collect();
        assert_eq!(listed, names);
        assert!(o.sources.iter().all(|s| s.last_ingested_at.is_none()));
    }
}
