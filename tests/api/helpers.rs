//! `spawn_app()`: the real router on 127.0.0.1:0 over a fresh temporary data directory, plus
//! typed request helpers and the fixture loaders shared by the test files.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use goldrec::config::Config;
use goldrec::engine::Engine;
use reqwest::{StatusCode, Url};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The admin key every test server accepts (stored as `GOLDREC_ADMIN_KEY` would be); the
/// clients of [`TestApp`] send it on every request.
pub const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef";

/// Default headers carrying `key` as a bearer token.
pub fn bearer(key: &str) -> reqwest::header::HeaderMap {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {key}").parse().expect("ascii key"),
    );
    h
}

/// A client that sends `key` on every request.
pub fn client_with_key(key: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .default_headers(bearer(key))
        .build()
        .expect("client")
}

/// How long the restart helper waits for the previous server to let go of the data directory.
pub const RELEASE_TIMEOUT: Duration = Duration::from_secs(10);

/// The customers the bundled fixtures describe: each inner list is one expected entity.
pub const EXPECTED_ENTITIES: &[&[(&str, &str)]] = &[
    &[("crm", "C001"), ("webshop", "W-1001"), ("support", "S-501")], // John Smith
    &[("crm", "C002"), ("webshop", "W-1002"), ("support", "S-502")], // Zhang Wei / 张伟
    &[("crm", "C003"), ("webshop", "W-1003")],                       // Robert / Bob Johnson
    &[("crm", "C004"), ("support", "S-504")],                        // María García
    &[("crm", "C005")],                                              // Li Na
    &[("webshop", "W-1005")], // Ming Li: same phone and address as Li Na, a family member
    &[("crm", "C006"), ("support", "S-506")], // Emily Chen
    &[("webshop", "W-1007")], // Oliver Brown
    &[("support", "S-508")],  // Wang Fang
];

/// Records per fixture file.
pub const CRM_RECORDS: u64 = 6;
pub const WEBSHOP_RECORDS: u64 = 5;
pub const SUPPORT_RECORDS: u64 = 5;

/// Small deterministic generator (xorshift) for property and fuzz tests: a seed replays a run.
pub struct Rng(pub u64);

impl Rng {
    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// The real `goldrec serve` binary on `dir` with the bundled config, on a free loopback port:
/// the command (callers add environment and output handling, then spawn) and its base URL.
pub fn serve_command(dir: &Path) -> (std::process::Command, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config/goldrec.toml");
    let mut command = goldrec_command();
    command.args(["-c", config, "--data-dir"]).arg(dir).args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    (command, format!("http://127.0.0.1:{port}"))
}

/// The real `goldrec` binary, given the test stores' key in `GOLDREC_DATA_KEY`.
pub fn goldrec_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_goldrec"));
    command.env(goldrec::crypto::DEFAULT_KEY_ENV, TEST_DATA_KEY);
    command
}

