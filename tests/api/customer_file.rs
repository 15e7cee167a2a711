//! The customer file over the real server: activity sources (CSV, NDJSON, JSON), attachment by
//! key and by probe, unresolved activity re-resolved when its customer arrives, activity
//! following merges, splits, revoked decisions and deletes (never lost, never twice), the
//! file view, classification with segments, export filter and `classified` events, and the
//! upkeep report. Dates are relative to now.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    cli_when_released, client_with_key, config_for, fixture_text, goldrec_command, spawn_app,
    spawn_app_with, TestApp,
};

/// RFC 3339 time `days` days ago.
fn days_ago(days: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(days))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn order(id: &str, customer: &str, days: i64, total: f64, channel: &str) -> Value {
    json!({"order_id": id, "ordered_at": days_ago(days), "customer_id": customer,
           "total": total.to_string(), "currency": "USD", "channel": channel,
           "sku": format!("SKU-{id}"), "payment": "card", "status": "delivered"})
}

async fn file(app: &TestApp, entity: u64, query: &str) -> Value {
    let r = app
        .get(app.url(&format!("/v1/entities/{entity}/file{query}")))
        .await;
    assert_eq!(r.status, StatusCode::OK, "file of {entity}: {}", r.body);
    r.body
}

/// The latest `classified` event of `entity` in the feed after `after`.
async fn last_classified(app: &TestApp, after: u64, entity: u64) -> Value {
    let events = app
        .get(app.url(&format!("/v1/changes?after={after}&limit=100")))
        .await
        .body["events"]
        .clone();
    events
        .as_array()
        .unwrap()
        .iter()
        .rfind(|e| e["entity_id"] == entity && e["kind"] == "classified")
        .unwrap_or_else(|| panic!("no classified event for {entity}: {events}"))
        .clone()
}

/// The entry of source `name` in list `list` (`sources`, `activity_sources`) of a data-quality
/// report.
fn source_in(report: &Value, list: &str, name: &str) -> Value {
    report[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == name)
        .unwrap_or_else(|| panic!("no {list} entry for {name}: {report}"))
        .clone()
}

/// The customers a data-quality report lists for re-verification.
fn reverify_ids(report: &Value) -> Vec<u64> {
    report["reverify"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["entity_id"].as_u64().unwrap())
        .collect()
}

