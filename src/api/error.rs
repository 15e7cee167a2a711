//! The API's one error shape: `{"code": "...", "message": "..."}` with a status from a small
//! table of codes. Internal errors are logged in full and shown as a generic message.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::engine::EngineError;

/// An error answered by the API.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// 400 with a code and message.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }

    /// 404 with a code and message.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code,
            message: message.into(),
        }
    }

    /// 500; the detail is logged, not shown.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "internal error, see the server log".into(),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::UnknownSource(s) => {
                Self::not_found("unknown_source", format!("unknown source {s:?}"))
            }
            EngineError::EntityNotFound(id) => Self::not_found("entity_not_found", format!("no live entity {id}")),
            EngineError::VersionConflict { id, expected, current } => Self {
                status: StatusCode::CONFLICT,
                code: "version_conflict",
                message: format!("entity {id} changed: it is at version {current} (ETag \"{id}-{current}\"), not {expected}; read it again"),
            },
            EngineError::InvalidValue(m) => Self {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "invalid_value",
                message: m,
            },
            EngineError::Closed => Self {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "shutting_down",
                message: "the server is shutting down".into(),
            },
            other => Self::internal(other),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(Body {
                code: self.code,
                message: &self.message,
            }),
        )
            .into_response()
    }
}

/// Runs blocking engine work off the async runtime.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

/// Parses a JSON request body, or answers `invalid_payload` with the expected `shape`.
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8], shape: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("invalid_payload", format!("expected {shape}: {e}")))
}

/// Every steward action names its actor.
pub fn require_actor(actor: &str, action: &str) -> Result<(), ApiError> {
    if actor.trim().is_empty() {
        Err(ApiError::bad_request(
            "actor_required",
            format!("every {action} names its actor"),
        ))
    } else {
        Ok(())
    }
}
