//! Consent and purpose (issue 11): the golden consent of an entity is the most restrictive
//! current statement of its members, with lineage; export and the change feed filter by
//! purpose, and a withdrawal reaches a purpose-filtered consumer so it can drop the customer.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    cli_when_released, goldrec_command, ms, spawn_app, TestApp, EXPECTED_ENTITIES,
};

/// Entity ids of `GET /v1/export?purpose=...` (NDJSON), checking each line is granted.
async fn exported_for(app: &TestApp, purpose: &str) -> BTreeSet<u64> {
    let mut url = app.url("/v1/export");
    url.query_pairs_mut().append_pair("purpose", purpose);
    let r = app.client.get(url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["consent"][purpose], "granted", "{v}");
            v["entity_id"].as_u64().unwrap()
        })
        .collect()
}

/// Events of `GET /v1/changes?after=..&purpose=..` (one page of up to 10,000).
async fn feed(app: &TestApp, after: u64, purpose: Option<&str>) -> (Vec<Value>, u64) {
    let mut url = app.url("/v1/changes");
    url.query_pairs_mut()
        .append_pair("after", &after.to_string())
        .append_pair("limit", "10000");
    if let Some(p) = purpose {
        url.query_pairs_mut().append_pair("purpose", p);
    }
    let r = app.get(url).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    (
        r.body["events"].as_array().unwrap().clone(),
        r.body["next_after"].as_u64().unwrap(),
    )
}

fn group(name_key: &str) -> (&'static str, &'static str) {
    EXPECTED_ENTITIES
        .iter()
        .map(|g| g[0])
        .find(|(_, k)| *k == name_key)
        .unwrap()
}

