//! Durable state in sled: source records, entities with their golden records and lineage,
//! the review queue and counters.
//!
//! All trees are listed in [`trees`]. A batch's writes go through [`Store::commit`]: one sled
//! transaction over every tree it touches, followed by a flush, so a batch is either wholly
//! durable or absent, and nothing is acknowledged before it is on disk.

pub mod activity;
pub mod bloom;
pub mod codec;
pub mod compact;
pub mod packing;
pub mod trees;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use crate::config::Rule;
use crate::crypto::{EncryptionConfig, Sealer};
use crate::ingest::profile::Profile;
use crate::ingest::RecordId;

/// Entity ids are assigned in creation order, so a smaller id is an older entity.
pub type EntityId = u64;

/// Storage failure, with the operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed.
    #[error("storage error while {op}: {source}")]
    Sled {
        /// What was being done.
        op: &'static str,
        /// Underlying error.
        source: sled::Error,
    },
    /// Keys could not be had, or a sealed value does not open.
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    /// The store's encryption does not match the configuration.
    #[error("{0}")]
    Encryption(String),
    /// A stored value does not decode: the data directory is corrupt or from another version.
    #[error("corrupt value in tree {tree}: {reason}")]
    Corrupt {
        /// Tree name.
        tree: &'static str,
        /// Decoder message.
        reason: String,
    },
}

fn sled_err(op: &'static str) -> impl FnOnce(sled::Error) -> StoreError {
    move |source| StoreError::Sled { op, source }
}

/// A source record as stored, with its normalized profile and its entity.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredRecord {
    /// Source name.
    pub source: String,
    /// Record key.
    pub key: String,
    /// Attribute values as supplied.
    pub values: BTreeMap<String, String>,
    /// Last update in the source system (ms since epoch), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    /// Content hash (hex), for change detection.
    pub hash: String,
    /// Entity the record belongs to.
    pub entity: EntityId,
    /// Order of first arrival (global sequence).
    pub seq: u64,
    /// When goldrec first received the record (ms since epoch).
    pub ingested_at: i64,
    /// When goldrec last received a change to it (ms since epoch).
    pub changed_at: i64,
    /// Normalized form used by blocking and scoring.
    pub profile: Profile,
}

impl StoredRecord {
    /// The record's identity.
    pub fn id(&self) -> RecordId {
        RecordId::of(&self.source, &self.key)
    }

    /// Time that orders values for the most-recent rule: the source's update time, else arrival.
    pub fn recency(&self) -> i64 {
        self.updated_at.unwrap_or(self.changed_at)
    }
}

/// Where a golden value came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    /// Record that supplied the value.
    pub record: RecordId,
    /// Its source.
    pub source: String,
    /// Its key in the source.
    pub key: String,
    /// Survivorship rule that chose it.
    pub rule: Rule,
    /// Time of the supplying record's value (source update time, else arrival), ms since epoch.
    pub observed_at: i64,
    /// Number of member records that hold the same normalized value.
    pub support: usize,
}

/// One attribute of a golden record, with its lineage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoldenValue {
    /// The chosen value, as its source supplied it (or as a steward pinned it).
    pub value: String,
    /// Where survivorship found it (absent when only a steward supplied the attribute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<Lineage>,
    /// The steward override that set the value, if one is pinned.
    #[serde(rename = "override", default, skip_serializing_if = "Option::is_none")]
    pub steward: Option<Override>,
}

/// A golden value pinned by a steward: it wins over survivorship until unpinned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Override {
    /// The pinned value.
    pub value: String,
    /// Who pinned it.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// When, ms since epoch.
    pub at: i64,
}

/// Lifecycle of an entity id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum EntityState {
    /// Live entity.
    Active,
    /// Merged into an older entity; the id redirects there.
    Merged {
        /// Surviving entity.
        into: EntityId,
    },
    /// Every member record was deleted.
    Deleted,
}

/// An entity: one real-world customer, its member records and golden record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entity {
    /// Stable id.
    pub id: EntityId,
    /// Incremented on every change.
    pub version: u64,
    /// Lifecycle state.
    #[serde(flatten)]
    pub state: EntityState,
    /// Member records, sorted.
    pub members: Vec<RecordId>,
    /// Golden value per attribute.
    pub golden: BTreeMap<String, GoldenValue>,
    /// Steward overrides per attribute; they survive re-ingest and re-matching.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub overrides: BTreeMap<String, Override>,
    /// Golden consent per declared purpose ([`crate::consent`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub consent: BTreeMap<String, crate::consent::GoldenConsent>,
    /// Creation time, ms since epoch.
    pub created_at: i64,
    /// Last change, ms since epoch.
    pub updated_at: i64,
    /// Where each version's history entry is: (version, key of its change page). Kept by the
    /// store, not shown.
    #[serde(skip)]
    pub history: Vec<(u64, u64)>,
}

/// A pair the matcher was unsure of, waiting for a steward.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReviewItem {
    /// One record.
    pub a: RecordId,
    /// The other record.
    pub b: RecordId,
    /// Match probability when queued.
    pub match_probability: f64,
    /// Match weight when queued.
    pub match_weight: f64,
    /// Why it is queued (`below_link_threshold`, `conflicts_with_entity`, `ambiguous`: the record
    /// fits another customer about as well, or `conflicts_with_decision`).
    pub reason: String,
    /// When it was queued, ms since epoch (a skip puts it back at the end).
    pub queued_at: i64,
    /// How often stewards skipped it.
    #[serde(default)]
    pub skips: u32,
}

impl ReviewItem {
    /// Sled key: both record ids, smaller first.
    pub fn key(a: RecordId, b: RecordId) -> [u8; 32] {
        let (x, y) = if a <= b { (a, b) } else { (b, a) };
        let mut k = [0u8; 32];
        k[..16].copy_from_slice(&x.0);
        k[16..].copy_from_slice(&y.0);
        k
    }
}

/// Kind of change to an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A new entity.
    Created,
    /// Golden values changed, members did not.
    Updated,
    /// One or more records joined (others may have left).
    RecordJoined,
    /// One or more records left.
    RecordLeft,
    /// The entity was merged into another (`merged_into`); its id redirects there.
    Merged,
    /// The entity was split (by a steward).
    Split,
    /// Every member record was deleted.
    Deleted,
    /// The entity's records were erased (right to be forgotten): the event carries no
    /// personal data, and earlier events of its records are redacted.
    Erased,
    /// The entity's classification changed (its activity changed, or time moved it to
    /// another band): `classification` and `classification_was` say how.
    Classified,
}

/// A source record named in a change event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceKey {
    /// Source name.
    pub source: String,
    /// Record key.
    pub key: String,
}

/// One committed change to one entity, as the change feed reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangeEvent {
    /// Global, gap-free sequence number (commit order).
    pub seq: u64,
    /// Entity changed.
    pub entity_id: EntityId,
    /// What happened.
    pub kind: ChangeKind,
    /// Entity version after the change.
    pub version: u64,
    /// Commit time, ms since epoch.
    pub at: i64,
    /// Golden values after the change (empty for merged and deleted entities).
    pub golden: BTreeMap<String, String>,
    /// Member records after the change.
    pub members: Vec<SourceKey>,
    /// Golden attributes whose value changed.
    pub changed: Vec<String>,
    /// Records that joined.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub joined: Vec<SourceKey>,
    /// Records that left.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left: Vec<SourceKey>,
    /// Surviving entity, for `merged`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<EntityId>,
    /// Personal data removed by an erasure: golden values, and the erased records' keys.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redacted: bool,
    /// Consent per declared purpose after the change (no personal data).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub consent: BTreeMap<String, crate::consent::ConsentState>,
    /// Purposes whose consent changed, with the state before the change: a consumer filtering
    /// by purpose learns from it that an entity it held is no longer granted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub consent_was: BTreeMap<String, crate::consent::ConsentState>,
    /// Classification results after the change, when the change altered them
    /// ([`crate::classify`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub classification: BTreeMap<String, String>,
    /// The classification results before the change, when it altered them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification_was: Option<BTreeMap<String, String>>,
}

impl ChangeEvent {
    /// Whether a consumer of `purpose` needs the event: the entity is granted for it after
    /// the change, or was before it.
    pub fn concerns(&self, purpose: &str) -> bool {
        use crate::consent::ConsentState::Granted;
        self.consent.get(purpose) == Some(&Granted)
            || self.consent_was.get(purpose) == Some(&Granted)
    }
}

