//! `POST /v1/backups` (admin): a consistent backup of the running server's data directory into
//! a directory on the server's machine ([`crate::backup::hot_backup`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{blocking, json_body, ApiError};
use super::AppState;
use crate::backup::BackupError;

/// The backup route.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/backups", post(backup))
}

/// Where to write the backup.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BackupBody {
    /// Absolute path of an absent or empty directory on the server's machine.
    dir: String,
}

#[utoipa::path(
    post,
    path = "/v1/backups",
    tag = "admin",
    summary = "Back up the running server's data directory",
    description = "Copies the store under the writer lock (writes wait; the copy is one batch boundary) into an absent or empty directory on the server's machine, as stored: encrypted values stay sealed and the same key opens the copy. keys.json comes along; the blocking index does not (`goldrec restore` rebuilds it).",
    request_body = BackupBody,
    responses(
        (status = 201, description = "dir and the backup's manifest: records, entities, last_change", body = Object),
        (status = 400, description = "invalid_payload: not an absolute path", body = super::openapi::ErrorBody),
        (status = 409, description = "not_empty: the directory holds files", body = super::openapi::ErrorBody),
    )
)]
/// Backs the store up while the server runs; answers the manifest (counts, change sequence).
pub(crate) async fn backup(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body: BackupBody = json_body(&body, r#"{"dir": "/absolute/path"}"#)?;
    let dir = std::path::PathBuf::from(&body.dir);
    if !dir.is_absolute() {
        return Err(ApiError::bad_request(
            "invalid_payload",
            format!("dir {:?} must be an absolute path on the server", body.dir),
        ));
    }
    blocking(move || {
        let manifest = crate::backup::hot_backup(&s.engine, &dir).map_err(|e| match e {
            BackupError::NotEmpty(d) => ApiError::new(
                StatusCode::CONFLICT,
                "not_empty",
                format!("{d} is not empty: name an absent or empty directory"),
            ),
            BackupError::Engine(e) => e.into(),
            e => ApiError::internal(e),
        })?;
        Ok((
            StatusCode::CREATED,
            Json(json!({"dir": dir, "backup": manifest})),
        ))
    })
    .await
}
