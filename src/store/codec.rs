//! The compact binary value codec of the sled trees.
//!
//! JSON values cost ~3x the write time and ~6x the disk of a compact encoding at a million
//! records (see `../shared/STACK.md`), so the hot trees (records, entities, change pages) hold
//! this hand-written format: unsigned LEB128 varints, zigzag for signed numbers,
//! length-prefixed UTF-8 strings, one leading format byte per value. Lineage names its record by
//! the member's position in the entity instead of repeating ids, sources and keys.
//!
//! Decoding never panics: truncated or malformed bytes give [`CodecError`].

use std::collections::BTreeMap;

use crate::config::Rule;
use crate::consent::{ConsentState, GoldenConsent};
use crate::ingest::profile::{NameNorm, Norm, Profile};
use crate::ingest::RecordId;

use super::{
    ChangeEvent, ChangeKind, Entity, EntityState, GoldenValue, Lineage, Override, SourceKey,
    StoredRecord,
};

/// Format byte of a value written in the plain layout.
const FORMAT: u8 = 1;

/// Format byte of a compressed value: the length of the plain layout (varint, without its
/// format byte), then that layout compressed with zstd ([`Writer::finish_compressed`]).
const FORMAT_ZSTD: u8 = 2;

/// Values shorter than this are stored plain: zstd's frame overhead eats the gain.
const COMPRESS_FROM: usize = 96;

/// Largest plain layout a compressed value may claim (a change page is well under).
const MAX_PLAIN_VALUE: usize = 256 << 20;

/// zstd level of a full change page, written once: 3 packs it ~5% smaller than 1 for ~1 s
/// more per million records written.
const FULL_PAGE_LEVEL: i32 = 3;
/// zstd level of a partial page (the last of a batch; the one page of a small group commit):
/// level 3 cost ~0.5 ms more per group commit of single upserts than 1.
const PARTIAL_PAGE_LEVEL: i32 = 1;

/// The body of a stored value (after its format byte) in the plain layout: compressed values
/// are decompressed, plain ones borrowed. Each thread keeps one zstd context: making one per
/// value cost more than the decompression.
fn plain(b: &[u8]) -> R<std::borrow::Cow<'_, [u8]>> {
    thread_local! {
        static DCTX: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    match b.split_first() {
        Some((&FORMAT, rest)) => Ok(std::borrow::Cow::Borrowed(rest)),
        Some((&FORMAT_ZSTD, rest)) => {
            let mut r = Reader { b: rest };
            let len = r.u64()? as usize;
            // A damaged length must not ask for a huge buffer.
            if len > MAX_PLAIN_VALUE || len > r.b.len().saturating_mul(255) + 4096 {
                return Err(CodecError("compressed value has an implausible length"));
            }
            let body = DCTX.with(|d| {
                let mut d = d.borrow_mut();
                if d.is_none() {
                    *d = zstd::bulk::Decompressor::new().ok();
                }
                d.as_mut()?.decompress(r.b, len).ok()
            });
            match body {
                Some(body) if body.len() == len => Ok(std::borrow::Cow::Owned(body)),
                Some(_) => Err(CodecError("compressed value has the wrong length")),
                None => Err(CodecError("compressed value does not decompress")),
            }
        }
        Some(_) => Err(CodecError(
            "unknown value format (written by another version)",
        )),
        None => Err(CodecError("empty value")),
    }
}

/// A stored value that does not decode.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(pub &'static str);

/// Appends values to a byte buffer.
#[derive(Default)]
pub struct Writer {
    /// The bytes written so far.
    pub buf: Vec<u8>,
}

