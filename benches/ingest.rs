//! Bulk ingest: loads a customer feed with known duplicates through the engine in batches (as
//! `goldrec ingest` does: the next batch is read and prepared while one is applied) and prints
//! records/s, the per-phase time of the first and last batch, peak RSS, the data directory's
//! size and the pairwise precision / recall / F1 of the entities against the feed's truth.
//!
//! The feed is the shared generator's (`../shared/datasets/synth/gen.py`, seed 42, the feed
//! Splink's figures are measured on) when it is there, else a built-in generator's.
//! `GOLDREC_BENCH_RECORDS` sets the size (default 100000).
//!
//! Run: `cargo bench --bench ingest`. Options after `--`: `--csv FILE --truth FILE` to load an
//! existing feed (mapped by `../shared/datasets/synth/goldrec.toml`, source `synth`),
//! `--data-dir DIR` to keep the data directory, `--no-encryption` to store values in clear,
//! `--write FILE` to write the built-in feed as CSV, `--batch N`, `--cache-mb N` and
//! `--max-candidates N` to override `[ingest] batch_size`, `[ingest] cache_mb` and
//! `[matching] max_candidates` (to measure their effect).

use std::io::Write;
use std::time::Instant;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[path = "common/names.rs"]
mod names;
use names::{FAMILY, GIVEN, STREETS};

use goldrec::config::Config;
use goldrec::engine::{Change, Engine, Summary};
use goldrec::ingest::{self, RawRecord};

/// Small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn typo(rng: &mut Rng, s: &str) -> String {
    let mut c: Vec<char> = s.chars().collect();
    if c.len() > 2 {
        let i = rng.below(c.len() as u64 - 1) as usize;
        c.swap(i, i + 1);
    }
    c.into_iter().collect()
}

/// `n` records: about 70% originals and 30% corrupted duplicates of earlier ones.
fn generate(n: usize) -> (Vec<RawRecord>, Vec<(String, String)>) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out: Vec<RawRecord> = Vec::with_capacity(n);
    let mut cluster: Vec<usize> = Vec::with_capacity(n);
    for i in 0..n {
        let rec = if i > 10 && rng.below(10) < 3 {
            let of = rng.below(i as u64) as usize;
            cluster.push(cluster[of]);
            let mut d = out[of].clone();
            match rng.below(3) {
                0 => {
                    let f = d["first"].as_str().unwrap_or_default().to_string();
                    d.insert("first".into(), typo(&mut rng, &f).into());
                }
                1 => {
                    d.remove("email");
                }
                _ => {
                    d.insert("phone".into(), "".into());
                }
            }
            d
        } else {
            cluster.push(i);
            let (g, f) = (rng.pick(GIVEN), rng.pick(FAMILY));
            let mut m = RawRecord::new();
            m.insert("first".into(), g.into());
            m.insert("last".into(), f.into());
            m.insert(
                "email".into(),
                format!("{g}.{f}{}@example.com", rng.below(100_000)).into(),
            );
            m.insert(
                "phone".into(),
                format!("+1 {} 555 {:04}", 200 + rng.below(700), rng.below(10_000)).into(),
            );
            m.insert(
                "dob".into(),
                format!(
                    "{}-{:02}-{:02}",
                    1940 + rng.below(65),
                    1 + rng.below(12),
                    1 + rng.below(28)
                )
                .into(),
            );
            m.insert(
                "street".into(),
                format!("{} {}", 1 + rng.below(999), rng.pick(STREETS)).into(),
            );
            m.insert(
                "zip".into(),
                format!("{:05}", 10_000 + rng.below(89_999)).into(),
            );
            m
        };
        let mut rec = rec;
        rec.insert("id".into(), format!("R{i}").into());
        out.push(rec);
    }
    let truth = cluster
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("R{i}"), c.to_string()))
        .collect();
    (out, truth)
}

const CONFIG: &str = include_str!("feed.toml");
const SHARED: &str = "../shared/datasets/synth";

#[path = "common/rss.rs"]
mod rss;
use rss::peak_rss_mb;

