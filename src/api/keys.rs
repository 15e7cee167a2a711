//! `/v1/keys` (admin): the API keys of [`crate::auth`] over HTTP, for admins without shell
//! access to the data directory. The same keys file as `goldrec keys`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{blocking, json_body, ApiError};
use super::extract::Path;
use super::AppState;
use crate::auth::{self, AuthError, KeyEntry, NewKey, Role};

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/keys", get(list).post(create))
        .route("/v1/keys/{id}", delete(revoke))
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidName(..) | AuthError::InvalidSources(_) | AuthError::WeakEnvKey => {
                ApiError::bad_request("invalid_key", e.to_string())
            }
            AuthError::UnknownKey(_) => ApiError::not_found("key_not_found", e.to_string()),
            other => ApiError::internal(other),
        }
    }
}

/// A key as listed: never its hash.
fn key_json(k: &KeyEntry) -> Value {
    json!({
        "id": k.id,
        "key_name": k.name,
        "role": k.role,
        "sources": k.sources,
        "pii": k.pii,
        "created_at": k.created_at,
        "revoked_at": k.revoked_at,
    })
}

#[utoipa::path(
    get,
    path = "/v1/keys",
    tag = "admin",
    operation_id = "list_keys",
    summary = "List API keys (admin); never the keys or their hashes",
    responses(
        (status = 200, description = "keys: id, key_name, role, sources, pii, created_at, revoked_at", body = Object),
    )
)]
async fn list(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let dir = s.engine.config.data_dir.clone();
    let keys = blocking(move || Ok(auth::list(&dir)?)).await?;
    Ok(Json(
        json!({"keys": keys.iter().map(key_json).collect::<Vec<_>>()}),
    ))
}

/// A key to create.
#[derive(Deserialize, utoipa::ToSchema)]
struct CreateBody {
    /// Unique among active keys; names the holder in logs.
    key_name: String,
    role: Role,
    /// Sources an ingest key may write (ingest keys only, at least one).
    #[serde(default)]
    sources: Vec<String>,
    /// The key sees personal values in clear.
    #[serde(default)]
    pii: bool,
}

/// 201 with the new key, shown only in this answer.
#[utoipa::path(
    post,
    path = "/v1/keys",
    tag = "admin",
    operation_id = "create_key",
    summary = "Create an API key (admin); the key is in this answer only",
    request_body = CreateBody,
    responses(
        (status = 201, description = "the key entry plus key", body = Object),
        (status = 400, description = "invalid_payload, invalid_key (name taken or empty, ingest without sources, sources on another role)", body = super::openapi::ErrorBody),
        (status = 404, description = "unknown_source", body = super::openapi::ErrorBody),
        (status = 413, description = "payload_too_large", body = super::openapi::ErrorBody),
    )
)]
async fn create(State(s): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let b: CreateBody = json_body(
        &body,
        r#"{"key_name", "role": "ingest|reader|steward|admin", "sources"?: [...], "pii"?: bool}"#,
    )?;
    if let Some(src) = b
        .sources
        .iter()
        .find(|x| !s.engine.config.sources.contains_key(*x) && !s.engine.is_activity_source(x))
    {
        return Err(ApiError::not_found(
            "unknown_source",
            format!("unknown source {src:?}"),
        ));
    }
    let dir = s.engine.config.data_dir.clone();
    let (entry, key) = blocking(move || {
        Ok(auth::create(
            &dir,
            NewKey {
                name: b.key_name,
                role: b.role,
                sources: b.sources,
                pii: b.pii,
            },
        )?)
    })
    .await?;
    let mut v = key_json(&entry);
    v["key"] = Value::String(key);
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// Revokes a key by id or name; it is refused from the next request on.
#[utoipa::path(
    delete,
    path = "/v1/keys/{id}",
    tag = "admin",
    operation_id = "revoke_key",
    summary = "Revoke an API key by id or name (admin)",
    params(("id" = String, Path, description = "key id or name")),
    responses(
        (status = 200, description = "the revoked key entry", body = Object),
        (status = 400, description = "invalid_path", body = super::openapi::ErrorBody),
        (status = 404, description = "key_not_found", body = super::openapi::ErrorBody),
    )
)]
async fn revoke(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let dir = s.engine.config.data_dir.clone();
    let entry = blocking(move || Ok(auth::revoke(&dir, &id)?)).await?;
    Ok(Json(key_json(&entry)))
}
