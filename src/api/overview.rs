//! `GET /v1/overview`: the counts the steward page opens with ([`crate::overview`]).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use super::error::{blocking, ApiError};
use super::AppState;
use crate::overview::Overview;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/overview", get(overview))
}

#[utoipa::path(
    get,
    path = "/v1/overview",
    tag = "operations",
    summary = "Counts for the steward page's overview",
    description = "Records, live entities, the change-feed head, records and last arrival per source, and the open review queue's size and oldest pair. Reads every record: a dashboard call, not a hot path.",
    responses((status = 200, description = "the counts", body = crate::overview::Overview))
)]
/// Records, entities, records per source with their last arrival, and the open review
/// queue's size and age, as the engine counts them.
pub(crate) async fn overview(State(s): State<AppState>) -> Result<Json<Overview>, ApiError> {
    blocking(move || Ok(Json(s.engine.overview()?))).await
}
