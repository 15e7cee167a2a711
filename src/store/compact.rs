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
//!
//! [`repack`] is the same copy without a new key: the values are copied as stored, so the
//! blocking index stays valid and is kept. sled keeps superseded pages until a segment is at
//! most half live, so a store built by a bulk load holds about 1.8x its live bytes; a copy
//! into a fresh database holds them once (1M synth records: sled 1,367 -> 760 MB, ~15 s).
//! `goldrec ingest` repacks after a load that wrote `ingest.repack_after` records or more and
//! at least as many as the store held before (see
//! [`crate::engine::Engine::close_after_load`]). Its marker is `repack.done`; [`recover`]
//! finishes either kind. A failed copy is removed; the copy needs free space about the size
//! of the live store.

use std::path::Path;

use super::{sled_err, trees, Store, StoreError};

const COMPACT: &str = "sled.compact";
const OLD: &str = "sled.old";
/// Written once `sled.compact` is complete and flushed (a compaction: new data key).
const DONE: &str = "compact.done";
/// Written once `sled.compact` is complete and flushed (a repack: same data key, index kept).
const REPACK_DONE: &str = "repack.done";
/// sled page cache of a raw copy's new database.
const COPY_CACHE_BYTES: u64 = 128 << 20;

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Syncs every file under `dir` and the directories themselves.
fn sync_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => sync_tree(&e.path()),
                Ok(_) => {
                    if let Ok(f) = std::fs::File::open(e.path()) {
                        let _ = f.sync_all();
                    }
                }
                Err(_) => {}
            }
        }
    }
    sync_dir(dir);
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
    let (done, new_key) = match (data_dir.join(DONE), data_dir.join(REPACK_DONE)) {
        (d, _) if d.exists() => (d, true),
        (_, r) if r.exists() => (r, false),
        _ => return Ok(()),
    };
    let (live, new, old, index) = (
        data_dir.join("sled"),
        data_dir.join(COMPACT),
        data_dir.join(OLD),
        data_dir.join("index"),
    );
    // After a compaction the index is keyed by the old data key: it goes whatever step was
    // reached. A repack keeps the key, and so the index.
    if new_key && index.exists() {
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
    rewrite(config, true)
}

/// Repacks the store of `config`: its live contents copied as stored into a fresh database
/// (no other process may hold it; the blocking index stays valid).
pub fn repack(config: &crate::config::Config) -> Result<Compacted, StoreError> {
    rewrite(config, false)
}

