//! Encryption at rest: where the key-encryption key (KEK) comes from, the data key it wraps,
//! and the sealing of stored values.
//!
//! Envelope design. The KEK is read from an environment variable or a key file named by
//! `[encryption]`, never from the data directory. A random data key is made when a store is
//! created and kept in sled (`meta/data_key`) wrapped by the KEK, so rotating the KEK
//! (`goldrec rotate-key`) re-wraps 32 bytes instead of rewriting the store. Every personal
//! value is sealed with XChaCha20-Poly1305 under the data key, its tree name and sled key as
//! associated data (a value moved to another key does not open). Blocking keys in the tantivy
//! index are keyed BLAKE3 hashes under a key derived from the data key ([`Sealer::term`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

/// Bytes of every key (KEK, data key).
pub const KEY_LEN: usize = 32;
/// First byte of a sealed value.
const SEALED: u8 = 0xE5;
const NONCE_LEN: usize = 24;
/// Bytes a sealed value adds to its plaintext: marker, nonce, tag.
pub const OVERHEAD: usize = 1 + NONCE_LEN + 16;
/// Associated data of the wrapped data key.
const WRAP_AAD: &[u8] = b"goldrec data key v1";

/// Why keys could not be had or a value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The key variable is set but is not 64 hex digits.
    #[error("environment variable {var} must hold the key as 64 hex digits")]
    BadEnv {
        /// The variable's name.
        var: String,
    },
    /// The key file cannot be read, written or parsed.
    #[error("key file {path}: {reason}")]
    BadFile {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The data directory is encrypted and no key was found.
    #[error("this data directory is encrypted and no key was found: set {env} or put the key file at {path}")]
    Missing {
        /// The variable looked at.
        env: String,
        /// The key file looked at.
        path: String,
    },
    /// The key file lies inside the data directory.
    #[error("key file {0} is inside the data directory: keep key material apart from the data it protects")]
    InsideDataDir(String),
    /// A stored value failed authentication.
    #[error("a stored value in {tree} does not authenticate (wrong key, or the data was altered)")]
    Unauthentic {
        /// Its tree.
        tree: &'static str,
    },
    /// The KEK does not unwrap the data key.
    #[error(
        "the configured key does not open this data directory's data key (a wrong or old key)"
    )]
    WrongKey,
}

/// `[encryption]`: whether values are sealed and where the KEK comes from.
#[derive(Debug, Clone)]
pub struct EncryptionConfig {
    /// Seal values (default on). A store is created encrypted or not and stays so.
    pub enabled: bool,
    /// Environment variable holding the KEK as 64 hex digits; read first when set.
    pub key_env: Option<String>,
    /// Key file (64 hex digits); `None` means `<data_dir>.key`, beside the data directory.
    pub key_file: Option<PathBuf>,
}

impl Default for EncryptionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            key_env: Some(DEFAULT_KEY_ENV.into()),
            key_file: None,
        }
    }
}

/// The environment variable read for the KEK unless the config names another.
pub const DEFAULT_KEY_ENV: &str = "GOLDREC_DATA_KEY";

/// A 32-byte secret, wiped from memory when dropped.
pub type Key = Zeroizing<[u8; KEY_LEN]>;

/// A fresh random key.
pub fn generate_key() -> Key {
    let mut k = Zeroizing::new([0u8; KEY_LEN]);
    getrandom::fill(&mut k[..]).expect("the OS random source works");
    k
}

