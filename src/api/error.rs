//! The API's one error shape: `{"code": "...", "message": "..."}` with a status from a small
//! table of codes. Internal errors are logged in full and shown as a generic message.
//!
//! Handlers answer [`ApiError`]; what the router, the body limits or axum's own extractors
//! answer (404 unknown route, 405 wrong method, 413, 414) is put into the same shape by
//! [`one_shape`], with a code per status from [`code_for_status`].

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
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
    /// Fields added beside `code` and `message` by a few errors: `conflicts` (the decisions
    /// in the way of a steward action), `committed` (what a batch stopped mid-way stored).
    pub details: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(flatten)]
    details: &'a serde_json::Map<String, serde_json::Value>,
}

/// A steward decision as the API shows it: its id (the pair key in hex) and the decision.
pub fn decision_json(d: &crate::store::Decision) -> serde_json::Value {
    let id: String = d.key().iter().map(|b| format!("{b:02x}")).collect();
    serde_json::json!({"id": id, "decision": d})
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: serde_json::Map::new(),
        }
    }

    /// The same error with a field added beside `code` and `message`.
    pub fn with(mut self, field: &str, value: serde_json::Value) -> Self {
        self.details.insert(field.to_string(), value);
        self
    }

    /// 400 with a code and message.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 with a code and message.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 500; the detail is logged, not shown.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error, see the server log",
        )
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::UnknownSource(s) => {
                Self::not_found("unknown_source", format!("unknown source {s:?}"))
            }
            EngineError::EntityNotFound(id) => Self::not_found("entity_not_found", format!("no live entity {id}")),
            e @ EngineError::RecordNotFound { .. } => Self::not_found("record_not_found", e.to_string()),
            EngineError::VersionConflict { id, expected, current } => Self::new(
                StatusCode::CONFLICT,
                "version_conflict",
                format!("entity {id} changed: it is at version {current} (ETag \"{id}-{current}\"), not {expected}; read it again"),
            ),
            EngineError::InvalidValue(m) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", m),
            EngineError::Closed => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the server is shutting down",
            ),
            EngineError::DecisionConflict(ds) => Self::new(
                StatusCode::CONFLICT,
                "decision_conflict",
                format!(
                    "nothing was applied: this contradicts {} decision(s) in force (listed in conflicts); revoke them first (DELETE /v1/decisions/{{id}}) or send \"revoke_conflicting\": true to revoke them with this action",
                    ds.len()
                ),
            )
            .with("conflicts", ds.iter().map(decision_json).collect()),
            EngineError::NotAutomaticLink(m) => Self::bad_request(
                "not_automatic_link",
                format!("not an automatic link: {m}"),
            ),
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
                details: &self.details,
            }),
        )
            .into_response()
    }
}

/// Longest accepted request target (path and query), in bytes: longer ones answer 414
/// `uri_too_long`. Every query of this API fits in a few hundred bytes; hyper itself refuses
/// request lines over 64 KiB before they reach the router.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Code of an error answered outside the handlers (router, body limits, axum), by status.
pub fn code_for_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        s if s.is_server_error() => "internal",
        _ => "request_error",
    }
}

/// Middleware around the whole router: refuses over-long request targets (414), and rewrites
/// any error reply that is not already the JSON shape (an unknown route, a wrong method, a
/// body-limit rejection) into it, keeping its status and headers (`Allow` on 405).
pub async fn one_shape(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let target_len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target_len > MAX_URI_BYTES {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            code_for_status(StatusCode::URI_TOO_LONG),
            format!(
                "the request target is {target_len} bytes, at most {MAX_URI_BYTES} are accepted"
            ),
        )
        .into_response();
    }
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = match status {
        StatusCode::NOT_FOUND if text.is_empty() => format!("no route {method} {path}"),
        StatusCode::METHOD_NOT_ALLOWED => {
            let allow = parts
                .headers
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            format!("{method} is not allowed on {path}; allowed: {allow}")
        }
        _ if text.is_empty() => status.canonical_reason().unwrap_or("error").to_lowercase(),
        _ => text,
    };
    let mut out = ApiError::new(status, code_for_status(status), message).into_response();
    for (k, v) in &parts.headers {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

/// Caps the request bodies of `router`'s routes at `max` bytes: a `Content-Length` over it
/// answers 413 `payload_too_large` before any of the body is read; a body without one stops
/// being read at the limit (413 too).
pub fn limit_body<S: Clone + Send + Sync + 'static>(router: Router<S>, max: usize) -> Router<S> {
    router
        .layer(DefaultBodyLimit::max(max))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| async move {
                let declared = req
                    .headers()
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                match declared {
                    Some(n) if n > max as u64 => ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        code_for_status(StatusCode::PAYLOAD_TOO_LARGE),
                        format!(
                            "the body is {n} bytes, at most {max} are accepted here (server.max_body_mb, server.max_batch_body_mb)"
                        ),
                    )
                    .into_response(),
                    _ => next.run(req).await,
                }
            },
        ))
}

/// Runs blocking engine work off the async runtime.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    // The request's audit draft goes along: a write commits it with its change.
    let drafts: Vec<crate::audit::Draft> = crate::audit::of_request().into_iter().collect();
    tokio::task::spawn_blocking(move || crate::audit::with_drafts(drafts, f))
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
