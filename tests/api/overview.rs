//! `GET /v1/overview`: the counts the steward page opens with, checked against the fixtures
//! and against the review queue's own count.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, CRM_RECORDS, EXPECTED_ENTITIES, SUPPORT_RECORDS, WEBSHOP_RECORDS};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_counts_records_per_source_and_the_open_queue() {
    let app = spawn_app().await;
    let empty = app.get(app.url("/v1/overview")).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert_eq!(empty.body["records"], 0);
    assert_eq!(empty.body["review"]["open"], 0);
    assert!(empty.body["review"]["oldest_queued_at"].is_null());

    let before = chrono::Utc::now().timestamp_millis();
    app.ingest_fixtures().await;
    let o = app.get(app.url("/v1/overview")).await.body;
    let total = CRM_RECORDS + WEBSHOP_RECORDS + SUPPORT_RECORDS;
    assert_eq!(o["records"], total, "{o}");
    assert_eq!(o["entities"], EXPECTED_ENTITIES.len() as u64, "{o}");
    let per_source: Vec<(String, u64)> = o["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["source"].as_str().unwrap().to_string(),
                s["records"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        per_source,
        [
            ("crm".to_string(), CRM_RECORDS),
            ("support".to_string(), SUPPORT_RECORDS),
            ("webshop".to_string(), WEBSHOP_RECORDS)
        ]
    );
    for s in o["sources"].as_array().unwrap() {
        assert!(s["last_ingested_at"].as_i64().unwrap() >= before, "{s}");
    }
    assert_eq!(
        o["latest_change"],
        app.get(app.url("/v1/changes?limit=1")).await.body["latest"]
    );

    // The open queue is what GET /v1/review counts.
    let queue = app.review(100, 0).await.body;
    assert_eq!(o["review"]["open"], queue["total"], "{o}");
    assert!(queue["total"].as_u64().unwrap() > 0);
    let oldest = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["queued_at"].as_i64().unwrap())
        .min();
    assert_eq!(o["review"]["oldest_queued_at"].as_i64(), oldest);

    // Deciding every queued pair empties it.
    for item in queue["items"].as_array().unwrap() {
        let r = app
            .post_json(
                app.url("/v1/decisions"),
                &json!({
                    "a": {"source": item["a"]["source"], "key": item["a"]["key"]},
                    "b": {"source": item["b"]["source"], "key": item["b"]["key"]},
                    "decision": "different", "actor": "ana", "reason": "overview test"
                }),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let after = app.get(app.url("/v1/overview")).await.body;
    assert_eq!(after["review"]["open"], 0, "{after}");
    assert!(after["review"]["oldest_queued_at"].is_null());
    assert_eq!(after["records"], total);
}
