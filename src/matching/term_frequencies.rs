//! Term-frequency adjustment: agreeing on a rare value is stronger evidence than agreeing on a
//! common one (a rare surname versus 王 or Smith).
//!
//! For comparisons that opt in (names, short text, postcodes, emails and phones by default),
//! the table counts how many stored records hold each normalized value: an email or phone
//! shared by many customers (a family inbox, a company switchboard, a recycled number) is
//! weak evidence, one held by a single customer strong. At the exact level, the comparison's u becomes
//! the value's frequency: `u_v = (count + PRIOR_RECORDS * u) / (records + PRIOR_RECORDS)`,
//! which starts at the model's u while few records are stored and moves to the observed
//! frequency as they accumulate. The boost over the plain exact weight is capped at
//! `log2(MAX_BOOST)` bits so a value seen once cannot outweigh everything else, plus
//! `log2(records / REFERENCE_POPULATION)` in a larger store: the prior falls as the store grows
//! (see [`super::population_prior`]), and agreeing on a value no one else holds is evidence
//! that grows with it, where agreeing on a common value is not.

use std::hash::Hasher;

use rustc_hash::{FxHashMap, FxHasher};

use crate::config::{Method, NamePart};
use crate::ingest::profile::{Norm, Profile};

/// Pseudo-records of the model's u mixed into every frequency (smoothing for small stores).
pub const PRIOR_RECORDS: f64 = 1_000.0;
/// Largest factor by which a rare value may lower u (4 bits of extra weight).
pub const MAX_BOOST: f64 = 16.0;

/// Whether a comparison gets term-frequency adjustment by default.
pub fn applies_to(method: Method) -> bool {
    matches!(
        method,
        Method::Name | Method::Text | Method::Postcode | Method::Email | Method::Phone
    )
}

/// The value a comparison's frequencies are counted by, for one profile.
pub fn value_of(
    method: Method,
    attr: usize,
    part: Option<NamePart>,
    p: &Profile,
) -> Option<String> {
    match (method, p.attrs.get(attr)?.as_ref()?) {
        (Method::Name, Norm::Name(n)) => {
            let tokens = match part {
                Some(NamePart::Given) => &n.given,
                Some(NamePart::Family) => &n.family,
                None => return Some(n.full()),
            };
            (!tokens.is_empty()).then(|| tokens.join(" "))
        }
        (Method::Postcode, Norm::Str(s)) => Some(crate::normalize::postcode_area(s).to_string()),
        (Method::Text | Method::Email | Method::Phone, Norm::Str(s)) => Some(s.clone()),
        _ => None,
    }
}

/// A counted value, as a 64-bit hash: a million names, emails and phones take 16 bytes each
/// in the table instead of their text (collisions among that many values are negligible).
pub type TermKey = u64;

/// The [`TermKey`] of a value. FxHash is deterministic (no per-process seed), so saved
/// snapshots stay valid across restarts.
pub fn term_key(value: &str) -> TermKey {
    let mut h = FxHasher::default();
    h.write(value.as_bytes());
    h.finish()
}

/// Value counts per comparison (indexed like the model's comparisons).
#[derive(Debug, Clone, Default)]
pub struct TermFrequencies {
    records: u64,
    counts: Vec<FxHashMap<TermKey, u32>>,
    /// Records and entities of the store before the batch in progress (set by the engine),
    /// from which the prior is estimated.
    population: (u64, u64),
    /// Whether the rare-value cap grows with the store (the prior follows the population);
    /// with a configured prior it stays [`MAX_BOOST`].
    boost_grows: bool,
}

impl TermFrequencies {
    /// An empty table for `n` comparisons.
    pub fn new(n: usize) -> Self {
        Self {
            records: 0,
            counts: vec![FxHashMap::default(); n],
            population: (0, 0),
            boost_grows: false,
        }
    }

    /// Number of records counted.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Records and entities of the store, as last set.
    pub fn population(&self) -> (u64, u64) {
        self.population
    }

    /// Sets the store's records and live entities (see [`TermFrequencies::population`]), and
    /// whether the prior follows them (then the rare-value cap grows with the store).
    pub fn set_population(&mut self, records: u64, entities: u64, boost_grows: bool) {
        self.population = (records, entities);
        self.boost_grows = boost_grows;
    }

