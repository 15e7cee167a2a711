//! The configuration file as written: serde types that mirror the TOML one to one.
//!
//! Every table denies unknown keys, so a typo is an error that names the key instead of a
//! setting silently ignored. Cross-field rules are checked in [`super::Config::from_raw`].

use std::collections::BTreeMap;

use serde::Deserialize;

/// Root of `goldrec.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub ingest: RawIngest,
    pub attributes: BTreeMap<String, RawAttribute>,
    pub sources: BTreeMap<String, RawSource>,
    #[serde(default)]
    pub matching: RawMatching,
    #[serde(default)]
    pub survivorship: RawSurvivorship,
    #[serde(default)]
    pub changes: RawChanges,
    #[serde(default)]
    pub audit: RawAudit,
    /// `[masking]`: attribute name -> policy name.
    #[serde(default)]
    pub masking: BTreeMap<String, String>,
    #[serde(default)]
    pub encryption: RawEncryption,
    #[serde(default)]
    pub consent: RawConsent,
    /// `[classification]`: rules computing named attributes per entity from its activity.
    #[serde(default)]
    pub classification: Option<RawClassification>,
    /// `[upkeep]`: freshness of the customer file.
    #[serde(default)]
    pub upkeep: RawUpkeep,
}

/// `[upkeep]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpkeep {
    /// A record not updated for this long needs re-verification (`"365d"`, `"12w"`, `"48h"`).
    #[serde(default)]
    pub stale_after: Option<String>,
}

/// `[sources.<name>.activity]`: how an activity record is read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawActivity {
    /// Constant activity type (`order`, `ticket`, ...); default: the source name.
    #[serde(default, rename = "type")]
    pub type_name: Option<String>,
    /// Field holding the activity type (wins over `type` when present in a record).
    #[serde(default)]
    pub type_field: Option<String>,
    /// Field holding the activity's time.
    pub at: String,
    /// strftime formats of `at` besides RFC 3339 and ISO dates.
    #[serde(default)]
    pub at_formats: Vec<String>,
    #[serde(default)]
    pub amount: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub default_currency: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub product: Option<String>,
    #[serde(default)]
    pub payment: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    /// Identity source the customer reference names (with `customer_key`).
    #[serde(default)]
    pub customer_source: Option<String>,
    /// Field holding the customer's record key in `customer_source`.
    #[serde(default)]
    pub customer_key: Option<String>,
    /// Activity types that are complaints (default `["complaint"]`).
    #[serde(default)]
    pub complaint_types: Option<Vec<String>>,
    /// Statuses that close a complaint (default closed, resolved, done, cancelled).
    #[serde(default)]
    pub closed_statuses: Option<Vec<String>>,
}

/// `[classification]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClassification {
    /// Currency of `monetary` (default `USD`); amounts in others count through `rates`.
    #[serde(default)]
    pub currency: Option<String>,
    /// Units of `currency` per unit of another currency.
    #[serde(default)]
    pub rates: BTreeMap<String, f64>,
    #[serde(default)]
    pub rfm: Option<RawRfm>,
    #[serde(default)]
    pub lifecycle: Option<RawLifecycle>,
    #[serde(default)]
    pub value_tier: Option<RawTier>,
    #[serde(default)]
    pub scorecards: BTreeMap<String, RawScorecard>,
    /// Segment name -> { result = value, ... } (all must hold).
    #[serde(default)]
    pub segments: BTreeMap<String, BTreeMap<String, String>>,
    /// How often a running server reclassifies every customer ("24h" by default, "off").
    #[serde(default)]
    pub refresh: Option<String>,
}

/// `[classification.rfm]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRfm {
    pub recency: RawBands,
    pub frequency: RawBands,
    pub monetary: RawBands,
}

/// Fixed band boundaries (four, ascending) or quantile bands over the store's entities.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBands {
    #[serde(default)]
    pub bands: Option<Vec<f64>>,
    #[serde(default)]
    pub quantiles: bool,
}

/// `[classification.lifecycle]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLifecycle {
    pub new_days: f64,
    pub active_days: f64,
    pub lapsed_days: f64,
}

