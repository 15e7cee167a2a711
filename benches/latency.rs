//! Latency and throughput of the real server under concurrent clients, over loopback HTTP.
//!
//! Starts the `goldrec` binary that cargo built for this profile (`goldrec serve` as a child
//! process on a free 127.0.0.1 port), then runs timed phases, each with `--clients` concurrent
//! closed-loop clients (one request in flight per client):
//!
//! - `floor`: `GET /v1/latency-floor`, a path no route serves (axum answers 404 at once: no
//!   store, no blocking pool), the floor of this harness (HTTP client, loopback, server I/O);
//! - `get`: `GET /v1/entities/{id}` of random live entities (ids from `GET /v1/export`);
//! - `probe`: `POST /v1/match` with perturbed copies of known records;
//! - `upsert`: `PUT /v1/sources/{source}/records/{key}` of single records: new people, new
//!   records of known people (perturbed copies, which match and join their entity) and updates
//!   of records this run inserted.
//!
//! It prints a table of requests, req/s, mean, p50, p90, p99 and max latency, errors and the
//! CPU used by the server and by itself per phase (percentiles are exact: every latency is kept
//! and sorted), the targets of the scale issue met or missed, and a summary of the server's
//! group commits during the upsert phase (from its `goldrec=debug` log; set
//! `GOLDREC_BENCH_SERVER_LOG` to another filter to change that). Any failed request, or a
//! server that does not shut down cleanly, makes it exit non-zero.
//!
//! ```sh
//! cargo bench --bench latency                               # 20,000 generated records
//! cargo bench --bench latency -- --csv /work/data/p100k_records.csv \
//!     --config ../shared/datasets/synth/goldrec.toml --source synth
//! # 1M: load once (minutes), then serve that directory as often as needed
//! target/release/goldrec -c ../shared/datasets/synth/goldrec.toml --data-dir /tmp/p1m \
//!     ingest -s synth /work/data/p1m_records.csv
//! cargo bench --bench latency -- --data-dir /tmp/p1m --csv /work/data/p1m_records.csv \
//!     --config ../shared/datasets/synth/goldrec.toml --source synth
//! ```
//!
//! Options (after `--`):
//!
//! - `--data-dir DIR`: serve this existing data directory (nothing is loaded). The upsert
//!   phase ADDS records to it (keys `lat-<run>-<client>-<n>`; it never changes other records).
//! - `--csv FILE`: without `--data-dir`, load it into a temporary data directory with
//!   `goldrec ingest` first; in any case the requests are made from a sample of its rows.
//! - `--config FILE`, `--source NAME`: the configuration and the CSV source the records are
//!   read as (default: `benches/feed.toml`, source `feed`, the layout of the generated feed).
//! - `--records N`: size of the generated feed loaded when neither `--csv` nor `--data-dir`
//!   is given (default 20000).
//! - `--clients N` (default 32), `--seconds S` per measured phase (default 10), `--warmup S`
//!   unmeasured requests before each phase (default 1), `--client-threads N` tokio worker
//!   threads of the load generator (default 1: the server keeps the other core).
//! - `--phases LIST`: comma-separated subset of `floor,get,probe,upsert` (default all; the
//!   floor is measured for at most 2 s).
//! - `--read-clients N`: clients of the `get` and `probe` phases (default `--clients`).
//! - `--sample N`: template rows kept from the CSV (default 50000).
//! - `--keep`: keep the temporary directory (data and server log).
//!
//! `GOLDREC_BIN` overrides the server binary.

#[path = "common/names.rs"]
mod names;
use names::{FAMILY, GIVEN, STREETS};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde_json::{Map, Value};

/// Targets of the scale issue, checked and printed (they do not fail the bench).
const TARGET_UPSERT_RPS: f64 = 5_000.0;
const TARGET_UPSERT_P99_MS: f64 = 50.0;
const TARGET_GET_P99_MS: f64 = 2.0;
const TARGET_PROBE_P99_MS: f64 = 10.0;

/// Longest wait for the server to answer `/v1/health` after start.
const START_TIMEOUT: Duration = Duration::from_secs(600);
/// Longest wait for the server to exit after SIGINT.
const STOP_TIMEOUT: Duration = Duration::from_secs(120);
/// Per-request timeout: a request slower than this counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Error messages kept per phase.
const ERRORS_SHOWN: usize = 5;

// ----- options ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Floor,
    Get,
    Probe,
    Upsert,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Floor => "floor",
            Phase::Get => "get",
            Phase::Probe => "probe",
            Phase::Upsert => "upsert",
        }
    }

    fn parse(s: &str) -> anyhow::Result<Self> {
        Ok(match s {
            "floor" => Phase::Floor,
            "get" => Phase::Get,
            "probe" => Phase::Probe,
            "upsert" => Phase::Upsert,
            other => bail!("unknown phase {other:?}: use floor, get, probe, upsert"),
        })
    }
}