impl Writer {
    /// A writer with the format byte written.
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(256);
        buf.push(FORMAT);
        Self { buf }
    }

    /// The value, compressed when that makes it shorter: change pages (~3x: 512 events of the
    /// same structure, field names and member ids). Records and entities are packed by the
    /// store with a dictionary instead (`store::packing`): alone each gains only ~1.2x.
    pub fn finish_compressed(self, level: i32) -> Vec<u8> {
        if self.buf.len() < COMPRESS_FROM {
            return self.buf;
        }
        thread_local! {
            static CCTX: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
                const { std::cell::RefCell::new(None) };
        }
        let body = &self.buf[1..];
        let packed = CCTX.with(|c| {
            let mut c = c.borrow_mut();
            if c.is_none() {
                *c = zstd::bulk::Compressor::new(level).ok();
            }
            let c = c.as_mut()?;
            c.set_compression_level(level).ok()?;
            c.compress(body).ok()
        });
        let Some(packed) = packed else {
            return self.buf;
        };
        let mut out = Writer {
            buf: Vec::with_capacity(packed.len() + 6),
        };
        out.buf.push(FORMAT_ZSTD);
        out.u64(body.len() as u64);
        if out.buf.len() + packed.len() >= self.buf.len() {
            return self.buf;
        }
        out.buf.extend_from_slice(&packed);
        out.buf
    }

    /// Unsigned varint.
    pub fn u64(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    /// Signed varint (zigzag).
    pub fn i64(&mut self, v: i64) {
        self.u64(((v << 1) ^ (v >> 63)) as u64);
    }

    /// Length-prefixed string.
    pub fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// Raw bytes of fixed length.
    pub fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    fn strs(&mut self, v: &[String]) {
        self.u64(v.len() as u64);
        for s in v {
            self.str(s);
        }
    }

    fn opt_i64(&mut self, v: Option<i64>) {
        match v {
            Some(x) => {
                self.buf.push(1);
                self.i64(x);
            }
            None => self.buf.push(0),
        }
    }

    fn map(&mut self, m: &BTreeMap<String, String>) {
        self.u64(m.len() as u64);
        for (k, v) in m {
            self.str(k);
            self.str(v);
        }
    }
}

/// Reads values back.
pub struct Reader<'a> {
    b: &'a [u8],
}

type R<T> = Result<T, CodecError>;

impl<'a> Reader<'a> {
    /// A reader over a value; checks the format byte.
    pub fn new(b: &'a [u8]) -> R<Self> {
        match b.first() {
            Some(&FORMAT) => Ok(Self { b: &b[1..] }),
            Some(_) => Err(CodecError(
                "unknown value format (written by another version)",
            )),
            None => Err(CodecError("empty value")),
        }
    }

    /// A reader over bytes with no format byte (a framing built on the codec's varints).
    pub fn bare(b: &'a [u8]) -> Self {
        Self { b }
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.b
    }

    /// Unsigned varint.
    pub fn u64(&mut self) -> R<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.b.split_first().ok_or(CodecError("truncated varint"))?;
            self.b = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(v);
            }
        }
        Err(CodecError("varint too long"))
    }

    /// Signed varint (zigzag).
    pub fn i64(&mut self) -> R<i64> {
        let v = self.u64()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    fn len(&mut self) -> R<usize> {
        let n = self.u64()? as usize;
        if n > self.b.len() {
            return Err(CodecError("length beyond the value"));
        }
        Ok(n)
    }

    /// Raw bytes of fixed length.
    pub fn raw(&mut self, n: usize) -> R<&'a [u8]> {
        if n > self.b.len() {
            return Err(CodecError("truncated value"));
        }
        let (x, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(x)
    }

    /// Length-prefixed string.
    pub fn str(&mut self) -> R<String> {
        let n = self.len()?;
        let s = std::str::from_utf8(self.raw(n)?).map_err(|_| CodecError("invalid UTF-8"))?;
        Ok(s.to_string())
    }

    fn byte(&mut self) -> R<u8> {
        Ok(self.raw(1)?[0])
    }

    fn record_id(&mut self) -> R<RecordId> {
        Ok(RecordId(self.raw(16)?.try_into().expect("16 bytes")))
    }

    fn strs(&mut self) -> R<Vec<String>> {
        let n = self.len()?;
        (0..n).map(|_| self.str()).collect()
    }

    fn opt_i64(&mut self) -> R<Option<i64>> {
        Ok(match self.byte()? {
            0 => None,
            _ => Some(self.i64()?),
        })
    }

    fn map(&mut self) -> R<BTreeMap<String, String>> {
        let n = self.len()?;
        let mut m = BTreeMap::new();
        for _ in 0..n {
            let k = self.str()?;
            m.insert(k, self.str()?);
        }
        Ok(m)
    }

    /// Whether every byte was read.
    pub fn done(&self) -> bool {
        self.b.is_empty()
    }
}

fn write_profile(w: &mut Writer, p: &Profile) {
    w.u64(p.attrs.len() as u64);
    for a in &p.attrs {
        match a {
            None => w.buf.push(0),
            Some(Norm::Str(s)) => {
                w.buf.push(1);
                w.str(s);
            }
            Some(Norm::Tokens(t)) => {
                w.buf.push(2);
                w.strs(t);
            }
            Some(Norm::Name(n)) => {
                w.buf.push(3);
                w.strs(&n.given);
                w.strs(&n.family);
                match &n.han {
                    Some(h) => {
                        w.buf.push(1);
                        w.str(h);
                    }
                    None => w.buf.push(0),
                }
                w.strs(&n.alt);
            }
        }
    }
}

