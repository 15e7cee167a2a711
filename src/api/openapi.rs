//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` attributes and the
//! schemas below ([`ApiDoc`]), served at `GET /v1/openapi.json` ([`json`], built once).
//!
//! What every route shares is added here rather than on each handler ([`Common`]): the bearer
//! security scheme, who may call the route (from the permission table
//! [`super::auth::required`], so the document cannot disagree with the guard), the 401 and 403
//! answers of guarded routes and the 405 of every route, all in the one error shape.
//!
//! The types below describe answers that handlers build as JSON values; request bodies and
//! query strings are described by the handlers' own types where they have one.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::Method;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Doc, Ref};
use utoipa::{Modify, OpenApi, ToSchema};

use super::{
    audit, backups, changes, customers, decisions, docs, entities, erasures, keys, metrics,
    overview, quality, records,
};
use crate::auth::Permission;

/// The OpenAPI document of this API (see the module docs).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "goldrec",
        description = "Master data management: source records in, golden customer records with lineage out.\n\n\
Authentication: `Authorization: Bearer KEY` (security scheme `bearer`); each operation's description says which roles may call it. \
Every error (4xx, 5xx), including unknown routes, wrong methods, refused keys and bodies over the limit, is the one JSON shape `Error`: `{\"code\", \"message\"}`, \
`code` stable and machine-readable. Interactive documentation: `/docs`; Prometheus metrics: `/metrics`."
    ),
    paths(
        super::health,
        super::openapi,
        docs::index,
        docs::asset,
        metrics::scrape,
        records::ingest_batch,
        records::get_record,
        records::upsert_one,
        records::delete_one,
        entities::get_entity,
        entities::search,
        entities::probe,
        entities::review,
        entities::merge,
        entities::split,
        entities::conflicts,
        entities::history,
        entities::pin,
        entities::unpin,
        customers::customer_file,
        customers::segment,
        customers::data_quality,
        changes::changes,
        changes::export_all,
        changes::lookup,
        decisions::decide,
        decisions::list,
        decisions::revoke,
        audit::list,
        keys::list,
        keys::create,
        keys::revoke,
        erasures::erase,
        backups::backup,
        overview::overview,
        quality::report,
        quality::sample,
        quality::verdict,
        crate::web::index,
        crate::web::asset,
    ),
    components(schemas(ErrorBody, BatchOutcome, RecordOutcome, Entity, Candidate, ChangeEvent, DecisionRef, crate::consent::GoldenConsent, crate::consent::ConsentState)),
    tags(
        (name = "records", description = "Source records in: batches (JSON array or NDJSON), single upserts and deletes, read-back with the record's entity."),
        (name = "entities", description = "Golden records with members and lineage, as of now or of a version, and their history."),
        (name = "matching", description = "Fuzzy search and the match probe: what the matcher would do with a record, nothing stored."),
        (name = "steward", description = "Review queue, pair decisions, merge, split, overrides and conflicts. Every action names its actor and is all-or-nothing."),
        (name = "changes", description = "Downstream sync: the change feed, the streamed export and bulk look-ups."),
        (name = "admin", description = "API keys, the audit log, erasure and hot backup (admin keys only)."),
        (name = "operations", description = "Health, this document and Prometheus metrics."),
        (name = "docs", description = "Swagger UI on this document, served from the binary."),
    ),
    modifiers(&Common),
    security(("bearer" = []))
)]
pub struct ApiDoc;

/// The document as JSON, generated on first use (the router asks for it at start-up).
pub fn json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .expect("the OpenAPI document serializes")
    })
}

/// Who may call a route needing `p`, for the operation's description.
pub fn access(p: Permission) -> &'static str {
    match p {
        Permission::Open => "open: no key needed",
        Permission::Ingest => "a key with role ingest naming this source, or admin",
        Permission::ReadRecord => "reader, steward, an ingest key naming this source, or admin",
        Permission::Read => "reader, steward or admin",
        Permission::Steward => "steward or admin",
        Permission::Admin => "admin only",
        Permission::AnyKey => "any valid key, whatever its role",
    }
}