struct Opts {
    data_dir: Option<PathBuf>,
    csv: Option<PathBuf>,
    config: PathBuf,
    source: String,
    records: usize,
    clients: usize,
    read_clients: Option<usize>,
    seconds: f64,
    warmup: f64,
    client_threads: usize,
    phases: Vec<Phase>,
    sample: usize,
    keep: bool,
}

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn parse_opts() -> anyhow::Result<Option<Opts>> {
    let mut o = Opts {
        data_dir: None,
        csv: None,
        config: manifest_dir().join("benches/feed.toml"),
        source: "feed".into(),
        records: 20_000,
        clients: 32,
        read_clients: None,
        seconds: 10.0,
        warmup: 1.0,
        client_threads: 1,
        phases: vec![Phase::Floor, Phase::Get, Phase::Probe, Phase::Upsert],
        sample: 50_000,
        keep: false,
    };
    let mut config_given = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> anyhow::Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => args.next().ok_or_else(|| anyhow!("{name} needs a value")),
            }
        };
        match flag.as_str() {
            // `cargo bench` passes --bench; `cargo test --benches` lists with --list.
            "--bench" => {}
            "--list" => return Ok(None),
            "--help" | "-h" => {
                println!("see the comment at the top of benches/latency.rs for the options");
                return Ok(None);
            }
            "--data-dir" => o.data_dir = Some(value(&flag)?.into()),
            "--csv" => o.csv = Some(value(&flag)?.into()),
            "--config" => {
                o.config = value(&flag)?.into();
                config_given = true;
            }
            "--source" => o.source = value(&flag)?,
            "--records" => o.records = value(&flag)?.parse().context("--records")?,
            "--clients" => o.clients = value(&flag)?.parse().context("--clients")?,
            "--read-clients" => {
                o.read_clients = Some(value(&flag)?.parse().context("--read-clients")?)
            }
            "--seconds" => o.seconds = value(&flag)?.parse().context("--seconds")?,
            "--warmup" => o.warmup = value(&flag)?.parse().context("--warmup")?,
            "--client-threads" => {
                o.client_threads = value(&flag)?.parse().context("--client-threads")?
            }
            "--sample" => o.sample = value(&flag)?.parse().context("--sample")?,
            "--phases" => {
                o.phases = value(&flag)?
                    .split(',')
                    .map(|p| Phase::parse(p.trim()))
                    .collect::<anyhow::Result<_>>()?
            }
            "--keep" => o.keep = true,
            other => bail!("unknown option {other:?} (see benches/latency.rs)"),
        }
    }
    if o.clients == 0 || o.read_clients == Some(0) || o.client_threads == 0 || o.sample == 0 {
        bail!("--clients, --read-clients, --client-threads and --sample must be at least 1");
    }
    if !(o.seconds > 0.0 && o.warmup >= 0.0) {
        bail!("--seconds must be positive and --warmup not negative");
    }
    if o.csv.is_none() && (config_given || o.data_dir.is_some()) && o.source != "feed" {
        bail!(
            "give --csv FILE (the records of source {:?}, or a file in its layout): the requests \
             are made from rows of it",
            o.source
        );
    }
    Ok(Some(o))
}

// ----- the server process ----------------------------------------------------------------

/// The goldrec binary cargo built for this profile.
fn goldrec_bin() -> anyhow::Result<PathBuf> {
    if let Ok(p) = std::env::var("GOLDREC_BIN") {
        return Ok(p.into());
    }
    // Cargo sets CARGO_BIN_EXE_<name> when it builds integration tests and benches (and builds
    // the binary first), so this is the binary of the same profile as this bench.
    if let Some(p) = option_env!("CARGO_BIN_EXE_goldrec") {
        let p = PathBuf::from(p);
        if p.exists() {
            return Ok(p);
        }
    }
    let p = manifest_dir().join("target/release/goldrec");
    if p.exists() {
        return Ok(p);
    }
    bail!(
        "no goldrec binary at {}: run this with `cargo bench --bench latency` (it builds the \
         binary) or `cargo build --release` first, or set GOLDREC_BIN",
        p.display()
    )
}

/// `goldrec serve` as a child process; stopped with SIGINT (so it flushes) when dropped.
struct Server {
    child: Option<Child>,
    pid: u32,
    addr: String,
    log: PathBuf,
}

impl Server {
    fn start(bin: &Path, config: &Path, data_dir: &Path, log: &Path) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let log_file = std::fs::File::create(log)?;
        let child = Command::new(bin)
            .arg("--config")
            .arg(config)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["serve", "--listen", &addr])
            .env("GOLDREC_ADMIN_KEY", ADMIN_KEY)
            .env("NO_COLOR", "1")
            // Debug level for goldrec: one line per group commit, summarised per phase.
            .env(
                "RUST_LOG",
                std::env::var("GOLDREC_BENCH_SERVER_LOG")
                    .unwrap_or_else(|_| "goldrec=debug,warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Self {
            pid: child.id(),
            child: Some(child),
            addr,
            log: log.to_owned(),
        })
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGINT, then waits for the exit (SIGKILL after [`STOP_TIMEOUT`]).
    fn stop(&mut self) -> anyhow::Result<(std::process::ExitStatus, Duration)> {
        let Some(mut child) = self.child.take() else {
            bail!("the server was already stopped");
        };
        let started = Instant::now();
        if child.try_wait()?.is_none() {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
        }
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok((status, started.elapsed()));
            }
            if started.elapsed() > STOP_TIMEOUT {
                let _ = child.kill();
                let status = child.wait()?;
                bail!(
                    "the server did not exit within {STOP_TIMEOUT:?} of SIGINT; killed ({status})"
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.is_some() {
            if let Err(e) = self.stop() {
                eprintln!("stopping the server: {e}");
            }
        }
    }
}

fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ----- request material ------------------------------------------------------------------

/// Small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.index(xs.len())]
    }
}

/// Columns of the generated feed (source `feed` of `benches/feed.toml`).
const FEED_COLUMNS: &[&str] = &[
    "id", "first", "last", "email", "phone", "dob", "street", "zip",
];

/// Swaps two neighbouring characters (a typing error).
fn typo(rng: &mut Rng, s: &str) -> String {
    let mut c: Vec<char> = s.chars().collect();
    if c.len() > 2 {
        let i = rng.index(c.len() - 1);
        c.swap(i, i + 1);
    } else {
        c.push('x');
    }
    c.into_iter().collect()
}

