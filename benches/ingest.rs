//! Bulk ingest throughput: generates a synthetic customer feed with duplicates, loads it through
//! the engine in batches (as `goldrec ingest` does) into a temp data dir, and prints records/s
//! and peak memory. `GOLDREC_BENCH_RECORDS` sets the size (default 100000).
//!
//! Run: `cargo bench --bench ingest` (add `-- --write FILE` to also write the feed as CSV, and
//! `-- --data-dir DIR` to keep the data directory, e.g. to time an export of it).

use std::io::Write;
use std::time::Instant;

use goldrec::config::Config;
use goldrec::engine::{Engine, Summary};
use goldrec::ingest::{Position, RawRecord};

const GIVEN: &[&str] = &[
    "james",
    "mary",
    "robert",
    "patricia",
    "john",
    "jennifer",
    "michael",
    "linda",
    "david",
    "elizabeth",
    "william",
    "barbara",
    "richard",
    "susan",
    "joseph",
    "jessica",
    "thomas",
    "sarah",
    "wei",
    "fang",
    "min",
    "jing",
    "li",
    "lei",
    "olivia",
    "noah",
    "emma",
    "liam",
    "ava",
    "lucas",
    "mia",
    "ethan",
    "chloe",
    "mateo",
    "sofia",
    "amir",
    "yuki",
];
const FAMILY: &[&str] = &[
    "smith",
    "johnson",
    "williams",
    "brown",
    "jones",
    "garcia",
    "miller",
    "davis",
    "rodriguez",
    "martinez",
    "wang",
    "li",
    "zhang",
    "liu",
    "chen",
    "yang",
    "huang",
    "zhao",
    "wu",
    "zhou",
    "nguyen",
    "kim",
    "patel",
    "muller",
    "schmidt",
    "rossi",
    "silva",
    "santos",
    "kowalski",
    "novak",
    "dubois",
    "moreau",
    "tanaka",
    "sato",
    "cohen",
];
const STREETS: &[&str] = &[
    "main street",
    "oak avenue",
    "park road",
    "pine place",
    "maple drive",
    "cedar court",
    "elm street",
    "lake road",
];

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
fn generate(n: usize) -> Vec<RawRecord> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out: Vec<RawRecord> = Vec::with_capacity(n);
    for i in 0..n {
        let rec = if i > 10 && rng.below(10) < 3 {
            let mut d = out[rng.below(i as u64) as usize].clone();
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
    out
}

const CONFIG: &str = include_str!("feed.toml");

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(String::from)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
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
    let records = generate(n);
    if let Some(i) = args.iter().position(|a| a == "--write") {
        let path = args
            .get(i + 1)
            .ok_or_else(|| anyhow::anyhow!("--write needs a file"))?;
        let mut w = csv::Writer::from_path(path)?;
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
        eprintln!("wrote {n} records to {path}");
    }
    let dir = tempfile::tempdir()?;
    let mut config = Config::parse(CONFIG)?;
    config.data_dir = match args.iter().position(|a| a == "--data-dir") {
        Some(i) => args
            .get(i + 1)
            .ok_or_else(|| anyhow::anyhow!("--data-dir needs a directory"))?
            .into(),
        None => dir.path().to_path_buf(),
    };
    let batch = config.batch_size;
    let engine = Engine::open(config)?;
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut items = records
        .into_iter()
        .enumerate()
        .map(|(i, r)| (Position::Index(i as u64), Ok(r)));
    loop {
        let chunk: Vec<_> = items.by_ref().take(batch).collect();
        if chunk.is_empty() {
            break;
        }
        let changes = engine
            .prepare("feed", chunk)?
            .into_iter()
            .filter_map(|(_, c)| c.ok())
            .collect();
        summary.add(&engine.apply(changes)?);
    }
    let secs = started.elapsed().as_secs_f64();
    let entities = engine.store.entities().count();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "ingest: {n} records in {secs:.2}s = {:.0} records/s; {} inserted, {entities} entities; peak RSS {:.0} MB",
        n as f64 / secs,
        summary.inserted,
        peak_rss_mb()
    )?;
    Ok(())
}
