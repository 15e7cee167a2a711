//! Source records: batch ingest, single upsert and delete by source key, and the look-up of a
//! source record's entity.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::Value;

use super::error::{blocking, ApiError};
use super::AppState;
use crate::engine::{Change, Status, Summary};
use crate::ingest::{self, Position, RecordError, RecordId};
use crate::store::EntityId;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/sources/{source}/records", post(ingest_batch))
        .route(
            "/v1/sources/{source}/records/{key}",
            axum::routing::get(get_record)
                .put(upsert_one)
                .delete(delete_one),
        )
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

/// Response to a batch: counts, per-record results and per-record errors.
#[derive(Serialize)]
struct BatchResponse {
    #[serde(flatten)]
    summary: Summary,
    records: Vec<Accepted>,
    errors: Vec<RecordError>,
}

fn check_source(s: &AppState, source: &str) -> Result<(), ApiError> {
    if s.engine.config.sources.contains_key(source) {
        Ok(())
    } else {
        Err(ApiError::not_found(
            "unknown_source",
            format!("unknown source {source:?}"),
        ))
    }
}

async fn ingest_batch(
    State(s): State<AppState>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<BatchResponse>, ApiError> {
    check_source(&s, &source)?;
    let ndjson = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("ndjson") || v.contains("jsonlines"));
    let items = if ndjson {
        ingest::read_ndjson(&body[..]).collect::<Vec<_>>()
    } else {
        let items = ingest::read_json_array(&body);
        if let [(_, Err(reason))] = items.as_slice() {
            if reason.starts_with("invalid JSON") || reason.starts_with("expected a JSON array") {
                return Err(ApiError::bad_request("invalid_payload", reason.clone()));
            }
        }
        items
    };
    run_batch(s, source, items).await.map(Json)
}

async fn run_batch(
    s: AppState,
    source: String,
    items: Vec<(Position, Result<ingest::RawRecord, String>)>,
) -> Result<BatchResponse, ApiError> {
    blocking(move || {
        let prepared = s.engine.prepare(&source, items)?;
        let mut errors = Vec::new();
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
                Err(e) => errors.push(e),
            }
        }
        let outcomes = if changes.is_empty() {
            Vec::new()
        } else {
            s.committer.submit(changes)?
        };
        let mut summary = Summary::default();
        summary.add(&outcomes);
        summary.rejected = errors.len();
        let records = meta
            .into_iter()
            .zip(outcomes)
            .map(|((position, key), o)| Accepted {
                position,
                key,
                record_id: o.record,
                status: o.status,
                entity_id: o.entity,
            })
            .collect();
        Ok(BatchResponse {
            summary,
            records,
            errors,
        })
    })
    .await
}

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
        return Err(ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_record",
            message: e.to_string(),
        });
    }
    let r = resp
        .records
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("no outcome"))?;
    let status = if r.status == Status::Inserted {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(r)))
}

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
