//! Durability across a restart on the same data dir, and index rebuild from sled.

use serde_json::json;

use crate::helpers::{spawn_app, spawn_on};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_is_found_after_a_restart() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let john = app.entity_of("crm", "C001").await;
    let (_, before) = app.get(&format!("/v1/entities/{john}")).await;
    let (data_dir, keep) = app.stop().await;

    // Remove the index too: it is derived state and must be rebuilt from sled.
    std::fs::remove_dir_all(data_dir.join("index")).unwrap();
    let app = spawn_on(data_dir).await;
    assert_eq!(app.entity_of("crm", "C001").await, john);
    let (_, after) = app.get(&format!("/v1/entities/{john}")).await;
    assert_eq!(before["golden"], after["golden"]);
    assert_eq!(before["version"], after["version"]);

    let (_, r) = app
        .put(
            "/v1/sources/webshop/records/W-2001",
            &json!({"name": {"first": "John", "last": "Smith"}, "contact": {"email": "john.smith@example.com", "phone": "+1 415 555 0101"}, "dob": "1980-03-15"}),
        )
        .await;
    assert_eq!(r["entity_id"], john, "{r}");
    drop(keep);
}