const BEARER: &str = "An API key (`goldrec keys create`, or the admin key `serve` prints on a fresh data directory / reads from GOLDREC_ADMIN_KEY). \
Roles: ingest (records of the key's sources), reader (entities, lookup, search, match, changes, export, records), \
steward (reader plus review, decisions, merge, split, overrides, history, conflicts), admin (everything); any key may scrape /metrics. \
Keys without the pii scope see personal values masked ([masking] in the config: e.g. J. Smith, j***@example.com, +*******0101, the birth year) \
in every answer and the export; error messages that could quote a value are withheld.";

/// Adds what every operation shares (module docs).
pub struct Common;

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Error")))
                .build(),
        )
        .build()
}

impl Modify for Common {
    fn modify(&self, doc: &mut Doc) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(BEARER))
                    .build(),
            ),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            let ops: [(Method, &mut Option<Operation>); 5] = [
                (Method::GET, &mut item.get),
                (Method::POST, &mut item.post),
                (Method::PUT, &mut item.put),
                (Method::DELETE, &mut item.delete),
                (Method::PATCH, &mut item.patch),
            ];
            for (method, op) in ops {
                let Some(op) = op.as_mut() else { continue };
                let needed = super::auth::required(&method, path);
                let who = format!("**Access**: {}.", access(needed));
                op.description = Some(match op.description.take() {
                    Some(d) if !d.is_empty() => format!("{d}\n\n{who}"),
                    _ => who,
                });
                let responses = &mut op.responses.responses;
                if needed == Permission::Open {
                    op.security = Some(Vec::<SecurityRequirement>::new());
                } else {
                    responses.entry("401".into()).or_insert_with(|| {
                        error_response("unauthorized: no key, an unknown, wrong or revoked key (WWW-Authenticate: Bearer)").into()
                    });
                    responses.entry("403".into()).or_insert_with(|| {
                        error_response("forbidden: the key's role (or, for an ingest key, its sources) does not allow this route").into()
                    });
                }
                responses.entry("405".into()).or_insert_with(|| {
                    error_response(
                        "method_not_allowed: another method of this path (Allow lists them)",
                    )
                    .into()
                });
            }
        }
    }
}

/// The one error shape of every error reply (4xx and 5xx), including bad query parameters
/// (invalid_parameter), undecodable path segments (invalid_path), unknown routes (not_found),
/// wrong methods (method_not_allowed, with Allow), bodies over the limit (payload_too_large,
/// refused on Content-Length before the body is read) and request targets over 8 KiB
/// (uri_too_long). A few errors add fields: conflicts (decision_conflict), committed (a batch
/// stopped mid-way).
#[derive(ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// Stable machine-readable code.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// decision_conflict: the decisions in force in the way.
    pub conflicts: Option<Vec<DecisionRef>>,
    /// A batch that stopped mid-way: the chunks committed before it and their counts.
    pub committed: Option<Committed>,
}

/// What a batch that stopped mid-way had committed.
#[derive(ToSchema)]
pub struct Committed {
    /// Chunks committed.
    pub chunks: u64,
    /// Their counts (inserted, updated, ...).
    #[schema(value_type = Object)]
    pub summary: serde_json::Value,
}

/// A steward decision: its id (the pair key in hex) and the decision.
#[derive(ToSchema)]
pub struct DecisionRef {
    /// Decision id (pair key, hex).
    pub id: String,
    /// The decision: records, verdict, actor, reason, time.
    #[schema(value_type = Object)]
    pub decision: serde_json::Value,
}

/// Outcome of one accepted record.
#[derive(ToSchema)]
pub struct RecordOutcome {
    /// Index in a JSON batch (0-based).
    pub index: Option<u64>,
    /// Line of an NDJSON batch (1-based).
    pub line: Option<u64>,
    /// Record key.
    pub key: String,
    /// Record id (32 hex characters).
    pub record_id: String,
    /// inserted, updated, unchanged, superseded or reevaluated.
    pub status: String,
    /// Entity the record belongs to after the batch.
    pub entity_id: Option<u64>,
}