    /// Counts a record in (`sign` = 1) or out (`sign` = -1). `values` holds, per comparison,
    /// the record's value or `None`.
    pub fn add(&mut self, values: &[Option<TermKey>], sign: i32) {
        if self.counts.len() < values.len() {
            self.counts.resize(values.len(), FxHashMap::default());
        }
        self.records = (self.records as i64 + sign as i64).max(0) as u64;
        for (table, v) in self.counts.iter_mut().zip(values) {
            let Some(v) = *v else { continue };
            if sign > 0 {
                *table.entry(v).or_default() += 1;
            } else if let Some(c) = table.get_mut(&v) {
                *c = c.saturating_sub(1);
                if *c == 0 {
                    table.remove(&v);
                }
            }
        }
    }

    /// The counts as bytes, for the store's snapshot.
    pub fn snapshot(&self) -> Vec<u8> {
        crate::store::codec::encode_terms(self.records, &self.counts)
    }

    /// A table from a snapshot; `None` when it does not decode or has another number of
    /// comparisons (the configuration changed).
    pub fn restore(bytes: &[u8], comparisons: usize) -> Option<Self> {
        let (records, counts) = crate::store::codec::decode_terms(bytes).ok()?;
        (counts.len() == comparisons).then_some(Self {
            records,
            counts,
            population: (0, 0),
            boost_grows: false,
        })
    }

    /// Records holding `value` in column `i`.
    pub fn count(&self, i: usize, value: TermKey) -> u64 {
        self.counts
            .get(i)
            .and_then(|t| t.get(&value))
            .map_or(0, |&c| u64::from(c))
    }

    /// The adjusted u of an exact agreement on `value` for comparison `i` with model u `u`.
    /// The two records of the pair being scored hold the value and are counted: they are
    /// left out, as u is the chance that *another* record agrees.
    pub fn u(&self, i: usize, value: TermKey, u: f64) -> f64 {
        let count = self.count(i, value).saturating_sub(2) as f64;
        let tf = (count + PRIOR_RECORDS * u) / (self.records as f64 + PRIOR_RECORDS);
        tf.max(u / self.max_boost())
    }

    /// Largest factor by which a rare value lowers u in a store of this size.
    pub fn max_boost(&self) -> f64 {
        if !self.boost_grows {
            return MAX_BOOST;
        }
        MAX_BOOST * (self.records as f64 / super::REFERENCE_POPULATION).max(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rare_values_weigh_more_than_common_ones_once_data_accumulates() {
        let mut tf = TermFrequencies::new(1);
        tf.set_population(0, 0, true);
        let u = 0.004;
        assert!(
            (tf.u(0, term_key("smith"), u) - u).abs() < 1e-12,
            "no data: the model's u"
        );
        for i in 0..100_000 {
            let v = if i % 50 == 0 {
                "smith"
            } else if i == 7 {
                "quixote"
            } else {
                "other"
            };
            let name = if v == "other" {
                format!("n{i}")
            } else {
                v.to_string()
            };
            tf.add(&[Some(term_key(&name))], 1);
        }
        assert!(
            tf.u(0, term_key("smith"), u) > u,
            "2% of records: weaker than the model says"
        );
        assert!(
            tf.u(0, term_key("quixote"), u) < u / MAX_BOOST,
            "rare in a store ten times the reference: beyond the small-store cap"
        );
        assert!(
            tf.u(0, term_key("quixote"), u) >= u / tf.max_boost(),
            "but within the store's own cap"
        );
        let mut fixed = tf.clone();
        fixed.set_population(0, 0, false);
        assert_eq!(
            fixed.max_boost(),
            MAX_BOOST,
            "a configured prior: the fixed cap"
        );
        assert!(
            (tf.max_boost() - MAX_BOOST * 10.0).abs() < 1e-9,
            "the cap grows with the store: 100,000 records, ten times the reference"
        );
        tf.add(&[Some(term_key("smith"))], -1);
        assert_eq!(tf.records(), 99_999);
        let back = TermFrequencies::restore(&tf.snapshot(), 1).expect("restores");
        assert_eq!(
            back.u(0, term_key("smith"), u),
            tf.u(0, term_key("smith"), u)
        );
        assert_eq!(back.records(), tf.records());
        assert!(
            TermFrequencies::restore(&tf.snapshot(), 2).is_none(),
            "other comparisons"
        );
    }
}