#[tokio::test]
async fn golden_consent_is_the_most_restrictive_and_export_and_feed_filter_by_purpose() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let id = |k: &'static str| {
        let (s, k) = group(k);
        app.entity_of(s, k)
    };
    let (john, zhang, bob, maria, li_na, emily, oliver, wang) = (
        id("C001").await,
        id("C002").await,
        id("C003").await,
        id("C004").await,
        id("C005").await,
        id("C006").await,
        id("W-1007").await,
        id("S-508").await,
    );

    // John: crm granted (2023-06-01), the webshop withdrew (opt_out, 2024-06-01): denied,
    // named by the webshop record. Profiling: only the webshop said, granted.
    let e = app.entity(john).await;
    let m = &e["consent"]["marketing"];
    assert_eq!(m["state"], "denied", "{e}");
    assert_eq!(
        (m["source"].as_str(), m["key"].as_str()),
        (Some("webshop"), Some("W-1001"))
    );
    assert_eq!(m["at"], ms("2024-06-01T10:00:00Z"));
    assert_eq!(e["consent"]["profiling"]["state"], "granted", "{e}");
    assert_eq!(e["consent"]["analytics"]["state"], "unknown", "{e}");
    assert!(e["consent"]["analytics"].get("source").is_none());
    // The statement travels with the record, so the steward sees who said what.
    let values = &e["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "W-1001")
        .unwrap()["values"];
    assert_eq!(values["consent.marketing"], "denied", "{values}");

    // Bob: both members granted; the most recent grant (webshop, 2024-04-11) is named.
    let b = app.entity(bob).await;
    assert_eq!(b["consent"]["marketing"]["state"], "granted", "{b}");
    assert_eq!(b["consent"]["marketing"]["key"], "W-1003");
    // María said no; Li Na said nothing.
    assert_eq!(
        app.entity(maria).await["consent"]["marketing"]["state"],
        "denied"
    );
    assert_eq!(
        app.entity(li_na).await["consent"]["marketing"]["state"],
        "unknown"
    );

    let granted: BTreeSet<u64> = [zhang, bob, emily, oliver].into();
    assert_eq!(exported_for(&app, "marketing").await, granted);
    assert_eq!(exported_for(&app, "profiling").await, [john].into());
    assert!(exported_for(&app, "analytics").await.is_empty());
    // With lineage, the export names the deciding record too.
    let text = app
        .client
        .get(app.url("/v1/export?purpose=marketing&lineage=true"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["entity_id"] == bob)
        .unwrap();
    assert_eq!(line["consent"]["marketing"]["state"], "granted", "{line}");
    assert_eq!(line["consent"]["marketing"]["key"], "W-1003", "{line}");
    assert_eq!(line["consent"]["analytics"]["state"], "unknown", "{line}");

    // The filtered feed holds no event of entities never granted; the whole feed does.
    let (all, latest) = feed(&app, 0, None).await;
    let (marketing, next) = feed(&app, 0, Some("marketing")).await;
    assert_eq!(next, latest, "next_after advances over the events left out");
    let of = |events: &[Value]| -> BTreeSet<u64> {
        events
            .iter()
            .map(|e| e["entity_id"].as_u64().unwrap())
            .collect()
    };
    assert!(of(&all).contains(&li_na) && of(&all).contains(&wang));
    assert!(!of(&marketing).contains(&li_na) && !of(&marketing).contains(&wang));
    assert!(!of(&marketing).contains(&maria));
    assert!(of(&marketing).is_superset(&granted));
    for e in &marketing {
        assert!(
            e["consent"]["marketing"] == "granted" || e["consent_was"]["marketing"] == "granted",
            "{e}"
        );
    }

    // Bob withdraws in the CRM: his entity turns denied, named by the CRM record.
    let mut c003 = crate::helpers::csv_fixture_as_json("crm.csv")[2].clone();
    assert_eq!(c003["customer_id"], "C003");
    c003["marketing_opt_in"] = json!("withdrawn");
    c003["marketing_opt_in_at"] = json!("2024-07-01 09:00:00");
    let r = app.put_record("crm", "C003", &c003).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let b = app.entity(bob).await;
    let m = &b["consent"]["marketing"];
    assert_eq!(m["state"], "denied", "{b}");
    assert_eq!(
        (m["source"].as_str(), m["key"].as_str()),
        (Some("crm"), Some("C003"))
    );
    assert_eq!(m["at"], ms("2024-07-01T09:00:00Z"));

    // A consumer of the marketing feed sees the withdrawal, and the export drops Bob.
    let (events, _) = feed(&app, latest, Some("marketing")).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["entity_id"], bob);
    assert_eq!(events[0]["consent"]["marketing"], "denied");
    assert_eq!(events[0]["consent_was"]["marketing"], "granted");
    assert_eq!(events[0]["changed"], json!([]), "no golden value changed");
    // The withdrawal names the entity to drop and carries no personal data.
    assert_eq!(events[0]["golden"], json!({}), "{}", events[0]);
    assert_eq!(events[0]["members"], json!([]), "{}", events[0]);
    let (unfiltered, _) = feed(&app, latest, None).await;
    assert_eq!(unfiltered.len(), 1);
    assert_eq!(unfiltered[0]["golden"]["name"], "Robert Johnson");
    let still: BTreeSet<u64> = [zhang, emily, oliver].into();
    assert_eq!(exported_for(&app, "marketing").await, still);
    // Another purpose's consumer is not told: Bob was never granted for profiling.
    let (events, _) = feed(&app, latest, Some("profiling")).await;
    assert!(events.is_empty(), "{events:?}");

    // The CLI export filters the same way, from the stopped server's data directory.
    let dir = app.stop().await;
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config/goldrec.toml");
    let out = cli_when_released(|| {
        let mut c = goldrec_command();
        c.args(["-c", config, "--data-dir"]).arg(dir.path()).args([
            "export",
            "--purpose",
            "marketing",
        ]);
        c
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: BTreeSet<u64> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["entity_id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, still);
    let out = cli_when_released(|| {
        let mut c = goldrec_command();
        c.args(["-c", config, "--data-dir"])
            .arg(dir.path())
            .args(["export", "--purpose", "sales"]);
        c
    });
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown purpose \"sales\""), "{err}");
}

#[tokio::test]
async fn a_bad_consent_value_is_a_per_record_error_naming_the_field() {
    let app = spawn_app().await;
    let r = app
        .ingest(
            "crm",
            &json!([
                {"customer_id": "K1", "full_name": "Ann Lee", "marketing_opt_in": "maybe"},
                {"customer_id": "K2", "full_name": "Bo Lin", "marketing_opt_in": "Opt-In",
                 "marketing_opt_in_at": "2024-01-02 03:04:05"},
                {"customer_id": "K3", "full_name": "Cy Ong", "marketing_opt_in": "no",
                 "marketing_opt_in_at": "last tuesday"},
            ]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let errors = r.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{}", r.body);
    assert_eq!(errors[0]["key"], "K1");
    assert_eq!(errors[0]["field"], "marketing_opt_in");
    let reason = errors[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("\"maybe\"") && reason.contains("marketing"),
        "{reason}"
    );
    assert_eq!(errors[1]["key"], "K3");
    assert_eq!(errors[1]["field"], "marketing_opt_in_at");
    let k2 = app.entity(app.entity_of("crm", "K2").await).await;
    assert_eq!(k2["consent"]["marketing"]["state"], "granted", "{k2}");
    assert_eq!(k2["consent"]["marketing"]["at"], ms("2024-01-02T03:04:05Z"));
    assert_eq!(
        app.get_record("crm", "K1").await.status,
        StatusCode::NOT_FOUND
    );

    // A nested JSON field: a number that is not 0 or 1 is no statement either.
    let r = app
        .ingest_ndjson(
            "webshop",
            r#"{"id":"W-9","name":{"first":"Di","last":"Ma"},"consent":{"marketing":{"allowed":42}}}"#
                .to_string(),
        )
        .await;
    assert_eq!(
        r.body["errors"][0]["field"], "consent.marketing.allowed",
        "{}",
        r.body
    );
}

#[tokio::test]
async fn an_unknown_purpose_is_a_400_naming_it() {
    let app = spawn_app().await;
    for path in ["/v1/export?purpose=sales", "/v1/changes?purpose=sales"] {
        let r = app.get(app.url(path)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.body);
        assert_eq!(r.body["code"], "unknown_purpose", "{path}");
        let msg = r.body["message"].as_str().unwrap();
        assert!(
            msg.contains("\"sales\"") && msg.contains("marketing"),
            "{msg}"
        );
    }
}

/// The bundled config with `from` replaced by `to`; the error it gives.
fn config_error(from: &str, to: &str) -> String {
    let text = crate::helpers::bundled_config_text();
    assert!(
        text.contains(from),
        "{from:?} is not in config/goldrec.toml"
    );
    match goldrec::config::Config::parse(&text.replacen(from, to, 1)) {
        Ok(_) => panic!("the edited config was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn consent_settings_are_checked_naming_the_key() {
    let c = goldrec::config::Config::parse(&crate::helpers::bundled_config_text()).unwrap();
    assert_eq!(c.purposes, ["marketing", "profiling", "analytics"]);
    assert_eq!(c.sources["webshop"].consent.len(), 2);
    let err = config_error(
        "profiling = { field = \"consent.profiling\" }",
        "sales = { field = \"consent.profiling\" }",
    );
    assert!(
        err.contains("sources.webshop.consent.sales") && err.contains("unknown purpose"),
        "{err}"
    );
    let err = config_error(
        "purposes = [\"marketing\", \"profiling\", \"analytics\"]",
        "purposes = [\"marketing\", \"profiling\", \"analytics\", \"marketing\"]",
    );
    assert!(
        err.contains("consent.purposes[3]") && err.contains("twice"),
        "{err}"
    );
    let err = config_error("\"analytics\"]", "\"Analytics!\"]");
    assert!(err.contains("consent.purposes[2]"), "{err}");
    let err = config_error(
        "profiling = { field = \"consent.profiling\" }",
        "profiling = { field = \"\" }",
    );
    assert!(
        err.contains("sources.webshop.consent.profiling.field"),
        "{err}"
    );
    let err = config_error(
        "profiling = { field = \"consent.profiling\" }",
        "profiling = { field = \"x\", when = \"y\" }",
    );
    assert!(err.contains("when"), "{err}");
}
