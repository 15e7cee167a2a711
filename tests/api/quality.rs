//! Issue 12: estimated precision from stewards. A sample of automatic links, verdicts on them,
//! and the figures: precision with its Wilson interval, and review decisions that went
//! against the matcher's lean.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp, EXPECTED_ENTITIES};

/// `source/key` of a sampled side.
fn name(side: &Value) -> String {
    format!(
        "{}/{}",
        side["source"].as_str().unwrap(),
        side["key"].as_str().unwrap()
    )
}

async fn sample(app: &TestApp, n: usize) -> Vec<Value> {
    let r = app.get(app.url(&format!("/v1/quality/sample?n={n}"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["items"].as_array().unwrap().clone()
}

async fn judge(app: &TestApp, left: &str, right: &str, verdict: &str) -> (StatusCode, Value) {
    let r = app
        .post_json(
            app.url("/v1/quality/verdicts"),
            &json!({"left": left, "right": right, "verdict": verdict}),
        )
        .await;
    (r.status, r.body)
}

async fn quality(app: &TestApp) -> Value {
    let r = app.get(app.url("/v1/quality")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

/// The 95% Wilson score interval, written out independently of the server's.
fn wilson(k: f64, n: f64) -> (f64, f64) {
    let z: f64 = 1.96;
    let p = k / n;
    let center = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    (center - half, center + half)
}

fn assert_interval(q: &Value, k: f64, n: f64) {
    let links = &q["automatic_links"];
    assert_eq!(links["judged"], n as u64, "{q}");
    assert_eq!(links["confirmed"], k as u64, "{q}");
    assert!(
        (links["precision"].as_f64().unwrap() - k / n).abs() < 1e-9,
        "{q}"
    );
    let (lo, hi) = wilson(k, n);
    let ci = links["ci95"].as_array().unwrap();
    assert!((ci[0].as_f64().unwrap() - lo).abs() < 1e-3, "lo {lo}: {q}");
    assert!((ci[1].as_f64().unwrap() - hi).abs() < 1e-3, "hi {hi}: {q}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_on_sampled_links_give_the_wilson_precision() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let q = quality(&app).await;
    assert_eq!(q["automatic_links"]["judged"], 0, "{q}");
    assert_eq!(q["automatic_links"]["precision"], Value::Null, "{q}");

    // Every automatic link of the fixtures: the pairs inside each expected customer.
    let want: usize = EXPECTED_ENTITIES
        .iter()
        .map(|g| g.len() * (g.len() - 1) / 2)
        .sum();
    let all = sample(&app, 100).await;
    assert_eq!(all.len(), want, "{all:?}");
    let mut pairs = HashSet::new();
    for item in &all {
        let (l, r) = (&item["left"], &item["right"]);
        let entity = item["entity_id"].as_u64().unwrap();
        for side in [l, r] {
            let (s, k) = (
                side["source"].as_str().unwrap(),
                side["key"].as_str().unwrap(),
            );
            assert_eq!(app.entity_of(s, k).await, entity, "{item}");
            assert!(side["values"].is_object(), "{item}");
        }
        assert!(item["weight"].is_f64(), "{item}");
        // The parts the page's chart draws: the prior, and the decision weight (the weight,
        // or less when personal evidence disagrees).
        assert!(item["prior_weight"].is_f64(), "{item}");
        assert!(
            item["decision_weight"].as_f64().unwrap() <= item["weight"].as_f64().unwrap() + 1e-9,
            "{item}"
        );
        assert!(
            !item["explanation"].as_array().unwrap().is_empty(),
            "{item}"
        );
        assert!(pairs.insert((name(l), name(r))), "a pair twice: {item}");
    }
    let few = sample(&app, 3).await;
    assert_eq!(few.len(), 3);

    // Judge five: three right, two wrong.
    let judged: Vec<(String, String)> = all
        .iter()
        .take(5)
        .map(|i| (name(&i["left"]), name(&i["right"])))
        .collect();
    for (i, (l, r)) in judged.iter().enumerate() {
        let verdict = if i < 3 { "same" } else { "different" };
        let (status, body) = judge(&app, l, r, verdict).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["verdict"], verdict, "{body}");
        assert_eq!(
            body["actor"], "admin (GOLDREC_ADMIN_KEY)",
            "the key's name: {body}"
        );
    }
    assert_interval(&quality(&app).await, 3.0, 5.0);

    // Judged pairs are not sampled again.
    let rest = sample(&app, 100).await;
    assert_eq!(rest.len(), want - 5, "{rest:?}");
    for item in &rest {
        let p = (name(&item["left"]), name(&item["right"]));
        assert!(!judged.contains(&p), "{p:?} was judged");
    }

    // A second verdict on a pair replaces the first (given the other way round).
    let (status, body) = judge(&app, &judged[0].1, &judged[0].0, "different").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_interval(&quality(&app).await, 2.0, 5.0);

    // Not automatic links: records of two entities, a pair a steward must-linked, a record
    // with itself. 400, nothing counted.
    let (status, body) = judge(&app, "crm/C005", "webshop/W-1005", "same").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "not_automatic_link", "{body}");
    let (l, r) = (name(&rest[0]["left"]), name(&rest[0]["right"]));
    let (ls, lk) = l.split_once('/').unwrap();
    let (rs, rk) = r.split_once('/').unwrap();
    let d = app
        .post_json(
            app.url("/v1/decisions"),
            &json!({"a": {"source": ls, "key": lk}, "b": {"source": rs, "key": rk},
                    "decision": "same", "actor": "ana@example.com"}),
        )
        .await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.body);
    let (status, body) = judge(&app, &l, &r, "same").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("steward"),
        "{body}"
    );
    let (status, body) = judge(&app, &l, &l, "same").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let left_over = sample(&app, 100).await;
    assert_eq!(
        left_over.len(),
        want - 6,
        "the must-linked pair is not sampled"
    );
    let (status, body) = judge(&app, "crm/NOPE", &r, "same").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = judge(&app, &l, &r, "maybe").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "invalid_verdict", "{body}");
    let r = app.get(app.url("/v1/quality/sample?n=0")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_interval(&quality(&app).await, 2.0, 5.0);

    // Durable: the figures survive a restart.
    let app = app.restart().await;
    assert_interval(&quality(&app).await, 2.0, 5.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_decisions_against_the_matchers_lean_count_as_reversed() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    // Records in the review band of each other: same family name, phone and address, another
    // given name and no birth date or email in common.
    let r = app
        .ingest(
            "crm",
            &json!([
                {"customer_id": "R1", "full_name": "Peter Novak", "phone": "(312) 555-0147", "street": "9 Elm Street", "city": "Chicago", "zip": "60601"},
                {"customer_id": "R2", "full_name": "Paul Novak", "phone": "(312) 555-0147", "street": "9 Elm Street", "city": "Chicago", "zip": "60601"},
                {"customer_id": "R3", "full_name": "Anna Kowalska", "email": "anna.k@example.com", "street": "4 Oak Road", "city": "Boston", "zip": "02108"},
                {"customer_id": "R4", "full_name": "Anna Kowalski", "phone": "(617) 555-0190", "street": "4 Oak Rd", "city": "Boston", "zip": "02108"}
            ]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Decide queued pairs one at a time (each decision re-queues the pairs of its records),
    // alternately with and against the lean the queue shows.
    let mut expected_reversed = 0;
    let mut decided = 0;
    for round in 0..6 {
        let queue = app.review(100, 0).await;
        assert_eq!(queue.status, StatusCode::OK, "{}", queue.body);
        let Some(item) = queue.body["items"].as_array().unwrap().first().cloned() else {
            break;
        };
        let p = item["queued_probability"].as_f64().unwrap();
        let lean_same = p >= 0.5;
        let against = round % 2 == 0;
        let same = lean_same != against;
        expected_reversed += usize::from(against);
        let side = |s: &Value| json!({"source": s["source"], "key": s["key"]});
        let d = app
            .post_json(
                app.url("/v1/decisions"),
                &json!({"a": side(&item["a"]), "b": side(&item["b"]),
                        "decision": if same { "same" } else { "different" }, "actor": "ana@example.com"}),
            )
            .await;
        assert_eq!(d.status, StatusCode::OK, "{}", d.body);
        decided += 1;
    }
    assert!(decided >= 2, "the fixtures queue pairs to review");
    let q = quality(&app).await;
    assert_eq!(q["review"]["decided"], decided, "{q}");
    assert_eq!(q["review"]["reversed"], expected_reversed, "{q}");
    let rate = q["review"]["reversal_rate"].as_f64().unwrap();
    assert!(
        (rate - expected_reversed as f64 / decided as f64).abs() < 1e-9,
        "{q}"
    );
}
