//! Offline backup and restore of a data directory (`goldrec backup DIR`, `goldrec restore
//! DIR`).
//!
//! A backup opens the engine (so no server may hold the directory: sled's lock refuses a
//! second process), closes it (the blocking index commits, snapshots are saved, sled
//! flushes), and copies `sled/`, `index/` and `keys.json` while it still holds the lock, so
//! nothing writes during the copy. `backup.json` beside them states the counts. A restore
//! copies them into an empty data directory and opens it to check the counts.
//!
//! A running server backs up through `POST /v1/backups` ([`hot_backup`]): the store is copied
//! under the engine's writer lock, so the copy is one consistent batch boundary.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::engine::{Engine, EngineError};

/// What a backup holds, written as `backup.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// When it was taken.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// goldrec version that wrote it.
    pub version: String,
    /// Stored source records.
    pub records: u64,
    /// Live entities.
    pub entities: u64,
    /// Last change sequence: the feed position the backup reflects.
    pub last_change: u64,
}

/// Backup or restore failure.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Copying failed.
    #[error("{path}: {source}")]
    Io {
        /// Path concerned.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The target directory holds files already.
    #[error("{0} is not empty")]
    NotEmpty(String),
    /// The directory is not a backup.
    #[error("{0}: no backup.json, not a goldrec backup")]
    NotABackup(String),
    /// The restored store does not hold what the manifest says.
    #[error("the restored store holds {found} records, the backup says {expected}")]
    Mismatch {
        /// From the manifest.
        expected: u64,
        /// Found after restoring.
        found: u64,
    },
    /// Opening or closing the engine failed (a running server holds the directory).
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Parts of a data directory a backup holds.
const PARTS: &[&str] = &["sled", "index", crate::auth::KEYS_FILE];

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn ensure_empty(dir: &Path) -> Result<(), BackupError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => match entries.next() {
            Some(_) => Err(BackupError::NotEmpty(dir.display().to_string())),
            None => Ok(()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(io(dir))
        }
        Err(e) => Err(io(dir)(e)),
    }
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), BackupError> {
    if from.is_dir() {
        std::fs::create_dir_all(to).map_err(io(to))?;
        for entry in std::fs::read_dir(from).map_err(io(from))? {
            let entry = entry.map_err(io(from))?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else if from.exists() {
        std::fs::copy(from, to).map_err(io(from))?;
        std::fs::File::open(to)
            .and_then(|f| f.sync_all())
            .map_err(io(to))?;
    }
    Ok(())
}

/// Backs the data directory of `engine` up into `target` (absent or empty). The engine is
/// closed first; it must not be used for writes afterwards.
pub fn backup(engine: &Engine, target: &Path) -> Result<Manifest, BackupError> {
    ensure_empty(target)?;
    engine.close()?;
    let reads = engine.reads();
    let manifest = Manifest {
        created_at: chrono::Utc::now(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        records: reads.record_count().map_err(EngineError::from)?,
        entities: reads.entity_count().map_err(EngineError::from)?,
        last_change: reads.last_change_seq().map_err(EngineError::from)?,
    };
    let data = &engine.config.data_dir;
    for part in PARTS {
        copy_tree(&data.join(part), &target.join(part))?;
    }
    let path = target.join("backup.json");
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&manifest).expect("manifest serializes"),
    )
    .map_err(io(&path))?;
    Ok(manifest)
}

/// Backs up the data directory of a running `engine` into `target` (absent or empty): the
/// store is copied while no batch commits, as stored (encrypted values stay sealed; the same
/// key opens the copy), with `keys.json`; the blocking index is left out (a restore rebuilds
/// it). Writes wait for the copy.
pub fn hot_backup(engine: &Engine, target: &Path) -> Result<Manifest, BackupError> {
    ensure_empty(target)?;
    let (records, entities, last_change) = engine.copy_store_to(&target.join("sled"))?;
    let keys = crate::auth::KEYS_FILE;
    copy_tree(&engine.config.data_dir.join(keys), &target.join(keys))?;
    let manifest = Manifest {
        created_at: chrono::Utc::now(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        records,
        entities,
        last_change,
    };
    let path = target.join("backup.json");
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&manifest).expect("manifest serializes"),
    )
    .map_err(io(&path))?;
    Ok(manifest)
}

/// Restores the backup in `source` into `config`'s data directory (absent or empty), then
/// opens it and checks the record count.
pub fn restore(config: crate::config::Config, source: &Path) -> Result<Manifest, BackupError> {
    let path = source.join("backup.json");
    let manifest: Manifest = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| BackupError::NotABackup(source.display().to_string()))?;
    let data = config.data_dir.clone();
    ensure_empty(&data)?;
    for part in PARTS {
        copy_tree(&source.join(part), &data.join(part))?;
    }
    let engine = Engine::open(config)?;
    let found = engine.reads().record_count().map_err(EngineError::from)?;
    engine.close()?;
    if found != manifest.records {
        return Err(BackupError::Mismatch {
            expected: manifest.records,
            found,
        });
    }
    Ok(manifest)
}
