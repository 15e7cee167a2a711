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

async fn list(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let dir = s.engine.config.data_dir.clone();
    let keys = blocking(move || Ok(auth::list(&dir)?)).await?;
    Ok(Json(
        json!({"keys": keys.iter().map(key_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
struct CreateBody {
    key_name: String,
    role: Role,
    #[serde(default)]
    sources: Vec<String>,
    #[serde(default)]
    pii: bool,
}

/// 201 with the new key, shown only in this answer.
async fn create(State(s): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let b: CreateBody = json_body(
        &body,
        r#"{"key_name", "role": "ingest|reader|steward|admin", "sources"?: [...], "pii"?: bool}"#,
    )?;
    if let Some(src) = b
        .sources
        .iter()
        .find(|x| !s.engine.config.sources.contains_key(*x))
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
async fn revoke(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let dir = s.engine.config.data_dir.clone();
    let entry = blocking(move || Ok(auth::revoke(&dir, &id)?)).await?;
    Ok(Json(key_json(&entry)))
}
