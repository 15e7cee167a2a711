//! Entities and matching: golden records with members and lineage, fuzzy search, the match
//! probe and the review queue.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::error::{blocking, decision_json, json_body, require_actor, ApiError};
use super::extract::{Path, Query};
use super::AppState;
use crate::config::{Format, Mapping, Source};
use crate::engine::Engine;
use crate::ingest::{self, profile, Position, RawRecord};
use crate::store::{Entity, EntityState};

/// Default and largest page size of lists.
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 1000;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/entities/{id}", get(get_entity))
        .route("/v1/entities/merge", post(merge))
        .route("/v1/entities/{id}/conflicts", get(conflicts))
        .route("/v1/entities/{id}/history", get(history))
        .route("/v1/entities/{id}/split", post(split))
        .route(
            "/v1/entities/{id}/overrides/{attr}",
            axum::routing::put(pin).delete(unpin),
        )
        .route("/v1/search", get(search))
        .route("/v1/match", post(probe))
        .route("/v1/review", get(review))
}

/// ETag of an entity version.
fn etag(e: &Entity) -> String {
    format!("\"{}-{}\"", e.id, e.version)
}

/// 200 with the entity view and its ETag.
fn entity_response(engine: &Engine, e: &Entity) -> Result<Response, ApiError> {
    Ok((
        StatusCode::OK,
        [(header::ETAG, etag(e))],
        Json(view(engine, e)?),
    )
        .into_response())
}

/// JSON view of an entity: golden values with lineage and the member records.
pub fn view(engine: &Engine, e: &Entity) -> Result<Value, ApiError> {
    let mut members = Vec::new();
    for id in &e.members {
        if let Some(r) = engine.reads().record_for_view(*id)? {
            members.push(json!({
                "record_id": id,
                "source": r.source,
                "key": r.key,
                "values": r.values,
                "updated_at": r.updated_at,
                "ingested_at": r.ingested_at,
            }));
        }
    }
    Ok(json!({
        "id": e.id,
        "version": e.version,
        "state": "active",
        "created_at": e.created_at,
        "updated_at": e.updated_at,
        "golden": e.golden,
        "consent": consent_view(engine, e),
        "classification": engine.classification(e.id)?,
        "members": members,
    }))
}

