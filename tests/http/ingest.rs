//! Ingest, matching, golden records, updates, deletes and bad input over HTTP.

use std::collections::HashSet;

use serde_json::json;

use crate::helpers::spawn_app;

/// The customers the fixtures describe, as (source, key) groups.
const EXPECTED: &[&[(&str, &str)]] = &[
    &[("crm", "C001"), ("webshop", "W-1001"), ("support", "S-501")],
    &[("crm", "C002"), ("webshop", "W-1002"), ("support", "S-502")],
    &[("crm", "C003"), ("webshop", "W-1003")],
    &[("crm", "C004"), ("support", "S-504")],
    &[("crm", "C005")],
    &[("webshop", "W-1005")],
    &[("crm", "C006"), ("support", "S-506")],
    &[("webshop", "W-1007")],
    &[("support", "S-508")],
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_resolve_into_the_expected_customers() {
    let app = spawn_app().await;
    let batches = app.ingest_fixtures().await;
    let inserted: u64 = batches
        .iter()
        .map(|b| b["inserted"].as_u64().unwrap())
        .sum();
    assert_eq!(inserted, 16);
    let mut ids = HashSet::new();
    for group in EXPECTED {
        let first = app.entity_of(group[0].0, group[0].1).await;
        for (s, k) in &group[1..] {
            assert_eq!(
                app.entity_of(s, k).await,
                first,
                "{s}/{k} should join {group:?}"
            );
        }
        assert!(
            ids.insert(first),
            "{group:?} shares an entity with another customer"
        );
    }
    assert_eq!(ids.len(), 9);

    // Golden record and lineage: the name comes from the most trusted source.
    let john = app.entity_of("crm", "C001").await;
    let (status, e) = app.get(&format!("/v1/entities/{john}")).await;
    assert_eq!(status, 200);
    assert_eq!(e["members"].as_array().unwrap().len(), 3);
    assert_eq!(e["golden"]["name"]["value"], "John Smith");
    assert_eq!(e["golden"]["name"]["lineage"]["source"], "crm");
    assert_eq!(e["golden"]["name"]["lineage"]["key"], "C001");
    assert_eq!(e["golden"]["name"]["lineage"]["rule"], "source_priority");
    // Email is most_recent; support has no update time so its arrival time (now) is newest.
    assert_eq!(e["golden"]["email"]["lineage"]["rule"], "most_recent");
    assert_eq!(e["golden"]["email"]["value"], "jsmith@gmail.com");
    // Birth date is most_frequent over three formats that normalize equal.
    assert_eq!(e["golden"]["birth_date"]["lineage"]["support"], 3);
    // Contact data is published in canonical form, whatever format the winning source used.
    assert_eq!(e["golden"]["birth_date"]["value"], "1980-03-15");
    assert_eq!(e["golden"]["phone"]["value"], "+14155550101");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_reingest_is_a_no_op() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let john = app.entity_of("crm", "C001").await;
    let (_, before) = app.get(&format!("/v1/entities/{john}")).await;
    for b in app.ingest_fixtures().await {
        assert_eq!(b["inserted"], 0, "{b}");
        assert_eq!(b["updated"], 0, "{b}");
        assert!(b["unchanged"].as_u64().unwrap() >= 5, "{b}");
    }
    let (_, after) = app.get(&format!("/v1/entities/{john}")).await;
    assert_eq!(before["version"], after["version"]);
    assert_eq!(before["golden"], after["golden"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_rematch_and_keep_or_leave_the_entity() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let johnson = app.entity_of("crm", "C003").await;
    let (_, before) = app.get(&format!("/v1/entities/{johnson}")).await;

    // A newer email from the CRM: same entity, golden email follows (most_recent).
    let (status, r) = app
        .put(
            "/v1/sources/crm/records/C003",
            &json!({"full_name": "Robert Johnson", "email": "rjohnson@newmail.com", "phone": "212-555-0142",
                    "birth_date": "11/02/1975", "street": "400 Park Avenue", "city": "New York", "zip": "10022",
                    "last_modified": "2030-01-01 00:00:00"}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["status"], "updated");
    assert_eq!(r["entity_id"], johnson);
    let (_, after) = app.get(&format!("/v1/entities/{johnson}")).await;
    assert_eq!(after["golden"]["email"]["value"], "rjohnson@newmail.com");
    assert!(after["version"].as_u64() > before["version"].as_u64());

    // The web-shop record becomes someone else entirely: it leaves the entity.
    let (status, r) = app
        .put(
            "/v1/sources/webshop/records/W-1003",
            &json!({"name": {"first": "Priya", "last": "Raman"}, "contact": {"email": "priya@example.in", "phone": "+91 98765 43210"},
                    "dob": "1999-01-01", "shipping": {"line1": "5 MG Road", "city": "Bengaluru", "postcode": "560001"}}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_ne!(r["entity_id"], johnson);
    let (_, e) = app.get(&format!("/v1/entities/{johnson}")).await;
    let members = e["members"].as_array().unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["key"], "C003");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_shrink_entities_and_tombstone_empty_ones() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let john = app.entity_of("crm", "C001").await;
    let (status, _) = app.delete("/v1/sources/support/records/S-501").await;
    assert_eq!(status, 200);
    let (_, e) = app.get(&format!("/v1/entities/{john}")).await;
    assert_eq!(e["members"].as_array().unwrap().len(), 2);
    let (status, body) = app.delete("/v1/sources/support/records/NOPE").await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "record_not_found");

    let wang = app.entity_of("support", "S-508").await;
    app.delete("/v1/sources/support/records/S-508").await;
    let (status, body) = app.get(&format!("/v1/entities/{wang}")).await;
    assert_eq!(status, 410, "{body}");
    assert_eq!(body["code"], "entity_deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_records_are_reported_while_good_ones_land() {
    let app = spawn_app().await;
    let batch = json!([
        {"full_name": "No Key"},
        {"customer_id": "B2", "full_name": "Bad Date", "birth_date": "13/45/1990"},
        {"customer_id": "B3", "full_name": "Bad Mail", "email": "not-an-email"},
        42,
        {"customer_id": "B5", "full_name": "Good Record", "email": "good@example.com"}
    ]);
    let (status, r) = app.post_json("/v1/sources/crm/records", &batch).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["rejected"], 4, "{r}");
    assert_eq!(r["inserted"], 1, "{r}");
    let errors = r["errors"].as_array().unwrap();
    assert_eq!(errors[0]["index"], 0);
    assert_eq!(errors[0]["field"], "customer_id");
    assert_eq!(errors[1]["index"], 1);
    assert_eq!(errors[1]["key"], "B2");
    assert_eq!(errors[1]["field"], "birth_date");
    assert!(
        errors[1]["reason"]
            .as_str()
            .unwrap()
            .contains("invalid date"),
        "{r}"
    );
    assert_eq!(errors[2]["field"], "email");
    assert_eq!(errors[3]["index"], 3);
    assert!(
        errors[3]["reason"].as_str().unwrap().contains("object"),
        "{r}"
    );
    app.entity_of("crm", "B5").await;
    let (status, _) = app.get("/v1/sources/crm/records/B2").await;
    assert_eq!(status, 404, "a rejected record is not stored");

    let (_, r) = app
        .post_raw(
            "/v1/sources/webshop/records",
            "application/x-ndjson",
            "{\"id\":\"N1\",\"name\":{\"first\":\"Ann\",\"last\":\"Lee\"}}\n{oops\n".into(),
        )
        .await;
    assert_eq!(r["inserted"], 1, "{r}");
    assert_eq!(r["errors"][0]["line"], 2, "{r}");

    let (status, body) = app
        .post_raw(
            "/v1/sources/crm/records",
            "application/json",
            "{not json".into(),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "invalid_payload");
    let (status, body) = app.post_json("/v1/sources/nope/records", &json!([])).await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "unknown_source");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_in_one_batch_or_sent_together_find_each_other() {
    let app = spawn_app().await;
    let person = |key: &str| {
        json!({"customer_id": key, "full_name": "Grace Hopper", "email": "grace@navy.mil", "phone": "(202) 555-0100",
               "birth_date": "12/09/1906", "street": "1 Navy Yard", "zip": "20374"})
    };
    let (_, r) = app
        .post_json(
            "/v1/sources/crm/records",
            &json!([person("G1"), person("G2")]),
        )
        .await;
    assert_eq!(
        r["records"][0]["entity_id"], r["records"][1]["entity_id"],
        "{r}"
    );

    let a = json!({"id": "WG1", "name": {"first": "Ada", "last": "Lovelace"}, "contact": {"email": "ada@engine.org", "phone": "+44 20 7946 0000"}, "dob": "1815-12-10"});
    let b = json!({"id": "WG2", "name": {"first": "Ada", "last": "Lovelace"}, "contact": {"email": "ada@engine.org", "phone": "+44 20 7946 0000"}, "dob": "1815-12-10"});
    let (ra, rb) = tokio::join!(
        app.put("/v1/sources/webshop/records/WG1", &a),
        app.put("/v1/sources/webshop/records/WG2", &b)
    );
    assert_eq!(ra.1["entity_id"], rb.1["entity_id"], "{ra:?} {rb:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_linking_two_entities_merges_them_into_the_older_id() {
    let app = spawn_app().await;
    // X and Y share only a name: not enough to link.
    app.put(
        "/v1/sources/crm/records/X",
        &json!({"full_name": "Hedy Lamarr", "email": "hedy@films.com"}),
    )
    .await;
    app.put(
        "/v1/sources/webshop/records/Y",
        &json!({"name": {"first": "Hedy", "last": "Lamarr"}, "contact": {"phone": "+43 1 234 5678"}, "dob": "1914-11-09"}),
    )
    .await;
    let (x, y) = (
        app.entity_of("crm", "X").await,
        app.entity_of("webshop", "Y").await,
    );
    assert_ne!(x, y);
    // Z agrees with X on email and with Y on phone and birth date.
    app.put(
        "/v1/sources/support/records/Z",
        &json!({"name": "Hedy Lamarr", "email": "hedy@films.com", "phone": "+43 1 234 5678", "dob": "09.11.1914"}),
    )
    .await;
    let z = app.entity_of("support", "Z").await;
    let survivor = x.min(y);
    assert_eq!(z, survivor);
    assert_eq!(app.entity_of("crm", "X").await, survivor);
    assert_eq!(app.entity_of("webshop", "Y").await, survivor);
    let (status, body) = app.get(&format!("/v1/entities/{}", x.max(y))).await;
    assert_eq!(status, 308, "{body}");
    assert_eq!(body["merged_into"], survivor);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_and_search_explain_without_storing() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let john = app.entity_of("crm", "C001").await;
    let zhang = app.entity_of("crm", "C002").await;
    let (_, health) = app.get("/v1/health").await;

    let (status, r) = app
        .post_json(
            "/v1/match",
            &json!({"source": "crm", "record": {"full_name": "Jon Smith", "email": "john.smith@example.com", "phone": "415 555 0101"}}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    let best = &r["candidates"][0];
    assert_eq!(best["entity"], john, "{r}");
    assert_eq!(best["decision"], "link", "{r}");
    let comparisons = best["explanation"]["comparisons"].as_array().unwrap();
    let email = comparisons
        .iter()
        .find(|c| c["comparison"] == "email")
        .unwrap();
    assert_eq!(email["level"], "exact");
    assert!(email["weight"].as_f64().unwrap() > 0.0);
    let (_, after) = app.get("/v1/health").await;
    assert_eq!(
        health["records"], after["records"],
        "the probe stored nothing"
    );

    let (_, r) = app.get("/v1/search?name=%E5%BC%A0%E4%BC%9F").await; // 张伟
    assert_eq!(r["results"][0]["entity_id"], zhang, "{r}");
    let (_, r) = app.get("/v1/search?name=Jon%20Smyth").await;
    assert!(
        r["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["entity_id"] == john),
        "{r}"
    );
    let (_, r) = app.get("/v1/search?phone=4155550101").await;
    assert_eq!(r["results"][0]["entity_id"], john, "{r}");
    let (status, r) = app.get("/v1/search?colour=red").await;
    assert_eq!(status, 400, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn family_members_stay_apart_and_are_queued_for_review() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    assert_ne!(
        app.entity_of("crm", "C005").await,
        app.entity_of("webshop", "W-1005").await
    );
    let (_, r) = app.get("/v1/review").await;
    let items = r["items"].as_array().unwrap();
    assert!(
        items.iter().any(|i| {
            let keys = [
                i["a"]["key"].as_str().unwrap(),
                i["b"]["key"].as_str().unwrap(),
            ];
            keys.contains(&"C005") && keys.contains(&"W-1005")
        }),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_every_route() {
    let app = spawn_app().await;
    let (status, doc) = app.get("/v1/openapi.json").await;
    assert_eq!(status, 200);
    for p in [
        "/v1/health",
        "/v1/sources/{source}/records",
        "/v1/sources/{source}/records/{key}",
        "/v1/entities/{id}",
        "/v1/search",
        "/v1/match",
        "/v1/review",
    ] {
        assert!(
            doc["paths"].get(p).is_some(),
            "{p} missing from the OpenAPI document"
        );
    }
}
