//! The audit log: one [`AuditEntry`] per request that needed a key (allowed or refused),
//! naming the key, the route, the entity or record it concerned, the status and whether
//! personal data was read, appended to the sled tree `audit` by one [`Auditor`] thread.
//!
//! Entries are written after the handler answered: a change and its entry are two writes,
//! not one transaction, and entries still queued when the process dies are lost. The
//! thread writes what is queued in one sled batch with one flush, so requests never wait for
//! the audit's disk write. Entries older than `[audit] retention_days` are removed at start
//! and every [`PRUNE_EVERY`].

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::Engine;

/// How often old entries are pruned.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Most entries `GET /v1/audit` returns at once.
pub const MAX_LIMIT: usize = 10_000;

/// One audited request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When the answer was sent.
    pub at: DateTime<Utc>,
    /// Name of the key (absent for a request refused without a valid key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Id of the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// HTTP method.
    pub method: String,
    /// Route template, e.g. `/v1/entities/{id}`.
    pub route: String,
    /// Path as requested (holds the entity id, source and record key, decision id).
    pub path: String,
    /// HTTP status answered.
    pub status: u16,
    /// `ok` (2xx, 3xx), `refused` (401, 403) or `failed` (other errors).
    pub outcome: String,
    /// Whether the answer carried personal data in clear: a successful reader or steward
    /// route answered to a key with the `pii` scope (other keys get masked values).
    pub personal_data: bool,
    /// For a steward write: its query string and JSON body (decision, records, claimed
    /// actor, reason), `value` fields left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<serde_json::Value>,
}

/// Queue to the audit thread. Cloned into the guard middleware; the thread ends when the
/// last clone is dropped.
#[derive(Clone)]
pub struct Auditor {
    tx: mpsc::Sender<AuditEntry>,
}

impl Auditor {
    /// Starts the audit thread over `engine`.
    pub fn start(engine: Arc<Engine>) -> Self {
        let (tx, rx) = mpsc::channel::<AuditEntry>();
        let retention = Duration::from_secs(engine.config.audit_retention_days * 86_400);
        std::thread::Builder::new()
            .name("goldrec-audit".into())
            .spawn(move || {
                let mut pruned: Option<Instant> = None;
                loop {
                    if pruned.is_none_or(|t| t.elapsed() > PRUNE_EVERY) {
                        let before = Utc::now() - retention;
                        if let Err(e) = engine.prune_audit(before.timestamp_millis().max(0) as u64)
                        {
                            tracing::error!(error = %e, "pruning the audit log");
                        }
                        pruned = Some(Instant::now());
                    }
                    let first = match rx.recv_timeout(PRUNE_EVERY) {
                        Ok(e) => e,
                        Err(mpsc::RecvTimeoutError::Timeout) => continue,
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    };
                    let entries: Vec<(u64, Vec<u8>)> = std::iter::once(first)
                        .chain(rx.try_iter())
                        .map(|e| {
                            (
                                e.at.timestamp_millis().max(0) as u64,
                                serde_json::to_vec(&e).expect("audit entries serialize"),
                            )
                        })
                        .collect();
                    if let Err(e) = engine.append_audit(&entries) {
                        tracing::error!(error = %e, lost = entries.len(), "writing the audit log");
                    }
                }
            })
            .expect("the audit thread starts");
        Self { tx }
    }

    /// Queues an entry (never blocks).
    pub fn record(&self, entry: AuditEntry) {
        if self.tx.send(entry).is_err() {
            tracing::error!("the audit thread stopped: an entry is lost");
        }
    }
}

/// Entries at or after `since`, oldest first, of `actor` when given, at most `limit`.
pub fn query(
    engine: &Engine,
    since: Option<DateTime<Utc>>,
    actor: Option<&str>,
    limit: usize,
) -> Result<Vec<AuditEntry>, crate::store::StoreError> {
    let since_ms = since.map_or(0, |t| t.timestamp_millis().max(0) as u64);
    let mut out = Vec::new();
    for v in engine.reads().audit_since(since_ms) {
        let v = v?;
        let e: AuditEntry =
            serde_json::from_slice(&v).map_err(|e| crate::store::StoreError::Corrupt {
                tree: crate::store::trees::AUDIT,
                reason: e.to_string(),
            })?;
        if actor.is_none_or(|a| e.actor.as_deref() == Some(a)) {
            out.push(e);
            if out.len() >= limit {
                break;
            }
        }
    }
    Ok(out)
}