fn dir_size(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Pairwise precision, recall and F1 of the stored entities against cluster labels
/// (`key -> label`), counted per (entity, label) cell without listing pairs.
fn pairwise(engine: &Engine, truth: &[(String, String)]) -> anyhow::Result<(f64, f64, f64)> {
    let label: HashMap<&str, &str> = truth
        .iter()
        .map(|(k, c)| (k.as_str(), c.as_str()))
        .collect();
    let mut per_entity: HashMap<u64, u64> = HashMap::new();
    let mut per_label: HashMap<&str, u64> = HashMap::new();
    let mut per_cell: HashMap<(u64, &str), u64> = HashMap::new();
    for r in engine.reads().records() {
        let (_, r) = r?;
        let Some(&l) = label.get(r.key.as_str()) else {
            continue;
        };
        *per_entity.entry(r.entity).or_default() += 1;
        *per_label.entry(l).or_default() += 1;
        *per_cell.entry((r.entity, l)).or_default() += 1;
    }
    let pairs = |n: &u64| n * n.saturating_sub(1) / 2;
    let predicted: u64 = per_entity.values().map(pairs).sum();
    let actual: u64 = per_label.values().map(pairs).sum();
    let tp: u64 = per_cell.values().map(pairs).sum();
    let p = if predicted == 0 {
        1.0
    } else {
        tp as f64 / predicted as f64
    };
    let r = if actual == 0 {
        1.0
    } else {
        tp as f64 / actual as f64
    };
    Ok((
        p,
        r,
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        },
    ))
}

/// The feed: (config, source, CSV file, truth file). Records are streamed from the file, so
/// the bench's memory is the engine's.
fn feed(
    args: &[String],
    n: usize,
    scratch: &Path,
) -> anyhow::Result<(Config, String, PathBuf, PathBuf)> {
    let shared = Path::new(SHARED);
    let files = match (arg(args, "--csv"), arg(args, "--truth")) {
        (Some(c), Some(t)) => Some((PathBuf::from(c), PathBuf::from(t))),
        _ if shared.join("gen.py").exists() && !args.iter().any(|a| a == "--builtin") => {
            let prefix = scratch.join("feed").display().to_string();
            let ok = std::process::Command::new("python3")
                .arg(shared.join("gen.py"))
                .args(["--n", &n.to_string(), "--seed", "42", "--out", &prefix])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                Some((
                    PathBuf::from(format!("{prefix}_records.csv")),
                    PathBuf::from(format!("{prefix}_truth.csv")),
                ))
            } else {
                eprintln!("could not run {SHARED}/gen.py: using the built-in feed");
                None
            }
        }
        _ => None,
    };
    if let Some((csv, truth)) = files {
        let config = Config::parse(&std::fs::read_to_string(shared.join("goldrec.toml"))?)?;
        eprintln!("feed: {}", csv.display());
        return Ok((config, "synth".into(), csv, truth));
    }
    let (records, truth) = generate(n);
    let csv = arg(args, "--write").map_or_else(|| scratch.join("builtin.csv"), PathBuf::from);
    let mut w = csv::Writer::from_path(&csv)?;
    let cols = [
        "id", "first", "last", "email", "phone", "dob", "street", "zip",
    ];
    w.write_record(cols)?;
    for r in &records {
        w.write_record(
            cols.iter()
                .map(|c| r.get(*c).and_then(|v| v.as_str()).unwrap_or("")),
        )?;
    }
    w.flush()?;
    let truth_path = scratch.join("builtin_truth.csv");
    let mut t = csv::Writer::from_path(&truth_path)?;
    t.write_record(["id", "cluster"])?;
    for (k, c) in truth {
        t.write_record([k, c])?;
    }
    t.flush()?;
    eprintln!("feed: built-in generator ({n} records, {})", csv.display());
    Ok((Config::parse(CONFIG)?, "feed".into(), csv, truth_path))
}

