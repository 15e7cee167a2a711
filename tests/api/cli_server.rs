//! Issue 12: the CLI and a running server together. `goldrec ingest --server` streams a file
//! to the server with the local load's summary; a plain `ingest` on the data directory the
//! server holds goes through it (it knows the URL from `server.json` and has a key) or says
//! in one line what to do; other commands that open the store say so in one line; `keys
//! create` keeps working.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{client_with_key, fixture_path, serve_command, ADMIN_KEY};

/// The CLI on `dir` with the bundled config, without a key in its environment.
fn cli(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_goldrec"));
    c.args([
        "-c",
        concat!(env!("CARGO_MANIFEST_DIR"), "/config/goldrec.toml"),
        "--data-dir",
    ])
    .arg(dir)
    .env_remove("GOLDREC_KEY")
    .env_remove("GOLDREC_ADMIN_KEY");
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The JSON summary a load prints on stdout.
fn summary(out: &Output) -> Value {
    serde_json::from_str(text(&out.stdout).trim()).unwrap_or_else(|e| {
        panic!(
            "no JSON summary ({e}): stdout {:?} stderr {:?}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

async fn wait_up(base: &str) {
    let client = client_with_key(ADMIN_KEY);
    for _ in 0..600 {
        if let Ok(r) = client.get(format!("{base}/v1/health")).send().await {
            if r.status() == StatusCode::OK {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not come up at {base}");
}

async fn entity_of(base: &str, source: &str, key: &str) -> Option<u64> {
    let r = client_with_key(ADMIN_KEY)
        .get(format!("{base}/v1/sources/{source}/records/{key}"))
        .send()
        .await
        .unwrap();
    if r.status() != StatusCode::OK {
        return None;
    }
    r.json::<Value>().await.unwrap()["entity_id"].as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_loads_through_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let (mut command, base) = serve_command(dir.path());
    let mut server = command
        .env("GOLDREC_ADMIN_KEY", ADMIN_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_up(&base).await;
    let server_file = dir.path().join("server.json");
    let said: Value = serde_json::from_slice(&std::fs::read(&server_file).unwrap()).unwrap();
    assert_eq!(said["url"], base.as_str(), "{said}");

    // ingest --server: records arrive, the summary is printed as for a local load.
    let out = cli(dir.path())
        .args(["ingest", "--quiet", "--server", &base, "--key", ADMIN_KEY])
        .args(["--source", "crm"])
        .arg(fixture_path("crm.csv"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("ingested 6 records"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(summary(&out)["inserted"], 6);
    assert!(entity_of(&base, "crm", "C001").await.is_some());

    // A CSV with a quoted newline, a short row and a bad date: the good rows arrive, the
    // bad ones are named by their line in the file; the key comes from GOLDREC_KEY.
    let file = dir.path().join("more.csv");
    std::fs::write(
        &file,
        "customer_id,full_name,email,phone,birth_date,street,city,zip,employer,last_modified\n\
         Q1,\"Lee, Ann\",ann@example.com,,,\"1 Long Road\nFlat 2\",Boston,02108,,\n\
         Q2,Short Row\n\
         Q3,Bad Date,bd@example.com,,31/31/1999,,,,,\n\
         Q4,Good Row,good@example.com,,,,,,,\n",
    )
    .unwrap();
    let out = cli(dir.path())
        .args(["ingest", "--quiet", "--server", &base, "--source", "crm"])
        .arg(&file)
        .env("GOLDREC_KEY", ADMIN_KEY)
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(summary(&out)["inserted"], 2, "{err}");
    assert_eq!(summary(&out)["rejected"], 2, "{err}");
    assert!(err.contains("rejected line 4"), "{err}");
    assert!(
        err.contains("rejected line 5 (key \"Q3\"), field \"birth_date\""),
        "{err}"
    );
    assert!(entity_of(&base, "crm", "Q1").await.is_some());
    assert!(entity_of(&base, "crm", "Q4").await.is_some());
    assert!(entity_of(&base, "crm", "Q3").await.is_none());

    // A wrong key: one line naming the server's refusal.
    let out = cli(dir.path())
        .args(["ingest", "--quiet", "--server", &base, "--key", "nope"])
        .args(["--source", "crm"])
        .arg(fixture_path("crm.csv"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("401 Unauthorized unauthorized"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // A plain ingest on the held data directory, without a key: one line, the way out.
    let out = cli(dir.path())
        .args(["ingest", "--quiet", "--source", "support"])
        .arg(fixture_path("support.csv"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(&format!("--server {base}")), "{err}");
    assert!(!err.contains("could not acquire lock"), "{err}");
    // With a key it goes through the server it found in server.json.
    let out = cli(dir.path())
        .args(["ingest", "--quiet", "--source", "support"])
        .arg(fixture_path("support.csv"))
        .env("GOLDREC_KEY", ADMIN_KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(summary(&out)["inserted"], 5);
    assert_eq!(
        entity_of(&base, "support", "S-501").await,
        entity_of(&base, "crm", "C001").await
    );

    // Other commands that open the store: the same one line.
    for args in [&["export"][..], &["reindex"], &["eval", "--report"]] {
        let out = cli(dir.path()).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = text(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("held by a running goldrec server"), "{err}");
    }
    // keys create does not need the store.
    let out = cli(dir.path())
        .args([
            "keys",
            "create",
            "--name",
            "etl",
            "--role",
            "ingest",
            "--sources",
            "crm",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let key = text(&out.stdout).trim().lines().last().unwrap().to_string();
    let out = cli(dir.path())
        .args(["ingest", "--quiet", "--server", &base, "--key", &key])
        .args(["--source", "crm"])
        .arg(fixture_path("crm.csv"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(summary(&out)["unchanged"], 6, "{}", text(&out.stderr));

    // A clean shutdown removes server.json.
    let killed = Command::new("kill")
        .args(["-INT", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = server.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!server_file.exists(), "server.json is removed at shutdown");
}

/// The CLI on `dir` with `config`.
fn cli_with(config: &Path, dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_goldrec"));
    c.arg("-c")
        .arg(config)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("GOLDREC_KEY")
        .env_remove("GOLDREC_ADMIN_KEY");
    c
}

/// A load that wrote `ingest.repack_after` records or more (and at least as many as the store
/// held) ends with a repack: the store is copied into a fresh database with the same key, the
/// index is kept (no rebuild on the next open), and nothing is lost; a smaller load, or one
/// into a larger store, does not repack.
#[test]
fn a_bulk_load_repacks_the_store_and_keeps_its_contents_and_index() {
    let conf = tempfile::tempdir().unwrap();
    let text_of = |n: u64| {
        let t = crate::helpers::bundled_config_text()
            .replace("repack_after = 100000", &format!("repack_after = {n}"));
        assert!(t.contains(&format!("repack_after = {n}")));
        let path = conf.path().join(format!("repack{n}.toml"));
        std::fs::write(&path, t).unwrap();
        path
    };
    let (repacking, never) = (text_of(5), text_of(0));
    let load = |config: &Path, dir: &Path, source: &str, file: &str| {
        let out = cli_with(config, dir)
            .args(["ingest", "--quiet", "--source", source])
            .arg(fixture_path(file))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stderr)
    };
    let export = |config: &Path, dir: &Path| {
        let out = cli_with(config, dir)
            .args(["export", "--format", "ndjson"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        (text(&out.stdout), text(&out.stderr))
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let err = load(&repacking, a.path(), "crm", "crm.csv");
    assert!(err.contains("repacked the store after the load"), "{err}");
    assert!(!a.path().join("sled.compact").exists());
    assert!(!a.path().join("repack.done").exists());
    let err = load(&never, b.path(), "crm", "crm.csv");
    assert!(!err.contains("repacked"), "{err}");
    // 5 support records into a store of 6: fewer than the store held, no repack. The first
    // open after the repack finds its index current (no rebuild).
    let err = load(&repacking, a.path(), "support", "support.csv");
    assert!(!err.contains("repacked"), "{err}");
    assert!(
        !err.contains("rebuilding"),
        "index rebuilt after the repack: {err}"
    );
    load(&never, b.path(), "support", "support.csv");
    let ((ea, err_a), (eb, _)) = (export(&repacking, a.path()), export(&never, b.path()));
    assert!(!err_a.contains("rebuilding"), "index rebuilt: {err_a}");
    let lines = |s: &str| {
        let mut v: Vec<String> = s.lines().map(str::to_string).collect();
        v.sort();
        v
    };
    assert!(!ea.is_empty());
    assert_eq!(
        lines(&ea),
        lines(&eb),
        "the repacked store exports the same"
    );
}