/// Golden consent of every declared purpose ([`crate::consent::declared`]).
fn consent_view(engine: &Engine, e: &Entity) -> BTreeMap<String, crate::consent::GoldenConsent> {
    crate::consent::declared(&engine.config.purposes, e)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct VersionQuery {
    /// Read the entity as of this version (from its history).
    version: Option<u64>,
}

/// One history entry as JSON: the entity as of that version, with who, when and why.
fn history_json(engine: &Engine, h: &crate::store::HistoryEntry) -> Result<Value, ApiError> {
    let mut members = Vec::new();
    for id in &h.members {
        match engine.reads().record(*id)? {
            Some(r) => members.push(json!({"record_id": id, "source": r.source, "key": r.key})),
            None => members.push(json!({"record_id": id})),
        }
    }
    Ok(json!({
        "id": h.entity_id,
        "version": h.version,
        "kind": h.kind,
        "actor": h.actor,
        "reason": h.reason,
        "at": h.at,
        "state": h.state,
        "golden": h.golden,
        "overrides": h.overrides,
        "members": members,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/entities/{id}/history",
    tag = "entities",
    summary = "Every version of an entity with actor, time and reason",
    params(("id" = u64, Path, description = "entity id")),
    responses(
        (status = 200, description = "versions, oldest first: id, version, kind, actor, reason, at, state, golden, overrides, members", body = Object),
        (status = 400, description = "invalid_id", body = super::openapi::ErrorBody),
        (status = 404, description = "entity_not_found", body = super::openapi::ErrorBody),
    )
)]
/// Every version of an entity, oldest first, with who changed it, when and why.
async fn history(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_entity_id(&id)?;
    blocking(move || {
        let entries = s.engine.reads().history(id)?;
        if entries.is_empty() {
            return Err(ApiError::not_found(
                "entity_not_found",
                format!("no entity {id}"),
            ));
        }
        let versions: Vec<Value> = entries
            .iter()
            .map(|h| history_json(&s.engine, h))
            .collect::<Result<_, _>>()?;
        Ok(Json(json!({"id": id, "versions": versions})))
    })
    .await
}

#[utoipa::path(
    get,
    path = "/v1/entities/{id}",
    tag = "entities",
    summary = "Golden record with members and lineage",
    description = "With version=N, the entity as of that version (from its history).",
    params(("id" = u64, Path, description = "entity id"), ("If-None-Match" = Option<String>, Header, description = "an ETag from an earlier read"), VersionQuery),
    responses(
        (status = 200, description = "the entity; ETag header \"{id}-{version}\"", body = super::openapi::Entity),
        (status = 304, description = "not modified since the ETag"),
        (status = 308, description = "merged into another entity (Location names it)", body = super::openapi::ErrorBody),
        (status = 400, description = "invalid_parameter (query) or invalid_id (path)", body = super::openapi::ErrorBody),
        (status = 404, description = "entity_not_found or version_not_found", body = super::openapi::ErrorBody),
        (status = 410, description = "entity deleted", body = super::openapi::ErrorBody),
    )
)]
async fn get_entity(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(vq): Query<VersionQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(version) = vq.version {
        let id = parse_entity_id(&id)?;
        return blocking(
            move || match s.engine.reads().entity_version(id, version)? {
                Some(h) => Ok(Json(history_json(&s.engine, &h)?).into_response()),
                None => Err(ApiError::not_found(
                    "version_not_found",
                    format!("entity {id} has no version {version}"),
                )),
            },
        )
        .await;
    }
    let if_none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    let id: u64 = id.parse().map_err(|_| {
        ApiError::bad_request("invalid_id", format!("entity ids are integers, got {id:?}"))
    })?;
    // On the runtime, not the blocking pool: a few sled reads (the entity, its member records,
    // its classification) cost less than the hand-off (~18% of the server's time went to
    // thread wake-ups under 32 clients on 2 cores).
    current_entity(&s.engine, id, if_none_match)
}

/// The answer for the current version of entity `id`: 304 when `if_none_match` names its
/// ETag, 308/410 when it is not live.
fn current_entity(
    engine: &Engine,
    id: u64,
    if_none_match: Option<&str>,
) -> Result<Response, ApiError> {
    let e = engine
        .reads()
        .entity(id)?
        .ok_or_else(|| ApiError::not_found("entity_not_found", format!("no entity {id}")))?;
    if let Some(answer) = not_live(engine, &e, "")? {
        return Ok(answer);
    }
    // The version changes on every change, so id and version make a strong ETag.
    let tag = etag(&e);
    Ok(
        if if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*")) {
            (StatusCode::NOT_MODIFIED, [(header::ETAG, tag)]).into_response()
        } else {
            entity_response(engine, &e)?
        },
    )
}

/// The answer for an entity that is not active: 308 to the live entity it was merged into
/// (`Location` is `/v1/entities/{live}{suffix}`) or 410 for a deleted one; `None` when active.
pub(super) fn not_live(
    engine: &Engine,
    e: &Entity,
    suffix: &str,
) -> Result<Option<Response>, ApiError> {
    let id = e.id;
    Ok(match e.state {
        EntityState::Active => None,
        EntityState::Merged { .. } => {
            let live = engine.reads().resolve(id)?.map_or(0, |e| e.id);
            Some(
                (
                    StatusCode::PERMANENT_REDIRECT,
                    [(header::LOCATION, format!("/v1/entities/{live}{suffix}"))],
                    Json(json!({"code": "entity_merged", "message": format!("entity {id} was merged into {live}"), "id": id, "merged_into": live})),
                )
                    .into_response(),
            )
        }
        EntityState::Deleted => Some(
            (
                StatusCode::GONE,
                Json(json!({"code": "entity_deleted", "message": format!("entity {id} was deleted"), "id": id, "deleted_at": e.updated_at})),
            )
                .into_response(),
        ),
    })
}

pub(super) fn parse_entity_id(id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| {
        ApiError::bad_request("invalid_id", format!("entity ids are integers, got {id:?}"))
    })
}

/// The version an `If-Match: "{id}-{version}"` header expects, if one is sent.
fn expected_version(headers: &axum::http::HeaderMap, id: u64) -> Result<Option<u64>, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or_default().trim().trim_matches('"');
    match text.split_once('-') {
        Some((i, ver)) if i == id.to_string() => ver.parse().map(Some).map_err(|_| {
            ApiError::bad_request("invalid_if_match", format!("bad If-Match {text:?}"))
        }),
        _ => Err(ApiError::bad_request(
            "invalid_if_match",
            format!("If-Match {text:?} is not an ETag of entity {id}"),
        )),
    }
}

