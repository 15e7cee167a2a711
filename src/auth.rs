//! API keys and roles.
//!
//! A **key** is a secret the client sends as `Authorization: Bearer KEY`. Generated keys read
//! `grk_<id>_<secret>`: a 12-hex-digit id, then 64 hex digits (256 random bits). Only an
//! argon2id hash of the whole key is stored, with its name, [`Role`], sources (for `ingest`),
//! `pii` scope and times, in the **keys file** `<data_dir>/keys.json`.
//!
//! The keys file, not sled, holds them because sled allows one process per data directory:
//! `goldrec keys create|list|revoke` edit the file whether or not a server runs, and the
//! server notices a change (modification time, length, inode) on the next request and
//! re-reads it. Writers take `keys.json.lock` (created exclusively), write a temporary file,
//! fsync it and rename it over the old one, so a reader sees the old file or the new one.
//!
//! Argon2 takes tens of milliseconds, so a key verified once is remembered by its id with a
//! blake3 hash of the presented key; later requests compare that hash (in constant time)
//! instead. The memory is dropped for a key whose stored entry changes (revoked, replaced).
//!
//! A key given to `serve` through `GOLDREC_ADMIN_KEY` may be any string of at least
//! [`MIN_ENV_KEY_LEN`] characters; it is stored under the id [`ENV_ADMIN_ID`], and a
//! presented key that is not of the `grk_` form is checked against that entry.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, Instant, SystemTime};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// File name of the keys file inside the data directory.
pub const KEYS_FILE: &str = "keys.json";

/// Environment variable `serve` reads an admin key from.
pub const ADMIN_KEY_ENV: &str = "GOLDREC_ADMIN_KEY";

/// Id under which the key of [`ADMIN_KEY_ENV`] is stored.
pub const ENV_ADMIN_ID: &str = "env-admin";

/// Shortest key accepted from [`ADMIN_KEY_ENV`].
pub const MIN_ENV_KEY_LEN: usize = 24;

/// Prefix of generated keys.
const PREFIX: &str = "grk_";

/// How long a writer waits for another writer's lock before giving up.
const LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors of the keys file.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Reading or writing the keys file failed.
    #[error("{path}: {source}")]
    Io {
        /// File concerned.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The keys file is not valid JSON of the expected shape.
    #[error("{path}: not a keys file: {source}")]
    Corrupt {
        /// File concerned.
        path: String,
        /// Cause.
        source: serde_json::Error,
    },
    /// Hashing failed (argon2 parameters).
    #[error("hashing the key: {0}")]
    Hash(String),
    /// The random number source failed.
    #[error("no randomness: {0}")]
    Random(String),
    /// A key name is empty, too long or already taken by an active key.
    #[error("invalid key name {0:?}: {1}")]
    InvalidName(String, &'static str),
    /// An `ingest` key names no source, or another role names sources.
    #[error("{0}")]
    InvalidSources(&'static str),
    /// No key with this id or name.
    #[error("no key {0:?}")]
    UnknownKey(String),
    /// Another writer holds the lock file.
    #[error("{0} is held by another writer; if none runs, remove it")]
    Locked(String),
    /// The key from the environment is too short.
    #[error("{ADMIN_KEY_ENV} must be at least {MIN_ENV_KEY_LEN} characters")]
    WeakEnvKey,
}

/// What a key may do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Writes records of the sources named on the key, and reads those records back.
    Ingest,
    /// Reads golden records: entities, lookup, search, match probe, changes, export, records.
    Reader,
    /// Everything a reader may, plus review, decisions, merge, split, overrides, history
    /// and conflicts.
    Steward,
    /// Everything.
    Admin,
}

impl Role {
    /// The role's name as written in the keys file and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Reader => "reader",
            Role::Steward => "steward",
            Role::Admin => "admin",
        }
    }
}

/// What a route needs ([`crate::api::auth::required`] names it per route).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// No key needed.
    Open,
    /// Write records of this source.
    Ingest,
    /// Read one record of this source: readers, or an ingest key of the source.
    ReadRecord,
    /// Read golden records.
    Read,
    /// Steward work.
    Steward,
    /// Administration.
    Admin,
    /// Any valid key, whatever its role (the Prometheus scrape of `/metrics`).
    AnyKey,
}

