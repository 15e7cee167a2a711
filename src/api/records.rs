//! Source records: batch ingest, single upsert and delete by source key, and the look-up of a
//! source record's entity.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;

use super::error::{blocking, ApiError};
use super::extract::Path;
use super::AppState;
use crate::engine::{Change, Status, Summary};
use crate::ingest::{self, Position, RecordError, RecordId};
use crate::store::EntityId;

/// The batch route, apart: its body limit is `server.max_batch_body_mb`.
pub fn batch_router() -> Router<AppState> {
    Router::new().route("/v1/sources/{source}/records", post(ingest_batch))
}

/// Routes of this resource but the batch.
pub fn router() -> Router<AppState> {
    Router::new().route(
        "/v1/sources/{source}/records/{key}",
        axum::routing::get(get_record)
            .put(upsert_one)
            .delete(delete_one),
    )
}

/// Result of one accepted record of a batch: an identity record, or an activity record.
#[derive(Serialize)]
#[serde(untagged)]
enum Reported {
    Identity(Accepted),
    Activity {
        #[serde(flatten)]
        position: Position,
        key: String,
        #[serde(flatten)]
        outcome: crate::activity::ActivityOutcome,
    },
}

/// Result of one accepted record of a batch.
#[derive(Serialize)]
struct Accepted {
    #[serde(flatten)]
    position: Position,
    key: String,
    record_id: RecordId,
    status: Status,
    entity_id: Option<EntityId>,
}

/// Response to a batch: counts, the chunks committed, per-record results and per-record
/// errors. Each list holds at most `server.max_reported` entries; the rest are counted, so
/// the reply stays small whatever the batch.
#[derive(Serialize, Default)]
struct BatchResponse {
    #[serde(flatten)]
    summary: Summary,
    /// Chunks committed, each its own group commit of up to `server.chunk_records` records.
    chunks: usize,
    records: Vec<Reported>,
    /// Accepted records not listed in `records`.
    records_omitted: usize,
    errors: Vec<RecordError>,
    /// Rejected records not listed in `errors`.
    errors_omitted: usize,
}

impl BatchResponse {
    /// Prepares and commits one chunk of items (one group commit) and adds its outcome.
    fn commit_chunk(
        &mut self,
        s: &AppState,
        source: &str,
        items: Vec<ingest::Item>,
    ) -> Result<(), ApiError> {
        let max = s.engine.config.max_reported;
        if s.engine.is_activity_source(source) {
            return self.commit_activity(s, source, items);
        }
        let prepared = s.engine.prepare(source, items)?;
        let mut changes = Vec::new();
        let mut meta = Vec::new();
        for (position, r) in prepared {
            match r {
                Ok(change) => {
                    if let Change::Upsert(rec, _) = &change {
                        meta.push((position, rec.key.clone()));
                    }
                    changes.push(change);
                }
                Err(e) => self.reject(e, max),
            }
        }
        if changes.is_empty() {
            return Ok(());
        }
        let outcomes = s.committer.submit(changes)?;
        self.chunks += 1;
        self.summary.add(&outcomes);
        for ((position, key), o) in meta.into_iter().zip(outcomes) {
            self.report(
                Reported::Identity(Accepted {
                    position,
                    key,
                    record_id: o.record,
                    status: o.status,
                    entity_id: o.entity,
                }),
                max,
            );
        }
        Ok(())
    }

    /// Maps and commits one chunk of an activity source's records.
    fn commit_activity(
        &mut self,
        s: &AppState,
        source: &str,
        items: Vec<ingest::Item>,
    ) -> Result<(), ApiError> {
        use crate::activity::ActivityStatus as A;
        let max = s.engine.config.max_reported;
        let keys: Vec<Option<String>> = items
            .iter()
            .map(|(_, r)| {
                let field = &s.engine.config.activity_sources[source].source.key;
                r.as_ref()
                    .ok()
                    .and_then(|raw| ingest::scalar(raw, field).ok().flatten())
            })
            .collect();
        let results = s.engine.ingest_activity(source, items)?;
        self.chunks += 1;
        for ((position, r), key) in results.into_iter().zip(keys) {
            match r {
                Err(e) => self.reject(e, max),
                Ok(outcome) => {
                    match outcome.status {
                        A::Inserted => self.summary.inserted += 1,
                        A::Updated => self.summary.updated += 1,
                        A::Unchanged => self.summary.unchanged += 1,
                        A::Superseded => self.summary.superseded += 1,
                    }
                    self.report(
                        Reported::Activity {
                            position,
                            key: key.unwrap_or_default(),
                            outcome,
                        },
                        max,
                    );
                }
            }
        }
        Ok(())
    }

