//! The steward page: a single HTML page with plain JavaScript and CSS, embedded in the
//! binary and served at `/` and `/ui/*` without a key. The page asks for an API key once
//! (kept in the browser tab's `sessionStorage`) and calls the `/v1` API with it, so every
//! action it offers is checked, masked and audited like any other API call.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::api::error::ApiError;
use crate::api::extract::Path;
use crate::api::AppState;

const INDEX: &str = include_str!("index.html");

/// The embedded assets under `/ui/`: name, content type, bytes.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("app.css"),
    ),
];

/// Scripts and styles only from this server; the API calls go to the same origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   img-src 'self' data:; connect-src 'self'; form-action 'none'; \
                   base-uri 'none'; frame-ancestors 'none'";

/// Routes of the page (open: see [`crate::api::auth::required`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/ui/{path}", get(asset))
}

fn with_headers(content_type: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

#[utoipa::path(
    get,
    path = "/",
    tag = "docs",
    operation_id = "steward_page",
    description = "The steward page (HTML): review queue, audit mode (automatic links to confirm), entities, search, overview with the estimated precision. It asks for an API key and calls this API with it.",
    responses((status = 200, description = "the page", content_type = "text/html"))
)]
pub(crate) async fn index() -> Response {
    with_headers("text/html; charset=utf-8", INDEX)
}

#[utoipa::path(
    get,
    path = "/ui/{path}",
    tag = "docs",
    operation_id = "steward_page_asset",
    params(("path" = String, Path, description = "app.js or app.css")),
    responses(
        (status = 200, description = "the file, with its content type"),
        (status = 404, description = "no such file", body = crate::api::openapi::ErrorBody),
    )
)]
pub(crate) async fn asset(Path(path): Path<String>) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .find(|(name, _, _)| *name == path)
        .map(|(_, ct, body)| with_headers(ct, body))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no file {path:?} under /ui/"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_embedded_assets() {
        for (name, _, body) in ASSETS {
            assert!(
                INDEX.contains(&format!("/ui/{name}")),
                "index.html uses {name}"
            );
            assert!(!body.is_empty());
        }
        // No inline script: the CSP allows only 'self'.
        assert!(!INDEX.contains("<script>"));
    }
}