/// One stored key: never the key itself, only its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyEntry {
    /// Public id (the middle part of a generated key).
    pub id: String,
    /// Name, unique among active keys; it names the key's holder in logs.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Sources an `ingest` key may write (empty for other roles).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// Whether the key may see personal data unmasked.
    #[serde(default)]
    pub pii: bool,
    /// argon2id hash of the key, PHC string.
    pub hash: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked; a revoked key answers 401.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl KeyEntry {
    /// Whether the key is still in force.
    pub fn active(&self) -> bool {
        self.revoked_at.is_none()
    }

    /// Whether this key may do what `p` names; `source` is the route's source, if any.
    pub fn allows(&self, p: Permission, source: Option<&str>) -> bool {
        let own_source = || source.is_some_and(|s| self.sources.iter().any(|x| x == s));
        match (self.role, p) {
            (_, Permission::Open | Permission::AnyKey) | (Role::Admin, _) => true,
            (Role::Ingest, Permission::Ingest | Permission::ReadRecord) => own_source(),
            (Role::Reader | Role::Steward, Permission::Read | Permission::ReadRecord) => true,
            (Role::Steward, Permission::Steward) => true,
            _ => false,
        }
    }
}

/// The keys file's content.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct KeysDoc {
    /// Every key ever created (revoked ones stay, so names in logs keep their meaning).
    pub keys: Vec<KeyEntry>,
}

/// Path of the keys file of a data directory.
pub fn keys_path(data_dir: &Path) -> PathBuf {
    data_dir.join(KEYS_FILE)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AuthError + '_ {
    move |source| AuthError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Reads the keys file; a missing file is an empty one.
pub fn load(data_dir: &Path) -> Result<KeysDoc, AuthError> {
    let path = keys_path(data_dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| AuthError::Corrupt {
            path: path.display().to_string(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(KeysDoc::default()),
        Err(e) => Err(io(&path)(e)),
    }
}

/// Applies `f` to the keys file under its lock and writes the result atomically.
pub fn update<T>(
    data_dir: &Path,
    f: impl FnOnce(&mut KeysDoc) -> Result<T, AuthError>,
) -> Result<T, AuthError> {
    std::fs::create_dir_all(data_dir).map_err(io(data_dir))?;
    let path = keys_path(data_dir);
    let lock = data_dir.join(format!("{KEYS_FILE}.lock"));
    let started = Instant::now();
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
        {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if started.elapsed() > LOCK_TIMEOUT {
                    return Err(AuthError::Locked(lock.display().to_string()));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(io(&lock)(e)),
        }
    }
    let result = (|| {
        let mut doc = load(data_dir)?;
        let out = f(&mut doc)?;
        let tmp = data_dir.join(format!("{KEYS_FILE}.tmp"));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).map_err(io(&tmp))?;
        let text = serde_json::to_vec_pretty(&doc).expect("keys serialize");
        file.write_all(&text).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        if let Ok(dir) = std::fs::File::open(data_dir) {
            let _ = dir.sync_all();
        }
        Ok(out)
    })();
    let _ = std::fs::remove_file(&lock);
    result
}

fn random_hex(bytes: usize) -> Result<String, AuthError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| AuthError::Random(e.to_string()))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// argon2id hash (PHC string) of a key, with a random salt.
pub fn hash_key(key: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| AuthError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(key.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Whether `key` matches a stored PHC hash (argon2's comparison is constant-time).
pub fn verify_key(key: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(key.as_bytes(), &h)
            .is_ok()
    })
}

/// The id a presented key is stored under: the middle of `grk_<id>_<secret>`, otherwise
/// [`ENV_ADMIN_ID`].
pub fn key_id(presented: &str) -> &str {
    presented
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('_'))
        .map(|(id, _)| id)
        .filter(|id| !id.is_empty())
        .unwrap_or(ENV_ADMIN_ID)
}

/// What `keys create` asks for.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// Unique name among active keys.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Sources (required for `ingest`, refused otherwise).
    pub sources: Vec<String>,
    /// Unmasked personal data.
    pub pii: bool,
}