/// Why one record of a batch was rejected.
#[derive(ToSchema)]
pub struct RecordRejection {
    /// Index in a JSON batch (0-based).
    pub index: Option<u64>,
    /// Line of an NDJSON batch (1-based).
    pub line: Option<u64>,
    /// The record key, when it could be read.
    pub key: Option<String>,
    /// The source field at fault, if one is.
    pub field: Option<String>,
    /// What is wrong.
    pub reason: String,
}

/// Outcome of a batch: counts, chunks committed, per-record results and errors.
#[derive(ToSchema)]
pub struct BatchOutcome {
    /// New records.
    pub inserted: u64,
    /// Changed records.
    pub updated: u64,
    /// Records identical to what was stored.
    pub unchanged: u64,
    /// Deleted records.
    pub deleted: u64,
    /// Deletes of unknown records.
    pub not_found: u64,
    /// Records replaced by a later version in the same batch.
    pub superseded: u64,
    /// Records matched again after a decision.
    pub reevaluated: u64,
    /// Rejected records (see errors).
    pub rejected: u64,
    /// Chunks committed, each its own group commit of up to server.chunk_records records.
    pub chunks: u64,
    /// Accepted records, at most server.max_reported.
    pub records: Vec<RecordOutcome>,
    /// Accepted records beyond server.max_reported, counted but not listed.
    pub records_omitted: u64,
    /// Rejected records, at most server.max_reported.
    pub errors: Vec<RecordRejection>,
    /// Rejected records beyond server.max_reported, counted but not listed.
    pub errors_omitted: u64,
}

/// Lineage of a golden value: the record and rule it came from.
#[derive(ToSchema)]
pub struct Lineage {
    /// Record id.
    pub record: String,
    /// Its source.
    pub source: String,
    /// Its key.
    pub key: String,
    /// Survivorship rule that picked it.
    pub rule: String,
    /// When the source observed the value (ms since the epoch).
    pub observed_at: Option<i64>,
    /// Member records agreeing on the value.
    pub support: u64,
}

/// One golden attribute value.
#[derive(ToSchema)]
pub struct GoldenValue {
    /// The value.
    pub value: String,
    /// Where it came from.
    pub lineage: Lineage,
}

/// A golden record with its member records.
#[derive(ToSchema)]
pub struct Entity {
    /// Entity id.
    pub id: u64,
    /// Version, bumped by every change (the ETag is `"{id}-{version}"`).
    pub version: u64,
    /// active.
    pub state: String,
    /// Creation time (ms since the epoch).
    pub created_at: i64,
    /// Last change (ms since the epoch).
    pub updated_at: i64,
    /// Golden values by attribute.
    pub golden: BTreeMap<String, GoldenValue>,
    /// Golden consent per declared purpose: the most restrictive current statement of the
    /// members (any denial: denied; else a grant: granted; else unknown), with the record that
    /// decides it.
    pub consent: BTreeMap<String, crate::consent::GoldenConsent>,
    /// Member records: record_id, source, key, values, updated_at, ingested_at.
    #[schema(value_type = Vec<Object>)]
    pub members: Vec<serde_json::Value>,
}

/// A candidate entity of a match probe, its best record pair explained.
#[derive(ToSchema)]
pub struct Candidate {
    /// Entity id.
    pub entity: u64,
    /// Member record that scored best.
    pub record: String,
    /// Its source.
    pub source: String,
    /// Its key.
    pub key: String,
    /// link, review or distinct.
    pub decision: String,
    /// Score and per-comparison breakdown.
    #[schema(value_type = Object)]
    pub explanation: serde_json::Value,
}

