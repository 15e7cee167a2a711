//! Steward decisions are durable constraints: re-ingest, updates, re-training and re-matching
//! never undo them; a cannot-link also stops merges through third records; revoking
//! re-evaluates.

use goldrec::engine::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{config_for, spawn_app, spawn_app_in, TestApp};

async fn decide(app: &TestApp, a: (&str, &str), b: (&str, &str), decision: &str) -> Value {
    let r = app
        .post_json(
            app.url("/v1/decisions"),
            &json!({"a": {"source": a.0, "key": a.1}, "b": {"source": b.0, "key": b.1}, "decision": decision,
                    "actor": "steward@example.com", "reason": "checked with the customer"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cannot_link_survives_reingest_updates_and_retraining() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    assert_eq!(
        app.entity_of("crm", "C001").await,
        app.entity_of("webshop", "W-1001").await
    );
    let d = decide(&app, ("crm", "C001"), ("webshop", "W-1001"), "different").await;
    assert_ne!(d["entity_a"], d["entity_b"], "{d}");
    let john = app.entity_of("crm", "C001").await;
    assert_ne!(john, app.entity_of("webshop", "W-1001").await);

    // Re-ingest everything, and change the web-shop record so it is matched again.
    app.ingest_fixtures().await;
    app.put_record(
        "webshop",
        "W-1001",
        &json!({"name": {"first": "John", "last": "Smith"}, "contact": {"email": "john.smith@example.com", "phone": "+1 415 555 0101"},
                "dob": "1980-03-15", "shipping": {"line1": "12 Main St", "city": "San Francisco", "postcode": "94105"}}),
    )
    .await;
    assert_ne!(
        app.entity_of("crm", "C001").await,
        app.entity_of("webshop", "W-1001").await
    );

    // Re-train and re-match everything: the decision still holds.
    let dir = app.stop().await;
    let config = config_for(dir.path());
    tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let engine = loop {
            match Engine::open(config.clone()) {
                Ok(e) => break e,
                Err(_) if started.elapsed() < std::time::Duration::from_secs(10) => {
                    std::thread::sleep(std::time::Duration::from_millis(50))
                }
                Err(e) => panic!("engine does not open: {e}"),
            }
        };
        engine.train(20_000, 10).unwrap();
        engine.rematch().unwrap();
    })
    .await
    .unwrap();
    let app = spawn_app_in(dir).await;
    assert_ne!(
        app.entity_of("crm", "C001").await,
        app.entity_of("webshop", "W-1001").await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cannot_link_stops_merges_through_third_records_and_revoking_reevaluates() {
    let app = spawn_app().await;
    let x = json!({"full_name": "Hedy Lamarr", "email": "hedy@films.com"});
    app.put_record("crm", "X", &x).await;
    app.put_record("webshop", "Y", &json!({"name": {"first": "Hedy", "last": "Lamarr"}, "contact": {"phone": "+43 1 234 5678"}, "dob": "1914-11-09"})).await;
    let d = decide(&app, ("crm", "X"), ("webshop", "Y"), "different").await;
    let id = d["id"].as_str().unwrap().to_string();
    // Z agrees with X on email and with Y on phone and birth date: without the decision it
    // merges X and Y (see entities.rs); with it, X and Y stay apart.
    app.put_record("support", "Z", &json!({"name": "Hedy Lamarr", "email": "hedy@films.com", "phone": "+43 1 234 5678", "dob": "09.11.1914"})).await;
    assert_ne!(
        app.entity_of("crm", "X").await,
        app.entity_of("webshop", "Y").await
    );
    let listed = app.get(app.url("/v1/decisions")).await.body;
    assert_eq!(
        listed["items"][0]["decision"]["actor"], "steward@example.com",
        "{listed}"
    );

    let r = app
        .client
        .delete(app.url(&format!("/v1/decisions/{id}?actor=steward")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.entity_of("crm", "X").await,
        app.entity_of("webshop", "Y").await,
        "revoked: re-evaluated"
    );
    let r = app
        .client
        .delete(app.url(&format!("/v1/decisions/{id}?actor=steward")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_must_link_joins_what_the_model_keeps_apart_and_sticks() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    // Li Na and Ming Li look like family members; a steward knows they are one customer.
    assert_ne!(
        app.entity_of("crm", "C005").await,
        app.entity_of("webshop", "W-1005").await
    );
    let d = decide(&app, ("crm", "C005"), ("webshop", "W-1005"), "same").await;
    assert_eq!(d["entity_a"], d["entity_b"], "{d}");
    app.ingest_fixtures().await;
    app.put_record("webshop", "W-1005", &json!({"name": {"first": "Ming", "last": "Li"}, "contact": {"email": "ming.li@newmail.com", "phone": "646-555-0199"}, "dob": "2010-09-09"})).await;
    assert_eq!(
        app.entity_of("crm", "C005").await,
        app.entity_of("webshop", "W-1005").await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_are_validated() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let bad = |body: Value| {
        let app = &app;
        async move { app.post_json(app.url("/v1/decisions"), &body).await }
    };
    let r = bad(json!({"a": {"source": "crm", "key": "C001"}, "b": {"source": "crm", "key": "C002"}, "decision": "same", "actor": " "})).await;
    assert_eq!(r.body["code"], "actor_required");
    let r = bad(json!({"a": {"source": "crm", "key": "C001"}, "b": {"source": "crm", "key": "NOPE"}, "decision": "same", "actor": "s"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = bad(json!({"a": {"source": "crm", "key": "C001"}, "b": {"source": "crm", "key": "C002"}, "decision": "maybe", "actor": "s"})).await;
    assert_eq!(r.body["code"], "invalid_decision");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_merge_keeps_the_oldest_id_and_sticks() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let (na, ming) = (
        app.entity_of("crm", "C005").await,
        app.entity_of("webshop", "W-1005").await,
    );
    assert_ne!(na, ming);
    let r = app
        .post_json(
            app.url("/v1/entities/merge"),
            &json!({"entities": [ming, na], "actor": "steward", "reason": "same customer"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let survivor = na.min(ming);
    assert_eq!(r.body["entity"]["id"], survivor);
    let gone = app
        .get_no_redirect(app.url(&format!("/v1/entities/{}", na.max(ming))))
        .await;
    assert_eq!(gone.status, StatusCode::PERMANENT_REDIRECT);
    app.ingest_fixtures().await;
    assert_eq!(app.entity_of("crm", "C005").await, survivor);
    assert_eq!(app.entity_of("webshop", "W-1005").await, survivor);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_restores_source_values_on_both_sides_and_sticks() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let john = app.entity_of("crm", "C001").await;
    // The support record's email wins survivorship (most recent) before the split.
    assert_eq!(
        app.entity(john).await["golden"]["email"]["value"],
        "jsmith@gmail.com"
    );
    let tag = {
        let r = app
            .client
            .get(app.url(&format!("/v1/entities/{john}")))
            .send()
            .await
            .unwrap();
        r.headers()["etag"].to_str().unwrap().to_string()
    };
    let body = json!({"groups": [[{"source": "support", "key": "S-501"}]], "actor": "steward", "reason": "another John Smith"});
    let r = app
        .client
        .post(app.url(&format!("/v1/entities/{john}/split")))
        .header("if-match", &tag)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let parts: Value = r.json().await.unwrap();
    assert_eq!(
        parts["entities"][0]["id"], john,
        "the records left keep the id"
    );
    let new_id = parts["entities"][1]["id"].as_u64().unwrap();
    assert_ne!(new_id, john);
    assert_eq!(app.entity_of("support", "S-501").await, new_id);
    assert_eq!(
        app.entity(john).await["golden"]["email"]["value"],
        "john.smith@example.com",
        "values return to their sources"
    );
    assert_eq!(
        app.entity(new_id).await["golden"]["email"]["value"],
        "jsmith@gmail.com"
    );

    // The same ETag is stale now.
    let r = app
        .client
        .post(app.url(&format!("/v1/entities/{john}/split")))
        .header("if-match", &tag)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);

    app.ingest_fixtures().await;
    assert_eq!(
        app.entity_of("support", "S-501").await,
        new_id,
        "the split sticks on re-ingest"
    );
    assert_eq!(app.entity_of("crm", "C001").await, john);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stewards_see_conflicts_and_can_filter_and_order_the_queue() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let john = app.entity_of("crm", "C001").await;
    let c = app
        .get(app.url(&format!("/v1/entities/{john}/conflicts")))
        .await
        .body;
    let email = c["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["attribute"] == "email")
        .expect("email conflicts");
    let cands = email["candidates"].as_array().unwrap();
    assert_eq!(cands.len(), 2, "{email}");
    assert_eq!(cands.iter().filter(|x| x["wins"] == true).count(), 1);
    assert!(
        cands.iter().any(|x| x["support"] == 2),
        "two records share john.smith@example.com: {email}"
    );
    assert_eq!(email["rule"], "most_recent");

    let all = app.get(app.url("/v1/review?order=impact")).await.body;
    assert!(all["total"].as_u64().unwrap() >= 1, "{all}");
    let none = app
        .get(app.url("/v1/review?min_probability=0.999999"))
        .await
        .body;
    assert_eq!(none["total"], 0, "{none}");
    let by_source = app.get(app.url("/v1/review?source=support")).await.body;
    for i in by_source["items"].as_array().unwrap() {
        assert!(i["a"]["source"] == "support" || i["b"]["source"] == "support");
    }
    let bad = app.get(app.url("/v1/review?order=loudest")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    // A decided pair leaves the queue.
    let item = &all["items"][0];
    let (a, b) = (&item["a"], &item["b"]);
    decide(
        &app,
        (a["source"].as_str().unwrap(), a["key"].as_str().unwrap()),
        (b["source"].as_str().unwrap(), b["key"].as_str().unwrap()),
        "different",
    )
    .await;
    let after = app.get(app.url("/v1/review?order=impact")).await.body;
    assert_eq!(
        after["total"].as_u64().unwrap() + 1,
        all["total"].as_u64().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_merge_gets_409_and_a_skip_requeues() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    // Skip first: the queue holds the family pair C005 / W-1005.
    let queue = app.get(app.url("/v1/review?order=oldest")).await.body;
    assert!(queue["total"].as_u64().unwrap() >= 1, "{queue}");
    let first = &queue["items"][0];
    let pair = json!({"a": {"record_id": first["a"]["record_id"]}, "b": {"record_id": first["b"]["record_id"]}, "decision": "skip", "actor": "s"});
    let r = app.post_json(app.url("/v1/decisions"), &pair).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let again = app.get(app.url("/v1/review?order=oldest")).await.body;
    assert_eq!(again["total"], queue["total"], "a skip decides nothing");
    if queue["total"].as_u64().unwrap() > 1 {
        assert_ne!(
            again["items"][0]["a"]["record_id"], first["a"]["record_id"],
            "the skipped pair went to the back"
        );
    }

    let (na, ming) = (
        app.entity_of("crm", "C005").await,
        app.entity_of("webshop", "W-1005").await,
    );
    let version = app.entity(na).await["version"].as_u64().unwrap();
    // Someone changes Li Na's entity after we read it.
    app.put_record("crm", "C005", &json!({"full_name": "Li Na", "email": "na.li@new.example.com", "phone": "(646) 555-0199", "birth_date": "05/05/1985"})).await;
    let r = app
        .post_json(
            app.url("/v1/entities/merge"),
            &json!({"entities": [{"id": na, "version": version}, ming], "actor": "s"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_ne!(
        app.entity_of("crm", "C005").await,
        app.entity_of("webshop", "W-1005").await,
        "nothing merged"
    );
}

async fn merge(app: &TestApp, entities: &[u64], revoke: bool) -> crate::helpers::ApiResponse {
    app.post_json(
        app.url("/v1/entities/merge"),
        &json!({"entities": entities, "actor": "steward", "reason": "same customer", "revoke_conflicting": revoke}),
    )
    .await
}

/// Issue 10, item 5: A/B different; merge entity(C) with entity(B); merging the entities of A
/// and B answered 200, left B apart and broke the B-C must-link. Now it is refused whole,
/// naming the A/B decision, and changes nothing; asked to, it revokes A/B and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_contradicting_a_cannot_link_is_refused_whole_or_revokes_it_when_asked() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let (a, b, c) = (("crm", "C005"), ("webshop", "W-1007"), ("support", "S-508"));
    let ab = decide(&app, a, b, "different").await;
    let (eb, ec) = (app.entity_of(b.0, b.1).await, app.entity_of(c.0, c.1).await);
    assert_ne!(eb, ec);
    let r = merge(&app, &[ec, eb], false).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["revoked"], json!([]));
    let bc = app.entity_of(b.0, b.1).await;
    assert_eq!(app.entity_of(c.0, c.1).await, bc);
    let feed_before = app.get(app.url("/v1/changes?limit=10000")).await.body["latest"].clone();

    let ea = app.entity_of(a.0, a.1).await;
    let r = merge(&app, &[ea, bc], false).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.body["code"], "decision_conflict");
    let conflicts = r.body["conflicts"].as_array().expect("conflicts listed");
    assert_eq!(conflicts.len(), 1, "{}", r.body);
    assert_eq!(conflicts[0]["id"], ab["id"]);
    assert_eq!(conflicts[0]["decision"]["verdict"], "different");
    // Nothing applied: memberships and the feed are as before.
    assert_eq!(app.entity_of(a.0, a.1).await, ea);
    assert_eq!(app.entity_of(b.0, b.1).await, bc);
    assert_eq!(app.entity_of(c.0, c.1).await, bc);
    assert_eq!(
        app.get(app.url("/v1/changes?limit=10000")).await.body["latest"],
        feed_before
    );

    // The same, asked to revoke what is in the way: all three together, A/B revoked.
    let r = merge(&app, &[ea, bc], true).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["revoked"].as_array().unwrap().len(), 1, "{}", r.body);
    assert_eq!(r.body["revoked"][0]["id"], ab["id"]);
    let all = app.entity_of(a.0, a.1).await;
    assert_eq!(app.entity_of(b.0, b.1).await, all);
    assert_eq!(app.entity_of(c.0, c.1).await, all);
    let listed = app.get(app.url("/v1/decisions")).await.body;
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["id"] != ab["id"]),
        "the revoked decision is gone: {listed}"
    );
}

/// A cannot-link between must-linked records, and a split across a must-link, are refused
/// whole with the must-links in the way named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_and_splits_that_would_cut_a_must_link_are_refused() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let (a, b, c) = (("crm", "C005"), ("webshop", "W-1007"), ("support", "S-508"));
    let ab = decide(&app, a, b, "same").await;
    let bc = decide(&app, b, c, "same").await;
    let e = app.entity_of(a.0, a.1).await;
    assert_eq!(app.entity_of(c.0, c.1).await, e);

    let r = app
        .post_json(
            app.url("/v1/decisions"),
            &json!({"a": {"source": a.0, "key": a.1}, "b": {"source": c.0, "key": c.1},
                    "decision": "different", "actor": "steward"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.body["code"], "decision_conflict");
    let named: Vec<&Value> = r.body["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["id"])
        .collect();
    assert_eq!(
        named.len(),
        1,
        "one must-link cut separates A and C: {}",
        r.body
    );
    assert!(named[0] == &ab["id"] || named[0] == &bc["id"]);

    // Deciding the other verdict on a decided pair is a contradiction too.
    let r = app
        .post_json(
            app.url("/v1/decisions"),
            &json!({"a": {"source": a.0, "key": a.1}, "b": {"source": b.0, "key": b.1},
                    "decision": "different", "actor": "steward"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.body["conflicts"][0]["id"], ab["id"]);

    let r = app
        .post_json(
            app.url(&format!("/v1/entities/{e}/split")),
            &json!({"groups": [[{"source": b.0, "key": b.1}]], "actor": "steward"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(
        r.body["conflicts"].as_array().unwrap().len(),
        2,
        "B is must-linked to A and C: {}",
        r.body
    );
    assert_eq!(app.entity_of(b.0, b.1).await, e, "nothing was split");

    let r = app
        .post_json(
            app.url(&format!("/v1/entities/{e}/split")),
            &json!({"groups": [[{"source": b.0, "key": b.1}]], "actor": "steward", "revoke_conflicting": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["revoked"].as_array().unwrap().len(), 2, "{}", r.body);
    let eb = app.entity_of(b.0, b.1).await;
    assert_ne!(eb, app.entity_of(a.0, a.1).await);
    assert_ne!(eb, app.entity_of(c.0, c.1).await);
}
