//! Issue 11, item 1: API keys and roles. Every route of the OpenAPI document, driven with
//! every role, no key, a wrong key and a revoked key; keys made by the CLI while a server
//! runs; the bootstrap admin key of `serve`.

use std::io::BufRead;
use std::time::{Duration, Instant};

use goldrec::auth::{self, NewKey, Role};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{client_with_key, spawn_app, TestApp};

/// Who may call a route, written out independently of `api::auth::required`: the roles
/// (besides admin, who may call everything) allowed on (method, template).
fn allowed_roles(method: &str, template: &str) -> &'static [&'static str] {
    match (method, template) {
        (_, "/v1/health" | "/v1/openapi.json" | "/docs" | "/docs/{file}") => &["open"],
        ("get", "/" | "/ui/{path}") => &["open"],
        ("get", "/metrics") => &["ingest", "reader", "steward"],
        ("post", "/v1/sources/{source}/records") => &["ingest"],
        ("put" | "delete", "/v1/sources/{source}/records/{key}") => &["ingest"],
        ("get", "/v1/sources/{source}/records/{key}") => &["ingest", "reader", "steward"],
        ("get", "/v1/entities/{id}" | "/v1/search" | "/v1/changes" | "/v1/export") => {
            &["reader", "steward"]
        }
        ("post", "/v1/match" | "/v1/lookup") => &["reader", "steward"],
        ("get", "/v1/overview") => &["reader", "steward"],
        ("get", "/v1/entities/{id}/file" | "/v1/segments/{name}") => &["reader", "steward"],
        ("get", "/v1/quality/data") => &["steward"],
        (_, "/v1/review" | "/v1/decisions" | "/v1/decisions/{id}") => &["steward"],
        (_, "/v1/entities/{id}/history" | "/v1/entities/{id}/conflicts") => &["steward"],
        (_, "/v1/entities/merge" | "/v1/entities/{id}/split") => &["steward"],
        (_, "/v1/entities/{id}/overrides/{attr}") => &["steward"],
        (_, "/v1/quality" | "/v1/quality/sample" | "/v1/quality/verdicts") => &["steward"],
        _ => &[],
    }
}

fn key_for(app: &TestApp, name: &str, role: Role, sources: &[&str]) -> String {
    key_with(app, name, role, sources, false)
}

fn key_with(app: &TestApp, name: &str, role: Role, sources: &[&str], pii: bool) -> String {
    auth::create(
        app.dir.path(),
        NewKey {
            name: name.into(),
            role,
            sources: sources.iter().map(|s| s.to_string()).collect(),
            pii,
        },
    )
    .expect("key created")
    .1
}

async fn call(
    client: &reqwest::Client,
    app: &TestApp,
    method: &Method,
    path: &str,
) -> (StatusCode, Value) {
    let r = client
        .request(method.clone(), app.url(path))
        .send()
        .await
        .expect("answered");
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_route_answers_each_role_as_the_role_table_says() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let ingest_key = key_for(&app, "etl-crm", Role::Ingest, &["crm"]);
    let revoked = key_for(&app, "gone", Role::Admin, &[]);
    auth::revoke(app.dir.path(), "gone").unwrap();
    let mut wrong = key_for(&app, "wrongly-typed", Role::Admin, &[]);
    wrong.replace_range(wrong.len() - 4.., "0000");
    let clients: Vec<(&str, reqwest::Client)> = vec![
        ("ingest", client_with_key(&ingest_key)),
        (
            "reader",
            client_with_key(&key_for(&app, "bi", Role::Reader, &[])),
        ),
        (
            "steward",
            client_with_key(&key_for(&app, "alice", Role::Steward, &[])),
        ),
        (
            "admin",
            client_with_key(&key_for(&app, "ops", Role::Admin, &[])),
        ),
        ("none", reqwest::Client::new()),
        ("wrong", client_with_key(&wrong)),
        ("revoked", client_with_key(&revoked)),
    ];
    // The document the server serves (generated from the code).
    let doc = reqwest::Client::new()
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let mut checked = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (m, op) in item.as_object().unwrap() {
            let method = Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
            // The document states who may call it; it agrees with the table.
            let open = op
                .get("security")
                .is_some_and(|s| s == &serde_json::json!([]));
            let allowed = allowed_roles(m, template);
            assert_eq!(
                open,
                allowed == ["open"],
                "{m} {template}: security in the document"
            );
            if !open {
                for status in ["401", "403"] {
                    assert!(
                        op["responses"].get(status).is_some(),
                        "{m} {template}: the document lists {status}"
                    );
                }
            }
            // The ingest key names crm: webshop is another source.
            let sources: &[&str] = if template.contains("{source}") {
                &["crm", "webshop"]
            } else {
                &["crm"]
            };
            for source in sources {
                let path = template
                    .replace("{source}", source)
                    .replace("{key}", "NOPE-1")
                    .replace("{attr}", "email")
                    .replace("{id}", "1")
                    .replace("{file}", "init.js");
                for (who, client) in &clients {
                    let (status, body) = call(client, &app, &method, &path).await;
                    let may = open
                        || *who == "admin"
                        || (allowed.contains(who) && (*who != "ingest" || *source == "crm"));
                    let what = format!("{who} {m} {path}: {status} {body}");
                    checked += 1;
                    if may {
                        assert!(
                            status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                            "{what}: should be allowed"
                        );
                    } else if ["none", "wrong", "revoked"].contains(who) {
                        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
                        assert_eq!(body["code"], "unauthorized", "{what}");
                    } else {
                        assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
                        assert_eq!(body["code"], "forbidden", "{what}");
                        assert!(
                            body["message"].as_str().unwrap().contains("may not"),
                            "{what}"
                        );
                    }
                }
            }
        }
    }
    println!("role matrix: {checked} requests");
    assert!(checked > 150, "{checked}");
}