fn read_profile(r: &mut Reader) -> R<Profile> {
    let n = r.len()?;
    let mut attrs = Vec::with_capacity(n);
    for _ in 0..n {
        attrs.push(match r.byte()? {
            0 => None,
            1 => Some(Norm::Str(r.str()?)),
            2 => Some(Norm::Tokens(r.strs()?)),
            3 => {
                let given = r.strs()?;
                let family = r.strs()?;
                let han = match r.byte()? {
                    0 => None,
                    _ => Some(r.str()?),
                };
                Some(Norm::Name(NameNorm {
                    given,
                    family,
                    han,
                    alt: r.strs()?,
                }))
            }
            _ => return Err(CodecError("unknown normalized value tag")),
        });
    }
    Ok(Profile { attrs })
}

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Encodes a stored record.
pub fn encode_record(r: &StoredRecord) -> Vec<u8> {
    let mut w = Writer::new();
    w.str(&r.source);
    w.str(&r.key);
    w.map(&r.values);
    w.opt_i64(r.updated_at);
    // The content hash is hex in memory, raw bytes on disk.
    match hex_bytes(&r.hash) {
        Some(b) => {
            w.buf.push(1);
            w.u64(b.len() as u64);
            w.raw(&b);
        }
        None => {
            w.buf.push(0);
            w.str(&r.hash);
        }
    }
    w.u64(r.entity);
    w.u64(r.seq);
    w.i64(r.ingested_at);
    w.i64(r.changed_at);
    write_profile(&mut w, &r.profile);
    // Not compressed here: the store packs it with its tree's dictionary (`packing`).
    w.buf
}

/// Decodes a stored record for scoring only: the supplied values and the content hash are
/// skipped (left empty), which saves most of the decoding and freeing of candidates. Never
/// write such a record back.
pub fn decode_record_for_matching(b: &[u8]) -> R<StoredRecord> {
    read_record(b, false, true)
}

/// Decodes a stored record for showing it: the normalized profile (last in the value) is left
/// empty, which spares most of the allocation of an answer's member records. Never write such
/// a record back.
pub fn decode_record_for_view(b: &[u8]) -> R<StoredRecord> {
    read_record(b, true, false)
}

/// Decodes a stored record.
pub fn decode_record(b: &[u8]) -> R<StoredRecord> {
    read_record(b, true, true)
}

fn read_record(b: &[u8], whole: bool, with_profile: bool) -> R<StoredRecord> {
    let b = plain(b)?;
    let mut r = Reader { b: &b };
    let source = r.str()?;
    let key = r.str()?;
    let values = if whole {
        r.map()?
    } else {
        let n = r.len()?;
        for _ in 0..2 * n {
            let len = r.len()?;
            r.raw(len)?;
        }
        BTreeMap::new()
    };
    let updated_at = r.opt_i64()?;
    let hash = match (r.byte()?, whole) {
        (1, true) => {
            let n = r.len()?;
            to_hex(r.raw(n)?)
        }
        (_, true) => r.str()?,
        (_, false) => {
            let n = r.len()?;
            r.raw(n)?;
            String::new()
        }
    };
    Ok(StoredRecord {
        source,
        key,
        values,
        updated_at,
        hash,
        entity: r.u64()?,
        seq: r.u64()?,
        ingested_at: r.i64()?,
        changed_at: r.i64()?,
        profile: if with_profile {
            read_profile(&mut r)?
        } else {
            Profile::default()
        },
    })
}

fn rule_tag(rule: Rule) -> u8 {
    match rule {
        Rule::SourcePriority => 0,
        Rule::MostRecent => 1,
        Rule::MostFrequent => 2,
        Rule::Longest => 3,
        Rule::FirstNonEmpty => 4,
    }
}

fn rule_of(tag: u8) -> R<Rule> {
    Ok(match tag {
        0 => Rule::SourcePriority,
        1 => Rule::MostRecent,
        2 => Rule::MostFrequent,
        3 => Rule::Longest,
        4 => Rule::FirstNonEmpty,
        _ => return Err(CodecError("unknown survivorship rule")),
    })
}

fn write_state(w: &mut Writer, s: &EntityState) {
    match s {
        EntityState::Active => w.buf.push(0),
        EntityState::Merged { into } => {
            w.buf.push(1);
            w.u64(*into);
        }
        EntityState::Deleted => w.buf.push(2),
    }
}

