//! `/docs`: Swagger UI on the generated OpenAPI document, offline. The `swagger-ui-dist`
//! assets are vendored in `src/api/docs/vendor/` (see its README) and embedded in the binary;
//! nothing is fetched from elsewhere, at build time or in the browser.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::error::ApiError;
use super::extract::Path;
use super::AppState;

/// The page: loads the bundle and `init.js`, which points it at `/v1/openapi.json`.
const INDEX: &str = include_str!("docs/index.html");

/// The embedded files under `/docs/`: name, content type, content.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
        include_bytes!("docs/vendor/swagger-ui-bundle.js"),
    ),
    (
        "swagger-ui.css",
        "text/css; charset=utf-8",
        include_bytes!("docs/vendor/swagger-ui.css"),
    ),
    (
        "init.js",
        "text/javascript; charset=utf-8",
        include_bytes!("docs/init.js"),
    ),
    (
        "LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("docs/vendor/LICENSE"),
    ),
    (
        "swagger-ui-bundle.js.LICENSE.txt",
        "text/plain; charset=utf-8",
        include_bytes!("docs/vendor/swagger-ui-bundle.js.LICENSE.txt"),
    ),
];

/// Routes of the documentation.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/docs", get(index))
        .route("/docs/{file}", get(asset))
}

/// Interactive API documentation (Swagger UI).
#[utoipa::path(
    get,
    path = "/docs",
    tag = "docs",
    operation_id = "docs_page",
    description = "An HTML page: Swagger UI on /v1/openapi.json, served from assets embedded in the binary (no network needed). Authorize with an API key to try the guarded routes.",
    responses((status = 200, description = "the page", content_type = "text/html"))
)]
pub(super) async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INDEX,
    )
        .into_response()
}

/// A Swagger UI asset.
#[utoipa::path(
    get,
    path = "/docs/{file}",
    tag = "docs",
    operation_id = "docs_asset",
    params(("file" = String, Path, description = "swagger-ui-bundle.js, swagger-ui.css, init.js, LICENSE or swagger-ui-bundle.js.LICENSE.txt")),
    responses(
        (status = 200, description = "the file, with its content type (JavaScript, CSS or text)"),
        (status = 404, description = "no such file", body = super::openapi::ErrorBody),
    )
)]
pub(super) async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    let (_, content_type, bytes) = ASSETS
        .iter()
        .find(|(name, _, _)| *name == file)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no documentation file {file:?}"),
            )
        })?;
    Ok((
        [
            (header::CONTENT_TYPE, *content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        *bytes,
    )
        .into_response())
}
