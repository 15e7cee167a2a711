//! Downstream sync: the ordered change feed (with long-poll), the streaming bulk export and
//! batch look-up of source keys.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::error::{blocking, ApiError};
use super::extract::Query;
use super::AppState;
use crate::export::{self, ExportError, Format};
use crate::ingest::RecordId;

/// Default and largest number of events per feed page.
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 10_000;
/// Longest long-poll wait.
const MAX_WAIT_SECS: u64 = 60;
/// Most source keys per look-up call.
const MAX_LOOKUP: usize = 10_000;
/// Export chunks buffered between the reader thread and the response.
const EXPORT_BUFFER: usize = 16;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/changes", get(changes))
        .route("/v1/export", get(export_all))
        .route("/v1/lookup", post(lookup))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct FeedQuery {
    /// Events after this sequence number (0: from the start).
    after: Option<u64>,
    /// Events per page.
    limit: Option<usize>,
    /// Seconds to wait for a change when none is available yet (long-poll).
    wait: Option<u64>,
    /// Only events of entities granted for this consent purpose after the change or before it
    /// (an entity whose consent is withdrawn shows once more, without golden values or
    /// members, so a consumer drops it). next_after still advances over the events left out.
    purpose: Option<String>,
}

/// Change feed.
#[utoipa::path(
    get,
    path = "/v1/changes",
    tag = "changes",
    summary = "Change feed: events after a sequence number, in commit order",
    description = "Every committed change to a golden record, with a global gap-free sequence number. Resume from the last sequence you applied. wait=N long-polls up to N seconds (60 at most) for the next change. purpose=P keeps the events of entities granted for P after or before the change (a withdrawal shows, with consent_was and without golden values or members).",
    params(FeedQuery),
    responses(
        (status = 200, description = "events (ChangeEvent), next_after and latest", body = Object),
        (status = 400, description = "invalid_parameter; unknown_purpose: a purpose not declared in [consent] purposes", body = super::openapi::ErrorBody),
        (status = 410, description = "events after this sequence are no longer kept: re-snapshot with /v1/export", body = super::openapi::ErrorBody),
    )
)]
async fn changes(
    State(s): State<AppState>,
    Query(q): Query<FeedQuery>,
) -> Result<Json<Value>, ApiError> {
    if let Some(p) = &q.purpose {
        s.engine
            .config
            .check_purpose(p)
            .map_err(|m| ApiError::bad_request("unknown_purpose", m))?;
    }
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let wait = Duration::from_secs(q.wait.unwrap_or(0).min(MAX_WAIT_SECS));
    if !wait.is_zero() {
        s.engine.wait_for_changes(after, wait).await;
    }
    blocking(move || {
        let store = s.engine.reads();
        let latest = store.last_change_seq()?;
        let oldest = store.oldest_change_seq()?;
        // Events after `after` are gone when the oldest kept one is further on.
        if let Some(oldest) = oldest {
            if after + 1 < oldest && after < latest {
                return Err(ApiError::new(
                    StatusCode::GONE,
                    "changes_expired",
                    format!(
                        "events after {after} are no longer kept (oldest is {oldest}): re-snapshot with GET /v1/export and follow the feed from the sequence it states"
                    ),
                ));
            }
        }
        let mut events = store.changes_after(after, limit)?;
        let next = events.last().map_or(after, |e| e.seq);
        if let Some(p) = &q.purpose {
            events.retain(|e| e.concerns(p));
            // An event that ends the grant tells the consumer which entity to drop, and
            // nothing more: no personal data goes out for a purpose the customer refused.
            for e in &mut events {
                if crate::consent::ConsentState::Granted != e.consent.get(p).copied().unwrap_or(crate::consent::ConsentState::Unknown) {
                    e.golden.clear();
                    e.members.clear();
                    e.joined.clear();
                    e.left.clear();
                }
            }
        }
        Ok(Json(json!({"events": events, "next_after": next, "latest": latest})))
    })
    .await
}

/// Export format (the handler reads it as a string).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum ExportFormat {
    Ndjson,
    Csv,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ExportQuery {
    /// ndjson (the default) or csv.
    #[param(inline, value_type = ExportFormat, required = false)]
    format: Option<String>,
    /// Add each golden value's lineage.
    lineage: Option<bool>,
    /// Only entities whose consent for this purpose (declared in `[consent] purposes`) is
    /// granted.
    purpose: Option<String>,
    /// Only members of this segment (`[classification.segments]`).
    segment: Option<String>,
}

