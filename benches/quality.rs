//! Match quality at scale: generates a mixed-country customer base in the three bundled sources
//! (`common/customers.rs`: Chinese and US people, namesakes at Zipf-like name frequencies,
//! households, switchboards, recycled phones, every phone form...), loads it through the engine
//! with the bundled `config/goldrec.toml` in batches of `ingest.batch_size` per source (as
//! `goldrec ingest` does: the next batch is prepared while one is applied), and prints the
//! pairwise precision / recall / F1 (contingency counts over (entity, person) cells), the
//! entity-size distribution, the largest entities with their number of true people, and false
//! merges and missed pairs broken down by phenomenon.
//!
//! Run (release; 20k people take about a minute, 200k a few minutes):
//!
//! ```text
//! cargo bench --bench quality -- --people 20000
//! cargo bench --bench quality -- --people 200000 --seed 7 --out /tmp/feed --data-dir /tmp/data
//! ```
//!
//! Options: `--people N` (default 20000), `--seed S` (default 42; the data is a function of
//! both), `--out DIR` keeps the feed as `crm.csv`, `webshop.ndjson`, `support.csv` and the truth
//! `clusters.csv` (`record,cluster`), `--data-dir DIR` keeps the data directory (it must be
//! empty), `--show N` prints how many missed pairs reach the link weight and how many false
//! merges are direct links, how many missed pairs fall in the review band, and N sampled pairs
//! of each (missed at the link weight, false merges, missed in the review band) with their
//! explanation. With both, the CLI gives the same figures:
//!
//! ```text
//! goldrec --data-dir D ingest -s crm DIR/crm.csv
//! goldrec --data-dir D ingest -s webshop DIR/webshop.ndjson
//! goldrec --data-dir D ingest -s support DIR/support.csv
//! goldrec --data-dir D eval --clusters DIR/clusters.csv
//! ```
//!
//! (`goldrec eval` counts only stored records; this bench also counts the records the engine
//! rejects, as entities of their own, and says how many there were.)

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[path = "common/customers.rs"]
mod customers;

use goldrec::config::Config;
use goldrec::engine::{Change, Engine};
use goldrec::ingest;
use goldrec::ingest::profile::Profile;
use goldrec::matching::weight_of;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Loads one source file through the engine; returns the rejection reasons seen (reason, count).
fn load(
    engine: &Engine,
    source: &str,
    file: &Path,
    batch: usize,
    rejected: &mut HashMap<String, usize>,
    profiles: &mut HashMap<String, Profile>,
) -> anyhow::Result<()> {
    let format = engine.config.sources[source].format;
    let mut items = ingest::read_payload(format, std::fs::File::open(file)?);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Change>>(1);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let writer = scope.spawn(|| -> anyhow::Result<()> {
            for changes in rx {
                engine.apply(changes)?;
            }
            Ok(())
        });
        loop {
            let chunk: Vec<_> = items.by_ref().take(batch).collect();
            if chunk.is_empty() {
                break;
            }
            let mut changes = Vec::with_capacity(chunk.len());
            for (_, c) in engine.prepare(source, chunk)? {
                match c {
                    Ok(c) => {
                        if let Change::Upsert(r, p) = &c {
                            profiles.insert(r.key.clone(), p.clone());
                        }
                        changes.push(c)
                    }
                    Err(e) => {
                        let reason = format!(
                            "{source}.{}: {}",
                            e.field.as_deref().unwrap_or("-"),
                            e.reason.split(':').next().unwrap_or("")
                        );
                        *rejected.entry(reason).or_default() += 1;
                    }
                }
            }
            if tx.send(changes).is_err() {
                break;
            }
        }
        drop(tx);
        writer.join().expect("writer thread")
    })
}

/// Two feed records by index.
type Pair = (usize, usize);