/// Runs a CLI command on a data directory a server just let go of: the engine's drop (sled's
/// file lock, then tantivy's writer lock after its merges) finishes a moment after the last
/// handle is gone, so a lock error is retried for up to [`RELEASE_TIMEOUT`].
pub fn cli_when_released(
    mut command: impl FnMut() -> std::process::Command,
) -> std::process::Output {
    let started = Instant::now();
    loop {
        let out = command().output().expect("the goldrec binary runs");
        // The closing engine may still hold a lock; the CLI says so in its own words ("is held
        // by another goldrec process"), for sled's lock and the index writer's alike.
        let err = String::from_utf8_lossy(&out.stderr);
        let locked = err.contains("could not acquire lock") || err.contains("is held by another");
        if !locked || started.elapsed() > RELEASE_TIMEOUT {
            return out;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The bundled configuration file, as text.
pub fn bundled_config_text() -> String {
    std::fs::read_to_string(root().join("config/goldrec.toml")).expect("config/goldrec.toml")
}

/// The data key-encryption key of every test store (the server gets it in
/// `GOLDREC_DATA_KEY`, in-process engines from [`test_key_file`]).
pub const TEST_DATA_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// A key file holding [`TEST_DATA_KEY`], outside every test's data directory.
pub fn test_key_file() -> PathBuf {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("goldrec-test-data.key");
        // Same content from every process: a race between test binaries only writes it twice.
        let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
        std::fs::write(&tmp, TEST_DATA_KEY).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        path
    })
    .clone()
}

/// The bundled configuration, with its data directory pointed at `data_dir`.
pub fn config_for(data_dir: &Path) -> Config {
    let mut config =
        Config::load(&root().join("config/goldrec.toml")).expect("the bundled config loads");
    config.data_dir = data_dir.to_path_buf();
    config.encryption.key_file = Some(test_key_file());
    config
}

/// One HTTP answer: status, `Location` header (for redirects) and the JSON body (a body that
/// is not JSON comes back as `{"raw": "..."}`).
#[derive(Debug)]
pub struct ApiResponse {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: Value,
}

/// A running server over its own data directory.
pub struct TestApp {
    pub addr: SocketAddr,
    /// Follows redirects (reqwest's default).
    pub client: reqwest::Client,
    /// Does not follow redirects, to assert a 308 itself.
    pub no_redirect: reqwest::Client,
    /// The data directory; deleted when the app (or the directory handed back by
    /// [`TestApp::stop`]) is dropped.
    pub dir: TempDir,
    /// Dropping or firing it starts the graceful shutdown.
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<()>,
    /// The engine, without keeping it alive: the router and the writer thread own it.
    engine: Weak<Engine>,
}

/// Starts a server over a fresh temporary data directory.
pub async fn spawn_app() -> TestApp {
    spawn_app_in(tempfile::tempdir().expect("temp dir")).await
}

/// Starts a server over an existing data directory. A previous server on the same directory
/// may still be letting go of sled's file lock and tantivy's writer lock: opening is retried
/// for up to [`RELEASE_TIMEOUT`].
pub async fn spawn_app_in(dir: TempDir) -> TestApp {
    let config = config_for(dir.path());
    spawn_app_with(dir, config).await
}

/// Starts a server over `dir` with a given configuration (its data directory must be `dir`).
pub async fn spawn_app_with(dir: TempDir, config: Config) -> TestApp {
    let started = Instant::now();
    let engine = loop {
        let c = config.clone();
        match tokio::task::spawn_blocking(move || Engine::open(c))
            .await
            .expect("Engine::open does not panic")
        {
            Ok(e) => break Arc::new(e),
            Err(e) if started.elapsed() < RELEASE_TIMEOUT => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!(
                "Engine::open on {} still fails after {RELEASE_TIMEOUT:?}: {e}",
                dir.path().display()
            ),
        }
    };
    let weak = Arc::downgrade(&engine);
    let data_dir = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || goldrec::auth::ensure_env_admin(&data_dir, ADMIN_KEY))
        .await
        .expect("no panic")
        .expect("the test admin key is stored");
    let router = goldrec::api::router(engine).expect("the keys file reads");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let (shutdown, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                // Fired, or the sender dropped with the TestApp: either way, shut down.
                let _ = rx.await;
            })
            .await
            .expect("server runs");
    });
    TestApp {
        addr,
        client: client_with_key(ADMIN_KEY),
        no_redirect: reqwest::Client::builder()
            .default_headers(bearer(ADMIN_KEY))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        dir,
        shutdown,
        server,
        engine: weak,
    }
}

impl TestApp {
    /// Shuts the server down gracefully and waits until the engine is dropped (the router's
    /// state and the writer thread hold it; the writer thread exits once the router state that
    /// holds its channel sender is gone). Hands back the data directory.
    pub async fn stop(self) -> TempDir {
        let TestApp {
            client,
            no_redirect,
            dir,
            shutdown,
            server,
            engine,
            ..
        } = self;
        // Closing the clients' pooled connections lets the graceful shutdown finish at once.
        drop(client);
        drop(no_redirect);
        let _ = shutdown.send(());
        tokio::time::timeout(RELEASE_TIMEOUT, server)
            .await
            .expect("the server shuts down within the timeout")
            .expect("the server task ends cleanly");
        let started = Instant::now();
        while engine.strong_count() > 0 {
            assert!(
                started.elapsed() < RELEASE_TIMEOUT,
                "the engine is still referenced {RELEASE_TIMEOUT:?} after shutdown ({} strong refs): \
                 the writer thread or a handler keeps it alive",
                engine.strong_count()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        dir
    }

    /// Stops this server and starts a new one on the same data directory.
    pub async fn restart(self) -> TestApp {
        let dir = self.stop().await;
        spawn_app_in(dir).await
    }

    // ----- raw requests ------------------------------------------------------------------

    /// URL of `path` (which may carry a query string already encoded).
    pub fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://{}{path}", self.addr)).expect("valid url")
    }

    /// URL made of path segments, each percent-encoded.
    pub fn url_of(&self, segments: &[&str]) -> Url {
        let mut u = Url::parse(&format!("http://{}/", self.addr)).expect("valid url");
        u.path_segments_mut()
            .expect("http url has segments")
            .pop_if_empty()
            .extend(segments);
        u
    }

    pub async fn send(rb: reqwest::RequestBuilder) -> ApiResponse {
        let r = rb.send().await.expect("request is answered");
        let status = r.status();
        let location = r
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|v| v.to_str().expect("ascii location").to_string());
        let text = r.text().await.expect("response body");
        let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
        ApiResponse {
            status,
            location,
            body,
        }
    }