/// A steward override: the pinned value, who and why.
#[derive(Deserialize, ToSchema)]
struct PinBody {
    value: String,
    actor: String,
    #[serde(default)]
    reason: String,
}

#[utoipa::path(
    put,
    path = "/v1/entities/{id}/overrides/{attr}",
    tag = "steward",
    summary = "Pin a golden attribute (steward override)",
    params(("id" = u64, Path, description = "entity id"), ("attr" = String, Path, description = "configured attribute"), ("If-Match" = Option<String>, Header, description = "ETag read earlier; a stale one gets 409 version_conflict")),
    request_body = PinBody,
    responses(
        (status = 200, description = "the entity", body = super::openapi::Entity),
        (status = 400, description = "invalid_payload, invalid_id or actor_required", body = super::openapi::ErrorBody),
        (status = 404, description = "entity_not_found", body = super::openapi::ErrorBody),
        (status = 409, description = "version_conflict: stale If-Match", body = super::openapi::ErrorBody),
        (status = 413, description = "payload_too_large: body over server.max_body_mb, refused on Content-Length before reading", body = super::openapi::ErrorBody),
        (status = 422, description = "invalid_value", body = super::openapi::ErrorBody),
    )
)]
/// Pins a golden attribute (steward override); `If-Match` makes it conditional.
async fn pin(
    State(s): State<AppState>,
    Path((id, attr)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let id = parse_entity_id(&id)?;
    let expected = expected_version(&headers, id)?;
    let body: PinBody = json_body(&body, r#"{"value", "actor", "reason"}"#)?;
    require_actor(&body.actor, "override")?;
    blocking(move || {
        let o = crate::store::Override {
            value: body.value,
            actor: body.actor,
            reason: body.reason,
            at: chrono::Utc::now().timestamp_millis(),
        };
        let actor = o.actor.clone();
        let e = s
            .engine
            .set_override(id, &attr, Some(o), expected, &actor)?;
        entity_response(&s.engine, &e)
    })
    .await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct UnpinQuery {
    /// Who unpins (required).
    actor: Option<String>,
}

#[utoipa::path(
    delete,
    path = "/v1/entities/{id}/overrides/{attr}",
    tag = "steward",
    summary = "Unpin a golden attribute",
    description = "Survivorship decides the attribute again.",
    params(("id" = u64, Path, description = "entity id"), ("attr" = String, Path, description = "configured attribute"), UnpinQuery, ("If-Match" = Option<String>, Header, description = "ETag read earlier; a stale one gets 409 version_conflict")),
    responses(
        (status = 200, description = "the entity", body = super::openapi::Entity),
        (status = 400, description = "invalid_id or actor_required", body = super::openapi::ErrorBody),
        (status = 404, description = "entity_not_found", body = super::openapi::ErrorBody),
        (status = 409, description = "version_conflict: stale If-Match", body = super::openapi::ErrorBody),
    )
)]
/// Removes a steward override: survivorship decides the attribute again.
async fn unpin(
    State(s): State<AppState>,
    Path((id, attr)): Path<(String, String)>,
    Query(q): Query<UnpinQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let id = parse_entity_id(&id)?;
    let expected = expected_version(&headers, id)?;
    let actor = q.actor.unwrap_or_default();
    require_actor(&actor, "unpin (?actor=...)")?;
    blocking(move || {
        let e = s.engine.set_override(id, &attr, None, expected, &actor)?;
        entity_response(&s.engine, &e)
    })
    .await
}

#[utoipa::path(
    get,
    path = "/v1/entities/{id}/conflicts",
    tag = "steward",
    summary = "Attributes whose members disagree, with every candidate value",
    params(("id" = u64, Path, description = "entity id")),
    responses(
        (status = 200, description = "entity_id, version, overrides and conflicts: per attribute, every candidate value with its source, age and whether the rule picks it", body = Object),
        (status = 400, description = "invalid_id", body = super::openapi::ErrorBody),
        (status = 404, description = "entity_not_found", body = super::openapi::ErrorBody),
    )
)]
/// Attributes whose member records disagree, with each candidate value, its source, its age
/// and whether the rule picks it.
async fn conflicts(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_entity_id(&id)?;
    blocking(move || {
        let e = match s.engine.reads().entity(id)? {
            Some(e) if e.state == EntityState::Active => e,
            _ => return Err(ApiError::not_found("entity_not_found", format!("no live entity {id}"))),
        };
        let mut recs = Vec::new();
        for rid in &e.members {
            if let Some(r) = s.engine.reads().record(*rid)? {
                recs.push((*rid, r));
            }
        }
        let members: Vec<_> = recs.iter().map(|(id, r)| (*id, r)).collect();
        let list = crate::survivorship::conflicts(&s.engine.config, &members);
        Ok(Json(json!({"entity_id": id, "version": e.version, "overrides": e.overrides, "conflicts": list})))
    })
    .await
}

