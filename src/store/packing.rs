//! Dictionary compression of the values of the `records`, `entities` and `review` trees.
//!
//! A record or an entity is a few hundred bytes: zstd alone gains ~1.2x on such values, but
//! they repeat the same attribute names, sources, formats and common names, so a zstd
//! dictionary trained on the store's own values gains 2.2x (records) and 2.6x (entities) at
//! ~2 us per value to pack and ~0.8 us to unpack. sled keeps roughly twice the bytes it is
//! given on disk, so this is the largest cut of the data directory there is.
//!
//! Review items (JSON of ~260 bytes naming the same fields every time) pack ~3x.
//!
//! Each of these trees gets one dictionary, trained from the first write set that brings at
//! least [`Packing::train_min`] values of it (a bulk batch; `compact` trains from the live
//! store) and kept sealed in `meta` (`dict.records`, `dict.entities`, `dict.review`): it holds
//! fragments of the values it was trained on. Values written before it exists stay plain. A packed value is
//! [`PACKED`], the length of the plain value (varint), then the zstd frame; packing happens
//! before sealing, so an encrypted store seals the packed bytes.

use std::sync::{Arc, Mutex, OnceLock};

use super::codec::{Reader, Writer};
use super::trees;

/// First byte of a packed value (the codec's own format bytes are 1 and 2).
pub const PACKED: u8 = 3;

/// Values of a tree in one write set that make it train its dictionary (review items: a
/// quarter of it, a bulk batch queues fewer).
pub const TRAIN_MIN: usize = 2_000;

/// Values a dictionary is trained from, at most.
pub const TRAIN_SAMPLES: usize = 10_000;

/// Dictionary size: 64 KiB gained ~5% over 16 KiB and as much as 112 KiB on the synth feed.
const DICT_BYTES: usize = 64 * 1024;

/// zstd level: 3 packs ~8% smaller than 1 for about the same time on values this small.
const LEVEL: i32 = 3;

/// Largest plain value a packed one may claim (a damaged length must not allocate much).
const MAX_PLAIN: usize = 64 << 20;

/// Whether a packed value of `frame` bytes may stand for `len` plain bytes: anything else is
/// damage (a bad length must not allocate much). `pack` keeps values outside it plain.
fn plausible(len: usize, frame: usize) -> bool {
    len <= MAX_PLAIN && len <= frame.saturating_mul(255) + 4096
}

/// A dictionary packing failed in a way that means damage.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PackError(pub &'static str);

/// The trained dictionary of one tree, with reusable zstd contexts (making a context with a
/// dictionary loaded costs more than packing a value).
pub struct Dict {
    raw: Vec<u8>,
    packers: Mutex<Vec<zstd::bulk::Compressor<'static>>>,
    unpackers: Mutex<Vec<zstd::bulk::Decompressor<'static>>>,
}

impl Dict {
    fn new(raw: Vec<u8>) -> Self {
        Self {
            raw,
            packers: Mutex::new(Vec::new()),
            unpackers: Mutex::new(Vec::new()),
        }
    }

    /// The dictionary's bytes (as kept in `meta`).
    pub fn bytes(&self) -> &[u8] {
        &self.raw
    }

    /// `plain` packed, or `plain` itself when packing does not make it smaller.
    fn pack(&self, plain: Vec<u8>) -> Vec<u8> {
        let ctx = self.packers.lock().expect("packer pool").pop();
        let Some(mut ctx) =
            ctx.or_else(|| zstd::bulk::Compressor::with_dictionary(LEVEL, &self.raw).ok())
        else {
            return plain;
        };
        let packed = ctx.compress(&plain).ok();
        self.packers.lock().expect("packer pool").push(ctx);
        match packed {
            // A value that unpacking would take for damage stays plain.
            Some(frame) if frame.len() + 6 < plain.len() && plausible(plain.len(), frame.len()) => {
                let mut out = Writer {
                    buf: Vec::with_capacity(frame.len() + 6),
                };
                out.buf.push(PACKED);
                out.u64(plain.len() as u64);
                out.buf.extend_from_slice(&frame);
                out.buf
            }
            _ => plain,
        }
    }