/// The key as 64 lowercase hex digits.
pub fn to_hex(key: &Key) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses 64 hex digits (surrounding white space ignored).
pub fn from_hex(text: &str) -> Option<Key> {
    let t = text.trim().as_bytes();
    if t.len() != KEY_LEN * 2 {
        return None;
    }
    let mut k = Zeroizing::new([0u8; KEY_LEN]);
    for (i, pair) in t.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        k[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(k)
}

impl EncryptionConfig {
    /// The key file used for `data_dir`.
    pub fn key_file_for(&self, data_dir: &Path) -> PathBuf {
        self.key_file.clone().unwrap_or_else(|| {
            // `data/`, `./data` and `.` name the directory too: take its own name.
            let dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
            let dir: PathBuf = dir.components().collect();
            match (dir.parent(), dir.file_name()) {
                (Some(parent), Some(name)) => {
                    let mut file = name.to_owned();
                    file.push(".key");
                    parent.join(file)
                }
                _ => dir.join("..").join("goldrec-data.key"),
            }
        })
    }

    /// The KEK: the environment variable when it is set, else the key file. With `create`
    /// (a new store) a missing key file is made with a fresh key (mode 0600).
    pub fn load_kek(&self, data_dir: &Path, create: bool) -> Result<Key, CryptoError> {
        let env = self.key_env.as_deref().unwrap_or(DEFAULT_KEY_ENV);
        if let Ok(v) = std::env::var(env).map(Zeroizing::new) {
            return from_hex(&v).ok_or_else(|| CryptoError::BadEnv { var: env.into() });
        }
        let path = self.key_file_for(data_dir);
        load_key_file(&path, data_dir, create).map_err(|e| match e {
            CryptoError::BadFile { reason, .. } if reason == NOT_FOUND => CryptoError::Missing {
                env: env.into(),
                path: path.display().to_string(),
            },
            e => e,
        })
    }
}

const NOT_FOUND: &str = "not found";

/// The key in the key file `path`; with `create` a missing file is made with a fresh key
/// (mode 0600). Refuses a file inside `data_dir`.
pub fn load_key_file(path: &Path, data_dir: &Path, create: bool) -> Result<Key, CryptoError> {
    if inside(path, data_dir) {
        return Err(CryptoError::InsideDataDir(path.display().to_string()));
    }
    let bad = |reason: String| CryptoError::BadFile {
        path: path.display().to_string(),
        reason,
    };
    match std::fs::read_to_string(path).map(Zeroizing::new) {
        Ok(text) => from_hex(&text).ok_or_else(|| bad("must hold the key as 64 hex digits".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let key = generate_key();
            write_key_file(path, &key).map_err(|e| bad(e.to_string()))?;
            tracing::warn!(
                path = %path.display(),
                "made a new data encryption key: back it up apart from the data, without it the data cannot be read"
            );
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(bad(NOT_FOUND.into())),
        Err(e) => Err(bad(e.to_string())),
    }
}

/// Whether `path` lies inside `dir` (both made absolute as far as they exist).
fn inside(path: &Path, dir: &Path) -> bool {
    let abs = |p: &Path| {
        std::fs::canonicalize(p).unwrap_or_else(|_| {
            std::env::current_dir()
                .map(|c| c.join(p))
                .unwrap_or_else(|_| p.to_path_buf())
        })
    };
    let parent = path.parent().map(abs).unwrap_or_default();
    parent.starts_with(abs(dir))
}

/// Writes a new key file readable by its owner only; refuses to replace one.
pub fn write_key_file(path: &Path, key: &Key) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    let text = Zeroizing::new(format!("{}\n", to_hex(key)));
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// Wraps the data key under the KEK.
pub fn wrap(kek: &Key, data_key: &Key) -> Vec<u8> {
    seal_with(
        &XChaCha20Poly1305::new(kek[..].into()),
        &random_nonce(),
        WRAP_AAD,
        &data_key[..],
    )
}

/// Unwraps the data key.
pub fn unwrap(kek: &Key, wrapped: &[u8]) -> Result<Key, CryptoError> {
    let plain = open_with(&XChaCha20Poly1305::new(kek[..].into()), WRAP_AAD, wrapped)
        .ok_or(CryptoError::WrongKey)?;
    let plain = Zeroizing::new(plain);
    let mut k = Zeroizing::new([0u8; KEY_LEN]);
    if plain.len() != KEY_LEN {
        return Err(CryptoError::WrongKey);
    }
    k.copy_from_slice(&plain);
    Ok(k)
}

fn random_nonce() -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    getrandom::fill(&mut n).expect("the OS random source works");
    n
}

fn seal_with(
    cipher: &XChaCha20Poly1305,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plain: &[u8],
) -> Vec<u8> {
    let ct = cipher
        .encrypt(XNonce::from_slice(nonce), Payload { msg: plain, aad })
        .expect("sealing a value in memory cannot fail");
    let mut out = Vec::with_capacity(OVERHEAD + plain.len());
    out.push(SEALED);
    out.extend_from_slice(nonce);
    out.extend_from_slice(&ct);
    out
}

fn open_with(cipher: &XChaCha20Poly1305, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < OVERHEAD || sealed[0] != SEALED {
        return None;
    }
    let (nonce, ct) = sealed[1..].split_at(NONCE_LEN);
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
        .ok()
}

/// Seals and opens stored values under the data key, and hashes index terms.
pub struct Sealer {
    cipher: XChaCha20Poly1305,
    /// Random per process; with the counter it makes every nonce unique.
    salt: [u8; 16],
    counter: AtomicU64,
    term_key: Key,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer")
    }
}

impl Sealer {
    /// A sealer for `data_key`.
    pub fn new(data_key: &Key) -> Self {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).expect("the OS random source works");
        Self {
            cipher: XChaCha20Poly1305::new(data_key[..].into()),
            salt,
            counter: AtomicU64::new(0),
            term_key: Zeroizing::new(blake3::derive_key("goldrec index terms v1", &data_key[..])),
        }
    }

    /// Runs `f` with the associated data of `key` in `tree` (tree name, 0, key), on the stack
    /// when it fits (every tree and key goldrec uses).
    fn with_aad<T>(tree: &str, key: &[u8], f: impl FnOnce(&[u8]) -> T) -> T {
        let n = tree.len() + 1 + key.len();
        let mut stack = [0u8; 96];
        let mut heap = Vec::new();
        let buf: &mut [u8] = if n <= stack.len() {
            &mut stack[..n]
        } else {
            heap.resize(n, 0);
            &mut heap
        };
        buf[..tree.len()].copy_from_slice(tree.as_bytes());
        buf[tree.len()] = 0;
        buf[tree.len() + 1..].copy_from_slice(key);
        f(buf)
    }

    /// `plain` sealed for sled key `key` of `tree`.
    pub fn seal(&self, tree: &str, key: &[u8], plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..16].copy_from_slice(&self.salt);
        nonce[16..].copy_from_slice(&self.counter.fetch_add(1, Ordering::Relaxed).to_le_bytes());
        Self::with_aad(tree, key, |aad| seal_with(&self.cipher, &nonce, aad, plain))
    }

    /// Opens a value sealed for `key` of `tree`.
    pub fn open(
        &self,
        tree: &'static str,
        key: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        Self::with_aad(tree, key, |aad| open_with(&self.cipher, aad, sealed))
            .ok_or(CryptoError::Unauthentic { tree })
    }

    /// The index term of blocking key `k` (`prefix:value`): the prefix kept (it names the
    /// key's kind), the value replaced by 48 bits of its keyed BLAKE3 hash in 8 base64url
    /// characters. Random characters share no prefixes or suffixes to fold, so the term
    /// dictionary (an FST) pays for each: 8 instead of 11 (64 bits) took a 1M-record index
    /// from 212 to 188 MB. Among ten million values of one kind ~0.2 pairs collide; a
    /// collision only adds a candidate, which scoring then judges.
    pub fn term(&self, k: &str) -> String {
        self.hashed(k, 8)
    }

    /// The 11-character (64-bit) form of [`Self::term`] that references of waiting activity
    /// are keyed by (`Store::ref_hash`): stored keys, so it must never change.
    pub fn ref_term(&self, k: &str) -> String {
        self.hashed(k, 11)
    }

    fn hashed(&self, k: &str, chars: usize) -> String {
        const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let (prefix, _) = k.split_once(':').unwrap_or(("", k));
        let h = blake3::keyed_hash(&self.term_key, k.as_bytes());
        let mut v = u64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 bytes"));
        let mut out = String::with_capacity(prefix.len() + 1 + chars);
        out.push_str(prefix);
        out.push(':');
        for _ in 0..chars {
            out.push(B64[(v & 63) as usize] as char);
            v >>= 6;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_terms_keep_their_stored_form() {
        // `activity_unresolved` keys are hashes of these: a change orphans waiting activity.
        let s = Sealer::new(&Zeroizing::new([7u8; KEY_LEN]));
        assert_eq!(s.ref_term("r:0123"), "r:Y8JBr8Pq76C");
        assert_eq!(s.term("e:a@b.c").len(), "e:".len() + 8);
    }

    #[test]
    fn sealed_values_open_only_at_their_place_and_with_their_key() {
        let s = Sealer::new(&generate_key());
        let v = s.seal("records", b"k1", b"Zhang Wei");
        assert!(!v.windows(5).any(|w| w == b"Zhang"));
        assert_eq!(s.open("records", b"k1", &v).unwrap(), b"Zhang Wei");
        assert!(s.open("records", b"k2", &v).is_err());
        assert!(s.open("entities", b"k1", &v).is_err());
        let mut tampered = v.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(s.open("records", b"k1", &tampered).is_err());
        assert!(Sealer::new(&generate_key())
            .open("records", b"k1", &v)
            .is_err());
        // Two seals of one value differ (unique nonces).
        assert_ne!(v, s.seal("records", b"k1", b"Zhang Wei"));
    }

    #[test]
    fn wrapped_data_key_needs_the_kek() {
        let (kek, dek) = (generate_key(), generate_key());
        let w = wrap(&kek, &dek);
        assert_eq!(*unwrap(&kek, &w).unwrap(), *dek);
        assert!(matches!(
            unwrap(&generate_key(), &w),
            Err(CryptoError::WrongKey)
        ));
    }

    #[test]
    fn terms_keep_the_prefix_and_hide_the_value() {
        let s = Sealer::new(&generate_key());
        let t = s.term("e:jane@example.com");
        assert!(t.starts_with("e:") && !t.contains("jane"));
        assert_eq!(t, s.term("e:jane@example.com"));
        assert_ne!(t, Sealer::new(&generate_key()).term("e:jane@example.com"));
        assert_eq!(
            from_hex(&to_hex(&generate_key())).map(|k| k.len()),
            Some(KEY_LEN)
        );
    }

    #[test]
    fn key_file_is_made_once_and_refused_inside_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let config = EncryptionConfig {
            enabled: true,
            key_env: Some("GOLDREC_TEST_UNSET_KEY_VAR".into()),
            key_file: None,
        };
        assert!(matches!(
            config.load_kek(&data, false),
            Err(CryptoError::Missing { .. })
        ));
        let made = config.load_kek(&data, true).unwrap();
        assert_eq!(*config.load_kek(&data, false).unwrap(), *made);
        assert!(dir.path().join("data.key").exists());
        // A trailing slash or a `.` component names the same key file.
        let slash = PathBuf::from(format!("{}/", data.display()));
        assert_eq!(config.key_file_for(&slash), dir.path().join("data.key"));
        assert_eq!(
            config.key_file_for(&data.join(".")),
            dir.path().join("data.key")
        );
        let inside = EncryptionConfig {
            key_file: Some(data.join("k.key")),
            ..config
        };
        assert!(matches!(
            inside.load_kek(&data, true),
            Err(CryptoError::InsideDataDir(_))
        ));
    }
}
