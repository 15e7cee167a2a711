//! Candidate generation: the tantivy blocking index and the in-batch side index.
//!
//! A *candidate* is a record that shares at least one blocking key ([`keys`]) with an incoming
//! record; it is not a match until scored. Committed records are found through tantivy (one
//! document per record: its id and its keys; ranked by BM25, so rare shared keys count more);
//! records of the batch being processed are not yet committed and are found through a
//! [`BatchIndex`] built in memory for the batch. The index is derived state: it can always be
//! rebuilt from sled, and its commit payload names the sled batch it reflects.

mod filter;
pub mod keys;

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use tantivy::schema::{Field, IndexRecordOption, Schema, FAST, INDEXED, STRING};
use tantivy::{doc, DocSet, Index, IndexReader, IndexWriter, ReloadPolicy, Term};

use rustc_hash::FxHashMap;

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
    /// The index is being dropped.
    #[error("the blocking index is closed")]
    Closed,
    /// The thread committing the index in the background panicked.
    #[error("the background commit of the blocking index panicked")]
    CommitPanicked,
    /// The thread for a background commit could not be started.
    #[error("starting the blocking index's commit thread: {0}")]
    Spawn(std::io::Error),
}

fn tv(op: &'static str) -> impl FnOnce(tantivy::TantivyError) -> IndexError {
    move |source| IndexError::Tantivy { op, source }
}

/// Schema field names.
mod field {
    /// High 64 bits of the record id, fast field, indexed for deletes.
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

/// A candidate needs the evidence of one shared key held by at most this many records (or of
/// several less specific keys adding up to as much): a record sharing only "James Smith" with
/// hundreds of others is not worth fetching and scoring, while one sharing the name and a
/// postcode, or an email, is.
pub const SPECIFIC_KEY_RECORDS: usize = 50;

/// A stored candidate needs at least this share of the evidence of the record's best stored
/// candidate: a record sharing an email, a phone and a name with one customer is not also
/// scored against twenty namesakes sharing a name and a city with it. Weak candidates cost a
/// read and a score each and, scored, mostly add false links and rivals (measured on the
/// multi-source generator: precision up at 20k and 200k people, recall not lower). Batch
/// candidates are not cut so: the records of one batch are clustered together, and a tight
/// group of near-identical records in a batch (each other's best) would be cut off from the
/// rest of their person (FEBRL3 loses 6% recall so).
pub const CANDIDATE_SHARE: f64 = 0.5;

/// A stored candidate sharing a key held by at most this many records (the record itself
/// counted) is kept whatever its share of the best one's evidence: an email or a phone
/// shared with a second customer is specific evidence (the record may bridge two entities, or
/// be a household member the match must be explained against), a name and a city are not.
pub const RARE_KEY_RECORDS: usize = 3;

/// Committed segments above which a server merges them into one at start
/// ([`BlockingIndex::merge_in_background`]).
pub const MERGE_SEGMENTS_ABOVE: usize = 2;

/// Suffix of the commit payload naming the key and term layout ([`crate::crypto::Sealer::term`],
/// 8 hash characters; postcode keys by [`crate::normalize::postcode_area`] since `k2`, address
/// keys by house number and street name since `k3`): an index
/// written with another layout reads as reflecting no batch, so open rebuilds it.
const TERM_FORMAT: &str = "/t8k3";

/// Records written since the last tantivy commit are served from memory until this many
/// accumulate (or [`PENDING_MAX_AGE`] passes), then committed together: a tantivy commit and
/// reader reload cost ~100-200 ms and leave a segment to merge, too much for every group
/// commit of single upserts or every bulk batch.
pub const PENDING_RECORDS: usize = 100_000;
/// Longest time written records wait in memory before a tantivy commit.
pub const PENDING_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(30);

/// Records written to the tantivy writer but not yet committed: what searches must add to, and
/// remove from, the committed index. Keys are held as 64-bit hashes (a collision only adds a
/// candidate, which scoring then judges), a third of the memory of the strings.
#[derive(Default)]
struct Pending {
    /// Key hashes of each uncommitted record.
    keys: FxHashMap<RecordId, Vec<u64>>,
    /// Uncommitted records per key hash.
    buckets: FxHashMap<u64, Vec<RecordId>>,
    /// Records whose committed document is replaced or deleted.
    stale: rustc_hash::FxHashSet<RecordId>,
    /// When the oldest uncommitted change was made.
    since: Option<std::time::Instant>,
}

/// The hash a pending key is held by.
fn key_hash(k: &str) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(k)
}

impl Pending {
    fn remove(&mut self, id: RecordId) {
        if let Some(keys) = self.keys.remove(&id) {
            for k in keys {
                if let Some(b) = self.buckets.get_mut(&k) {
                    b.retain(|r| *r != id);
                    if b.is_empty() {
                        self.buckets.remove(&k);
                    }
                }
            }
        }
    }
}

