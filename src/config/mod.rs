//! Configuration: the TOML file ([`raw`]) turned into a validated [`Config`].
//!
//! Loading is two-staged: serde reads [`raw::RawConfig`] (unknown keys are errors), then
//! [`Config::from_raw`] checks every cross-field rule and resolves names (attributes, sources,
//! rules) into typed values, with errors that name the offending key.

pub mod raw;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use raw::{RawConfig, RawMapping};

/// Records per group commit in bulk loads: large enough to amortise the sled flush and the
/// tantivy commit, small enough to keep a batch's working set in a few hundred MB.
pub const DEFAULT_BATCH_SIZE: usize = 20_000;
/// Memory budget of the tantivy writer; tantivy needs at least 15 MB per indexing thread.
pub const DEFAULT_INDEX_MEMORY_MB: usize = 200;
/// sled page cache of a running server, in MB: at 1M entities the hot entities and records fit,
/// so reads of them do not decode leaves from disk (GET entity at 32 clients: 12.5k -> 18k/s).
pub const DEFAULT_SERVER_CACHE_MB: usize = 1024;
/// sled page cache of the offline commands (bulk ingest), in MB: a bulk load writes each leaf
/// once per batch and hardly reads it back, so a large cache only adds to peak RSS.
pub const DEFAULT_INGEST_CACHE_MB: usize = 256;
/// Records a bulk load writes (and at least as many as the store held before it) from which
/// `goldrec ingest` repacks the store ([`crate::store::compact::repack`]): sled holds ~1.8x the
/// live bytes after a load, a repack of 1M records takes ~15 s and halves the sled directory.
pub const DEFAULT_REPACK_AFTER: u64 = 100_000;
/// Match probability at or above which a record joins an entity.
pub const DEFAULT_LINK_THRESHOLD: f64 = 0.8;
/// Match probability at or above which (and below the link threshold) a pair is queued for review.
pub const DEFAULT_REVIEW_THRESHOLD: f64 = 0.5;
/// Candidate records retrieved from the blocking index per incoming record.
pub const DEFAULT_MAX_CANDIDATES: usize = 20;
/// Change events kept in the feed; older ones are dropped and their readers must re-snapshot.
pub const DEFAULT_CHANGE_RETENTION: u64 = 10_000_000;
/// Days audit entries are kept: a year covers a yearly access review.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u64 = 365;
/// Largest request body in MiB (decisions, merges, look-ups, single records): they are read
/// whole, so this bounds what one such request can hold in memory.
pub const DEFAULT_MAX_BODY_MB: u64 = 16;
/// Largest batch body (`POST /v1/sources/{source}/records`) in MiB. Batches are read and
/// committed in chunks of `server.chunk_records` records as they arrive, so memory does not
/// grow with this; it bounds how long one request can run (1M key-only records are
/// 25 MiB).
pub const DEFAULT_MAX_BATCH_BODY_MB: u64 = 256;
/// Records per chunk of a batch streamed over HTTP, each its own group commit. Smaller than
/// the CLI's `ingest.batch_size` so a chunk's working memory stays small beside the store's
/// (1M key-only records in one POST: peak RSS 718 MB with 5,000, 978 MB with 20,000).
pub const DEFAULT_CHUNK_RECORDS: usize = 5000;
/// Per-record results and per-record errors listed in a batch reply, each; the rest are
/// counted (`records_omitted`, `errors_omitted`), so a reply stays small whatever the batch.
pub const DEFAULT_MAX_REPORTED: usize = 1000;
/// Configuration file used when none is given on the command line.
pub const DEFAULT_CONFIG_PATH: &str = "config/goldrec.toml";

/// A configuration error; `key` is the dotted path of the offending setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {error}")]
    Io {
        /// File that failed.
        path: PathBuf,
        /// Underlying error (in the message, not a separate cause: one line).
        error: std::io::Error,
    },
    /// The TOML is malformed, has an unknown key or a value of the wrong type. One line:
    /// toml's own rendering (a source excerpt over several lines) is not repeated.
    #[error("invalid config: {key}: {message} (line {line}, column {column})")]
    Parse {
        /// Dotted key where the error is (its table, as near as the text shows).
        key: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, on one line.
        message: String,
    },
    /// A value is well-formed but not allowed.
    #[error("invalid config: {key}: {reason}")]
    Invalid {
        /// Dotted key, e.g. `sources.crm.fields.phone`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A toml error as one line naming the key: the table header above the error and the key
/// on its line.
fn parse_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let start = e.span().map_or(0, |s| s.start).min(text.len());
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..start].chars().count() + 1;
    let line_text = text[line_start..].lines().next().unwrap_or_default();
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let here = line_text
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    let key = match (table, here) {
        (Some(t), Some(k)) => format!("{t}.{k}"),
        (Some(t), None) => t,
        (None, Some(k)) => k,
        (None, None) => "(top level)".into(),
    };
    ConfigError::Parse {
        key,
        line,
        column,
        message: e.message().split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// What an attribute holds; decides its normalization, default comparison and blocking keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttrKind {
    /// A whole person name, split into given and family parts.
    PersonName,
    /// A given (first) name on its own.
    GivenName,
    /// A family (last) name on its own.
    FamilyName,
    /// An email address.
    Email,
    /// A phone number, normalized to E.164.
    Phone,
    /// A calendar date such as a date of birth, normalized to ISO 8601.
    Date,
    /// A street address, compared as a token set.
    Address,
    /// A postal code.
    Postcode,
    /// A company name.
    Company,
    /// Short free text such as a city, compared as a string.
    Text,
    /// An identifier such as a national id or loyalty number.
    Identifier,
}

