//! Estimated precision from stewards (see [`crate::quality`]): a random sample of automatic
//! links to confirm, verdicts on them, and the figures (precision of automatic links with a
//! 95% Wilson interval, reversal rate of review decisions).

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::{blocking, json_body, ApiError};
use super::extract::Query;
use super::AppState;
use crate::ingest::RecordId;
use crate::store::Verdict;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/quality", get(report))
        .route("/v1/quality/sample", get(sample))
        .route("/v1/quality/verdicts", post(verdict))
}

/// Most pairs one sample holds.
const MAX_SAMPLE: usize = 100;

/// How many pairs to sample.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SampleQuery {
    /// Pairs wanted (1 to 100, default 10).
    n: Option<usize>,
}

#[utoipa::path(
    get,
    path = "/v1/quality/sample",
    tag = "steward",
    summary = "Automatic links for stewards to confirm (audit mode)",
    description = "Up to n pairs of records in one live entity that no chain of steward `same` decisions joins, drawn uniformly, not judged yet: both records' values, the entity, the pair's weight (with the prior's part and the capped decision weight) and explanation.",
    params(SampleQuery),
    responses(
        (status = 200, description = "items: left, right (source, key, values), entity_id, weight, probability, prior_weight, decision_weight, explanation", body = Object),
        (status = 400, description = "invalid_parameter: n out of 1..=100", body = super::openapi::ErrorBody),
    )
)]
/// `GET /v1/quality/sample?n=K`: up to K (default 10, at most 100) automatic links not judged
/// yet, drawn uniformly among all automatic links.
pub(crate) async fn sample(
    State(s): State<AppState>,
    Query(q): Query<SampleQuery>,
) -> Result<Json<Value>, ApiError> {
    let n = q.n.unwrap_or(10);
    if n == 0 || n > MAX_SAMPLE {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("n must be between 1 and {MAX_SAMPLE}, got {n}"),
        ));
    }
    blocking(move || Ok(Json(json!({"items": s.engine.sample_links(n)?})))).await
}

/// A steward's verdict on an automatic link.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct VerdictBody {
    /// `source/key` of one record.
    left: String,
    /// `source/key` of the other.
    right: String,
    /// `same` or `different`.
    verdict: String,
    /// Who judged; the key's name when absent.
    #[serde(default)]
    actor: Option<String>,
}

/// A record named `source/key` (the key may hold further slashes).
fn record_ref(s: &AppState, field: &str, r: &str) -> Result<RecordId, ApiError> {
    let Some((source, key)) = r
        .split_once('/')
        .filter(|(s, k)| !s.is_empty() && !k.is_empty())
    else {
        return Err(ApiError::bad_request(
            "invalid_record",
            format!("{field} must name a record as \"source/key\", got {r:?}"),
        ));
    };
    if !s.engine.config.sources.contains_key(source) {
        return Err(ApiError::not_found(
            "unknown_source",
            format!("{field}: unknown source {source:?}"),
        ));
    }
    Ok(RecordId::of(source, key))
}

#[utoipa::path(
    post,
    path = "/v1/quality/verdicts",
    tag = "steward",
    summary = "Record a verdict on an automatic link",
    description = "Stored durably; a later verdict on the same pair replaces it. Changes no entity: it measures the matcher.",
    request_body = VerdictBody,
    responses(
        (status = 200, description = "the stored verdict: left, right, verdict, entity_id, weight, actor, at", body = Object),
        (status = 400, description = "invalid_payload, invalid_record, invalid_verdict or not_automatic_link", body = super::openapi::ErrorBody),
        (status = 404, description = "unknown_source or record_not_found", body = super::openapi::ErrorBody),
    )
)]
/// `POST /v1/quality/verdicts`: a steward's verdict on an automatic link, stored durably; 400
/// `not_automatic_link` when the pair is not one (other entities, or joined by decisions).
pub(crate) async fn verdict(
    State(s): State<AppState>,
    caller: Option<Extension<Caller>>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: VerdictBody = json_body(
        &body,
        r#"{"left": "source/key", "right": "source/key", "verdict": "same"|"different"}"#,
    )?;
    let verdict = match body.verdict.as_str() {
        "same" => Verdict::Same,
        "different" => Verdict::Different,
        other => {
            return Err(ApiError::bad_request(
                "invalid_verdict",
                format!("verdict must be \"same\" or \"different\", got {other:?}"),
            ))
        }
    };
    let (a, b) = (
        record_ref(&s, "left", &body.left)?,
        record_ref(&s, "right", &body.right)?,
    );
    let actor = body
        .actor
        .filter(|a| !a.trim().is_empty())
        .or_else(|| caller.map(|Extension(c)| c.0.name.clone()))
        .unwrap_or_else(|| "unknown".into());
    blocking(move || {
        for (r, id) in [(&body.left, a), (&body.right, b)] {
            if s.engine.reads().record(id)?.is_none() {
                return Err(ApiError::not_found(
                    "record_not_found",
                    format!("no record {r}"),
                ));
            }
        }
        let v = s.engine.judge_link(a, b, verdict, &actor)?;
        Ok(Json(json!({
            "left": body.left,
            "right": body.right,
            "verdict": v.verdict,
            "entity_id": v.entity,
            "weight": v.match_weight,
            "actor": v.actor,
            "at": v.at,
        })))
    })
    .await
}

#[utoipa::path(
    get,
    path = "/v1/quality",
    tag = "steward",
    summary = "Estimated precision of automatic links, and review reversals",
    description = "Precision of automatic links from stewards' verdicts with a 95% Wilson score interval, and how often review decisions went against the matcher's lean.",
    responses((status = 200, description = "automatic_links: judged, confirmed, precision, ci95; review: decided, reversed, reversal_rate", body = Object))
)]
/// `GET /v1/quality`: precision of automatic links from the verdicts (with a 95% Wilson score
/// interval) and the reversal rate of review decisions.
pub(crate) async fn report(
    State(s): State<AppState>,
) -> Result<Json<crate::quality::QualityReport>, ApiError> {
    blocking(move || Ok(Json(s.engine.quality_report()?))).await
}
