//! `POST /v1/erasures` (admin): the right to be forgotten, for a source record or an entity.
//! The engine does the work ([`crate::engine::Engine::erase`]); the erasure is recorded in the
//! audit log by the guard like every admin request, under the key's name.

use axum::extract::State;
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::{blocking, json_body, ApiError};
use super::AppState;
use crate::engine::ErasureTarget;

/// The erasure routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/erasures", post(erase))
}

/// A source record (`source` and `key`) or an entity (`entity_id`), and why.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ErasureBody {
    /// A source record: `{"source", "key"}`.
    source: Option<String>,
    key: Option<String>,
    /// Or an entity: every record of it.
    entity_id: Option<u64>,
    /// Why (the request's legal ground, a ticket number): kept in the history and audit.
    #[serde(default)]
    reason: String,
}

const SHAPE: &str = r#"{"source": "...", "key": "..."} or {"entity_id": N}, with "reason"?"#;

#[utoipa::path(
    post,
    path = "/v1/erasures",
    tag = "admin",
    summary = "Erase a source record or an entity's records (right to be forgotten)",
    description = "Removes the records from the store, the blocking index, the review queue and decisions; redacts every past change event naming them (sequence kept) and ends an entity left with no record with an `erased` event carrying no personal data. Stale copies in the store's log stay sealed under the data key until `goldrec compact`.",
    request_body = ErasureBody,
    responses(
        (status = 200, description = "what was erased: records, entities_erased, entities_changed, decisions_removed, events_redacted, last_change", body = Object),
        (status = 400, description = "invalid_payload: not one source record or one entity", body = super::openapi::ErrorBody),
        (status = 404, description = "record_not_found or entity_not_found", body = super::openapi::ErrorBody),
    )
)]
/// Erases a source record or an entity's records; answers what was removed.
pub(crate) async fn erase(
    State(s): State<AppState>,
    caller: Option<Extension<Caller>>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: ErasureBody = json_body(&body, SHAPE)?;
    let target = match (body.source, body.key, body.entity_id) {
        (Some(source), Some(key), None) => ErasureTarget::Record { source, key },
        (None, None, Some(id)) => ErasureTarget::Entity(id),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_payload",
                format!("name one source record or one entity: {SHAPE}"),
            ))
        }
    };
    let actor = caller.map_or_else(|| "admin".to_string(), |c| c.0 .0.name.clone());
    blocking(move || {
        let report = s.engine.erase(&target, &actor, &body.reason)?;
        Ok(Json(json!({
            "erasure": report,
            "note": "removed from the store, the index, the review queue, decisions and past change events; stale copies in the store's log stay sealed under the data key until `goldrec compact` rewrites the store under a new data key",
        })))
    })
    .await
}