/// Opens the live store, waiting up to two seconds for a store just dropped in this process
/// to release its lock (sled's I/O threads can hold it a moment longer).
fn open_live(config: &crate::config::Config, live: &Path) -> Result<Store, StoreError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match Store::open(
            live,
            &config.encryption,
            &config.data_dir,
            config.ingest_cache_mb,
        ) {
            Err(StoreError::Sled {
                source: sled::Error::Io(e),
                ..
            }) if e.to_string().contains("could not acquire lock")
                && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Copies the live store into `sled.compact` (under a new data key when `new_key`), then
/// swaps it in by the marker protocol above.
fn rewrite(config: &crate::config::Config, new_key: bool) -> Result<Compacted, StoreError> {
    let data_dir = &config.data_dir;
    recover(data_dir)?;
    let live = data_dir.join("sled");
    let before = dir_size(&live);
    let new = data_dir.join(COMPACT);
    {
        // The live store's lock is held from here until the copy is complete.
        let store = open_live(config, &live)?;
        if new.exists() {
            std::fs::remove_dir_all(&new).map_err(io(&new))?;
        }
        let copied = if new_key {
            Store::open(&new, &config.encryption, data_dir, config.ingest_cache_mb)
                .and_then(|target| store.copy_into(&target))
        } else {
            store.copy_raw_to(&new)
        };
        if let Err(e) = copied {
            // A copy that failed (a full disk, most likely) leaves no half copy behind.
            let _ = std::fs::remove_dir_all(&new);
            return Err(e);
        }
        // Every file of the copy (sled does not sync its `conf`) and its directory entries are
        // durable before the marker says it is complete.
        sync_tree(&new);
        let done = data_dir.join(if new_key { DONE } else { REPACK_DONE });
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
            // Written once, in key order: a small cache does (measured at 1M records).
            .cache_capacity(COPY_CACHE_BYTES)
            .flush_every_ms(None)
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
        let mut names: Vec<sled::IVec> = self
            .db
            .tree_names()
            .into_iter()
            .filter(|n| !n.starts_with(b"__sled__"))
            .collect();
        // Trees are copied on two threads; records and entities, most of a store, are taken
        // first (the queue pops from its end), one by each thread.
        names.sort_by_key(|n| {
            [trees::RECORDS, trees::ENTITIES]
                .iter()
                .position(|t| t.as_bytes() == n.as_ref())
        });
        let queue = std::sync::Mutex::new(names);
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    scope.spawn(|| -> Result<(), StoreError> {
                        loop {
                            let Some(name) = queue.lock().expect("copy queue").pop() else {
                                return Ok(());
                            };
                            self.copy_tree(&name, to_db, reseal)?;
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .try_for_each(|w| w.join().expect("a copy thread does not panic"))
        })?;
        to_db.flush().map_err(sled_err("flushing the copy"))?;
        Ok(())
    }

    /// Copies the tree `name` into `to_db` (see [`Store::copy_trees`]).
    fn copy_tree(
        &self,
        name: &[u8],
        to_db: &sled::Db,
        reseal: Option<&Store>,
    ) -> Result<(), StoreError> {
        let name_str = String::from_utf8_lossy(name).to_string();
        let sealed_tree = trees::SEALED.iter().find(|t| **t == name_str).copied();
        let from = self
            .db
            .open_tree(name)
            .map_err(sled_err("opening a tree"))?;
        let to = to_db.open_tree(name).map_err(sled_err("opening a tree"))?;
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
                            || super::packing::Packing::TREES
                                .iter()
                                .any(|t| super::packing::Packing::meta_key(t) == Some(k.as_ref()))
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
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A data directory caught after its copy was complete: live `sled`, the finished copy,
    /// an index, and `marker`.
    fn interrupted(marker: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (dir, file) in [("sled", "old"), (COMPACT, "new"), ("index", "terms")] {
            std::fs::create_dir(d.path().join(dir)).unwrap();
            std::fs::write(d.path().join(dir).join(file), b"x").unwrap();
        }
        std::fs::write(d.path().join(marker), b"done").unwrap();
        d
    }

    #[test]
    fn recover_finishes_a_repack_and_keeps_the_index() {
        let d = interrupted(REPACK_DONE);
        recover(d.path()).unwrap();
        assert!(d.path().join("sled/new").exists());
        assert!(!d.path().join("sled/old").exists());
        assert!(
            d.path().join("index/terms").exists(),
            "same key: index kept"
        );
        for gone in [COMPACT, OLD, REPACK_DONE] {
            assert!(!d.path().join(gone).exists(), "{gone}");
        }
    }

    #[test]
    fn recover_finishes_a_compaction_and_drops_the_index() {
        let d = interrupted(DONE);
        recover(d.path()).unwrap();
        assert!(d.path().join("sled/new").exists());
        assert!(!d.path().join("index").exists(), "new key: index rebuilt");
        for gone in [COMPACT, OLD, DONE] {
            assert!(!d.path().join(gone).exists(), "{gone}");
        }
    }

    #[test]
    fn recover_leaves_an_unfinished_copy_alone() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sled")).unwrap();
        std::fs::create_dir(d.path().join(COMPACT)).unwrap();
        recover(d.path()).unwrap();
        assert!(d.path().join("sled").exists() && d.path().join(COMPACT).exists());
    }
}