impl AttrKind {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "person_name" => Self::PersonName,
            "given_name" => Self::GivenName,
            "family_name" => Self::FamilyName,
            "email" => Self::Email,
            "phone" => Self::Phone,
            "date" => Self::Date,
            "address" => Self::Address,
            "postcode" => Self::Postcode,
            "company" => Self::Company,
            "text" => Self::Text,
            "identifier" => Self::Identifier,
            _ => return None,
        })
    }

    const NAMES: &'static str = "person_name, given_name, family_name, email, phone, date, address, postcode, company, text, identifier";
}

/// One configured customer attribute.
#[derive(Debug, Clone)]
pub struct Attribute {
    /// Attribute name, as used in mappings, rules and golden records.
    pub name: String,
    /// What it holds.
    pub kind: AttrKind,
}

/// Index of an attribute in [`Config::attributes`].
pub type AttrId = usize;

/// File or payload format of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    Ndjson,
    /// A JSON array of objects.
    Json,
}

/// Where an attribute's value comes from in a source record. Paths are dotted (`contact.phone`);
/// a CSV column whose header contains a dot is found by its full name first.
#[derive(Debug, Clone)]
pub enum Mapping {
    /// One field.
    Path(String),
    /// Several fields joined with a space, empty ones skipped.
    Join(Vec<String>),
    /// Person name parts.
    Name {
        /// Field holding the whole name.
        full: Option<String>,
        /// Field holding the given name.
        given: Option<String>,
        /// Field holding the family name.
        family: Option<String>,
    },
}

/// One configured source system.
#[derive(Debug, Clone)]
pub struct Source {
    /// Source name, unique.
    pub name: String,
    /// Format of its files.
    pub format: Format,
    /// Field holding the record key, unique within the source.
    pub key: String,
    /// ISO 3166 regions for national phone numbers, tried in order (a number takes the first
    /// region it is valid in); empty when numbers must carry their country code.
    pub default_region: Vec<String>,
    /// Date formats (chrono strftime) tried in order.
    pub date_formats: Vec<String>,
    /// Field holding the record's last-update time in the source system, if any.
    pub updated_at: Option<String>,
    /// Formats tried for `updated_at` (RFC 3339 is always accepted).
    pub updated_at_formats: Vec<String>,
    /// What to do with a value that fails normalization (bad date, email, phone).
    pub invalid_values: InvalidValues,
    /// Attribute mappings, in attribute order.
    pub fields: Vec<(AttrId, Mapping)>,
    /// Rank in `survivorship.source_priority` (0 is most trusted; unlisted sources rank last).
    pub priority: usize,
    /// Consent fields per declared purpose (`[sources.<name>.consent]`).
    pub consent: Vec<ConsentField>,
}

/// Where a source holds its statement for one consent purpose.
#[derive(Debug, Clone)]
pub struct ConsentField {
    /// Declared purpose (`[consent] purposes`).
    pub purpose: String,
    /// Field holding the statement (granted / denied in one of the accepted spellings).
    pub field: String,
    /// Field holding when it was stated (RFC 3339 or the source's `updated_at_formats`).
    pub at: Option<String>,
}

/// Policy for a value that fails normalization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InvalidValues {
    /// Reject the record, naming the field and the reason.
    #[default]
    Reject,
    /// Accept the record and compare the value as supplied (folded text).
    KeepRaw,
    /// Accept the record without the value.
    Drop,
}

/// Part of a person name a comparison or blocking key looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NamePart {
    /// Given names.
    Given,
    /// Family names.
    Family,
}

/// Similarity method of a comparison; each has a fixed, documented list of levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Name tokens: exact, nickname/initial, Jaro-Winkler levels.
    Name,
    /// Email: exact, same local part, similar local part.
    Email,
    /// Phone: same E.164, same last 8 digits, same last 7 digits.
    Phone,
    /// Date: exact, day/month swapped, one character off, same year.
    Date,
    /// Address token sets after abbreviation folding.
    Address,
    /// Postcode: exact, one edit.
    Postcode,
    /// Whole string Jaro-Winkler levels.
    Text,
    /// Token sets (company names, stemmed free text).
    Tokens,
    /// Identifier: exact, one edit or transposition.
    Identifier,
}

impl Method {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "name" => Self::Name,
            "email" => Self::Email,
            "phone" => Self::Phone,
            "date" => Self::Date,
            "address" => Self::Address,
            "postcode" => Self::Postcode,
            "text" => Self::Text,
            "tokens" => Self::Tokens,
            "identifier" => Self::Identifier,
            _ => return None,
        })
    }

    /// The method used when a comparison names none.
    pub fn default_for(kind: AttrKind) -> Self {
        match kind {
            AttrKind::PersonName | AttrKind::GivenName | AttrKind::FamilyName => Self::Name,
            AttrKind::Email => Self::Email,
            AttrKind::Phone => Self::Phone,
            AttrKind::Date => Self::Date,
            AttrKind::Address => Self::Address,
            AttrKind::Postcode => Self::Postcode,
            AttrKind::Company => Self::Tokens,
            AttrKind::Text => Self::Text,
            AttrKind::Identifier => Self::Identifier,
        }
    }

    /// Whether the method can compare values of this kind.
    fn accepts(self, kind: AttrKind) -> bool {
        use AttrKind as K;
        match self {
            Self::Name => matches!(kind, K::PersonName | K::GivenName | K::FamilyName),
            Self::Email => kind == K::Email,
            Self::Phone => kind == K::Phone,
            Self::Date => kind == K::Date,
            Self::Address => matches!(kind, K::Address | K::Company | K::Text),
            Self::Postcode => matches!(kind, K::Postcode | K::Identifier),
            Self::Text => !matches!(kind, K::PersonName | K::Date),
            Self::Tokens => matches!(kind, K::Company | K::Text | K::Address),
            Self::Identifier => matches!(kind, K::Identifier | K::Postcode),
        }
    }
}

