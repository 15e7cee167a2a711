//! The sled key layout, in one place. Integer keys are big-endian so scans come out ordered.

/// Maps a record id (16 bytes, see [`crate::ingest::RecordId`]) to its
/// [`super::StoredRecord`] (JSON).
pub const RECORDS: &str = "records";
/// Maps an entity id (u64 big-endian) to its [`super::Entity`] (JSON): members, golden record,
/// lineage, state (active, merged into another id, deleted).
pub const ENTITIES: &str = "entities";
/// Maps a record pair (two record ids, smaller first, 32 bytes) to a [`super::ReviewItem`] (JSON).
pub const REVIEW: &str = "review";
/// Index of `review` by record: record id (16 bytes) + review key (32 bytes) -> empty, so a
/// changed or deleted record's queued pairs are found and dropped.
pub const REVIEW_BY_RECORD: &str = "review_by_record";
/// Maps a change sequence number (u64 big-endian, gap-free, from 1) to a
/// [`super::ChangeEvent`] (JSON): the change feed, appended in the batch's transaction.
pub const CHANGES: &str = "changes";
/// Maps a record pair (two record ids, smaller first, 32 bytes) to a steward
/// [`super::Decision`] (JSON): a must-link (`same`) or cannot-link (`different`).
pub const DECISIONS: &str = "decisions";
/// Index of `decisions` by record: record id (16 bytes) + pair key (32 bytes) -> empty.
pub const DECISIONS_BY_RECORD: &str = "decisions_by_record";
/// Maps entity id (u64 big-endian) + version (u64 big-endian) to a [`super::HistoryEntry`]
/// (JSON): every version of every entity, with who changed it, when and why.
pub const HISTORY: &str = "history";
/// Maps a counter name to its value (u64 big-endian).
pub const META: &str = "meta";

/// `meta` key: next free entity id.
pub const META_NEXT_ENTITY: &[u8] = b"next_entity";
/// `meta` key: next free record arrival sequence.
pub const META_NEXT_RECORD_SEQ: &[u8] = b"next_record_seq";
/// `meta` key: number of committed batches; the tantivy index's commit payload holds the
/// sequence it reflects, and a mismatch on start triggers a rebuild.
pub const META_BATCH_SEQ: &[u8] = b"batch_seq";
/// `meta` key: the trained match model (JSON), written by `goldrec train`.
pub const META_MODEL: &[u8] = b"model";
/// `meta` key: last assigned change sequence number.
pub const META_LAST_CHANGE: &[u8] = b"last_change";
