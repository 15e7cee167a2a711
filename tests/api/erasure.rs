//! Erasure (right to be forgotten): `POST /v1/erasures` removes a person from every read path
//! (records, entity, search, export, review, decisions, the change feed's payloads, history),
//! leaves the feed's sequence whole with an `erased` event, and is audited. After `goldrec
//! compact` no byte of the data directory holds the person's name, phone or email, with
//! encryption off (so the scan proves the erasure, not the cipher) and on.

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::encryption::scan_dir;
use crate::helpers::{
    bundled_config_text, cli_when_released, config_for, fixture_text, goldrec_command,
    spawn_app_in, spawn_app_with, TestApp,
};

/// Values of the entity's member records that no other fixture record holds: words of 4+
/// letters (Hanzi names whole), emails, the last 7 phone digits (consent statements left out).
async fn needles_of(app: &TestApp, members: &[(String, String)]) -> Vec<String> {
    let mut mine = BTreeSet::new();
    for (source, key) in members {
        let r = app.get_record(source, key).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        for (k, v) in r.body["values"].as_object().unwrap() {
            // Consent statements (granted / denied) are no personal data: change events
            // carry the states on purpose.
            if k.starts_with(goldrec::consent::KEY_PREFIX) {
                continue;
            }
            let v = v.as_str().unwrap_or_default();
            if v.contains('@') {
                mine.insert(v.to_string());
                mine.insert(v.to_lowercase());
            }
            let digits: String = v.chars().filter(char::is_ascii_digit).collect();
            if digits.len() >= 9 {
                mine.insert(digits[digits.len() - 7..].to_string());
            }
            for w in v.split(|c: char| !c.is_alphanumeric()) {
                if w.chars().all(char::is_alphabetic)
                    && (w.chars().count() >= 4 || (!w.is_ascii() && w.len() >= 6))
                {
                    mine.insert(w.to_string());
                }
            }
        }
    }
    // Leave out what another fixture record also holds (a shared city, a common word).
    let keys: BTreeSet<&str> = members.iter().map(|(_, k)| k.as_str()).collect();
    let others: String = ["crm.csv", "support.csv", "webshop.ndjson"]
        .iter()
        .flat_map(|f| {
            fixture_text(f)
                .lines()
                .skip(usize::from(f.ends_with(".csv")))
                .filter(|l| {
                    !keys
                        .iter()
                        .any(|k| l.contains(&format!("{k},")) || l.contains(&format!("\"{k}\"")))
                })
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .collect();
    mine.into_iter()
        .filter(|n| !others.contains(&n.to_lowercase()))
        .collect()
}

fn members_of(entity: &Value) -> Vec<(String, String)> {
    entity["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["source"].as_str().unwrap().to_string(),
                m["key"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Loads the fixtures, adds a decision and an override on John Smith's entity, erases it, and
/// checks every read path. Returns the needles and the entity id.
async fn erase_john(app: &TestApp) -> (Vec<String>, u64) {
    app.ingest_fixtures().await;
    let john = app.entity_of("crm", "C001").await;
    let entity = app.entity(john).await;
    let members = members_of(&entity);
    assert!(members.len() >= 3, "{entity}");
    let needles = needles_of(app, &members).await;
    assert!(
        needles.iter().any(|n| n.contains('@')) && needles.len() >= 4,
        "{needles:?}"
    );
    // A decision and a steward override naming him.
    let d = app
        .post_json(
            app.url("/v1/decisions"),
            &json!({"a": {"source": members[0].0, "key": members[0].1},
                    "b": {"source": members[1].0, "key": members[1].1},
                    "decision": "same", "actor": "steward@example.com", "reason": "checked"}),
        )
        .await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.body);
    let john = app.entity_of("crm", "C001").await;
    let o = app
        .client
        .put(app.url(&format!("/v1/entities/{john}/overrides/email")))
        .json(
            &json!({"value": "john.private@verified.example.org", "actor": "steward@example.com"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(o.status(), StatusCode::OK);
    let mut needles = needles;
    needles.push("john.private@verified.example.org".into());
    let head_before = app
        .get(app.url("/v1/changes?after=0&limit=10000"))
        .await
        .body["events"]
        .as_array()
        .unwrap()
        .len();

    // Bad requests name what is wrong; an unknown record is 404.
    let r = app
        .post_json(app.url("/v1/erasures"), &json!({"source": "crm"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = app
        .post_json(
            app.url("/v1/erasures"),
            &json!({"source": "crm", "key": "nobody"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);

    let r = app
        .post_json(
            app.url("/v1/erasures"),
            &json!({"entity_id": john, "reason": "GDPR art. 17 request 2026-118"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let report = &r.body["erasure"];
    assert_eq!(report["records"], members.len(), "{report}");
    assert_eq!(report["entities_erased"], json!([john]), "{report}");
    assert_eq!(report["decisions_removed"], 1, "{report}");
    assert!(report["events_redacted"].as_u64().unwrap() >= 2, "{report}");

    // Gone from every read path.
    for (s, k) in &members {
        assert_eq!(app.get_record(s, k).await.status, StatusCode::NOT_FOUND);
    }
    let e = app.get_entity(john).await;
    assert_eq!(e.status, StatusCode::GONE, "{}", e.body);
    let mut reads = vec![
        app.get(app.url("/v1/changes?after=0&limit=10000"))
            .await
            .body,
        app.get(app.url("/v1/decisions")).await.body,
        app.get(app.url("/v1/review?limit=1000")).await.body,
        app.get(app.url(&format!("/v1/entities/{john}/history")))
            .await
            .body,
        e.body.clone(),
    ];
    for n in needles.iter().filter(|n| n.contains('@')) {
        let mut url = app.url("/v1/search");
        url.query_pairs_mut().append_pair("email", n);
        let found = app.get(url).await.body;
        assert_eq!(
            found["results"].as_array().map_or(0, Vec::len),
            0,
            "{found}"
        );
        reads.push(found);
    }
    let export = app.export_text().await;
    assert!(
        export.contains("Zhang") || export.contains("张"),
        "others stay: {export}"
    );
    reads.push(Value::String(export));
    for body in &reads {
        let text = body.to_string();
        for n in &needles {
            assert!(!text.contains(n.as_str()), "{n} still served: {text}");
        }
    }

    // The feed keeps its sequence: every old event is still there, his are redacted, and an
    // `erased` event without personal data ends it.
    let events = app
        .get(app.url("/v1/changes?after=0&limit=10000"))
        .await
        .body["events"]
        .as_array()
        .unwrap()
        .clone();
    assert!(events.len() > head_before, "{events:?}");
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "gap-free: {seqs:?}"
    );
    let his: Vec<&Value> = events.iter().filter(|e| e["entity_id"] == john).collect();
    let last = his.last().unwrap();
    assert_eq!(last["kind"], "erased", "{last}");
    assert_eq!(last["members"], json!([]), "{last}");
    assert!(
        last["golden"].as_object().is_none_or(|g| g.is_empty()),
        "{last}"
    );
    for e in &his[..his.len() - 1] {
        assert_eq!(e["redacted"], true, "{e}");
    }

    // Audited under the admin key's name, with the reason.
    let audit = app.get(app.url("/v1/audit?limit=1000")).await.body;
    let entry = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["route"] == "/v1/erasures" && e["outcome"] == "ok")
        .unwrap_or_else(|| panic!("no audit entry: {audit}"))
        .clone();
    assert!(entry["actor"].is_string(), "{entry}");
    assert_eq!(entry["in_transaction"], true, "{entry}");
    assert_eq!(
        entry["request"]["body"]["reason"], "GDPR art. 17 request 2026-118",
        "{entry}"
    );
    (needles, john)
}

fn compact(dir: &Path, config_path: &Path) {
    let out = cli_when_released(|| {
        let mut c = goldrec_command();
        c.arg("-c")
            .arg(config_path)
            .arg("--data-dir")
            .arg(dir)
            .arg("compact");
        c
    });
    assert!(
        out.status.success(),
        "compact: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_person_leaves_no_byte_behind_after_compaction_without_encryption() {
    let conf = tempfile::tempdir().unwrap();
    let text = bundled_config_text().replace(
        "[encryption]\nenabled = true",
        "[encryption]\nenabled = false",
    );
    assert!(text.contains("enabled = false"));
    let config_path = conf.path().join("plain.toml");
    std::fs::write(&config_path, text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(dir.path());
    config.encryption.enabled = false;
    let app = spawn_app_with(dir, config).await;
    let (needles, _) = erase_john(&app).await;
    let dir = app.stop().await;
    // sled keeps superseded copies in its log: the scan sees them until compaction.
    let before = scan_dir(dir.path(), &needles);
    assert!(
        !before.is_empty(),
        "the scan must see stale copies before compaction"
    );
    compact(dir.path(), &config_path);
    let after = scan_dir(dir.path(), &needles);
    assert!(after.is_empty(), "erased values on disk: {after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_person_is_gone_from_an_encrypted_store_and_the_rest_survives_compaction() {
    let app = crate::helpers::spawn_app().await;
    let (needles, john) = erase_john(&app).await;
    let records_before = app.health().await["records"].clone();
    let export_before = app.export_text().await;
    let dir = app.stop().await;
    let found = scan_dir(dir.path(), &needles);
    assert!(found.is_empty(), "erased values in clear: {found:?}");
    let config_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/goldrec.toml");
    compact(dir.path(), &config_path);
    assert!(scan_dir(dir.path(), &needles).is_empty());

    // Everything else is as it was, matchable through the rebuilt index.
    let app = spawn_app_in(dir).await;
    assert_eq!(app.health().await["records"], records_before);
    let export_after = app.export_text().await;
    assert_eq!(export_after, export_before);
    let zhang = app.entity_of("crm", "C002").await;
    assert_ne!(zhang, john);
    let probe = app
        .probe(&json!({"source": "webshop", "record": {"name": {"first": "伟", "last": "张"}, "contact": {"email": "zhangwei88@example.cn"}}}))
        .await;
    assert_eq!(probe.status, StatusCode::OK, "{}", probe.body);
    assert!(
        probe.body.to_string().contains(&zhang.to_string()),
        "{}",
        probe.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_reaches_entities_merged_away_and_verdicts() {
    let app = crate::helpers::spawn_app().await;
    app.put_record(
        "crm",
        "T1",
        &json!({"full_name": "Tomasz Kowalczyk", "email": "tk.one@example.org"}),
    )
    .await;
    app.put_record("webshop", "T2", &json!({"name": {"first": "Ingrid", "last": "Lindqvist"}, "contact": {"email": "il.two@example.org"}}))
        .await;
    let (a, b) = (
        app.entity_of("crm", "T1").await,
        app.entity_of("webshop", "T2").await,
    );
    assert_ne!(a, b);
    // A pin on the entity that the merge will absorb (the newer id).
    let secret = "pinned.secret@example.org";
    let r = app
        .client
        .put(app.url(&format!("/v1/entities/{}/overrides/email", a.max(b))))
        .json(&json!({"value": secret, "actor": "steward@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let m = app
        .post_json(
            app.url("/v1/entities/merge"),
            &json!({"entities": [a, b], "actor": "steward@example.com", "reason": "same person"}),
        )
        .await;
    assert_eq!(m.status, StatusCode::OK, "{}", m.body);
    let survivor = a.min(b);
    let absorbed_history = format!("/v1/entities/{}/history", a.max(b));
    assert!(app
        .get(app.url(&absorbed_history))
        .await
        .body
        .to_string()
        .contains(secret));

    let r = app
        .post_json(
            app.url("/v1/erasures"),
            &json!({"entity_id": survivor, "reason": "request"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(app.get_entity(survivor).await.status, StatusCode::GONE);
    for path in [
        absorbed_history,
        format!("/v1/entities/{}", a.max(b)),
        "/v1/changes?after=0".into(),
    ] {
        let body = app.get(app.url(&path)).await.body.to_string();
        for n in [secret, "Kowalczyk", "Lindqvist", "tk.one@example.org"] {
            assert!(!body.contains(n), "{n} still in {path}: {body}");
        }
    }
}