/// One comparison of the match model.
#[derive(Debug, Clone)]
pub struct ComparisonConfig {
    /// Attribute compared.
    pub attr: AttrId,
    /// Name part, for person names.
    pub part: Option<NamePart>,
    /// Similarity method.
    pub method: Method,
    /// `[m, u]` per level overriding the defaults, if configured.
    pub levels: Option<Vec<[f64; 2]>>,
    /// Term-frequency adjustment of the exact level; `None` means the method's default.
    pub term_frequency: Option<bool>,
    /// Whether the comparison belongs to the location group; `None` means the kind's default.
    pub location: Option<bool>,
}

/// One element of a blocking rule: an attribute, or a part of a person name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPart {
    /// Attribute the key is derived from.
    pub attr: AttrId,
    /// Name part, for person names; `None` means the whole name.
    pub part: Option<NamePart>,
}

/// A blocking rule: records sharing the derived key of every part become candidates.
#[derive(Debug, Clone)]
pub struct BlockingRule {
    /// Rule as written, e.g. `name.family+birth_date`; tags the keys it produces.
    pub label: String,
    /// The parts, combined.
    pub parts: Vec<KeyPart>,
}

/// `[matching]`, validated.
#[derive(Debug, Clone)]
pub struct MatchingConfig {
    /// Match probability at or above which a record joins an entity.
    pub link_threshold: f64,
    /// Match probability at or above which a pair is queued for review.
    pub review_threshold: f64,
    /// Prior match probability of a random pair when configured; `None` (the default): the
    /// model estimates it from the population (see [`crate::matching::population_prior`]).
    pub prior: Option<f64>,
    /// Candidates retrieved per record.
    pub max_candidates: usize,
    /// Blocking rules.
    pub blocking: Vec<BlockingRule>,
    /// Comparisons.
    pub comparisons: Vec<ComparisonConfig>,
}

/// Survivorship rule picking the golden value of one attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The value from the most trusted source (`survivorship.source_priority`).
    SourcePriority,
    /// The most recently updated value.
    MostRecent,
    /// The value most member records agree on (after normalization).
    MostFrequent,
    /// The longest (most complete) value.
    Longest,
    /// The value of the earliest ingested record.
    FirstNonEmpty,
}

impl Rule {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "source_priority" => Self::SourcePriority,
            "most_recent" => Self::MostRecent,
            "most_frequent" => Self::MostFrequent,
            "longest" => Self::Longest,
            "first_non_empty" => Self::FirstNonEmpty,
            _ => return None,
        })
    }
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Directory of the sled database and the tantivy index.
    pub data_dir: PathBuf,
    /// Largest request body read whole, in bytes (`server.max_body_mb`).
    pub max_body_bytes: usize,
    /// Largest streamed batch body, in bytes (`server.max_batch_body_mb`).
    pub max_batch_body_bytes: usize,
    /// Per-record results and errors listed in a batch reply, each (`server.max_reported`).
    pub max_reported: usize,
    /// Records per chunk (group commit) of a streamed HTTP batch (`server.chunk_records`).
    pub chunk_records: usize,
    /// Records per group commit in bulk loads.
    pub batch_size: usize,
    /// sled page cache in MB of the process that opens the store: `server.cache_mb` for
    /// `serve`, `ingest.cache_mb` for the offline commands ([`Config::for_offline`]).
    pub cache_mb: usize,
    /// `ingest.cache_mb`, kept for [`Config::for_offline`].
    pub ingest_cache_mb: usize,
    /// `ingest.repack_after`: records written by one load from which it ends with a repack of
    /// the store (0: never). See [`crate::engine::Engine::close_after_load`].
    pub repack_after: u64,
    /// Memory budget of the tantivy writer, in MB.
    pub index_memory_mb: usize,
    /// Attributes, sorted by name; [`AttrId`] indexes this.
    pub attributes: Vec<Attribute>,
    /// Sources by name.
    pub sources: BTreeMap<String, Source>,
    /// Matching settings.
    pub matching: MatchingConfig,
    /// Survivorship rule per attribute (indexed by [`AttrId`]).
    pub rules: Vec<Rule>,
    /// Change events kept in the feed.
    pub change_retention: u64,
    /// Days audit entries are kept (`[audit] retention_days`).
    pub audit_retention_days: u64,
    /// Mask per attribute (indexed by [`AttrId`]) for keys without the `pii` scope.
    pub masks: Vec<crate::masking::Mask>,
    /// Encryption at rest (`[encryption]`).
    pub encryption: crate::crypto::EncryptionConfig,
    /// Certificate chain and private key files (PEM) when the API speaks HTTPS
    /// (`server.tls_cert`, `server.tls_key`).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Consent purposes (`[consent] purposes`), in declared order.
    pub purposes: Vec<String>,
    /// Activity sources (`kind = "activity"`), by name: not matched, attached to customers.
    pub activity_sources: BTreeMap<String, ActivitySource>,
    /// `[classification]`, when configured.
    pub classification: Option<crate::classify::Rules>,
    /// `[upkeep] stale_after` in ms: records not updated for longer need re-verification.
    pub stale_after_ms: i64,
}