    /// The plain value of a packed one (`body` follows the [`PACKED`] byte).
    fn unpack(&self, body: &[u8]) -> Result<Vec<u8>, PackError> {
        let mut r = Reader::bare(body);
        let len = r
            .u64()
            .map_err(|_| PackError("packed value has a damaged length"))?;
        let frame = r.rest();
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if !plausible(len, frame.len()) {
            return Err(PackError("packed value has an implausible length"));
        }
        let ctx = self.unpackers.lock().expect("unpacker pool").pop();
        let mut ctx = match ctx {
            Some(c) => c,
            None => zstd::bulk::Decompressor::with_dictionary(&self.raw)
                .map_err(|_| PackError("the tree's dictionary does not load"))?,
        };
        let out = ctx.decompress(frame, len);
        self.unpackers.lock().expect("unpacker pool").push(ctx);
        match out {
            Ok(v) if v.len() == len => Ok(v),
            Ok(_) => Err(PackError("packed value has the wrong length")),
            Err(_) => Err(PackError("packed value does not unpack")),
        }
    }
}

/// The dictionaries of a store, set once each.
#[derive(Default)]
pub struct Packing {
    records: OnceLock<Arc<Dict>>,
    entities: OnceLock<Arc<Dict>>,
    review: OnceLock<Arc<Dict>>,
    /// Trees zstd could not train a dictionary for in this process (not retried).
    untrainable: Mutex<Vec<&'static str>>,
}

impl Packing {
    fn slot(&self, tree: &str) -> Option<&OnceLock<Arc<Dict>>> {
        match tree {
            trees::RECORDS => Some(&self.records),
            trees::ENTITIES => Some(&self.entities),
            trees::REVIEW => Some(&self.review),
            _ => None,
        }
    }

    /// The packed trees.
    pub const TREES: [&'static str; 3] = [trees::RECORDS, trees::ENTITIES, trees::REVIEW];

    /// Values of `tree` in one write set that make it train its dictionary.
    pub fn train_min(tree: &str) -> usize {
        match tree {
            trees::REVIEW => TRAIN_MIN / 4,
            _ => TRAIN_MIN,
        }
    }

    /// The `meta` key a tree's dictionary is kept under (`None`: the tree is not packed).
    pub fn meta_key(tree: &str) -> Option<&'static [u8]> {
        match tree {
            trees::RECORDS => Some(trees::META_DICT_RECORDS),
            trees::ENTITIES => Some(trees::META_DICT_ENTITIES),
            trees::REVIEW => Some(trees::META_DICT_REVIEW),
            _ => None,
        }
    }

    /// The dictionary of `tree`, if it has one.
    pub fn dict(&self, tree: &str) -> Option<&Arc<Dict>> {
        self.slot(tree)?.get()
    }

    /// Whether `tree` is packed but has no dictionary yet (and one may still be trained).
    pub fn wants_dict(&self, tree: &str) -> bool {
        self.slot(tree).is_some_and(|s| s.get().is_none())
            && !self
                .untrainable
                .lock()
                .expect("untrainable lock")
                .contains(&tree)
    }

    /// Stops trying to train a dictionary for `tree` in this process.
    pub fn give_up(&self, tree: &'static str) {
        self.untrainable
            .lock()
            .expect("untrainable lock")
            .push(tree);
    }

    /// Installs `raw` as the dictionary of `tree`; `false` when it already had one (kept).
    pub fn install(&self, tree: &str, raw: Vec<u8>) -> bool {
        self.slot(tree)
            .is_some_and(|slot| slot.set(Arc::new(Dict::new(raw))).is_ok())
    }

    /// A dictionary trained from `samples` (plain values of one tree), or `None` when zstd
    /// cannot make one of them (too few or too uniform values).
    pub fn train(samples: &[Vec<u8>]) -> Option<Vec<u8>> {
        if samples.len() < TRAIN_MIN / 8 {
            return None;
        }
        let total: usize = samples.iter().map(Vec::len).sum();
        // zstd wants a sample set well larger than the dictionary.
        let size = DICT_BYTES.min(total / 8);
        zstd::dict::from_samples(samples, size)
            .ok()
            .filter(|d| !d.is_empty())
    }