/// One event of the change feed.
#[derive(ToSchema)]
pub struct ChangeEvent {
    /// Global gap-free sequence number.
    pub seq: u64,
    /// Entity id.
    pub entity_id: u64,
    /// created, updated, record_joined, record_left, merged, split, deleted, erased (the
    /// entity's records were erased: no personal data in the event) or classified (its
    /// classification changed: classification and classification_was).
    pub kind: String,
    /// Entity version after the change.
    pub version: u64,
    /// Commit time (ms since the epoch).
    pub at: i64,
    /// Golden values after the change.
    pub golden: BTreeMap<String, String>,
    /// Member records after the change.
    #[schema(value_type = Vec<Object>)]
    pub members: Vec<serde_json::Value>,
    /// Attributes whose golden value changed.
    pub changed: Vec<String>,
    /// Records that joined.
    #[schema(value_type = Vec<Object>)]
    pub joined: Vec<serde_json::Value>,
    /// Records that left.
    #[schema(value_type = Vec<Object>)]
    pub left: Vec<serde_json::Value>,
    /// merged: the surviving entity.
    pub merged_into: Option<u64>,
    /// Personal data removed by a later erasure (golden values, erased records' keys).
    pub redacted: Option<bool>,
    /// Consent per declared purpose after the change (absent for merged and deleted
    /// entities: unknown).
    pub consent: Option<BTreeMap<String, crate::consent::ConsentState>>,
    /// Purposes whose consent changed, with the state before the change.
    pub consent_was: Option<BTreeMap<String, crate::consent::ConsentState>>,
    /// Classification results after the change, when the change altered them.
    pub classification: Option<BTreeMap<String, String>>,
    /// Classification results before the change, when it altered them.
    pub classification_was: Option<BTreeMap<String, String>>,
}

/// `GET /v1/health`.
#[derive(ToSchema)]
pub struct Health {
    /// ok.
    pub status: String,
    /// Stored records.
    pub records: Option<u64>,
    /// Records in the blocking index.
    pub indexed: u64,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

    fn doc() -> Value {
        serde_json::from_str(json()).expect("the document is JSON")
    }