fn read_state(r: &mut Reader) -> R<EntityState> {
    Ok(match r.byte()? {
        0 => EntityState::Active,
        1 => EntityState::Merged { into: r.u64()? },
        2 => EntityState::Deleted,
        _ => return Err(CodecError("unknown entity state")),
    })
}

fn write_override(w: &mut Writer, o: &Override) {
    w.str(&o.value);
    w.str(&o.actor);
    w.str(&o.reason);
    w.i64(o.at);
}

fn read_override(r: &mut Reader) -> R<Override> {
    Ok(Override {
        value: r.str()?,
        actor: r.str()?,
        reason: r.str()?,
        at: r.i64()?,
    })
}

fn write_overrides(w: &mut Writer, m: &BTreeMap<String, Override>) {
    w.u64(m.len() as u64);
    for (k, o) in m {
        w.str(k);
        write_override(w, o);
    }
}

fn read_overrides(r: &mut Reader) -> R<BTreeMap<String, Override>> {
    let n = r.len()?;
    let mut m = BTreeMap::new();
    for _ in 0..n {
        let k = r.str()?;
        m.insert(k, read_override(r)?);
    }
    Ok(m)
}

fn write_ids(w: &mut Writer, ids: &[RecordId]) {
    w.u64(ids.len() as u64);
    for id in ids {
        w.raw(&id.0);
    }
}

fn read_ids(r: &mut Reader) -> R<Vec<RecordId>> {
    let n = r.len()?;
    (0..n).map(|_| r.record_id()).collect()
}

/// Encodes an entity. Lineage refers to members by position; a lineage record that is not a
/// member (not produced by survivorship, but kept safe) is written in full.
pub fn encode_entity(e: &Entity) -> Vec<u8> {
    encode_entity_noting(e, None)
}

/// Encodes an entity as if `noted` (a version and its change page) ended its history: a
/// commit notes each new version so, without copying the entity.
pub fn encode_entity_noting(e: &Entity, noted: Option<(u64, u64)>) -> Vec<u8> {
    let mut w = Writer::new();
    w.u64(e.id);
    w.u64(e.version);
    write_state(&mut w, &e.state);
    write_ids(&mut w, &e.members);
    w.u64(e.golden.len() as u64);
    for (attr, g) in &e.golden {
        w.str(attr);
        w.str(&g.value);
        match &g.lineage {
            None => w.buf.push(0),
            Some(l) => {
                match e.members.binary_search(&l.record) {
                    Ok(i) => {
                        w.buf.push(1);
                        w.u64(i as u64);
                    }
                    Err(_) => {
                        w.buf.push(2);
                        w.raw(&l.record.0);
                    }
                }
                w.str(&l.source);
                w.str(&l.key);
                w.buf.push(rule_tag(l.rule));
                w.i64(l.observed_at);
                w.u64(l.support as u64);
            }
        }
        match &g.steward {
            None => w.buf.push(0),
            Some(o) => {
                w.buf.push(1);
                write_override(&mut w, o);
            }
        }
    }
    write_overrides(&mut w, &e.overrides);
    w.i64(e.created_at);
    w.i64(e.updated_at);
    w.u64((e.history.len() + usize::from(noted.is_some())) as u64);
    for (version, page) in e.history.iter().chain(&noted) {
        w.u64(*version);
        w.u64(*page);
    }
    // Consent, appended after the first layout: a value without it decodes as no consent.
    if !e.consent.is_empty() {
        w.u64(e.consent.len() as u64);
        for (purpose, c) in &e.consent {
            w.str(purpose);
            w.buf.push(c.state.tag());
            match (&c.record, &c.source, &c.key) {
                (Some(id), Some(source), Some(key)) => {
                    w.buf.push(1);
                    w.raw(&id.0);
                    w.str(source);
                    w.str(key);
                    w.opt_i64(c.at);
                }
                _ => w.buf.push(0),
            }
        }
    }
    // Not compressed: entities gain ~1.5x at ~5 us each, read on every match.
    w.buf
}

fn consent_state(r: &mut Reader) -> R<ConsentState> {
    ConsentState::of_tag(r.byte()?).ok_or(CodecError("unknown consent state"))
}

fn write_states(w: &mut Writer, m: &BTreeMap<String, ConsentState>) {
    w.u64(m.len() as u64);
    for (k, v) in m {
        w.str(k);
        w.buf.push(v.tag());
    }
}

