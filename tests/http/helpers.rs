//! `spawn_app`: the real router on 127.0.0.1:0 with its own temp data dir, plus typed helpers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use goldrec::config::Config;
use goldrec::engine::Engine;
use serde_json::{json, Value};

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub data_dir: PathBuf,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn bundled_config(data_dir: &Path) -> Config {
    let mut c = Config::load(&root().join("config/goldrec.toml")).expect("bundled config loads");
    c.data_dir = data_dir.to_path_buf();
    c
}

/// Starts a server on a fresh temp dir.
pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut app = spawn_on(dir.path().to_path_buf()).await;
    app._dir = Some(dir);
    app
}

/// Starts a server on an existing data dir, retrying while a previous server still holds it.
pub async fn spawn_on(data_dir: PathBuf) -> TestApp {
    let mut engine = None;
    for _ in 0..100 {
        match Engine::open(bundled_config(&data_dir)) {
            Ok(e) => {
                engine = Some(e);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let engine = Arc::new(engine.expect("engine opens within 10 s"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let router = goldrec::api::router(engine);
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .expect("server runs");
    });
    TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        data_dir,
        shutdown: Some(tx),
        server: Some(server),
        _dir: None,
    }
}

impl TestApp {
    /// Stops the server and waits for it; the temp dir stays.
    pub async fn stop(mut self) -> (PathBuf, Option<tempfile::TempDir>) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(s) = self.server.take() {
            s.await.expect("server task");
        }
        (self.data_dir.clone(), self._dir.take())
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .expect("request");
        decode(r).await
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: String) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        decode(r).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .put(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .expect("request");
        decode(r).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request");
        decode(r).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .delete(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request");
        decode(r).await
    }

    /// Loads the three bundled fixtures over HTTP (CSV files sent as JSON arrays).
    pub async fn ingest_fixtures(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for (source, file) in [("crm", "crm.csv"), ("support", "support.csv")] {
            let (status, body) = self
                .post_json(&format!("/v1/sources/{source}/records"), &csv_as_json(file))
                .await;
            assert_eq!(status, 200, "{body}");
            out.push(body);
        }
        let ndjson =
            std::fs::read_to_string(root().join("fixtures/webshop.ndjson")).expect("fixture");
        let (status, body) = self
            .post_raw(
                "/v1/sources/webshop/records",
                "application/x-ndjson",
                ndjson,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        out.push(body);
        out
    }

    /// Entity id of a source record.
    pub async fn entity_of(&self, source: &str, key: &str) -> u64 {
        let (status, body) = self
            .get(&format!("/v1/sources/{source}/records/{key}"))
            .await;
        assert_eq!(status, 200, "{source}/{key}: {body}");
        body["entity_id"].as_u64().expect("entity id")
    }
}

async fn decode(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    let v = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
    (status, v)
}

/// A fixture CSV as a JSON array of objects keyed by header.
pub fn csv_as_json(file: &str) -> Value {
    let mut rdr = csv::Reader::from_path(root().join("fixtures").join(file)).expect("fixture");
    let headers = rdr.headers().expect("header").clone();
    let rows: Vec<Value> = rdr
        .records()
        .map(|r| {
            let r = r.expect("row");
            Value::Object(
                headers
                    .iter()
                    .zip(r.iter())
                    .map(|(h, v)| (h.to_string(), json!(v)))
                    .collect(),
            )
        })
        .collect();
    Value::Array(rows)
}