    /// (method, path) of every operation of the document.
    fn operations(doc: &Value) -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for m in METHODS {
                if item.get(m).is_some() {
                    out.insert((m.to_string(), path.clone()));
                }
            }
        }
        out
    }

    /// Every `"/..."` literal of `text` that follows `marker`.
    fn literals_after(text: &str, marker: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (i, _) in text.match_indices(marker) {
            let rest = text[i + marker.len()..].trim_start();
            if let Some(rest) = rest.strip_prefix("\"/") {
                let end = rest.find('"').expect("closed literal");
                out.push(format!("/{}", &rest[..end]));
            }
        }
        out
    }

    /// The `.route(...)` calls of every source file under `src/`: (path, methods).
    fn router_routes() -> Vec<(String, BTreeSet<String>)> {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).expect("readable src") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push(p);
                }
            }
        }
        let mut files = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let mut routes = Vec::new();
        for f in files {
            let text = std::fs::read_to_string(&f).expect("readable source");
            for (i, _) in text.match_indices(".route(") {
                let call = &text[i..];
                let Some(path) = literals_after(call, ".route(").into_iter().next() else {
                    continue;
                };
                // The method routers of this call: up to the closing parenthesis.
                let mut depth = 0;
                let end = call
                    .char_indices()
                    .find(|&(_, c)| {
                        match c {
                            '(' => depth += 1,
                            ')' => depth -= 1,
                            _ => {}
                        }
                        c == ')' && depth == 0
                    })
                    .map_or(call.len(), |(j, _)| j);
                let body = &call[..end];
                let methods: BTreeSet<String> = METHODS
                    .iter()
                    .filter(|m| {
                        // `get(`, `.get(`, `routing::get(`, not `budget(` or `get_x(`.
                        body.match_indices(&format!("{m}(")).any(|(j, _)| {
                            !body[..j].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                        })
                    })
                    .map(|m| m.to_string())
                    .collect();
                routes.push((path, methods));
            }
        }
        routes
    }

    #[test]
    fn the_document_covers_every_route_of_the_router_and_the_permission_table() {
        let doc = doc();
        let ops = operations(&doc);
        let routes = router_routes();
        assert!(routes.len() >= 20, "found {} routes", routes.len());
        let mut from_router = BTreeSet::new();
        for (path, methods) in &routes {
            assert!(!methods.is_empty(), "no method found for route {path}");
            for m in methods {
                from_router.insert((m.clone(), path.clone()));
            }
        }
        assert_eq!(
            ops, from_router,
            "the document's operations (left) and the router's routes (right) differ"
        );
        // Every path the permission table names is a documented path, and every documented
        // operation is classified as the guard classifies it.
        let table = include_str!("auth.rs");
        let table = &table[table.find("pub fn required").expect("required")..];
        let table = &table[..table.find("\n}\n").expect("end of required")];
        let paths: BTreeSet<String> = ops.iter().map(|(_, p)| p.clone()).collect();
        let named: Vec<&str> = table
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| s.starts_with('/'))
            .collect();
        assert!(named.len() >= 20, "{named:?}");
        for path in named {
            assert!(
                paths.contains(path),
                "{path} is in required() but not documented"
            );
        }
    }

    #[test]
    fn the_document_is_valid_openapi_with_resolving_refs() {
        let text = json();
        let spec = oas3::from_json(text).expect("oas3 parses the document");
        assert!(spec.openapi.starts_with("3.1"), "{}", spec.openapi);
        let doc = doc();
        // Every $ref resolves.
        fn refs(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(o) => {
                    if let Some(Value::String(r)) = o.get("$ref") {
                        out.push(r.clone());
                    }
                    o.values().for_each(|x| refs(x, out));
                }
                Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(all.len() > 50, "{} refs", all.len());
        for r in &all {
            let pointer = r.strip_prefix('#').expect("local ref");
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
        let mut ids = BTreeSet::new();
        for (m, path) in operations(&doc) {
            let op = &doc["paths"][&path][&m];
            let what = format!("{m} {path}");
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{what}: no success response"
            );
            assert!(responses.contains_key("405"), "{what}: no 405");
            for (status, r) in responses {
                assert!(
                    r["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{what} {status}: no description"
                );
                if status.starts_with('4') && status != "404" || status.starts_with('5') {
                    assert_eq!(
                        r["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/Error",
                        "{what} {status}: errors have the one shape"
                    );
                }
            }
            let description = op["description"].as_str().unwrap_or_default();
            assert!(description.contains("**Access**"), "{what}: {description}");
            let method = axum::http::Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
            let needed = crate::api::auth::required(&method, &path);
            assert!(
                description.contains(access(needed)),
                "{what}: {description}"
            );
            let open = op.get("security") == Some(&serde_json::json!([]));
            assert_eq!(open, needed == Permission::Open, "{what}: security");
            if !open {
                assert!(responses.contains_key("401") && responses.contains_key("403"));
            }
            // Path parameters: declared exactly for the template's {names}.
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .map(|p| p["name"].as_str().unwrap())
                        .collect()
                })
                .unwrap_or_default();
            let in_template: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            assert_eq!(declared, in_template, "{what}: path parameters");
            let tags: BTreeSet<&str> = doc["tags"]
                .as_array()
                .expect("tags")
                .iter()
                .map(|t| t["name"].as_str().unwrap())
                .collect();
            assert!(
                op["tags"]
                    .as_array()
                    .is_some_and(|t| t.len() == 1 && tags.contains(t[0].as_str().unwrap())),
                "{what}: one declared tag"
            );
            let id = op["operationId"].as_str().expect("operationId");
            assert!(ids.insert(id.to_string()), "{what}: operationId {id} twice");
        }
        let bearer = &doc["components"]["securitySchemes"]["bearer"];
        assert_eq!(bearer["type"], "http");
        assert_eq!(bearer["scheme"], "bearer");
        assert_eq!(doc["security"], serde_json::json!([{"bearer": []}]));
    }
}
