//! Prepare-stage throughput: CSV read -> `ingest::map_record` -> `profile::build`, the work
//! `Engine::prepare` does before anything touches the store.
//!
//! Prints records/s and µs/record (wall clock, all cores; CPU time from /proc, coarse) for
//! (a) CSV parse only (sequential, as `goldrec ingest` reads), (b) `map_record` and
//! (c) `profile::build` (rayon over chunks of 20k, like the engine), and (d) the whole prepare
//! as `goldrec ingest` runs it: read a chunk, map + build it in parallel (handing the results
//! on to the store is not timed). Then prints blake3 hashes of every profile (serde_json, in
//! order) and of every mapped record and error, so output changes are caught.
//!
//! Environment: `GOLDREC_PREPARE_CSV` (default `/work/data/p100k_records.csv`),
//! `GOLDREC_PREPARE_CONFIG` (default `../shared/datasets/synth/goldrec.toml` when it exists,
//! else `benches/synth.toml`), `GOLDREC_PREPARE_SOURCE` (default `synth`),
//! `GOLDREC_PREPARE_RUNS` (best of N, default 3), `GOLDREC_PREPARE_WHOLE_ONLY` (if set, only
//! (d), e.g. to profile it), `GOLDREC_PREPARE_CHECK_PHONES` (if set, also
//! checks every phone of the feed against the `phonenumber`-only reference),
//! `GOLDREC_PREPARE_PER_ATTR` (if set, also times normalization per attribute, one thread).
//!
//! Run: `cargo bench --bench prepare`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use goldrec::config::{Config, Source};
use goldrec::ingest::{self, profile, Position, RawRecord, RecordError, SourceRecord};
use rayon::prelude::*;

/// Records per parallel chunk, as `goldrec ingest` batches them.
const CHUNK: usize = 20_000;

type Items = Vec<(Position, Result<RawRecord, String>)>;

fn config_path() -> PathBuf {
    if let Ok(p) = std::env::var("GOLDREC_PREPARE_CONFIG") {
        return p.into();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/datasets/synth/goldrec.toml");
    if shared.exists() {
        shared
    } else {
        root.join("benches/synth.toml")
    }
}

/// Process CPU time (user + system) from /proc, when available.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_micros(ticks * 10_000))
}

/// Runs `f` `runs` times and keeps the fastest wall time (with its CPU time) and the last output.
fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Option<Duration>, T) {
    let mut out = None;
    let mut best: Option<(Duration, Option<Duration>)> = None;
    for _ in 0..runs.max(1) {
        drop(out.take());
        let (c0, t0) = (cpu_time(), Instant::now());
        let v = f();
        let wall = t0.elapsed();
        let cpu = cpu_time().zip(c0).map(|(a, b)| a.saturating_sub(b));
        if best.is_none_or(|(w, _)| wall < w) {
            best = Some((wall, cpu));
        }
        out = Some(v);
    }
    let (wall, cpu) = best.expect("at least one run");
    (wall, cpu, out.expect("at least one run"))
}

fn report(stage: &str, n: usize, wall: Duration, cpu: Option<Duration>) {
    let us = wall.as_secs_f64() * 1e6 / n as f64;
    let cpu = cpu
        .map(|c| format!("{:>7.2} µs cpu/record", c.as_secs_f64() * 1e6 / n as f64))
        .unwrap_or_default();
    println!(
        "{stage:<22} {:>10.0} records/s {us:>7.2} µs/record {cpu}",
        n as f64 / wall.as_secs_f64()
    );
}

fn read_items(path: &Path, config: &Config, source: &str) -> Items {
    let file = std::fs::File::open(path).expect("open csv");
    let format = config.sources[source].format;
    ingest::read_payload(format, std::io::BufReader::new(file)).collect()
}

type Prepared = Vec<Result<(SourceRecord, profile::Profile), RecordError>>;

/// The engine's per-record work: map, then build the profile.
fn prepare_one(
    config: &Config,
    src: &Source,
    position: Position,
    raw: &Result<RawRecord, String>,
) -> Result<(SourceRecord, profile::Profile), RecordError> {
    let raw = raw.as_ref().map_err(|reason| RecordError {
        position,
        key: None,
        field: None,
        reason: reason.clone(),
    })?;
    let rec = ingest::map_record(config, src, position, raw)?;
    match profile::build(config, src, &rec) {
        Ok(p) => Ok((rec, p)),
        Err(f) => Err(RecordError {
            position,
            key: Some(rec.key),
            field: Some(f.field),
            reason: f.reason,
        }),
    }
}

