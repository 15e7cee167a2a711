//! The HTTP API: axum routers per resource under `/v1`, merged here, sharing [`AppState`].

pub mod audit;
pub mod auth;
pub mod backups;
pub mod changes;
pub mod customers;
pub mod decisions;
pub mod docs;
pub mod entities;
pub mod erasures;
pub mod error;
pub mod extract;
pub mod keys;
pub mod metrics;
pub mod openapi;
pub mod overview;
pub mod quality;
pub mod records;

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};

use crate::engine::{Committer, Engine};
use error::{limit_body, one_shape};

/// Shared state of all handlers.
#[derive(Clone)]
pub struct AppState {
    /// The engine (reads go straight to it).
    pub engine: Arc<Engine>,
    /// Group-commit writer.
    pub committer: Committer,
}

/// The complete router. Every route but health, the OpenAPI document and `/docs` needs a key
/// ([`auth`]), read from `<data_dir>/keys.json`; every request is counted in the metrics
/// ([`metrics`]). Every error it answers, including unknown
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
    Engine::start_refresh(&engine);
    // Generated once, here, rather than on the first request.
    openapi::json();
    let tracked = engine.clone();
    let state = AppState { engine, committer };
    let others = Router::new()
        .route("/v1/health", get(health))
        .route("/v1/openapi.json", get(openapi))
        .merge(docs::router())
        .merge(metrics::router())
        .merge(records::router())
        .merge(entities::router())
        .merge(customers::router())
        .merge(changes::router())
        .merge(decisions::router())
        .merge(quality::router())
        .merge(audit::router())
        .merge(erasures::router())
        .merge(backups::router())
        .merge(keys::router())
        .merge(overview::router())
        .merge(crate::web::router());
    let guard = axum::middleware::from_fn_with_state(guard_state, auth::require);
    Ok(Router::new()
        .merge(limit_body(records::batch_router(), max_batch).route_layer(guard.clone()))
        .merge(limit_body(others, max_body).route_layer(guard))
        .route_layer(axum::middleware::from_fn(metrics::tag_route))
        .layer(axum::middleware::from_fn(one_shape))
        .layer(axum::middleware::from_fn_with_state(
            tracked,
            metrics::track,
        ))
        .with_state(state))
}

/// Liveness and counts.
#[utoipa::path(
    get,
    path = "/v1/health",
    tag = "operations",
    responses((status = 200, description = "ok, with the stored and indexed record counts", body = openapi::Health))
)]
async fn health(
    axum::extract::State(s): axum::extract::State<AppState>,
) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "records": s.engine.reads().record_count().ok(),
        "indexed": s.engine.indexed(),
    }))
}

/// This document.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "operations",
    description = "The OpenAPI 3.1 document of this API, generated from the code at start-up; /docs shows it.",
    responses((status = 200, description = "OpenAPI 3.1 document", body = Object))
)]
async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi::json(),
    )
}
