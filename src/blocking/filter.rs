//! A Bloom filter of the key terms of each committed tantivy segment, so a look-up skips the
//! segments that cannot hold a key.
//!
//! Every key of a batch is looked up in every segment's term dictionary (an FST walk of random
//! memory reads), and most keys are in none or one of them: a new record's email, phone and
//! address are unique, and a key held by a few records sits in a few segments. At 300k records
//! those walks were half the candidates phase. A filter answers "not here" from one or two cache
//! lines; it holds ~12 bits per term (1-2% false positives, which only cost the walk).

use std::hash::Hasher;
use std::sync::{Arc, RwLock};

use rustc_hash::{FxHashMap, FxHasher};
use tantivy::index::SegmentId;
use tantivy::schema::Field;
use tantivy::IndexReader;

/// Probes per term.
const PROBES: u64 = 4;

/// The filter of one segment.
pub(crate) struct TermFilter {
    bits: Vec<u64>,
    /// Number of bits minus one (a power of two minus one).
    mask: u64,
}

/// The two hashes a term's probes derive from.
fn hashes(term: &[u8]) -> (u64, u64) {
    let mut h = FxHasher::default();
    h.write(term);
    let a = h.finish();
    // A second, independent-enough hash: the first one mixed (splitmix64 finaliser).
    let mut b = a ^ 0x9e37_79b9_7f4a_7c15;
    b = (b ^ (b >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    b = (b ^ (b >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (a, (b ^ (b >> 31)) | 1)
}

impl TermFilter {
    /// An empty filter sized for `terms` terms.
    pub fn with_capacity(terms: usize) -> Self {
        let bits = (terms.max(64) * 12).next_power_of_two();
        Self {
            bits: vec![0; bits / 64],
            mask: bits as u64 - 1,
        }
    }

    /// Adds a term.
    pub fn insert(&mut self, term: &[u8]) {
        let (a, b) = hashes(term);
        for i in 0..PROBES {
            let bit = a.wrapping_add(i.wrapping_mul(b)) & self.mask;
            self.bits[(bit >> 6) as usize] |= 1 << (bit & 63);
        }
    }

    /// False when the segment certainly lacks the term.
    pub fn may_contain(&self, term: &[u8]) -> bool {
        let (a, b) = hashes(term);
        (0..PROBES).all(|i| {
            let bit = a.wrapping_add(i.wrapping_mul(b)) & self.mask;
            self.bits[(bit >> 6) as usize] & (1 << (bit & 63)) != 0
        })
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bits.len() * 8
    }
}

/// Filters of the segments the reader serves, by segment id.
pub(crate) type Filters = Arc<RwLock<FxHashMap<SegmentId, Arc<TermFilter>>>>;

/// Builds the filters of the segments the reader now serves that have none, and drops those of
/// segments it no longer serves (merged away). Runs after a reload, outside the locks searches
/// take: until a segment's filter is in place, look-ups walk its term dictionary as before.
pub(crate) fn refresh(reader: &IndexReader, key: Field, filters: &Filters) {
    let started = std::time::Instant::now();
    let searcher = reader.searcher();
    let missing: Vec<&tantivy::SegmentReader> = {
        let have = filters.read().expect("filters lock");
        searcher
            .segment_readers()
            .iter()
            .filter(|s| !have.contains_key(&s.segment_id()))
            .collect()
    };
    let mut built = Vec::with_capacity(missing.len());
    for seg in missing {
        match build(seg, key) {
            Ok(f) => built.push((seg.segment_id(), Arc::new(f))),
            // The segment stays unfiltered: look-ups walk its dictionary.
            Err(e) => tracing::warn!("building a segment's key filter: {e}"),
        }
    }
    // Another refresh may have run meanwhile from a newer view (a commit's beside a merge's):
    // keep what the reader serves now, so an older view neither drops a new segment's filter
    // nor brings back a merged-away one.
    let live: Vec<SegmentId> = reader
        .searcher()
        .segment_readers()
        .iter()
        .map(|s| s.segment_id())
        .collect();
    let mut have = filters.write().expect("filters lock");
    have.retain(|id, _| live.contains(id));
    let before = have.len();
    have.extend(built.into_iter().filter(|(id, _)| live.contains(id)));
    let added = have.len() - before;
    if added > 0 {
        tracing::debug!(
            segments = added,
            bytes = have.values().map(|f| f.bytes()).sum::<usize>(),
            ms = started.elapsed().as_millis() as u64,
            "segment key filters built"
        );
    }
}

/// The filter of one segment: every term of its key field.
fn build(seg: &tantivy::SegmentReader, key: Field) -> std::io::Result<TermFilter> {
    let inv = seg.inverted_index(key).map_err(std::io::Error::other)?;
    let terms = inv.terms();
    let mut f = TermFilter::with_capacity(terms.num_terms());
    let mut stream = terms.stream()?;
    while stream.advance() {
        f.insert(stream.key());
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserted_terms_are_found_and_few_others() {
        let mut f = TermFilter::with_capacity(10_000);
        for i in 0..10_000 {
            f.insert(format!("k{i}").as_bytes());
        }
        assert!((0..10_000).all(|i| f.may_contain(format!("k{i}").as_bytes())));
        let false_positives = (0..100_000)
            .filter(|i| f.may_contain(format!("other{i}").as_bytes()))
            .count();
        // ~12-24 bits per term with 4 probes: well under 3%.
        assert!(false_positives < 3_000, "{false_positives}");
    }
}