/// A name, address or other free text: at least 3 characters, mostly letters (not a date
/// such as `03 Nov 1980`, a code or a number).
fn is_text(s: &str) -> bool {
    let chars = s.chars().filter(|c| !c.is_whitespace()).count();
    let letters = s.chars().filter(|c| c.is_alphabetic()).count();
    chars >= 3 && letters * 2 > chars && !s.contains('@')
}

/// `n` records in the feed layout: about 70% people and 30% corrupted copies of earlier ones
/// (the generator of `benches/ingest.rs`).
fn generate(n: usize) -> Vec<Vec<String>> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out: Vec<Vec<String>> = Vec::with_capacity(n);
    for i in 0..n {
        let mut rec = if i > 10 && rng.below(10) < 3 {
            let mut d = out[rng.index(i)].clone();
            match rng.below(3) {
                0 => d[1] = typo(&mut rng, &d[1]),
                1 => d[3].clear(),
                _ => d[4].clear(),
            }
            d
        } else {
            let (g, f) = (rng.pick(GIVEN), rng.pick(FAMILY));
            vec![
                String::new(),
                g.to_string(),
                f.to_string(),
                format!("{g}.{f}{}@example.com", rng.below(100_000)),
                format!("+1 {} 555 {:04}", 200 + rng.below(700), rng.below(10_000)),
                format!(
                    "{}-{:02}-{:02}",
                    1940 + rng.below(65),
                    1 + rng.below(12),
                    1 + rng.below(28)
                ),
                format!("{} {}", 1 + rng.below(999), rng.pick(STREETS)),
                format!("{:05}", 10_000 + rng.below(89_999)),
            ]
        };
        rec[0] = format!("R{i}");
        out.push(rec);
    }
    out
}

/// Rows of one CSV source: the templates requests are made from.
struct Feed {
    source: String,
    columns: Vec<String>,
    key_col: usize,
    email_cols: Vec<usize>,
    phone_cols: Vec<usize>,
    rows: Vec<Vec<String>>,
}

impl Feed {
    fn new(
        source: &str,
        columns: Vec<String>,
        key: &str,
        rows: Vec<Vec<String>>,
    ) -> anyhow::Result<Self> {
        let key_col = columns
            .iter()
            .position(|c| c == key)
            .ok_or_else(|| anyhow!("the CSV has no key column {key:?} (columns: {columns:?})"))?;
        let lower: Vec<String> = columns.iter().map(|c| c.to_lowercase()).collect();
        let email_cols = (0..columns.len())
            .filter(|&i| lower[i].contains("mail"))
            .collect();
        let phone_cols = (0..columns.len())
            .filter(|&i| {
                ["phone", "tel", "mobile"]
                    .iter()
                    .any(|p| lower[i].contains(p))
            })
            .collect();
        if rows.is_empty() {
            bail!("no records to make requests from");
        }
        Ok(Self {
            source: source.to_string(),
            columns,
            key_col,
            email_cols,
            phone_cols,
            rows,
        })
    }

    /// Reads the header and a uniform sample of up to `sample` rows (reservoir sampling).
    fn sample_csv(
        path: &Path,
        source: &str,
        key: &str,
        sample: usize,
    ) -> anyhow::Result<(Self, u64)> {
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(path)
            .with_context(|| format!("reading {}", path.display()))?;
        let columns: Vec<String> = rdr.headers()?.iter().map(String::from).collect();
        let mut rng = Rng::new(7);
        let mut rows: Vec<Vec<String>> = Vec::with_capacity(sample.min(1 << 20));
        let mut seen = 0u64;
        for row in rdr.records() {
            let row = row?;
            let mut v: Vec<String> = row.iter().map(String::from).collect();
            v.resize(columns.len(), String::new());
            seen += 1;
            if rows.len() < sample {
                rows.push(v);
            } else {
                let j = rng.below(seen) as usize;
                if j < sample {
                    rows[j] = v;
                }
            }
        }
        Ok((Self::new(source, columns, key, rows)?, seen))
    }

    fn row(&self, rng: &mut Rng) -> &[String] {
        &self.rows[rng.index(self.rows.len())]
    }

    /// A column other than the key.
    fn field(&self, rng: &mut Rng) -> usize {
        let i = rng.index(self.columns.len() - 1);
        if i >= self.key_col {
            i + 1
        } else {
            i
        }
    }

    /// An e-mail address nobody else has: `local.tag@domain`.
    fn unique_email(v: &str, tag: &str) -> String {
        match v.split_once('@') {
            Some((local, domain)) => format!("{local}.{tag}@{domain}"),
            None => v.to_string(),
        }
    }

    /// The last four digits replaced by random ones.
    fn new_phone(rng: &mut Rng, v: &str) -> String {
        let mut left = 4;
        let mut out: Vec<char> = v.chars().collect();
        for c in out.iter_mut().rev() {
            if left == 0 {
                break;
            }
            if c.is_ascii_digit() {
                *c = char::from(b'0' + rng.below(10) as u8);
                left -= 1;
            }
        }
        out.into_iter().collect()
    }

    /// A new person: every column from another random row (given and family name, birth date,
    /// address ... of different people), with an e-mail address of its own and a new phone.
    fn new_person(&self, rng: &mut Rng, key: &str) -> Vec<String> {
        let tag = key.rsplit('-').take(2).collect::<Vec<_>>().join("");
        (0..self.columns.len())
            .map(|c| {
                if c == self.key_col {
                    return key.to_string();
                }
                let v = &self.row(rng)[c];
                if self.email_cols.contains(&c) {
                    Self::unique_email(v, &tag)
                } else if self.phone_cols.contains(&c) {
                    Self::new_phone(rng, v)
                } else {
                    v.clone()
                }
            })
            .collect()
    }