/// The tantivy index of blocking keys, with the records written since its last commit held in
/// memory ([`PENDING_RECORDS`]).
pub struct BlockingIndex {
    index: Index,
    reader: IndexReader,
    /// `None` only while dropping (see the `Drop` impl).
    writer: Arc<Mutex<Option<IndexWriter>>>,
    pending: Arc<RwLock<Pending>>,
    /// Pending records that make [`Self::publish`] commit ([`PENDING_RECORDS`]).
    pending_limit: usize,
    /// The tantivy commit [`Self::publish`] started in the background, if any.
    committing: Mutex<Option<std::thread::JoinHandle<Result<(), IndexError>>>>,
    rid_hi: Field,
    rid_lo: Field,
    key: Field,
    /// Hashes key values into index terms (an encrypted store), see [`crate::crypto::Sealer::term`].
    terms: Option<std::sync::Arc<crate::crypto::Sealer>>,
    /// Term filters of the committed segments ([`filter`]).
    filters: filter::Filters,
}

impl Drop for BlockingIndex {
    /// Waits for tantivy's background merges, so no thread writes into the index directory
    /// after the index is gone (a restart, or removing the directory, may follow at once).
    fn drop(&mut self) {
        if let Err(e) = self.join() {
            tracing::warn!("finishing the index commit: {e}");
        }
        let writer = self.writer.lock().map_or(None, |mut w| w.take());
        if let Some(w) = writer {
            if let Err(e) = w.wait_merging_threads() {
                tracing::warn!("waiting for index merges: {e}");
            }
        }
    }
}

/// Commits the pending writes of a locked writer, then, with searches held off only for that
/// moment, reloads the reader and empties the pending set. The writer stays locked throughout,
/// so the pending set holds exactly what was committed.
fn commit_locked(
    writer: &mut Option<IndexWriter>,
    pending: &RwLock<Pending>,
    reader: &IndexReader,
    seq: u64,
    filters: (Field, &filter::Filters),
) -> Result<(), IndexError> {
    let w = writer.as_mut().ok_or(IndexError::Closed)?;
    let mut prepared = w.prepare_commit().map_err(tv("preparing a commit"))?;
    prepared.set_payload(&format!("{seq}{TERM_FORMAT}"));
    prepared.commit().map_err(tv("committing"))?;
    {
        let mut p = pending.write().expect("pending lock");
        reader.reload().map_err(tv("reloading the reader"))?;
        *p = Pending::default();
    }
    filter::refresh(reader, filters.0, filters.1);
    Ok(())
}

fn schema() -> Schema {
    let mut b = Schema::builder();
    // Deletes go by the id's high 64 bits, an 8-byte term: a unique 32-character hex term per
    // record was about a third of the term dictionary tantivy builds at every segment. Two
    // records sharing those 64 bits (odds ~3e-6 among ten million) would lose each other's
    // committed keys on an update until a reindex: a missed candidate, never lost data.
    b.add_u64_field(field::RID_HI, INDEXED | FAST);
    b.add_u64_field(field::RID_LO, FAST);
    b.add_text_field(field::KEY, STRING);
    b.build()
}

impl BlockingIndex {
    /// Opens the index in `dir`, creating it (empty) when missing or unreadable. With `terms`
    /// the index holds keyed hashes of the key values, not the values.
    pub fn open(
        dir: &Path,
        memory_mb: usize,
        terms: Option<std::sync::Arc<crate::crypto::Sealer>>,
    ) -> Result<Self, IndexError> {
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
        // One indexing thread: each thread writes a segment of its own at every commit, and
        // every look-up reads every segment's dictionary; indexing a million records' keys
        // takes a few seconds on one thread. (Two threads: six segments at 300k records and a
        // candidates phase 30% slower.)
        let writer = index
            .writer_with_num_threads(1, memory_mb.max(15) * 1024 * 1024)
            .map_err(tv("opening the index writer"))?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(tv("opening the index reader"))?;
        Ok(Self {
            rid_hi: get(field::RID_HI),
            rid_lo: get(field::RID_LO),
            key: get(field::KEY),
            terms,
            index,
            reader,
            writer: Arc::new(Mutex::new(Some(writer))),
            pending: Default::default(),
            pending_limit: PENDING_RECORDS,
            committing: Mutex::new(None),
            filters: Default::default(),
        }
        .with_filters())
    }

    /// Builds the term filters of the segments opened, in the background (a million records'
    /// segments take about a second; look-ups walk the dictionaries until then).
    fn with_filters(self) -> Self {
        let (reader, key, filters) = (self.reader.clone(), self.key, self.filters.clone());
        let started = std::thread::Builder::new()
            .name("index-filters".into())
            .spawn(move || filter::refresh(&reader, key, &filters));
        if let Err(e) = started {
            tracing::warn!("starting the index filter thread: {e}");
        }
        self
    }

