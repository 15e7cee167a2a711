//! Scoring path: candidate pairs scored per second (criterion), on profiles normalized from
//! the bundled fixtures, every pair against every other.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use goldrec::config::Config;
use goldrec::ingest::{self, profile::Profile};
use goldrec::matching::Model;

fn profiles(config: &Config) -> Vec<Profile> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for (source, file) in [
        ("crm", "crm.csv"),
        ("webshop", "webshop.ndjson"),
        ("support", "support.csv"),
    ] {
        let src = &config.sources[source];
        let f = std::fs::File::open(root.join("fixtures").join(file)).expect("fixture");
        for (pos, raw) in ingest::read_payload(src.format, f) {
            let raw = raw.expect("fixture parses");
            let rec = ingest::map_record(config, src, pos, &raw).expect("fixture maps");
            out.push(ingest::profile::build(config, src, &rec).expect("fixture normalizes"));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let config = Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/goldrec.toml"))
        .expect("config");
    let model = Model::from_config(&config);
    let ps = profiles(&config);
    let pairs: Vec<(usize, usize)> = (0..ps.len())
        .flat_map(|i| (0..ps.len()).map(move |j| (i, j)))
        .filter(|(i, j)| i != j)
        .collect();
    let mut g = c.benchmark_group("scoring");
    g.throughput(Throughput::Elements(pairs.len() as u64));
    g.bench_function("pairs", |b| {
        b.iter(|| {
            let mut total = 0.0;
            for &(i, j) in &pairs {
                total += model.weight(&ps[i], &ps[j]);
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
