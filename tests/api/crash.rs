//! The short crash test CI runs: three SIGKILLs of the real server at random points under
//! concurrent writers, nothing acknowledged lost (the long run: `cargo bench --bench crash`).

#[path = "crash_loop.rs"]
mod crash_loop;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_at_random_points_under_load_loses_no_acknowledged_write() {
    // 3 cycles in CI; `CRASH_CYCLES=N` for more.
    let cycles = std::env::var("CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let report = crash_loop::run(
        std::path::Path::new(env!("CARGO_BIN_EXE_goldrec")),
        &crash_loop::bundled_config(),
        cycles,
        4,
        7,
    )
    .await;
    println!("crash test: {report:?}");
    assert_eq!(report.cycles, cycles);
    assert!(
        report.acknowledged > 0,
        "writes were acknowledged between kills"
    );
    assert_eq!(report.lost, 0, "{report:?}");
}
