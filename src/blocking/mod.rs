//! Candidate generation: the tantivy blocking index and the in-batch side index.
//!
//! A *candidate* is a record that shares at least one blocking key ([`keys`]) with an incoming
//! record; it is not a match until scored. Committed records are found through tantivy (one
//! document per record: its id and its keys; ranked by BM25, so rare shared keys count more);
//! records of the batch being processed are not yet committed and are found through a
//! [`BatchIndex`] built in memory for the batch. The index is derived state: it can always be
//! rebuilt from sled, and its commit payload names the sled batch it reflects.

pub mod keys;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Schema, FAST, STRING};
use tantivy::{doc, DocSet, Index, IndexReader, IndexWriter, ReloadPolicy, Term};

use crate::ingest::RecordId;

/// Blocking index failure.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// tantivy failed.
    #[error("blocking index error while {op}: {source}")]
    Tantivy {
        /// What was being done.
        op: &'static str,
        /// Underlying error.
        source: tantivy::TantivyError,
    },
    /// The index directory could not be prepared.
    #[error("blocking index directory {path}: {source}")]
    Io {
        /// Directory.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
}

fn tv(op: &'static str) -> impl FnOnce(tantivy::TantivyError) -> IndexError {
    move |source| IndexError::Tantivy { op, source }
}

/// Schema field names.
mod field {
    /// Record id as hex, indexed for deletes.
    pub const RID: &str = "rid";
    /// High 64 bits of the record id, fast field.
    pub const RID_HI: &str = "rid_hi";
    /// Low 64 bits of the record id, fast field.
    pub const RID_LO: &str = "rid_lo";
    /// Blocking keys, multi-valued, untokenized.
    pub const KEY: &str = "key";
}

/// A key held by more records than this (stored and in the batch together) is *generic*, like
/// a family name with an initial in a million customers: it is not blocked on, because its
/// pairs would cost more than they find (records that match share rarer keys too). Keeps the
/// cost of a record's candidates bounded however large the store grows.
pub const GENERIC_KEY_RECORDS: usize = 1_000;

/// The tantivy index of blocking keys.
pub struct BlockingIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    rid: Field,
    rid_hi: Field,
    rid_lo: Field,
    key: Field,
}

fn schema() -> Schema {
    let mut b = Schema::builder();
    b.add_text_field(field::RID, STRING);
    b.add_u64_field(field::RID_HI, FAST);
    b.add_u64_field(field::RID_LO, FAST);
    b.add_text_field(field::KEY, STRING);
    b.build()
}