fn check_new(doc: &KeysDoc, new: &NewKey) -> Result<(), AuthError> {
    let name = new.name.trim();
    if name.is_empty() || name.len() > 64 {
        return Err(AuthError::InvalidName(
            new.name.clone(),
            "1 to 64 characters",
        ));
    }
    if doc.keys.iter().any(|k| k.active() && k.name == name) {
        return Err(AuthError::InvalidName(
            new.name.clone(),
            "an active key has this name",
        ));
    }
    match (new.role, new.sources.is_empty()) {
        (Role::Ingest, true) => Err(AuthError::InvalidSources(
            "an ingest key names the sources it writes (--sources a,b)",
        )),
        (Role::Ingest, false) | (_, true) => Ok(()),
        (_, false) => Err(AuthError::InvalidSources("only ingest keys name sources")),
    }
}

/// Creates a key, stores its hash and returns the entry and the key (shown once).
pub fn create(data_dir: &Path, new: NewKey) -> Result<(KeyEntry, String), AuthError> {
    let id = random_hex(6)?;
    let key = format!("{PREFIX}{id}_{}", random_hex(32)?);
    let hash = hash_key(&key)?;
    let entry = update(data_dir, |doc| {
        check_new(doc, &new)?;
        let entry = KeyEntry {
            id,
            name: new.name.trim().to_string(),
            role: new.role,
            sources: new.sources,
            pii: new.pii,
            hash,
            created_at: Utc::now(),
            revoked_at: None,
        };
        doc.keys.push(entry.clone());
        Ok(entry)
    })?;
    Ok((entry, key))
}

/// Revokes the active key with this id or name; returns it.
pub fn revoke(data_dir: &Path, id_or_name: &str) -> Result<KeyEntry, AuthError> {
    update(data_dir, |doc| {
        let k = doc
            .keys
            .iter_mut()
            .find(|k| k.active() && (k.id == id_or_name || k.name == id_or_name))
            .ok_or_else(|| AuthError::UnknownKey(id_or_name.to_string()))?;
        k.revoked_at = Some(Utc::now());
        Ok(k.clone())
    })
}

/// Makes `key` (from [`ADMIN_KEY_ENV`]) the admin key stored under [`ENV_ADMIN_ID`],
/// replacing an earlier one; does not write when it is already stored.
pub fn ensure_env_admin(data_dir: &Path, key: &str) -> Result<(), AuthError> {
    if key.chars().count() < MIN_ENV_KEY_LEN {
        return Err(AuthError::WeakEnvKey);
    }
    let stored = load(data_dir)?;
    if stored
        .keys
        .iter()
        .any(|k| k.id == ENV_ADMIN_ID && k.active() && verify_key(key, &k.hash))
    {
        return Ok(());
    }
    let hash = hash_key(key)?;
    update(data_dir, |doc| {
        doc.keys.retain(|k| k.id != ENV_ADMIN_ID);
        doc.keys.push(KeyEntry {
            id: ENV_ADMIN_ID.to_string(),
            name: "admin (GOLDREC_ADMIN_KEY)".to_string(),
            role: Role::Admin,
            sources: Vec::new(),
            pii: true,
            hash,
            created_at: Utc::now(),
            revoked_at: None,
        });
        Ok(())
    })
}

/// When no active admin key exists, creates one named `bootstrap-admin` (with the `pii`
/// scope) and returns the key, to be shown once.
pub fn bootstrap_admin(data_dir: &Path) -> Result<Option<String>, AuthError> {
    if load(data_dir)?
        .keys
        .iter()
        .any(|k| k.active() && k.role == Role::Admin)
    {
        return Ok(None);
    }
    let (_, key) = create(
        data_dir,
        NewKey {
            name: "bootstrap-admin".to_string(),
            role: Role::Admin,
            sources: Vec::new(),
            pii: true,
        },
    )?;
    Ok(Some(key))
}

/// Why a presented key is refused (401): unknown, wrong or revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied(pub &'static str);

/// Identity of (file stamp) the keys were loaded from.
type Stamp = Option<(SystemTime, u64, u64)>;