/// Streams every golden record; the `goldrec-sequence` header names the change sequence the
/// export is consistent with. Writes wait only while the export is written to a local file.
#[utoipa::path(
    get,
    path = "/v1/export",
    tag = "changes",
    summary = "All golden records, streamed",
    description = "NDJSON (default) or CSV, one entity per line; lineage=true adds lineage; purpose=P keeps only entities whose consent for P is granted. The goldrec-sequence header names the change sequence the export is consistent with: follow /v1/changes?after= from there.",
    params(ExportQuery),
    responses(
        (status = 200, description = "the export: NDJSON or CSV; the goldrec-sequence header names the change sequence it is consistent with"),
        (status = 400, description = "invalid_parameter: bad format; unknown_purpose: a purpose not declared in [consent] purposes", body = super::openapi::ErrorBody),
    )
)]
async fn export_all(
    State(s): State<AppState>,
    caller: Option<axum::Extension<super::auth::Caller>>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    // Keys without the pii scope get masked rows (JSON answers are masked by the guard).
    let mask = caller
        .filter(|c| !c.0 .0.pii)
        .map(|_| crate::masking::Masker::new(&s.engine.config));
    let format = match q.format.as_deref() {
        None | Some("ndjson") => Format::Ndjson,
        Some("csv") => Format::Csv,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!("format must be ndjson or csv, got {other:?}"),
            ))
        }
    };
    if let Some(p) = &q.purpose {
        s.engine
            .config
            .check_purpose(p)
            .map_err(|m| ApiError::bad_request("unknown_purpose", m))?;
    }
    let purpose = q.purpose;
    let segment = q.segment;
    if let Some(name) = &segment {
        super::customers::check_segment(&s.engine, name)?;
    }
    let lineage = q.lineage.unwrap_or(false);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(EXPORT_BUFFER);
    let (seq_tx, seq_rx) = tokio::sync::oneshot::channel::<Result<u64, String>>();
    let engine = s.engine.clone();
    tokio::task::spawn_blocking(move || {
        // Export to a file under the writer lock (local disk: quick), then stream the file
        // without it, so a slow client never holds up ingest.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = engine.config.data_dir.join(format!("export-{nanos}.tmp"));
        let written = std::fs::File::create(&path)
            .map_err(ExportError::from)
            .and_then(|f| {
                let mut w = std::io::BufWriter::new(f);
                export::export(
                    &engine,
                    format,
                    lineage,
                    purpose.as_deref(),
                    segment.as_deref(),
                    mask.as_ref(),
                    &mut w,
                    |_| {},
                )
            });
        let seq = match written {
            Ok((seq, _)) => seq,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                let _ = seq_tx.send(Err(e.to_string()));
                return;
            }
        };
        let _ = seq_tx.send(Ok(seq));
        let streamed = std::fs::File::open(&path).and_then(|mut f| {
            let mut out = ChannelWriter {
                tx,
                buf: Vec::new(),
            };
            std::io::copy(&mut f, &mut out)?;
            std::io::Write::flush(&mut out)
        });
        if let Err(e) = streamed {
            tracing::warn!(error = %e, "export stream stopped");
        }
        let _ = std::fs::remove_file(&path);
    });
    let seq = seq_rx
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let stream = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|o| o.map(Ok::<Bytes, std::io::Error>))
    });
    let content_type = match format {
        Format::Ndjson => "application/x-ndjson",
        Format::Csv => "text/csv",
    };
    let mut resp = (StatusCode::OK, Body::from_stream(stream)).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut()
        .insert("goldrec-sequence", HeaderValue::from(seq));
    Ok(resp)
}

/// Sends what is written in chunks of about 64 KiB to the response stream.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx.blocking_send(chunk).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

/// Source records to look up.
#[derive(Deserialize, ToSchema)]
struct LookupBody {
    records: Vec<LookupKey>,
}

/// A source record: source and key.
#[derive(Deserialize, ToSchema)]
struct LookupKey {
    source: String,
    key: String,
}

/// Entity of many source records in one call; unknown records answer `null`.
/// Entities of many source records.
#[utoipa::path(
    post,
    path = "/v1/lookup",
    tag = "changes",
    summary = "Entities of many source records at once",
    request_body = LookupBody,
    responses(
        (status = 200, description = "entity id (or null) per record", body = Object),
        (status = 400, description = "invalid_payload or too many records", body = super::openapi::ErrorBody),
        (status = 413, description = "payload_too_large: body over server.max_body_mb, refused on Content-Length before reading", body = super::openapi::ErrorBody),
    )
)]
async fn lookup(State(s): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body: LookupBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_payload",
            format!("expected {{\"records\": [{{\"source\", \"key\"}}]}}: {e}"),
        )
    })?;
    if body.records.len() > MAX_LOOKUP {
        return Err(ApiError::bad_request(
            "too_many",
            format!("at most {MAX_LOOKUP} records per call"),
        ));
    }
    blocking(move || {
        let mut out = Vec::with_capacity(body.records.len());
        for k in body.records {
            let rec = s.engine.reads().record(RecordId::of(&k.source, &k.key))?;
            let entity = match rec {
                Some(r) => s.engine.reads().resolve(r.entity)?.map(|e| e.id),
                None => None,
            };
            out.push(json!({"source": k.source, "key": k.key, "entity_id": entity}));
        }
        Ok(Json(json!({"records": out})))
    })
    .await
}