    pub async fn get(&self, url: Url) -> ApiResponse {
        Self::send(self.client.get(url)).await
    }

    pub async fn get_no_redirect(&self, url: Url) -> ApiResponse {
        Self::send(self.no_redirect.get(url)).await
    }

    pub async fn post_json(&self, url: Url, body: &Value) -> ApiResponse {
        Self::send(self.client.post(url).json(body)).await
    }

    pub async fn post_raw(&self, url: Url, content_type: &str, body: String) -> ApiResponse {
        Self::send(
            self.client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body),
        )
        .await
    }

    // ----- typed requests ----------------------------------------------------------------

    /// `POST /v1/sources/{source}/records` with a JSON array (or object) body.
    pub async fn ingest(&self, source: &str, records: &Value) -> ApiResponse {
        self.post_json(self.url_of(&["v1", "sources", source, "records"]), records)
            .await
    }

    /// `POST /v1/sources/{source}/records` with an NDJSON body.
    pub async fn ingest_ndjson(&self, source: &str, ndjson: String) -> ApiResponse {
        self.post_raw(
            self.url_of(&["v1", "sources", source, "records"]),
            "application/x-ndjson",
            ndjson,
        )
        .await
    }

    /// `PUT /v1/sources/{source}/records/{key}`.
    pub async fn put_record(&self, source: &str, key: &str, record: &Value) -> ApiResponse {
        Self::send(
            self.client
                .put(self.url_of(&["v1", "sources", source, "records", key]))
                .json(record),
        )
        .await
    }

    /// `DELETE /v1/sources/{source}/records/{key}`.
    pub async fn delete_record(&self, source: &str, key: &str) -> ApiResponse {
        Self::send(
            self.client
                .delete(self.url_of(&["v1", "sources", source, "records", key])),
        )
        .await
    }

    /// `GET /v1/sources/{source}/records/{key}`.
    pub async fn get_record(&self, source: &str, key: &str) -> ApiResponse {
        self.get(self.url_of(&["v1", "sources", source, "records", key]))
            .await
    }

    /// `GET /v1/entities/{id}` (redirects followed).
    pub async fn get_entity(&self, id: u64) -> ApiResponse {
        self.get(self.url_of(&["v1", "entities", &id.to_string()]))
            .await
    }

    /// An active entity's body, asserting 200.
    pub async fn entity(&self, id: u64) -> Value {
        let r = self.get_entity(id).await;
        assert_eq!(r.status, StatusCode::OK, "GET entity {id}: {}", r.body);
        r.body
    }

    /// Entity id of a stored source record, asserting the record exists.
    pub async fn entity_of(&self, source: &str, key: &str) -> u64 {
        let r = self.get_record(source, key).await;
        assert_eq!(r.status, StatusCode::OK, "GET {source}/{key}: {}", r.body);
        r.body["entity_id"]
            .as_u64()
            .unwrap_or_else(|| panic!("{source}/{key} has no entity id: {}", r.body))
    }

    /// `GET /v1/search` with the given parameters, percent-encoded.
    pub async fn search(&self, params: &[(&str, &str)]) -> ApiResponse {
        let mut url = self.url_of(&["v1", "search"]);
        url.query_pairs_mut().extend_pairs(params);
        self.get(url).await
    }

    /// `POST /v1/match`.
    pub async fn probe(&self, body: &Value) -> ApiResponse {
        self.post_json(self.url_of(&["v1", "match"]), body).await
    }

    /// `GET /v1/health` body, asserting 200.
    /// `GET /v1/export` (NDJSON), as text.
    pub async fn export_text(&self) -> String {
        let r = self
            .client
            .get(self.url("/v1/export"))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "export: {}", r.status());
        r.text().await.unwrap()
    }

    pub async fn health(&self) -> Value {
        let r = self.get(self.url_of(&["v1", "health"])).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body
    }

    /// `GET /v1/review?limit&offset`.
    pub async fn review(&self, limit: usize, offset: usize) -> ApiResponse {
        let mut url = self.url_of(&["v1", "review"]);
        url.query_pairs_mut()
            .append_pair("limit", &limit.to_string())
            .append_pair("offset", &offset.to_string());
        self.get(url).await
    }

    // ----- fixtures ----------------------------------------------------------------------

    /// Loads the three bundled fixtures over HTTP, asserting each batch is accepted whole:
    /// `crm.csv` and `support.csv` as JSON arrays, `webshop.ndjson` as NDJSON.
    pub async fn ingest_fixtures(&self) -> FixtureBatches {
        let crm = self.ingest("crm", &csv_fixture_as_json("crm.csv")).await;
        assert_eq!(crm.status, StatusCode::OK, "crm batch: {}", crm.body);
        let webshop = self
            .ingest_ndjson("webshop", fixture_text("webshop.ndjson"))
            .await;
        assert_eq!(
            webshop.status,
            StatusCode::OK,
            "webshop batch: {}",
            webshop.body
        );
        let support = self
            .ingest("support", &csv_fixture_as_json("support.csv"))
            .await;
        assert_eq!(
            support.status,
            StatusCode::OK,
            "support batch: {}",
            support.body
        );
        FixtureBatches {
            crm: crm.body,
            webshop: webshop.body,
            support: support.body,
        }
    }

    /// Entity id of each expected group (taken from its first record), in
    /// [`EXPECTED_ENTITIES`] order.
    pub async fn expected_entity_ids(&self) -> Vec<u64> {
        let mut ids = Vec::new();
        for group in EXPECTED_ENTITIES {
            ids.push(self.entity_of(group[0].0, group[0].1).await);
        }
        ids
    }
}