impl BlockingIndex {
    /// Opens the index in `dir`, creating it (empty) when missing or unreadable.
    pub fn open(dir: &Path, memory_mb: usize) -> Result<Self, IndexError> {
        std::fs::create_dir_all(dir).map_err(|source| IndexError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let index = match Index::open_in_dir(dir) {
            Ok(i) if i.schema() == schema() => i,
            _ => {
                // Missing, damaged or from another schema: start empty; the caller rebuilds
                // from sled because the commit payload no longer matches.
                std::fs::remove_dir_all(dir).ok();
                std::fs::create_dir_all(dir).map_err(|source| IndexError::Io {
                    path: dir.display().to_string(),
                    source,
                })?;
                Index::create_in_dir(dir, schema()).map_err(tv("creating the index"))?
            }
        };
        let s = index.schema();
        let get = |name| s.get_field(name).expect("field of our schema");
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(4);
        let per_thread = (memory_mb / threads).max(15);
        let writer = index
            .writer_with_num_threads(threads, per_thread * threads * 1024 * 1024)
            .map_err(tv("opening the index writer"))?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(tv("opening the index reader"))?;
        Ok(Self {
            rid: get(field::RID),
            rid_hi: get(field::RID_HI),
            rid_lo: get(field::RID_LO),
            key: get(field::KEY),
            index,
            reader,
            writer: Mutex::new(writer),
        })
    }

    /// The sled batch sequence the last commit reflects (0 for a new index).
    pub fn committed_seq(&self) -> u64 {
        self.index
            .load_metas()
            .ok()
            .and_then(|m| m.payload)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    /// Number of indexed records (committed).
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// True when no record is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds (`replace` false: a record new to the index) or replaces a record's keys;
    /// visible after [`Self::commit`]. Skipping the delete for new records spares a term
    /// look-up in every segment at commit.
    pub fn upsert(&self, id: RecordId, keys: &[String], replace: bool) -> Result<(), IndexError> {
        let w = self.writer.lock().expect("index writer lock");
        if replace {
            w.delete_term(Term::from_field_text(self.rid, &id.to_string()));
        }
        let (hi, lo) = id.halves();
        let mut d = doc!(self.rid => id.to_string(), self.rid_hi => hi, self.rid_lo => lo);
        for k in keys {
            d.add_text(self.key, k);
        }
        w.add_document(d).map_err(tv("adding a document"))?;
        Ok(())
    }

    /// Removes a record; effective after [`Self::commit`].
    pub fn delete(&self, id: RecordId) {
        let w = self.writer.lock().expect("index writer lock");
        w.delete_term(Term::from_field_text(self.rid, &id.to_string()));
    }

    /// Removes every record (before a rebuild).
    pub fn clear(&self) -> Result<(), IndexError> {
        let w = self.writer.lock().expect("index writer lock");
        w.delete_all_documents().map_err(tv("clearing the index"))?;
        Ok(())
    }

    /// Commits pending changes, tagged with the sled batch sequence they reflect, and makes
    /// them searchable.
    pub fn commit(&self, seq: u64) -> Result<(), IndexError> {
        let mut w = self.writer.lock().expect("index writer lock");
        let mut prepared = w.prepare_commit().map_err(tv("preparing a commit"))?;
        prepared.set_payload(&seq.to_string());
        prepared.commit().map_err(tv("committing"))?;
        drop(w);
        self.reader.reload().map_err(tv("reloading the reader"))?;
        Ok(())
    }

    /// The committed records holding each key (one term look-up per key and segment, no
    /// scoring): `None` for a key held by more than `cap` records.
    pub fn postings(
        &self,
        keys: &[&str],
        cap: usize,
    ) -> Result<Vec<Option<Vec<RecordId>>>, IndexError> {
        let searcher = self.reader.searcher();
        let io = |source: std::io::Error| IndexError::Tantivy {
            op: "reading postings",
            source: source.into(),
        };
        struct Seg<'a> {
            inv: std::sync::Arc<tantivy::InvertedIndexReader>,
            reader: &'a tantivy::SegmentReader,
            hi: tantivy::columnar::Column<u64>,
            lo: tantivy::columnar::Column<u64>,
        }
        let mut segs = Vec::new();
        for reader in searcher.segment_readers() {
            let ff = reader.fast_fields();
            segs.push(Seg {
                inv: reader
                    .inverted_index(self.key)
                    .map_err(tv("reading postings"))?,
                reader,
                hi: ff.u64(field::RID_HI).map_err(tv("reading record ids"))?,
                lo: ff.u64(field::RID_LO).map_err(tv("reading record ids"))?,
            });
        }
        let mut out = Vec::with_capacity(keys.len());
        let mut infos = Vec::with_capacity(segs.len());
        for k in keys {
            let term = Term::from_field_text(self.key, k);
            infos.clear();
            let mut total = 0usize;
            for (si, seg) in segs.iter().enumerate() {
                if let Some(info) = seg.inv.get_term_info(&term).map_err(io)? {
                    total += info.doc_freq as usize;
                    infos.push((si, info));
                }
            }
            if total > cap {
                out.push(None);
                continue;
            }
            let mut ids = Vec::with_capacity(total);
            for (si, info) in &infos {
                let seg = &segs[*si];
                let mut postings = seg
                    .inv
                    .read_postings_from_terminfo(info, IndexRecordOption::Basic)
                    .map_err(io)?;
                let mut doc = postings.doc();
                while doc != tantivy::TERMINATED {
                    if !seg.reader.is_deleted(doc) {
                        if let (Some(h), Some(l)) = (seg.hi.first(doc), seg.lo.first(doc)) {
                            ids.push(RecordId::from_halves(h, l));
                        }
                    }
                    doc = postings.advance();
                }
            }
            out.push(Some(ids));
        }
        Ok(out)
    }

    /// Up to `limit` committed records sharing keys with `keys`, best ranked first.
    pub fn candidates(
        &self,
        keys: &[String],
        limit: usize,
    ) -> Result<Vec<(RecordId, f32)>, IndexError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let clauses: Vec<(Occur, Box<dyn Query>)> = keys
            .iter()
            .map(|k| {
                let q: Box<dyn Query> = Box::new(TermQuery::new(
                    Term::from_field_text(self.key, k),
                    IndexRecordOption::Basic,
                ));
                (Occur::Should, q)
            })
            .collect();
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        let top = searcher
            .search(&query, &TopDocs::with_limit(limit).order_by_score())
            .map_err(tv("searching candidates"))?;
        let mut out = Vec::with_capacity(top.len());
        let mut columns: HashMap<
            u32,
            (
                tantivy::columnar::Column<u64>,
                tantivy::columnar::Column<u64>,
            ),
        > = HashMap::new();
        for (score, addr) in top {
            let (hi, lo) = match columns.entry(addr.segment_ord) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    let ff = searcher.segment_reader(addr.segment_ord).fast_fields();
                    let hi = ff.u64(field::RID_HI).map_err(tv("reading record ids"))?;
                    let lo = ff.u64(field::RID_LO).map_err(tv("reading record ids"))?;
                    v.insert((hi, lo))
                }
            };
            if let (Some(h), Some(l)) = (hi.first(addr.doc_id), lo.first(addr.doc_id)) {
                out.push((RecordId::from_halves(h, l), score));
            }
        }
        Ok(out)
    }
}

/// Blocking keys of the records of one batch, for finding each other before they are committed.
#[derive(Debug, Default)]
pub struct BatchIndex {
    buckets: HashMap<String, Vec<u32>>,
}