    /// The indexed term of blocking key `k`.
    fn term<'k>(&self, k: &'k str) -> std::borrow::Cow<'k, str> {
        match &self.terms {
            Some(s) => std::borrow::Cow::Owned(s.term(k)),
            None => std::borrow::Cow::Borrowed(k),
        }
    }

    /// The sled batch sequence the last commit reflects (0 for a new index).
    pub fn committed_seq(&self) -> u64 {
        self.index
            .load_metas()
            .ok()
            .and_then(|m| m.payload)
            .and_then(|p| p.strip_suffix(TERM_FORMAT)?.parse().ok())
            .unwrap_or(0)
    }

    /// Number of indexed records (committed and pending).
    pub fn len(&self) -> u64 {
        let p = self.pending.read().expect("pending lock");
        (self.reader.searcher().num_docs() + p.keys.len() as u64)
            .saturating_sub(p.stale.len() as u64)
    }

    /// True when no record is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds (`replace` false: a record new to the index) or replaces a record's keys; searched
    /// at once, committed to tantivy with the next [`Self::commit`]. Skipping the delete for
    /// new records spares a term look-up in every segment at commit.
    pub fn upsert(&self, id: RecordId, keys: &[String], replace: bool) -> Result<(), IndexError> {
        self.upsert_many(&[(id, keys.to_vec(), replace)])
    }

    /// [`Self::upsert`] of many records: their documents are made on every core, then added
    /// under one taking of the locks.
    pub fn upsert_many(&self, items: &[(RecordId, Vec<String>, bool)]) -> Result<(), IndexError> {
        use rayon::prelude::*;
        let docs: Vec<(tantivy::TantivyDocument, Vec<u64>)> = items
            .par_iter()
            .map(|(id, keys, _)| {
                let (hi, lo) = id.halves();
                let mut d = doc!(self.rid_hi => hi, self.rid_lo => lo);
                for k in keys {
                    d.add_text(self.key, self.term(k));
                }
                (d, keys.iter().map(|k| key_hash(k)).collect())
            })
            .collect();
        let guard = self.writer.lock().expect("index writer lock");
        let w = guard.as_ref().ok_or(IndexError::Closed)?;
        let mut p = self.pending.write().expect("pending lock");
        for ((id, _, replace), (d, hashes)) in items.iter().zip(docs) {
            if *replace {
                w.delete_term(Term::from_field_u64(self.rid_hi, id.halves().0));
                p.stale.insert(*id);
                p.remove(*id);
            }
            for &h in &hashes {
                p.buckets.entry(h).or_default().push(*id);
            }
            p.keys.insert(*id, hashes);
            w.add_document(d).map_err(tv("adding a document"))?;
        }
        if !items.is_empty() {
            p.since.get_or_insert_with(std::time::Instant::now);
        }
        Ok(())
    }

    /// Removes a record; effective for searches at once.
    pub fn delete(&self, id: RecordId) {
        let guard = self.writer.lock().expect("index writer lock");
        let mut p = self.pending.write().expect("pending lock");
        if let Some(w) = guard.as_ref() {
            w.delete_term(Term::from_field_u64(self.rid_hi, id.halves().0));
        }
        p.stale.insert(id);
        p.remove(id);
        p.since.get_or_insert_with(std::time::Instant::now);
    }

    /// Removes every record (before a rebuild).
    pub fn clear(&self) -> Result<(), IndexError> {
        let guard = self.writer.lock().expect("index writer lock");
        let w = guard.as_ref().ok_or(IndexError::Closed)?;
        w.delete_all_documents().map_err(tv("clearing the index"))?;
        drop(guard);
        self.commit(self.committed_seq())?;
        Ok(())
    }

    /// Ends a batch that brought the store to batch sequence `seq`: commits to tantivy when
    /// enough records wait in memory or they waited long enough, else keeps them pending
    /// (searchable all the same). After a crash the index's commit payload lags the store and
    /// the index is rebuilt at open.
    ///
    /// The commit runs on a thread of its own (a tantivy commit of 100k records takes from
    /// one to several seconds): the next batch is matched meanwhile, against the committed
    /// view plus the pending set, which stay as they were until the commit is done. The next
    /// write to the index waits for it, and so do [`Self::commit`] and drop; its error, if
    /// any, is returned by the next `publish` or `commit`.
    pub fn publish(&self, seq: u64) -> Result<(), IndexError> {
        let due = {
            let p = self.pending.read().expect("pending lock");
            p.keys.len() + p.stale.len() >= self.pending_limit
                || p.since.is_some_and(|t| t.elapsed() >= PENDING_MAX_AGE)
        };
        if due {
            self.join()?;
            let (writer, pending, reader, key, filters) = (
                Arc::clone(&self.writer),
                Arc::clone(&self.pending),
                self.reader.clone(),
                self.key,
                self.filters.clone(),
            );
            // The writer is locked before the thread starts, so that no write slips in
            // between this call and the commit.
            let (locked_tx, locked_rx) = std::sync::mpsc::channel();
            let handle = std::thread::Builder::new()
                .name("index-commit".into())
                .spawn(move || {
                    let mut guard = writer.lock().expect("index writer lock");
                    locked_tx.send(()).ok();
                    commit_locked(&mut guard, &pending, &reader, seq, (key, &filters))
                })
                .map_err(IndexError::Spawn)?;
            locked_rx.recv().ok();
            *self.committing.lock().expect("commit handle lock") = Some(handle);
        }
        Ok(())
    }

    /// Commits pending changes to tantivy now, tagged with the sled batch sequence they
    /// reflect, and makes them searchable there (after any commit running in the background).
    pub fn commit(&self, seq: u64) -> Result<(), IndexError> {
        self.join()?;
        let mut guard = self.writer.lock().expect("index writer lock");
        commit_locked(
            &mut guard,
            &self.pending,
            &self.reader,
            seq,
            (self.key, &self.filters),
        )
    }

    /// Starts merging every committed segment into one, in the background, when there are
    /// more than [`MERGE_SEGMENTS_ABOVE`]; the reader picks the merged segment up when it is
    /// done. Each look-up reads the term dictionary of every segment: at 1M records the six
    /// segments a bulk load leaves made term look-ups ~25% of a probe's time (one segment:
    /// 5.5k -> 7.4k probes/s at 32 clients). The merge takes ~15 s per million records on
    /// one core; searches and writes go on meanwhile (it changes no document). Dropping the
    /// index waits for it: a server stopped right after start takes that long to exit.
    pub fn merge_in_background(&self) -> Result<bool, IndexError> {
        let ids = self
            .index
            .searchable_segment_ids()
            .map_err(tv("listing segments"))?;
        if ids.len() <= MERGE_SEGMENTS_ABOVE {
            return Ok(false);
        }
        let merging = {
            let mut guard = self.writer.lock().expect("index writer lock");
            guard.as_mut().ok_or(IndexError::Closed)?.merge(&ids)
        };
        let reader = self.reader.clone();
        let writer = self.writer.clone();
        let pending = self.pending.clone();
        let (key, filters) = (self.key, self.filters.clone());
        let segments = ids.len();
        std::thread::Builder::new()
            .name("index-merge".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                match merging.wait() {
                    Ok(_) => {
                        // Under the writer and pending locks, as a commit reloads: the pending
                        // set must hold exactly what the loaded reader lacks.
                        {
                            let _writer = writer.lock().expect("index writer lock");
                            let _pending = pending.write().expect("pending lock");
                            if let Err(e) = reader.reload() {
                                tracing::warn!("reloading the index after a merge: {e}");
                            }
                        }
                        filter::refresh(&reader, key, &filters);
                        tracing::info!(
                            segments,
                            ms = started.elapsed().as_millis() as u64,
                            "index segments merged into one"
                        );
                    }
                    // tantivy gave the merge up (an error, or the writer rolled back); the
                    // segments stay as they were.
                    Err(e) => tracing::info!("index merge not done: {e}"),
                }
            })
            .map_err(IndexError::Spawn)?;
        Ok(true)
    }

    /// Waits for the background commit, if one runs; returns its result.
    pub fn join(&self) -> Result<(), IndexError> {
        let handle = self.committing.lock().expect("commit handle lock").take();
        match handle {
            Some(h) => h.join().unwrap_or(Err(IndexError::CommitPanicked)),
            None => Ok(()),
        }
    }

    /// Whether records wait in memory for a tantivy commit.
    pub fn has_pending(&self) -> bool {
        let p = self.pending.read().expect("pending lock");
        !p.keys.is_empty() || !p.stale.is_empty()
    }

    /// The records holding each key (committed to tantivy or pending; one term look-up per
    /// key and segment, no scoring): `None` for a key held by more than `cap` records.
    pub fn postings(
        &self,
        keys: &[&str],
        cap: usize,
    ) -> Result<Vec<Option<Vec<RecordId>>>, IndexError> {
        let pending = self.pending.read().expect("pending lock");
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
            filter: Option<Arc<filter::TermFilter>>,
        }
        let filters = self.filters.read().expect("filters lock");
        let mut segs = Vec::new();
        for reader in searcher.segment_readers() {
            let ff = reader.fast_fields();
            segs.push(Seg {
                filter: filters.get(&reader.segment_id()).cloned(),
                inv: reader
                    .inverted_index(self.key)
                    .map_err(tv("reading postings"))?,
                reader,
                hi: ff.u64(field::RID_HI).map_err(tv("reading record ids"))?,
                lo: ff.u64(field::RID_LO).map_err(tv("reading record ids"))?,
            });
        }
        drop(filters);
        let mut out = Vec::with_capacity(keys.len());
        let mut infos = Vec::with_capacity(segs.len());
        for k in keys {
            let text = self.term(k);
            let term = Term::from_field_text(self.key, &text);
            infos.clear();
            let extra = pending
                .buckets
                .get(&key_hash(k))
                .map_or(&[][..], Vec::as_slice);
            let mut total = extra.len();
            for (si, seg) in segs.iter().enumerate() {
                if seg
                    .filter
                    .as_ref()
                    .is_some_and(|f| !f.may_contain(text.as_bytes()))
                {
                    continue;
                }
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
                            let id = RecordId::from_halves(h, l);
                            if !pending.stale.contains(&id) {
                                ids.push(id);
                            }
                        }
                    }
                    doc = postings.advance();
                }
            }
            ids.extend_from_slice(extra);
            out.push(Some(ids));
        }
        Ok(out)
    }
}

