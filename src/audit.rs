//! The audit log: one [`AuditEntry`] per request that needed a key (allowed or refused),
//! naming the key, the route, the entity or record it concerned, the status and whether
//! personal data was read, appended to the sled tree `audit` by one [`Auditor`] thread.
//!
//! A write request's entry is committed in the transaction of the change it causes: the
//! guard opens a [`Draft`] for the request ([`in_request`]), the API's blocking calls carry it
//! to the thread that calls the engine ([`with_drafts`]), and the engine adds it to the
//! batch's write set ([`drafts`]); the group-commit writer carries the drafts of every job it
//! batches. Such entries say `in_transaction: true`. Every other guarded request (reads,
//! refusals, failures, key management) is queued after the answer to one [`Auditor`] thread
//! that writes what is queued in one sled batch with one flush, so requests never wait for
//! that disk write (entries still queued when the process dies are lost). Entries older than
//! `[audit] retention_days` are removed at start and every [`PRUNE_EVERY`].

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::Engine;

/// How often old entries are pruned.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// The audit thread writes (one sled batch and flush) at most once per this interval: under
/// thousands of reads a second, a flush per few entries was a quarter of the server's CPU.
/// Entries still queued when the process dies are lost, so this is also the longest extra
/// time an entry waits.
pub const WRITE_EVERY: Duration = Duration::from_millis(50);

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
    /// HTTP status answered; absent on an entry written in its change's transaction
    /// (`in_transaction`), which is before the answer (a 200 or 201 then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `ok` (2xx, 3xx), `refused` (401, 403) or `failed` (other errors).
    pub outcome: String,
    /// Whether the answer carried personal data in clear: a successful reader or steward
    /// route answered to a key with the `pii` scope (other keys get masked values).
    pub personal_data: bool,
    /// For a steward write: its query string and JSON body (decision, records, claimed
    /// actor, reason), `value` fields left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<serde_json::Value>,
    /// Written in the transaction of the change it records (the time is the commit's).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_transaction: bool,
    /// Which commit of the request this is, when it made several (a streamed batch commits
    /// one chunk at a time): 1, 2, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<u32>,
}

/// The entry of a write request, waiting for the transaction of the change it causes.
#[derive(Debug, Clone)]
pub struct Draft {
    entry: Arc<AuditEntry>,
    committed: Arc<AtomicBool>,
    /// Commits that wrote the entry so far.
    parts: Arc<std::sync::atomic::AtomicU32>,
}

impl Draft {
    /// A draft of `entry` (its status and outcome as if the write succeeds).
    pub fn new(entry: AuditEntry) -> Self {
        Self {
            entry: Arc::new(entry),
            committed: Arc::default(),
            parts: Arc::default(),
        }
    }

    /// The entry as committed now: (time in ms, JSON); numbered from the second commit of the
    /// same request on.
    pub fn stored(&self) -> (u64, Vec<u8>) {
        let mut e = (*self.entry).clone();
        e.at = Utc::now();
        e.in_transaction = true;
        let part = self.parts.fetch_add(1, Ordering::AcqRel) + 1;
        e.part = (part > 1).then_some(part);
        (
            e.at.timestamp_millis().max(0) as u64,
            serde_json::to_vec(&e).expect("audit entries serialize"),
        )
    }

    /// Marks the entry committed with a change.
    pub fn mark_committed(&self) {
        self.committed.store(true, Ordering::Release);
    }

    /// Whether a change committed the entry.
    pub fn committed(&self) -> bool {
        self.committed.load(Ordering::Acquire)
    }
}

tokio::task_local! {
    static REQUEST: Draft;
}

thread_local! {
    static THREAD: RefCell<Vec<Draft>> = const { RefCell::new(Vec::new()) };
}

/// Runs a request's handler with its draft in scope.
pub async fn in_request<F: std::future::Future>(draft: Draft, f: F) -> F::Output {
    REQUEST.scope(draft, f).await
}

/// The draft of the request this task serves, if any.
pub fn of_request() -> Option<Draft> {
    REQUEST.try_with(Clone::clone).ok()
}

/// Runs `f` on this thread with `drafts` as the entries its writes commit; the thread's
/// previous drafts are back afterwards, even if `f` panics (threads are pooled).
pub fn with_drafts<T>(drafts: Vec<Draft>, f: impl FnOnce() -> T) -> T {
    struct Restore(Vec<Draft>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let before = std::mem::take(&mut self.0);
            THREAD.with(|t| t.replace(before));
        }
    }
    let _restore = Restore(THREAD.with(|t| t.replace(drafts)));
    f()
}

/// The drafts the writes of this thread commit ([`with_drafts`]).
pub fn drafts() -> Vec<Draft> {
    THREAD.with(|t| t.borrow().clone())
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
                let mut written: Option<Instant> = None;
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
                    // Entries arriving meanwhile go into the same write.
                    if let Some(wait) = written.and_then(|w| WRITE_EVERY.checked_sub(w.elapsed())) {
                        std::thread::sleep(wait);
                    }
                    written = Some(Instant::now());
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