/// Entities to merge, who and why.
#[derive(Deserialize, ToSchema)]
struct MergeBody {
    /// Entity ids, or `{"id", "version"}` to make the merge conditional.
    entities: Vec<EntityRef>,
    actor: String,
    #[serde(default)]
    reason: String,
    /// Revoke the cannot-links in the way (listed in the reply) instead of answering 409.
    #[serde(default)]
    revoke_conflicting: bool,
}

/// An entity id, or `{"id", "version"}` to make the action conditional.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
enum EntityRef {
    Id(u64),
    Versioned { id: u64, version: u64 },
}

#[utoipa::path(
    post,
    path = "/v1/entities/merge",
    tag = "steward",
    summary = "Merge entities for good (oldest id survives)",
    description = "Steward actions are all-or-nothing: one that contradicts a decision in force (a cannot-link inside what a merge or must-link joins, a must-link a cannot-link or split would cut, the other verdict on a decided pair) answers 409 decision_conflict naming them, unless revoke_conflicting is set; the reply's revoked lists what was revoked.",
    request_body = MergeBody,
    responses(
        (status = 200, description = "the merged entity and the decisions revoked", body = Object),
        (status = 400, description = "invalid_payload or actor_required", body = super::openapi::ErrorBody),
        (status = 404, description = "entity_not_found", body = super::openapi::ErrorBody),
        (status = 409, description = "decision_conflict: the action contradicts decisions in force, listed in conflicts; nothing was applied; or version_conflict: an entity changed", body = super::openapi::ErrorBody),
        (status = 413, description = "payload_too_large: body over server.max_body_mb, refused on Content-Length before reading", body = super::openapi::ErrorBody),
    )
)]
/// Merges two or more entities for good (must-links); the oldest id survives.
async fn merge(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: MergeBody = json_body(
        &body,
        r#"{"entities": [id or {"id", "version"}, ...], "actor", "reason", "revoke_conflicting"?}"#,
    )?;
    require_actor(&body.actor, "merge")?;
    let mut ids = Vec::new();
    let mut expected = std::collections::HashMap::new();
    for e in &body.entities {
        match e {
            EntityRef::Id(id) => ids.push(*id),
            EntityRef::Versioned { id, version } => {
                ids.push(*id);
                expected.insert(*id, *version);
            }
        }
    }
    ids.sort_unstable();
    ids.dedup();
    if ids.len() < 2 {
        return Err(ApiError::bad_request(
            "too_few",
            "a merge needs at least two entities",
        ));
    }
    blocking(move || {
        let out = s.engine.merge_entities(
            &ids,
            &body.actor,
            &body.reason,
            &expected,
            body.revoke_conflicting,
        )?;
        let e = s
            .engine
            .reads()
            .resolve(out.value)?
            .ok_or_else(|| ApiError::internal("merged entity missing"))?;
        let revoked: Vec<Value> = out.revoked.iter().map(decision_json).collect();
        Ok(Json(
            json!({"entity": view(&s.engine, &e)?, "merged": ids, "revoked": revoked}),
        ))
    })
    .await
}

/// Groups of records to split out, who and why.
#[derive(Deserialize, ToSchema)]
struct SplitBody {
    /// Groups of records (`{"source", "key"}`) that each become an entity.
    #[schema(value_type = Vec<Vec<Object>>)]
    groups: Vec<Vec<crate::store::SourceKey>>,
    actor: String,
    #[serde(default)]
    reason: String,
    /// Revoke the must-links in the way (listed in the reply) instead of answering 409.
    #[serde(default)]
    revoke_conflicting: bool,
}