/// Blocking keys of the records of one batch, for finding each other before they are committed.
#[derive(Debug, Default)]
pub struct BatchIndex<'k> {
    buckets: FxHashMap<&'k str, Vec<u32>>,
}

impl<'k> BatchIndex<'k> {
    /// Indexes the keys of every record of the batch (by position).
    pub fn build(keys: &'k [Vec<String>]) -> Self {
        let mut buckets: FxHashMap<&'k str, Vec<u32>> = FxHashMap::default();
        for (i, ks) in keys.iter().enumerate() {
            for k in ks {
                buckets.entry(k.as_str()).or_default().push(i as u32);
            }
        }
        Self { buckets }
    }

    /// The distinct keys of the batch.
    pub fn keys(&self) -> impl Iterator<Item = &'k str> + '_ {
        self.buckets.keys().copied()
    }

    /// Up to `limit` other records of the batch sharing keys with record `i`, ranked by the sum
    /// of the inverse bucket sizes of the shared keys (rare keys count more), ties by position.
    pub fn candidates(&self, i: u32, keys: &[String], limit: usize) -> Vec<u32> {
        rank(keys, i, limit, &|_| Some(&[][..]), self, &|_| false).1
    }
}

/// Stored records per key, as [`BlockingIndex::postings`] found them for a batch.
pub type StorePostings<'k> = FxHashMap<&'k str, Option<Vec<RecordId>>>;

