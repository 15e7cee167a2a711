//! `GET /v1/audit` (admin): the audit log of [`crate::audit`], filtered by actor and time.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{blocking, ApiError};
use super::extract::Query;
use super::AppState;
use crate::audit::MAX_LIMIT;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/audit", get(list))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Key name.
    actor: Option<String>,
    /// RFC 3339 time: entries at or after it.
    #[param(value_type = Option<String>, format = DateTime)]
    since: Option<DateTime<Utc>>,
    /// Entries, 100 by default, 10000 at most.
    #[serde(default = "default_limit")]
    #[param(minimum = 1, maximum = 10000)]
    limit: usize,
}

fn default_limit() -> usize {
    100
}

#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "admin",
    operation_id = "list_audit",
    summary = "Audit log (admin): one entry per request that needed a key",
    description = "Oldest first. Each entry: at, actor (key name), key_id, method, route, path, status, outcome (ok / refused / failed), personal_data (the answer carried personal data in clear: a key with the pii scope), request (steward writes: query and JSON body without value fields). Written after the answer, not in the change's transaction; kept [audit] retention_days.",
    params(AuditQuery),
    responses(
        (status = 200, description = "entries, oldest first", body = Object),
        (status = 400, description = "invalid_parameter", body = super::openapi::ErrorBody),
    )
)]
async fn list(
    State(s): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    if q.limit == 0 || q.limit > MAX_LIMIT {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("limit must be 1 to {MAX_LIMIT}"),
        ));
    }
    let engine = s.engine.clone();
    let entries = blocking(move || {
        Ok(crate::audit::query(
            &engine,
            q.since,
            q.actor.as_deref(),
            q.limit,
        )?)
    })
    .await?;
    Ok(Json(json!({ "entries": entries })))
}