struct Loaded {
    stamp: Stamp,
    keys: HashMap<String, KeyEntry>,
    /// Key id -> blake3 of the presented key that passed argon2 against the entry.
    verified: HashMap<String, blake3::Hash>,
}

/// The server's view of the keys file: re-read when it changes, verified keys remembered.
pub struct Keys {
    data_dir: PathBuf,
    state: RwLock<Loaded>,
}

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Some((m.modified().ok()?, m.len(), ino))
}

impl Keys {
    /// Keys of a data directory (read at once; a missing file means no keys yet).
    pub fn open(data_dir: &Path) -> Result<Self, AuthError> {
        let keys = Self {
            data_dir: data_dir.to_path_buf(),
            state: RwLock::new(Loaded {
                stamp: None,
                keys: HashMap::new(),
                verified: HashMap::new(),
            }),
        };
        keys.refresh()?;
        Ok(keys)
    }

    /// Re-reads the keys file when its stamp changed. Verified keys stay remembered only
    /// while their entry is unchanged.
    pub fn refresh(&self) -> Result<(), AuthError> {
        let now = stamp(&keys_path(&self.data_dir));
        if self.state.read().expect("keys lock").stamp == now && now.is_some() {
            return Ok(());
        }
        let doc = load(&self.data_dir)?;
        let mut st = self.state.write().expect("keys lock");
        let keys: HashMap<String, KeyEntry> = doc
            .keys
            .into_iter()
            .filter(KeyEntry::active)
            .map(|k| (k.id.clone(), k))
            .collect();
        let old = std::mem::take(&mut st.keys);
        st.verified
            .retain(|id, _| old.get(id).is_some_and(|o| keys.get(id) == Some(o)));
        st.keys = keys;
        st.stamp = now;
        Ok(())
    }

    /// The key entry of a presented key, from memory when it was verified before.
    /// `None`: the entry needs argon2 ([`Keys::verify_slow`]).
    pub fn lookup_fast(&self, presented: &str) -> Result<Option<KeyEntry>, Denied> {
        let id = key_id(presented);
        let st = self.state.read().expect("keys lock");
        let Some(entry) = st.keys.get(id) else {
            return Err(Denied("unknown or revoked key"));
        };
        match st.verified.get(id) {
            // blake3::Hash compares in constant time.
            Some(h) if *h == blake3::hash(presented.as_bytes()) => Ok(Some(entry.clone())),
            Some(_) => Err(Denied("wrong key")),
            None => Ok(None),
        }
    }

    /// Verifies a presented key with argon2 (slow: run it off the async runtime) and
    /// remembers it when it matches.
    pub fn verify_slow(&self, presented: &str) -> Result<KeyEntry, Denied> {
        let id = key_id(presented);
        let entry = self
            .state
            .read()
            .expect("keys lock")
            .keys
            .get(id)
            .cloned()
            .ok_or(Denied("unknown or revoked key"))?;
        if !verify_key(presented, &entry.hash) {
            return Err(Denied("wrong key"));
        }
        let mut st = self.state.write().expect("keys lock");
        if st.keys.get(id) == Some(&entry) {
            st.verified
                .insert(id.to_string(), blake3::hash(presented.as_bytes()));
        }
        Ok(entry)
    }
}

