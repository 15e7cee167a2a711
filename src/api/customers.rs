//! The customer file (`/v1/entities/{id}/file`), segments (`/v1/segments/{name}`) and the
//! upkeep report (`/v1/quality/data`).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

use super::error::{blocking, ApiError};
use super::extract::{Path, Query};
use super::AppState;
use crate::activity::file;
use crate::engine::Engine;

/// Timeline entries per page when `limit` is not given, and the most allowed.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/entities/{id}/file", get(customer_file))
        .route("/v1/segments/{name}", get(segment))
        .route("/v1/quality/data", get(data_quality))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// Cursor from the previous page's `next_cursor`.
    cursor: Option<String>,
    /// Entries per page (default 50, at most 1000).
    limit: Option<usize>,
}

fn limit_of(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(
            "invalid_parameter",
            format!("limit must be between 1 and {MAX_LIMIT}, got {n}"),
        )),
    }
}

/// A segment name that `[classification.segments]` declares.
pub fn check_segment(engine: &Engine, name: &str) -> Result<(), ApiError> {
    let known = engine
        .config
        .classification
        .as_ref()
        .is_some_and(|c| c.segments.contains_key(name));
    if known {
        Ok(())
    } else {
        Err(ApiError::not_found(
            "unknown_segment",
            format!("unknown segment {name:?}: declare it in [classification.segments]"),
        ))
    }
}

#[utoipa::path(
    get,
    path = "/v1/entities/{id}/file",
    tag = "entities",
    summary = "The customer file: identity, activity summaries, preferences, classification, timeline",
    description = "The golden identity (as GET /v1/entities/{id}), the activity attached to its records summarised (first and last activity, counts and amounts per type, month, year and channel, open complaints), preferences (channel, payment, product: the most recent activity value, naming that activity), the classification ([classification]) with each scorecard factor's contribution, and a page of the timeline, newest first (cursor and limit). Keys without the pii scope see identity values masked and activity free text redacted.",
    params(("id" = u64, Path, description = "entity id"), PageQuery),
    responses(
        (status = 200, description = "the customer file", body = Object),
        (status = 308, description = "merged into another entity (Location names its file)", body = super::openapi::ErrorBody),
        (status = 400, description = "invalid_id, invalid_parameter or invalid_cursor", body = super::openapi::ErrorBody),
        (status = 404, description = "entity_not_found", body = super::openapi::ErrorBody),
        (status = 410, description = "entity deleted", body = super::openapi::ErrorBody),
    )
)]
async fn customer_file(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let id = super::entities::parse_entity_id(&id)?;
    let limit = limit_of(q.limit)?;
    let cursor = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(file::parse_cursor(c).ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", format!("malformed cursor {c:?}"))
        })?),
    };
    blocking(move || {
        let e =
            s.engine.reads().entity(id)?.ok_or_else(|| {
                ApiError::not_found("entity_not_found", format!("no entity {id}"))
            })?;
        if let Some(answer) = super::entities::not_live(&s.engine, &e, "/file")? {
            return Ok(answer);
        }
        let acts = s.engine.activity_of(&e.members)?;
        let identity = super::entities::view(&s.engine, &e)?;
        let body: Value = json!({
            "id": e.id,
            "identity": identity,
            "summary": file::summarize(&acts),
            "preferences": file::preferences(&acts),
            "classification": s.engine.classification(e.id)?,
            "timeline": file::timeline(&acts, cursor, limit),
        });
        Ok(Json(body).into_response())
    })
    .await
}

#[utoipa::path(
    get,
    path = "/v1/segments/{name}",
    tag = "entities",
    summary = "Members of a segment, paged by entity id",
    description = "Entities whose classification meets the segment's conditions ([classification.segments]), in entity id order, with their golden values and classification. Pass next_cursor as cursor for the next page.",
    params(("name" = String, Path, description = "segment name"), PageQuery),
    responses(
        (status = 200, description = "a page of members", body = Object),
        (status = 400, description = "invalid_parameter or invalid_cursor", body = super::openapi::ErrorBody),
        (status = 404, description = "unknown_segment", body = super::openapi::ErrorBody),
    )
)]
async fn segment(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    check_segment(&s.engine, &name)?;
    let limit = limit_of(q.limit)?;
    let after = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(c.parse::<u64>().map_err(|_| {
            ApiError::bad_request("invalid_cursor", format!("malformed cursor {c:?}"))
        })?),
    };
    blocking(move || {
        let ids = s.engine.segment_members(&name, after, limit + 1)?;
        let more = ids.len() > limit;
        let mut members = Vec::new();
        for id in ids.into_iter().take(limit) {
            let Some(e) = s.engine.reads().entity(id)? else {
                continue;
            };
            let golden: serde_json::Map<String, Value> = e
                .golden
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.value.clone())))
                .collect();
            members.push(json!({
                "id": id,
                "golden": golden,
                "classification": s.engine.classification(id)?.map(|c| c.values),
            }));
        }
        let next_cursor = more
            .then(|| members.last().and_then(|m| m["id"].as_u64()))
            .flatten()
            .map(|id| id.to_string());
        let conditions = s
            .engine
            .config
            .classification
            .as_ref()
            .and_then(|c| c.segments.get(&name).cloned());
        Ok(Json(json!({
            "segment": name,
            "conditions": conditions,
            "members": members,
            "next_cursor": next_cursor,
        })))
    })
    .await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct QualityQuery {
    /// Customers to re-verify after this entity id (`next_after` of the previous page).
    after: Option<u64>,
    /// Customers to re-verify per page (default 50, at most 1000).
    limit: Option<usize>,
}

#[utoipa::path(
    get,
    path = "/v1/quality/data",
    tag = "steward",
    summary = "Upkeep of the customer file: completeness, freshness, customers to re-verify",
    description = "Per identity source and attribute: completeness and the age of the newest value; per source the records not updated for [upkeep] stale_after; per activity source the records, the unresolved ones and the newest activity; and, paged by entity id, the customers whose every record is older than stale_after (they need re-verification). A scan of the store per request.",
    params(QualityQuery),
    responses(
        (status = 200, description = "the upkeep report", body = Object),
        (status = 400, description = "invalid_parameter", body = super::openapi::ErrorBody),
    )
)]
async fn data_quality(
    State(s): State<AppState>,
    Query(q): Query<QualityQuery>,
) -> Result<Json<crate::upkeep::Report>, ApiError> {
    let limit = limit_of(q.limit)?;
    blocking(move || {
        let now = chrono::Utc::now().timestamp_millis();
        Ok(Json(crate::upkeep::report(&s.engine, now, q.after, limit)?))
    })
    .await
}