#[tokio::test]
async fn a_key_created_by_the_cli_works_on_a_running_server_until_revoked() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config/goldrec.toml");
    let cli = |args: &[&str]| {
        crate::helpers::goldrec_command()
            .args(["-c", config, "--data-dir"])
            .arg(app.dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = cli(&["keys", "create", "--name", "bi", "--role", "reader"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.lines().last().unwrap().trim().to_string();
    assert!(key.starts_with("grk_"), "{stdout}");
    let text = std::fs::read_to_string(auth::keys_path(app.dir.path())).unwrap();
    assert!(!text.contains(&key), "only the hash is stored");

    let client = client_with_key(&key);
    let first = Instant::now();
    let (s, body) = call(&client, &app, &Method::GET, "/v1/entities/1").await;
    let first = first.elapsed();
    assert_eq!(s, StatusCode::OK, "{body}");
    // Later requests use the remembered verification, not argon2.
    let n = 20;
    let t = Instant::now();
    for _ in 0..n {
        let (s, _) = call(&client, &app, &Method::GET, "/v1/entities/1").await;
        assert_eq!(s, StatusCode::OK);
    }
    let cached = t.elapsed() / n;
    println!("first request (argon2) {first:?}, then {cached:?} per request");
    assert!(cached < first, "cached {cached:?} vs first {first:?}");
    let (s, body) = call(&client, &app, &Method::GET, "/v1/review").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");

    let list = cli(&["keys", "list"]);
    let listed = String::from_utf8(list.stdout).unwrap();
    assert!(listed.contains("bi") && listed.contains("reader") && !listed.contains(&key));

    let refused = cli(&["keys", "create", "--name", "x", "--role", "ingest"]);
    assert!(!refused.status.success(), "an ingest key names its sources");
    let refused = cli(&[
        "keys",
        "create",
        "--name",
        "y",
        "--role",
        "ingest",
        "--sources",
        "nope",
    ]);
    assert!(!refused.status.success(), "an unknown source is refused");

    let out = cli(&["keys", "revoke", "bi"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (s, body) = call(&client, &app, &Method::GET, "/v1/entities/1").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "unauthorized");
}

/// The quick start: `serve` on a fresh data directory prints an admin key once; a restart
/// does not print another.
#[tokio::test]
async fn serve_on_a_fresh_data_dir_prints_an_admin_key_once() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        let (mut command, base) = crate::helpers::serve_command(dir.path());
        let child = command
            .env_remove(auth::ADMIN_KEY_ENV)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        (child, base)
    };
    let (mut child, base) = start();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let key = line.trim().to_string();
    assert!(key.starts_with("grk_"), "{line:?}");
    let client = client_with_key(&key);
    let mut ready = false;
    for _ in 0..600 {
        if let Ok(r) = client.get(format!("{base}/v1/review")).send().await {
            assert_eq!(
                r.status(),
                StatusCode::OK,
                "the bootstrap key is an admin key"
            );
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the server came up");
    let r = reqwest::get(format!("{base}/v1/review")).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = reqwest::get(format!("{base}/v1/health")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "health stays open");
    child.kill().unwrap();
    child.wait().unwrap();

    let (mut child, _) = start();
    let mut out = String::new();
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap();
    child.wait().unwrap();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert!(
        !out.contains("grk_"),
        "a second start prints no key: {out:?}"
    );
}

/// Issue 11, item 3: every guarded request is in the audit log with its key, route, status
/// and whether personal data was read; `GET /v1/audit` (admin only) filters by actor, time
/// and count.
#[tokio::test]
async fn the_audit_log_records_who_did_what_and_filters() {
    let app = spawn_app().await;
    let etl = client_with_key(&key_for(&app, "etl-crm", Role::Ingest, &["crm"]));
    let bi = client_with_key(&key_for(&app, "bi", Role::Reader, &[]));
    let before = chrono::Utc::now();
    let r = etl
        .put(app.url("/v1/sources/crm/records/A1"))
        .json(&serde_json::json!({"full_name": "Audit Person", "email": "audit@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let entity: Value = r.json().await.unwrap();
    let id = entity["entity_id"].as_u64().unwrap();
    let (s, _) = call(&bi, &app, &Method::GET, &format!("/v1/entities/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(&bi, &app, &Method::GET, "/v1/review").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(&reqwest::Client::new(), &app, &Method::GET, "/v1/export").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, body) = call(&bi, &app, &Method::GET, "/v1/audit").await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "only admins read the audit log: {body}"
    );
    app.entity(id).await;
    let alice = client_with_key(&key_for(&app, "alice", Role::Steward, &[]));
    let r = alice
        .post(app.url("/v1/decisions"))
        .json(&serde_json::json!({"a": {"source": "crm", "key": "A1"}, "b": {"source": "crm", "key": "A1x"},
                                  "decision": "different", "actor": "ana@example.com"}))
        .send()
        .await
        .unwrap();
    let _ = r.text().await;

    // The audit thread writes asynchronously: wait for the entries.
    let mut entries = Vec::new();
    for _ in 0..100 {
        let mut url = app.url("/v1/audit");
        url.query_pairs_mut()
            .append_pair("since", &before.to_rfc3339());
        let r = app.get(url).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        entries = r.body["entries"].as_array().unwrap().clone();
        if entries
            .iter()
            .any(|e| e["actor"] == "admin (GOLDREC_ADMIN_KEY)" && e["route"] == "/v1/entities/{id}")
            && entries.iter().any(|e| e["actor"] == "alice")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let find = |actor: Option<&str>, route: &str| {
        entries
            .iter()
            .find(|e| e["actor"].as_str() == actor && e["route"] == route)
            .unwrap_or_else(|| panic!("no entry {actor:?} {route}: {entries:?}"))
            .clone()
    };
    let put = find(Some("etl-crm"), "/v1/sources/{source}/records/{key}");
    assert_eq!(
        (
            &put["method"],
            &put["path"],
            &put["in_transaction"],
            &put["outcome"],
            &put["personal_data"]
        ),
        (
            &"PUT".into(),
            &"/v1/sources/crm/records/A1".into(),
            &true.into(),
            &"ok".into(),
            &false.into()
        ),
        "{put}"
    );
    let decided = find(Some("alice"), "/v1/decisions");
    assert_eq!(
        decided["request"]["body"]["decision"], "different",
        "{decided}"
    );
    assert_eq!(
        decided["request"]["body"]["actor"], "ana@example.com",
        "{decided}"
    );
    let read = find(Some("bi"), "/v1/entities/{id}");
    assert_eq!(read["path"], format!("/v1/entities/{id}"));
    assert_eq!(
        read["personal_data"], false,
        "bi has no pii scope: masked: {read}"
    );
    let clear = find(Some("admin (GOLDREC_ADMIN_KEY)"), "/v1/entities/{id}");
    assert_eq!(
        clear["personal_data"], true,
        "the admin key reads in clear: {clear}"
    );
    let refused = find(Some("bi"), "/v1/review");
    assert_eq!(
        (&refused["status"], &refused["outcome"]),
        (&403.into(), &"refused".into())
    );
    let anonymous = find(None, "/v1/export");
    assert_eq!(anonymous["status"], 401);
    let times: Vec<&str> = entries.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "oldest first: {times:?}"
    );

    // Filters: actor, limit, and a time after everything.
    let r = app.get(app.url("/v1/audit?actor=bi&limit=1")).await;
    let only = r.body["entries"].as_array().unwrap();
    assert_eq!(only.len(), 1, "{}", r.body);
    assert_eq!(only[0]["actor"], "bi");
    let mut url = app.url("/v1/audit");
    url.query_pairs_mut().append_pair(
        "since",
        &(chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
    );
    let r = app.get(url).await;
    assert_eq!(r.body["entries"], serde_json::json!([]), "{}", r.body);
    let r = app.get(app.url("/v1/audit?limit=0")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

/// `[audit] retention_days`: entries older than it are pruned when the audit thread starts;
/// newer ones stay.
#[tokio::test]
async fn audit_entries_older_than_the_retention_are_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::helpers::config_for(dir.path());
    config.audit_retention_days = 30;
    let engine = std::sync::Arc::new(goldrec::engine::Engine::open(config).unwrap());
    let entry = |days_ago: i64| {
        let at = chrono::Utc::now() - chrono::Duration::days(days_ago);
        let e = goldrec::audit::AuditEntry {
            at,
            actor: Some(format!("{days_ago}-days-ago")),
            key_id: None,
            method: "GET".into(),
            route: "/v1/entities/{id}".into(),
            path: "/v1/entities/1".into(),
            status: Some(200),
            outcome: "ok".into(),
            personal_data: true,
            request: None,
            in_transaction: false,
            part: None,
        };
        (
            at.timestamp_millis() as u64,
            serde_json::to_vec(&e).unwrap(),
        )
    };
    engine
        .append_audit(&[entry(400), entry(31), entry(29), entry(0)])
        .unwrap();
    let auditor = goldrec::audit::Auditor::start(engine.clone());
    let mut kept = Vec::new();
    for _ in 0..100 {
        kept = goldrec::audit::query(&engine, None, None, 100).unwrap();
        if kept.len() == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let actors: Vec<_> = kept.iter().map(|e| e.actor.clone().unwrap()).collect();
    assert_eq!(actors, ["29-days-ago", "0-days-ago"]);
    drop(auditor);
}

/// Issue 11, item 2: a key without the pii scope sees no personal value in clear on any
/// output path; a key with it does (so the check can fail).
#[tokio::test]
async fn masking_hides_personal_values_on_every_output_path() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    // Some steward work so history, review and conflicts have content.
    let ids = app.expected_entity_ids().await;
    let (john, zhang) = (ids[0], ids[1]);

    // Every clear value of a masked attribute, as supplied and as golden (family names stay
    // in clear: the name policy shows them).
    let masked = [
        "name",
        "name.given",
        "email",
        "phone",
        "birth_date",
        "address",
        "postcode",
    ];
    let mut secrets = std::collections::BTreeSet::new();
    let mut collect = |v: &Value| {
        for a in masked {
            for m in v["members"].as_array().into_iter().flatten() {
                if let Some(s) = m["values"][a].as_str() {
                    secrets.insert(s.to_string());
                }
            }
            if let Some(s) = v["golden"][a]["value"].as_str() {
                secrets.insert(s.to_string());
            }
        }
    };
    for id in &ids {
        collect(&app.entity(*id).await);
    }
    secrets.retain(|s| s.chars().count() >= 3);
    assert!(secrets.len() > 20, "{secrets:?}");

    let reader = client_with_key(&key_for(&app, "bi", Role::Reader, &[]));
    let steward = client_with_key(&key_for(&app, "alice", Role::Steward, &[]));
    let pii_reader = client_with_key(&key_with(&app, "dpo", Role::Reader, &[], true));
    let send = |client: &reqwest::Client, method: Method, path: &str, body: Option<Value>| {
        let mut rb = client.request(method, app.url(path));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        async move {
            let r = rb.send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let probe =
        serde_json::json!({"record": {"name": "John Smith", "email": "john.smith@example.com"}});
    let cases: Vec<(&str, Method, String, Option<Value>)> = vec![
        ("entity", Method::GET, format!("/v1/entities/{john}"), None),
        (
            "entity version",
            Method::GET,
            format!("/v1/entities/{john}?version=1"),
            None,
        ),
        (
            "record",
            Method::GET,
            "/v1/sources/crm/records/C001".into(),
            None,
        ),
        (
            "search",
            Method::GET,
            "/v1/search?name=John%20Smith".into(),
            None,
        ),
        ("probe", Method::POST, "/v1/match".into(), Some(probe)),
        (
            "lookup",
            Method::POST,
            "/v1/lookup".into(),
            Some(serde_json::json!({"records": [{"source": "crm", "key": "C001"}]})),
        ),
        (
            "changes",
            Method::GET,
            "/v1/changes?limit=1000".into(),
            None,
        ),
        (
            "export ndjson",
            Method::GET,
            "/v1/export?lineage=true".into(),
            None,
        ),
        (
            "export csv",
            Method::GET,
            "/v1/export?format=csv".into(),
            None,
        ),
        ("review", Method::GET, "/v1/review?limit=100".into(), None),
        (
            "history",
            Method::GET,
            format!("/v1/entities/{zhang}/history"),
            None,
        ),
        (
            "conflicts",
            Method::GET,
            format!("/v1/entities/{zhang}/conflicts"),
            None,
        ),
        (
            "quality sample",
            Method::GET,
            "/v1/quality/sample?n=100".into(),
            None,
        ),
    ];
    let mut clear_seen = 0;
    for (what, method, path, body) in &cases {
        let client = if ["review", "history", "conflicts", "quality sample"].contains(what) {
            &steward
        } else {
            &reader
        };
        let (status, text) = send(client, method.clone(), path, body.clone()).await;
        assert!(status.is_success(), "{what}: {status} {text}");
        for s in &secrets {
            assert!(!contains_word(&text, s), "{what}: {s:?} in clear: {text}");
        }
        if !["review", "history", "conflicts", "quality sample"].contains(what) {
            let (_, clear) = send(&pii_reader, method.clone(), path, body.clone()).await;
            if secrets.iter().any(|s| contains_word(&clear, s)) {
                clear_seen += 1;
            }
        }
    }
    assert!(
        clear_seen >= 6,
        "the pii key reads in clear on most paths: {clear_seen}"
    );

    // Masked forms, as configured.
    let (_, text) = send(&reader, Method::GET, &format!("/v1/entities/{john}"), None).await;
    let v: Value = serde_json::from_str(&text).unwrap();
    assert!(
        v["golden"]["email"]["value"]
            .as_str()
            .unwrap()
            .starts_with("j***@"),
        "{v}"
    );
    assert_eq!(v["golden"]["name"]["value"], "J. Smith", "{v}");
    assert_eq!(v["golden"]["birth_date"]["value"], "1980", "{v}");
    assert!(
        v["golden"]["phone"]["value"]
            .as_str()
            .unwrap()
            .ends_with("0101"),
        "{v}"
    );

    // Writes answered to a steward without pii: an override is masked in the reply, and an
    // error that would quote the value does not.
    let r = steward
        .put(app.url(&format!("/v1/entities/{john}/overrides/email")))
        .json(&serde_json::json!({"value": "not-an-email-address", "actor": "alice"}))
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(!text.contains("not-an-email-address"), "{text}");
    let r = steward
        .put(app.url(&format!("/v1/entities/{john}/overrides/email")))
        .json(&serde_json::json!({"value": "pinned.person@example.org", "actor": "alice"}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert!(status.is_success(), "{status} {text}");
    assert!(
        !text.contains("pinned.person@example.org") && text.contains("p***@example.org"),
        "{text}"
    );
}

/// Whether `word` occurs in `text` not inside a longer word ("John" is not in "Johnson").
fn contains_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// `/v1/keys` (admin): create a key over HTTP (shown once), use it, list keys without
/// secrets or hashes, revoke it.
#[tokio::test]
async fn an_admin_manages_keys_over_http() {
    let app = spawn_app().await;
    let body = serde_json::json!({"key_name": "etl-web", "role": "ingest", "sources": ["webshop"]});
    let r = app.post_json(app.url("/v1/keys"), &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let key = r.body["key"].as_str().unwrap().to_string();
    assert_eq!(r.body["role"], "ingest");
    let etl = client_with_key(&key);
    let ok = etl
        .put(app.url("/v1/sources/webshop/records/W-9"))
        .json(&serde_json::json!({"id": "W-9", "name": {"first": "Ada", "last": "Lovelace"}}))
        .send()
        .await
        .unwrap();
    assert!(ok.status().is_success(), "{:?}", ok.text().await);
    let (s, _) = call(&etl, &app, &Method::GET, "/v1/keys").await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "an ingest key does not manage keys"
    );

    let r = app.post_json(app.url("/v1/keys"), &body).await;
    assert_eq!(
        (r.status, &r.body["code"]),
        (StatusCode::BAD_REQUEST, &"invalid_key".into()),
        "{}",
        r.body
    );
    let r = app
        .post_json(
            app.url("/v1/keys"),
            &serde_json::json!({"key_name": "x", "role": "ingest", "sources": ["nope"]}),
        )
        .await;
    assert_eq!(r.body["code"], "unknown_source", "{}", r.body);

    let r = app.get(app.url("/v1/keys")).await;
    let text = r.body.to_string();
    assert!(
        text.contains("etl-web") && !text.contains(&key) && !text.contains("argon2"),
        "{text}"
    );

    let r = TestApp::send(app.client.delete(app.url("/v1/keys/etl-web"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["revoked_at"].is_string(), "{}", r.body);
    let (s, _) = call(&etl, &app, &Method::GET, "/v1/sources/webshop/records/W-9").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let r = TestApp::send(app.client.delete(app.url("/v1/keys/etl-web"))).await;
    assert_eq!(r.body["code"], "key_not_found", "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_commits_its_audit_entry_with_the_change() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let put = app
        .put_record(
            "crm",
            "AUD1",
            &serde_json::json!({"full_name": "Audit Person", "email": "audit@example.com"}),
        )
        .await;
    assert!(put.status.is_success(), "{}", put.body);
    let bad = app
        .put_record(
            "crm",
            "AUD2",
            &serde_json::json!({"full_name": "Bad Date", "birth_date": "31/31/1999"}),
        )
        .await;
    assert!(bad.status.is_client_error(), "{}", bad.body);
    let a = app.entity_of("crm", "AUD1").await;
    let r = app
        .client
        .put(app.url(&format!("/v1/entities/{a}/overrides/city")))
        .json(&serde_json::json!({"value": "Oslo", "actor": "steward@example.com"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    // A refused write's entry is appended after its answer, by the audit thread: wait for it.
    let started = std::time::Instant::now();
    let audit = loop {
        let audit = app.get(app.url("/v1/audit?limit=10000")).await.body;
        let refused_seen = audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["path"] == "/v1/sources/crm/records/AUD2" && e["outcome"] == "failed");
        if refused_seen || started.elapsed() > std::time::Duration::from_secs(10) {
            break audit;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let entries = audit["entries"].as_array().unwrap();
    let of = |method: &str, route: &str, path: &str| -> Vec<&Value> {
        entries
            .iter()
            .filter(|e| e["method"] == method && e["route"] == route && e["path"] == path)
            .collect()
    };
    // One entry per successful write, written in the change's transaction.
    let ok = of(
        "PUT",
        "/v1/sources/{source}/records/{key}",
        "/v1/sources/crm/records/AUD1",
    );
    assert_eq!(ok.len(), 1, "{ok:?}");
    assert_eq!(ok[0]["in_transaction"], true, "{}", ok[0]);
    assert_eq!(ok[0]["actor"], "admin (GOLDREC_ADMIN_KEY)", "{}", ok[0]);
    let pin = of(
        "PUT",
        "/v1/entities/{id}/overrides/{attr}",
        &format!("/v1/entities/{a}/overrides/city"),
    );
    assert_eq!(pin.len(), 1, "{pin:?}");
    assert_eq!(pin[0]["in_transaction"], true, "{}", pin[0]);
    // The batches of the fixture load too (each POST committed at least one entry).
    let batches: Vec<&Value> = entries
        .iter()
        .filter(|e| e["route"] == "/v1/sources/{source}/records")
        .collect();
    assert!(
        batches.len() >= 3 && batches.iter().all(|e| e["in_transaction"] == true),
        "{batches:?}"
    );
    // A refused write is recorded after its answer, with its status.
    let refused = of(
        "PUT",
        "/v1/sources/{source}/records/{key}",
        "/v1/sources/crm/records/AUD2",
    );
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].get("in_transaction").is_none(), "{}", refused[0]);
    assert_eq!(refused[0]["outcome"], "failed");
}