fn read_states(r: &mut Reader) -> R<BTreeMap<String, ConsentState>> {
    let n = r.len()?;
    let mut m = BTreeMap::new();
    for _ in 0..n {
        let k = r.str()?;
        m.insert(k, consent_state(r)?);
    }
    Ok(m)
}

/// Decodes an entity.
pub fn decode_entity(b: &[u8]) -> R<Entity> {
    let b = plain(b)?;
    let mut r = Reader { b: &b };
    let id = r.u64()?;
    let version = r.u64()?;
    let state = read_state(&mut r)?;
    let members = read_ids(&mut r)?;
    let n = r.len()?;
    let mut golden = BTreeMap::new();
    for _ in 0..n {
        let attr = r.str()?;
        let value = r.str()?;
        let lineage = match r.byte()? {
            0 => None,
            tag => {
                let record = if tag == 1 {
                    let i = r.u64()? as usize;
                    *members
                        .get(i)
                        .ok_or(CodecError("lineage names a missing member"))?
                } else {
                    r.record_id()?
                };
                Some(Lineage {
                    record,
                    source: r.str()?,
                    key: r.str()?,
                    rule: rule_of(r.byte()?)?,
                    observed_at: r.i64()?,
                    support: r.u64()? as usize,
                })
            }
        };
        let steward = match r.byte()? {
            0 => None,
            _ => Some(read_override(&mut r)?),
        };
        golden.insert(
            attr,
            GoldenValue {
                value,
                lineage,
                steward,
            },
        );
    }
    let overrides = read_overrides(&mut r)?;
    let created_at = r.i64()?;
    let updated_at = r.i64()?;
    let n = r.len()?;
    let mut history = Vec::with_capacity(n);
    for _ in 0..n {
        history.push((r.u64()?, r.u64()?));
    }
    let mut consent = BTreeMap::new();
    if !r.done() {
        let n = r.len()?;
        for _ in 0..n {
            let purpose = r.str()?;
            let state = consent_state(&mut r)?;
            let c = match r.byte()? {
                0 => GoldenConsent {
                    state,
                    ..GoldenConsent::unknown()
                },
                _ => GoldenConsent {
                    state,
                    record: Some(r.record_id()?),
                    source: Some(r.str()?),
                    key: Some(r.str()?),
                    at: r.opt_i64()?,
                },
            };
            consent.insert(purpose, c);
        }
    }
    Ok(Entity {
        consent,
        id,
        version,
        state,
        members,
        golden,
        overrides,
        created_at,
        updated_at,
        history,
    })
}

fn kind_tag(k: ChangeKind) -> u8 {
    match k {
        ChangeKind::Created => 0,
        ChangeKind::Updated => 1,
        ChangeKind::RecordJoined => 2,
        ChangeKind::RecordLeft => 3,
        ChangeKind::Merged => 4,
        ChangeKind::Split => 5,
        ChangeKind::Deleted => 6,
        ChangeKind::Erased => 7,
        ChangeKind::Classified => 8,
    }
}

/// Set in a stored kind tag when the event was redacted by an erasure.
const REDACTED: u8 = 0x80;

fn kind_of(tag: u8) -> R<ChangeKind> {
    Ok(match tag {
        0 => ChangeKind::Created,
        1 => ChangeKind::Updated,
        2 => ChangeKind::RecordJoined,
        3 => ChangeKind::RecordLeft,
        4 => ChangeKind::Merged,
        5 => ChangeKind::Split,
        6 => ChangeKind::Deleted,
        7 => ChangeKind::Erased,
        8 => ChangeKind::Classified,
        _ => return Err(CodecError("unknown change kind")),
    })
}

fn write_keys(w: &mut Writer, v: &[SourceKey]) {
    w.u64(v.len() as u64);
    for k in v {
        w.str(&k.source);
        w.str(&k.key);
    }
}

fn read_keys(r: &mut Reader) -> R<Vec<SourceKey>> {
    let n = r.len()?;
    (0..n)
        .map(|_| {
            Ok(SourceKey {
                source: r.str()?,
                key: r.str()?,
            })
        })
        .collect()
}

/// One entry of a change page: the feed's event, plus what the entity's history needs.
#[derive(Debug, Clone)]
pub struct PageEntry {
    /// The change event (its `seq` is the page's first sequence plus the entry's position).
    pub event: ChangeEvent,
    /// Lifecycle state after the change.
    pub state: EntityState,
    /// Member record ids after the change.
    pub member_ids: Vec<RecordId>,
    /// Steward overrides in force.
    pub overrides: BTreeMap<String, Override>,
}

