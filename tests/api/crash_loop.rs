//! Crash test: the real `goldrec serve` under concurrent writers (single upserts and batches),
//! killed with SIGKILL at a random moment, restarted on the same data directory, and checked:
//! every acknowledged record is stored, found through the blocking index (a match probe on its
//! email finds its entity), its entity is in the change feed (gap-free) and in the export.
//!
//! Shared by the short CI test (`tests/api/crash.rs`) and the long run
//! (`cargo bench --bench crash -- --cycles 50`). Self-contained: no test helpers.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    /// Kill-and-restart cycles.
    pub cycles: usize,
    /// Records acknowledged over all cycles.
    pub acknowledged: usize,
    /// Acknowledged records missing after a restart (or not found by index, feed or export).
    pub lost: usize,
    /// Individual checks made after restarts.
    pub checks: usize,
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn record(key: &str) -> Value {
    json!({"customer_id": key, "full_name": format!("Crash Tester {}", key.replace('-', " ")),
           "email": format!("{}@crash.example.com", key.to_lowercase())})
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Admin key the server is started with (`GOLDREC_ADMIN_KEY`); the client sends it.
const ADMIN_KEY: &str = "crash-loop-admin-key-0123456789";

fn start(bin: &Path, config: &Path, dir: &Path, port: u16) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .expect("server log");
    Command::new(bin)
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("GOLDREC_ADMIN_KEY", ADMIN_KEY)
        .arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("goldrec serve starts")
}

async fn wait_ready(client: &reqwest::Client, base: &str, child: &mut Child) -> Duration {
    let t = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{base}/v1/health")).send().await {
            if r.status().is_success() {
                return t.elapsed();
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the server exited while starting: {status}");
        }
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "the server is not ready after 300 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks every acknowledged key; returns (checks, lost).
async fn verify(client: &reqwest::Client, base: &str, acked: &BTreeSet<String>) -> (usize, usize) {
    let (mut checks, mut lost) = (0, 0);
    let mut entity_of: BTreeMap<&str, u64> = BTreeMap::new();
    for key in acked {
        checks += 1;
        let r = client
            .get(format!("{base}/v1/sources/crm/records/{key}"))
            .send()
            .await
            .expect("record read");
        if !r.status().is_success() {
            eprintln!("lost: {key} answers {}", r.status());
            lost += 1;
            continue;
        }
        let body: Value = r.json().await.unwrap();
        match body["entity_id"].as_u64() {
            Some(e) => {
                entity_of.insert(key, e);
            }
            None => {
                eprintln!("lost: {key} has no entity: {body}");
                lost += 1;
            }
        }
    }
    // The index: a probe on the email of up to 25 records finds their entities.
    for (key, entity) in entity_of.iter().step_by((entity_of.len() / 25).max(1)) {
        checks += 1;
        let r: Value = client
            .post(format!("{base}/v1/match"))
            .json(
                &json!({"record": {"email": format!("{}@crash.example.com", key.to_lowercase())}}),
            )
            .send()
            .await
            .expect("probe")
            .json()
            .await
            .unwrap();
        let found = r["candidates"]
            .as_array()
            .is_some_and(|c| c.iter().any(|m| m["entity"] == *entity));
        if !found {
            eprintln!("lost: the index does not find {key} (entity {entity}): {r}");
            lost += 1;
        }
    }
    // The feed: gap-free, and naming every acknowledged record's entity.
    let mut in_feed = HashSet::new();
    let mut after = 0u64;
    let mut last_seq = None::<u64>;
    loop {
        let page: Value = client
            .get(format!("{base}/v1/changes?after={after}&limit=10000"))
            .send()
            .await
            .expect("feed")
            .json()
            .await
            .unwrap();
        let events = page["events"].as_array().cloned().unwrap_or_default();
        if events.is_empty() {
            break;
        }
        for e in &events {
            let seq = e["seq"].as_u64().expect("seq");
            if let Some(prev) = last_seq {
                assert_eq!(seq, prev + 1, "the feed has a gap after {prev}");
            }
            last_seq = Some(seq);
            if let Some(id) = e["entity_id"].as_u64() {
                in_feed.insert(id);
            }
        }
        after = page["next_after"].as_u64().expect("next_after");
    }
    // The export.
    let text = client
        .get(format!("{base}/v1/export"))
        .send()
        .await
        .expect("export")
        .text()
        .await
        .unwrap();
    let exported: HashSet<u64> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok()?["entity_id"].as_u64())
        .collect();
    for (key, entity) in &entity_of {
        checks += 2;
        if !in_feed.contains(entity) {
            eprintln!("lost: entity {entity} of {key} is not in the feed");
            lost += 1;
        }
        if !exported.contains(entity) {
            eprintln!("lost: entity {entity} of {key} is not in the export");
            lost += 1;
        }
    }
    (checks, lost)
}

/// Runs `cycles` kill-and-restart cycles with `writers` concurrent clients; prints a line per
/// cycle and returns the totals.
pub async fn run(bin: &Path, config: &Path, cycles: usize, writers: usize, seed: u64) -> Report {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut auth = reqwest::header::HeaderMap::new();
    auth.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {ADMIN_KEY}").parse().unwrap(),
    );
    let client = reqwest::Client::builder()
        .default_headers(auth)
        .build()
        .unwrap();
    let acked: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut report = Report::default();
    for cycle in 0..=cycles {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut child = start(bin, config, dir.path(), port);
        let ready = wait_ready(&client, &base, &mut child).await;
        let snapshot = acked.lock().unwrap().clone();
        let (checks, lost) = verify(&client, &base, &snapshot).await;
        report.checks += checks;
        report.lost += lost;
        if cycle == cycles {
            println!(
                "final restart in {:.1}s: {} acknowledged records checked, {lost} lost",
                ready.as_secs_f64(),
                snapshot.len()
            );
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for w in 0..writers {
            let (client, base, acked, stop) =
                (client.clone(), base.clone(), acked.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    if w % 2 == 0 {
                        let key = format!("C{cycle}-W{w}-{n}");
                        let ok = client
                            .put(format!("{base}/v1/sources/crm/records/{key}"))
                            .json(&record(&key))
                            .send()
                            .await
                            .is_ok_and(|r| r.status().is_success());
                        if ok {
                            acked.lock().unwrap().insert(key);
                        }
                    } else {
                        let keys: Vec<String> =
                            (0..20).map(|i| format!("C{cycle}-W{w}-{n}-{i}")).collect();
                        let batch: Vec<Value> = keys.iter().map(|k| record(k)).collect();
                        let r = client
                            .post(format!("{base}/v1/sources/crm/records"))
                            .json(&batch)
                            .send()
                            .await;
                        if let Ok(r) = r {
                            if r.status().is_success() {
                                let body: Value = r.json().await.unwrap_or_default();
                                if body["inserted"] == 20 {
                                    acked.lock().unwrap().extend(keys);
                                }
                            }
                        }
                    }
                }
            }));
        }
        let delay = 300 + rng.below(1700);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let _ = t.await;
        }
        let now = acked.lock().unwrap().len();
        println!(
            "cycle {}: ready in {:.1}s, {} records checked ({lost} lost), killed after {delay} ms with {} acknowledged so far",
            cycle + 1,
            ready.as_secs_f64(),
            snapshot.len(),
            now
        );
        report.cycles += 1;
    }
    report.acknowledged = acked.lock().unwrap().len();
    report
}

/// The bundled configuration file.
pub fn bundled_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/goldrec.toml")
}
