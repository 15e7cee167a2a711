//! The sled key layout, in one place. Integer keys are big-endian so scans come out ordered.

/// Maps a record id (16 bytes, see [`crate::ingest::RecordId`]) to its
/// [`super::StoredRecord`] ([`super::codec`] binary, with its profile).
pub const RECORDS: &str = "records";
/// Maps an entity id (u64 big-endian) to its [`super::Entity`] ([`super::codec`] binary):
/// members, golden record, lineage, state (active, merged into another id, deleted), and the
/// change page of each version (its history).
pub const ENTITIES: &str = "entities";
/// Maps a record pair (two record ids, smaller first, 32 bytes) to a [`super::ReviewItem`] (JSON).
pub const REVIEW: &str = "review";
/// Index of `review` by record: record id (16 bytes) + review key (32 bytes) -> empty, so a
/// changed or deleted record's queued pairs are found and dropped.
pub const REVIEW_BY_RECORD: &str = "review_by_record";
/// Maps the sequence number of a page's first change event (u64 big-endian; events are
/// gap-free from 1) to a page of up to [`super::PAGE_EVENTS`] events ([`super::codec::Page`]):
/// the change feed and the entity history in one, appended in the batch's transaction.
/// Entities name the pages of their versions.
pub const CHANGES: &str = "changes";
/// Maps a record pair (two record ids, smaller first, 32 bytes) to a steward
/// [`super::Decision`] (JSON): a must-link (`same`) or cannot-link (`different`).
pub const DECISIONS: &str = "decisions";
/// Index of `decisions` by record: record id (16 bytes) + pair key (32 bytes) -> empty.
pub const DECISIONS_BY_RECORD: &str = "decisions_by_record";
/// Maps a record pair (two record ids, smaller first, 32 bytes) to a steward's
/// [`super::LinkVerdict`] (JSON) on an automatically linked pair: the sample behind the
/// estimated precision of automatic links. A later verdict on the pair replaces it.
pub const LINK_VERDICTS: &str = "link_verdicts";
/// Maps a record pair (32 bytes, smaller first) to a [`super::ReviewOutcome`] (JSON): a
/// decision taken on a queued review pair with the matcher's probability when queued, written
/// in the decision's transaction (deciding drops the queued item).
pub const REVIEW_OUTCOMES: &str = "review_outcomes";
/// The audit log: time in ms since the epoch (u64 big-endian) + a unique sequence (u64
/// big-endian) -> one [`crate::audit::AuditEntry`] (JSON). Append-only; entries older than
/// `[audit] retention_days` are removed.
pub const AUDIT: &str = "audit";
/// Maps a counter name to its value (u64 big-endian).
pub const META: &str = "meta";
/// Large snapshots written on close, in a tree of their own: `meta` is written by every
/// batch, and sled rewrites a whole leaf when it consolidates it, so megabytes of snapshot
/// beside the counters would be rewritten (as a sled blob) every few commits.
pub const SNAPSHOTS: &str = "snapshots";

/// `snapshots` key: term-frequency snapshot: batch sequence it reflects (u64 big-endian), then
/// the counts ([`super::codec::encode_terms`]). Written on close; stale after any later batch.
pub const SNAP_TERMS: &[u8] = b"term_frequencies";
/// `snapshots` key: the record-id Bloom filter ([`super::bloom`]): batch sequence it reflects
/// (u64 big-endian), then its bits. Written on close; rebuilt from the record keys when stale.
pub const SNAP_BLOOM: &[u8] = b"record_filter";
/// `meta` keys where stores written before the `snapshots` tree kept the snapshots: removed
/// at open (a stale snapshot is only a cache; it is rebuilt).
pub const LEGACY_META_SNAPSHOTS: &[&[u8]] = &[b"term_frequencies", b"record_filter"];
/// Maps an activity id (16 bytes, [`crate::activity::activity_id`]) to its
/// [`crate::activity::StoredActivity`] (JSON): the activity and the identity record it is
/// attached to (none: unresolved).
pub const ACTIVITY: &str = "activity";
/// Index of attached activity: identity record id (16 bytes) + activity id (16) -> empty.
/// Activity hangs on records, so it follows them through merges and splits.
pub const ACTIVITY_BY_RECORD: &str = "activity_by_record";
/// Unresolved activity: reference hash (8 bytes, [`super::Store::ref_hash`] of the record id
/// it names or of a blocking key of its identifying fields) + activity id (16) -> empty, so a
/// customer that arrives later finds the activity waiting for it.
pub const ACTIVITY_UNRESOLVED: &str = "activity_unresolved";
/// Maps an entity id (u64 big-endian) to its [`crate::classify::Classification`] (JSON).
pub const CLASSES: &str = "classes";
/// Segment membership: segment name + 0x00 + entity id (u64 big-endian) -> empty.
pub const SEGMENTS: &str = "segments";

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
/// `meta` key: format of the stored values ([`super::codec`]); checked at open.
pub const META_FORMAT: &[u8] = b"format";
/// `meta` key: first change sequence the feed still serves (older pages are history only).
pub const META_FEED_FLOOR: &[u8] = b"feed_floor";
/// `meta` key: number of stored records (u64 big-endian), kept by every batch.
pub const META_RECORDS: &[u8] = b"records";
/// `meta` key: number of live entities (u64 big-endian), kept by every batch (counted once by
/// a scan when a store from before the counter is opened).
pub const META_ENTITIES: &[u8] = b"entities";
/// `meta` key: the data key, wrapped by the key-encryption key ([`crate::crypto`]); absent
/// in a store created without encryption.
pub const META_DATA_KEY: &[u8] = b"data_key";

/// `meta` key: the zstd dictionary of the `records` values ([`super::packing`]), sealed.
pub const META_DICT_RECORDS: &[u8] = b"dict.records";
/// `meta` key: the zstd dictionary of the `entities` values ([`super::packing`]), sealed.
pub const META_DICT_ENTITIES: &[u8] = b"dict.entities";
/// `meta` key: the zstd dictionary of the `review` values ([`super::packing`]), sealed.
pub const META_DICT_REVIEW: &[u8] = b"dict.review";

/// Trees whose values are sealed in an encrypted store ([`crate::crypto`]).
pub const SEALED: &[&str] = &[
    RECORDS, ENTITIES, REVIEW, CHANGES, DECISIONS, AUDIT, SNAPSHOTS, ACTIVITY, CLASSES,
];
/// `meta` keys whose values are sealed (the other `meta` values are counters).
pub const SEALED_META: &[&[u8]] = &[
    META_MODEL,
    META_DICT_RECORDS,
    META_DICT_ENTITIES,
    META_DICT_REVIEW,
];
