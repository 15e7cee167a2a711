//! The guard in front of every route: the permission each route needs ([`required`]), and
//! the middleware ([`require`]) that checks the bearer key against [`crate::auth::Keys`].
//!
//! A route missing from [`required`] needs an admin key: a new route is closed until it is
//! classified. The role matrix test (`tests/api/auth.rs`) walks every route of the OpenAPI
//! document with every role.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::audit::{AuditEntry, Auditor, Draft};
use crate::auth::{Denied, KeyEntry, Keys, Permission};
use crate::masking::Masker;

/// The permission a route (method and matched path template) needs.
pub fn required(method: &Method, path: &str) -> Permission {
    use Permission::*;
    match (method.as_str(), path) {
        (_, "/v1/health" | "/v1/openapi.json" | "/docs" | "/docs/{file}") => Open,
        ("GET" | "HEAD", "/metrics") => AnyKey,
        // The steward page's static files; the page calls the API with the user's key.
        ("GET" | "HEAD", "/" | "/ui/{path}") => Open,
        ("POST", "/v1/sources/{source}/records") => Ingest,
        ("PUT" | "DELETE", "/v1/sources/{source}/records/{key}") => Ingest,
        ("GET" | "HEAD", "/v1/sources/{source}/records/{key}") => ReadRecord,
        ("GET" | "HEAD", "/v1/entities/{id}" | "/v1/search" | "/v1/changes" | "/v1/export") => Read,
        ("GET" | "HEAD", "/v1/overview") => Read,
        ("GET" | "HEAD", "/v1/entities/{id}/file" | "/v1/segments/{name}") => Read,
        ("GET" | "HEAD", "/v1/quality/data") => Steward,
        ("POST", "/v1/match" | "/v1/lookup") => Read,
        ("GET" | "HEAD", "/v1/review" | "/v1/decisions") => Steward,
        ("GET" | "HEAD", "/v1/entities/{id}/history" | "/v1/entities/{id}/conflicts") => Steward,
        ("POST", "/v1/decisions" | "/v1/entities/merge" | "/v1/entities/{id}/split") => Steward,
        ("DELETE", "/v1/decisions/{id}") => Steward,
        ("PUT" | "DELETE", "/v1/entities/{id}/overrides/{attr}") => Steward,
        ("GET" | "HEAD", "/v1/quality" | "/v1/quality/sample") => Steward,
        ("POST", "/v1/quality/verdicts") => Steward,
        _ => Admin,
    }
}

/// State of the guard: the keys and the audit queue.
#[derive(Clone)]
pub struct Guard {
    /// The keys file's view.
    pub keys: Arc<Keys>,
    /// Where every guarded request is recorded.
    pub audit: Auditor,
    /// Masks JSON answers for keys without the `pii` scope.
    pub masker: Arc<Masker>,
    /// Largest steward request body read for the audit log (`server.max_body_mb`).
    pub max_body: usize,
}

/// The caller of a request, put in its extensions by [`require`] (absent on open routes).
#[derive(Debug, Clone)]
pub struct Caller(pub Arc<KeyEntry>);

fn unauthorized(why: &str) -> Response {
    let mut r = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        format!("{why}: send Authorization: Bearer KEY (goldrec keys create)"),
    )
    .into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    r
}

/// The `{source}` segment of a request to `/v1/sources/{source}/...`, percent-decoded.
fn source_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v1/sources/")?;
    let seg = rest.split('/').next()?;
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Middleware on every route (`route_layer`, so the matched path is known): open routes
/// pass; otherwise a missing, unknown, wrong or revoked key answers 401 `unauthorized` and
/// a key whose role does not allow the route 403 `forbidden`. The first request with a key
/// runs argon2 off the runtime; later ones compare a blake3 hash. Every guarded request,
/// allowed or not, is queued to the audit log with its answer's status.
pub async fn require(State(guard): State<Guard>, req: Request, next: Next) -> Response {
    let template = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let needed = required(req.method(), &template);
    if needed == Permission::Open {
        return next.run(req).await;
    }
    let (method, path) = (req.method().to_string(), req.uri().path().to_string());
    let (mut resp, caller, request, draft) = check(&guard, needed, &template, req, next).await;
    let pii = caller.as_ref().is_some_and(|c| c.pii);
    // Admin routes (keys, audit) carry no personal data; their fields are not masked.
    if !pii && needed != Permission::Admin {
        resp = mask_response(&guard.masker, resp).await;
    }
    let status = resp.status();
    let outcome = match status.as_u16() {
        401 | 403 => "refused",
        s if s >= 400 => "failed",
        _ => "ok",
    };
    let personal_data = outcome == "ok"
        && pii
        && matches!(
            needed,
            Permission::Read | Permission::ReadRecord | Permission::Steward
        );
    // A write's entry went into its change's transaction; another is written only when the
    // request ended otherwise than it (a batch failing after some chunks were committed).
    if draft.is_some_and(|d| d.committed()) && outcome == "ok" {
        return resp;
    }
    guard.audit.record(AuditEntry {
        in_transaction: false,
        part: None,
        at: chrono::Utc::now(),
        actor: caller.as_ref().map(|c| c.name.clone()),
        key_id: caller.map(|c| c.id.clone()),
        method,
        route: template,
        path,
        status: Some(status.as_u16()),
        outcome: outcome.to_string(),
        personal_data,
        request,
    });
    resp
}