    /// Counts a rejected record; lists it while fewer than `max` are listed.
    fn reject(&mut self, e: RecordError, max: usize) {
        self.summary.rejected += 1;
        if self.errors.len() < max {
            self.errors.push(e);
        } else {
            self.errors_omitted += 1;
        }
    }

    /// Lists an accepted record while fewer than `max` are listed, else counts it as omitted.
    fn report(&mut self, r: Reported, max: usize) {
        if self.records.len() < max {
            self.records.push(r);
        } else {
            self.records_omitted += 1;
        }
    }

    /// `e` said of a batch that stopped after committing some chunks: what was stored.
    fn stopped(&self, e: ApiError) -> ApiError {
        if self.chunks == 0 {
            return e;
        }
        let message = format!(
            "{}; the first {} records were committed before it stopped, in {} chunks (see committed); resend the rest",
            e.message,
            self.summary.inserted + self.summary.updated + self.summary.unchanged,
            self.chunks
        );
        let committed = serde_json::json!({"chunks": self.chunks, "summary": self.summary});
        ApiError { message, ..e }.with("committed", committed)
    }
}

fn check_source(s: &AppState, source: &str) -> Result<(), ApiError> {
    if s.engine.config.sources.contains_key(source) {
        Ok(())
    } else if s.engine.is_activity_source(source) {
        Err(ApiError::not_found(
            "unknown_source",
            format!("{source:?} is an activity source: send its records in batches to POST /v1/sources/{source}/records"),
        ))
    } else {
        Err(ApiError::not_found(
            "unknown_source",
            format!("unknown source {source:?}"),
        ))
    }
}

/// Frames of a request body buffered between the connection and the batch reader.
const BODY_FRAMES: usize = 8;

/// A request body read on a blocking thread as it arrives, refusing more than `limit` bytes.
/// After the first error it reads as ended, so line readers stop.
struct BodyReader {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, String>>,
    cur: Bytes,
    read: usize,
    limit: usize,
    too_large: bool,
    done: bool,
}

impl std::io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            if self.done {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Ok(b)) => {
                    self.read += b.len();
                    if self.read > self.limit {
                        self.too_large = true;
                        self.done = true;
                        return Err(std::io::Error::other("the body is over the batch limit"));
                    }
                    self.cur = b;
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Err(std::io::Error::other(e));
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur.split_to(n));
        Ok(n)
    }
}

