//! Issue 12: CSV over HTTP. `POST /v1/sources/{source}/records` with `Content-Type: text/csv`
//! reads the body with the CLI's CSV adapter: a bad line is reported by line, field and reason
//! and the good lines are stored; quoted fields may hold commas and newlines.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{config_for, spawn_app, spawn_app_with};

const HEADER: &str =
    "customer_id,full_name,email,phone,birth_date,street,city,zip,employer,last_modified\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_body_stores_the_good_lines_and_names_the_bad_ones() {
    let app = spawn_app().await;
    let body = format!(
        "{HEADER}\
X1,\"Smith, Anna\",anna@example.com,(415) 555-0199,01/02/1985,\"12 Main Street\nApt 4\",San Francisco,94105,Acme,2024-01-10 09:00:00\n\
X2,Bob Stone,bob@example.com\n\
X3,Carl Ray,carl@example.com,,13/45/1990,,,,,\n\
X4,Dana Fox,dana@example.com,,,,,,,\n"
    );
    let r = app
        .post_raw(
            app.url_of(&["v1", "sources", "crm", "records"]),
            "text/csv; charset=utf-8",
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let b = &r.body;
    assert_eq!(b["inserted"], 2, "{b}");
    assert_eq!(b["rejected"], 2, "{b}");
    // Lines count from the header (line 1); X1 spans lines 2 and 3.
    let records: Vec<(String, u64)> = b["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_string(),
                r["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        records,
        [("X1".to_string(), 2), ("X4".to_string(), 6)],
        "{b}"
    );
    let errors = b["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{b}");
    assert_eq!(errors[0]["line"], 4, "{b}");
    assert!(
        errors[0]["reason"]
            .as_str()
            .unwrap()
            .contains("expected 10 fields, found 3"),
        "{b}"
    );
    assert_eq!(errors[1]["line"], 5, "{b}");
    assert_eq!(errors[1]["key"], "X3", "{b}");
    assert_eq!(errors[1]["field"], "birth_date", "{b}");

    // The good lines are stored; the quoted comma stays in the value, the quoted newline is a
    // space; nothing of the bad lines is.
    let x1 = app.get_record("crm", "X1").await;
    assert_eq!(x1.status, StatusCode::OK, "{}", x1.body);
    assert_eq!(x1.body["values"]["name"], "Smith, Anna", "{}", x1.body);
    assert_eq!(
        x1.body["values"]["address"], "12 Main Street Apt 4",
        "{}",
        x1.body
    );
    assert_eq!(app.get_record("crm", "X4").await.status, StatusCode::OK);
    for k in ["X2", "X3"] {
        assert_eq!(
            app.get_record("crm", k).await.status,
            StatusCode::NOT_FOUND,
            "{k}"
        );
    }
    assert_eq!(app.health().await["records"], Value::from(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_body_is_committed_in_chunks_of_chunk_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(dir.path());
    config.chunk_records = 2;
    let app = spawn_app_with(dir, config).await;
    let mut body = HEADER.to_string();
    for i in 0..5 {
        body.push_str(&format!("K{i},Person Number{i},p{i}@example.com,,,,,,,\n"));
    }
    let r = app
        .post_raw(
            app.url_of(&["v1", "sources", "crm", "records"]),
            "text/csv",
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["inserted"], 5, "{}", r.body);
    assert_eq!(r.body["chunks"], 3, "{}", r.body);
    assert_eq!(r.body["records"][4]["line"], 6, "{}", r.body);
}