/// Keys for `keys list`: (id, name, role, sources, pii, created, revoked), by creation.
pub fn list(data_dir: &Path) -> Result<Vec<KeyEntry>, AuthError> {
    let mut keys = load(data_dir)?.keys;
    keys.sort_by_key(|k| k.created_at);
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(name: &str, role: Role, sources: &[&str]) -> NewKey {
        NewKey {
            name: name.into(),
            role,
            sources: sources.iter().map(|s| s.to_string()).collect(),
            pii: false,
        }
    }

    #[test]
    fn a_created_key_verifies_and_only_its_hash_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (entry, key) = create(dir.path(), new("etl", Role::Ingest, &["crm"])).unwrap();
        assert!(
            key.starts_with("grk_") && key.len() == 4 + 12 + 1 + 64,
            "{key}"
        );
        assert_eq!(key_id(&key), entry.id);
        let text = std::fs::read_to_string(keys_path(dir.path())).unwrap();
        assert!(!text.contains(&key[17..]), "the secret is not stored");
        let keys = Keys::open(dir.path()).unwrap();
        assert_eq!(keys.lookup_fast(&key), Ok(None), "not verified yet");
        assert_eq!(keys.verify_slow(&key).unwrap().name, "etl");
        assert_eq!(keys.lookup_fast(&key).unwrap().unwrap().name, "etl");
        let mut wrong = key.clone();
        wrong.pop();
        wrong.push('x');
        assert!(keys.lookup_fast(&wrong).is_err());
        assert!(keys.verify_slow(&wrong).is_err());
    }

    #[test]
    fn a_revoked_key_is_refused_after_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (_, key) = create(dir.path(), new("r", Role::Reader, &[])).unwrap();
        let keys = Keys::open(dir.path()).unwrap();
        keys.verify_slow(&key).unwrap();
        revoke(dir.path(), "r").unwrap();
        keys.refresh().unwrap();
        assert_eq!(
            keys.lookup_fast(&key),
            Err(Denied("unknown or revoked key"))
        );
        assert!(matches!(
            revoke(dir.path(), "r"),
            Err(AuthError::UnknownKey(_))
        ));
    }

    #[test]
    fn names_and_sources_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        create(dir.path(), new("a", Role::Reader, &[])).unwrap();
        assert!(matches!(
            create(dir.path(), new("a", Role::Admin, &[])),
            Err(AuthError::InvalidName(..))
        ));
        assert!(matches!(
            create(dir.path(), new("b", Role::Ingest, &[])),
            Err(AuthError::InvalidSources(_))
        ));
        assert!(matches!(
            create(dir.path(), new("c", Role::Reader, &["crm"])),
            Err(AuthError::InvalidSources(_))
        ));
    }

    #[test]
    fn roles_allow_what_the_table_says() {
        let entry = |role, sources: &[&str]| KeyEntry {
            id: "x".into(),
            name: "x".into(),
            role,
            sources: sources.iter().map(|s| s.to_string()).collect(),
            pii: false,
            hash: String::new(),
            created_at: Utc::now(),
            revoked_at: None,
        };
        let ingest = entry(Role::Ingest, &["crm"]);
        assert!(ingest.allows(Permission::Ingest, Some("crm")));
        assert!(!ingest.allows(Permission::Ingest, Some("webshop")));
        assert!(!ingest.allows(Permission::Read, None));
        let steward = entry(Role::Steward, &[]);
        assert!(
            steward.allows(Permission::Read, None) && steward.allows(Permission::Steward, None)
        );
        assert!(
            !steward.allows(Permission::Ingest, Some("crm"))
                && !steward.allows(Permission::Admin, None)
        );
        let reader = entry(Role::Reader, &[]);
        assert!(
            reader.allows(Permission::ReadRecord, Some("crm"))
                && !reader.allows(Permission::Steward, None)
        );
        assert!(entry(Role::Admin, &[]).allows(Permission::Ingest, Some("any")));
        assert!(ingest.allows(Permission::AnyKey, None) && reader.allows(Permission::AnyKey, None));
    }

    #[test]
    fn the_environment_key_is_stored_once_and_replaced_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            ensure_env_admin(dir.path(), "short"),
            Err(AuthError::WeakEnvKey)
        ));
        let k1 = "an-admin-key-of-enough-length-1";
        ensure_env_admin(dir.path(), k1).unwrap();
        let before = std::fs::read_to_string(keys_path(dir.path())).unwrap();
        ensure_env_admin(dir.path(), k1).unwrap();
        assert_eq!(
            before,
            std::fs::read_to_string(keys_path(dir.path())).unwrap()
        );
        assert_eq!(
            bootstrap_admin(dir.path()).unwrap(),
            None,
            "an admin key exists"
        );
        let k2 = "an-admin-key-of-enough-length-2";
        ensure_env_admin(dir.path(), k2).unwrap();
        let keys = Keys::open(dir.path()).unwrap();
        assert!(keys.verify_slow(k1).is_err());
        assert_eq!(keys.verify_slow(k2).unwrap().role, Role::Admin);
    }
}
