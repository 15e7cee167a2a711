//! Estimated precision from stewards: a random sample of automatically linked pairs for
//! stewards to confirm or refute, their verdicts ([`crate::store::LinkVerdict`], written by
//! [`Engine::judge_link`]), and the figures they give: the precision of automatic links with a
//! Wilson score interval, and how often stewards reverse the matcher's lean on review pairs.
//!
//! An *automatic link* is a pair of records in one live entity that no chain of steward
//! must-links (`same` decisions) joins: the matcher put them together, not a steward.

use std::collections::HashSet;

use serde::Serialize;

use crate::engine::{Engine, EngineError};
use crate::ingest::RecordId;
use crate::matching::ComparisonExplanation;
use crate::store::{EntityId, EntityState, Reads, ReviewItem, StoreError, StoredRecord, Verdict};

/// Must-link hops followed to find whether a steward joined two records.
const MAX_MUST_LINK_RECORDS: usize = 10_000;

/// Whether `a` and `b` are an automatic link: `Ok(Ok((a, b, entity)))`, or `Ok(Err(why))`.
pub fn automatic_link(
    reads: Reads<'_>,
    a: RecordId,
    b: RecordId,
) -> Result<Result<(StoredRecord, StoredRecord, EntityId), String>, StoreError> {
    if a == b {
        return Ok(Err("a link needs two different records".into()));
    }
    let (Some(ra), Some(rb)) = (reads.record(a)?, reads.record(b)?) else {
        return Ok(Err("no such record".into()));
    };
    if ra.entity != rb.entity {
        return Ok(Err(format!(
            "{}/{} and {}/{} are not linked: they are in entities {} and {}",
            ra.source, ra.key, rb.source, rb.key, ra.entity, rb.entity
        )));
    }
    let live = reads
        .entity(ra.entity)?
        .is_some_and(|e| e.state == EntityState::Active);
    if !live {
        return Ok(Err(format!("entity {} is not live", ra.entity)));
    }
    if must_linked(reads, a, b)? {
        return Ok(Err(format!(
            "{}/{} and {}/{} are linked by steward decisions (must-links), not automatically",
            ra.source, ra.key, rb.source, rb.key
        )));
    }
    let entity = ra.entity;
    Ok(Ok((ra, rb, entity)))
}

/// Whether a chain of `same` decisions joins `a` to `b`.
fn must_linked(reads: Reads<'_>, a: RecordId, b: RecordId) -> Result<bool, StoreError> {
    let mut seen = HashSet::from([a]);
    let mut queue = vec![a];
    while let Some(r) = queue.pop() {
        for d in reads.decisions_of(r)? {
            if d.verdict != Verdict::Same {
                continue;
            }
            let other = if d.a == r { d.b } else { d.a };
            if other == b {
                return Ok(true);
            }
            if seen.len() < MAX_MUST_LINK_RECORDS && seen.insert(other) {
                queue.push(other);
            }
        }
    }
    Ok(false)
}

/// One side of a sampled pair.
#[derive(Debug, Clone, Serialize)]
pub struct PairSide {
    /// Source name.
    pub source: String,
    /// Record key.
    pub key: String,
    /// Values as supplied.
    pub values: std::collections::BTreeMap<String, String>,
}

impl From<StoredRecord> for PairSide {
    fn from(r: StoredRecord) -> Self {
        Self {
            source: r.source,
            key: r.key,
            values: r.values,
        }
    }
}

/// An automatically linked pair for a steward to confirm.
#[derive(Debug, Clone, Serialize)]
pub struct SampledLink {
    /// One record.
    pub left: PairSide,
    /// The other.
    pub right: PairSide,
    /// The entity holding both.
    pub entity_id: EntityId,
    /// Match weight of the pair now (bits).
    pub weight: f64,
    /// Match probability from the weight.
    pub probability: f64,
    /// The prior's contribution to the weight (bits), for drawing the weight's make-up.
    pub prior_weight: f64,
    /// The weight linking decisions use: `weight`, capped below the link weight when personal
    /// evidence disagrees.
    pub decision_weight: f64,
    /// Per comparison, in model order.
    pub explanation: Vec<ComparisonExplanation>,
}

/// Precision of automatic links, estimated from stewards' verdicts.
#[derive(Debug, Clone, Serialize)]
pub struct LinkPrecision {
    /// Automatic links judged.
    pub judged: u64,
    /// Judged `same`.
    pub confirmed: u64,
    /// `confirmed / judged` (absent before the first verdict).
    pub precision: Option<f64>,
    /// 95% Wilson score interval of the precision (absent before the first verdict).
    pub ci95: Option<[f64; 2]>,
}

/// How stewards decided review pairs against the matcher's lean.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewReversals {
    /// Review pairs decided `same` or `different`.
    pub decided: u64,
    /// Decided against the matcher's lean (probability >= 0.5 decided `different`, < 0.5
    /// decided `same`).
    pub reversed: u64,
    /// `reversed / decided` (absent before the first decision).
    pub reversal_rate: Option<f64>,
}

