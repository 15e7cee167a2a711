//! Encryption at rest: after a fixture load no personal value of the fixtures is in the data
//! directory's bytes (sled values sealed, index terms hashed); the same scan of a store made
//! with encryption off finds them (the scan works). Keys: a wrong key is refused, and a
//! rotated key opens the store where the old one no longer does.

use std::path::Path;

use serde_json::Value;

use crate::helpers::{
    cli_when_released, config_for, fixture_path, goldrec_command, spawn_app_with, TEST_DATA_KEY,
};

/// Personal values of the fixture files: names (each word), emails, phone digits, streets.
pub fn fixture_needles() -> Vec<String> {
    let mut out = Vec::new();
    let mut add = |v: &str, words: bool| {
        let v = v.trim();
        if words {
            for w in v.split(|c: char| !c.is_alphanumeric()) {
                // Latin words of 4+ letters, Hanzi names whole (a 2-character name is 6 bytes).
                if w.chars().count() >= 4 || (!w.is_ascii() && w.len() >= 6) {
                    out.push(w.to_string());
                    out.push(w.to_lowercase());
                }
            }
        } else if v.contains('@') {
            out.push(v.to_string());
            out.push(v.to_lowercase());
        } else {
            let digits: String = v.chars().filter(char::is_ascii_digit).collect();
            if digits.len() >= 7 {
                out.push(digits[digits.len() - 7..].to_string());
            }
        }
    };
    for (file, name, email, phone, street) in [
        ("crm.csv", "full_name", "email", "phone", Some("street")),
        ("support.csv", "name", "email", "phone", None),
    ] {
        let mut r = csv::Reader::from_path(fixture_path(file)).unwrap();
        let headers = r.headers().unwrap().clone();
        let col = |h: &str| headers.iter().position(|x| x == h).unwrap();
        for row in r.records() {
            let row = row.unwrap();
            add(&row[col(name)], true);
            add(&row[col(email)], false);
            add(&row[col(phone)], false);
            if let Some(s) = street {
                add(&row[col(s)], true);
            }
        }
    }
    for line in std::fs::read_to_string(fixture_path("webshop.ndjson"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        let v: Value = serde_json::from_str(line).unwrap();
        let s = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        add(&s("/name/first"), true);
        add(&s("/name/last"), true);
        add(&s("/contact/email"), false);
        add(&s("/contact/phone"), false);
        add(&s("/shipping/line1"), true);
    }
    // Words that are not personal on their own (street kinds, the fixtures' domains).
    let common = [
        "Street", "Road", "Avenue", "example", "gmail", "Main", "Nanjing",
    ];
    out.retain(|n| !common.iter().any(|c| c.eq_ignore_ascii_case(n)));
    out.sort();
    out.dedup();
    out
}

/// The needles found anywhere in the bytes of the files under `dir`, with the file.
pub fn scan_dir(dir: &Path, needles: &[String]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            // A file removed meanwhile (a merge finishing after the server let go) holds
            // nothing any more.
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => panic!("{}: {e}", path.display()),
            };
            for n in needles {
                if bytes.windows(n.len()).any(|w| w == n.as_bytes()) {
                    found.push((n.clone(), path.display().to_string()));
                }
            }
        }
    }
    found
}

#[tokio::test]
async fn no_personal_value_is_in_clear_in_the_data_dir_after_a_fixture_load() {
    let needles = fixture_needles();
    assert!(needles.len() >= 20, "too few needles: {needles:?}");

    let app = crate::helpers::spawn_app().await;
    app.ingest_fixtures().await;
    // A read path too: entities and the feed are served decrypted.
    let john = app.entity_of("crm", "C001").await;
    let body = app.entity(john).await.to_string();
    assert!(body.contains("Smith"), "{body}");
    let dir = app.stop().await;
    let found = scan_dir(dir.path(), &needles);
    assert!(found.is_empty(), "personal values in clear: {found:?}");

    // The control: the same load with encryption off leaves them in clear.
    let plain = tempfile::tempdir().unwrap();
    let mut config = config_for(plain.path());
    config.encryption.enabled = false;
    let app = spawn_app_with(plain, config).await;
    app.ingest_fixtures().await;
    let dir = app.stop().await;
    let found = scan_dir(dir.path(), &needles);
    let seen: std::collections::BTreeSet<&String> = found.iter().map(|(n, _)| n).collect();
    assert!(
        seen.len() * 10 >= needles.len() * 9,
        "the scan must see the plain store's values: {} of {}: {seen:?}",
        seen.len(),
        needles.len()
    );
}

#[tokio::test]
async fn a_wrong_key_is_refused_and_a_rotated_key_replaces_the_old_one() {
    let app = crate::helpers::spawn_app().await;
    app.ingest_fixtures().await;
    let john = app.entity_of("crm", "C001").await;
    let dir = app.stop().await;
    let keys = tempfile::tempdir().unwrap();
    let config_path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/goldrec.toml");
    let cli = |key: &str, args: &[&str]| {
        cli_when_released(|| {
            let mut c = goldrec_command();
            c.env(goldrec::crypto::DEFAULT_KEY_ENV, key)
                .args(["-c", config_path, "--data-dir"])
                .arg(dir.path())
                .args(args);
            c
        })
    };
    let wrong = "ff".repeat(32);
    let out = cli(&wrong, &["export"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not open"), "{err}");

    // A key file inside the data directory is refused.
    let inside = dir.path().join("new.key");
    let out = cli(
        TEST_DATA_KEY,
        &["rotate-key", "--new-key-file", inside.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("inside the data directory"));

    let new_file = keys.path().join("new.key");
    let out = cli(
        TEST_DATA_KEY,
        &["rotate-key", "--new-key-file", new_file.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_key = std::fs::read_to_string(&new_file)
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(new_key.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&new_file).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the key file is readable by others: {mode:o}"
        );
    }
    let old = cli(TEST_DATA_KEY, &["export"]);
    assert!(!old.status.success());
    let err = String::from_utf8_lossy(&old.stderr);
    assert!(err.contains("does not open"), "{err}");
    let out = cli(&new_key, &["export"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let export = String::from_utf8_lossy(&out.stdout);
    assert!(
        export.contains(&format!("\"entity_id\":{john}")) || export.contains("Smith"),
        "{export}"
    );
}