/// Prints `n` sampled missed pairs (one person, two entities) and `n` sampled false-merge pairs
/// (two people, one entity), each with both records' fields and the model's explanation.
fn show_pairs(
    o: &mut impl Write,
    feed: &customers::Feed,
    engine: &Engine,
    profiles: &HashMap<String, Profile>,
    n: usize,
    seed: u64,
) -> anyhow::Result<()> {
    let entity_of = customers::entities_in(feed, engine)?;
    let mut missed = Vec::new();
    let mut merged = Vec::new();
    let mut by_person: HashMap<u32, Vec<usize>> = HashMap::new();
    let mut by_entity: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, r) in feed.records.iter().enumerate() {
        by_person.entry(r.person).or_default().push(i);
        if let Some(e) = entity_of[i] {
            by_entity.entry(e).or_default().push(i);
        }
    }
    for m in by_person.values() {
        for (x, &i) in m.iter().enumerate() {
            for &j in &m[x + 1..] {
                if entity_of[i].is_some() && entity_of[i] != entity_of[j] {
                    missed.push((i, j));
                }
            }
        }
    }
    for m in by_entity.values() {
        for (x, &i) in m.iter().enumerate() {
            for &j in &m[x + 1..] {
                if feed.records[i].person != feed.records[j].person {
                    merged.push((i, j));
                }
            }
        }
    }
    missed.sort_unstable();
    merged.sort_unstable();
    // Split by whether the pair's own decision weight reaches the link weight: a missed pair
    // that does was lost by blocking or clustering, not by its evidence; a false-merge pair
    // that does not was joined through other records.
    let link = weight_of(engine.model.link_threshold);
    let strong = |&(i, j): &(usize, usize)| {
        let (a, b) = (&feed.records[i].key, &feed.records[j].key);
        matches!((profiles.get(a), profiles.get(b)), (Some(a), Some(b)) if engine.model.weight(a, b) >= link)
    };
    let (missed_strong, missed_weak): (Vec<Pair>, Vec<Pair>) =
        missed.iter().partition(|p| strong(p));
    let (merged_direct, merged_through): (Vec<Pair>, Vec<Pair>) =
        merged.iter().partition(|p| strong(p));
    writeln!(
        o,
        "missed pairs: {} at or above the link weight, {} below; false-merge pairs: {} at or above, {} below (joined through others)",
        missed_strong.len(),
        missed_weak.len(),
        merged_direct.len(),
        merged_through.len()
    )?;
    // Missed pairs in the review band: evidence a steward would weigh, below the link weight.
    let review = weight_of(engine.model.review_threshold);
    let band: Vec<Pair> = missed_weak
        .iter()
        .copied()
        .filter(|&(i, j)| {
            let (a, b) = (&feed.records[i].key, &feed.records[j].key);
            matches!((profiles.get(a), profiles.get(b)), (Some(a), Some(b)) if engine.model.weight(a, b) >= review)
        })
        .collect();
    writeln!(
        o,
        "missed pairs below the link weight in the review band: {}",
        band.len()
    )?;
    let missed = missed_strong;
    let mut state = seed | 1;
    let mut pick = |len: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % len.max(1) as u64) as usize
    };
    for (title, pairs) in [
        ("missed at the link weight", &missed),
        ("false merge", &merged),
        ("missed in the review band", &band),
    ] {
        for _ in 0..n.min(pairs.len()) {
            let (i, j) = pairs[pick(pairs.len())];
            let (a, b) = (&feed.records[i], &feed.records[j]);
            writeln!(o, "--- {title}: person {} / {}", a.person, b.person)?;
            for r in [a, b] {
                let fields: Vec<String> =
                    r.fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                writeln!(
                    o,
                    "  {} [{}] {}",
                    r.key,
                    customers::SOURCES[r.source],
                    fields.join(" | ")
                )?;
            }
            if title != "false merge" {
                // Where each side ended up: the other members of its entity, by person.
                for (x, partner) in [(i, j), (j, i)] {
                    let others: Vec<String> = entity_of[x]
                        .and_then(|e| by_entity.get(&e))
                        .into_iter()
                        .flatten()
                        .filter(|&&y| y != i && y != j)
                        .map(|&y| {
                            let r = &feed.records[y];
                            let w = |z: usize| match (
                                profiles.get(&feed.records[z].key),
                                profiles.get(&r.key),
                            ) {
                                (Some(p), Some(q)) => engine.model.weight(p, q),
                                _ => f64::NAN,
                            };
                            format!(
                                "{} (person {}, weight {:.1}; with {} {:.1})",
                                r.key,
                                r.person,
                                w(x),
                                feed.records[partner].key,
                                w(partner)
                            )
                        })
                        .collect();
                    if !others.is_empty() {
                        writeln!(
                            o,
                            "  {} is with: {}",
                            feed.records[x].key,
                            others.join(", ")
                        )?;
                    }
                }
            }
            if let (Some(pa), Some(pb)) = (profiles.get(&a.key), profiles.get(&b.key)) {
                let e = engine.model.explain(pa, pb);
                let parts: Vec<String> = e
                    .comparisons
                    .iter()
                    .filter_map(|c| {
                        c.level
                            .as_ref()
                            .map(|l| format!("{}={l}({:+.1})", c.comparison, c.weight))
                    })
                    .collect();
                writeln!(
                    o,
                    "  weight {:.1} decision {:.1} (prior {:.1}) {}",
                    e.match_weight,
                    e.decision_weight,
                    e.prior_weight,
                    parts.join(" ")
                )?;
            }
        }
    }
    Ok(())
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
    let people: usize = arg(&args, "--people").map_or(Ok(20_000), |v| v.parse())?;
    let seed: u64 = arg(&args, "--seed").map_or(Ok(42), |v| v.parse())?;
    let scratch = tempfile::tempdir()?;
    let out = arg(&args, "--out").map_or_else(|| scratch.path().join("feed"), PathBuf::from);

    let t = Instant::now();
    let feed = customers::generate(people, seed);
    let gen_secs = t.elapsed().as_secs_f64();
    customers::write_files(&feed, &out)?;
    eprintln!(
        "generated {} records of {people} people in {gen_secs:.2}s (seed {seed}); feed in {}",
        feed.records.len(),
        out.display()
    );

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut config = Config::load(&root.join("config/goldrec.toml"))?;
    config.data_dir =
        arg(&args, "--data-dir").map_or_else(|| scratch.path().join("data"), PathBuf::from);
    let batch = config.batch_size;
    let engine = Engine::open(config.for_offline())?;
    let started = Instant::now();
    let mut rejected: HashMap<String, usize> = HashMap::new();
    let mut profiles: HashMap<String, Profile> = HashMap::new();
    for (source, file) in [
        ("crm", "crm.csv"),
        ("webshop", "webshop.ndjson"),
        ("support", "support.csv"),
    ] {
        let t = Instant::now();
        load(
            &engine,
            source,
            &out.join(file),
            batch,
            &mut rejected,
            &mut profiles,
        )?;
        eprintln!("loaded {source} in {:.1}s", t.elapsed().as_secs_f64());
    }
    let secs = started.elapsed().as_secs_f64();
    engine.close()?;

    let q = customers::score(&feed, &customers::entities_in(&feed, &engine)?);

    let mut o = std::io::stdout().lock();
    writeln!(
        o,
        "quality: {people} people, {} records, ingest {secs:.1}s ({:.0} records/s)",
        feed.records.len(),
        feed.records.len() as f64 / secs
    )?;
    write!(o, "{}", q.render())?;
    let (link, review) = (
        weight_of(engine.model.link_threshold),
        weight_of(engine.model.review_threshold),
    );
    writeln!(
        o,
        "recall ceiling of the evidence (same-person pairs joined where their weight reaches it, no false merges): {:.4} at the link weight, {:.4} at the review weight",
        customers::recall_ceiling(&feed, &profiles, &engine.model, link),
        customers::recall_ceiling(&feed, &profiles, &engine.model, review),
    )?;
    if let Some(n) = arg(&args, "--show")
        .map(|v| v.parse::<usize>())
        .transpose()?
    {
        show_pairs(&mut o, &feed, &engine, &profiles, n, seed)?;
    }
    if !rejected.is_empty() {
        let mut r: Vec<_> = rejected.into_iter().collect();
        r.sort_by_key(|b| std::cmp::Reverse(b.1));
        writeln!(o, "rejected records by reason:")?;
        for (reason, n) in r.iter().take(10) {
            writeln!(o, "  {reason:<60} {n:>7}")?;
        }
    }
    Ok(())
}