/// One version of an entity, as kept in its history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Entity.
    pub entity_id: EntityId,
    /// Version this entry records.
    pub version: u64,
    /// What happened.
    pub kind: ChangeKind,
    /// Who did it: a steward, or `system` for matching.
    pub actor: String,
    /// Why, when given.
    pub reason: String,
    /// When, ms since epoch.
    pub at: i64,
    /// Lifecycle state as of this version.
    #[serde(flatten)]
    pub state: EntityState,
    /// Member records as of this version.
    pub members: Vec<RecordId>,
    /// Golden values as of this version (lineage is kept on the live entity only).
    pub golden: BTreeMap<String, String>,
    /// Steward overrides in force.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub overrides: BTreeMap<String, Override>,
    /// Personal data removed by an erasure.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redacted: bool,
}

/// What a steward decided about two records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The same customer: a must-link.
    Same,
    /// Different customers: a cannot-link.
    Different,
}

/// A steward decision: a durable constraint between two records that no re-ingest, update,
/// re-training or re-matching undoes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Decision {
    /// One record.
    pub a: RecordId,
    /// The other record.
    pub b: RecordId,
    /// Same or different.
    pub verdict: Verdict,
    /// Who decided.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// When, ms since epoch.
    pub at: i64,
}

impl Decision {
    /// Sled key of the pair (smaller id first), also the decision's id in the API (hex).
    pub fn key(&self) -> [u8; 32] {
        ReviewItem::key(self.a, self.b)
    }
}

/// A steward's verdict on an automatically linked pair (two records the matcher put in one
/// entity without a steward decision joining them): the sample behind the estimated precision
/// of automatic links (`GET /v1/quality`). It measures; it constrains nothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinkVerdict {
    /// One record (the smaller id).
    pub a: RecordId,
    /// The other record.
    pub b: RecordId,
    /// `same`: the link is right; `different`: a false link.
    pub verdict: Verdict,
    /// Who judged.
    pub actor: String,
    /// When, ms since epoch.
    pub at: i64,
    /// The entity holding both records when judged.
    pub entity: EntityId,
    /// The pair's match weight when judged (bits).
    pub match_weight: f64,
}

impl LinkVerdict {
    /// Sled key of the pair (smaller id first).
    pub fn key(&self) -> [u8; 32] {
        ReviewItem::key(self.a, self.b)
    }
}

/// How a steward decided a pair of the review queue, against what the matcher leaned to when
/// it queued the pair: written with the decision, since deciding drops the queued item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReviewOutcome {
    /// One record (the smaller id).
    pub a: RecordId,
    /// The other record.
    pub b: RecordId,
    /// The queued item's match probability (the matcher leans to `same` at 0.5 and above).
    pub match_probability: f64,
    /// Why the pair was queued.
    pub reason: String,
    /// The steward's decision.
    pub verdict: Verdict,
    /// When decided, ms since epoch.
    pub at: i64,
}

impl ReviewOutcome {
    /// Whether the decision went against the matcher's lean.
    pub fn reversed(&self) -> bool {
        (self.match_probability >= 0.5) != (self.verdict == Verdict::Same)
    }
}

/// Everything one batch writes; applied atomically by [`Store::commit`].
#[derive(Debug, Default)]
pub struct WriteSet {
    /// Records to put.
    pub records: Vec<(RecordId, StoredRecord)>,
    /// Records to delete.
    pub deleted_records: Vec<RecordId>,
    /// Entities to put (any state).
    pub entities: Vec<Entity>,
    /// Review items to put.
    pub review: Vec<ReviewItem>,
    /// Review items to drop.
    pub review_done: Vec<[u8; 32]>,
    /// Next free entity id after this batch.
    pub next_entity: EntityId,
    /// Next free record sequence after this batch.
    pub next_record_seq: u64,
    /// Records added minus records deleted.
    pub record_delta: i64,
    /// Change events, without sequence numbers yet: [`Store::commit`] numbers them after the
    /// last committed one, in order.
    pub events: Vec<ChangeEvent>,
    /// Decisions to record.
    pub decisions: Vec<Decision>,
    /// Decisions to revoke (pair keys).
    pub revoked: Vec<[u8; 32]>,
    /// Change pages rewritten in place (an erasure redacting past events), by page key.
    pub redacted_pages: Vec<(u64, codec::Page)>,
    /// Audit entries (time in ms, JSON) of the requests that caused this batch.
    pub audit: Vec<(u64, Vec<u8>)>,
    /// Record pairs whose link verdict and review outcome go (an erasure).
    pub forgotten_pairs: Vec<[u8; 32]>,
    /// Who caused this write (`system` for matching).
    pub actor: String,
    /// Why, when given.
    pub reason: String,
    /// Verdicts on automatic links to record.
    pub verdicts: Vec<LinkVerdict>,
    /// Decisions taken on queued review pairs, with the matcher's lean.
    pub review_outcomes: Vec<ReviewOutcome>,
    /// Activity stored, moved between customers or erased.
    pub activity: Vec<crate::activity::ActivityWrite>,
    /// Classifications changed (entities reclassified or gone).
    pub classes: Vec<crate::classify::ClassWrite>,
    /// The batch's deletes are an erasure: the deleted records' activity goes with them.
    pub erasing: bool,
}

/// What an erasure rewrites in the change log ([`Store::redacted_pages`]).
#[derive(Debug, Default)]
pub struct Redaction {
    /// Redacted change pages, by page key.
    pub pages: Vec<(u64, codec::Page)>,
    /// Tombstones (merged away, deleted) that held an erased record, cleared of values.
    pub tombstones: Vec<Entity>,
}

/// The sled database and its trees.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    records: sled::Tree,
    entities: sled::Tree,
    review: sled::Tree,
    review_by_record: sled::Tree,
    changes: sled::Tree,
    decisions: sled::Tree,
    decisions_by_record: sled::Tree,
    link_verdicts: sled::Tree,
    review_outcomes: sled::Tree,
    audit: sled::Tree,
    meta: sled::Tree,
    snapshots: sled::Tree,
    activity: sled::Tree,
    activity_by_record: sled::Tree,
    activity_unresolved: sled::Tree,
    classes: sled::Tree,
    segments: sled::Tree,
    /// Ids of stored records (a Bloom filter): most look-ups of new records end here.
    known: std::sync::Arc<bloom::Bloom>,
    /// Seals personal values at rest (`None`: encryption disabled for this store).
    sealer: Option<std::sync::Arc<Sealer>>,
    /// Dictionaries that pack `records`, `entities` and `review` values ([`packing`]).
    packing: std::sync::Arc<packing::Packing>,
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("stored types serialize")
}

fn decode<T: for<'de> Deserialize<'de>>(tree: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        tree,
        reason: e.to_string(),
    })
}

/// A value of `tree` that does not decode (or unpack), as a store error naming the tree.
fn corrupt<E: std::fmt::Display>(tree: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Corrupt {
        tree,
        reason: e.to_string(),
    }
}

/// Events per change page: bounds the decode cost of reading a few events from a bulk batch.
pub const PAGE_EVENTS: usize = 512;

/// Version of the value formats; stores written with JSON values (format 1) are refused.
const STORE_FORMAT: u64 = 2;
/// The format of a store holding packed values ([`packing`]), written when its first
/// dictionary is: a goldrec from before packing refuses to open it (its `compact` would lose
/// the dictionaries) instead of reading packed values as damage.
const STORE_FORMAT_PACKED: u64 = 3;

/// The store's sealer: the data key unwrapped with the KEK; made (with a new KEK file when
/// none is found) for a new store. A store is encrypted or not from its creation on.
fn open_sealer(
    meta: &sled::Tree,
    records: &sled::Tree,
    encryption: &EncryptionConfig,
    data_dir: &Path,
) -> Result<Option<std::sync::Arc<Sealer>>, StoreError> {
    let wrapped = meta
        .get(trees::META_DATA_KEY)
        .map_err(sled_err("reading the data key"))?;
    let fresh = records.is_empty()
        && meta
            .get(trees::META_BATCH_SEQ)
            .map_err(sled_err("reading counters"))?
            .is_none();
    let data_key = match (encryption.enabled, wrapped) {
        (true, Some(w)) => crate::crypto::unwrap(&encryption.load_kek(data_dir, false)?, &w)?,
        (true, None) if fresh => {
            let kek = encryption.load_kek(data_dir, true)?;
            let data_key = crate::crypto::generate_key();
            meta.insert(trees::META_DATA_KEY, crate::crypto::wrap(&kek, &data_key))
                .map_err(sled_err("writing the data key"))?;
            meta.flush().map_err(sled_err("flushing the data key"))?;
            data_key
        }
        (true, None) => return Err(StoreError::Encryption(
            "this data directory was written without encryption: export it and ingest into a new directory, or set [encryption] enabled = false".into(),
        )),
        (false, Some(_)) => return Err(StoreError::Encryption(
            "this data directory is encrypted but [encryption] enabled = false".into(),
        )),
        (false, None) => return Ok(None),
    };
    Ok(Some(std::sync::Arc::new(Sealer::new(&data_key))))
}