/// A page of consecutive change events, written in one batch's transaction.
#[derive(Debug, Clone)]
pub struct Page {
    /// Who caused the batch (`system` for matching).
    pub actor: String,
    /// Why, when given.
    pub reason: String,
    /// Entries in sequence order.
    pub entries: Vec<PageEntry>,
}

/// Encodes a change page (sequence numbers are implied by the page key).
pub fn encode_page(p: &Page) -> Vec<u8> {
    let mut w = Writer::new();
    w.str(&p.actor);
    w.str(&p.reason);
    w.u64(p.entries.len() as u64);
    for x in &p.entries {
        let e = &x.event;
        w.u64(e.entity_id);
        w.buf
            .push(kind_tag(e.kind) | if e.redacted { REDACTED } else { 0 });
        w.u64(e.version);
        w.i64(e.at);
        w.map(&e.golden);
        write_keys(&mut w, &e.members);
        w.strs(&e.changed);
        write_keys(&mut w, &e.joined);
        write_keys(&mut w, &e.left);
        match e.merged_into {
            Some(i) => {
                w.buf.push(1);
                w.u64(i);
            }
            None => w.buf.push(0),
        }
        write_state(&mut w, &x.state);
        write_ids(&mut w, &x.member_ids);
        write_overrides(&mut w, &x.overrides);
    }
    // Consent states per entry, appended after the first layout (absent: none); written
    // (empty) too when the classification section follows.
    let classified = p
        .entries
        .iter()
        .any(|x| !x.event.classification.is_empty() || x.event.classification_was.is_some());
    if classified
        || p.entries
            .iter()
            .any(|x| !x.event.consent.is_empty() || !x.event.consent_was.is_empty())
    {
        for x in &p.entries {
            write_states(&mut w, &x.event.consent);
            write_states(&mut w, &x.event.consent_was);
        }
    }
    // Classification results per entry, appended after the consent section (absent: none).
    if classified {
        for x in &p.entries {
            w.map(&x.event.classification);
            match &x.event.classification_was {
                Some(m) => {
                    w.buf.push(1);
                    w.map(m);
                }
                None => w.buf.push(0),
            }
        }
    }
    w.finish_compressed(if p.entries.len() >= super::PAGE_EVENTS {
        FULL_PAGE_LEVEL
    } else {
        PARTIAL_PAGE_LEVEL
    })
}

/// Decodes a change page whose first event has sequence `first`.
pub fn decode_page(first: u64, b: &[u8]) -> R<Page> {
    let b = plain(b)?;
    let mut r = Reader { b: &b };
    let actor = r.str()?;
    let reason = r.str()?;
    let n = r.len()?;
    let mut entries = Vec::with_capacity(n);
    for i in 0..n {
        let entity_id = r.u64()?;
        let tag = r.byte()?;
        let kind = kind_of(tag & !REDACTED)?;
        let redacted = tag & REDACTED != 0;
        let version = r.u64()?;
        let at = r.i64()?;
        let golden = r.map()?;
        let members = read_keys(&mut r)?;
        let changed = r.strs()?;
        let joined = read_keys(&mut r)?;
        let left = read_keys(&mut r)?;
        let merged_into = match r.byte()? {
            0 => None,
            _ => Some(r.u64()?),
        };
        entries.push(PageEntry {
            event: ChangeEvent {
                seq: first + i as u64,
                entity_id,
                kind,
                version,
                at,
                golden,
                members,
                changed,
                joined,
                left,
                merged_into,
                redacted,
                consent: BTreeMap::new(),
                consent_was: BTreeMap::new(),
                classification: BTreeMap::new(),
                classification_was: None,
            },
            state: read_state(&mut r)?,
            member_ids: read_ids(&mut r)?,
            overrides: read_overrides(&mut r)?,
        });
    }
    if !r.done() {
        for x in &mut entries {
            x.event.consent = read_states(&mut r)?;
            x.event.consent_was = read_states(&mut r)?;
        }
    }
    if !r.done() {
        for x in &mut entries {
            x.event.classification = r.map()?;
            x.event.classification_was = match r.byte()? {
                0 => None,
                _ => Some(r.map()?),
            };
        }
    }
    Ok(Page {
        actor,
        reason,
        entries,
    })
}

/// Marks the hashed-key layout of [`encode_terms`] with postcodes counted by their area
/// ([`crate::normalize::postcode_area`]). `u64::MAX` marked the layout before (a US ZIP+4
/// counted in full), a layout with value texts started with the record count: both are
/// refused, so the counts are taken again from the records.
const TERMS_HASHED: u64 = u64::MAX - 1;