/// Splits records out of an entity for good (cannot-links against the rest); the records left
/// keep the id, each group gets a new one. `If-Match` makes it conditional.
#[utoipa::path(
    post,
    path = "/v1/entities/{id}/split",
    tag = "steward",
    summary = "Split records out of an entity for good",
    description = "Steward actions are all-or-nothing: one that contradicts a decision in force (a cannot-link inside what a merge or must-link joins, a must-link a cannot-link or split would cut, the other verdict on a decided pair) answers 409 decision_conflict naming them, unless revoke_conflicting is set; the reply's revoked lists what was revoked.",
    params(("id" = u64, Path, description = "entity id"), ("If-Match" = Option<String>, Header, description = "ETag read earlier; a stale one gets 409 version_conflict")),
    request_body = SplitBody,
    responses(
        (status = 200, description = "the entity and its new parts", body = Object),
        (status = 400, description = "invalid_payload, invalid_id or actor_required", body = super::openapi::ErrorBody),
        (status = 404, description = "entity_not_found", body = super::openapi::ErrorBody),
        (status = 409, description = "decision_conflict: the action contradicts decisions in force, listed in conflicts; nothing was applied; or version_conflict: the entity changed", body = super::openapi::ErrorBody),
        (status = 413, description = "payload_too_large: body over server.max_body_mb, refused on Content-Length before reading", body = super::openapi::ErrorBody),
        (status = 422, description = "invalid split", body = super::openapi::ErrorBody),
    )
)]
async fn split(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = parse_entity_id(&id)?;
    let expected = expected_version(&headers, id)?;
    let body: SplitBody = json_body(
        &body,
        r#"{"groups": [[{"source", "key"}, ...], ...], "actor", "reason", "revoke_conflicting"?}"#,
    )?;
    require_actor(&body.actor, "split")?;
    let groups: Vec<Vec<crate::ingest::RecordId>> = body
        .groups
        .iter()
        .map(|g| {
            g.iter()
                .map(|k| crate::ingest::RecordId::of(&k.source, &k.key))
                .collect()
        })
        .collect();
    blocking(move || {
        let parts = s.engine.split_entity(
            id,
            &groups,
            &body.actor,
            &body.reason,
            expected,
            body.revoke_conflicting,
        )?;
        let mut out = Vec::new();
        for eid in std::iter::once(id).chain(parts.value.iter().copied()) {
            if let Some(e) = s.engine.reads().resolve(eid)? {
                out.push(view(&s.engine, &e)?);
            }
        }
        let revoked: Vec<Value> = parts.revoked.iter().map(decision_json).collect();
        Ok(Json(json!({"entities": out, "revoked": revoked})))
    })
    .await
}

/// A pseudo-source reading attributes by their own names, with default formats.
fn attribute_source(engine: &Engine, region: Option<String>) -> Source {
    let c = &engine.config;
    let formats = c
        .sources
        .values()
        .next()
        .map(|s| s.date_formats.clone())
        .unwrap_or_default();
    Source {
        name: "probe".into(),
        format: Format::Json,
        key: "__probe_key".into(),
        default_region: match region {
            Some(r) => vec![r],
            // Every configured region, in source order.
            None => c.sources.values().fold(Vec::new(), |mut all, s| {
                for r in &s.default_region {
                    if !all.contains(r) {
                        all.push(r.clone());
                    }
                }
                all
            }),
        },
        date_formats: if formats.is_empty() {
            crate::config::raw::default_date_formats()
        } else {
            formats
        },
        updated_at: None,
        updated_at_formats: Vec::new(),
        invalid_values: crate::config::InvalidValues::Reject,
        fields: c
            .attributes
            .iter()
            .enumerate()
            .map(|(i, a)| (i, Mapping::Path(a.name.clone())))
            .collect(),
        priority: usize::MAX,
        consent: Vec::new(),
    }
}