/// Checks `normalize_phone` (fast paths) against the `phonenumber`-only reference on every
/// phone value of the feed.
fn check_phones(config: &Config, src: &Source, mapped: &[&SourceRecord]) {
    use goldrec::config::AttrKind;
    use goldrec::normalize::contact::{normalize_phone, normalize_phone_reference};
    let region = src.default_region.first().map(String::as_str);
    let phones: Vec<&str> = config
        .attributes
        .iter()
        .filter(|a| a.kind == AttrKind::Phone)
        .flat_map(|a| mapped.iter().filter_map(|r| r.values.get(&a.name)))
        .map(String::as_str)
        .collect();
    let per_value = |f: &dyn Fn(&str) -> Result<String, _>| {
        let t0 = Instant::now();
        phones.iter().for_each(|p| drop(std::hint::black_box(f(p))));
        t0.elapsed().as_secs_f64() * 1e6 / phones.len() as f64
    };
    per_value(&|p| normalize_phone(p, region)); // warm-up: metadata and pattern set-up
    let fast = per_value(&|p| normalize_phone(p, region));
    let reference = per_value(&|p| normalize_phone_reference(p, region));
    let mismatches: Vec<&str> = phones
        .par_iter()
        .filter(|p| normalize_phone(p, region) != normalize_phone_reference(p, region))
        .copied()
        .collect();
    println!(
        "phone check: {} values, {} mismatches {:?}; one thread: {fast:.2} us/value, \
         phonenumber only {reference:.2} us/value",
        phones.len(),
        mismatches.len(),
        &mismatches[..mismatches.len().min(10)],
    );
    assert!(mismatches.is_empty(), "phone fast path disagrees");
}

/// One thread, µs per value of `profile::normalize_value` for each attribute (after a warm-up
/// pass), to see where profile::build spends its time.
fn per_attribute(config: &Config, src: &Source, mapped: &[&SourceRecord]) {
    for a in &config.attributes {
        let (given, family) = (format!("{}.given", a.name), format!("{}.family", a.name));
        let inputs: Vec<(&str, Option<&str>, Option<&str>)> = mapped
            .iter()
            .filter_map(|r| {
                let v = r.values.get(&a.name)?;
                let part = |k: &String| r.values.get(k).map(String::as_str);
                Some((v.as_str(), part(&given), part(&family)))
            })
            .collect();
        let run = || {
            let t0 = Instant::now();
            for &(v, g, f) in &inputs {
                drop(std::hint::black_box(profile::normalize_value(
                    a.kind, v, g, f, src, None,
                )));
            }
            t0.elapsed().as_secs_f64() * 1e6 / inputs.len().max(1) as f64
        };
        run();
        println!(
            "  {:<12} {:?}: {:.3} us/value ({} values)",
            a.name,
            a.kind,
            run(),
            inputs.len()
        );
    }
}

fn main() {
    let csv = std::env::var("GOLDREC_PREPARE_CSV")
        .unwrap_or_else(|_| "/work/data/p100k_records.csv".to_string());
    let csv = PathBuf::from(csv);
    if !csv.exists() {
        println!(
            "prepare bench skipped: {} not found (set GOLDREC_PREPARE_CSV)",
            csv.display()
        );
        return;
    }
    let config_path = config_path();
    let config = Config::load(&config_path).expect("config loads");
    let source = std::env::var("GOLDREC_PREPARE_SOURCE").unwrap_or_else(|_| "synth".into());
    let src = config.sources.get(&source).expect("source in config");
    let runs: usize = std::env::var("GOLDREC_PREPARE_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    println!(
        "prepare bench: {} with {} (source {source}), {} threads, best of {runs}",
        csv.display(),
        config_path.display(),
        rayon::current_num_threads()
    );

    if std::env::var_os("GOLDREC_PREPARE_WHOLE_ONLY").is_none() {
        stages(runs, &csv, &config, &source);
    }
    whole(runs, &csv, &config, src);
}

