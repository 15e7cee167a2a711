//! The HTTP API: axum routers per resource under `/v1`, merged here, sharing [`AppState`].

pub mod audit;
pub mod auth;
pub mod changes;
pub mod decisions;
pub mod entities;
pub mod error;
pub mod extract;
pub mod keys;
pub mod quality;
pub mod records;

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};

use crate::engine::{Committer, Engine};
use error::{limit_body, one_shape};

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

/// The complete router. Every route but health and the OpenAPI document needs a key
/// ([`auth`]), read from `<data_dir>/keys.json`. Every error it answers, including unknown
/// routes (404), wrong methods (405), body or target limits (413, 414) and refused keys
/// (401, 403), is the JSON shape of [`error`].
pub fn router(engine: Arc<Engine>) -> Result<Router, crate::auth::AuthError> {
    let keys = Arc::new(crate::auth::Keys::open(&engine.config.data_dir)?);
    let (max_body, max_batch) = (
        engine.config.max_body_bytes,
        engine.config.max_batch_body_bytes,
    );
    let guard_state = auth::Guard {
        keys,
        masker: Arc::new(crate::masking::Masker::new(&engine.config)),
        max_body,
        audit: crate::audit::Auditor::start(engine.clone()),
    };
    let committer = Committer::start(engine.clone());
    let state = AppState { engine, committer };
    let others = Router::new()
        .route("/v1/health", get(health))
        .route("/v1/openapi.json", get(openapi))
        .merge(records::router())
        .merge(entities::router())
        .merge(changes::router())
        .merge(decisions::router())
        .merge(quality::router())
        .merge(audit::router())
        .merge(keys::router());
    let guard = axum::middleware::from_fn_with_state(guard_state, auth::require);
    Ok(Router::new()
        .merge(limit_body(records::batch_router(), max_batch).route_layer(guard.clone()))
        .merge(limit_body(others, max_body).route_layer(guard))
        .layer(axum::middleware::from_fn(one_shape))
        .with_state(state))
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