/// Batch responses of the three fixture loads.
pub struct FixtureBatches {
    pub crm: Value,
    pub webshop: Value,
    pub support: Value,
}

impl FixtureBatches {
    /// (source, response, records sent) for each fixture.
    pub fn all(&self) -> [(&'static str, &Value, u64); 3] {
        [
            ("crm", &self.crm, CRM_RECORDS),
            ("webshop", &self.webshop, WEBSHOP_RECORDS),
            ("support", &self.support, SUPPORT_RECORDS),
        ]
    }
}

pub fn fixture_path(name: &str) -> PathBuf {
    root().join("fixtures").join(name)
}

pub fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(fixture_path(name)).expect("fixture file")
}

/// A CSV fixture as a JSON array of objects keyed by the header, every value a string.
pub fn csv_fixture_as_json(name: &str) -> Value {
    let mut rdr = csv::Reader::from_path(fixture_path(name)).expect("fixture csv");
    let headers = rdr.headers().expect("csv header").clone();
    Value::Array(
        rdr.records()
            .map(|row| {
                let row = row.expect("csv row");
                Value::Object(
                    headers
                        .iter()
                        .zip(row.iter())
                        .map(|(h, v)| (h.to_string(), Value::String(v.to_string())))
                        .collect(),
                )
            })
            .collect(),
    )
}

/// Keys of the members of an entity body, as `source/key`, sorted.
pub fn member_keys(entity: &Value) -> Vec<String> {
    let mut keys: Vec<String> = entity["members"]
        .as_array()
        .unwrap_or_else(|| panic!("entity without members: {entity}"))
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["source"].as_str().unwrap(),
                m["key"].as_str().unwrap()
            )
        })
        .collect();
    keys.sort();
    keys
}

/// Milliseconds since the epoch of a UTC date-time written `YYYY-MM-DDTHH:MM:SSZ`.
pub fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("rfc 3339")
        .timestamp_millis()
}