/// Days after which a record needs re-verification when `[upkeep] stale_after` is not set.
pub const DEFAULT_STALE_AFTER_DAYS: i64 = 365;

/// An activity source: its record key and identifying fields (a [`Source`] whose fields are
/// the probe's attributes) and how its activity is read.
#[derive(Debug, Clone)]
pub struct ActivitySource {
    /// Key field, format and the identifying fields used to resolve the customer by probe.
    pub source: Source,
    /// The activity's own fields.
    pub spec: ActivitySpec,
}

/// Field paths of an activity record (`[sources.<name>.activity]`).
#[derive(Debug, Clone)]
pub struct ActivitySpec {
    /// Constant type (default: the source name).
    pub type_name: String,
    /// Field holding the type.
    pub type_field: Option<String>,
    /// Field holding the time.
    pub at: String,
    /// Extra strftime formats of the time.
    pub at_formats: Vec<String>,
    /// Amount field.
    pub amount: Option<String>,
    /// Currency field.
    pub currency: Option<String>,
    /// Currency when the record names none.
    pub default_currency: Option<String>,
    /// Channel field.
    pub channel: Option<String>,
    /// Product field.
    pub product: Option<String>,
    /// Payment method field.
    pub payment: Option<String>,
    /// Status field.
    pub status: Option<String>,
    /// Free-text field.
    pub text: Option<String>,
    /// Customer reference by identity record: (identity source, field holding its key).
    pub customer_key: Option<(String, String)>,
    /// Types that are complaints (lower case).
    pub complaint_types: Vec<String>,
    /// Statuses that close a complaint (lower case).
    pub closed_statuses: Vec<String>,
}

