//! goldrec: master data management and deduplication for customer records.
//!
//! Companies hold the same customer in many systems. goldrec takes their feeds, finds the
//! records that describe the same customer and keeps one trusted golden record per customer,
//! with the evidence for every value.
//!
//! # Concepts
//! - **Source record**: one record of one source system, identified by (source, key); its
//!   [`ingest::RecordId`] is a blake3 hash of both, its content hash detects changes.
//! - **Profile**: the normalized, comparable form of a source record ([`ingest::profile`]).
//! - **Candidate**: a record that shares a blocking key with an incoming one; not yet a match.
//! - **Comparison**: one attribute compared at ordered levels, each with m/u probabilities.
//! - **Entity**: the set of source records judged to be one customer; its id is stable, and
//!   an entity merged into an older one redirects to it.
//! - **Golden record**: per attribute, the value chosen from the members by a survivorship
//!   rule, with **lineage**: which record and source supplied it, under which rule, when.
//!
//! # Data flow
//! 1. [`config`]: the TOML file, validated.
//! 2. [`ingest`]: CSV / NDJSON / JSON payloads -> [`ingest::SourceRecord`] -> profile,
//!    using the per-kind rules of [`normalize`].
//! 3. [`blocking`]: blocking keys and the tantivy index that returns candidates.
//! 4. [`matching`]: Fellegi-Sunter scoring of candidate pairs, with explanations.
//! 5. [`cluster`]: entity membership for a batch, without chaining.
//! 6. [`survivorship`]: golden values and lineage; [`consent`]: the most restrictive
//!    current consent per purpose.
//! 7. [`store`]: sled trees, one transaction and one flush per batch.
//! 8. [`engine`]: the orchestration of 2-7 and group commit; [`steward`]: steward decisions
//!    checked for contradictions before they apply.
//! 9. [`api`]: the axum HTTP API (with the change feed), every route behind an API key
//!    and role ([`auth`]); [`export`]: golden records in bulk;
//!    [`eval`]: quality against a truth file; [`metrics`]: Prometheus counters and
//!    histograms of ingest, batches and HTTP requests.

/// Every binary and test linking goldrec allocates through mimalloc (see Cargo.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod activity;
pub mod api;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod blocking;
pub mod classify;
pub mod cluster;
pub mod config;
pub mod consent;
pub mod crypto;
pub mod engine;
pub mod eval;
pub mod export;
pub mod ingest;
pub mod masking;
pub mod matching;
pub mod metrics;
pub mod normalize;
pub mod overview;
pub mod pipeline;
pub mod quality;
pub mod steward;
pub mod store;
pub mod survivorship;
pub mod upkeep;
pub mod web;