/// `[classification.value_tier]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTier {
    #[serde(default)]
    pub field: Option<String>,
    /// Tier name -> lowest value of the field in it.
    pub tiers: BTreeMap<String, f64>,
}

/// `[classification.scorecards.<name>]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScorecard {
    pub factors: Vec<RawFactor>,
    /// Grade name -> lowest score in it.
    #[serde(default)]
    pub grades: BTreeMap<String, f64>,
}

/// One factor of a scorecard: `[upper bound, points]` bands, first that holds wins.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFactor {
    pub field: String,
    pub bands: Vec<[f64; 2]>,
    #[serde(default)]
    pub otherwise: f64,
    #[serde(default)]
    pub missing: f64,
}

/// `[consent]`: the purposes consent is tracked for.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConsent {
    #[serde(default)]
    pub purposes: Vec<String>,
}

/// `[sources.<name>.consent.<purpose>]`: the field holding the statement, and its time.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConsentField {
    pub field: String,
    #[serde(default)]
    pub at: Option<String>,
}

/// `[encryption]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEncryption {
    #[serde(default = "default_true")]
    pub enabled: bool,
    pub key_env: Option<String>,
    pub key_file: Option<String>,
}

impl Default for RawEncryption {
    fn default() -> Self {
        Self {
            enabled: true,
            key_env: None,
            key_file: None,
        }
    }
}

fn default_true() -> bool {
    true
}

/// `[audit]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    #[serde(default = "default_audit_retention_days")]
    pub retention_days: u64,
}

impl Default for RawAudit {
    fn default() -> Self {
        Self {
            retention_days: default_audit_retention_days(),
        }
    }
}

fn default_audit_retention_days() -> u64 {
    super::DEFAULT_AUDIT_RETENTION_DAYS
}

/// `[changes]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChanges {
    #[serde(default = "default_retention")]
    pub retention: u64,
}

impl Default for RawChanges {
    fn default() -> Self {
        Self {
            retention: default_retention(),
        }
    }
}

fn default_retention() -> u64 {
    super::DEFAULT_CHANGE_RETENTION
}

/// `[server]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    #[serde(default = "default_listen")]
    pub listen: String,
    #[serde(default = "default_data_dir")]
    pub data_dir: String,
    #[serde(default = "default_max_body_mb")]
    pub max_body_mb: u64,
    #[serde(default = "default_max_batch_body_mb")]
    pub max_batch_body_mb: u64,
    #[serde(default = "default_max_reported")]
    pub max_reported: usize,
    #[serde(default = "default_chunk_records")]
    pub chunk_records: usize,
    #[serde(default = "default_server_cache_mb")]
    pub cache_mb: usize,
    /// PEM certificate chain: with `tls_key`, the API speaks HTTPS only.
    pub tls_cert: Option<String>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<String>,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            data_dir: default_data_dir(),
            max_body_mb: default_max_body_mb(),
            max_batch_body_mb: default_max_batch_body_mb(),
            max_reported: default_max_reported(),
            chunk_records: default_chunk_records(),
            cache_mb: default_server_cache_mb(),
            tls_cert: None,
            tls_key: None,
        }
    }
}

fn default_max_body_mb() -> u64 {
    super::DEFAULT_MAX_BODY_MB
}

fn default_max_batch_body_mb() -> u64 {
    super::DEFAULT_MAX_BATCH_BODY_MB
}

fn default_max_reported() -> usize {
    super::DEFAULT_MAX_REPORTED
}

fn default_chunk_records() -> usize {
    super::DEFAULT_CHUNK_RECORDS
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

fn default_data_dir() -> String {
    "data".into()
}

/// `[ingest]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIngest {
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    #[serde(default = "default_date_formats")]
    pub date_formats: Vec<String>,
    #[serde(default = "default_index_memory_mb")]
    pub index_memory_mb: usize,
    #[serde(default = "default_ingest_cache_mb")]
    pub cache_mb: usize,
    #[serde(default = "default_repack_after")]
    pub repack_after: u64,
}

impl Default for RawIngest {
    fn default() -> Self {
        Self {
            batch_size: default_batch_size(),
            date_formats: default_date_formats(),
            index_memory_mb: default_index_memory_mb(),
            cache_mb: default_ingest_cache_mb(),
            repack_after: default_repack_after(),
        }
    }
}