/// Parses `"365d"`, `"12w"`, `"48h"`, `"30m"` into milliseconds.
pub fn parse_duration_ms(v: &str) -> Option<i64> {
    let v = v.trim();
    let (n, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = n.parse().ok()?;
    let ms = match unit.trim() {
        "d" | "days" => 86_400_000,
        "w" | "weeks" => 7 * 86_400_000,
        "h" | "hours" => 3_600_000,
        "m" | "minutes" => 60_000,
        "s" | "seconds" => 1_000,
        _ => return None,
    };
    n.checked_mul(ms).filter(|x| *x > 0)
}

fn activity_spec(
    key: &str,
    raw: Option<raw::RawActivity>,
    source: &Source,
) -> Result<ActivitySpec, ConfigError> {
    let a = raw.ok_or_else(|| {
        invalid(
            format!("{key}.activity"),
            "an activity source needs an activity table (at least its time field: at = ...)",
        )
    })?;
    let akey = format!("{key}.activity");
    let path = |k: &str, v: Option<String>| -> Result<Option<String>, ConfigError> {
        match v {
            Some(p) if p.trim().is_empty() => {
                Err(invalid(format!("{akey}.{k}"), "empty field path"))
            }
            v => Ok(v),
        }
    };
    if a.at.trim().is_empty() {
        return Err(invalid(format!("{akey}.at"), "empty field path"));
    }
    let customer_key =
        match (
            path("customer_source", a.customer_source)?,
            path("customer_key", a.customer_key)?,
        ) {
            (Some(s), Some(k)) => Some((s, k)),
            (None, None) => None,
            (Some(_), None) => return Err(invalid(
                format!("{akey}.customer_key"),
                "customer_source needs customer_key (the field holding the customer's record key)",
            )),
            (None, Some(_)) => {
                return Err(invalid(
                    format!("{akey}.customer_source"),
                    "customer_key needs customer_source (the identity source it names)",
                ))
            }
        };
    if customer_key.is_none() && source.fields.is_empty() {
        return Err(invalid(
            format!("{key}.fields"),
            "an activity source references its customer by customer_source + customer_key, or by identifying fields (email, phone, name) mapped under fields",
        ));
    }
    if let Some(c) = &a.default_currency {
        if !(c.len() == 3 && c.chars().all(|x| x.is_ascii_uppercase())) {
            return Err(invalid(
                format!("{akey}.default_currency"),
                format!("expected an ISO 4217 code like \"USD\", got {c:?}"),
            ));
        }
    }
    Ok(ActivitySpec {
        type_name: a.type_name.unwrap_or_else(|| source.name.clone()),
        type_field: path("type_field", a.type_field)?,
        at: a.at,
        at_formats: a.at_formats,
        amount: path("amount", a.amount)?,
        currency: path("currency", a.currency)?,
        default_currency: a.default_currency,
        channel: path("channel", a.channel)?,
        product: path("product", a.product)?,
        payment: path("payment", a.payment)?,
        status: path("status", a.status)?,
        text: path("text", a.text)?,
        customer_key,
        complaint_types: a
            .complaint_types
            .unwrap_or_else(|| vec!["complaint".into()])
            .into_iter()
            .map(|t| t.to_lowercase())
            .collect(),
        closed_statuses: a
            .closed_statuses
            .unwrap_or_else(|| {
                ["closed", "resolved", "done", "cancelled"]
                    .map(String::from)
                    .to_vec()
            })
            .into_iter()
            .map(|t| t.to_lowercase())
            .collect(),
    })
}

impl Config {
    /// This config for an offline command (bulk ingest, rematch, compact): the store opens
    /// with `ingest.cache_mb` instead of the server's `server.cache_mb`.
    pub fn for_offline(mut self) -> Self {
        self.cache_mb = self.ingest_cache_mb;
        self
    }

    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Io {
            path: path.to_owned(),
            error,
        })?;
        Self::parse(&text)
    }

    /// Parses and validates config text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| parse_error(text, &e))?;
        Self::from_raw(raw)
    }

    /// Checks that `purpose` is declared in `[consent] purposes`; the error names it and the
    /// declared ones.
    pub fn check_purpose(&self, purpose: &str) -> Result<(), String> {
        if self.purposes.iter().any(|p| p == purpose) {
            return Ok(());
        }
        Err(format!(
            "unknown purpose {purpose:?}: declared purposes are {}",
            if self.purposes.is_empty() {
                "none ([consent] purposes is empty)".to_string()
            } else {
                self.purposes.join(", ")
            }
        ))
    }

    /// Attribute id by name.
    pub fn attr(&self, name: &str) -> Option<AttrId> {
        self.attributes.iter().position(|a| a.name == name)
    }

    /// Checks cross-field rules and resolves names.
    pub fn from_raw(raw: RawConfig) -> Result<Self, ConfigError> {
        let listen: SocketAddr = raw
            .server
            .listen
            .parse()
            .map_err(|e| invalid("server.listen", format!("{e}: {:?}", raw.server.listen)))?;
        if raw.server.data_dir.trim().is_empty() {
            return Err(invalid("server.data_dir", "must not be empty"));
        }
        let mib = |key: &str, v: u64| -> Result<usize, ConfigError> {
            if v == 0 || v > 1 << 20 {
                return Err(invalid(
                    key,
                    format!("must be between 1 and {} (MiB), got {v}", 1 << 20),
                ));
            }
            Ok((v as usize) << 20)
        };
        let max_body_bytes = mib("server.max_body_mb", raw.server.max_body_mb)?;
        let max_batch_body_bytes = mib("server.max_batch_body_mb", raw.server.max_batch_body_mb)?;
        if raw.server.max_reported == 0 {
            return Err(invalid("server.max_reported", "must be at least 1"));
        }
        if raw.server.cache_mb < 16 {
            return Err(invalid("server.cache_mb", "must be at least 16"));
        }
        if raw.ingest.cache_mb < 16 {
            return Err(invalid("ingest.cache_mb", "must be at least 16"));
        }
        if raw.server.chunk_records == 0 {
            return Err(invalid("server.chunk_records", "must be at least 1"));
        }
        if raw.ingest.batch_size == 0 {
            return Err(invalid("ingest.batch_size", "must be at least 1"));
        }
        if raw.ingest.index_memory_mb < 15 {
            return Err(invalid("ingest.index_memory_mb", "must be at least 15"));
        }
        check_date_formats("ingest.date_formats", &raw.ingest.date_formats)?;

        if raw.attributes.is_empty() {
            return Err(invalid("attributes", "at least one attribute is required"));
        }
        let mut attributes = Vec::new();
        for (name, a) in &raw.attributes {
            let key = format!("attributes.{name}");
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(invalid(key, "attribute names use a-z, 0-9 and _ only"));
            }
            let kind = AttrKind::parse(&a.kind).ok_or_else(|| {
                invalid(
                    format!("{key}.kind"),
                    format!(
                        "unknown kind {:?}, expected one of {}",
                        a.kind,
                        AttrKind::NAMES
                    ),
                )
            })?;
            attributes.push(Attribute {
                name: name.clone(),
                kind,
            });
        }
        // Consent purposes.
        let mut purposes: Vec<String> = Vec::new();
        for (i, p) in raw.consent.purposes.iter().enumerate() {
            let key = format!("consent.purposes[{i}]");
            if p.is_empty()
                || !p
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(invalid(
                    key,
                    format!("purpose names use a-z, 0-9 and _ only, got {p:?}"),
                ));
            }
            if purposes.contains(p) {
                return Err(invalid(key, format!("purpose {p:?} is declared twice")));
            }
            purposes.push(p.clone());
        }
        if !purposes.is_empty() && raw.attributes.contains_key("consent") {
            return Err(invalid(
                "attributes.consent",
                "the name consent is reserved for consent statements when [consent] purposes are declared",
            ));
        }
        let find_attr = |key: &str, name: &str| -> Result<AttrId, ConfigError> {
            attributes
                .iter()
                .position(|a| a.name == name)
                .ok_or_else(|| invalid(key, format!("unknown attribute {name:?}")))
        };

        // Sources.
        if raw.sources.is_empty() {
            return Err(invalid("sources", "at least one source is required"));
        }
        for (i, s) in raw.survivorship.source_priority.iter().enumerate() {
            if !raw.sources.contains_key(s) {
                return Err(invalid(
                    format!("survivorship.source_priority[{i}]"),
                    format!("unknown source {s:?}"),
                ));
            }
        }
        let mut sources = BTreeMap::new();
        let mut activity_sources = BTreeMap::new();
        for (name, mut s) in raw.sources {
            let key = format!("sources.{name}");
            let is_activity = match s.kind.as_deref() {
                None | Some("identity") => false,
                Some("activity") => true,
                Some(other) => {
                    return Err(invalid(
                        format!("{key}.kind"),
                        format!("unknown kind {other:?}, expected identity or activity"),
                    ))
                }
            };
            let raw_activity = s.activity.take();
            if raw_activity.is_some() && !is_activity {
                return Err(invalid(
                    format!("{key}.activity"),
                    "only a source with kind = \"activity\" has an activity table",
                ));
            }
            if name.is_empty() || name.contains(['/', '\0', ' ']) {
                return Err(invalid(
                    key,
                    "source names must be non-empty, without '/' or spaces",
                ));
            }
            let format = match s.format.as_str() {
                "csv" => Format::Csv,
                "ndjson" => Format::Ndjson,
                "json" => Format::Json,
                other => {
                    return Err(invalid(
                        format!("{key}.format"),
                        format!("unknown format {other:?}, expected csv, ndjson or json"),
                    ))
                }
            };
            if s.key.trim().is_empty() {
                return Err(invalid(
                    format!("{key}.key"),
                    "must name the record-key field",
                ));
            }
            let default_region = s
                .default_region
                .map(raw::OneOrMany::into_vec)
                .unwrap_or_default();
            for region in &default_region {
                if region.len() != 2 || !region.chars().all(|c| c.is_ascii_uppercase()) {
                    return Err(invalid(
                        format!("{key}.default_region"),
                        format!("expected a two-letter ISO 3166 code like \"US\", got {region:?}"),
                    ));
                }
                if region.parse::<phonenumber::country::Id>().is_err() {
                    return Err(invalid(
                        format!("{key}.default_region"),
                        format!("unknown region {region:?}"),
                    ));
                }
            }
            let date_formats = s
                .date_formats
                .unwrap_or_else(|| raw.ingest.date_formats.clone());
            check_date_formats(&format!("{key}.date_formats"), &date_formats)?;
            let updated_at_formats = s.updated_at_formats.unwrap_or_default();
            let invalid_values = match s.invalid_values.as_deref() {
                None | Some("reject") => InvalidValues::Reject,
                Some("keep_raw") => InvalidValues::KeepRaw,
                Some("drop") => InvalidValues::Drop,
                Some(other) => {
                    return Err(invalid(
                        format!("{key}.invalid_values"),
                        format!("unknown policy {other:?}, expected reject, keep_raw or drop"),
                    ))
                }
            };
            if s.fields.is_empty() && !is_activity {
                return Err(invalid(
                    format!("{key}.fields"),
                    "map at least one attribute",
                ));
            }
            let mut fields = Vec::new();
            for (attr_name, m) in s.fields {
                let fkey = format!("{key}.fields.{attr_name}");
                let attr = find_attr(&fkey, &attr_name)?;
                let mapping = match m {
                    RawMapping::Path(p) if !p.trim().is_empty() => Mapping::Path(p),
                    RawMapping::Path(_) => return Err(invalid(fkey, "empty field path")),
                    RawMapping::Join(ps) if !ps.is_empty() => Mapping::Join(ps),
                    RawMapping::Join(_) => return Err(invalid(fkey, "empty list of fields")),
                    RawMapping::Name(n) => {
                        if attributes[attr].kind != AttrKind::PersonName {
                            return Err(invalid(
                                fkey,
                                "name parts (full/given/family) map only person_name attributes",
                            ));
                        }
                        if n.full.is_none() && n.given.is_none() && n.family.is_none() {
                            return Err(invalid(fkey, "give at least one of full, given, family"));
                        }
                        Mapping::Name {
                            full: n.full,
                            given: n.given,
                            family: n.family,
                        }
                    }
                };
                fields.push((attr, mapping));
            }
            fields.sort_by_key(|(a, _)| *a);
            let mut consent = Vec::new();
            for (purpose, c) in s.consent {
                let ckey = format!("{key}.consent.{purpose}");
                if !purposes.contains(&purpose) {
                    return Err(invalid(
                        ckey,
                        format!(
                            "unknown purpose {purpose:?}: declare it in [consent] purposes (declared: {})",
                            if purposes.is_empty() { "none".to_string() } else { purposes.join(", ") }
                        ),
                    ));
                }
                if c.field.trim().is_empty() {
                    return Err(invalid(format!("{ckey}.field"), "empty field path"));
                }
                if c.at.as_deref().is_some_and(|a| a.trim().is_empty()) {
                    return Err(invalid(format!("{ckey}.at"), "empty field path"));
                }
                consent.push(ConsentField {
                    purpose,
                    field: c.field,
                    at: c.at,
                });
            }
            let priority = raw
                .survivorship
                .source_priority
                .iter()
                .position(|p| p == &name)
                .unwrap_or(usize::MAX);
            let source = Source {
                name: name.clone(),
                format,
                key: s.key,
                default_region,
                date_formats,
                updated_at: s.updated_at,
                updated_at_formats,
                invalid_values,
                fields,
                priority,
                consent,
            };
            if is_activity {
                let spec = activity_spec(&key, raw_activity, &source)?;
                activity_sources.insert(name, ActivitySource { source, spec });
            } else {
                sources.insert(name, source);
            }
        }
        if sources.is_empty() {
            return Err(invalid(
                "sources",
                "at least one identity source (kind = \"identity\", the default) is required",
            ));
        }
        for (name, a) in &activity_sources {
            if let Some((src, _)) = &a.spec.customer_key {
                if !sources.contains_key(src) {
                    return Err(invalid(
                        format!("sources.{name}.activity.customer_source"),
                        format!("unknown identity source {src:?}"),
                    ));
                }
            }
        }
        let stale_after_ms = match raw.upkeep.stale_after.as_deref() {
            None => DEFAULT_STALE_AFTER_DAYS * 86_400_000,
            Some(v) => parse_duration_ms(v).ok_or_else(|| {
                invalid(
                    "upkeep.stale_after",
                    format!("expected a duration like \"365d\", \"12w\" or \"48h\", got {v:?}"),
                )
            })?,
        };
        let classification = match raw.classification {
            None => None,
            Some(c) => Some(crate::classify::Rules::from_raw(c).map_err(|(k, r)| invalid(k, r))?),
        };

        // Matching.
        let m = raw.matching;
        for (k, v) in [
            ("matching.link_threshold", Some(m.link_threshold)),
            ("matching.review_threshold", Some(m.review_threshold)),
            ("matching.prior", m.prior),
        ] {
            let Some(v) = v else { continue };
            if !(v > 0.0 && v < 1.0) {
                return Err(invalid(
                    k,
                    format!("must be a probability strictly between 0 and 1, got {v}"),
                ));
            }
        }
        if m.review_threshold > m.link_threshold {
            return Err(invalid(
                "matching.review_threshold",
                format!(
                    "must not exceed matching.link_threshold ({} > {})",
                    m.review_threshold, m.link_threshold
                ),
            ));
        }
        if m.max_candidates == 0 {
            return Err(invalid("matching.max_candidates", "must be at least 1"));
        }
        let parse_part = |key: &str,
                          attr: AttrId,
                          part: Option<&str>|
         -> Result<Option<NamePart>, ConfigError> {
            match part {
                None => Ok(None),
                Some(p) => {
                    if attributes[attr].kind != AttrKind::PersonName {
                        return Err(invalid(
                            key,
                            "a name part applies only to person_name attributes",
                        ));
                    }
                    match p {
                        "given" => Ok(Some(NamePart::Given)),
                        "family" => Ok(Some(NamePart::Family)),
                        other => Err(invalid(
                            key,
                            format!("unknown name part {other:?}, expected given or family"),
                        )),
                    }
                }
            }
        };
        let mut comparisons = Vec::new();
        for (i, c) in m.comparisons.iter().enumerate() {
            let key = format!("matching.comparisons[{i}]");
            let attr = find_attr(&format!("{key}.attribute"), &c.attribute)?;
            let kind = attributes[attr].kind;
            let part = parse_part(&format!("{key}.part"), attr, c.part.as_deref())?;
            if kind == AttrKind::PersonName && part.is_none() {
                return Err(invalid(
                    format!("{key}.part"),
                    "person_name comparisons need part = \"given\" or \"family\"",
                ));
            }
            let method = match &c.method {
                None => Method::default_for(kind),
                Some(s) => Method::parse(s).ok_or_else(|| {
                    invalid(format!("{key}.method"), format!("unknown method {s:?}"))
                })?,
            };
            if !method.accepts(kind) {
                return Err(invalid(
                    format!("{key}.method"),
                    format!("method {method:?} cannot compare {kind:?} attributes"),
                ));
            }
            if let Some(levels) = &c.levels {
                for (j, [mp, up]) in levels.iter().enumerate() {
                    if !(*mp > 0.0 && *mp <= 1.0 && *up > 0.0 && *up <= 1.0) {
                        return Err(invalid(
                            format!("{key}.levels[{j}]"),
                            "m and u must be in (0, 1]",
                        ));
                    }
                }
            }
            comparisons.push(ComparisonConfig {
                attr,
                part,
                method,
                levels: c.levels.clone(),
                term_frequency: c.term_frequency,
                location: c.location,
            });
        }
        if comparisons.is_empty() {
            comparisons = default_comparisons(&attributes);
        }
        let mut blocking = Vec::new();
        for (i, rule) in m.blocking.iter().enumerate() {
            let key = format!("matching.blocking[{i}]");
            let mut parts = Vec::new();
            for p in rule.split('+').map(str::trim) {
                let (name, part) = match p.split_once('.') {
                    Some((n, part)) => (n, Some(part)),
                    None => (p, None),
                };
                let attr = find_attr(&key, name)?;
                let part = parse_part(&key, attr, part)?;
                parts.push(KeyPart { attr, part });
            }
            blocking.push(BlockingRule {
                label: rule.replace(' ', ""),
                parts,
            });
        }
        if blocking.is_empty() {
            blocking = default_blocking(&attributes);
        }

        // Survivorship.
        let default_rule = match &raw.survivorship.default {
            None => Rule::MostFrequent,
            Some(s) => Rule::parse(s)
                .ok_or_else(|| invalid("survivorship.default", format!("unknown rule {s:?}")))?,
        };
        let mut rules = vec![default_rule; attributes.len()];
        for (name, r) in &raw.survivorship.rules {
            let key = format!("survivorship.rules.{name}");
            let attr = find_attr(&key, name)?;
            rules[attr] = Rule::parse(r).ok_or_else(|| {
                invalid(
                    &key,
                    format!("unknown rule {r:?}, expected source_priority, most_recent, most_frequent, longest or first_non_empty"),
                )
            })?;
        }
        if rules.contains(&Rule::SourcePriority) && raw.survivorship.source_priority.is_empty() {
            return Err(invalid(
                "survivorship.source_priority",
                "the source_priority rule needs a list of sources, most trusted first",
            ));
        }

        if raw.changes.retention == 0 {
            return Err(invalid("changes.retention", "must keep at least 1 event"));
        }
        let mut masks: Vec<crate::masking::Mask> = attributes
            .iter()
            .map(|a| crate::masking::Mask::default_for(a.kind))
            .collect();
        for (name, policy) in &raw.masking {
            let key = format!("masking.{name}");
            let i = attributes
                .iter()
                .position(|a| &a.name == name)
                .ok_or_else(|| invalid(&key, format!("no attribute {name:?}")))?;
            masks[i] = crate::masking::Mask::parse(policy).ok_or_else(|| {
                invalid(
                    &key,
                    format!(
                        "unknown policy {policy:?}, expected one of {}",
                        crate::masking::Mask::NAMES
                    ),
                )
            })?;
        }
        if raw.audit.retention_days == 0 {
            return Err(invalid("audit.retention_days", "must keep at least 1 day"));
        }
        if raw.encryption.key_env.as_deref() == Some("") {
            return Err(invalid("encryption.key_env", "names no variable"));
        }
        if raw.encryption.key_file.as_deref() == Some("") {
            return Err(invalid("encryption.key_file", "names no file"));
        }
        let tls = match (raw.server.tls_cert, raw.server.tls_key) {
            (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
            (None, None) => None,
            (Some(_), None) => return Err(invalid("server.tls_key", "tls_cert needs tls_key")),
            (None, Some(_)) => return Err(invalid("server.tls_cert", "tls_key needs tls_cert")),
        };
        Ok(Self {
            tls,
            purposes,
            encryption: crate::crypto::EncryptionConfig {
                enabled: raw.encryption.enabled,
                key_env: raw
                    .encryption
                    .key_env
                    .or_else(|| Some(crate::crypto::DEFAULT_KEY_ENV.into())),
                key_file: raw.encryption.key_file.map(PathBuf::from),
            },
            audit_retention_days: raw.audit.retention_days,
            masks,
            change_retention: raw.changes.retention,
            listen,
            data_dir: PathBuf::from(raw.server.data_dir),
            max_body_bytes,
            max_batch_body_bytes,
            max_reported: raw.server.max_reported,
            chunk_records: raw.server.chunk_records,
            batch_size: raw.ingest.batch_size,
            cache_mb: raw.server.cache_mb,
            ingest_cache_mb: raw.ingest.cache_mb,
            repack_after: raw.ingest.repack_after,
            index_memory_mb: raw.ingest.index_memory_mb,
            attributes,
            sources,
            activity_sources,
            classification,
            stale_after_ms,
            matching: MatchingConfig {
                link_threshold: m.link_threshold,
                review_threshold: m.review_threshold,
                prior: m.prior,
                max_candidates: m.max_candidates,
                blocking,
                comparisons,
            },
            rules,
        })
    }
}