/// Normalizes a probe record, read either through a configured source or by attribute names.
fn probe_profile(
    engine: &Engine,
    source: Option<&str>,
    mut raw: RawRecord,
    region: Option<String>,
) -> Result<profile::Profile, ApiError> {
    let src = match source {
        Some(name) => engine.config.sources.get(name).cloned().ok_or_else(|| {
            ApiError::not_found("unknown_source", format!("unknown source {name:?}"))
        })?,
        None => attribute_source(engine, region),
    };
    if !raw.contains_key(&src.key) {
        raw.insert(src.key.clone(), Value::String("probe".into()));
    }
    let rec = ingest::map_record(&engine.config, &src, Position::Index(0), &raw)
        .map_err(|e| ApiError::bad_request("invalid_record", e.to_string()))?;
    profile::build(&engine.config, &src, &rec).map_err(|f| {
        ApiError::bad_request(
            "invalid_record",
            format!("field {:?}: {}", f.field, f.reason),
        )
    })
}

/// A probe record: matched against the stored entities, not stored.
#[derive(Deserialize, ToSchema)]
struct ProbeBody {
    /// Read `record` through this source's mapping; without it, keys are attribute names.
    source: Option<String>,
    #[schema(value_type = Object)]
    record: RawRecord,
    region: Option<String>,
    limit: Option<usize>,
}

/// Match probe.
#[utoipa::path(
    post,
    path = "/v1/match",
    tag = "matching",
    summary = "Match probe: candidate entities with scores and explanations, nothing stored",
    description = "The record is mapped as a record of source (if given) or by attribute name, normalized and matched like an incoming record; nothing is stored. Each candidate is a Candidate.",
    request_body = ProbeBody,
    responses(
        (status = 200, description = "candidates: entities with scores and explanations, best first", body = Object),
        (status = 400, description = "invalid_payload or an invalid record (field and reason)", body = super::openapi::ErrorBody),
        (status = 404, description = "unknown_source", body = super::openapi::ErrorBody),
        (status = 413, description = "payload_too_large: body over server.max_body_mb, refused on Content-Length before reading", body = super::openapi::ErrorBody),
    )
)]
async fn probe(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: ProbeBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_payload",
            format!("expected {{\"source\"?, \"record\": {{...}}}}: {e}"),
        )
    })?;
    let limit = body.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    blocking(move || {
        let p = probe_profile(&s.engine, body.source.as_deref(), body.record, body.region)?;
        let matches = s.engine.probe(&p, limit)?;
        Ok(Json(json!({ "candidates": matches })))
    })
    .await
}