fn key_u64(k: &[u8]) -> u64 {
    <[u8; 8]>::try_from(k).map_or(0, u64::from_be_bytes)
}

fn read_u64(bytes: Option<sled::IVec>) -> u64 {
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
        .map_or(0, u64::from_be_bytes)
}

impl Store {
    /// Opens (or creates) the database in `dir`, with the data key of `encryption` (the KEK
    /// read for `data_dir`, see [`crate::crypto`]) and a page cache of `cache_mb` MB.
    pub fn open(
        dir: &Path,
        encryption: &EncryptionConfig,
        data_dir: &Path,
        cache_mb: usize,
    ) -> Result<Self, StoreError> {
        if dir == data_dir.join("sled") {
            compact::recover(data_dir)?;
        }
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_mb as u64 * 1024 * 1024)
            // We flush explicitly after every batch; the background flush only adds I/O.
            .flush_every_ms(None)
            .open()
            .map_err(sled_err("opening the database"))?;
        let tree = |name: &str| db.open_tree(name).map_err(sled_err("opening a tree"));
        let meta = tree(trees::META)?;
        match meta
            .get(trees::META_FORMAT)
            .map_err(sled_err("reading the store format"))?
        {
            Some(v) if [STORE_FORMAT, STORE_FORMAT_PACKED].contains(&key_u64(&v)) => {}
            Some(v) => {
                return Err(StoreError::Corrupt {
                    tree: trees::META,
                    reason: format!(
                        "store format {} is not the supported format {STORE_FORMAT}",
                        key_u64(&v)
                    ),
                })
            }
            None if meta.get(trees::META_BATCH_SEQ).ok().flatten().is_some() => {
                return Err(StoreError::Corrupt {
                    tree: trees::META,
                    reason: "the data directory was written by an older goldrec with JSON values: export it with that version and ingest again".into(),
                })
            }
            None => {
                meta.insert(trees::META_FORMAT, &STORE_FORMAT.to_be_bytes())
                    .map_err(sled_err("writing the store format"))?;
            }
        }
        let records = tree(trees::RECORDS)?;
        let entities = tree(trees::ENTITIES)?;
        let sealer = open_sealer(&meta, &records, encryption, data_dir)?;
        let packing = packing::Packing::default();
        let open_value =
            |tree: &'static str, key: &[u8], v: &[u8]| -> Result<Vec<u8>, StoreError> {
                match &sealer {
                    Some(s) => Ok(s.open(tree, key, v)?),
                    None => Ok(v.to_vec()),
                }
            };
        for tree in packing::Packing::TREES {
            let key = packing::Packing::meta_key(tree).expect("a packed tree");
            if let Some(v) = meta.get(key).map_err(sled_err("reading a dictionary"))? {
                packing.install(tree, open_value(trees::META, key, &v)?);
            }
        }
        let unseal = |tree: &'static str, key: &[u8], v: &[u8]| -> Result<Vec<u8>, StoreError> {
            let v = open_value(tree, key, v)?;
            match packing.unpack(tree, &v).map_err(corrupt(tree))? {
                Some(plain) => Ok(plain),
                None => Ok(v),
            }
        };
        if meta
            .get(trees::META_ENTITIES)
            .map_err(sled_err("reading counters"))?
            .is_none()
        {
            let mut live = 0u64;
            for kv in entities.iter() {
                let (k, v) = kv.map_err(sled_err("scanning entities"))?;
                let v = unseal(trees::ENTITIES, &k, &v)?;
                let e = codec::decode_entity(&v).map_err(corrupt(trees::ENTITIES))?;
                live += u64::from(e.state == EntityState::Active);
            }
            meta.insert(trees::META_ENTITIES, &live.to_be_bytes())
                .map_err(sled_err("writing counters"))?;
        }
        let batch_seq = read_u64(
            meta.get(trees::META_BATCH_SEQ)
                .map_err(sled_err("reading counters"))?,
        );
        for legacy in trees::LEGACY_META_SNAPSHOTS {
            meta.remove(legacy)
                .map_err(sled_err("removing a legacy snapshot"))?;
        }
        let snapshots = tree(trees::SNAPSHOTS)?;
        let saved = snapshots
            .get(trees::SNAP_BLOOM)
            .map_err(sled_err("reading the record filter"))?
            .map(|v| unseal(trees::SNAPSHOTS, trees::SNAP_BLOOM, &v))
            .transpose()?
            .filter(|v| v.len() > 8 && key_u64(&v[..8]) == batch_seq)
            .and_then(|v| bloom::Bloom::from_bytes(&v[8..]));
        let known = match saved {
            Some(b) => b,
            None => {
                let b = bloom::Bloom::default();
                for k in records.iter().keys() {
                    let k = k.map_err(sled_err("scanning records"))?;
                    if let Ok(id) = <[u8; 16]>::try_from(k.as_ref()) {
                        b.insert(&RecordId(id));
                    }
                }
                b
            }
        };
        Ok(Self {
            known: std::sync::Arc::new(known),
            records,
            entities: tree(trees::ENTITIES)?,
            review: tree(trees::REVIEW)?,
            review_by_record: tree(trees::REVIEW_BY_RECORD)?,
            changes: tree(trees::CHANGES)?,
            decisions: tree(trees::DECISIONS)?,
            decisions_by_record: tree(trees::DECISIONS_BY_RECORD)?,
            link_verdicts: tree(trees::LINK_VERDICTS)?,
            review_outcomes: tree(trees::REVIEW_OUTCOMES)?,
            audit: tree(trees::AUDIT)?,
            activity: tree(trees::ACTIVITY)?,
            activity_by_record: tree(trees::ACTIVITY_BY_RECORD)?,
            activity_unresolved: tree(trees::ACTIVITY_UNRESOLVED)?,
            classes: tree(trees::CLASSES)?,
            segments: tree(trees::SEGMENTS)?,
            meta,
            snapshots,
            db,
            sealer,
            packing: std::sync::Arc::new(packing),
        })
    }

    /// `plain` as stored at `key` of `tree`: packed when the tree has a dictionary
    /// ([`packing`]), then sealed when the store is encrypted.
    fn seal(&self, tree: &'static str, key: &[u8], plain: Vec<u8>) -> Vec<u8> {
        let plain = self.packing.pack(tree, plain);
        match &self.sealer {
            Some(s) => s.seal(tree, key, &plain),
            None => plain,
        }
    }

    /// A value read from `key` of `tree`: opened when the store is encrypted, unpacked when
    /// it was packed.
    fn unseal<'v>(
        &self,
        tree: &'static str,
        key: &[u8],
        stored: &'v [u8],
    ) -> Result<std::borrow::Cow<'v, [u8]>, StoreError> {
        use std::borrow::Cow;
        let opened = match &self.sealer {
            Some(s) => Cow::Owned(s.open(tree, key, stored)?),
            None => Cow::Borrowed(stored),
        };
        match self.packing.unpack(tree, &opened).map_err(corrupt(tree))? {
            Some(plain) => Ok(Cow::Owned(plain)),
            None => Ok(opened),
        }
    }

    /// Trains and keeps the dictionary of `tree` when it has none and `w` brings enough
    /// values of it ([`packing::Packing::train_min`]); `plain` encodes the i-th of them.
    fn train_dict(
        &self,
        tree: &'static str,
        count: usize,
        plain: impl Fn(usize) -> Vec<u8> + Sync + Send,
    ) -> Result<(), StoreError> {
        use rayon::prelude::*;
        if count < packing::Packing::train_min(tree) || !self.packing.wants_dict(tree) {
            return Ok(());
        }
        let samples: Vec<Vec<u8>> = (0..count.min(packing::TRAIN_SAMPLES))
            .into_par_iter()
            .map(plain)
            .collect();
        self.install_dict(tree, packing::Packing::train(&samples))
    }

    /// Keeps `dict` as the dictionary of `tree`, durably before any value packed with it.
    fn install_dict(&self, tree: &'static str, dict: Option<Vec<u8>>) -> Result<(), StoreError> {
        let Some(key) = packing::Packing::meta_key(tree) else {
            return Ok(());
        };
        if !self.packing.wants_dict(tree) {
            return Ok(());
        }
        let Some(dict) = dict else {
            // zstd could not make one of these values: do not try at every batch.
            self.packing.give_up(tree);
            return Ok(());
        };
        self.meta
            .insert(key, self.seal(trees::META, key, dict.clone()))
            .map_err(sled_err("writing a dictionary"))?;
        self.meta
            .insert(trees::META_FORMAT, &STORE_FORMAT_PACKED.to_be_bytes())
            .map_err(sled_err("writing the store format"))?;
        self.meta
            .flush()
            .map_err(sled_err("flushing a dictionary"))?;
        let installed = self.packing.install(tree, dict);
        debug_assert!(installed, "one writer installs a tree's dictionary once");
        Ok(())
    }

    /// The sealer of an encrypted store (for the index's term hashing).
    pub fn sealer(&self) -> Option<std::sync::Arc<Sealer>> {
        self.sealer.clone()
    }

    /// Re-wraps the data key under `new_kek` (key rotation): the data stays as it is. Fails
    /// when the store is not encrypted or `old_kek` does not open its data key.
    pub fn rewrap_data_key(
        &self,
        old_kek: &crate::crypto::Key,
        new_kek: &crate::crypto::Key,
    ) -> Result<(), StoreError> {
        let wrapped = self
            .meta
            .get(trees::META_DATA_KEY)
            .map_err(sled_err("reading the data key"))?
            .ok_or_else(|| StoreError::Encryption("this data directory is not encrypted".into()))?;
        let data_key = crate::crypto::unwrap(old_kek, &wrapped)?;
        self.meta
            .insert(
                trees::META_DATA_KEY,
                crate::crypto::wrap(new_kek, &data_key),
            )
            .map_err(sled_err("writing the data key"))?;
        self.db.flush().map_err(sled_err("flushing the data key"))?;
        Ok(())
    }

    /// A stored record by id.
    pub fn record(&self, id: RecordId) -> Result<Option<StoredRecord>, StoreError> {
        self.read_record(id, codec::decode_record)
    }

    /// A stored record by id without its normalized profile (left empty), for showing it.
    pub fn record_for_view(&self, id: RecordId) -> Result<Option<StoredRecord>, StoreError> {
        self.read_record(id, codec::decode_record_for_view)
    }

    /// The key (time in ms, a unique sequence) and stored value of an audit entry.
    fn audit_value(&self, at: u64, entry: &[u8]) -> Result<(Vec<u8>, Vec<u8>), StoreError> {
        let seq = self
            .db
            .generate_id()
            .map_err(sled_err("numbering audit entries"))?;
        let mut key = at.to_be_bytes().to_vec();
        key.extend_from_slice(&seq.to_be_bytes());
        let sealed = self.seal(trees::AUDIT, &key, entry.to_vec());
        Ok((key, sealed))
    }

    /// Appends audit entries (time in ms, JSON) and flushes. Only the audit log is written.
    pub fn append_audit(&self, entries: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (at, value) in entries {
            let (key, sealed) = self.audit_value(*at, value)?;
            batch.insert(key, sealed);
        }
        self.audit
            .apply_batch(batch)
            .map_err(sled_err("writing the audit log"))?;
        self.audit
            .flush()
            .map_err(sled_err("flushing the audit log"))?;
        Ok(())
    }

    /// Removes audit entries written before `before_ms`; returns how many.
    pub fn prune_audit(&self, before_ms: u64) -> Result<usize, StoreError> {
        let mut n = 0;
        for k in self.audit.range(..before_ms.to_be_bytes().to_vec()).keys() {
            let k = k.map_err(sled_err("scanning the audit log"))?;
            self.audit
                .remove(k)
                .map_err(sled_err("pruning the audit log"))?;
            n += 1;
        }
        Ok(n)
    }

    /// A stored record for scoring: profile, entity, source and key, without the supplied
    /// values ([`codec::decode_record_for_matching`]); never to be written back.
    pub fn record_for_matching(&self, id: RecordId) -> Result<Option<StoredRecord>, StoreError> {
        self.read_record(id, codec::decode_record_for_matching)
    }

    /// Reads a record with `decode`; the Bloom filter answers for records never stored.
    fn read_record(
        &self,
        id: RecordId,
        decode: fn(&[u8]) -> Result<StoredRecord, codec::CodecError>,
    ) -> Result<Option<StoredRecord>, StoreError> {
        if !self.known.may_contain(&id) {
            return Ok(None);
        }
        match self
            .records
            .get(id.0)
            .map_err(sled_err("reading a record"))?
        {
            Some(b) => decode(&self.unseal(trees::RECORDS, &id.0, &b)?)
                .map(Some)
                .map_err(corrupt(trees::RECORDS)),
            None => Ok(None),
        }
    }

    /// An entity by id, in any state.
    pub fn entity(&self, id: EntityId) -> Result<Option<Entity>, StoreError> {
        match self
            .entities
            .get(id.to_be_bytes())
            .map_err(sled_err("reading an entity"))?
        {
            Some(b) => {
                codec::decode_entity(&self.unseal(trees::ENTITIES, &id.to_be_bytes(), &b)?)
                    .map(Some)
                    .map_err(corrupt(trees::ENTITIES))
            }
            None => Ok(None),
        }
    }

    /// Follows merge redirects to the live entity (at most 64 hops).
    pub fn resolve(&self, mut id: EntityId) -> Result<Option<Entity>, StoreError> {
        for _ in 0..64 {
            match self.entity(id)? {
                Some(Entity {
                    state: EntityState::Merged { into },
                    ..
                }) => id = into,
                other => return Ok(other),
            }
        }
        Ok(None)
    }

    /// All entities in id order (any state).
    pub fn entities(&self) -> impl Iterator<Item = Result<Entity, StoreError>> + '_ {
        self.entities.iter().map(|r| {
            let (k, v) = r.map_err(sled_err("scanning entities"))?;
            codec::decode_entity(&self.unseal(trees::ENTITIES, &k, &v)?)
                .map_err(corrupt(trees::ENTITIES))
        })
    }

    /// All records in id order.
    pub fn records(
        &self,
    ) -> impl Iterator<Item = Result<(RecordId, StoredRecord), StoreError>> + '_ {
        self.records.iter().map(|r| {
            let (k, v) = r.map_err(sled_err("scanning records"))?;
            let id = RecordId(k.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                tree: trees::RECORDS,
                reason: "record key is not 16 bytes".into(),
            })?);
            Ok((
                id,
                codec::decode_record(&self.unseal(trees::RECORDS, &k, &v)?)
                    .map_err(corrupt(trees::RECORDS))?,
            ))
        })
    }

    /// Review items in key order.
    pub fn review_items(&self) -> impl Iterator<Item = Result<ReviewItem, StoreError>> + '_ {
        self.review.iter().map(|r| {
            let (k, v) = r.map_err(sled_err("scanning the review queue"))?;
            decode(trees::REVIEW, &self.unseal(trees::REVIEW, &k, &v)?)
        })
    }

    /// Number of queued review pairs (a scan of the queue's keys; pairs settled since they
    /// were queued are counted until a batch touching them drops them).
    pub fn review_len(&self) -> usize {
        self.review.len()
    }

    /// Keys of the review items that involve a record.
    pub fn review_keys_of(&self, id: RecordId) -> Result<Vec<[u8; 32]>, StoreError> {
        let mut out = Vec::new();
        for r in self.review_by_record.scan_prefix(id.0) {
            let (k, _) = r.map_err(sled_err("scanning the review index"))?;
            if let Ok(key) = <[u8; 32]>::try_from(&k[16..]) {
                out.push(key);
            }
        }
        Ok(out)
    }

    /// Number of stored records (a counter kept in each batch's transaction: sled's own count
    /// scans the tree).
    pub fn record_count(&self) -> Result<u64, StoreError> {
        Ok(read_u64(
            self.meta
                .get(trees::META_RECORDS)
                .map_err(sled_err("reading counters"))?,
        ))
    }

    /// Number of live entities.
    pub fn entity_count(&self) -> Result<u64, StoreError> {
        Ok(read_u64(
            self.meta
                .get(trees::META_ENTITIES)
                .map_err(sled_err("reading counters"))?,
        ))
    }

    /// Next free entity id.
    pub fn next_entity(&self) -> Result<EntityId, StoreError> {
        Ok(read_u64(
            self.meta
                .get(trees::META_NEXT_ENTITY)
                .map_err(sled_err("reading counters"))?,
        )
        .max(1))
    }

    /// Next free record sequence number.
    pub fn next_record_seq(&self) -> Result<u64, StoreError> {
        Ok(read_u64(
            self.meta
                .get(trees::META_NEXT_RECORD_SEQ)
                .map_err(sled_err("reading counters"))?,
        ))
    }

    /// Number of batches committed so far (the tantivy index records the same number).
    pub fn batch_seq(&self) -> Result<u64, StoreError> {
        Ok(read_u64(
            self.meta
                .get(trees::META_BATCH_SEQ)
                .map_err(sled_err("reading counters"))?,
        ))
    }

    /// Applies a batch's writes in one transaction and flushes; returns the new batch sequence.
    ///
    /// `w.entities[i]` and `w.events[i]` describe the same change. Events are numbered after
    /// the last committed one and written as pages of [`PAGE_EVENTS`]; each entity records
    /// the page of its new version, which is how its history is found.
    pub fn commit(&self, w: &WriteSet) -> Result<u64, StoreError> {
        use rayon::prelude::*;
        let started = std::time::Instant::now();
        let first_change = self.last_change_seq()? + 1;
        self.train_dict(trees::RECORDS, w.records.len(), |i| {
            codec::encode_record(&w.records[i].1)
        })?;
        self.train_dict(trees::ENTITIES, w.entities.len(), |i| {
            codec::encode_entity(&w.entities[i])
        })?;
        self.train_dict(trees::REVIEW, w.review.len(), |i| encode(&w.review[i]))?;
        // Encoding is the CPU-heavy part of a commit: do it on every core, outside the
        // transaction.
        let encoded_records: Vec<Vec<u8>> = w
            .records
            .par_iter()
            .map(|(id, r)| self.seal(trees::RECORDS, &id.0, codec::encode_record(r)))
            .collect();
        let page_of = |i: usize| first_change + (i / PAGE_EVENTS * PAGE_EVENTS) as u64;
        let entity_delta: i64 = w
            .events
            .iter()
            .map(|e| match e.kind {
                ChangeKind::Created => 1,
                ChangeKind::Merged | ChangeKind::Deleted | ChangeKind::Erased => -1,
                _ => 0,
            })
            .sum();
        let encoded_entities: Vec<Vec<u8>> = w
            .entities
            .par_iter()
            .enumerate()
            .map(|(i, e)| {
                let noted = (i < w.events.len()).then(|| (e.version, page_of(i)));
                let bytes = codec::encode_entity_noting(e, noted);
                self.seal(trees::ENTITIES, &e.id.to_be_bytes(), bytes)
            })
            .collect();
        let actor = if w.actor.is_empty() {
            "system"
        } else {
            w.actor.as_str()
        };
        let pages: Vec<(u64, Vec<u8>)> = w
            .events
            .par_chunks(PAGE_EVENTS)
            .enumerate()
            .map(|(p, events)| {
                let base = p * PAGE_EVENTS;
                let entries = events
                    .iter()
                    .enumerate()
                    .map(|(j, ev)| {
                        let e = w.entities.get(base + j);
                        codec::PageEntry {
                            event: ev.clone(),
                            state: e.map_or(EntityState::Deleted, |e| e.state.clone()),
                            member_ids: e.map(|e| e.members.clone()).unwrap_or_default(),
                            overrides: e.map(|e| e.overrides.clone()).unwrap_or_default(),
                        }
                    })
                    .collect();
                let page = codec::Page {
                    actor: actor.to_string(),
                    reason: w.reason.clone(),
                    entries,
                };
                let key = page_of(base);
                (
                    key,
                    self.seal(
                        trees::CHANGES,
                        &key.to_be_bytes(),
                        codec::encode_page(&page),
                    ),
                )
            })
            .collect();
        let mut decisions = sled::Batch::default();
        let mut decisions_index = sled::Batch::default();
        for k in &w.revoked {
            decisions.remove(&k[..]);
            decisions_index.remove([&k[..16], &k[..]].concat());
            decisions_index.remove([&k[16..], &k[..]].concat());
        }
        for d in &w.decisions {
            let k = d.key();
            decisions.insert(&k[..], self.seal(trees::DECISIONS, &k, encode(d)));
            decisions_index.insert([&k[..16], &k[..]].concat(), &[]);
            decisions_index.insert([&k[16..], &k[..]].concat(), &[]);
        }
        let mut changes = sled::Batch::default();
        for (key, page) in &w.redacted_pages {
            let bytes = self.seal(trees::CHANGES, &key.to_be_bytes(), codec::encode_page(page));
            changes.insert(&key.to_be_bytes(), bytes);
        }
        for (key, bytes) in pages {
            changes.insert(&key.to_be_bytes(), bytes);
        }
        let last_change = first_change + w.events.len() as u64 - 1;
        let encoded_at = started.elapsed();
        let mut records = sled::Batch::default();
        for ((id, _), bytes) in w.records.iter().zip(encoded_records) {
            records.insert(&id.0, bytes);
        }
        for id in &w.deleted_records {
            records.remove(&id.0);
        }
        let mut entities = sled::Batch::default();
        for (e, bytes) in w.entities.iter().zip(encoded_entities) {
            entities.insert(&e.id.to_be_bytes(), bytes);
        }
        let mut review = sled::Batch::default();
        let mut by_record = sled::Batch::default();
        let index_key = |rec: &[u8], key: &[u8; 32]| [rec, &key[..]].concat();
        for k in &w.review_done {
            review.remove(k);
            by_record.remove(index_key(&k[..16], k));
            by_record.remove(index_key(&k[16..], k));
        }
        for item in &w.review {
            let k = ReviewItem::key(item.a, item.b);
            review.insert(&k, self.seal(trees::REVIEW, &k, encode(item)));
            by_record.insert(index_key(&k[..16], &k), &[]);
            by_record.insert(index_key(&k[16..], &k), &[]);
        }
        let has_review = !w.review.is_empty() || !w.review_done.is_empty();
        let has_decisions = !w.decisions.is_empty() || !w.revoked.is_empty();
        let mut verdicts = sled::Batch::default();
        let mut outcomes = sled::Batch::default();
        for k in &w.forgotten_pairs {
            verdicts.remove(&k[..]);
            outcomes.remove(&k[..]);
        }
        for v in &w.verdicts {
            verdicts.insert(&v.key()[..], encode(v));
        }
        for o in &w.review_outcomes {
            outcomes.insert(&ReviewItem::key(o.a, o.b)[..], encode(o));
        }
        let forget = !w.forgotten_pairs.is_empty();
        let (has_verdicts, has_outcomes) = (
            forget || !w.verdicts.is_empty(),
            forget || !w.review_outcomes.is_empty(),
        );
        let mut audit = sled::Batch::default();
        for (at, entry) in &w.audit {
            let (key, sealed) = self.audit_value(*at, entry)?;
            audit.insert(key, sealed);
        }
        let act = self.activity_batches(w);
        let (has_activity, has_classes) = (!w.activity.is_empty(), !w.classes.is_empty());
        let all: [&sled::Tree; 16] = [
            &self.records,
            &self.entities,
            &self.review,
            &self.review_by_record,
            &self.changes,
            &self.decisions,
            &self.decisions_by_record,
            &self.meta,
            &self.link_verdicts,
            &self.review_outcomes,
            &self.audit,
            &self.activity,
            &self.activity_by_record,
            &self.activity_unresolved,
            &self.classes,
            &self.segments,
        ];
        let result: Result<u64, TransactionError<()>> = all[..].transaction(|t| {
            let (tr, te, tv, ti, tc, td, tx, tm, tl, to, ta) = (
                &t[0], &t[1], &t[2], &t[3], &t[4], &t[5], &t[6], &t[7], &t[8], &t[9], &t[10],
            );
            if has_activity {
                t[11].apply_batch(&act.activity)?;
                t[12].apply_batch(&act.by_record)?;
                t[13].apply_batch(&act.unresolved)?;
            }
            if has_classes {
                t[14].apply_batch(&act.classes)?;
                t[15].apply_batch(&act.segments)?;
            }
            if !w.audit.is_empty() {
                ta.apply_batch(&audit)?;
            }
            if has_decisions {
                td.apply_batch(&decisions)?;
                tx.apply_batch(&decisions_index)?;
            }
            if has_verdicts {
                tl.apply_batch(&verdicts)?;
            }
            if has_outcomes {
                to.apply_batch(&outcomes)?;
            }
            tr.apply_batch(&records)?;
            te.apply_batch(&entities)?;
            if has_review {
                tv.apply_batch(&review)?;
                ti.apply_batch(&by_record)?;
            }
            tc.apply_batch(&changes)?;
            tm.insert(trees::META_LAST_CHANGE, &last_change.to_be_bytes())?;
            if w.record_delta != 0 {
                let n = read_u64(tm.get(trees::META_RECORDS)?) as i64 + w.record_delta;
                tm.insert(trees::META_RECORDS, &(n.max(0) as u64).to_be_bytes())?;
            }
            if entity_delta != 0 {
                let n = read_u64(tm.get(trees::META_ENTITIES)?) as i64 + entity_delta;
                tm.insert(trees::META_ENTITIES, &(n.max(0) as u64).to_be_bytes())?;
            }
            let seq = read_u64(tm.get(trees::META_BATCH_SEQ)?) + 1;
            tm.insert(trees::META_BATCH_SEQ, &seq.to_be_bytes())?;
            tm.insert(trees::META_NEXT_ENTITY, &w.next_entity.to_be_bytes())?;
            tm.insert(
                trees::META_NEXT_RECORD_SEQ,
                &w.next_record_seq.to_be_bytes(),
            )?;
            Ok::<_, ConflictableTransactionError<()>>(seq)
        });
        let seq = result.map_err(|e| match e {
            TransactionError::Storage(source) => StoreError::Sled {
                op: "committing a batch",
                source,
            },
            TransactionError::Abort(()) => unreachable!("the batch transaction never aborts"),
        })?;
        for (id, _) in &w.records {
            self.known.insert(id);
        }
        let committed_at = started.elapsed();
        self.db.flush().map_err(sled_err("flushing a batch"))?;
        tracing::debug!(
            encode_ms = encoded_at.as_millis() as u64,
            transaction_ms = (committed_at - encoded_at).as_millis() as u64,
            flush_ms = (started.elapsed() - committed_at).as_millis() as u64,
            encode_us = encoded_at.as_micros() as u64,
            transaction_us = (committed_at - encoded_at).as_micros() as u64,
            flush_us = (started.elapsed() - committed_at).as_micros() as u64,
            "batch stored"
        );
        Ok(seq)
    }

    /// Removes every record, entity and review item (counters stay, so new entity ids never
    /// reuse old ones). Used by a full re-match.
    pub fn clear_matching_state(&self) -> Result<(), StoreError> {
        for t in [
            &self.records,
            &self.entities,
            &self.review,
            &self.review_by_record,
            &self.classes,
            &self.segments,
        ] {
            t.clear().map_err(sled_err("clearing a tree"))?;
        }
        for key in [trees::META_RECORDS, trees::META_ENTITIES] {
            self.meta.remove(key).map_err(sled_err("clearing a tree"))?;
        }
        self.db.flush().map_err(sled_err("flushing"))?;
        Ok(())
    }

    /// The change page whose key is `key`.
    fn page(&self, key: u64) -> Result<Option<codec::Page>, StoreError> {
        match self
            .changes
            .get(key.to_be_bytes())
            .map_err(sled_err("reading the change log"))?
        {
            Some(v) => {
                codec::decode_page(key, &self.unseal(trees::CHANGES, &key.to_be_bytes(), &v)?)
                    .map(Some)
                    .map_err(corrupt(trees::CHANGES))
            }
            None => Ok(None),
        }
    }

    /// The history entry of one version, read from its change page.
    fn history_entry(
        &self,
        id: EntityId,
        version: u64,
        page: u64,
    ) -> Result<Option<HistoryEntry>, StoreError> {
        let Some(p) = self.page(page)? else {
            return Ok(None);
        };
        Ok(p.entries
            .into_iter()
            .find(|x| x.event.entity_id == id && x.event.version == version)
            .map(|x| HistoryEntry {
                entity_id: id,
                version,
                kind: x.event.kind,
                actor: p.actor.clone(),
                reason: p.reason.clone(),
                at: x.event.at,
                state: x.state,
                members: x.member_ids,
                golden: x.event.golden,
                overrides: x.overrides,
                redacted: x.event.redacted,
            }))
    }

    /// Every change page that names an erased record (by id or source key) or an erased
    /// entity, redacted: golden values and overrides removed, the erased records' ids and keys
    /// dropped, `redacted` set. Sequence numbers, kinds and versions stay, so the feed keeps its
    /// order. An entity that once held an erased record and is now a tombstone (merged away or
    /// deleted) counts as erased: every event of it is redacted, and it comes back with its
    /// overrides and golden values cleared, to be written with the batch. Scans the whole log
    /// (erasures are rare).
    pub fn redacted_pages(
        &self,
        records: &std::collections::HashSet<RecordId>,
        keys: &std::collections::HashSet<(String, String)>,
        entities: &std::collections::HashSet<EntityId>,
    ) -> Result<Redaction, StoreError> {
        let named = |k: &SourceKey| keys.contains(&(k.source.clone(), k.key.clone()));
        let mut pages = Vec::new();
        let mut touched = std::collections::HashSet::new();
        for r in self.changes.iter() {
            let (k, v) = r.map_err(sled_err("scanning the change log"))?;
            let first = key_u64(&k);
            let page = codec::decode_page(first, &self.unseal(trees::CHANGES, &k, &v)?)
                .map_err(corrupt(trees::CHANGES))?;
            for x in &page.entries {
                let e = &x.event;
                if x.member_ids.iter().any(|id| records.contains(id))
                    || e.members.iter().chain(&e.joined).chain(&e.left).any(named)
                {
                    touched.insert(e.entity_id);
                }
            }
            pages.push((first, page));
        }
        let mut gone = entities.clone();
        let mut tombstones = Vec::new();
        for id in touched {
            if gone.contains(&id) {
                continue;
            }
            if let Some(mut e) = self.entity(id)? {
                if e.state != EntityState::Active {
                    gone.insert(id);
                    if !e.overrides.is_empty() || !e.golden.is_empty() {
                        e.overrides.clear();
                        e.golden.clear();
                        tombstones.push(e);
                    }
                }
            }
        }
        let mut out = Vec::new();
        for (first, mut page) in pages {
            let mut changed = false;
            for x in &mut page.entries {
                let e = &mut x.event;
                let hit = gone.contains(&e.entity_id)
                    || x.member_ids.iter().any(|id| records.contains(id))
                    || e.members.iter().chain(&e.joined).chain(&e.left).any(named);
                if !hit {
                    continue;
                }
                changed = true;
                e.redacted = true;
                e.golden.clear();
                e.members.retain(|k| !named(k));
                e.joined.retain(|k| !named(k));
                e.left.retain(|k| !named(k));
                x.member_ids.retain(|id| !records.contains(id));
                if gone.contains(&e.entity_id) {
                    x.overrides.clear();
                }
            }
            if changed {
                out.push((first, page));
            }
        }
        Ok(Redaction {
            pages: out,
            tombstones,
        })
    }

    /// Record pairs with a link verdict or a review outcome that name one of `records`.
    pub fn pairs_naming(
        &self,
        records: &std::collections::HashSet<RecordId>,
    ) -> Result<Vec<[u8; 32]>, StoreError> {
        let mut out = Vec::new();
        for tree in [&self.link_verdicts, &self.review_outcomes] {
            for k in tree.iter().keys() {
                let k = k.map_err(sled_err("scanning verdicts"))?;
                let Ok(pair) = <[u8; 32]>::try_from(k.as_ref()) else {
                    continue;
                };
                let (a, b) = (&pair[..16], &pair[16..]);
                if records.iter().any(|r| r.0 == a || r.0 == b) {
                    out.push(pair);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// The history of an entity, oldest version first.
    pub fn history(&self, id: EntityId) -> Result<Vec<HistoryEntry>, StoreError> {
        let Some(e) = self.entity(id)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(e.history.len());
        for (version, page) in e.history {
            if let Some(h) = self.history_entry(id, version, page)? {
                out.push(h);
            }
        }
        Ok(out)
    }

    /// One version of an entity from its history.
    pub fn entity_version(
        &self,
        id: EntityId,
        version: u64,
    ) -> Result<Option<HistoryEntry>, StoreError> {
        let Some(e) = self.entity(id)? else {
            return Ok(None);
        };
        match e.history.iter().find(|(v, _)| *v == version) {
            Some(&(v, page)) => self.history_entry(id, v, page),
            None => Ok(None),
        }
    }

    /// Whether any steward decision exists (lets batches skip per-record look-ups).
    pub fn has_decisions(&self) -> bool {
        !self.decisions.is_empty()
    }

    /// Decisions that involve a record.
    pub fn decisions_of(&self, id: RecordId) -> Result<Vec<Decision>, StoreError> {
        let mut out = Vec::new();
        for r in self.decisions_by_record.scan_prefix(id.0) {
            let (k, _) = r.map_err(sled_err("scanning the decision index"))?;
            if let Some(v) = self
                .decisions
                .get(&k[16..])
                .map_err(sled_err("reading a decision"))?
            {
                out.push(decode(
                    trees::DECISIONS,
                    &self.unseal(trees::DECISIONS, &k[16..], &v)?,
                )?);
            }
        }
        Ok(out)
    }

    /// A decision by its pair key.
    pub fn decision(&self, key: &[u8; 32]) -> Result<Option<Decision>, StoreError> {
        match self
            .decisions
            .get(key)
            .map_err(sled_err("reading a decision"))?
        {
            Some(v) => decode(trees::DECISIONS, &self.unseal(trees::DECISIONS, key, &v)?).map(Some),
            None => Ok(None),
        }
    }

    /// All decisions, in pair-key order.
    pub fn decisions(&self) -> impl Iterator<Item = Result<Decision, StoreError>> + '_ {
        self.decisions.iter().map(|r| {
            let (k, v) = r.map_err(sled_err("scanning decisions"))?;
            decode(trees::DECISIONS, &self.unseal(trees::DECISIONS, &k, &v)?)
        })
    }

    /// A queued review item by its pair key.
    pub fn review_item(&self, key: &[u8; 32]) -> Result<Option<ReviewItem>, StoreError> {
        match self
            .review
            .get(key)
            .map_err(sled_err("reading the review queue"))?
        {
            Some(v) => decode(trees::REVIEW, &self.unseal(trees::REVIEW, key, &v)?).map(Some),
            None => Ok(None),
        }
    }

    /// The verdict on an automatic link, by its pair key.
    pub fn link_verdict(&self, key: &[u8; 32]) -> Result<Option<LinkVerdict>, StoreError> {
        match self
            .link_verdicts
            .get(key)
            .map_err(sled_err("reading a link verdict"))?
        {
            Some(v) => decode(trees::LINK_VERDICTS, &v).map(Some),
            None => Ok(None),
        }
    }

    /// All verdicts on automatic links, in pair-key order.
    pub fn link_verdicts(&self) -> impl Iterator<Item = Result<LinkVerdict, StoreError>> + '_ {
        self.link_verdicts.iter().map(|r| {
            let (_, v) = r.map_err(sled_err("scanning link verdicts"))?;
            decode(trees::LINK_VERDICTS, &v)
        })
    }

    /// All decisions taken on queued review pairs, in pair-key order.
    pub fn review_outcomes(&self) -> impl Iterator<Item = Result<ReviewOutcome, StoreError>> + '_ {
        self.review_outcomes.iter().map(|r| {
            let (_, v) = r.map_err(sled_err("scanning review outcomes"))?;
            decode(trees::REVIEW_OUTCOMES, &v)
        })
    }

    /// Last committed change sequence number (0 before the first).
    pub fn last_change_seq(&self) -> Result<u64, StoreError> {
        Ok(read_u64(
            self.meta
                .get(trees::META_LAST_CHANGE)
                .map_err(sled_err("reading counters"))?,
        ))
    }

    /// Oldest change still served by the feed (`None` when the feed is empty). Pages older
    /// than the retention stay stored (entity history reads them) but are not served.
    pub fn oldest_change_seq(&self) -> Result<Option<u64>, StoreError> {
        let last = self.last_change_seq()?;
        if last == 0 {
            return Ok(None);
        }
        let floor = read_u64(
            self.meta
                .get(trees::META_FEED_FLOOR)
                .map_err(sled_err("reading counters"))?,
        );
        Ok(Some(floor.max(1)))
    }

    /// Up to `limit` change events with sequence numbers above `after`, in order.
    pub fn changes_after(&self, after: u64, limit: usize) -> Result<Vec<ChangeEvent>, StoreError> {
        let mut out = Vec::new();
        let from = after.saturating_add(1);
        // The page holding `from` starts at or before it.
        let start = self
            .changes
            .range(..=from.to_be_bytes())
            .next_back()
            .transpose()
            .map_err(sled_err("reading the change feed"))?
            .map_or(from, |(k, _)| key_u64(&k));
        for r in self.changes.range(start.to_be_bytes()..) {
            let (k, v) = r.map_err(sled_err("reading the change feed"))?;
            let page = codec::decode_page(key_u64(&k), &self.unseal(trees::CHANGES, &k, &v)?)
                .map_err(corrupt(trees::CHANGES))?;
            for x in page.entries {
                if x.event.seq >= from {
                    out.push(x.event);
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Serves at most `keep` events from the feed (the oldest beyond that answer 410); the
    /// pages stay, as entity history.
    pub fn prune_changes(&self, keep: u64) -> Result<(), StoreError> {
        let last = self.last_change_seq()?;
        if last <= keep {
            return Ok(());
        }
        self.meta
            .insert(trees::META_FEED_FLOOR, &(last - keep + 1).to_be_bytes())
            .map_err(sled_err("pruning the change feed"))?;
        Ok(())
    }

    /// Saves a snapshot of the term-frequency counts and of the record filter, valid while
    /// the batch sequence is `batch_seq` (durably).
    pub fn save_terms(&self, batch_seq: u64, bytes: Vec<u8>) -> Result<(), StoreError> {
        let mut v = batch_seq.to_be_bytes().to_vec();
        v.extend(bytes);
        self.snapshots
            .insert(
                trees::SNAP_TERMS,
                self.seal(trees::SNAPSHOTS, trees::SNAP_TERMS, v),
            )
            .map_err(sled_err("saving term frequencies"))?;
        let mut v = batch_seq.to_be_bytes().to_vec();
        v.extend(self.known.to_bytes());
        self.snapshots
            .insert(
                trees::SNAP_BLOOM,
                self.seal(trees::SNAPSHOTS, trees::SNAP_BLOOM, v),
            )
            .map_err(sled_err("saving the record filter"))?;
        self.db
            .flush()
            .map_err(sled_err("flushing term frequencies"))?;
        Ok(())
    }

    /// The term-frequency snapshot, if it reflects the current batch sequence.
    pub fn load_terms(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(v) = self
            .snapshots
            .get(trees::SNAP_TERMS)
            .map_err(sled_err("reading term frequencies"))?
        else {
            return Ok(None);
        };
        let v = self.unseal(trees::SNAPSHOTS, trees::SNAP_TERMS, &v)?;
        if v.len() < 8 || key_u64(&v[..8]) != self.batch_seq()? {
            return Ok(None);
        }
        Ok(Some(v[8..].to_vec()))
    }

    /// Saves a trained model (durably).
    pub fn save_model(&self, model: &crate::matching::Model) -> Result<(), StoreError> {
        self.meta
            .insert(
                trees::META_MODEL,
                self.seal(trees::META, trees::META_MODEL, encode(model)),
            )
            .map_err(sled_err("saving the model"))?;
        self.db.flush().map_err(sled_err("flushing the model"))?;
        Ok(())
    }

    /// The trained model, if one was saved.
    pub fn load_model(&self) -> Result<Option<crate::matching::Model>, StoreError> {
        match self
            .meta
            .get(trees::META_MODEL)
            .map_err(sled_err("reading the model"))?
        {
            Some(b) => decode(
                trees::META,
                &self.unseal(trees::META, trees::META_MODEL, &b)?,
            )
            .map(Some),
            None => Ok(None),
        }
    }

    /// Flushes outstanding writes (used on shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(sled_err("flushing")).map(|_| ())
    }
}

/// Read-only access to the store, for everything outside the engine (API, export, eval): the
/// engine is the only writer, so every write goes through its batch path.
#[derive(Clone, Copy)]
pub struct Reads<'a>(pub(crate) &'a Store);

impl<'a> Reads<'a> {
    /// Audit entries (JSON) written at or after `since_ms`, oldest first.
    pub fn audit_since(
        &self,
        since_ms: u64,
    ) -> impl Iterator<Item = Result<Vec<u8>, StoreError>> + 'a {
        self.0
            .audit
            .range(since_ms.to_be_bytes().to_vec()..)
            .map(|kv| {
                let (k, v) = kv.map_err(sled_err("reading the audit log"))?;
                Ok(self.0.unseal(trees::AUDIT, &k, &v)?.into_owned())
            })
    }

    /// A stored record by id.
    pub fn record(&self, id: RecordId) -> Result<Option<StoredRecord>, StoreError> {
        self.0.record(id)
    }

    /// A stored record by id without its normalized profile (left empty), for showing it.
    pub fn record_for_view(&self, id: RecordId) -> Result<Option<StoredRecord>, StoreError> {
        self.0.record_for_view(id)
    }

    /// An entity by id, in any state.
    pub fn entity(&self, id: EntityId) -> Result<Option<Entity>, StoreError> {
        self.0.entity(id)
    }

    /// Follows merge redirects to the live entity.
    pub fn resolve(&self, id: EntityId) -> Result<Option<Entity>, StoreError> {
        self.0.resolve(id)
    }

    /// All entities in id order (any state).
    pub fn entities(&self) -> impl Iterator<Item = Result<Entity, StoreError>> + 'a {
        self.0.entities()
    }

    /// All records in id order.
    pub fn records(
        &self,
    ) -> impl Iterator<Item = Result<(RecordId, StoredRecord), StoreError>> + 'a {
        self.0.records()
    }

    /// Number of stored records.
    pub fn record_count(&self) -> Result<u64, StoreError> {
        self.0.record_count()
    }

    /// Number of live entities.
    pub fn entity_count(&self) -> Result<u64, StoreError> {
        self.0.entity_count()
    }

    /// Review items in key order.
    pub fn review_items(&self) -> impl Iterator<Item = Result<ReviewItem, StoreError>> + 'a {
        self.0.review_items()
    }

    /// Number of queued review pairs ([`Store::review_len`]).
    pub fn review_len(&self) -> usize {
        self.0.review_len()
    }

    /// All decisions, in pair-key order.
    pub fn decisions(&self) -> impl Iterator<Item = Result<Decision, StoreError>> + 'a {
        self.0.decisions()
    }

    /// A decision by its pair key.
    pub fn decision(&self, key: &[u8; 32]) -> Result<Option<Decision>, StoreError> {
        self.0.decision(key)
    }

    /// Decisions that involve a record.
    pub fn decisions_of(&self, id: RecordId) -> Result<Vec<Decision>, StoreError> {
        self.0.decisions_of(id)
    }

    /// The verdict on an automatic link, by its pair key.
    pub fn link_verdict(&self, key: &[u8; 32]) -> Result<Option<LinkVerdict>, StoreError> {
        self.0.link_verdict(key)
    }

    /// All verdicts on automatic links, in pair-key order.
    pub fn link_verdicts(&self) -> impl Iterator<Item = Result<LinkVerdict, StoreError>> + 'a {
        self.0.link_verdicts()
    }

    /// All decisions taken on queued review pairs, in pair-key order.
    pub fn review_outcomes(&self) -> impl Iterator<Item = Result<ReviewOutcome, StoreError>> + 'a {
        self.0.review_outcomes()
    }

    /// The history of an entity, oldest version first.
    pub fn history(&self, id: EntityId) -> Result<Vec<HistoryEntry>, StoreError> {
        self.0.history(id)
    }

    /// One version of an entity from its history.
    pub fn entity_version(
        &self,
        id: EntityId,
        version: u64,
    ) -> Result<Option<HistoryEntry>, StoreError> {
        self.0.entity_version(id, version)
    }

    /// Last committed change sequence number.
    pub fn last_change_seq(&self) -> Result<u64, StoreError> {
        self.0.last_change_seq()
    }

    /// Oldest change the feed still serves.
    pub fn oldest_change_seq(&self) -> Result<Option<u64>, StoreError> {
        self.0.oldest_change_seq()
    }

    /// Up to `limit` change events after `after`.
    pub fn changes_after(&self, after: u64, limit: usize) -> Result<Vec<ChangeEvent>, StoreError> {
        self.0.changes_after(after, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> Store {
        let plain = EncryptionConfig {
            enabled: false,
            ..EncryptionConfig::default()
        };
        // sled's I/O threads can hold a dropped store's file lock a moment longer.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match Store::open(&dir.join("sled"), &plain, dir, 64) {
                Ok(s) => return s,
                Err(e) if std::time::Instant::now() > deadline => panic!("open: {e}"),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
    }

    fn packable_record(i: usize) -> (RecordId, StoredRecord) {
        let r = StoredRecord {
            source: "crm".into(),
            key: format!("k{i}"),
            values: [
                ("name".to_string(), format!("Customer {i} Zhang")),
                ("email".to_string(), format!("c{i}@example.com")),
            ]
            .into(),
            updated_at: None,
            hash: format!("{i:032x}"),
            entity: i as u64 + 1,
            seq: i as u64,
            ingested_at: 1_700_000_000_000,
            changed_at: 1_700_000_000_000,
            profile: Profile::default(),
        };
        (r.id(), r)
    }

    fn write_set(range: std::ops::Range<usize>) -> WriteSet {
        WriteSet {
            records: range.map(packable_record).collect(),
            ..WriteSet::default()
        }
    }

    #[test]
    fn a_large_write_set_trains_a_dictionary_and_packed_values_read_back_after_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first_packed = packing::TRAIN_MIN + 10;
        {
            let store = open(dir.path());
            store.commit(&write_set(0..10)).expect("small commit");
            assert!(
                store.packing.wants_dict(trees::RECORDS),
                "10 values train nothing"
            );
            store
                .commit(&write_set(10..first_packed))
                .expect("large commit");
            assert!(!store.packing.wants_dict(trees::RECORDS));
            let stored = |i: usize| {
                store
                    .records
                    .get(packable_record(i).0 .0)
                    .expect("get")
                    .expect("present")
            };
            assert_eq!(stored(first_packed - 1)[0], packing::PACKED);
            assert_ne!(
                stored(3)[0],
                packing::PACKED,
                "written before the dictionary"
            );
        }
        let reads_back = |store: &Store, which: [usize; 3]| {
            for i in which {
                let (id, want) = packable_record(i);
                let got = store.record(id).expect("read").expect("present");
                assert_eq!(
                    (got.key, got.values, got.hash),
                    (want.key, want.values, want.hash)
                );
            }
        };
        let store = open(dir.path());
        reads_back(&store, [3, 500, first_packed - 1]);
        // A compaction's copy trains its own dictionary and reads every value back.
        let dir2 = tempfile::tempdir().expect("tempdir");
        let copy = open(dir2.path());
        store.copy_into(&copy).expect("copy");
        assert!(!copy.packing.wants_dict(trees::RECORDS));
        drop(copy);
        reads_back(&open(dir2.path()), [3, 1999, first_packed - 1]);
    }

    #[test]
    fn snapshots_live_in_their_own_tree_and_go_stale_after_a_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = open(dir.path());
            // A store from before the snapshots tree kept them in `meta`.
            for legacy in trees::LEGACY_META_SNAPSHOTS {
                store.meta.insert(legacy, b"old".to_vec()).expect("insert");
            }
            store.flush().expect("flush");
        }
        let store = open(dir.path());
        for legacy in trees::LEGACY_META_SNAPSHOTS {
            assert!(
                store.meta.get(legacy).expect("get").is_none(),
                "legacy key left in meta"
            );
        }
        let seq = store.batch_seq().expect("seq");
        store.save_terms(seq, vec![1, 2, 3]).expect("save");
        assert!(store.meta.get(trees::SNAP_TERMS).expect("get").is_none());
        drop(store);
        let store = open(dir.path());
        assert_eq!(store.load_terms().expect("load"), Some(vec![1, 2, 3]));
        store.commit(&WriteSet::default()).expect("commit");
        assert_eq!(
            store.load_terms().expect("load"),
            None,
            "stale after a batch"
        );
    }
}
