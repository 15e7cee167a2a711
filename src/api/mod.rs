//! The HTTP API: axum routers per resource under `/v1`, merged here, sharing [`AppState`].

pub mod changes;
pub mod decisions;
pub mod entities;
pub mod error;
pub mod records;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{Json, Router};

use crate::engine::{Committer, Engine};

/// Largest accepted request body: big enough for batches of tens of thousands of records.
const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Shared state of all handlers.
#[derive(Clone)]
pub struct AppState {
    /// The engine (reads go straight to it).
    pub engine: Arc<Engine>,
    /// Group-commit writer.
    pub committer: Committer,
}

/// The complete router.
pub fn router(engine: Arc<Engine>) -> Router {
    let committer = Committer::start(engine.clone());
    let state = AppState { engine, committer };
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/openapi.json", get(openapi))
        .merge(records::router())
        .merge(entities::router())
        .merge(changes::router())
        .merge(decisions::router())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn health(
    axum::extract::State(s): axum::extract::State<AppState>,
) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "records": s.engine.reads().record_count().ok(),
        "indexed": s.engine.indexed(),
    }))
}

async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
}
