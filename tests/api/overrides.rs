//! Steward overrides: a pinned golden value wins over survivorship, shows who/when/why,
//! survives re-ingest and updates; unpinning restores survivorship; stale writes get 409.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

async fn etag(app: &TestApp, id: u64) -> String {
    let r = app
        .client
        .get(app.url(&format!("/v1/entities/{id}")))
        .send()
        .await
        .unwrap();
    r.headers()["etag"].to_str().unwrap().to_string()
}

async fn pin(
    app: &TestApp,
    id: u64,
    attr: &str,
    body: Value,
    if_match: Option<&str>,
) -> (StatusCode, Value) {
    let mut rb = app
        .client
        .put(app.url(&format!("/v1/entities/{id}/overrides/{attr}")))
        .json(&body);
    if let Some(t) = if_match {
        rb = rb.header("if-match", t);
    }
    let r = rb.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_wins_shows_in_lineage_and_survives_reingest_until_unpinned() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let john = app.entity_of("crm", "C001").await;
    let tag = etag(&app, john).await;
    let body = json!({"value": "john@verified.example.com", "actor": "steward@example.com", "reason": "confirmed by phone"});
    let (status, e) = pin(&app, john, "email", body, Some(&tag)).await;
    assert_eq!(status, StatusCode::OK, "{e}");
    let g = &e["golden"]["email"];
    assert_eq!(g["value"], "john@verified.example.com");
    assert_eq!(g["override"]["actor"], "steward@example.com");
    assert_eq!(g["override"]["reason"], "confirmed by phone");
    assert!(
        g["lineage"]["source"].is_string(),
        "lineage still shows what survivorship found: {g}"
    );

    // Re-ingest and an update that would change the survivorship winner: the pin holds.
    app.ingest_fixtures().await;
    app.put_record(
        "webshop",
        "W-1001",
        &json!({"name": {"first": "John", "last": "Smith"}, "contact": {"email": "js-new@example.com", "phone": "+1 415 555 0101"},
                "dob": "1980-03-15", "shipping": {"line1": "12 Main St", "city": "San Francisco", "postcode": "94105"}, "updated": "2031-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(
        app.entity(john).await["golden"]["email"]["value"],
        "john@verified.example.com"
    );

    let r = app
        .client
        .delete(app.url(&format!(
            "/v1/entities/{john}/overrides/email?actor=steward@example.com"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let after = app.entity(john).await["golden"]["email"].clone();
    assert!(after["override"].is_null(), "{after}");
    assert_eq!(
        after["value"], "js-new@example.com",
        "survivorship decides again (most recent): {after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_and_invalid_overrides_are_refused() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let john = app.entity_of("crm", "C001").await;
    let stale = etag(&app, john).await;
    let ok = json!({"value": "+1 415 555 0199", "actor": "a", "reason": "r"});
    assert_eq!(
        pin(&app, john, "phone", ok.clone(), Some(&stale)).await.0,
        StatusCode::OK
    );
    // A second steward still holding the old ETag.
    let (status, body) = pin(
        &app,
        john,
        "phone",
        json!({"value": "+1 415 555 0111", "actor": "b"}),
        Some(&stale),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "version_conflict");
    assert_eq!(
        app.entity(john).await["golden"]["phone"]["override"]["actor"],
        "a",
        "nothing applied"
    );

    let (status, body) = pin(
        &app,
        john,
        "email",
        json!({"value": "not-an-email", "actor": "a"}),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = pin(
        &app,
        john,
        "shoe_size",
        json!({"value": "42", "actor": "a"}),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = pin(
        &app,
        john,
        "email",
        json!({"value": "x@y.com", "actor": " "}),
        None,
    )
    .await;
    assert_eq!(body["code"], "actor_required", "{status}");
    let (status, _) = pin(
        &app,
        999_999,
        "email",
        json!({"value": "x@y.com", "actor": "a"}),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_kept_as_a_version_with_actor_time_and_reason() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let john = app.entity_of("crm", "C001").await;
    let body = json!({"value": "john@verified.example.com", "actor": "ana@example.com", "reason": "confirmed by phone"});
    assert_eq!(pin(&app, john, "email", body, None).await.0, StatusCode::OK);
    let h = app
        .get(app.url(&format!("/v1/entities/{john}/history")))
        .await
        .body;
    let versions = h["versions"].as_array().unwrap();
    assert!(
        versions.len() >= 3,
        "created, records joined, override: {h}"
    );
    assert_eq!(versions[0]["kind"], "created");
    assert_eq!(versions[0]["actor"], "system");
    let last = versions.last().unwrap();
    assert_eq!(last["actor"], "ana@example.com");
    assert!(
        last["reason"]
            .as_str()
            .unwrap()
            .contains("confirmed by phone"),
        "{last}"
    );
    for w in versions.windows(2) {
        assert_eq!(
            w[1]["version"].as_u64().unwrap(),
            w[0]["version"].as_u64().unwrap() + 1,
            "every version is kept"
        );
    }
    // As of version 1 the entity had only the CRM record and no override.
    let v1 = app
        .get(app.url(&format!("/v1/entities/{john}?version=1")))
        .await
        .body;
    assert_eq!(v1["members"].as_array().unwrap().len(), 1, "{v1}");
    assert_eq!(v1["golden"]["email"], "john.smith@example.com");
    assert!(
        v1["overrides"].as_object().is_none_or(|o| o.is_empty()),
        "{v1}"
    );
    let missing = app
        .get(app.url(&format!("/v1/entities/{john}?version=999")))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}