#[utoipa::path(
    post,
    path = "/v1/sources/{source}/records",
    tag = "records",
    summary = "Ingest a batch of records of one source",
    description = "Body: a JSON array of objects, NDJSON with Content-Type application/x-ndjson, or CSV with a header row with Content-Type text/csv (mapped by the source's field names; bad lines are reported by line number, the header being line 1). The body is read as it streams in and committed in chunks of server.chunk_records records, each its own group commit, so memory holds one chunk whatever the batch's size (a record repeated in two chunks is inserted, then updated). Records are upserted by (source, key); unchanged ones are no-ops. Bad records are reported per index/line with field and reason; the good ones are accepted. Record keys are strings or integers without control characters; in values, tab, newline and the other whitespace controls become spaces and other control characters are removed. records and errors list at most server.max_reported entries each, the rest are counted. The response is sent once the whole batch is durable. A batch that stops mid-way (malformed JSON after some chunks, body over server.max_batch_body_mb) keeps the whole chunks committed before and answers the error with committed: no chunk is ever half stored.",
    params(("source" = String, Path, description = "configured source name")),
    request_body(content((Vec<Object> = "application/json"), (String = "application/x-ndjson"), (String = "text/csv"))),
    responses(
        (status = 200, description = "batch outcome", body = super::openapi::BatchOutcome),
        (status = 400, description = "payload is not JSON or not an array of objects (with committed when chunks were stored before)", body = super::openapi::ErrorBody),
        (status = 404, description = "unknown_source", body = super::openapi::ErrorBody),
        (status = 413, description = "body over server.max_batch_body_mb (a Content-Length over it is refused before reading)", body = super::openapi::ErrorBody),
    )
)]
/// `POST /v1/sources/{source}/records`: a JSON array (or NDJSON, or CSV with a header row, by
/// `Content-Type`) read as it streams in and
/// committed in chunks of `server.chunk_records` records, each its own group commit, so memory
/// holds one chunk whatever the batch. A batch that stops mid-way (malformed JSON, over
/// `server.max_batch_body_mb`) keeps the whole chunks committed before and says so.
async fn ingest_batch(
    State(s): State<AppState>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<BatchResponse>, ApiError> {
    if !s.engine.is_activity_source(&source) {
        check_source(&s, &source)?;
    }
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let lines = if content_type.contains("ndjson") || content_type.contains("jsonlines") {
        Some(false)
    } else if content_type.contains("csv") {
        Some(true)
    } else {
        None
    };
    let (tx, rx) = tokio::sync::mpsc::channel(BODY_FRAMES);
    let forward = tokio::spawn(async move {
        let mut frames = body.into_data_stream();
        while let Some(frame) = frames.next().await {
            let frame = frame.map_err(|e| e.to_string());
            let failed = frame.is_err();
            if tx.send(frame).await.is_err() || failed {
                break;
            }
        }
    });
    let limit = s.engine.config.max_batch_body_bytes;
    let chunk = s.engine.config.chunk_records;
    let reply = blocking(move || {
        let mut reader = BodyReader {
            rx,
            cur: Bytes::new(),
            read: 0,
            limit,
            too_large: false,
            done: false,
        };
        let mut reply = BatchResponse::default();
        let outcome = if let Some(csv) = lines {
            // NDJSON and CSV (header row first) are read by the adapters the CLI's file ingest
            // uses: a bad line is an error naming its line, the others go on.
            let mut items: Box<dyn Iterator<Item = ingest::Item> + '_> = if csv {
                Box::new(ingest::read_csv(&mut reader))
            } else {
                Box::new(ingest::read_ndjson(&mut reader))
            };
            loop {
                let c: Vec<_> = items.by_ref().take(chunk).collect();
                if c.is_empty() {
                    break Ok(());
                }
                if let Err(e) = reply.commit_chunk(&s, &source, c) {
                    break Err(e);
                }
            }
        } else {
            ingest::stream_json_array(&mut reader, chunk, |items| {
                reply.commit_chunk(&s, &source, items)
            })
            .map_err(|e| match e {
                ingest::StreamError::Handler(e) => e,
                ingest::StreamError::Payload(m) => ApiError::bad_request("invalid_payload", m),
            })
        };
        let outcome = if reader.too_large {
            Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body is over {limit} bytes (server.max_batch_body_mb)"),
            ))
        } else {
            outcome
        };
        match outcome {
            Ok(()) => Ok(reply),
            Err(e) => Err(reply.stopped(e)),
        }
    })
    .await;
    forward.abort();
    reply.map(Json)
}

async fn run_batch(
    s: AppState,
    source: String,
    items: Vec<(Position, Result<ingest::RawRecord, String>)>,
) -> Result<BatchResponse, ApiError> {
    blocking(move || {
        let mut reply = BatchResponse::default();
        reply.commit_chunk(&s, &source, items)?;
        Ok(reply)
    })
    .await
}