/// Fuzzy search.
#[utoipa::path(
    get,
    path = "/v1/search",
    tag = "matching",
    summary = "Fuzzy search of golden records",
    description = "Query parameters are attribute names (name, email, phone, ...); also limit and region.",
    params(
        ("name" = Option<String>, Query, description = "any configured attribute name works as a parameter: name, email, phone, ..."),
        ("email" = Option<String>, Query),
        ("phone" = Option<String>, Query),
        ("limit" = Option<u64>, Query, description = "results, 20 by default, 1000 at most"),
        ("region" = Option<String>, Query, description = "region for phone numbers without a country code"),
    ),
    responses(
        (status = 200, description = "results: entities with their golden values and score, best first", body = Object),
        (status = 400, description = "invalid_parameter: an unknown attribute, no attribute, or a bad limit", body = super::openapi::ErrorBody),
    )
)]
async fn search(
    State(s): State<AppState>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let limit = match q.get("limit") {
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| {
                ApiError::bad_request(
                    "invalid_parameter",
                    format!("limit must be a number, got {l:?}"),
                )
            })?
            .clamp(1, MAX_LIMIT),
        None => DEFAULT_LIMIT,
    };
    let region = q.get("region").cloned();
    let mut raw = RawRecord::new();
    for (k, v) in &q {
        if s.engine.config.attr(k).is_some() {
            raw.insert(k.clone(), Value::String(v.clone()));
        } else if k != "limit" && k != "region" {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!(
                    "unknown search parameter {k:?}: use attribute names ({})",
                    s.engine
                        .config
                        .attributes
                        .iter()
                        .map(|a| a.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    if raw.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            "give at least one attribute to search by",
        ));
    }
    blocking(move || {
        let p = probe_profile(&s.engine, None, raw, region)?;
        let matches = s.engine.probe(&p, limit)?;
        let mut results = Vec::new();
        for m in matches {
            if let Some(e) = s.engine.reads().resolve(m.entity)? {
                results.push(json!({
                    "entity_id": e.id,
                    "match_probability": m.explanation.match_probability,
                    "match_weight": m.explanation.match_weight,
                    "golden": e.golden.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect::<BTreeMap<_, _>>(),
                }));
            }
        }
        Ok(Json(json!({ "results": results })))
    })
    .await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ReviewQuery {
    limit: Option<usize>,
    offset: Option<usize>,
    /// Only pairs with a record from this source.
    source: Option<String>,
    /// Only pairs whose current match probability is at least this.
    min_probability: Option<f64>,
    /// Only pairs whose current match probability is at most this.
    max_probability: Option<f64>,
    /// Only pairs queued at or before this time (ms since epoch): "older than".
    queued_before: Option<i64>,
    /// Only pairs queued at or after this time (ms since epoch).
    queued_after: Option<i64>,
    /// `uncertain` (probability closest to 0.5 first, the default), `impact` (most records
    /// affected first), `oldest` or `newest`.
    order: Option<String>,
}

/// The review queue: pairs between the review and link thresholds (or refused links), scored
/// again now (a record that changed since it was queued shows its current score), with both
/// sides and the explanation. Pairs settled since (same entity, decided, deleted) are skipped.
/// Decide an item with `POST /v1/decisions`.
#[utoipa::path(
    get,
    path = "/v1/review",
    tag = "steward",
    summary = "Review queue: pairs between the review and link thresholds",
    description = "Scored again now (a record that changed since it was queued shows its current score), with both sides and the explanation; pairs settled since are skipped. Decide an item with POST /v1/decisions.",
    params(ReviewQuery),
    responses(
        (status = 200, description = "a page: total, offset and items (both records, probability, explanation, queued_at)", body = Object),
        (status = 400, description = "invalid_parameter", body = super::openapi::ErrorBody),
    )
)]
async fn review(
    State(s): State<AppState>,
    Query(q): Query<ReviewQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let offset = q.offset.unwrap_or(0);
    let order = q.order.clone().unwrap_or_else(|| "uncertain".into());
    if !["uncertain", "impact", "oldest", "newest"].contains(&order.as_str()) {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("order must be uncertain, impact, oldest or newest, got {order:?}"),
        ));
    }
    blocking(move || {
        let store = s.engine.reads();
        let mut open: Vec<(f64, usize, i64, Value)> = Vec::new();
        for item in store.review_items() {
            let item = item?;
            let (Some(a), Some(b)) = (store.record(item.a)?, store.record(item.b)?) else { continue };
            if a.entity == b.entity || store.decision(&crate::store::ReviewItem::key(item.a, item.b))?.is_some() {
                continue;
            }
            if let Some(src) = &q.source {
                if &a.source != src && &b.source != src {
                    continue;
                }
            }
            if q.queued_before.is_some_and(|t| item.queued_at > t) || q.queued_after.is_some_and(|t| item.queued_at < t) {
                continue;
            }
            let explanation = s.engine.model.explain(&a.profile, &b.profile);
            let p = explanation.decision_probability;
            if q.min_probability.is_some_and(|m| p < m) || q.max_probability.is_some_and(|m| p > m) {
                continue;
            }
            let size = |e: u64| -> Result<usize, ApiError> { Ok(store.entity(e)?.map_or(0, |e| e.members.len())) };
            let impact = size(a.entity)? + size(b.entity)?;
            let side = |id: crate::ingest::RecordId, r: &crate::store::StoredRecord| {
                json!({"record_id": id, "source": r.source, "key": r.key, "entity_id": r.entity, "values": r.values})
            };
            open.push((
                (p - 0.5).abs(),
                impact,
                item.queued_at,
                json!({
                    "a": side(item.a, &a),
                    "b": side(item.b, &b),
                    "reason": item.reason,
                    "queued_at": item.queued_at,
                    "queued_probability": item.match_probability,
                    "records_affected": impact,
                    "explanation": explanation,
                }),
            ));
        }
        match order.as_str() {
            "impact" => open.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.total_cmp(&y.0))),
            "oldest" => open.sort_by_key(|x| x.2),
            "newest" => open.sort_by_key(|x| std::cmp::Reverse(x.2)),
            _ => open.sort_by(|x, y| x.0.total_cmp(&y.0).then(y.1.cmp(&x.1))),
        }
        let total = open.len();
        let items: Vec<Value> = open.into_iter().skip(offset).take(limit).map(|x| x.3).collect();
        Ok(Json(json!({"total": total, "offset": offset, "order": order, "items": items})))
    })
    .await
}