impl BatchIndex {
    /// Indexes the keys of every record of the batch (by position).
    pub fn build(keys: &[Vec<String>]) -> Self {
        let mut buckets: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, ks) in keys.iter().enumerate() {
            for k in ks {
                buckets.entry(k.clone()).or_default().push(i as u32);
            }
        }
        Self { buckets }
    }

    /// The distinct keys of the batch.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.buckets.keys().map(String::as_str)
    }

    /// Up to `limit` other records of the batch sharing keys with record `i`, ranked by the sum
    /// of the inverse bucket sizes of the shared keys (rare keys count more), ties by position.
    pub fn candidates(&self, i: u32, keys: &[String], limit: usize) -> Vec<u32> {
        rank(keys, i, limit, &|_| Some(&[][..]), self, &|_| false).1
    }
}

/// Committed records per key, as [`BlockingIndex::postings`] found them for a batch.
pub type StorePostings = HashMap<String, Option<Vec<RecordId>>>;

/// Candidates of batch record `i` with keys `keys`: up to `limit` committed records (from
/// `store`, skipping those `skip` rejects) and up to `limit` other batch records, each ranked
/// by the sum over shared keys of `1 / ln(1 + n)`, n the number of records holding the key in
/// the store and the batch together. Generic keys ([`GENERIC_KEY_RECORDS`]) are left out.
pub fn rank<'a>(
    keys: &[String],
    i: u32,
    limit: usize,
    store: &dyn Fn(&str) -> Option<&'a [RecordId]>,
    batch: &BatchIndex,
    skip: &dyn Fn(&RecordId) -> bool,
) -> (Vec<RecordId>, Vec<u32>) {
    let mut committed: HashMap<RecordId, f64> = HashMap::new();
    let mut own: HashMap<u32, f64> = HashMap::new();
    for k in keys {
        // `None`: generic in the store already.
        let Some(stored) = store(k) else { continue };
        let in_batch = batch.buckets.get(k).map_or(&[][..], Vec::as_slice);
        let n = stored.len() + in_batch.len();
        if !(2..=GENERIC_KEY_RECORDS).contains(&n) {
            continue;
        }
        let w = 1.0 / (n as f64).ln_1p();
        for r in stored {
            *committed.entry(*r).or_default() += w;
        }
        for &j in in_batch {
            if j != i {
                *own.entry(j).or_default() += w;
            }
        }
    }
    let mut c: Vec<(RecordId, f64)> = committed.into_iter().filter(|(r, _)| !skip(r)).collect();
    c.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    c.truncate(limit);
    let mut o: Vec<(u32, f64)> = own.into_iter().collect();
    o.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    o.truncate(limit);
    (
        c.into_iter().map(|(r, _)| r).collect(),
        o.into_iter().map(|(j, _)| j).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_records_are_found_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let idx = BlockingIndex::open(dir.path(), 50).unwrap();
        let a = RecordId::of("s", "a");
        let b = RecordId::of("s", "b");
        idx.upsert(a, &["e:x@y.z".into(), "n:SM0".into()], false)
            .unwrap();
        idx.upsert(b, &["n:SM0".into()], false).unwrap();
        // Uncommitted documents are invisible.
        assert!(idx.candidates(&["n:SM0".into()], 10).unwrap().is_empty());
        idx.commit(1).unwrap();
        let found = idx
            .candidates(&["e:x@y.z".into(), "n:SM0".into()], 10)
            .unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].0, a, "the record sharing more keys ranks first");
        let p = idx.postings(&["n:SM0", "e:x@y.z", "none"], 10).unwrap();
        assert_eq!(p[0].as_ref().map(Vec::len), Some(2));
        assert_eq!(p[1].as_deref(), Some(&[a][..]));
        assert_eq!(p[2].as_deref(), Some(&[][..]));
        assert_eq!(idx.postings(&["n:SM0"], 1).unwrap()[0], None, "generic");
        idx.delete(a);
        idx.commit(2).unwrap();
        assert_eq!(idx.candidates(&["n:SM0".into()], 10).unwrap().len(), 1);
        assert_eq!(
            idx.postings(&["n:SM0"], 10).unwrap()[0].as_deref(),
            Some(&[b][..]),
            "deleted records are not postings"
        );
        assert_eq!(idx.committed_seq(), 2);
        drop(idx);
        let again = BlockingIndex::open(dir.path(), 50).unwrap();
        assert_eq!(again.committed_seq(), 2);
        assert_eq!(again.len(), 1);
    }

    #[test]
    fn batch_index_ranks_rare_keys_first() {
        let keys = vec![
            vec!["common".to_string(), "rare".to_string()],
            vec!["common".to_string()],
            vec!["common".to_string(), "rare".to_string()],
            vec!["other".to_string()],
        ];
        let b = BatchIndex::build(&keys);
        assert_eq!(b.candidates(0, &keys[0], 10), vec![2, 1]);
        assert!(b.candidates(3, &keys[3], 10).is_empty());
    }
}