    /// A new record of a known person: a copy of a row with a typing error or without its
    /// e-mail or phone.
    fn duplicate(&self, rng: &mut Rng, key: &str) -> Vec<String> {
        let mut v = self.row(rng).to_vec();
        v[self.key_col] = key.to_string();
        self.perturb(rng, &mut v);
        v
    }

    /// A typing error in a name, address or other text value, or the e-mail or phone left
    /// out. Dates, phones, e-mails and codes get no typing error: the server rightly rejects
    /// an invalid one, and a bench must send valid requests.
    fn perturb(&self, rng: &mut Rng, v: &mut [String]) {
        let blank = match rng.below(4) {
            0 => self.email_cols.first(),
            1 => self.phone_cols.first(),
            _ => None,
        };
        if let Some(&c) = blank {
            v[c].clear();
            return;
        }
        let texts: Vec<usize> = (0..v.len())
            .filter(|&c| {
                c != self.key_col
                    && !self.email_cols.contains(&c)
                    && !self.phone_cols.contains(&c)
                    && is_text(&v[c])
            })
            .collect();
        if !texts.is_empty() {
            let c = texts[rng.index(texts.len())];
            v[c] = typo(rng, &v[c]);
        }
    }

    /// An update of a record: one column takes another row's value (a move, a new phone ...).
    fn update(&self, rng: &mut Rng, v: &mut [String]) {
        let c = self.field(rng);
        let other = self.row(rng)[c].clone();
        v[c] = if self.email_cols.contains(&c) {
            Self::unique_email(&other, &format!("u{}", rng.below(1_000_000)))
        } else {
            other
        };
    }

    /// A probe: a known row, half of the time with a typing error or a missing value.
    fn probe(&self, rng: &mut Rng) -> Vec<String> {
        let mut v = self.row(rng).to_vec();
        if rng.below(2) == 0 {
            self.perturb(rng, &mut v);
        }
        v
    }

    /// The record as a JSON object (empty values left out, like empty CSV cells).
    fn json(&self, v: &[String], with_key: bool) -> Map<String, Value> {
        self.columns
            .iter()
            .zip(v)
            .enumerate()
            .filter(|(i, (_, val))| !val.is_empty() && (with_key || *i != self.key_col))
            .map(|(_, (c, val))| (c.clone(), Value::String(val.clone())))
            .collect()
    }
}

// ----- load generation -------------------------------------------------------------------

/// What all clients share.
struct Ctx {
    http: reqwest::Client,
    base: String,
    feed: Feed,
    entity_ids: Vec<u64>,
    run: String,
}

/// One client's state across phases.
struct ClientState {
    id: usize,
    rng: Rng,
    /// Records this client inserted (key and values), for updates.
    own: Vec<Vec<String>>,
    seq: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Op {
    Floor,
    Get,
    Probe,
    NewPerson,
    NewDuplicate,
    Update,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Floor => "floor",
            Op::Get => "get",
            Op::Probe => "probe",
            Op::NewPerson => "new person",
            Op::NewDuplicate => "new record of a known person",
            Op::Update => "update of a record inserted by this run",
        }
    }
}

/// What one client measured in one phase.
#[derive(Default)]
struct Tally {
    /// Latencies of the measured requests, in nanoseconds.
    latencies: Vec<u64>,
    errors: u64,
    messages: Vec<String>,
    ops: BTreeMap<Op, u64>,
    statuses: BTreeMap<u16, u64>,
    /// Probes parsed (every 16th) and the candidates they returned.
    probes_parsed: u64,
    candidates: u64,
    probes_empty: u64,
    last_done: Option<Instant>,
}

impl Tally {
    fn error(&mut self, msg: String) {
        self.errors += 1;
        if self.messages.len() < ERRORS_SHOWN {
            self.messages.push(msg);
        }
    }

    fn merge(&mut self, o: Tally) {
        self.latencies.extend(o.latencies);
        self.errors += o.errors;
        for m in o.messages {
            if self.messages.len() < ERRORS_SHOWN {
                self.messages.push(m);
            }
        }
        for (k, v) in o.ops {
            *self.ops.entry(k).or_default() += v;
        }
        for (k, v) in o.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.probes_parsed += o.probes_parsed;
        self.candidates += o.candidates;
        self.probes_empty += o.probes_empty;
        self.last_done = self.last_done.max(o.last_done);
    }
}

/// One request to send.
struct Req {
    op: Op,
    method: reqwest::Method,
    url: String,
    body: Option<Vec<u8>>,
}

fn next_request(phase: Phase, ctx: &Ctx, st: &mut ClientState) -> Req {
    let feed = &ctx.feed;
    match phase {
        Phase::Floor => Req {
            op: Op::Floor,
            method: reqwest::Method::GET,
            url: format!("{}/v1/latency-floor", ctx.base),
            body: None,
        },
        Phase::Get => {
            let id = ctx.entity_ids[st.rng.index(ctx.entity_ids.len())];
            Req {
                op: Op::Get,
                method: reqwest::Method::GET,
                url: format!("{}/v1/entities/{id}", ctx.base),
                body: None,
            }
        }
        Phase::Probe => {
            let v = feed.probe(&mut st.rng);
            let body = serde_json::json!({"source": feed.source, "record": feed.json(&v, false)});
            Req {
                op: Op::Probe,
                method: reqwest::Method::POST,
                url: format!("{}/v1/match", ctx.base),
                body: Some(serde_json::to_vec(&body).expect("JSON")),
            }
        }
        Phase::Upsert => {
            // 70% new people, 15% new records of known people, 15% updates.
            let roll = st.rng.below(100);
            let (op, values) = if roll < 15 && !st.own.is_empty() {
                let i = st.rng.index(st.own.len());
                let mut v = st.own[i].clone();
                feed.update(&mut st.rng, &mut v);
                st.own[i] = v.clone();
                (Op::Update, v)
            } else {
                st.seq += 1;
                let key = format!("lat-{}-{}-{}", ctx.run, st.id, st.seq);
                let (op, v) = if roll < 30 {
                    (Op::NewDuplicate, feed.duplicate(&mut st.rng, &key))
                } else {
                    (Op::NewPerson, feed.new_person(&mut st.rng, &key))
                };
                st.own.push(v.clone());
                (op, v)
            };
            let key = &values[feed.key_col];
            Req {
                op,
                method: reqwest::Method::PUT,
                url: format!("{}/v1/sources/{}/records/{key}", ctx.base, feed.source),
                body: Some(serde_json::to_vec(&feed.json(&values, true)).expect("JSON")),
            }
        }
    }
}

