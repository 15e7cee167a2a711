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

#[derive(Deserialize)]
struct AuditQuery {
    /// Key name.
    actor: Option<String>,
    /// RFC 3339 time: entries at or after it.
    since: Option<DateTime<Utc>>,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    100
}

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