/// Candidates of batch record `i` with keys `keys`: up to `limit` committed records (from
/// `store`, skipping those `skip` rejects) and up to `limit` other batch records, each ranked
/// by the sum over shared keys of `1 / ln(1 + n)`, n the number of records holding the key in
/// the store and the batch together. Generic keys ([`GENERIC_KEY_RECORDS`]) are left out, and
/// so are candidates with less evidence than one [`SPECIFIC_KEY_RECORDS`] key, and stored
/// candidates with less than [`CANDIDATE_SHARE`] of the best stored candidate's unless they
/// share a [`RARE_KEY_RECORDS`] key.
pub fn rank<'a>(
    keys: &[String],
    i: u32,
    limit: usize,
    store: &dyn Fn(&str) -> Option<&'a [RecordId]>,
    batch: &BatchIndex<'_>,
    skip: &dyn Fn(&RecordId) -> bool,
) -> (Vec<RecordId>, Vec<u32>) {
    // Shared keys with their weight, strongest first.
    let mut shared: Vec<(f64, &[RecordId], &[u32])> = Vec::with_capacity(keys.len());
    for k in keys {
        // `None`: generic in the store already.
        let Some(stored) = store(k) else { continue };
        let in_batch = batch.buckets.get(k.as_str()).map_or(&[][..], Vec::as_slice);
        let n = stored.len() + in_batch.len();
        if !(2..=GENERIC_KEY_RECORDS).contains(&n) {
            continue;
        }
        shared.push((1.0 / (n as f64).ln_1p(), stored, in_batch));
    }
    shared.sort_by(|a, b| b.0.total_cmp(&a.0));
    let rare = 1.0 / (RARE_KEY_RECORDS as f64).ln_1p() - 1e-9;
    let min = 1.0 / (SPECIFIC_KEY_RECORDS as f64).ln_1p() - 1e-9;
    // A record first met once the weight still to come is below `min` cannot reach it: the
    // weaker keys then only add to records already met, which spares growing the maps with
    // the long posting lists of common keys (same result, a fraction of the cost at scale).
    let mut rest: f64 = shared.iter().map(|s| s.0).sum();
    // Per stored record: evidence, and whether a rare key is among it.
    let mut committed: FxHashMap<RecordId, (f64, bool)> = FxHashMap::default();
    let mut own: FxHashMap<u32, f64> = FxHashMap::default();
    for (w, stored, in_batch) in shared {
        let open = rest >= min;
        rest -= w;
        for r in stored {
            if open {
                let acc = committed.entry(*r).or_default();
                acc.0 += w;
                acc.1 |= w >= rare;
            } else if let Some(acc) = committed.get_mut(r) {
                acc.0 += w;
            }
        }
        for &j in in_batch.iter().filter(|&&j| j != i) {
            if open {
                *own.entry(j).or_default() += w;
            } else if let Some(acc) = own.get_mut(&j) {
                *acc += w;
            }
        }
    }
    let mut c: Vec<(RecordId, (f64, bool))> = committed
        .into_iter()
        .filter(|(r, (w, _))| *w >= min && !skip(r))
        .collect();
    c.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0).then(a.0.cmp(&b.0)));
    c.truncate(limit);
    if let Some(best) = c.first().map(|x| x.1 .0) {
        c.retain(|(_, (w, rare))| *rare || *w >= best * CANDIDATE_SHARE);
    }
    let mut o: Vec<(u32, f64)> = own.into_iter().filter(|(_, w)| *w >= min).collect();
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
    fn a_background_commit_keeps_every_record_searchable_and_lands() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = BlockingIndex::open(dir.path(), 50, None).unwrap();
        idx.pending_limit = 2;
        let ids: Vec<RecordId> = (0..4).map(|i| RecordId::of("s", &i.to_string())).collect();
        let found = |idx: &BlockingIndex| {
            let mut v = idx.postings(&["k"], 10).unwrap().remove(0).unwrap();
            v.sort();
            v
        };
        idx.upsert(ids[0], &["k".into()], false).unwrap();
        idx.publish(1).unwrap();
        assert_eq!(idx.committed_seq(), 0, "one pending record: not due");
        idx.upsert(ids[1], &["k".into()], false).unwrap();
        idx.publish(2).unwrap();
        // Searched while the commit may still run, and after it: the same two records.
        let sorted = |mut v: Vec<RecordId>| {
            v.sort();
            v
        };
        assert_eq!(found(&idx), sorted(vec![ids[0], ids[1]]));
        // A write waits for the background commit, then is pending on top of it.
        idx.upsert(ids[2], &["k".into()], false).unwrap();
        assert_eq!(idx.committed_seq(), 2);
        assert_eq!(idx.len(), 3);
        idx.delete(ids[0]);
        idx.upsert(ids[3], &["k".into()], false).unwrap();
        idx.publish(3).unwrap();
        idx.join().unwrap();
        assert_eq!(found(&idx), sorted(vec![ids[1], ids[2], ids[3]]));
        assert_eq!(idx.committed_seq(), 3);
        assert!(!idx.has_pending());
        drop(idx);
        let idx = BlockingIndex::open(dir.path(), 50, None).unwrap();
        assert_eq!(idx.len(), 3, "the background commit is durable");
    }

    #[test]
    fn segments_merge_in_the_background_and_every_record_stays_found() {
        let dir = tempfile::tempdir().unwrap();
        let idx = BlockingIndex::open(dir.path(), 50, None).unwrap();
        let ids: Vec<RecordId> = (0..4).map(|i| RecordId::of("s", &i.to_string())).collect();
        assert!(
            !idx.merge_in_background().unwrap(),
            "an empty index has nothing to merge"
        );
        for (seq, id) in ids.iter().enumerate() {
            idx.upsert(*id, &["k".into()], false).unwrap();
            idx.commit(seq as u64 + 1).unwrap();
        }
        // A deleted record must stay deleted through the merge.
        idx.delete(ids[3]);
        idx.commit(5).unwrap();
        let segments = || idx.index.searchable_segment_ids().unwrap().len();
        assert!(segments() > MERGE_SEGMENTS_ABOVE);
        assert!(idx.merge_in_background().unwrap());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while idx.reader.searcher().segment_readers().len() > 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "the merge did not land"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(segments(), 1);
        let mut found = idx.postings(&["k"], 10).unwrap().remove(0).unwrap();
        found.sort();
        let mut want = ids[..3].to_vec();
        want.sort();
        assert_eq!(found, want);
        assert_eq!(idx.committed_seq(), 5, "the merge keeps the commit payload");
    }

    #[test]
    fn pending_and_committed_records_are_found_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let idx = BlockingIndex::open(dir.path(), 50, None).unwrap();
        let a = RecordId::of("s", "a");
        let b = RecordId::of("s", "b");
        let sorted = |v: Option<Vec<RecordId>>| {
            let mut v = v.unwrap();
            v.sort();
            v
        };
        let mut both = vec![a, b];
        both.sort();
        idx.upsert(a, &["e:x@y.z".into(), "n:SM0".into()], false)
            .unwrap();
        idx.upsert(b, &["n:SM0".into()], false).unwrap();
        // Not yet committed to tantivy, found all the same.
        assert!(idx.has_pending());
        let p = idx.postings(&["n:SM0", "e:x@y.z", "none"], 10).unwrap();
        assert_eq!(sorted(p[0].clone()), both);
        assert_eq!(p[1].as_deref(), Some(&[a][..]));
        assert_eq!(p[2].as_deref(), Some(&[][..]));
        assert_eq!(idx.len(), 2);
        idx.commit(1).unwrap();
        assert!(!idx.has_pending());
        let p = idx.postings(&["n:SM0"], 10).unwrap();
        assert_eq!(sorted(p[0].clone()), both, "committed: found once each");
        assert_eq!(idx.postings(&["n:SM0"], 1).unwrap()[0], None, "generic");
        // A replaced record is found by its new keys only, before and after the commit.
        idx.upsert(a, &["e:new@y.z".into()], true).unwrap();
        let p = idx
            .postings(&["n:SM0", "e:x@y.z", "e:new@y.z"], 10)
            .unwrap();
        assert_eq!(p[0].as_deref(), Some(&[b][..]));
        assert_eq!(p[1].as_deref(), Some(&[][..]));
        assert_eq!(p[2].as_deref(), Some(&[a][..]));
        assert_eq!(idx.len(), 2);
        idx.delete(b);
        assert_eq!(
            idx.postings(&["n:SM0"], 10).unwrap()[0].as_deref(),
            Some(&[][..])
        );
        idx.publish(2).unwrap();
        assert_eq!(idx.committed_seq(), 1, "too few records to commit yet");
        idx.commit(2).unwrap();
        let p = idx.postings(&["n:SM0", "e:new@y.z"], 10).unwrap();
        assert_eq!(
            p[0].as_deref(),
            Some(&[][..]),
            "deleted records are not postings"
        );
        assert_eq!(p[1].as_deref(), Some(&[a][..]));
        assert_eq!(idx.committed_seq(), 2);
        drop(idx);
        let again = BlockingIndex::open(dir.path(), 50, None).unwrap();
        assert_eq!(again.committed_seq(), 2);
        assert_eq!(again.len(), 1);
    }

    #[test]
    fn candidates_need_specific_evidence_and_generic_keys_are_skipped() {
        // 60 records share "weak" (60 > SPECIFIC_KEY_RECORDS): not enough alone.
        let mut keys: Vec<Vec<String>> = (0..60).map(|_| vec!["weak".to_string()]).collect();
        // Records 0 and 1 also share a key only they hold.
        keys[0].push("pair".into());
        keys[1].push("pair".into());
        // Records 5..60 share a second weak key (55 holders): two weak keys add up.
        for k in keys.iter_mut().skip(5) {
            k.push("weak3".into());
        }
        let b = BatchIndex::build(&keys);
        assert_eq!(b.candidates(0, &keys[0], 10), vec![1]);
        assert!(
            b.candidates(3, &keys[3], 10).is_empty(),
            "one weak key alone"
        );
        assert_eq!(b.candidates(50, &keys[50], 10).len(), 10, "two weak keys");
        // Stored records count in the bucket sizes; a generic key finds nothing.
        let stored: Vec<RecordId> = (0..GENERIC_KEY_RECORDS)
            .map(|i| RecordId::of("s", &i.to_string()))
            .collect();
        let one = vec![vec!["generic".to_string(), "e:x".to_string()]];
        let b = BatchIndex::build(&one);
        let email = [RecordId::of("s", "mail")];
        let (c, _) = rank(
            &one[0],
            0,
            10,
            &|k| {
                Some(if k == "generic" {
                    &stored[..]
                } else {
                    &email[..]
                })
            },
            &b,
            &|_| false,
        );
        assert_eq!(
            c,
            vec![email[0]],
            "1,001 holders: generic; the email key still finds"
        );
    }

    #[test]
    fn stored_candidates_with_less_than_a_share_of_the_best_evidence_are_not_kept() {
        // The batch record shares an email and a phone with stored record `a` (keys held by
        // two records) and a name held by twenty records with `a` and 18 stored namesakes.
        let a = RecordId::of("s", "a");
        let namesakes: Vec<RecordId> = (0..18).map(|n| RecordId::of("s", &n.to_string())).collect();
        let mut store: FxHashMap<String, Vec<RecordId>> = FxHashMap::default();
        store.insert("e:a".into(), vec![a]);
        store.insert("p:1".into(), vec![a]);
        store.insert("nn:JN".into(), [vec![a], namesakes.clone()].concat());
        let look = |k: &str| store.get(k).map(Vec::as_slice);
        let keys = vec![vec!["e:a".to_string(), "p:1".into(), "nn:JN".into()]];
        let b = BatchIndex::build(&keys);
        let (stored, _) = rank(&keys[0], 0, 50, &look, &b, &|_| false);
        assert_eq!(stored, vec![a], "namesakes dropped");
        // Without the email and the phone, the namesakes are as good as anyone: all stay.
        let keys = vec![vec!["nn:JN".to_string()]];
        let b = BatchIndex::build(&keys);
        let (stored, _) = rank(&keys[0], 0, 50, &look, &b, &|_| false);
        assert_eq!(stored.len(), 19);
        // A record bridging two customers: the email alone links it to `x`, the phone, the
        // birth date and the name to `y`; x keeps its place though its evidence is less than
        // half of y's (a key held by two records is specific).
        let (x, y) = (RecordId::of("s", "x"), RecordId::of("s", "y"));
        let mut bridge: FxHashMap<String, Vec<RecordId>> = FxHashMap::default();
        bridge.insert("e:x".into(), vec![x]);
        for k in ["p:y", "d:y", "n:y", "g:y"] {
            bridge.insert(k.into(), vec![y]);
        }
        let look = |k: &str| bridge.get(k).map(Vec::as_slice);
        let keys = vec![["e:x", "p:y", "d:y", "n:y", "g:y"]
            .map(String::from)
            .to_vec()];
        let b = BatchIndex::build(&keys);
        let (stored, _) = rank(&keys[0], 0, 50, &look, &b, &|_| false);
        assert_eq!(stored, vec![y, x]);
        // Batch candidates are not cut: one batch holding the same records keeps all.
        let mut keys = vec![vec!["e:a".to_string(), "p:1".into(), "nn:JN".into()]];
        keys.push(keys[0].clone());
        keys.extend((0..18).map(|_| vec!["nn:JN".to_string()]));
        let b = BatchIndex::build(&keys);
        assert_eq!(b.candidates(0, &keys[0], 50).len(), 19);
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

    /// The candidates by the plain rule: every shared key adds its weight to every holder.
    fn rank_reference(
        keys: &[String],
        i: u32,
        limit: usize,
        store: &FxHashMap<String, Vec<RecordId>>,
        batch: &BatchIndex<'_>,
    ) -> (Vec<RecordId>, Vec<u32>) {
        let mut committed: FxHashMap<RecordId, f64> = FxHashMap::default();
        let mut rare: std::collections::HashSet<RecordId> = Default::default();
        let mut own: FxHashMap<u32, f64> = FxHashMap::default();
        for k in keys {
            let stored = store.get(k).map_or(&[][..], Vec::as_slice);
            let in_batch = batch.buckets.get(k.as_str()).map_or(&[][..], Vec::as_slice);
            let n = stored.len() + in_batch.len();
            if !(2..=GENERIC_KEY_RECORDS).contains(&n) {
                continue;
            }
            let w = 1.0 / (n as f64).ln_1p();
            stored
                .iter()
                .for_each(|r| *committed.entry(*r).or_default() += w);
            if n <= RARE_KEY_RECORDS {
                rare.extend(stored.iter().copied());
            }
            in_batch
                .iter()
                .filter(|&&j| j != i)
                .for_each(|&j| *own.entry(j).or_default() += w);
        }
        let min = 1.0 / (SPECIFIC_KEY_RECORDS as f64).ln_1p() - 1e-9;
        let mut c: Vec<(RecordId, f64)> = committed.into_iter().filter(|x| x.1 >= min).collect();
        c.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        c.truncate(limit);
        let best = c.first().map_or(0.0, |x| x.1);
        c.retain(|x| rare.contains(&x.0) || x.1 >= best * CANDIDATE_SHARE);
        let mut o: Vec<(u32, f64)> = own.into_iter().filter(|x| x.1 >= min).collect();
        o.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        o.truncate(limit);
        (
            c.into_iter().map(|x| x.0).collect(),
            o.into_iter().map(|x| x.0).collect(),
        )
    }

    #[test]
    fn rank_skipping_records_that_cannot_qualify_changes_nothing() {
        // Random records holding keys of every bucket size, from unique to generic; the
        // candidates (and their order) must be those of the plain rule.
        let mut seed = 7u64;
        let mut next = |m: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % m
        };
        let sizes = [1u64, 3, 20, 45, 60, 120, 400, 900, 1200];
        let mut store: FxHashMap<String, Vec<RecordId>> = FxHashMap::default();
        let mut batch_keys: Vec<Vec<String>> = Vec::new();
        for (s, &n) in sizes.iter().enumerate() {
            for v in 0..4 {
                let key = format!("k{s}-{v}");
                // A record holds a key once.
                let mut held: Vec<RecordId> = (0..n + next(n))
                    .map(|_| RecordId::of("s", &next(3000).to_string()))
                    .collect();
                held.sort();
                held.dedup();
                store.insert(key, held);
            }
        }
        let names: Vec<String> = store.keys().cloned().collect();
        for _ in 0..200 {
            let mut ks: Vec<String> = (0..1 + next(6))
                .map(|_| names[next(names.len() as u64) as usize].clone())
                .collect();
            ks.sort();
            ks.dedup();
            batch_keys.push(ks);
        }
        let b = BatchIndex::build(&batch_keys);
        let look = |k: &str| store.get(k).map(Vec::as_slice);
        for (i, ks) in batch_keys.iter().enumerate() {
            for limit in [3, 20] {
                let got = rank(ks, i as u32, limit, &look, &b, &|_| false);
                let want = rank_reference(ks, i as u32, limit, &store, &b);
                assert_eq!(got, want, "record {i} keys {ks:?}");
            }
        }
    }
}
