//! Steward decisions: `same` (must-link) and `different` (cannot-link) between two records,
//! durable constraints that re-ingest, updates, re-training and re-matching never undo.
//! Deciding or revoking re-evaluates both records in the same transaction.

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{delete, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{blocking, decision_json, json_body, require_actor, ApiError};
use super::extract::{Path, Query};
use super::AppState;
use crate::ingest::RecordId;
use crate::store::{Decision, Verdict};

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/decisions", post(decide).get(list))
        .route("/v1/decisions/{id}", delete(revoke))
}

/// A record named by source and key, or by record id.
/// A record named by source and key, or by record id.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
enum RecordRef {
    Key { source: String, key: String },
    Id { record_id: String },
}

impl RecordRef {
    fn id(&self) -> Result<RecordId, ApiError> {
        match self {
            Self::Key { source, key } => Ok(RecordId::of(source, key)),
            Self::Id { record_id } => RecordId::parse(record_id).ok_or_else(|| {
                ApiError::bad_request("invalid_id", format!("not a record id: {record_id:?}"))
            }),
        }
    }
}

/// A steward decision on a pair of records.
#[derive(Deserialize, utoipa::ToSchema)]
struct DecideBody {
    a: RecordRef,
    b: RecordRef,
    /// same (must-link), different (cannot-link) or skip (back of the review queue).
    decision: String,
    actor: String,
    #[serde(default)]
    reason: String,
    /// Revoke the decisions in force this one contradicts (listed in the reply) instead of
    /// answering 409 `decision_conflict`.
    #[serde(default)]
    revoke_conflicting: bool,
}

fn pair_id(key: &[u8; 32]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decide a pair.
#[utoipa::path(
    post,
    path = "/v1/decisions",
    tag = "steward",
    operation_id = "decide_pair",
    summary = "Decide a pair: same (must-link), different (cannot-link) or skip (back of the review queue)",
    description = "Steward actions are all-or-nothing: one that contradicts a decision in force (a cannot-link inside what a merge or must-link joins, a must-link a cannot-link or split would cut, the other verdict on a decided pair) answers 409 decision_conflict naming them, unless revoke_conflicting is set; the reply's revoked lists what was revoked.",
    request_body = DecideBody,
    responses(
        (status = 200, description = "the decision, the records' entities and the decisions revoked", body = Object),
        (status = 400, description = "invalid_payload, invalid_id or actor_required", body = super::openapi::ErrorBody),
        (status = 404, description = "record_not_found", body = super::openapi::ErrorBody),
        (status = 409, description = "decision_conflict: the action contradicts decisions in force, listed in conflicts; nothing was applied", body = super::openapi::ErrorBody),
        (status = 413, description = "payload_too_large: body over server.max_body_mb, refused on Content-Length before reading", body = super::openapi::ErrorBody),
    )
)]
async fn decide(State(s): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body: DecideBody = json_body(
        &body,
        r#"{"a": {"source", "key"}, "b": ..., "decision": "same"|"different"|"skip", "actor", "reason", "revoke_conflicting"?}"#,
    )?;
    require_actor(&body.actor, "decision")?;
    let (a, b) = (body.a.id()?, body.b.id()?);
    if a == b {
        return Err(ApiError::bad_request(
            "same_record",
            "a decision needs two different records",
        ));
    }
    let verdict = match body.decision.as_str() {
        "same" => Verdict::Same,
        "different" => Verdict::Different,
        // Skip: no constraint, the queued pair goes to the back of the queue.
        "skip" => {
            return blocking(move || {
                if s.engine.skip_review(a, b)? {
                    Ok(Json(json!({"skipped": true})))
                } else {
                    Err(ApiError::not_found(
                        "not_queued",
                        "this pair is not in the review queue",
                    ))
                }
            })
            .await
        }
        other => {
            return Err(ApiError::bad_request(
                "invalid_decision",
                format!("decision must be \"same\", \"different\" or \"skip\", got {other:?}"),
            ))
        }
    };
    blocking(move || {
        for id in [a, b] {
            if s.engine.reads().record(id)?.is_none() {
                return Err(ApiError::not_found("record_not_found", format!("no record {id}")));
            }
        }
        let decision = Decision {
            a: a.min(b),
            b: a.max(b),
            verdict,
            actor: body.actor,
            reason: body.reason,
            at: chrono::Utc::now().timestamp_millis(),
        };
        let key = decision.key();
        let out = s.engine.decide(decision.clone(), body.revoke_conflicting)?;
        let (ea, eb) = out.value;
        let (entity_a, entity_b) = if a <= b { (ea, eb) } else { (eb, ea) };
        let revoked: Vec<Value> = out.revoked.iter().map(decision_json).collect();
        Ok(Json(json!({"id": pair_id(&key), "decision": decision, "entity_a": entity_a, "entity_b": entity_b, "revoked": revoked})))
    })
    .await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Page {
    /// Decisions per page: 100 by default, 1000 at most.
    limit: Option<usize>,
    /// Decisions to skip.
    offset: Option<usize>,
}

/// List decisions.
#[utoipa::path(
    get,
    path = "/v1/decisions",
    tag = "steward",
    operation_id = "list_decisions",
    params(Page),
    responses(
        (status = 200, description = "offset and items: id (pair key, hex) and decision", body = Object),
        (status = 400, description = "invalid_parameter", body = super::openapi::ErrorBody),
    )
)]
async fn list(State(s): State<AppState>, Query(p): Query<Page>) -> Result<Json<Value>, ApiError> {
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    let offset = p.offset.unwrap_or(0);
    blocking(move || {
        let mut items = Vec::new();
        for d in s.engine.reads().decisions().skip(offset).take(limit) {
            let d = d?;
            items.push(json!({"id": pair_id(&d.key()), "decision": d}));
        }
        Ok(Json(json!({"offset": offset, "items": items})))
    })
    .await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct RevokeQuery {
    /// Who revokes (required).
    actor: Option<String>,
}

/// Revoke a decision (re-evaluates both records).
#[utoipa::path(
    delete,
    path = "/v1/decisions/{id}",
    tag = "steward",
    operation_id = "revoke_decision",
    params(("id" = String, Path, description = "decision id (pair key, 64 hex characters)"), RevokeQuery),
    responses(
        (status = 200, description = "the revoked decision and the records' entities", body = Object),
        (status = 400, description = "invalid_id or actor_required", body = super::openapi::ErrorBody),
        (status = 404, description = "decision_not_found", body = super::openapi::ErrorBody),
    )
)]
async fn revoke(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<RevokeQuery>,
) -> Result<Json<Value>, ApiError> {
    let actor = q.actor.unwrap_or_default();
    require_actor(&actor, "revocation (?actor=...)")?;
    let mut key = [0u8; 32];
    let parsed = id.len() == 64
        && key.iter_mut().enumerate().all(|(i, b)| {
            id.get(2 * i..2 * i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .map(|v| *b = v)
                .is_some()
        });
    if !parsed {
        return Err(ApiError::bad_request(
            "invalid_id",
            format!("not a decision id: {id:?}"),
        ));
    }
    blocking(move || match s.engine.revoke(key, &actor)? {
        Some(d) => Ok(Json(json!({"revoked": d}))),
        None => Err(ApiError::not_found(
            "decision_not_found",
            format!("no decision {id}"),
        )),
    })
    .await
}