/// Every live entity id, from the export.
async fn live_entities(app: &TestApp) -> Vec<u64> {
    app.export_text()
        .await
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["entity_id"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

/// Activity key -> entities whose file lists it: every activity sent is in exactly one file,
/// except those named in `unresolved`, which are in none.
async fn assert_each_once(
    app: &TestApp,
    keys: &[&str],
    unresolved: &[&str],
) -> BTreeMap<String, u64> {
    let mut seen: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for id in live_entities(app).await {
        let f = file(app, id, "?limit=1000").await;
        for item in f["timeline"]["items"].as_array().unwrap() {
            seen.entry(item["key"].as_str().unwrap().to_string())
                .or_default()
                .push(id);
        }
    }
    let mut out = BTreeMap::new();
    for k in keys {
        let at = seen.get(*k).cloned().unwrap_or_default();
        if unresolved.contains(k) {
            assert!(at.is_empty(), "{k} should be unresolved, is in {at:?}");
        } else {
            assert_eq!(at.len(), 1, "{k} must be in exactly one file, is in {at:?}");
            out.insert(k.to_string(), at[0]);
        }
    }
    assert!(
        seen.keys().all(|k| keys.contains(&k.as_str())),
        "unexpected activity {seen:?}"
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_attaches_by_key_and_probe_and_the_file_shows_it() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let john = app.entity_of("crm", "C001").await;
    let orders = json!([
        order("A-1", "C001", 40, 500.0, "store"),
        order("A-2", "C001", 10, 640.0, "web"),
        order("A-3", "C002", 5, 20.0, "app"),
    ]);
    let r = app.ingest("orders", &orders).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["inserted"], 3, "{}", r.body);
    assert_eq!(r.body["records"][0]["entity_id"], john);
    assert_eq!(r.body["records"][0]["resolved_by"], "key");

    // A ticket resolved by a probe of its identifying fields, sent as NDJSON.
    let ticket = json!({"ticket_id": "T-1", "opened": days_ago(2), "category": "complaint", "status": "open",
        "channel": "phone", "subject": "my parcel was damaged",
        "contact": {"name": "John Smith", "email": "john.smith@example.com", "phone": "(415) 555-0101"}});
    let r = app.ingest_ndjson("tickets", format!("{ticket}\n")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["records"][0]["resolved_by"], "probe", "{}", r.body);
    assert_eq!(r.body["records"][0]["entity_id"], john);

    let f = file(&app, john, "").await;
    assert_eq!(f["identity"]["golden"]["name"]["value"], "John Smith");
    assert_eq!(f["summary"]["total"]["count"], 3);
    assert_eq!(f["summary"]["total"]["amounts"]["USD"], 1140.0);
    assert_eq!(f["summary"]["by_channel"]["web"]["count"], 1);
    assert_eq!(f["summary"]["by_type"]["order"]["count"], 2);
    assert_eq!(f["summary"]["open_complaints"].as_array().unwrap().len(), 1);
    // Preferences: the most recent value, naming the activity that decided it.
    assert_eq!(f["preferences"]["channel"]["value"], "phone");
    assert_eq!(f["preferences"]["channel"]["lineage"]["key"], "T-1");
    assert_eq!(f["preferences"]["payment"]["lineage"]["key"], "A-2");
    assert_eq!(f["timeline"]["items"][0]["key"], "T-1");
    assert_eq!(
        f["timeline"]["items"][0]["free_text"],
        "my parcel was damaged"
    );
    assert_eq!(f["classification"]["values"]["value_tier"], "gold");

    // Paged timeline.
    let p1 = file(&app, john, "?limit=2").await;
    assert_eq!(p1["timeline"]["items"].as_array().unwrap().len(), 2);
    let cursor = p1["timeline"]["next_cursor"].as_str().unwrap().to_string();
    let p2 = file(&app, john, &format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(p2["timeline"]["items"].as_array().unwrap().len(), 1);
    assert_eq!(p2["timeline"]["items"][0]["key"], "A-1");
    assert!(p2["timeline"]["next_cursor"].is_null());
    let bad = app
        .get(app.url(&format!("/v1/entities/{john}/file?cursor=nope")))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // Idempotent: the same batch again changes nothing.
    let again = app.ingest("orders", &orders).await;
    assert_eq!(again.body["unchanged"], 3, "{}", again.body);

    // CSV over HTTP, as the bundled fixture.
    let r = app
        .post_raw(
            app.url("/v1/sources/orders/records"),
            "text/csv",
            fixture_text("orders.csv"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["rejected"], 0, "{}", r.body);

    // Masked for a key without the pii scope: identity values and free text.
    let k = app
        .post_json(
            app.url("/v1/keys"),
            &json!({"key_name": "analyst", "role": "reader"}),
        )
        .await;
    assert_eq!(k.status, StatusCode::CREATED, "{}", k.body);
    let reader = client_with_key(k.body["key"].as_str().unwrap());
    let masked: Value = reader
        .get(app.url(&format!("/v1/entities/{john}/file")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(masked["identity"]["golden"]["name"]["value"], "J. Smith");
    let texts: Vec<&Value> = masked["timeline"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i.get("free_text"))
        .collect();
    assert!(!texts.is_empty());
    assert!(
        texts
            .iter()
            .all(|t| !t.as_str().unwrap().contains("parcel")),
        "{texts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_activity_records_get_per_record_errors() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let mut bad_time = order("B-1", "C001", 1, 10.0, "web");
    bad_time["ordered_at"] = json!("yesterday-ish");
    let mut bad_amount = order("B-2", "C001", 1, 10.0, "web");
    bad_amount["total"] = json!("ten dollars");
    let mut bad_currency = order("B-3", "C001", 1, 10.0, "web");
    bad_currency["currency"] = json!("DOLLARS");
    let mut no_key = order("B-4", "C001", 1, 10.0, "web");
    no_key.as_object_mut().unwrap().remove("order_id");
    let mut nobody = order("B-5", "", 1, 10.0, "web");
    nobody.as_object_mut().unwrap().remove("customer_id");
    let good = order("B-6", "C001", 1, 10.0, "web");
    let r = app
        .ingest(
            "orders",
            &json!([bad_time, bad_amount, bad_currency, no_key, nobody, good]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["rejected"], 5, "{}", r.body);
    assert_eq!(r.body["inserted"], 1, "{}", r.body);
    let errors = r.body["errors"].as_array().unwrap();
    let field = |i: usize| errors[i]["field"].as_str().unwrap_or_default().to_string();
    assert_eq!(errors[0]["index"], 0);
    assert_eq!(field(0), "ordered_at");
    assert_eq!(field(1), "total");
    assert_eq!(field(2), "currency");
    assert_eq!(field(3), "order_id");
    assert_eq!(field(4), "customer_id");
    assert_eq!(errors[0]["key"], "B-1");
    assert!(errors[1]["reason"].as_str().unwrap().contains("amount"));

    // CSV: a bad line is named by its line number.
    let csv = "order_id,ordered_at,customer_id,total,currency\nC-1,2026-01-05,C001,12.50,USD\nC-2,not a date,C001,1,USD\n";
    let r = app
        .post_raw(
            app.url("/v1/sources/orders/records"),
            "text/csv",
            csv.into(),
        )
        .await;
    assert_eq!(r.body["rejected"], 1, "{}", r.body);
    assert_eq!(r.body["errors"][0]["line"], 3, "{}", r.body);
    // Single-record routes are for identity sources.
    let r = app.put_record("orders", "X", &json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_follows_merge_split_revoke_and_delete_never_lost_never_twice() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let (na, ming) = (
        app.entity_of("crm", "C005").await,
        app.entity_of("webshop", "W-1005").await,
    );
    assert_ne!(na, ming);
    // Two orders by key on Li Na, one ticket by probe on Ming Li.
    let r = app
        .ingest(
            "orders",
            &json!([
                order("M-1", "C005", 3, 30.0, "web"),
                order("M-2", "C005", 20, 70.0, "store")
            ]),
        )
        .await;
    assert_eq!(r.body["inserted"], 2, "{}", r.body);
    let t = json!({"ticket_id": "MT-1", "opened": days_ago(1), "category": "question", "status": "open",
        "contact": {"name": "Ming Li", "email": "ming.li@example.com", "phone": "646-555-0199"}});
    let r = app.ingest_ndjson("tickets", format!("{t}\n")).await;
    assert_eq!(r.body["records"][0]["entity_id"], ming, "{}", r.body);
    let keys = ["M-1", "M-2", "MT-1"];
    let at = assert_each_once(&app, &keys, &[]).await;
    assert_eq!(at["M-1"], na);
    assert_eq!(at["MT-1"], ming);

    // Merge: one file.
    let r = app
        .post_json(
            app.url("/v1/entities/merge"),
            &json!({"entities": [na, ming], "actor": "steward", "reason": "same household account"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let survivor = na.min(ming);
    let at = assert_each_once(&app, &keys, &[]).await;
    assert!(at.values().all(|e| *e == survivor), "{at:?}");
    assert_eq!(
        file(&app, survivor, "").await["summary"]["total"]["count"],
        3
    );

    // Revoking the merge's decision: each activity goes with its record.
    let decisions = app.get(app.url("/v1/decisions")).await.body;
    let ids: Vec<String> = decisions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!ids.is_empty(), "{decisions}");
    for id in ids {
        let r = app
            .client
            .delete(app.url(&format!("/v1/decisions/{id}?actor=steward")))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let at = assert_each_once(&app, &keys, &[]).await;
    let (na2, ming2) = (
        app.entity_of("crm", "C005").await,
        app.entity_of("webshop", "W-1005").await,
    );
    assert_eq!(at["M-1"], na2);
    assert_eq!(at["MT-1"], ming2);

    // Merge again, then split Ming Li's record out: the ticket goes with it.
    if na2 != ming2 {
        let r = app
            .post_json(
                app.url("/v1/entities/merge"),
                &json!({"entities": [na2, ming2], "actor": "steward", "reason": "again"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let merged = app.entity_of("crm", "C005").await;
    let r = app
        .post_json(
            app.url(&format!("/v1/entities/{merged}/split")),
            &json!({"groups": [[{"source": "webshop", "key": "W-1005"}]], "actor": "steward", "reason": "two people", "revoke_conflicting": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let at = assert_each_once(&app, &keys, &[]).await;
    assert_eq!(at["M-1"], app.entity_of("crm", "C005").await);
    assert_eq!(at["MT-1"], app.entity_of("webshop", "W-1005").await);
    assert_ne!(at["M-1"], at["MT-1"]);

    // Deleting Li Na's record: her orders (referenced by key only) wait unresolved, and come
    // back when the record does.
    let r = app.delete_record("crm", "C005").await;
    assert!(r.status.is_success(), "{}", r.body);
    assert_each_once(&app, &keys, &["M-1", "M-2"]).await;
    let q = app.get(app.url("/v1/quality/data")).await.body;
    let orders_q = source_in(&q, "activity_sources", "orders");
    assert_eq!(orders_q["unresolved"], 2, "{q}");
    let r = app
        .put_record(
            "crm",
            "C005",
            &json!({"customer_id": "C005", "full_name": "Li Na", "email": "na.li@example.com", "phone": "(646) 555-0199",
                    "birth_date": "05/05/1985", "street": "88 Canal Street", "city": "New York", "zip": "10013"}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    let at = assert_each_once(&app, &keys, &[]).await;
    assert_eq!(at["M-1"], app.entity_of("crm", "C005").await);

    // Erasure takes the erased record's activity with it.
    let r = app
        .post_json(
            app.url("/v1/erasures"),
            &json!({"source": "crm", "key": "C005", "reason": "request"}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    let left = assert_each_once(&app, &["MT-1"], &[]).await;
    assert_eq!(left.len(), 1);
    let q = app.get(app.url("/v1/quality/data")).await.body;
    let orders_q = source_in(&q, "activity_sources", "orders");
    assert_eq!(orders_q["records"], 0, "{q}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_before_its_customer_waits_and_is_resolved_on_arrival() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let t = json!({"ticket_id": "N-1", "opened": days_ago(3), "category": "complaint", "status": "open",
        "contact": {"name": "Ada Lovelace", "email": "ada@example.org", "phone": "(212) 555-0188"}});
    let r = app.ingest_ndjson("tickets", format!("{t}\n")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["records"][0]["record_id"].is_null(), "{}", r.body);
    // An order naming a CRM record that does not exist yet.
    let r = app
        .ingest("orders", &json!([order("N-2", "C900", 4, 99.0, "web")]))
        .await;
    assert!(r.body["records"][0]["record_id"].is_null(), "{}", r.body);

    let r = app
        .ingest(
            "crm",
            &json!([{"customer_id": "C900", "full_name": "Ada Lovelace", "email": "ada@example.org",
                     "phone": "(212) 555-0188", "birth_date": "12/10/1985", "city": "London"}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let ada = app.entity_of("crm", "C900").await;
    let f = file(&app, ada, "").await;
    let items = f["timeline"]["items"].as_array().unwrap();
    let by: BTreeMap<&str, &str> = items
        .iter()
        .map(|i| {
            (
                i["key"].as_str().unwrap(),
                i["resolved_by"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(by.get("N-1"), Some(&"probe"), "{f}");
    assert_eq!(by.get("N-2"), Some(&"key"), "{f}");
    assert_eq!(f["summary"]["open_complaints"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classification_segments_export_filter_and_classified_events() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let (john, bob) = (
        app.entity_of("crm", "C001").await,
        app.entity_of("crm", "C003").await,
    );
    let r = app
        .ingest(
            "orders",
            &json!([
                order("V-1", "C001", 10, 1500.0, "web"),
                order("V-2", "C003", 200, 75.0, "web")
            ]),
        )
        .await;
    assert_eq!(r.body["inserted"], 2, "{}", r.body);
    let e = app.entity(john).await;
    assert_eq!(e["classification"]["values"]["value_tier"], "gold", "{e}");
    // First activity 10 days ago: a new customer.
    assert_eq!(e["classification"]["values"]["lifecycle"], "new");
    let b = app.entity(bob).await;
    assert_eq!(b["classification"]["values"]["value_tier"], "bronze");
    assert_eq!(b["classification"]["values"]["lifecycle"], "at_risk");
    // Each scorecard factor's contribution is shown.
    let churn = &b["classification"]["scores"]["churn_risk"];
    assert_eq!(churn["factors"].as_array().unwrap().len(), 3, "{churn}");
    assert_eq!(churn["factors"][0]["field"], "recency_days");
    assert_eq!(churn["factors"][0]["points"], 40.0);

    let vip = app.get(app.url("/v1/segments/vip")).await;
    assert_eq!(vip.status, StatusCode::OK, "{}", vip.body);
    let members: Vec<u64> = vip.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert_eq!(members, vec![john]);
    let at_risk = app.get(app.url("/v1/segments/at_risk?limit=1")).await.body;
    assert_eq!(at_risk["members"][0]["id"], bob);
    assert_eq!(
        app.get(app.url("/v1/segments/nope")).await.status,
        StatusCode::NOT_FOUND
    );

    let before = app.get(app.url("/v1/changes?after=0&limit=1")).await.body["latest"]
        .as_u64()
        .unwrap_or(0);
    // Bob buys big: gold, active, in the feed with the values before.
    let r = app
        .ingest("orders", &json!([order("V-3", "C003", 1, 2000.0, "store")]))
        .await;
    assert_eq!(r.body["inserted"], 1, "{}", r.body);
    let ev = last_classified(&app, before, bob).await;
    assert_eq!(ev["classification"]["value_tier"], "gold");
    assert_eq!(ev["classification_was"]["value_tier"], "bronze");
    assert_eq!(ev["classification"]["lifecycle"], "active");

    let vip = app.get(app.url("/v1/segments/vip?limit=1")).await.body;
    assert_eq!(vip["members"].as_array().unwrap().len(), 1);
    let next = vip["next_cursor"].as_str().unwrap().to_string();
    let page2 = app
        .get(app.url(&format!("/v1/segments/vip?limit=1&cursor={next}")))
        .await
        .body;
    assert_eq!(page2["members"].as_array().unwrap().len(), 1);
    assert!(page2["next_cursor"].is_null());

    let text = app
        .client
        .get(app.url("/v1/export?segment=vip"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut exported: Vec<u64> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| {
            assert_eq!(v["classification"]["value_tier"], "gold");
            v["entity_id"].as_u64().unwrap()
        })
        .collect();
    exported.sort_unstable();
    let mut want = vec![john, bob];
    want.sort_unstable();
    assert_eq!(exported, want);
    let r = app.get(app.url("/v1/export?segment=nope")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quality_data_reports_completeness_staleness_and_reverification() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    // One fresh CRM record; the bundled ones were last modified in 2024 (over a year ago).
    let fresh = (chrono::Utc::now() - chrono::Duration::days(1))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let r = app
        .ingest(
            "crm",
            &json!([{"customer_id": "C777", "full_name": "Grace Hopper", "email": "grace@example.org", "last_modified": fresh}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let grace = app.entity_of("crm", "C777").await;
    let li_na = app.entity_of("crm", "C005").await;
    let q = app.get(app.url("/v1/quality/data?limit=100")).await;
    assert_eq!(q.status, StatusCode::OK, "{}", q.body);
    let crm = source_in(&q.body, "sources", "crm");
    assert_eq!(crm["records"], 7);
    assert_eq!(crm["stale_records"], 6, "{crm}");
    assert_eq!(crm["attributes"]["email"]["completeness"], 1.0);
    assert!(
        crm["attributes"]["company"]["completeness"]
            .as_f64()
            .unwrap()
            < 1.0
    );
    assert!(
        crm["attributes"]["email"]["newest_age_days"]
            .as_f64()
            .unwrap()
            < 2.0
    );
    let listed: Vec<u64> = reverify_ids(&q.body);
    assert!(listed.contains(&li_na), "{listed:?}");
    assert!(!listed.contains(&grace), "{listed:?}");
    let page = app.get(app.url("/v1/quality/data?limit=1")).await.body;
    assert_eq!(page["reverify"].as_array().unwrap().len(), 1);
    let after = page["next_after"].as_u64().unwrap();
    let page2 = app
        .get(app.url(&format!("/v1/quality/data?limit=1&after={after}")))
        .await
        .body;
    assert!(page2["reverify"][0]["entity_id"].as_u64().unwrap() > after);

    // The CLI reports the same from the stopped server's data directory.
    let dir = app.stop().await;
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config/goldrec.toml");
    let run = |args: &'static [&'static str]| {
        let path = dir.path().to_path_buf();
        cli_when_released(move || {
            let mut c = goldrec_command();
            c.args(["-c", config, "--data-dir"]).arg(&path).args(args);
            c
        })
    };
    let out = run(&["quality-data", "--limit", "100"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: Value = serde_json::from_slice(&out.stdout).expect("quality-data prints JSON");
    let crm_cli = source_in(&cli, "sources", "crm");
    assert_eq!(crm_cli["records"], 7, "{crm_cli}");
    assert_eq!(crm_cli["stale_records"], 6, "{crm_cli}");
    let cli_listed: Vec<u64> = reverify_ids(&cli);
    assert_eq!(cli_listed, listed);
    let out = run(&["reclassify"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.contains("reclassified"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_reclassifies_customers_as_time_passes() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(dir.path());
    let rules = config.classification.as_mut().unwrap();
    // Days are whole in classification: the order is placed 10 s short of a day ago, so John
    // is `new` (tenure 0 days) at first and `active` (tenure 1 day, last order within 1 day)
    // once those seconds pass, with no write in between. Reclassified every half second.
    rules.lifecycle = Some(goldrec::classify::Lifecycle {
        new_days: 0.0,
        active_days: 1.0,
        lapsed_days: 2.0,
    });
    rules.refresh_ms = Some(500);
    let app = spawn_app_with(dir, config).await;
    app.ingest_fixtures().await;
    let john = app.entity_of("crm", "C001").await;
    let at = (chrono::Utc::now() - chrono::Duration::days(1) + chrono::Duration::seconds(10))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let mut o = order("T-1", "C001", 0, 20.0, "web");
    o["ordered_at"] = json!(at);
    let r = app.ingest("orders", &json!([o])).await;
    assert_eq!(r.body["inserted"], 1, "{}", r.body);
    let stage = |e: &Value| e["classification"]["values"]["lifecycle"].clone();
    let first = stage(&app.entity(john).await);
    assert_eq!(first, "new");
    let latest = app.get(app.url("/v1/changes?after=0&limit=1")).await.body["latest"]
        .as_u64()
        .unwrap();
    // No write from here on: only time passes, and the server moves John along.
    let started = std::time::Instant::now();
    loop {
        let now = stage(&app.entity(john).await);
        if now == "active" {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "still {now} after 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let last = last_classified(&app, latest, john).await;
    assert_eq!(last["classification"]["lifecycle"], "active", "{last}");
    assert_eq!(last["classification_was"]["lifecycle"], "new", "{last}");
}