async fn client(
    phase: Phase,
    ctx: Arc<Ctx>,
    mut st: ClientState,
    measure_from: Instant,
    until: Instant,
) -> (ClientState, Tally) {
    let mut t = Tally {
        latencies: Vec::with_capacity(1 << 14),
        ..Tally::default()
    };
    loop {
        let started = Instant::now();
        if started >= until {
            break;
        }
        let req = next_request(phase, &ctx, &mut st);
        let mut rb = ctx.http.request(req.method.clone(), &req.url);
        if let Some(body) = req.body {
            rb = rb
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let sent = Instant::now();
        let result = match rb.send().await {
            Ok(resp) => {
                let status = resp.status();
                resp.bytes().await.map(|b| (status, b))
            }
            Err(e) => Err(e),
        };
        let done = Instant::now();
        if sent < measure_from {
            continue;
        }
        t.latencies.push((done - sent).as_nanos() as u64);
        t.last_done = Some(done);
        *t.ops.entry(req.op).or_default() += 1;
        match result {
            Ok((status, body)) => {
                *t.statuses.entry(status.as_u16()).or_default() += 1;
                // A GET of an entity merged since the export answers 308, the floor 404:
                // expected answers.
                let expected = (req.op == Op::Get && status.as_u16() == 308)
                    || (req.op == Op::Floor && status.as_u16() == 404);
                if !status.is_success() && !expected {
                    let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
                    t.error(format!("{} {} -> {status}: {text}", req.method, req.url));
                } else if req.op == Op::Probe && t.latencies.len() % 16 == 1 {
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let n = v["candidates"].as_array().map_or(0, |a| a.len()) as u64;
                    t.probes_parsed += 1;
                    t.candidates += n;
                    t.probes_empty += u64::from(n == 0);
                }
            }
            Err(e) => t.error(format!("{} {} -> {e}", req.method, req.url)),
        }
    }
    (st, t)
}

struct PhaseResult {
    phase: Phase,
    clients: usize,
    tally: Tally,
    window: Duration,
    /// CPU time over the measured window, in % of one core: this process, the server.
    cpu_bench: f64,
    cpu_server: f64,
    /// What the server logged during the measured window.
    log: String,
}

/// User + system CPU time of a process so far, in clock ticks (1/100 s), from /proc.
fn cpu_ticks(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // Fields after "pid (comm) ": state is field 3, utime 14 and stime 15.
    let rest = stat.rfind(')').map_or("", |i| &stat[i + 1..]);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// What is sampled at the start and the end of a measured window.
#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    bench: u64,
    server: u64,
    log: u64,
}

impl Sample {
    fn take(server_pid: u32, log: &Path) -> Self {
        Self {
            at: Instant::now(),
            bench: cpu_ticks(std::process::id()),
            server: cpu_ticks(server_pid),
            log: file_len(log),
        }
    }
}

/// Runs one phase with the first `n` client states (the others wait).
async fn run_phase(
    phase: Phase,
    ctx: &Arc<Ctx>,
    mut states: Vec<ClientState>,
    n: usize,
    warmup: Duration,
    seconds: Duration,
    server: (u32, &Path),
) -> (Vec<ClientState>, PhaseResult) {
    let idle = states.split_off(n.min(states.len()));
    let clients = states.len();
    let start = Instant::now();
    let measure_from = start + warmup;
    let until = measure_from + seconds;
    let (pid, log) = (server.0, server.1.to_owned());
    let log2 = log.clone();
    let first = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        Sample::take(pid, &log2)
    });
    let handles: Vec<_> = states
        .into_iter()
        .map(|st| tokio::spawn(client(phase, ctx.clone(), st, measure_from, until)))
        .collect();
    let mut tally = Tally::default();
    let mut states = Vec::with_capacity(clients + idle.len());
    for h in handles {
        let (st, t) = h.await.expect("client task");
        states.push(st);
        tally.merge(t);
    }
    let last = Sample::take(pid, &log);
    let first = first.await.expect("sampler task");
    states.extend(idle);
    let window = tally.last_done.map_or(seconds, |d| {
        d.saturating_duration_since(measure_from).max(seconds)
    });
    let secs = (last.at - first.at).as_secs_f64().max(1e-9);
    let pct = |a: u64, b: u64| (b.saturating_sub(a)) as f64 / 100.0 / secs * 100.0;
    let log_text = std::fs::read(&log)
        .map(|b| {
            let (a, z) = (first.log as usize, (last.log as usize).min(b.len()));
            String::from_utf8_lossy(&b[a.min(z)..z]).into_owned()
        })
        .unwrap_or_default();
    (
        states,
        PhaseResult {
            phase,
            clients,
            tally,
            window,
            cpu_bench: pct(first.bench, last.bench),
            cpu_server: pct(first.server, last.server),
            log: log_text,
        },
    )
}

