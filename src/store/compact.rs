//! Offline compaction (`goldrec compact`): the live contents of the store are copied into a
//! new sled database, with a new data key when the store is encrypted, and the old database is
//! deleted. sled's log keeps superseded values until it reuses their segments; after an
//! erasure this is what removes them: the old values either go with the old files or stay,
//! on the disk's free blocks, sealed under a data key that no longer exists anywhere. The
//! blocking index is deleted too (its terms are keyed by the data key) and rebuilt at the next
//! open.
//!
//! Steps, each safe to crash after: write and flush `sled.compact` (while holding the live
//! store's lock); write the marker `compact.done`; delete `index`; rename `sled` to `sled.old`;
//! rename `sled.compact` to `sled`; delete `sled.old`; delete the marker. [`recover`] (run by
//! every store open) finishes a run whose marker exists and touches nothing otherwise: a
//! `sled.compact` without the marker is a copy in progress or an abandoned one, which the next
//! `compact` replaces. Needs the server stopped and no other goldrec command on the directory.
//!
//! The new data key is wrapped by the same KEK. For erased values to be unreadable even from
//! the disk's free blocks, follow with `goldrec rotate-key` and destroy the old KEK: the old
//! data key then opens with nothing that exists.

use std::path::Path;

use super::{sled_err, trees, Store, StoreError};

const COMPACT: &str = "sled.compact";
const OLD: &str = "sled.old";
/// Written once `sled.compact` is complete and flushed.
const DONE: &str = "compact.done";

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Sizes before and after a compaction, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Compacted {
    /// The store's files before.
    pub before: u64,
    /// After.
    pub after: u64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |e| StoreError::Encryption(format!("compacting {}: {e}", path.display()))
}

/// Bytes of the files under `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Finishes a compaction interrupted by a crash after its copy was complete (the marker
/// exists); does nothing otherwise.
pub fn recover(data_dir: &Path) -> Result<(), StoreError> {
    let done = data_dir.join(DONE);
    if !done.exists() {
        return Ok(());
    }
    let (live, new, old, index) = (
        data_dir.join("sled"),
        data_dir.join(COMPACT),
        data_dir.join(OLD),
        data_dir.join("index"),
    );
    // The index is keyed by the old data key: it goes whatever step was reached.
    if index.exists() {
        std::fs::remove_dir_all(&index).map_err(io(&index))?;
    }
    if new.exists() {
        if live.exists() {
            std::fs::rename(&live, &old).map_err(io(&live))?;
        }
        std::fs::rename(&new, &live).map_err(io(&new))?;
        sync_dir(data_dir);
    }
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    std::fs::remove_file(&done).map_err(io(&done))?;
    sync_dir(data_dir);
    Ok(())
}

/// Compacts the store of `config` (no other process may hold it).
pub fn compact(config: &crate::config::Config) -> Result<Compacted, StoreError> {
    let data_dir = &config.data_dir;
    recover(data_dir)?;
    let live = data_dir.join("sled");
    let before = dir_size(&live);
    let new = data_dir.join(COMPACT);
    {
        // The live store's lock is held from here until the copy is complete.
        let store = Store::open(&live, &config.encryption, data_dir, config.ingest_cache_mb)?;
        if new.exists() {
            std::fs::remove_dir_all(&new).map_err(io(&new))?;
        }
        let target = Store::open(&new, &config.encryption, data_dir, config.ingest_cache_mb)?;
        store.copy_into(&target)?;
        let done = data_dir.join(DONE);
        std::fs::write(&done, b"sled.compact is complete\n").map_err(io(&done))?;
        std::fs::File::open(&done)
            .and_then(|f| f.sync_all())
            .map_err(io(&done))?;
        sync_dir(data_dir);
    }
    recover(data_dir)?;
    Ok(Compacted {
        before,
        after: dir_size(&live),
    })
}

impl Store {
    /// Copies every tree into `target` (a new store with its own data key), values opened
    /// with this store's key and sealed with the target's; flushes.
    pub(super) fn copy_into(&self, target: &Store) -> Result<(), StoreError> {
        self.copy_trees(&target.db, Some(target))
    }

    /// Copies every tree as stored (values stay sealed under this store's data key, which
    /// goes with them) into a new database at `dir`: a consistent copy when no batch commits
    /// meanwhile (the engine holds its writer lock). Flushes.
    pub fn copy_raw_to(&self, dir: &Path) -> Result<(), StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .open()
            .map_err(sled_err("creating the copy"))?;
        self.copy_trees(&db, None)
    }

    /// Copies every tree into `to`: re-sealed for `reseal`'s data key (compaction), or as
    /// stored (a backup).
    fn copy_trees(&self, to_db: &sled::Db, reseal: Option<&Store>) -> Result<(), StoreError> {
        if let Some(target) = reseal {
            // Fresh dictionaries from the live values only: the old ones hold fragments of
            // what they were trained on, erased values among them.
            for tree in super::packing::Packing::TREES {
                let from = self
                    .db
                    .open_tree(tree)
                    .map_err(sled_err("opening a tree"))?;
                let mut samples = Vec::new();
                for kv in from.iter().take(super::packing::TRAIN_SAMPLES) {
                    let (k, v) = kv.map_err(sled_err("reading the store"))?;
                    samples.push(self.unseal(tree, &k, &v)?.into_owned());
                }
                if samples.len() >= super::packing::Packing::train_min(tree) {
                    target.install_dict(tree, super::packing::Packing::train(&samples))?;
                }
            }
        }
        for name in self.db.tree_names() {
            let name_str = String::from_utf8_lossy(&name).to_string();
            if name_str.starts_with("__sled__") {
                continue;
            }
            let sealed_tree = trees::SEALED.iter().find(|t| **t == name_str).copied();
            let from = self
                .db
                .open_tree(&name)
                .map_err(sled_err("opening a tree"))?;
            let to = to_db.open_tree(&name).map_err(sled_err("opening a tree"))?;
            let mut batch = sled::Batch::default();
            let mut n = 0;
            for kv in from.iter() {
                let (k, v) = kv.map_err(sled_err("copying the store"))?;
                let value = match reseal {
                    None => v.to_vec(),
                    Some(target) => {
                        if let Some(tree) = sealed_tree {
                            target.seal(tree, &k, self.unseal(tree, &k, &v)?.into_owned())
                        } else if name_str == trees::META {
                            if k.as_ref() == trees::META_DATA_KEY
                                || k.as_ref() == trees::META_FORMAT
                                || super::packing::Packing::TREES.iter().any(|t| {
                                    super::packing::Packing::meta_key(t) == Some(k.as_ref())
                                })
                            {
                                continue;
                            }
                            if trees::SEALED_META.contains(&k.as_ref()) {
                                target.seal(
                                    trees::META,
                                    &k,
                                    self.unseal(trees::META, &k, &v)?.into_owned(),
                                )
                            } else {
                                v.to_vec()
                            }
                        } else {
                            v.to_vec()
                        }
                    }
                };
                batch.insert(k, value);
                n += 1;
                if n % 10_000 == 0 {
                    to.apply_batch(std::mem::take(&mut batch))
                        .map_err(sled_err("copying the store"))?;
                }
            }
            to.apply_batch(batch)
                .map_err(sled_err("copying the store"))?;
        }
        to_db.flush().map_err(sled_err("flushing the copy"))?;
        Ok(())
    }
}