/// Encodes the term-frequency counts: record count, then per column its (value hash, count)
/// pairs.
pub fn encode_terms(records: u64, counts: &[rustc_hash::FxHashMap<u64, u32>]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u64(TERMS_HASHED);
    w.u64(records);
    w.u64(counts.len() as u64);
    for table in counts {
        w.u64(table.len() as u64);
        for (v, c) in table {
            w.buf.extend_from_slice(&v.to_le_bytes());
            w.u64(u64::from(*c));
        }
    }
    w.buf
}

/// Decodes what [`encode_terms`] wrote; an error for any other layout.
pub fn decode_terms(b: &[u8]) -> R<(u64, Vec<rustc_hash::FxHashMap<u64, u32>>)> {
    let mut r = Reader::new(b)?;
    if r.u64()? != TERMS_HASHED {
        return Err(CodecError("term frequencies in an older layout"));
    }
    let records = r.u64()?;
    let n = r.len()?;
    let mut counts = Vec::with_capacity(n);
    for _ in 0..n {
        let m = r.len()?;
        let mut table = rustc_hash::FxHashMap::default();
        table.reserve(m);
        for _ in 0..m {
            let v = u64::from_le_bytes(r.raw(8)?.try_into().expect("8 bytes"));
            table.insert(v, r.u64()? as u32);
        }
        counts.push(table);
    }
    Ok((records, counts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> StoredRecord {
        StoredRecord {
            source: "crm".into(),
            key: "k1".into(),
            values: [("name".to_string(), "Ann Lee".to_string())].into(),
            updated_at: Some(-5),
            hash: "00ff10".into(),
            entity: 42,
            seq: 7,
            ingested_at: 1_700_000_000_000,
            changed_at: 1_700_000_000_001,
            profile: Profile {
                attrs: vec![
                    Some(Norm::Name(NameNorm {
                        given: vec!["ann".into()],
                        family: vec!["lee".into()],
                        han: Some("李安".into()),
                        alt: vec!["li".into()],
                    })),
                    None,
                    Some(Norm::Str("+15551234567".into())),
                    Some(Norm::Tokens(vec!["12".into(), "main".into()])),
                ],
            },
        }
    }

    #[test]
    fn records_round_trip() {
        let r = record();
        let back = decode_record(&encode_record(&r)).unwrap();
        assert_eq!(back.profile, r.profile);
        let shown = decode_record_for_view(&encode_record(&r)).unwrap();
        assert_eq!((&shown.values, &shown.hash), (&r.values, &r.hash));
        assert_eq!(shown.profile, Profile::default());
        assert_eq!(back.hash, r.hash);
        assert_eq!(back.values, r.values);
        assert_eq!((back.updated_at, back.entity, back.seq), (Some(-5), 42, 7));
    }

    #[test]
    fn entities_round_trip_with_lineage_by_position() {
        let a = RecordId::of("crm", "a");
        let b = RecordId::of("crm", "b");
        let mut members = vec![a, b];
        members.sort();
        let lineage = |record| Lineage {
            record,
            source: "crm".into(),
            key: "x".into(),
            rule: Rule::MostRecent,
            observed_at: 9,
            support: 2,
        };
        let o = Override {
            value: "v".into(),
            actor: "ann".into(),
            reason: "r".into(),
            at: 3,
        };
        let e = Entity {
            id: 5,
            version: 2,
            state: EntityState::Merged { into: 1 },
            members,
            golden: [
                (
                    "name".to_string(),
                    GoldenValue {
                        value: "Ann".into(),
                        lineage: Some(lineage(b)),
                        steward: Some(o.clone()),
                    },
                ),
                (
                    "phone".to_string(),
                    GoldenValue {
                        value: "1".into(),
                        lineage: Some(lineage(RecordId::of("x", "gone"))),
                        steward: None,
                    },
                ),
            ]
            .into(),
            overrides: [("name".to_string(), o)].into(),
            consent: BTreeMap::new(),
            created_at: 1,
            updated_at: 2,
            history: vec![(1, 10), (2, 30)],
        };
        // Without consent the value has the first layout, which decodes with none.
        let first_layout = encode_entity(&e);
        let mut e = e;
        e.consent = [
            (
                "marketing".to_string(),
                GoldenConsent {
                    state: ConsentState::Denied,
                    record: Some(b),
                    source: Some("crm".into()),
                    key: Some("b".into()),
                    at: Some(77),
                },
            ),
            ("profiling".to_string(), GoldenConsent::unknown()),
        ]
        .into();
        let bytes = encode_entity(&e);
        assert!(bytes.starts_with(&first_layout));
        let back = decode_entity(&bytes).unwrap();
        assert_eq!(back.golden, e.golden);
        assert_eq!(back.state, e.state);
        assert_eq!(back.history, e.history);
        assert_eq!(back.overrides, e.overrides);
        assert_eq!(back.consent, e.consent);
        assert!(decode_entity(&first_layout).unwrap().consent.is_empty());
        for cut in first_layout.len() + 1..bytes.len() {
            assert!(decode_entity(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        // A noted version ends the history as if it had been pushed onto it.
        let noted = encode_entity_noting(&e, Some((3, 50)));
        e.history.push((3, 50));
        assert_eq!(noted, encode_entity(&e));
        assert_eq!(
            decode_entity(&noted).unwrap().history,
            [(1, 10), (2, 30), (3, 50)]
        );
    }

    #[test]
    fn pages_keep_consent_states_and_old_pages_decode_without() {
        let event = |entity_id, consent: BTreeMap<String, ConsentState>, was| PageEntry {
            event: ChangeEvent {
                seq: 0,
                entity_id,
                kind: ChangeKind::Updated,
                version: 2,
                at: 5,
                golden: BTreeMap::new(),
                members: Vec::new(),
                changed: Vec::new(),
                joined: Vec::new(),
                left: Vec::new(),
                merged_into: None,
                redacted: false,
                consent,
                consent_was: was,
                classification: BTreeMap::new(),
                classification_was: None,
            },
            state: EntityState::Active,
            member_ids: Vec::new(),
            overrides: BTreeMap::new(),
        };
        let mut page = Page {
            actor: "system".into(),
            reason: String::new(),
            entries: vec![
                event(1, BTreeMap::new(), BTreeMap::new()),
                event(2, BTreeMap::new(), BTreeMap::new()),
            ],
        };
        let first_layout = encode_page(&page);
        page.entries[1].event.consent = [("marketing".to_string(), ConsentState::Denied)].into();
        page.entries[1].event.consent_was =
            [("marketing".to_string(), ConsentState::Granted)].into();
        let bytes = encode_page(&page);
        assert!(bytes.starts_with(&first_layout));
        let back = decode_page(10, &bytes).unwrap();
        assert_eq!(back.entries[1].event.seq, 11);
        assert!(back.entries[0].event.consent.is_empty());
        assert_eq!(back.entries[1].event.consent, page.entries[1].event.consent);
        assert_eq!(
            back.entries[1].event.consent_was,
            page.entries[1].event.consent_was
        );
        assert!(back.entries[1].event.concerns("marketing"));
        assert!(!back.entries[0].event.concerns("marketing"));
        let old = decode_page(10, &first_layout).unwrap();
        assert!(old.entries.iter().all(|x| x.event.consent.is_empty()));
    }

    #[test]
    fn long_values_are_stored_compressed_and_plain_ones_still_read() {
        let mut r = record();
        for i in 0..20 {
            r.values
                .insert(format!("field_{i}"), format!("a longer value number {i}"));
        }
        let mut w = Writer::new();
        let full = encode_record(&r);
        w.buf.extend_from_slice(&full[1..]);
        let packed = w.finish_compressed(FULL_PAGE_LEVEL);
        assert_eq!(packed[0], FORMAT_ZSTD);
        let back = decode_record(&packed).unwrap();
        assert_eq!(
            (back.values, back.profile),
            (r.values.clone(), r.profile.clone())
        );
        // The plain layout (what earlier versions wrote) decodes the same.
        let mut plain_bytes = vec![FORMAT];
        plain_bytes.extend_from_slice(&plain(&packed).unwrap());
        assert!(plain_bytes.len() > packed.len());
        assert_eq!(decode_record(&plain_bytes).unwrap().values, r.values);
        // A short value stays plain.
        let mut w = Writer::new();
        w.str("short");
        assert_eq!(w.finish_compressed(FULL_PAGE_LEVEL)[0], FORMAT);
        // A damaged compressed value is an error.
        let mut bad = packed.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        bad.truncate(last - 3);
        assert!(decode_record(&bad).is_err());
    }

    #[test]
    fn damaged_values_are_errors_not_panics() {
        let bytes = encode_record(&record());
        for cut in 0..bytes.len() {
            assert!(decode_record(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode_record(&[9, 1, 2]).is_err(), "unknown format");
        let mut junk = bytes.clone();
        junk[3] = 0xff;
        let _ = decode_record(&junk);
    }
}