fn default_repack_after() -> u64 {
    super::DEFAULT_REPACK_AFTER
}

fn default_batch_size() -> usize {
    super::DEFAULT_BATCH_SIZE
}

fn default_server_cache_mb() -> usize {
    super::DEFAULT_SERVER_CACHE_MB
}

fn default_ingest_cache_mb() -> usize {
    super::DEFAULT_INGEST_CACHE_MB
}

fn default_index_memory_mb() -> usize {
    super::DEFAULT_INDEX_MEMORY_MB
}

/// Date formats tried when a source names none: ISO first, then compact, then day-first.
pub fn default_date_formats() -> Vec<String> {
    ["%Y-%m-%d", "%Y%m%d", "%d/%m/%Y", "%d.%m.%Y"]
        .into_iter()
        .map(String::from)
        .collect()
}

/// `[attributes.<name>]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAttribute {
    pub kind: String,
}

/// A value that may be written alone or as a list (`"US"` or `["US", "CN"]`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One value.
    One(String),
    /// Several values, in order.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values, in order.
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

/// `[sources.<name>]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    /// `identity` (default) or `activity`.
    #[serde(default)]
    pub kind: Option<String>,
    /// `[sources.<name>.activity]`, for `kind = "activity"`.
    #[serde(default)]
    pub activity: Option<RawActivity>,
    pub format: String,
    pub key: String,
    #[serde(default)]
    pub default_region: Option<OneOrMany>,
    #[serde(default)]
    pub date_formats: Option<Vec<String>>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub updated_at_formats: Option<Vec<String>>,
    #[serde(default)]
    pub invalid_values: Option<String>,
    #[serde(default)]
    pub fields: BTreeMap<String, RawMapping>,
    /// Purpose -> consent field.
    #[serde(default)]
    pub consent: BTreeMap<String, RawConsentField>,
}

/// How an attribute is read from a source record: one path, several paths joined with a space,
/// or the parts of a person name.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawMapping {
    Path(String),
    Join(Vec<String>),
    Name(RawNameMapping),
}

/// Parts of a person name spread over several source fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNameMapping {
    #[serde(default)]
    pub full: Option<String>,
    #[serde(default)]
    pub given: Option<String>,
    #[serde(default)]
    pub family: Option<String>,
}

/// `[matching]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatching {
    #[serde(default = "default_link")]
    pub link_threshold: f64,
    #[serde(default = "default_review")]
    pub review_threshold: f64,
    #[serde(default)]
    pub prior: Option<f64>,
    #[serde(default = "default_max_candidates")]
    pub max_candidates: usize,
    #[serde(default)]
    pub blocking: Vec<String>,
    #[serde(default)]
    pub comparisons: Vec<RawComparison>,
}

impl Default for RawMatching {
    fn default() -> Self {
        Self {
            link_threshold: default_link(),
            review_threshold: default_review(),
            prior: None,
            max_candidates: default_max_candidates(),
            blocking: Vec::new(),
            comparisons: Vec::new(),
        }
    }
}

fn default_link() -> f64 {
    super::DEFAULT_LINK_THRESHOLD
}

fn default_review() -> f64 {
    super::DEFAULT_REVIEW_THRESHOLD
}

fn default_max_candidates() -> usize {
    super::DEFAULT_MAX_CANDIDATES
}

/// `[[matching.comparisons]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawComparison {
    pub attribute: String,
    #[serde(default)]
    pub part: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    /// Optional `[m, u]` per level, overriding the method's defaults, in level order.
    #[serde(default)]
    pub levels: Option<Vec<[f64; 2]>>,
    /// Term-frequency adjustment of the exact level (default: on for names, text, postcodes, emails and phones).
    #[serde(default)]
    pub term_frequency: Option<bool>,
    /// Part of the location group (default: addresses and postcodes).
    #[serde(default)]
    pub location: Option<bool>,
}

/// `[survivorship]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSurvivorship {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub source_priority: Vec<String>,
    #[serde(default)]
    pub rules: BTreeMap<String, String>,
}