/// The value of `name=` in a log line (up to the next space).
fn log_field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let pat = format!(" {name}=");
    let i = line.find(&pat)? + pat.len();
    line[i..].split_whitespace().next()
}

/// Summary of the server's group commits (its `batch applied` / `batch stored` debug lines).
fn batch_summary(log: &str) -> Option<String> {
    let mut sizes = Vec::new();
    let mut totals = Vec::new();
    let mut steps: BTreeMap<String, f64> = BTreeMap::new();
    let mut flush = Vec::new();
    let mut transaction = Vec::new();
    for line in log.lines() {
        if line.contains("batch applied") {
            let records = log_field(line, "records").and_then(|v| v.parse::<u64>().ok());
            let total = log_field(line, "total_ms").and_then(|v| v.parse::<u64>().ok());
            if let (Some(r), Some(t)) = (records, total) {
                sizes.push(r);
                totals.push(t);
            }
            if let Some(i) = line.find(" phases=") {
                for step in line[i + 8..].split_whitespace() {
                    if let Some((name, ms)) = step.rsplit_once('=') {
                        if let Ok(ms) = ms.trim_end_matches("ms").parse::<f64>() {
                            *steps.entry(name.to_string()).or_default() += ms;
                        }
                    }
                }
            }
        } else if line.contains("batch stored") {
            if let Some(f) = log_field(line, "flush_ms").and_then(|v| v.parse::<u64>().ok()) {
                flush.push(f);
            }
            if let Some(t) = log_field(line, "transaction_ms").and_then(|v| v.parse::<u64>().ok()) {
                transaction.push(t);
            }
        }
    }
    if sizes.is_empty() {
        return None;
    }
    let n = sizes.len() as f64;
    totals.sort_unstable();
    let spent: f64 = steps.values().sum::<f64>().max(1e-9);
    let mut by_time: Vec<(String, f64)> = steps.into_iter().collect();
    by_time.sort_by(|a, b| b.1.total_cmp(&a.1));
    let top: Vec<String> = by_time
        .iter()
        .take(6)
        .map(|(k, ms)| format!("{k} {:.0}%", ms / spent * 100.0))
        .collect();
    let mut s = format!(
        "{} group commits, {:.1} records each on average (max {}); apply time per commit: mean {:.0} ms, p50 {} ms, max {} ms; by step: {}",
        sizes.len(),
        sizes.iter().sum::<u64>() as f64 / n,
        sizes.iter().max().unwrap_or(&0),
        totals.iter().sum::<u64>() as f64 / n,
        percentile(&totals, 50.0),
        totals.last().unwrap_or(&0),
        top.join(", ")
    );
    let mean = |v: &[u64]| v.iter().sum::<u64>() as f64 / v.len().max(1) as f64;
    if !flush.is_empty() {
        let commit = by_time
            .iter()
            .find(|(k, _)| k == "commit")
            .map_or(0.0, |(_, ms)| ms / n);
        s += &format!(
            "; the commit step: mean {commit:.0} ms, of which sled transaction {:.0} ms + sled flush {:.0} ms, the rest (index update, tantivy commit and reader reload, change-feed pruning) {:.0} ms",
            mean(&transaction),
            mean(&flush),
            commit - mean(&transaction) - mean(&flush)
        );
    }
    Some(s)
}

// ----- report ----------------------------------------------------------------------------

struct Stats {
    n: usize,
    rps: f64,
    mean: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn stats(r: &mut PhaseResult) -> Stats {
    let l = &mut r.tally.latencies;
    l.sort_unstable();
    let ms = |ns: u64| ns as f64 / 1e6;
    let n = l.len();
    Stats {
        n,
        rps: n as f64 / r.window.as_secs_f64(),
        mean: if n == 0 {
            0.0
        } else {
            l.iter().map(|&x| x as f64).sum::<f64>() / n as f64 / 1e6
        },
        p50: ms(percentile(l, 50.0)),
        p90: ms(percentile(l, 90.0)),
        p99: ms(percentile(l, 99.0)),
        max: ms(l.last().copied().unwrap_or(0)),
    }
}

// ----- setup -----------------------------------------------------------------------------

/// Admin key the server is started with; every request sends it.
const ADMIN_KEY: &str = "latency-bench-admin-key-0123456789";

fn http_client(clients: usize) -> anyhow::Result<reqwest::Client> {
    let mut auth = reqwest::header::HeaderMap::new();
    auth.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {ADMIN_KEY}").parse()?,
    );
    Ok(reqwest::Client::builder()
        .default_headers(auth)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .pool_max_idle_per_host(clients * 2)
        .timeout(REQUEST_TIMEOUT)
        .build()?)
}

