//! Downstream sync: the change feed, bulk export, conditional reads and batch look-up.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{config_for, spawn_app, spawn_app_with, TestApp};

/// A consumer's mirror: entity id -> golden values, built only from the feed.
#[derive(Default)]
struct Mirror {
    after: u64,
    entities: BTreeMap<u64, Value>,
    seqs: Vec<u64>,
}

impl Mirror {
    /// Reads one page (long-polling up to `wait` seconds) and applies it.
    async fn poll(&mut self, app: &TestApp, wait: u64) -> usize {
        let r = app
            .get(app.url(&format!(
                "/v1/changes?after={}&limit=7&wait={wait}",
                self.after
            )))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let events = r.body["events"].as_array().unwrap().clone();
        for e in &events {
            let seq = e["seq"].as_u64().unwrap();
            self.seqs.push(seq);
            let id = e["entity_id"].as_u64().unwrap();
            match e["kind"].as_str().unwrap() {
                "merged" | "deleted" => {
                    self.entities.remove(&id);
                }
                _ => {
                    self.entities.insert(id, e["golden"].clone());
                }
            }
            self.after = seq;
        }
        events.len()
    }

    /// Applies everything up to the feed's latest sequence.
    async fn catch_up(&mut self, app: &TestApp) {
        while self.poll(app, 0).await > 0 {}
    }
}

/// Entity id -> golden values from a fresh export, and the sequence it states.
async fn export(app: &TestApp) -> (u64, BTreeMap<u64, Value>) {
    let r = app.client.get(app.url("/v1/export")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let seq: u64 = r.headers()["goldrec-sequence"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let text = r.text().await.unwrap();
    let map = text
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["entity_id"].as_u64().unwrap(), v["golden"].clone())
        })
        .collect();
    (seq, map)
}

fn assert_gap_free(seqs: &[u64]) {
    for w in seqs.windows(2) {
        assert_eq!(
            w[1],
            w[0] + 1,
            "sequence numbers must be gap-free and increasing: {seqs:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_following_the_feed_ends_equal_to_an_export() {
    let app = std::sync::Arc::new(spawn_app().await);
    let consumer = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut m = Mirror::default();
            // Follow while the writer works; it signals the end by deleting record END.
            loop {
                m.poll(&app, 1).await;
                let end = app.get(app.url("/v1/sources/crm/records/END")).await.status;
                let latest = app.get(app.url("/v1/changes?after=0&limit=1")).await.body["latest"]
                    .as_u64()
                    .unwrap();
                if end == StatusCode::NOT_FOUND
                    && latest > 0
                    && m.after >= latest
                    && m.entities.len() > 3
                {
                    break;
                }
            }
            m
        })
    };
    // Concurrent writer: ingest, update, merge, delete, single upserts.
    app.put_record(
        "crm",
        "END",
        &json!({"full_name": "Sentinel Record", "email": "end@example.com"}),
    )
    .await;
    app.ingest_fixtures().await;
    app.put_record(
        "crm",
        "X",
        &json!({"full_name": "Hedy Lamarr", "email": "hedy@films.com"}),
    )
    .await;
    app.put_record("webshop", "Y", &json!({"name": {"first": "Hedy", "last": "Lamarr"}, "contact": {"phone": "+43 1 234 5678"}, "dob": "1914-11-09"})).await;
    app.put_record("support", "Z", &json!({"name": "Hedy Lamarr", "email": "hedy@films.com", "phone": "+43 1 234 5678", "dob": "09.11.1914"})).await;
    app.put_record("crm", "C003", &json!({"full_name": "Robert Johnson", "email": "rj@new.com", "phone": "212-555-0142", "birth_date": "11/02/1975", "last_modified": "2031-01-01 00:00:00"})).await;
    app.delete_record("support", "S-508").await;
    app.delete_record("crm", "END").await;
    let mut mirror = tokio::time::timeout(Duration::from_secs(30), consumer)
        .await
        .expect("consumer finishes")
        .unwrap();
    mirror.catch_up(&app).await;
    let (seq, exported) = export(&app).await;
    assert_eq!(
        seq, mirror.after,
        "the export states the sequence the feed reached"
    );
    assert_eq!(
        mirror.entities, exported,
        "mirror built from the feed equals the export"
    );
    assert_eq!(mirror.seqs.first(), Some(&1));
    assert_gap_free(&mirror.seqs);
    let kinds: Vec<String> = app
        .get(app.url("/v1/changes?after=0&limit=1000"))
        .await
        .body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    for k in ["created", "record_joined", "merged", "deleted", "updated"] {
        assert!(kinds.iter().any(|x| x == k), "no {k} event in {kinds:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_resumes_after_a_restart_without_gap_or_repeat() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let mut m = Mirror::default();
    m.catch_up(&app).await;
    let app = app.restart().await;
    app.put_record("webshop", "W-3000", &json!({"name": {"first": "Ada", "last": "Lovelace"}, "contact": {"email": "ada@engine.org"}})).await;
    m.catch_up(&app).await;
    assert_gap_free(&m.seqs);
    let (seq, exported) = export(&app).await;
    assert_eq!(seq, m.after);
    assert_eq!(m.entities, exported);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_returns_as_soon_as_a_change_commits() {
    let app = std::sync::Arc::new(spawn_app().await);
    let waiter = {
        let app = app.clone();
        tokio::spawn(async move { app.get(app.url("/v1/changes?after=0&wait=20")).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    app.put_record("crm", "P1", &json!({"full_name": "Poll Person"}))
        .await;
    let r = waiter.await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(r.body["events"][0]["kind"], "created", "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_behind_retention_are_told_to_resnapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(dir.path());
    config.change_retention = 3;
    let app = spawn_app_with(dir, config).await;
    app.ingest_fixtures().await;
    let r = app.get(app.url("/v1/changes?after=0")).await;
    assert_eq!(r.status, StatusCode::GONE, "{}", r.body);
    assert_eq!(r.body["code"], "changes_expired");
    let latest = app
        .get(app.url(&format!("/v1/changes?after={}", u64::MAX / 2)))
        .await
        .body["latest"]
        .as_u64()
        .unwrap();
    let r = app
        .get(app.url(&format!("/v1/changes?after={}", latest - 2)))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["events"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entity_reads_are_conditional_and_source_keys_look_up_in_batches() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let john = app.entity_of("crm", "C001").await;
    let url = app.url(&format!("/v1/entities/{john}"));
    let r = app.client.get(url.clone()).send().await.unwrap();
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let r = app
        .client
        .get(url.clone())
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    app.put_record("crm", "C001", &json!({"full_name": "John Smith", "email": "john.smith@example.com", "phone": "(415) 555-0101", "birth_date": "03/15/1980", "employer": "Acme Corporation International"})).await;
    let r = app
        .client
        .get(url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "a new version is sent");

    let r = app
        .post_json(
            app.url("/v1/lookup"),
            &json!({"records": [{"source": "crm", "key": "C001"}, {"source": "support", "key": "S-501"}, {"source": "crm", "key": "nope"}]}),
        )
        .await;
    let recs = r.body["records"].as_array().unwrap();
    assert_eq!(recs[0]["entity_id"], john);
    assert_eq!(recs[1]["entity_id"], john);
    assert!(recs[2]["entity_id"].is_null());
}
