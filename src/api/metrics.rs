//! `GET /metrics`: the Prometheus scrape ([`crate::metrics`]), and the middleware counting
//! every HTTP request by route template and status.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::error::{blocking, ApiError};
use super::AppState;
use crate::engine::Engine;

/// Content type of the exposition `prometheus-client` writes (OpenMetrics text).
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The scrape route.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

/// Prometheus metrics.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "metrics",
    description = "Prometheus metrics in the OpenMetrics text format: goldrec_records_ingested_total{source,outcome}, goldrec_records_rejected_total{source}, goldrec_records_deleted_total{source}, goldrec_batches_total, goldrec_batch_phase_seconds{phase} (prepare, classify, working_set, candidates, nodes, score, cluster, resolve, build, commit), goldrec_http_requests_total{method,route,status} and goldrec_http_request_duration_seconds{method,route} (route is the template, e.g. /v1/entities/{id}; unmatched when none matched), and the gauges goldrec_records, goldrec_entities, goldrec_review_queue, goldrec_change_feed_seq read from the store at each scrape. Counters start at zero when the server starts. Configure Prometheus with `authorization: {credentials: KEY}` (a bearer key of any role).",
    responses((status = 200, description = "the metrics", content_type = "application/openmetrics-text"))
)]
pub(super) async fn scrape(State(s): State<AppState>) -> Result<Response, ApiError> {
    let engine = s.engine.clone();
    let text = blocking(move || Ok(engine.metrics().encode(engine.store_gauges()?))).await?;
    Ok(([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response())
}

/// The route template a request matched, carried on its response to [`track`].
#[derive(Clone)]
struct Route(MatchedPath);

/// Route layer: puts the matched route template on the response for [`track`] (which runs
/// before routing, where the template is not known yet).
pub async fn tag_route(req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let mut resp = next.run(req).await;
    if let Some(m) = matched {
        resp.extensions_mut().insert(Route(m));
    }
    resp
}

/// Outermost layer: counts each request by method, route template (`unmatched` for an
/// unknown path, a wrong method or a request refused before routing) and final status.
pub async fn track(State(engine): State<Arc<Engine>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let resp = next.run(req).await;
    let route = resp
        .extensions()
        .get::<Route>()
        .map_or("unmatched", |r| r.0.as_str());
    engine.metrics().http_request(
        method.as_str(),
        route,
        resp.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    resp
}