    /// `plain` as written to `tree`: packed when the tree has a dictionary.
    pub fn pack(&self, tree: &str, plain: Vec<u8>) -> Vec<u8> {
        match self.dict(tree) {
            Some(d) => d.pack(plain),
            None => plain,
        }
    }

    /// A value read from `tree` in its plain form (`None`: it was not packed).
    pub fn unpack(&self, tree: &str, stored: &[u8]) -> Result<Option<Vec<u8>>, PackError> {
        match stored.split_first() {
            Some((&PACKED, body)) if self.slot(tree).is_some() => match self.dict(tree) {
                Some(d) => d.unpack(body).map(Some),
                None => Err(PackError("packed value but the tree has no dictionary")),
            },
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(i: usize) -> Vec<u8> {
        let mut v = vec![1u8];
        v.extend_from_slice(
            format!(
                "crm\x00name\x00Customer {i} Zhang\x00email\x00c{i}@example.com\x00phone\x00+8613{:09}",
                i * 7919 % 1_000_000_000
            )
            .as_bytes(),
        );
        v
    }

    #[test]
    fn packed_values_come_back_whole_and_smaller() {
        let samples: Vec<Vec<u8>> = (0..3000).map(sample).collect();
        let p = Packing::default();
        assert!(p.wants_dict(trees::RECORDS));
        assert!(p.install(
            trees::RECORDS,
            Packing::train(&samples).expect("a dictionary"),
        ));
        assert!(
            !p.install(trees::RECORDS, vec![1, 2, 3]),
            "the first one stays"
        );
        assert!(!p.wants_dict(trees::RECORDS));
        let v = sample(123_456);
        let packed = p.pack(trees::RECORDS, v.clone());
        assert_eq!(packed[0], PACKED);
        assert!(
            packed.len() < v.len() * 2 / 3,
            "{} of {}",
            packed.len(),
            v.len()
        );
        assert_eq!(p.unpack(trees::RECORDS, &packed).unwrap(), Some(v.clone()));
        // Plain values pass through; other trees are never packed.
        assert_eq!(p.unpack(trees::RECORDS, &v).unwrap(), None);
        assert_eq!(p.pack(trees::REVIEW, v.clone()), v, "no dictionary yet");
        assert_eq!(p.pack(trees::CHANGES, v.clone()), v);
        // A value packing past what unpacking accepts (long runs) stays plain and reads back.
        let mut long = sample(9);
        long.extend(std::iter::repeat_n(b' ', 2_000_000));
        let stored = p.pack(trees::RECORDS, long.clone());
        assert_eq!(stored, long);
        assert_eq!(p.unpack(trees::RECORDS, &stored).unwrap(), None);
    }

    #[test]
    fn damaged_or_orphaned_packed_values_are_errors_not_panics() {
        let samples: Vec<Vec<u8>> = (0..3000).map(sample).collect();
        let p = Packing::default();
        assert!(p.install(trees::ENTITIES, Packing::train(&samples).unwrap()));
        let packed = p.pack(trees::ENTITIES, sample(7));
        // A cut frame, a flipped byte in the frame, a length past the frame's bound (short and
        // long varints), a varint cut short.
        assert!(p
            .unpack(trees::ENTITIES, &packed[..packed.len() - 4])
            .is_err());
        let mut flipped = packed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0xff;
        assert!(p.unpack(trees::ENTITIES, &flipped).is_err());
        assert!(p
            .unpack(trees::ENTITIES, &[PACKED, 0xff, 0xff, 0xff, 0x7f, 1, 2])
            .is_err());
        let long_varint = [PACKED, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01];
        assert!(p.unpack(trees::ENTITIES, &long_varint).is_err());
        assert!(p.unpack(trees::ENTITIES, &[PACKED, 0x80]).is_err());
        // A packed value of a tree without its dictionary (a damaged meta) is an error.
        let other = Packing::default();
        let good = p.pack(trees::ENTITIES, sample(8));
        assert!(other.unpack(trees::ENTITIES, &good).is_err());
    }
}
