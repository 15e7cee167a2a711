//! Issue 12, part 2: the OpenAPI document generated from the code agrees with the router the
//! server runs; Swagger UI at `/docs` served from embedded assets; Prometheus metrics at
//! `/metrics` counting what happened.

use std::collections::BTreeSet;

use goldrec::auth::{self, NewKey, Role};
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    client_with_key, spawn_app, TestApp, ADMIN_KEY, CRM_RECORDS, SUPPORT_RECORDS, WEBSHOP_RECORDS,
};

fn fill(template: &str) -> String {
    template
        .replace("{source}", "crm")
        .replace("{key}", "C001")
        .replace("{attr}", "name")
        .replace("{id}", "1")
        .replace("{file}", "init.js")
}

/// The methods the server's router has on `path`: the `Allow` of a 405 to a method no route
/// of this API has.
async fn allowed_methods(app: &TestApp, path: &str) -> BTreeSet<String> {
    let r = client_with_key(ADMIN_KEY)
        .request(Method::from_bytes(b"PROPFIND").unwrap(), app.url(path))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
    let allow = r.headers()[header::ALLOW].to_str().unwrap().to_lowercase();
    allow
        .split(',')
        .map(|m| m.trim().to_string())
        .filter(|m| m != "head")
        .collect()
}

#[tokio::test]
async fn the_served_document_is_the_generated_one_and_each_path_has_the_routers_methods() {
    let app = spawn_app().await;
    let r = reqwest::Client::new()
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let served: Value = r.json().await.unwrap();
    let generated: Value = serde_json::from_str(goldrec::api::openapi::json()).unwrap();
    assert_eq!(served, generated);
    let paths = served["paths"].as_object().unwrap();
    assert!(paths.len() >= 20, "{}", paths.len());
    for (template, item) in paths {
        let documented: BTreeSet<String> = item
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| ["get", "post", "put", "delete", "patch"].contains(&k.as_str()))
            .cloned()
            .collect();
        let routed = allowed_methods(&app, &fill(template)).await;
        assert_eq!(
            documented, routed,
            "{template}: documented vs routed methods"
        );
    }
    // A path the document does not have is not routed either.
    let r = client_with_key(ADMIN_KEY)
        .get(app.url("/v1/undocumented"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn docs_serve_swagger_ui_from_embedded_assets_without_a_key() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let get = |path: &'static str| client.get(app.url(path)).send();
    let page = get("/docs").await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let ct = page.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("text/html"), "{ct}");
    let html = page.text().await.unwrap();
    for needle in [
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-ui.css",
        "/docs/init.js",
    ] {
        assert!(html.contains(needle), "the page loads {needle}: {html}");
    }
    assert!(
        !html.contains("http"),
        "the page loads nothing from elsewhere: {html}"
    );

    let init = get("/docs/init.js").await.unwrap();
    assert!(init.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert!(init.text().await.unwrap().contains("\"/v1/openapi.json\""));

    let bundle = get("/docs/swagger-ui-bundle.js").await.unwrap();
    assert_eq!(bundle.status(), StatusCode::OK);
    let ct = bundle.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("text/javascript"), "{ct}");
    let js = bundle.text().await.unwrap();
    assert!(
        js.len() > 1_000_000 && js.contains("SwaggerUIBundle"),
        "{}",
        js.len()
    );

    let css = get("/docs/swagger-ui.css").await.unwrap();
    assert!(css.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    let license = get("/docs/LICENSE").await.unwrap();
    assert!(license.text().await.unwrap().contains("Apache License"));

    let missing = get("/docs/nope.js").await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["code"], "not_found", "{body}");
}

/// The value of the sample line starting with `prefix` (name and labels), if there is one.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix) && l[prefix.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn scrape(client: &reqwest::Client, app: &TestApp) -> (StatusCode, String, String) {
    let r = client.get(app.url("/metrics")).send().await.unwrap();
    let status = r.status();
    let ct = r
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