/// What a steward write asked for, for the audit log: its query string and JSON body
/// (decision, records, claimed actor, reason), without `value` fields (an override's value
/// is personal data).
fn steward_request(query: Option<&str>, body: &[u8]) -> Option<serde_json::Value> {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(o) => {
                o.remove("value");
                o.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut out = serde_json::Map::new();
    if let Some(q) = query {
        out.insert("query".into(), q.into());
    }
    if let Ok(mut b) = serde_json::from_slice::<serde_json::Value>(body) {
        strip(&mut b);
        out.insert("body".into(), b);
    }
    (!out.is_empty()).then_some(serde_json::Value::Object(out))
}

/// Authenticates and authorizes, then runs the handler; returns the answer, the key and,
/// for a steward write, what it asked for ([`steward_request`]).
async fn check(
    guard: &Guard,
    needed: Permission,
    template: &str,
    mut req: Request,
    next: Next,
) -> (
    Response,
    Option<Arc<KeyEntry>>,
    Option<serde_json::Value>,
    Option<Draft>,
) {
    let keys = &guard.keys;
    let Some(presented) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|v| v.trim().to_string())
    else {
        return (unauthorized("no key"), None, None, None);
    };
    if let Err(e) = keys.refresh() {
        return (ApiError::internal(e).into_response(), None, None, None);
    }
    let entry = match keys.lookup_fast(&presented) {
        Ok(Some(e)) => e,
        Ok(None) => {
            let keys = keys.clone();
            match tokio::task::spawn_blocking(move || keys.verify_slow(&presented)).await {
                Ok(Ok(e)) => e,
                Ok(Err(Denied(why))) => return (unauthorized(why), None, None, None),
                Err(e) => return (ApiError::internal(e).into_response(), None, None, None),
            }
        }
        Err(Denied(why)) => return (unauthorized(why), None, None, None),
    };
    let entry = Arc::new(entry);
    let source = source_of(req.uri().path());
    if !entry.allows(needed, source.as_deref()) {
        let what = match (needed, &source) {
            (Permission::Ingest | Permission::ReadRecord, Some(s)) if !entry.sources.is_empty() => {
                format!(
                    "key {:?} ({}) may not use source {s:?}; it names {}",
                    entry.name,
                    entry.role.as_str(),
                    entry.sources.join(", ")
                )
            }
            _ => format!(
                "key {:?} has role {}, which may not {} {template}",
                entry.name,
                entry.role.as_str(),
                req.method()
            ),
        };
        return (
            ApiError::new(StatusCode::FORBIDDEN, "forbidden", what).into_response(),
            Some(entry),
            None,
            None,
        );
    }
    req.extensions_mut().insert(Caller(entry.clone()));
    let mut request = None;
    // A declared length over the limit is left to the body limit (413 before reading).
    let declared_too_long = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > guard.max_body as u64);
    // Steward writes and erasures are recorded with what they asked for (ids, reason).
    if (needed == Permission::Steward || template == "/v1/erasures")
        && !declared_too_long
        && !matches!(*req.method(), Method::GET | Method::HEAD)
    {
        let (parts, b) = req.into_parts();
        let bytes = match axum::body::to_bytes(b, guard.max_body).await {
            Ok(bytes) => bytes,
            Err(_) => {
                let e = ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!(
                        "the body is over {} bytes (server.max_body_mb)",
                        guard.max_body
                    ),
                );
                return (e.into_response(), Some(entry), None, None);
            }
        };
        request = steward_request(parts.uri.query(), &bytes);
        req = Request::from_parts(parts, axum::body::Body::from(bytes));
    }
    // Writes to the store commit their entry with the change (see [`crate::audit`]).
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD)
        && (matches!(needed, Permission::Ingest | Permission::Steward)
            || template == "/v1/erasures");
    if !writes {
        return (next.run(req).await, Some(entry), request, None);
    }
    let draft = Draft::new(AuditEntry {
        at: chrono::Utc::now(),
        actor: Some(entry.name.clone()),
        key_id: Some(entry.id.clone()),
        method: req.method().to_string(),
        route: template.to_string(),
        path: req.uri().path().to_string(),
        status: None,
        outcome: "ok".into(),
        personal_data: false,
        request: request.clone(),
        in_transaction: true,
        part: None,
    });
    let resp = crate::audit::in_request(draft.clone(), next.run(req)).await;
    (resp, Some(entry), request, Some(draft))
}

/// A JSON answer with personal values masked ([`Masker::mask_json`]); other answers (the
/// export masks its own rows) pass unchanged.
async fn mask_response(masker: &Masker, resp: Response) -> Response {
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => return ApiError::internal(e).into_response(),
    };
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return ApiError::internal("a JSON answer did not parse for masking").into_response();
    };
    masker.mask_json(&mut v);
    let out = serde_json::to_vec(&v).expect("JSON serializes");
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(out))
}
