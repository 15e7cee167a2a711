//! Long crash test: `cargo bench --bench crash -- --cycles 50 [--writers 8] [--seed 1]`.
//! Kills the real server with SIGKILL at random points under concurrent writers, restarts it
//! and checks every acknowledged record, the index, the feed and the export; prints cycles and
//! losses. CI runs the short version (`tests/api/crash.rs`).

#[path = "../tests/api/crash_loop.rs"]
mod crash_loop;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let (cycles, writers, seed) = (arg("--cycles", 20), arg("--writers", 8), arg("--seed", 1));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let report = rt.block_on(crash_loop::run(
        std::path::Path::new(env!("CARGO_BIN_EXE_goldrec")),
        &crash_loop::bundled_config(),
        cycles as usize,
        writers as usize,
        seed,
    ));
    println!(
        "crash test: {} cycles, {} acknowledged records, {} checks, {} lost",
        report.cycles, report.acknowledged, report.checks, report.lost
    );
    if report.lost > 0 {
        std::process::exit(1);
    }
}