/// Stages (a) to (c), each on the output of the one before.
fn stages(runs: usize, csv: &Path, config: &Config, source: &str) {
    let src = &config.sources[source];
    // (a) CSV parse only, sequential like `goldrec ingest`.
    let (wall, cpu, items) = best(runs, || read_items(csv, config, source));
    let n = items.len();
    report("(a) csv parse", n, wall, cpu);

    // (b) map_record on all cores, in chunks.
    let (wall, cpu, records) = best(runs, || {
        let mut out: Vec<Option<SourceRecord>> = Vec::with_capacity(n);
        for chunk in items.chunks(CHUNK) {
            out.par_extend(chunk.par_iter().map(|(pos, raw)| {
                raw.as_ref()
                    .ok()
                    .and_then(|raw| ingest::map_record(config, src, *pos, raw).ok())
            }));
        }
        out
    });
    report("(b) map_record", n, wall, cpu);

    let mapped: Vec<&SourceRecord> = records.iter().flatten().collect();
    if std::env::var_os("GOLDREC_PREPARE_CHECK_PHONES").is_some() {
        check_phones(config, src, &mapped);
    }
    if std::env::var_os("GOLDREC_PREPARE_PER_ATTR").is_some() {
        per_attribute(config, src, &mapped);
    }

    // (c) profile::build on all cores, in chunks.
    let (wall, cpu, built) = best(runs, || {
        let mut out = Vec::with_capacity(mapped.len());
        for chunk in mapped.chunks(CHUNK) {
            out.par_extend(
                chunk
                    .par_iter()
                    .map(|rec| profile::build(config, src, rec).ok()),
            );
        }
        out
    });
    report("(c) profile::build", mapped.len(), wall, cpu);
    drop((built, records, items));
}

/// Wall and CPU time summed over the timed sections of a run.
#[derive(Default)]
struct Stopwatch {
    wall: Duration,
    cpu: Option<Duration>,
    started: Option<(Instant, Option<Duration>)>,
}

impl Stopwatch {
    fn start(&mut self) {
        self.started = Some((Instant::now(), cpu_time()));
    }

    fn stop(&mut self) {
        if let Some((t0, c0)) = self.started.take() {
            self.wall += t0.elapsed();
            let cpu = cpu_time().zip(c0).map(|(a, b)| a.saturating_sub(b));
            self.cpu = cpu.map(|c| c + self.cpu.unwrap_or_default());
        }
    }
}

/// Streams the file through the engine's per-record work as `goldrec ingest` does: read a
/// chunk, map + build it on all cores (timed), then hand the chunk's results to `consume`
/// (untimed: `Engine::apply` consumes and drops them).
fn stream(
    csv: &Path,
    config: &Config,
    src: &Source,
    mut consume: impl FnMut(Prepared),
) -> Stopwatch {
    let mut watch = Stopwatch::default();
    watch.start();
    let file = std::fs::File::open(csv).expect("open csv");
    let mut rows = ingest::read_payload(src.format, std::io::BufReader::new(file));
    loop {
        let chunk: Items = rows.by_ref().take(CHUNK).collect();
        if chunk.is_empty() {
            break;
        }
        let out: Prepared = chunk
            .into_par_iter()
            .map(|(pos, raw)| prepare_one(config, src, pos, &raw))
            .collect();
        watch.stop();
        consume(out);
        watch.start();
    }
    watch.stop();
    watch
}

/// (d) the whole prepare, then (untimed) the output hashes.
fn whole(runs: usize, csv: &Path, config: &Config, src: &Source) {
    let (mut wall, mut cpu, mut n, mut errors) = (Duration::MAX, None, 0, 0);
    for _ in 0..runs.max(1) {
        (n, errors) = (0, 0);
        let watch = stream(csv, config, src, |out| {
            n += out.len();
            errors += out.iter().filter(|r| r.is_err()).count();
        });
        if watch.wall < wall {
            (wall, cpu) = (watch.wall, watch.cpu);
        }
    }
    report("(d) whole prepare", n, wall, cpu);
    println!("records {n}, rejected {errors}");

    let mut profiles = blake3::Hasher::new();
    let mut records = blake3::Hasher::new();
    stream(csv, config, src, |out| {
        for r in &out {
            match r {
                Ok((rec, p)) => {
                    profiles.update(&serde_json::to_vec(p).expect("profile serializes"));
                    profiles.update(b"\n");
                    records.update(&serde_json::to_vec(rec).expect("record serializes"));
                }
                Err(e) => {
                    records.update(&serde_json::to_vec(e).expect("error serializes"));
                }
            }
            records.update(b"\n");
        }
    });
    println!("profiles blake3 {}", profiles.finalize().to_hex());
    println!("records+errors blake3 {}", records.finalize().to_hex());
}