async fn wait_healthy(http: &reqwest::Client, server: &mut Server) -> anyhow::Result<Value> {
    let started = Instant::now();
    let url = format!("http://{}/v1/health", server.addr);
    loop {
        if let Some(status) = server.exited() {
            bail!(
                "the server exited ({status}) before answering; its log ({}):\n{}",
                server.log.display(),
                log_tail(&server.log, 30)
            );
        }
        if let Ok(r) = http.get(&url).send().await {
            if r.status().is_success() {
                return Ok(r.json().await?);
            }
        }
        if started.elapsed() > START_TIMEOUT {
            bail!("the server did not answer /v1/health within {START_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Live entity ids, from the bulk export (which also counts them).
async fn export_ids(http: &reqwest::Client, base: &str) -> anyhow::Result<Vec<u64>> {
    #[derive(serde::Deserialize)]
    struct Line {
        entity_id: u64,
    }
    let mut resp = http
        .get(format!("{base}/v1/export"))
        .timeout(Duration::from_secs(3600))
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!("GET /v1/export -> {}", resp.status());
    }
    let mut ids = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let parse = |line: &[u8], ids: &mut Vec<u64>| -> anyhow::Result<()> {
        if !line.iter().all(u8::is_ascii_whitespace) {
            ids.push(serde_json::from_slice::<Line>(line)?.entity_id);
        }
        Ok(())
    };
    while let Some(chunk) = resp.chunk().await? {
        buf.extend_from_slice(&chunk);
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            parse(&buf[start..start + nl], &mut ids)?;
            start += nl + 1;
        }
        buf.drain(..start);
    }
    parse(&buf, &mut ids)?;
    Ok(ids)
}

/// Loads a CSV into `data_dir` with `goldrec ingest`; prints the CLI's summary.
fn preload(
    bin: &Path,
    config: &Path,
    data_dir: &Path,
    source: &str,
    csv: &Path,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let out = Command::new(bin)
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["ingest", "--quiet", "--source", source])
        .arg(csv)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("goldrec ingest failed ({}):\n{stderr}", out.status);
    }
    let summary = stderr
        .lines()
        .rev()
        .find(|l| l.contains("ingested"))
        .unwrap_or("");
    println!(
        "preload: goldrec ingest {} ({:.1}s): {summary}",
        csv.display(),
        started.elapsed().as_secs_f64()
    );
    let rejected = stderr.lines().filter(|l| l.contains("rejected ")).count();
    if rejected > 0 {
        println!("preload: {rejected} lines of rejections on stderr, e.g.:");
        for l in stderr.lines().filter(|l| l.contains(": rejected ")).take(3) {
            println!("  {l}");
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let Some(opts) = parse_opts()? else {
        return Ok(());
    };
    let bin = goldrec_bin()?;
    let config = goldrec::config::Config::load(&opts.config)
        .with_context(|| format!("loading {}", opts.config.display()))?;
    let source = config.sources.get(&opts.source).ok_or_else(|| {
        anyhow!(
            "no source {:?} in {} (configured: {})",
            opts.source,
            opts.config.display(),
            config
                .sources
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    if source.format != goldrec::config::Format::Csv {
        bail!(
            "source {:?} is not a CSV source: this bench reads its records from a CSV",
            opts.source
        );
    }
    let key = source.key.clone();

    let tmp = tempfile::Builder::new()
        .prefix("goldrec-latency-")
        .tempdir()?;
    println!("goldrec binary: {}", bin.display());
    println!(
        "machine: {} cores, load average {} (other work on the machine skews the figures)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );

    // Request templates, and the data directory (loaded here unless given).
    let (feed, feed_desc) = match &opts.csv {
        Some(csv) => {
            let (feed, total) = Feed::sample_csv(csv, &opts.source, &key, opts.sample)?;
            let d = format!(
                "{} ({total} rows, {} sampled)",
                csv.display(),
                feed.rows.len()
            );
            (feed, d)
        }
        None => {
            let rows = generate(opts.records);
            let path = tmp.path().join("feed.csv");
            let mut w = csv::Writer::from_path(&path)?;
            w.write_record(FEED_COLUMNS)?;
            for r in &rows {
                w.write_record(r)?;
            }
            w.flush()?;
            let cols = FEED_COLUMNS.iter().map(|c| c.to_string()).collect();
            let d = format!("{} generated records", rows.len());
            (Feed::new(&opts.source, cols, &key, rows)?, d)
        }
    };
    let data_dir = match &opts.data_dir {
        Some(d) => {
            if !d.is_dir() {
                bail!("--data-dir {} is not a directory", d.display());
            }
            println!(
                "data: {} as is (the upsert phase adds records with keys lat-*)",
                d.display()
            );
            d.clone()
        }
        None => {
            let d = tmp.path().join("data");
            let csv = opts
                .csv
                .clone()
                .unwrap_or_else(|| tmp.path().join("feed.csv"));
            preload(&bin, &opts.config, &d, &opts.source, &csv)?;
            d
        }
    };
    println!(
        "config: {}, source {:?}; requests made from {feed_desc}",
        opts.config.display(),
        opts.source
    );

    let log = tmp.path().join("server.log");
    let mut server = Server::start(&bin, &opts.config, &data_dir, &log)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.client_threads)
        .enable_all()
        .build()?;
    let outcome = rt.block_on(run(&opts, &mut server, feed));
    let stopped = server.stop();

    // What the server logged, whatever happened.
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let odd: Vec<&str> = log_text
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("panicked"))
        .collect();
    let mut failed = Vec::new();
    match stopped {
        Ok((status, took)) => {
            println!(
                "server: stopped with SIGINT in {:.2}s ({status})",
                took.as_secs_f64()
            );
            if !status.success() {
                failed.push(format!("the server exited with {status}"));
            }
        }
        Err(e) => failed.push(format!("stopping the server: {e}")),
    }
    if !odd.is_empty() {
        println!("server log: {} warning/error lines, e.g.:", odd.len());
        for l in odd.iter().take(10) {
            println!("  {l}");
        }
    }
    if opts.keep {
        let kept = tmp.keep();
        println!("kept {} (data and server.log)", kept.display());
    } else if !failed.is_empty() || outcome.is_err() {
        println!("server log (last lines):\n{}", log_tail(&log, 20));
    }
    let errors = outcome?;
    if errors > 0 {
        failed.push(format!("{errors} requests failed"));
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("; "));
    }
    Ok(())
}

/// `GET /v1/health` once, with its duration.
async fn health(http: &reqwest::Client, base: &str) -> anyhow::Result<(Value, Duration)> {
    let t = Instant::now();
    let v: Value = http
        .get(format!("{base}/v1/health"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok((v, t.elapsed()))
}

/// Runs the phases against the started server; returns the number of failed requests.
async fn run(opts: &Opts, server: &mut Server, feed: Feed) -> anyhow::Result<u64> {
    let read_clients = opts.read_clients.unwrap_or(opts.clients);
    let http = http_client(opts.clients.max(read_clients))?;
    let base = format!("http://{}", server.addr);
    let started = Instant::now();
    wait_healthy(&http, server).await?;
    println!(
        "server: {} (pid {}) up in {:.1}s",
        server.addr,
        server.pid,
        started.elapsed().as_secs_f64()
    );
    // Timed once on its own: it counts the records (see the report).
    let (before, health_took) = health(&http, &base).await?;
    let t = Instant::now();
    let entity_ids = export_ids(&http, &base).await?;
    println!(
        "store: {} live entities, {} records, {} indexed (GET /v1/export took {:.2}s, GET /v1/health {:.1} ms)",
        entity_ids.len(),
        before["records"],
        before["indexed"],
        t.elapsed().as_secs_f64(),
        health_took.as_secs_f64() * 1e3
    );
    if opts.phases.contains(&Phase::Get) && entity_ids.is_empty() {
        bail!("the store has no entities to GET");
    }
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        .to_string();
    let ctx = Arc::new(Ctx {
        http,
        base: base.clone(),
        feed,
        entity_ids,
        run: run_id,
    });
    let mut states: Vec<ClientState> = (0..opts.clients.max(read_clients))
        .map(|id| ClientState {
            id,
            rng: Rng::new(1000 + id as u64),
            own: Vec::new(),
            seq: 0,
        })
        .collect();
    println!(
        "load: closed-loop clients (one request in flight each) on {} client thread(s); {}s warm-up, then {}s measured per phase",
        opts.client_threads, opts.warmup, opts.seconds
    );
    let mut results = Vec::new();
    for &phase in &opts.phases {
        let (secs, n) = match phase {
            Phase::Floor => (opts.seconds.min(2.0), opts.clients),
            Phase::Get | Phase::Probe => (opts.seconds, read_clients),
            Phase::Upsert => (opts.seconds, opts.clients),
        };
        let (s, r) = run_phase(
            phase,
            &ctx,
            states,
            n,
            Duration::from_secs_f64(opts.warmup),
            Duration::from_secs_f64(secs),
            (server.pid, &server.log),
        )
        .await;
        states = s;
        results.push(r);
    }
    let (after, _) = health(&ctx.http, &base).await?;

    println!();
    println!(
        "{:<7} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6} {:>6} {:>6}",
        "phase",
        "clients",
        "requests",
        "req/s",
        "mean ms",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "errors",
        "cpu-sv",
        "cpu-bn"
    );
    let mut errors = 0;
    let mut verdicts = Vec::new();
    for r in &mut results {
        let s = stats(r);
        errors += r.tally.errors;
        println!(
            "{:<7} {:>7} {:>8} {:>8.0} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.1} {:>6} {:>5.0}% {:>5.0}%",
            r.phase.name(),
            r.clients,
            s.n,
            s.rps,
            s.mean,
            s.p50,
            s.p90,
            s.p99,
            s.max,
            r.tally.errors,
            r.cpu_server,
            r.cpu_bench
        );
        let check = |ok: bool| if ok { "met" } else { "MISSED" };
        match r.phase {
            Phase::Upsert => verdicts.push(format!(
                "upsert: {:.0} records/s (target >= {TARGET_UPSERT_RPS:.0}) {}, p99 {:.1} ms (target <= {TARGET_UPSERT_P99_MS} ms) {}",
                s.rps,
                check(s.rps >= TARGET_UPSERT_RPS),
                s.p99,
                check(s.p99 <= TARGET_UPSERT_P99_MS)
            )),
            Phase::Get => verdicts.push(format!(
                "get: p99 {:.2} ms (target <= {TARGET_GET_P99_MS} ms at 1M entities) {}",
                s.p99,
                check(s.p99 <= TARGET_GET_P99_MS)
            )),
            Phase::Probe => verdicts.push(format!(
                "probe: p99 {:.2} ms (target <= {TARGET_PROBE_P99_MS} ms) {}",
                s.p99,
                check(s.p99 <= TARGET_PROBE_P99_MS)
            )),
            Phase::Floor => {}
        }
    }
    println!("(cpu-sv, cpu-bn: CPU of the server and of this load generator over the measured window, % of one core; the machine has {} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get()));
    println!();
    for v in verdicts {
        println!("{v}");
    }
    for r in &results {
        let t = &r.tally;
        if r.phase == Phase::Upsert {
            let mix: Vec<String> = t
                .ops
                .iter()
                .map(|(op, n)| format!("{n} {}", op.name()))
                .collect();
            println!("upsert mix: {}", mix.join(", "));
            if let Some(b) = batch_summary(&r.log) {
                println!("upsert, server side: {b}");
            }
        }
        if r.phase == Phase::Probe && t.probes_parsed > 0 {
            println!(
                "probe: {:.1} candidates per answer on average, {} of {} sampled answers empty",
                t.candidates as f64 / t.probes_parsed as f64,
                t.probes_empty,
                t.probes_parsed
            );
        }
        let statuses: Vec<String> = t
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        println!("{} statuses: {}", r.phase.name(), statuses.join(", "));
        if t.errors > 0 {
            println!("{} errors ({}), e.g.:", r.phase.name(), t.errors);
            for m in &t.messages {
                println!("  {m}");
            }
        }
    }
    println!(
        "store after: {} records (was {})",
        after["records"], before["records"]
    );
    Ok(errors)
}