fn check_date_formats(key: &str, formats: &[String]) -> Result<(), ConfigError> {
    if formats.is_empty() {
        return Err(invalid(key, "give at least one date format"));
    }
    for (i, f) in formats.iter().enumerate() {
        let items: Vec<_> = chrono::format::StrftimeItems::new(f).collect();
        if items
            .iter()
            .any(|it| matches!(it, chrono::format::Item::Error))
        {
            return Err(invalid(
                format!("{key}[{i}]"),
                format!("bad strftime format {f:?}"),
            ));
        }
    }
    Ok(())
}

/// One comparison per attribute (two for person names) with the kind's default method.
fn default_comparisons(attributes: &[Attribute]) -> Vec<ComparisonConfig> {
    let mut out = Vec::new();
    for (attr, a) in attributes.iter().enumerate() {
        let parts: &[Option<NamePart>] = if a.kind == AttrKind::PersonName {
            &[Some(NamePart::Given), Some(NamePart::Family)]
        } else {
            &[None]
        };
        for &part in parts {
            out.push(ComparisonConfig {
                attr,
                part,
                method: Method::default_for(a.kind),
                levels: None,
                term_frequency: None,
                location: None,
            });
        }
    }
    out
}

/// Blocking rules that catch typical duplicates: exact contact keys, the name alone, and the
/// name's parts combined with a date, a postcode or each other.
fn default_blocking(attributes: &[Attribute]) -> Vec<BlockingRule> {
    let of = |k: AttrKind| attributes.iter().position(|a| a.kind == k);
    let mut rules: Vec<Vec<KeyPart>> = Vec::new();
    let whole = |attr| KeyPart { attr, part: None };
    for k in [AttrKind::Email, AttrKind::Phone, AttrKind::Identifier] {
        for (attr, a) in attributes.iter().enumerate() {
            if a.kind == k {
                rules.push(vec![whole(attr)]);
            }
        }
    }
    if let Some(name) = of(AttrKind::PersonName) {
        let family = KeyPart {
            attr: name,
            part: Some(NamePart::Family),
        };
        let given = KeyPart {
            attr: name,
            part: Some(NamePart::Given),
        };
        rules.push(vec![whole(name)]);
        for k in [AttrKind::Date, AttrKind::Postcode, AttrKind::Address] {
            if let Some(a) = of(k) {
                rules.push(vec![family, whole(a)]);
                rules.push(vec![given, whole(a)]);
            }
        }
    }
    if let (Some(d), Some(p)) = (of(AttrKind::Date), of(AttrKind::Postcode)) {
        rules.push(vec![whole(d), whole(p)]);
    }
    rules
        .into_iter()
        .map(|parts| BlockingRule {
            label: parts
                .iter()
                .map(|p| match p.part {
                    None => attributes[p.attr].name.clone(),
                    Some(NamePart::Given) => format!("{}.given", attributes[p.attr].name),
                    Some(NamePart::Family) => format!("{}.family", attributes[p.attr].name),
                })
                .collect::<Vec<_>>()
                .join("+"),
            parts,
        })
        .collect()
}
