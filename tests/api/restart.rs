//! Durability: a new server on the same data directory finds everything, and keeps matching.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{member_keys, spawn_app, spawn_app_in, EXPECTED_ENTITIES};

/// A new webshop record for John Smith (fixture C001 / W-1001 / S-501).
fn another_john_smith() -> serde_json::Value {
    json!({"name": {"first": "John", "last": "Smith"},
           "contact": {"email": "john.smith@example.com", "phone": "+1 415 555 0101"},
           "dob": "1980-03-15",
           "shipping": {"line1": "12 Main Street", "city": "San Francisco", "postcode": "94105"},
           "updated": "2025-01-01T00:00:00Z"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entities_survive_a_restart_and_keep_matching() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let ids = app.expected_entity_ids().await;
    let mut before = Vec::new();
    for &id in &ids {
        before.push(app.entity(id).await);
    }
    let health = app.health().await;

    let app = app.restart().await;

    assert_eq!(app.health().await, health, "same records, same index");
    for ((group, &id), b) in EXPECTED_ENTITIES.iter().zip(&ids).zip(&before) {
        for &(s, k) in group.iter() {
            assert_eq!(app.entity_of(s, k).await, id, "{s}/{k} after the restart");
        }
        let e = app.entity(id).await;
        assert_eq!(e["golden"], b["golden"], "golden record of {id}");
        assert_eq!(e["version"], b["version"], "version of {id}");
        assert_eq!(member_keys(&e), member_keys(b));
    }

    // Matching still finds the stored records (the blocking index survived).
    let john = ids[0];
    let r = app
        .put_record("webshop", "W-2001", &another_john_smith())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["entity_id"], john, "{}", r.body);
    assert_eq!(
        app.entity(john).await["members"].as_array().unwrap().len(),
        4
    );

    // Unchanged records are still recognised as unchanged.
    let again = app.ingest_fixtures().await;
    for (source, b, n) in again.all() {
        assert_eq!(b["unchanged"], n, "{source}: {b}");
    }

    // Entity ids keep growing across restarts: a new customer gets a fresh id.
    let r = app
        .put_record(
            "crm",
            "NEW-1",
            &json!({"full_name": "Fresh Person", "email": "fresh.person@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let fresh = r.body["entity_id"].as_u64().unwrap();
    assert!(ids.iter().all(|&id| id < fresh), "{fresh} vs {ids:?}");

    // And a second restart keeps the new records too.
    let app = app.restart().await;
    assert_eq!(app.entity_of("webshop", "W-2001").await, john);
    assert_eq!(app.health().await["records"], 18);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_blocking_index_is_rebuilt_from_the_store() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let john = app.entity_of("crm", "C001").await;
    let dir = app.stop().await;

    // The index is derived state: remove it entirely.
    // (tantivy's merge threads may still be finishing a file: retry briefly)
    let index = dir.path().join("index");
    let mut tries = 0;
    while let Err(e) = std::fs::remove_dir_all(&index) {
        tries += 1;
        assert!(tries < 50 && index.exists(), "removing the index: {e}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let app = spawn_app_in(dir).await;
    let h = app.health().await;
    assert_eq!(h["records"], 16, "{h}");
    assert_eq!(h["indexed"], 16, "the index was rebuilt: {h}");

    let r = app
        .put_record("webshop", "W-2001", &another_john_smith())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["entity_id"], john, "{}", r.body);
    let found = app.search(&[("phone", "4155550101")]).await;
    assert_eq!(
        found.body["results"][0]["entity_id"], john,
        "{}",
        found.body
    );
}

/// The real binary, killed with SIGKILL after acknowledging writes: nothing acknowledged is
/// lost, and the blocking index, whose recent records were only in memory, is rebuilt so the
/// restarted server still matches against them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_keeps_every_acknowledged_record_and_matches_them() {
    use std::process::{Child, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let client = crate::helpers::client_with_key(crate::helpers::ADMIN_KEY);
    let start = || -> (Child, String) {
        let (mut command, base) = crate::helpers::serve_command(dir.path());
        let child = command
            .env("GOLDREC_ADMIN_KEY", crate::helpers::ADMIN_KEY)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        (child, base)
    };
    let health = |base: String| {
        let client = client.clone();
        async move {
            for _ in 0..600 {
                if let Ok(r) = client.get(format!("{base}/v1/health")).send().await {
                    if r.status().is_success() {
                        return r.json::<serde_json::Value>().await.unwrap();
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("the server did not come up");
        }
    };
    let person = |i: usize| {
        json!({"full_name": format!("Quentin Zarkov{i}"), "email": format!("q.zarkov{i}@example.com"),
               "phone": format!("+1 415 555 {:04}", 3000 + i)})
    };

    let (mut child, base) = start();
    health(base.clone()).await;
    let mut entities = Vec::new();
    for i in 0..20 {
        let r = client
            .put(format!("{base}/v1/sources/crm/records/K{i}"))
            .json(&person(i))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: serde_json::Value = r.json().await.unwrap();
        entities.push(body["entity_id"].as_u64().unwrap());
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let (mut child, base) = start();
    let h = health(base.clone()).await;
    assert_eq!(h["records"], 20, "{h}");
    assert_eq!(h["indexed"], 20, "the index caught up with the store: {h}");
    // A second record of customer 7 (same email, new key) joins the entity stored before the
    // kill: the matcher found it through the rebuilt index.
    let r = client
        .put(format!("{base}/v1/sources/crm/records/K7-again"))
        .json(&person(7))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["entity_id"], entities[7], "{body}");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Issue 11, item 5: `goldrec backup DIR` of a stopped data directory and `goldrec restore
/// DIR` into an empty one give a server with the same entities and keys; a backup of a
/// directory a server holds is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restores_into_an_equal_store_with_its_keys() {
    let app = crate::helpers::spawn_app().await;
    app.ingest_fixtures().await;
    let (_, reader) = goldrec::auth::create(
        app.dir.path(),
        goldrec::auth::NewKey {
            name: "bi".into(),
            role: goldrec::auth::Role::Reader,
            sources: vec![],
            pii: true,
        },
    )
    .unwrap();
    let john = app.entity_of("crm", "C001").await;
    let before = app.entity(john).await;
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config/goldrec.toml");
    let cli = |data: &std::path::Path, args: &[&str]| {
        crate::helpers::goldrec_command()
            .args(["-c", config, "--data-dir"])
            .arg(data)
            .args(args)
            .output()
            .unwrap()
    };
    let backups = tempfile::tempdir().unwrap();
    let target = backups.path().join("b1");
    let target_s = target.to_str().unwrap();
    let held = cli(app.dir.path(), &["backup", target_s]);
    assert!(
        !held.status.success(),
        "a running server holds the directory"
    );
    let err = String::from_utf8_lossy(&held.stderr);
    assert!(err.contains("--server URL --key"), "{err}");
    // Through the running server, with an admin key: a consistent copy while it serves.
    let live = backups.path().join("live");
    let url = format!("http://{}", app.addr);
    let out = cli(
        app.dir.path(),
        &[
            "backup",
            live.to_str().unwrap(),
            "--server",
            &url,
            "--key",
            crate::helpers::ADMIN_KEY,
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("backed up 16 records"), "{err}");
    assert!(live.join("backup.json").exists());

    let dir = app.stop().await;
    let out = crate::helpers::cli_when_released(|| {
        let mut c = crate::helpers::goldrec_command();
        c.args(["-c", config, "--data-dir"])
            .arg(dir.path())
            .args(["backup", target_s]);
        c
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = cli(dir.path(), &["backup", target_s]);
    assert!(!again.status.success(), "the target is not empty any more");

    let restored = tempfile::tempdir().unwrap();
    let out = cli(restored.path(), &["restore", target_s]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("restored 16 records"), "{stderr}");
    let app = crate::helpers::spawn_app_in(restored).await;
    let after = app.entity(john).await;
    assert_eq!(after["golden"], before["golden"]);
    assert_eq!(after["members"], before["members"]);
    let r = crate::helpers::client_with_key(&reader)
        .get(app.url(&format!("/v1/entities/{john}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the keys came with the backup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_backup_of_a_running_server_restores_to_the_state_it_names() {
    let app = crate::helpers::spawn_app().await;
    app.ingest_fixtures().await;
    let at_backup = app.export_text().await;
    let backups = tempfile::tempdir().unwrap();
    let target = backups.path().join("hot");
    let r = app
        .post_json(app.url("/v1/backups"), &json!({"dir": target}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let head = app
        .get(app.url("/v1/changes?after=0&limit=10000"))
        .await
        .body["events"]
        .as_array()
        .unwrap()
        .len() as u64;
    assert_eq!(r.body["backup"]["last_change"], head, "{}", r.body);
    assert_eq!(r.body["backup"]["records"], 16, "{}", r.body);
    // Refused: the same (now full) directory, a relative path.
    let again = app
        .post_json(app.url("/v1/backups"), &json!({"dir": target}))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    let relative = app
        .post_json(app.url("/v1/backups"), &json!({"dir": "backups/x"}))
        .await;
    assert_eq!(
        relative.status,
        StatusCode::BAD_REQUEST,
        "{}",
        relative.body
    );

    // Writes after the backup are not in it.
    app.put_record(
        "crm",
        "LATE",
        &json!({"full_name": "Late Comer", "email": "late@example.com"}),
    )
    .await;
    drop(app.stop().await);
    let restored = tempfile::tempdir().unwrap();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config/goldrec.toml");
    let out = crate::helpers::goldrec_command()
        .args(["-c", config, "--data-dir"])
        .arg(restored.path())
        .arg("restore")
        .arg(&target)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let app = crate::helpers::spawn_app_in(restored).await;
    assert_eq!(app.export_text().await, at_backup);
    assert_eq!(
        app.get_record("crm", "LATE").await.status,
        StatusCode::NOT_FOUND
    );
}