#[tokio::test]
async fn metrics_count_ingest_batches_requests_and_read_the_store() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    // One bad record (no key) beside a good one.
    let r = app
        .ingest(
            "crm",
            &json!([
                {"full_name": "No Key", "email": "nokey@example.com"},
                {"customer_id": "M1", "full_name": "Metric Person", "email": "m1@example.com"}
            ]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["rejected"], 1, "{}", r.body);
    // The same record again: unchanged.
    let r = app
        .ingest(
            "crm",
            &json!([{"customer_id": "M1", "full_name": "Metric Person", "email": "m1@example.com"}]),
        )
        .await;
    assert_eq!(r.body["unchanged"], 1, "{}", r.body);
    assert_eq!(app.get_entity(999_999).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(app.url("/v1/nope")).await.status,
        StatusCode::NOT_FOUND
    );

    // Any role may scrape; no key may not.
    let (status, _, body) = scrape(&reqwest::Client::new(), &app).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let ingest_key = auth::create(
        app.dir.path(),
        NewKey {
            name: "prometheus".into(),
            role: Role::Ingest,
            sources: vec!["crm".into()],
            pii: false,
        },
    )
    .unwrap()
    .1;
    let (status, ct, text) = scrape(&client_with_key(&ingest_key), &app).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    assert!(text.trim_end().ends_with("# EOF"));

    let ingested = |source: &str, outcome: &str| {
        sample(
            &text,
            &format!(r#"goldrec_records_ingested_total{{source="{source}",outcome="{outcome}"}}"#),
        )
    };
    assert_eq!(
        ingested("crm", "inserted"),
        Some(CRM_RECORDS as f64 + 1.0),
        "{text}"
    );
    assert_eq!(ingested("crm", "unchanged"), Some(1.0), "{text}");
    assert_eq!(
        ingested("webshop", "inserted"),
        Some(WEBSHOP_RECORDS as f64),
        "{text}"
    );
    assert_eq!(
        ingested("support", "inserted"),
        Some(SUPPORT_RECORDS as f64),
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"goldrec_records_rejected_total{source="crm"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"goldrec_records_rejected_total{source="webshop"}"#),
        None,
        "{text}"
    );
    let batches = sample(&text, "goldrec_batches_total").unwrap();
    assert!(batches >= 5.0, "{batches}");
    for phase in [
        "prepare",
        "classify",
        "candidates",
        "score",
        "cluster",
        "commit",
    ] {
        let n = sample(
            &text,
            &format!(r#"goldrec_batch_phase_seconds_count{{phase="{phase}"}}"#),
        );
        assert!(n.is_some_and(|n| n >= 5.0), "phase {phase}: {n:?}\n{text}");
    }

    let requests = |method: &str, route: &str, status: u16| {
        sample(
            &text,
            &format!(
                r#"goldrec_http_requests_total{{method="{method}",route="{route}",status="{status}"}}"#
            ),
        )
    };
    assert_eq!(
        requests("POST", "/v1/sources/{source}/records", 200),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        requests("GET", "/v1/entities/{id}", 404),
        Some(1.0),
        "{text}"
    );
    assert_eq!(requests("GET", "unmatched", 404), Some(1.0), "{text}");
    assert_eq!(requests("GET", "/metrics", 401), Some(1.0), "{text}");

    // Gauges, read from the store at the scrape.
    let records = CRM_RECORDS + WEBSHOP_RECORDS + SUPPORT_RECORDS + 1;
    assert_eq!(
        sample(&text, "goldrec_records"),
        Some(records as f64),
        "{text}"
    );
    let health = app.health().await;
    assert_eq!(health["records"], records);
    let feed = app.get(app.url("/v1/changes?limit=1")).await;
    assert_eq!(
        sample(&text, "goldrec_change_feed_seq"),
        feed.body["latest"].as_f64(),
        "{}",
        feed.body
    );
    let entities = sample(&text, "goldrec_entities").unwrap();
    assert!(entities >= 5.0 && entities < records as f64, "{entities}");
    let queued = app.review(1000, 0).await;
    let review = sample(&text, "goldrec_review_queue").unwrap();
    assert!(
        review >= queued.body["total"].as_f64().unwrap(),
        "{review} {}",
        queued.body
    );
}