fn phases(p: &[(&str, f64)]) -> String {
    p.iter()
        .map(|(n, ms)| format!("{n} {ms:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let n: usize = std::env::var("GOLDREC_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let scratch = tempfile::tempdir()?;
    let (mut config, source, csv, truth) = feed(&args, n, scratch.path())?;
    config.data_dir = match arg(&args, "--data-dir") {
        Some(d) => d.into(),
        None => scratch.path().join("data"),
    };
    // `--no-encryption`: values in clear, to measure what sealing costs.
    config.encryption.enabled = !args.iter().any(|a| a == "--no-encryption");
    let encrypted = config.encryption.enabled;
    // `--batch N`: records per batch instead of the config's `[ingest] batch_size`.
    if let Some(b) = arg(&args, "--batch").and_then(|b| b.parse().ok()) {
        config.batch_size = b;
    }
    // `--max-candidates N`: committed candidates scored per record, instead of the config's.
    // `--cache-mb N`: sled page cache instead of the config's `[ingest] cache_mb`.
    if let Some(c) = arg(&args, "--cache-mb").and_then(|c| c.parse().ok()) {
        config.ingest_cache_mb = c;
    }
    if let Some(m) = arg(&args, "--max-candidates").and_then(|m| m.parse().ok()) {
        config.matching.max_candidates = m;
    }
    let data_dir = config.data_dir.clone();
    let batch = config.batch_size;
    let engine = Engine::open(config.for_offline())?;
    let started = Instant::now();
    let mut items = ingest::read_payload(goldrec::config::Format::Csv, std::fs::File::open(&csv)?);
    let mut batch_phases: Vec<Vec<(&'static str, f64)>> = Vec::new();
    let mut batch_ms: Vec<f64> = Vec::new();
    // As `goldrec ingest`: the next batch is prepared while this one is applied.
    let engine_ref = &engine;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Change>>(1);
    let summary = std::thread::scope(|scope| -> anyhow::Result<Summary> {
        let writer = scope.spawn(|| -> anyhow::Result<Summary> {
            let mut summary = Summary::default();
            for changes in rx {
                let changes: Vec<Change> = changes;
                let t = Instant::now();
                summary.add(&engine_ref.apply(changes)?);
                batch_ms.push(t.elapsed().as_secs_f64() * 1e3);
                batch_phases.push(engine_ref.last_phases());
            }
            Ok(summary)
        });
        loop {
            let chunk: Vec<_> = items.by_ref().take(batch).collect();
            if chunk.is_empty() {
                break;
            }
            let changes = engine_ref
                .prepare(&source, chunk)?
                .into_iter()
                .filter_map(|(_, c)| c.ok())
                .collect();
            if tx.send(changes).is_err() {
                break;
            }
        }
        drop(tx);
        writer.join().expect("writer thread")
    })?;
    let load_secs = started.elapsed().as_secs_f64();
    let n = summary.inserted + summary.updated + summary.unchanged;
    let (p, r, f1) = pairwise(&engine, &goldrec::eval::read_rows(&truth)?)?;
    let entities = engine.reads().entities().count();
    // As `goldrec ingest` ends: the index committed, the snapshot saved, a bulk load repacked.
    let closing = Instant::now();
    let repacked = engine
        .close_after_load(summary.inserted as u64, summary.updated as u64)?
        .transpose()?;
    let close_secs = closing.elapsed().as_secs_f64();
    let secs = load_secs + close_secs;
    let rss = peak_rss_mb();
    let size = dir_size(&data_dir) as f64 / 1e6;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "ingest: {n} records in {secs:.2}s = {:.0} records/s (load {load_secs:.1}s, close{} {close_secs:.1}s); {} inserted, {entities} entities; peak RSS {rss:.0} MB; data dir {size:.0} MB{}; encryption {}",
        n as f64 / secs,
        if repacked.is_some() { " and repack" } else { "" },
        summary.inserted,
        repacked.map_or(String::new(), |c| format!(
            " (store {:.0} MB before the repack, {:.0} MB after)",
            c.before as f64 / 1e6,
            c.after as f64 / 1e6
        )),
        if encrypted { "on" } else { "off" },
    )?;
    if let (Some(first), Some(last)) = (batch_phases.first(), batch_phases.last()) {
        writeln!(
            out,
            "batches: {} of {batch}; first {:.0} ms, last {:.0} ms (last/first {:.2})",
            batch_ms.len(),
            batch_ms[0],
            batch_ms[batch_ms.len() - 1],
            batch_ms[batch_ms.len() - 1] / batch_ms[0].max(1e-9)
        )?;
        writeln!(out, "first batch phases (ms): {}", phases(first))?;
        writeln!(out, "last batch phases (ms): {}", phases(last))?;
    }
    writeln!(
        out,
        "quality: pairwise precision {p:.4}, recall {r:.4}, F1 {f1:.4}"
    )?;
    Ok(())
}
