//! The customer file at scale: loads N generated customers (the bundled config's `crm` source),
//! then M activity records (`orders`, each naming its customer by key) through
//! `Engine::ingest_activity` in batches, classified as they land (the bundled
//! `[classification]`), and prints activity records/s and peak RSS; then sends single orders
//! for random customers and prints the median and p99 of the reclassification of that one
//! customer (and of the whole single-record commit, sled flush included).
//!
//! Run: `cargo bench --bench activity -- --customers N --activity M [--singles K]`
//! (defaults 10,000 customers, 100,000 activity records, 200 singles).

use std::time::{Duration, Instant};

use goldrec::config::Config;
use goldrec::engine::{Change, Engine};
use goldrec::ingest::{Position, RawRecord};
use serde_json::json;

/// Small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn arg(args: &[String], name: &str) -> Option<usize> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.replace('_', "").parse().ok())
}

#[path = "common/rss.rs"]
mod rss;
use rss::peak_rss_mb;

fn raw(v: serde_json::Value) -> RawRecord {
    match v {
        serde_json::Value::Object(m) => m,
        _ => unreachable!("objects only"),
    }
}

fn order(rng: &mut Rng, i: usize, customers: usize, now: i64) -> RawRecord {
    let c = rng.below(customers as u64);
    let at = now - rng.below(730) as i64 * 86_400_000 - rng.below(86_400_000) as i64;
    let at = chrono::DateTime::from_timestamp_millis(at)
        .expect("valid time")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let channels = ["web", "store", "app", "phone"];
    raw(json!({
        "order_id": format!("O{i}"),
        "ordered_at": at,
        "customer_id": format!("C{c}"),
        "total": format!("{}.{:02}", 5 + rng.below(500), rng.below(100)),
        "currency": "USD",
        "channel": channels[rng.below(4) as usize],
        "sku": format!("SKU-{}", rng.below(2000)),
        "payment": if rng.below(3) == 0 { "paypal" } else { "card" },
        "status": "delivered",
    }))
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort_unstable();
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let customers = arg(&args, "--customers").unwrap_or(10_000);
    let activity = arg(&args, "--activity").unwrap_or(100_000);
    let singles = arg(&args, "--singles").unwrap_or(200);
    let scratch = tempfile::tempdir()?;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut config = Config::load(&root.join("config/goldrec.toml"))?;
    config.data_dir = scratch.path().join("data");
    let batch = config.batch_size;
    let engine = Engine::open(config.for_offline())?;
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);

    let started = Instant::now();
    let mut i = 0;
    while i < customers {
        let n = batch.min(customers - i);
        let items: Vec<_> = (i..i + n)
            .map(|c| {
                let rec = raw(json!({
                    "customer_id": format!("C{c}"),
                    "full_name": format!("Customer{c} Person{}", c % 977),
                    "email": format!("customer{c}@example.com"),
                    "phone": format!("(415) 5{:02}-{:04}", c / 10_000 % 100, c % 10_000),
                    "city": "San Francisco",
                }));
                (Position::Index(c as u64), Ok(rec))
            })
            .collect();
        let changes: Vec<Change> = engine
            .prepare("crm", items)?
            .into_iter()
            .filter_map(|(_, r)| r.ok())
            .collect();
        engine.apply(changes)?;
        i += n;
    }
    println!(
        "customers: {customers} loaded in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    let now = chrono::Utc::now().timestamp_millis();
    let started = Instant::now();
    let mut i = 0;
    let mut attached = 0usize;
    while i < activity {
        let n = batch.min(activity - i);
        let items: Vec<_> = (i..i + n)
            .map(|k| {
                (
                    Position::Index(k as u64),
                    Ok(order(&mut rng, k, customers, now)),
                )
            })
            .collect();
        for (_, r) in engine.ingest_activity("orders", items)? {
            attached += usize::from(r.is_ok_and(|o| o.record_id.is_some()));
        }
        i += n;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "activity: {activity} records ({attached} attached) against {customers} customers in {secs:.1}s = {:.0} records/s, classified as they landed; peak RSS {:.0} MB",
        activity as f64 / secs,
        peak_rss_mb()
    );

    let mut reclassify = Vec::with_capacity(singles);
    let mut commit = Vec::with_capacity(singles);
    for k in 0..singles {
        let rec = order(&mut rng, activity + k, customers, now);
        let t = Instant::now();
        engine.ingest_activity("orders", vec![(Position::Index(0), Ok(rec))])?;
        commit.push(t.elapsed());
        reclassify.push(engine.last_reclassify());
    }
    if singles > 0 {
        println!(
            "incremental reclassification of one customer after one activity record ({singles} runs): median {:.3} ms, p99 {:.3} ms (target < 5 ms); whole single-record commit incl. sled flush: median {:.2} ms, p99 {:.2} ms",
            percentile(&mut reclassify, 0.5).as_secs_f64() * 1e3,
            percentile(&mut reclassify, 0.99).as_secs_f64() * 1e3,
            percentile(&mut commit, 0.5).as_secs_f64() * 1e3,
            percentile(&mut commit, 0.99).as_secs_f64() * 1e3,
        );
    }
    engine.close()?;
    Ok(())
}