/// Upsert one record.
#[utoipa::path(
    put,
    path = "/v1/sources/{source}/records/{key}",
    tag = "records",
    description = "The body is the record as a JSON object; its key field, when present, must equal the path's key.",
    params(("source" = String, Path, description = "configured source name"), ("key" = String, Path, description = "record key in the source")),
    request_body(content = Object, content_type = "application/json"),
    responses(
        (status = 200, description = "updated or unchanged", body = super::openapi::RecordOutcome),
        (status = 201, description = "inserted", body = super::openapi::RecordOutcome),
        (status = 400, description = "invalid_payload or key_mismatch", body = super::openapi::ErrorBody),
        (status = 404, description = "unknown_source", body = super::openapi::ErrorBody),
        (status = 413, description = "payload_too_large: body over server.max_body_mb, refused on Content-Length before reading", body = super::openapi::ErrorBody),
        (status = 422, description = "invalid_record: names the field and the reason", body = super::openapi::ErrorBody),
    )
)]
async fn upsert_one(
    State(s): State<AppState>,
    Path((source, key)): Path<(String, String)>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    check_source(&s, &source)?;
    let mut obj = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(m)) => m,
        Ok(_) => {
            return Err(ApiError::bad_request(
                "invalid_payload",
                "expected a JSON object",
            ))
        }
        Err(e) => {
            return Err(ApiError::bad_request(
                "invalid_payload",
                format!("invalid JSON: {e}"),
            ))
        }
    };
    let key_field = s.engine.config.sources[&source].key.clone();
    match obj.get(&key_field) {
        None | Some(Value::Null) => {
            obj.insert(key_field, Value::String(key.clone()));
        }
        Some(v) => {
            let given = v
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| v.to_string());
            if given != key {
                return Err(ApiError::bad_request(
                    "key_mismatch",
                    format!("field {key_field:?} is {given:?} but the path names key {key:?}"),
                ));
            }
        }
    }
    let resp = run_batch(s, source, vec![(Position::Index(0), Ok(obj))]).await?;
    if let Some(e) = resp.errors.into_iter().next() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_record",
            e.to_string(),
        ));
    }
    let r = match resp.records.into_iter().next() {
        Some(Reported::Identity(r)) => r,
        _ => return Err(ApiError::internal("no outcome")),
    };
    let status = if r.status == Status::Inserted {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(r)))
}

/// Delete one record.
#[utoipa::path(
    delete,
    path = "/v1/sources/{source}/records/{key}",
    tag = "records",
    params(("source" = String, Path, description = "configured source name"), ("key" = String, Path, description = "record key in the source")),
    responses(
        (status = 200, description = "deleted: record_id and status", body = Object),
        (status = 400, description = "invalid_path", body = super::openapi::ErrorBody),
        (status = 404, description = "unknown_source or record_not_found", body = super::openapi::ErrorBody),
    )
)]
async fn delete_one(
    State(s): State<AppState>,
    Path((source, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    check_source(&s, &source)?;
    let id = RecordId::of(&source, &key);
    let outcomes = blocking(move || Ok(s.committer.submit(vec![Change::Delete(id)])?)).await?;
    match outcomes.first().map(|o| o.status) {
        Some(Status::Deleted) => Ok(Json(
            serde_json::json!({"record_id": id, "status": "deleted"}),
        )),
        _ => Err(ApiError::not_found(
            "record_not_found",
            format!("no record {key:?} in source {source:?}"),
        )),
    }
}

/// A source record and its entity.
#[utoipa::path(
    get,
    path = "/v1/sources/{source}/records/{key}",
    tag = "records",
    params(("source" = String, Path, description = "configured source name"), ("key" = String, Path, description = "record key in the source")),
    responses(
        (status = 200, description = "the record (record_id, source, key, values, updated_at, ingested_at, changed_at) with entity_id and entity", body = Object),
        (status = 400, description = "invalid_path", body = super::openapi::ErrorBody),
        (status = 404, description = "unknown_source or record_not_found", body = super::openapi::ErrorBody),
    )
)]
async fn get_record(
    State(s): State<AppState>,
    Path((source, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    check_source(&s, &source)?;
    let id = RecordId::of(&source, &key);
    blocking(move || {
        let rec = s.engine.reads().record(id)?.ok_or_else(|| {
            ApiError::not_found(
                "record_not_found",
                format!("no record {key:?} in source {source:?}"),
            )
        })?;
        let entity = s.engine.reads().resolve(rec.entity)?;
        Ok(Json(serde_json::json!({
            "record_id": id,
            "source": rec.source,
            "key": rec.key,
            "values": rec.values,
            "updated_at": rec.updated_at,
            "ingested_at": rec.ingested_at,
            "changed_at": rec.changed_at,
            "entity_id": entity.as_ref().map(|e| e.id),
            "entity": entity.map(|e| super::entities::view(&s.engine, &e)).transpose()?,
        })))
    })
    .await
}