/// `GET /v1/quality`.
#[derive(Debug, Clone, Serialize)]
pub struct QualityReport {
    /// Precision of automatic links.
    pub automatic_links: LinkPrecision,
    /// Review decisions against the matcher's lean.
    pub review: ReviewReversals,
}

/// The z of a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Wilson score interval for `k` successes in `n` trials at normal quantile `z`.
pub fn wilson(k: u64, n: u64, z: f64) -> Option<[f64; 2]> {
    if n == 0 {
        return None;
    }
    let (n, p) = (n as f64, k as f64 / n as f64);
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some([(center - half).max(0.0), (center + half).min(1.0)])
}

/// Small generator (xorshift64*) seeded from the OS: samples differ between requests.
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let mut seed = [0u8; 8];
        if getrandom::fill(&mut seed).is_err() {
            seed = (chrono::Utc::now().timestamp_nanos_opt().unwrap_or(1) as u64).to_le_bytes();
        }
        Self(u64::from_le_bytes(seed) | 1)
    }

    /// A number below `n` (> 0).
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

impl Engine {
    /// Up to `n` automatic links drawn uniformly among all of them (each entity of `m` members
    /// holds `m (m - 1) / 2` pairs), leaving out pairs already judged; fewer when not enough
    /// unjudged ones are found. Scans the entities once.
    pub fn sample_links(&self, n: usize) -> Result<Vec<SampledLink>, EngineError> {
        let reads = self.reads();
        // Multi-member live entities with the running count of their pairs.
        let mut entities: Vec<(EntityId, Vec<RecordId>)> = Vec::new();
        let mut ends: Vec<u64> = Vec::new();
        let mut total = 0u64;
        for e in reads.entities() {
            let e = e?;
            let m = e.members.len() as u64;
            if e.state != EntityState::Active || m < 2 {
                continue;
            }
            total += m * (m - 1) / 2;
            ends.push(total);
            entities.push((e.id, e.members));
        }
        let mut out = Vec::new();
        if total == 0 {
            return Ok(out);
        }
        let mut rng = Rng::new();
        let mut tried: HashSet<[u8; 32]> = HashSet::new();
        let attempts = 20 * n as u64 + 100;
        for _ in 0..attempts {
            if out.len() >= n || tried.len() as u64 >= total {
                break;
            }
            let pick = rng.below(total);
            let i = ends.partition_point(|&end| end <= pick);
            let members = &entities[i].1;
            let m = members.len() as u64;
            let x = rng.below(m);
            let mut y = rng.below(m - 1);
            if y >= x {
                y += 1;
            }
            let (a, b) = (members[x as usize], members[y as usize]);
            let key = ReviewItem::key(a, b);
            if !tried.insert(key)
                || reads.link_verdict(&key)?.is_some()
                || reads.decision(&key)?.is_some()
            {
                continue;
            }
            let Ok((ra, rb, entity)) = automatic_link(reads, a, b)? else {
                continue;
            };
            let (ra, rb) = if a <= b { (ra, rb) } else { (rb, ra) };
            let ex = self.model.explain(&ra.profile, &rb.profile);
            out.push(SampledLink {
                left: ra.into(),
                right: rb.into(),
                entity_id: entity,
                weight: ex.match_weight,
                probability: ex.match_probability,
                prior_weight: ex.prior_weight,
                decision_weight: ex.decision_weight,
                explanation: ex.comparisons,
            });
        }
        Ok(out)
    }

    /// Precision of automatic links from the stewards' verdicts, and the reversal rate of
    /// review decisions.
    pub fn quality_report(&self) -> Result<QualityReport, EngineError> {
        let reads = self.reads();
        let (mut judged, mut confirmed) = (0u64, 0u64);
        for v in reads.link_verdicts() {
            judged += 1;
            confirmed += u64::from(v?.verdict == Verdict::Same);
        }
        let (mut decided, mut reversed) = (0u64, 0u64);
        for o in reads.review_outcomes() {
            decided += 1;
            reversed += u64::from(o?.reversed());
        }
        let ratio = |k: u64, n: u64| (n > 0).then(|| k as f64 / n as f64);
        Ok(QualityReport {
            automatic_links: LinkPrecision {
                judged,
                confirmed,
                precision: ratio(confirmed, judged),
                ci95: wilson(confirmed, judged, Z95),
            },
            review: ReviewReversals {
                decided,
                reversed,
                reversal_rate: ratio(reversed, decided),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_known_values() {
        // 8 of 10: the textbook interval [0.490, 0.943].
        let [lo, hi] = wilson(8, 10, Z95).unwrap();
        assert!(
            (lo - 0.4902).abs() < 1e-3 && (hi - 0.9433).abs() < 1e-3,
            "{lo} {hi}"
        );
        // All confirmed: the upper bound is 1, the lower one below it.
        let [lo, hi] = wilson(5, 5, Z95).unwrap();
        assert!(
            (hi - 1.0).abs() < 1e-12 && lo < 0.6 && lo > 0.5,
            "{lo} {hi}"
        );
        assert_eq!(wilson(0, 0, Z95), None);
    }
}
