//! A trained model is saved in the data directory and used by the next server.

use goldrec::engine::Engine;
use serde_json::json;

use crate::helpers::{config_for, spawn_app, spawn_app_in};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trained_model_is_saved_and_used_after_restart() {
    let app = spawn_app().await;
    app.ingest_fixtures().await;
    let probe = json!({"source": "crm", "record": {"full_name": "John Smith", "email": "john.smith@example.com"}});
    let before = app.probe(&probe).await.body;
    let dir = app.stop().await;

    let config = config_for(dir.path());
    let (model, summary) = tokio::task::spawn_blocking(move || {
        // sled may still be letting go of its file lock after the server stopped.
        let started = std::time::Instant::now();
        let engine = loop {
            match Engine::open(config.clone()) {
                Ok(e) => break e,
                Err(e) if started.elapsed() < std::time::Duration::from_secs(10) => {
                    let _ = e;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => panic!("engine does not open: {e}"),
            }
        };
        engine.train(20_000, 10).expect("training runs")
    })
    .await
    .unwrap();
    assert!(summary.random_pairs > 0, "{summary:?}");
    let default = goldrec::matching::Model::from_config(&config_for(dir.path()));
    let changed = model
        .comparisons
        .iter()
        .zip(&default.comparisons)
        .any(|(t, d)| {
            t.levels
                .iter()
                .zip(&d.levels)
                .any(|(a, b)| (a.u - b.u).abs() > 1e-9)
        });
    assert!(changed, "training changed no u");

    let app = spawn_app_in(dir).await;
    let after = app.probe(&probe).await.body;
    let weight = |b: &serde_json::Value| {
        b["candidates"][0]["explanation"]["match_weight"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(
        before["candidates"][0]["entity"], after["candidates"][0]["entity"],
        "{after}"
    );
    assert_ne!(
        weight(&before),
        weight(&after),
        "the server scores with the trained model"
    );
}
