//! The `goldrec` command line: serve, keys, ingest, export, reindex, eval.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};

use goldrec::config::{Config, ConfigError, DEFAULT_CONFIG_PATH};
use goldrec::engine::{Change, Engine, Summary};
use goldrec::ingest::{self, RecordError};

/// goldrec: source feeds in, golden customer records with lineage out.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file.
    #[arg(long, short, global = true, default_value = DEFAULT_CONFIG_PATH)]
    config: PathBuf,
    /// Data directory (overrides `server.data_dir`).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API.
    Serve {
        /// Listen address (overrides `server.listen`).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Create, list and revoke API keys (in `<data_dir>/keys.json`; a running server picks
    /// the change up on its next request).
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Load files of one source (CSV, NDJSON or JSON as the source's format says), into the
    /// data directory, or with --server into a running server over HTTP.
    Ingest {
        /// Source name, as configured.
        #[arg(long, short)]
        source: String,
        /// Files to load.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// Send the records to this running server (e.g. http://127.0.0.1:8080) instead of
        /// opening the data directory.
        #[arg(long)]
        server: Option<String>,
        /// API key for --server (an ingest key for the source, or admin); default: the
        /// GOLDREC_KEY environment variable.
        #[arg(long)]
        key: Option<String>,
    },
    /// Write all golden records.
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Ndjson)]
        format: ExportFormat,
        /// Include lineage of every golden value (NDJSON only).
        #[arg(long)]
        lineage: bool,
        /// Only entities whose consent for this purpose (declared in [consent] purposes) is
        /// granted.
        #[arg(long)]
        purpose: Option<String>,
        /// Only members of this segment (declared in [classification.segments]).
        #[arg(long)]
        segment: Option<String>,
        /// Output file (default: standard output).
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Copy the data directory (store, index, keys) into DIR, which must be absent or empty.
    /// Offline: stop the server first (it holds the directory).
    Backup {
        /// Target directory.
        dir: PathBuf,
        /// A server holding the data directory backs it up itself (consistent, while it keeps
        /// serving): its URL, default the one in `<data_dir>/server.json`.
        #[arg(long)]
        server: Option<String>,
        /// Admin API key for a server-side backup; default: the GOLDREC_KEY environment
        /// variable.
        #[arg(long)]
        key: Option<String>,
    },
    /// Restore a backup into the data directory, which must be absent or empty.
    Restore {
        /// Directory written by `goldrec backup`.
        dir: PathBuf,
    },
    /// Rotate the key-encryption key: the data key is re-wrapped under the key in FILE (made
    /// with a fresh key when absent), the data itself is not rewritten. Offline. Then point
    /// `[encryption] key_file` (or `GOLDREC_DATA_KEY`) at the new key and destroy the old one.
    RotateKey {
        /// The new key file (64 hex digits); must lie outside the data directory.
        #[arg(long)]
        new_key_file: PathBuf,
    },
    /// Rewrite the store with only its live contents, under a new data key, and rebuild the
    /// index: after an erasure, no copy of the erased values stays readable. Offline.
    Compact,
    /// Rebuild the blocking index from the store.
    Reindex,
    /// Recompute every customer's classification ([classification]): time moves customers
    /// between recency bands and lifecycle stages, so run it daily.
    Reclassify,
    /// Upkeep report of the customer file (JSON): completeness and freshness per source and
    /// attribute, records not updated for [upkeep] stale_after, customers to re-verify.
    QualityData {
        /// Customers to re-verify listed (the total is always counted).
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Match every stored record again with the current (e.g. newly trained) model. Entity ids
    /// are reassigned.
    Rematch,
    /// Learn m and u from the stored records (u from random pairs, m by EM over blocked pairs)
    /// and save the model for serve and ingest.
    Train {
        /// Random record pairs sampled for u.
        #[arg(long, default_value_t = 1_000_000)]
        random_pairs: usize,
        /// Most EM iterations.
        #[arg(long, default_value_t = 25)]
        iterations: usize,
    },
    /// Pairwise precision, recall and F1 of the stored entities against a truth file, with
    /// blocking recall and the worst errors explained; with --report (truth optional), entity
    /// sizes and the largest entities, to see over-merging at a glance.
    Eval {
        /// CSV of true pairs (two record keys per row, header first).
        #[arg(long, required_unless_present_any = ["clusters", "report"])]
        truth: Option<PathBuf>,
        /// CSV of cluster labels instead (`record,cluster` per row, header first).
        #[arg(long, conflicts_with = "truth")]
        clusters: Option<PathBuf>,
        /// Missed matches and false merges shown.
        #[arg(long, default_value_t = 10)]
        examples: usize,
        /// Also sweep thresholds over all blocked pairs.
        #[arg(long)]
        sweep: bool,
        /// Write the sweep as an SVG chart here (implies --sweep).
        #[arg(long)]
        svg: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Also report entity sizes and the largest entities with their distinct names and
        /// birth dates (no truth file needed).
        #[arg(long)]
        report: bool,
        /// Largest entities listed by --report.
        #[arg(long, default_value_t = 10)]
        largest: usize,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Create a key; the key itself is printed once, alone on the last line of stdout.
    Create {
        /// Unique name (names the key's holder).
        #[arg(long)]
        name: String,
        /// What the key may do.
        #[arg(long, value_enum)]
        role: goldrec::auth::Role,
        /// Sources an ingest key may write, comma-separated.
        #[arg(long, value_delimiter = ',')]
        sources: Vec<String>,
        /// The key may see personal data unmasked.
        #[arg(long)]
        pii: bool,
    },
    /// List keys (never the keys themselves).
    List,
    /// Revoke a key by id or name; a running server refuses it from its next request.
    Revoke {
        /// Id or name of the key.
        key: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportFormat {
    Ndjson,
    Csv,
}

/// Errors are printed on one line (the causes joined with ": "), never as a multi-line
/// report with a backtrace.
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("goldrec: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "goldrec=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    // One line naming the file and the key: `path: invalid config: key: reason (line, column)`.
    let mut config = Config::load(&cli.config).map_err(|e| match e {
        ConfigError::Io { .. } => anyhow::anyhow!(e),
        other => anyhow::anyhow!("{}: {other}", cli.config.display()),
    })?;
    if let Some(d) = cli.data_dir {
        config.data_dir = d;
    }
    if !matches!(cli.command, Command::Serve { .. }) {
        config = config.for_offline();
    }
    match cli.command {
        Command::Serve { listen } => {
            if let Some(l) = listen {
                config.listen = l.parse().with_context(|| format!("--listen {l:?}"))?;
            }
            serve(config)
        }
        Command::Keys { action } => keys(&config, action),
        Command::Backup { dir, server, key } => {
            let key = key.or_else(|| std::env::var(KEY_ENV).ok());
            let server = match server {
                Some(url) => Some(url),
                None => match Engine::open(config.clone()) {
                    Ok(engine) => {
                        let m = goldrec::backup::backup(&engine, &dir)?;
                        eprintln!(
                            "backed up {} records, {} entities, change sequence {} into {}",
                            m.records,
                            m.entities,
                            m.last_change,
                            dir.display()
                        );
                        return Ok(());
                    }
                    Err(e) if held_by_another_process(&e) => {
                        match (server_file::read(&config.data_dir), &key) {
                            (Some(s), Some(_)) => Some(s.url),
                            _ => bail!(
                                "{}; for a backup while it runs: `goldrec backup DIR --server URL --key ADMIN_KEY`",
                                held_message(&config.data_dir)
                            ),
                        }
                    }
                    Err(e) => {
                        return Err(anyhow::Error::new(e).context(format!(
                            "opening data directory {}",
                            config.data_dir.display()
                        )))
                    }
                },
            };
            let url = server.expect("a server by now");
            let key = key.with_context(|| {
                format!("a server-side backup needs an admin key: give --key or set {KEY_ENV}")
            })?;
            let m = remote::backup(&url, &key, &dir)?;
            eprintln!(
                "backed up {} records, {} entities, change sequence {} into {}",
                m.records,
                m.entities,
                m.last_change,
                dir.display()
            );
            Ok(())
        }
        Command::Restore { dir } => {
            let data = config.data_dir.clone();
            let m = goldrec::backup::restore(config, &dir)?;
            eprintln!(
                "restored {} records, {} entities, change sequence {} (backup of {}) into {}",
                m.records,
                m.entities,
                m.last_change,
                m.created_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                data.display()
            );
            Ok(())
        }
        Command::Ingest {
            source,
            files,
            quiet,
            server,
            key,
        } => {
            let key = key.or_else(|| std::env::var(KEY_ENV).ok());
            match server {
                Some(url) => {
                    let key = key.with_context(|| {
                        format!("--server needs an API key: give --key or set {KEY_ENV}")
                    })?;
                    remote::ingest(&config, &url, &key, &source, &files, quiet)
                }
                None => ingest_files(config, &source, &files, quiet, key),
            }
        }
        Command::Export {
            format,
            lineage,
            purpose,
            segment,
            out,
        } => export(config, format, lineage, purpose, segment, out),
        Command::Train {
            random_pairs,
            iterations,
        } => {
            let engine = open(config)?;
            let t = Instant::now();
            let (model, summary) = engine.train(random_pairs, iterations)?;
            println!(
                "trained on {} random pairs in {:.1}s",
                summary.random_pairs,
                t.elapsed().as_secs_f64()
            );
            for r in &summary.rules {
                println!(
                    "  rule {:<28} {:>8} pairs, {:>2} iterations, match share {:.4}",
                    r.rule, r.pairs, r.iterations, r.match_share
                );
            }
            println!(
                "{:<20} {:<32} {:>10} {:>12} {:>8}",
                "comparison", "level", "m", "u", "weight"
            );
            for c in &model.comparisons {
                for (i, l) in c.levels.iter().enumerate() {
                    println!(
                        "{:<20} {:<32} {:>10.5} {:>12.7} {:>8.2}",
                        c.label,
                        l.name,
                        l.m,
                        l.u,
                        c.weight(i as u8)
                    );
                }
            }
            Ok(())
        }
        Command::Rematch => {
            let engine = open(config)?;
            let t = Instant::now();
            let n = engine.rematch()?;
            engine.close()?;
            eprintln!(
                "re-matched {n} records in {:.1}s",
                t.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::RotateKey { new_key_file } => {
            let dir = &config.data_dir;
            let enc = &config.encryption;
            let old = enc.load_kek(dir, false)?;
            let new = goldrec::crypto::load_key_file(&new_key_file, dir, true)?;
            if *new == *old {
                anyhow::bail!(
                    "{} holds the current key: name a new file",
                    new_key_file.display()
                );
            }
            let store =
                goldrec::store::Store::open(&dir.join("sled"), enc, dir, config.ingest_cache_mb)
                    .with_context(|| format!("opening data directory {}", dir.display()))?;
            store.rewrap_data_key(&old, &new)?;
            eprintln!(
                "the data key of {} is now wrapped by the key in {}: set [encryption] key_file to it (or GOLDREC_DATA_KEY to its content) and destroy the old key",
                dir.display(),
                new_key_file.display()
            );
            Ok(())
        }
        Command::Compact => {
            let t = Instant::now();
            let c = goldrec::store::compact::compact(&config).with_context(|| {
                format!("compacting data directory {}", config.data_dir.display())
            })?;
            let engine = open(config)?;
            engine.close()?;
            eprintln!(
                "compacted the store from {:.1} MB to {:.1} MB under a new data key and rebuilt the index in {:.1}s",
                c.before as f64 / 1e6,
                c.after as f64 / 1e6,
                t.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Reclassify => {
            let engine = open(config)?;
            let t = Instant::now();
            let n = engine.reclassify_all()?;
            engine.close()?;
            eprintln!(
                "reclassified: {n} customers changed in {:.1}s",
                t.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::QualityData { limit } => {
            let engine = open(config)?;
            let now = chrono::Utc::now().timestamp_millis();
            let report = goldrec::upkeep::report(&engine, now, None, limit)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Reindex => {
            let engine = open(config)?;
            let t = Instant::now();
            let n = engine.reindex()?;
            engine.close()?;
            eprintln!("reindexed {n} records in {:.1}s", t.elapsed().as_secs_f64());
            Ok(())
        }
        Command::Eval {
            truth,
            clusters,
            examples,
            sweep,
            svg,
            json,
            report: entity_report,
            largest,
        } => {
            let engine = open(config)?;
            let pairs = match (truth, clusters) {
                (Some(t), _) => goldrec::eval::read_truth_pairs(&t)?,
                (None, Some(c)) => goldrec::eval::read_truth_clusters(&c)?,
                (None, None) if entity_report => {
                    let r = goldrec::eval::entity_report(&engine, largest)?;
                    if json {
                        println!("{}", serde_json::to_string_pretty(&r)?);
                    } else {
                        print!("{}", goldrec::eval::render_entity_report(&r));
                    }
                    return Ok(());
                }
                (None, None) => bail!("give --truth, --clusters or --report"),
            };
            let mut report =
                goldrec::eval::evaluate(&engine, &pairs, examples, sweep || svg.is_some())?;
            if entity_report {
                report.entities = Some(goldrec::eval::entity_report(&engine, largest)?);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", goldrec::eval::render_text(&report));
                if let Some(r) = &report.entities {
                    print!("\n{}", goldrec::eval::render_entity_report(r));
                }
            }
            if let (Some(path), Some(rows)) = (svg, &report.sweep) {
                std::fs::write(&path, goldrec::eval::sweep_svg(rows))
                    .with_context(|| format!("writing {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
            Ok(())
        }
    }
}

/// The environment variable holding the API key of `ingest --server`.
const KEY_ENV: &str = "GOLDREC_KEY";

/// Opens the engine. A data directory a running server holds (sled's lock) is said in one
/// line naming the way out, not as a raw storage error.
fn open(config: Config) -> anyhow::Result<Engine> {
    let dir = config.data_dir.clone();
    Engine::open(config).map_err(|e| {
        if held_by_another_process(&e) {
            anyhow::anyhow!("{}", held_message(&dir))
        } else {
            anyhow::Error::new(e).context(format!("opening data directory {}", dir.display()))
        }
    })
}

/// Whether opening failed because another process (a server) holds the store's lock.
fn held_by_another_process(e: &goldrec::engine::EngineError) -> bool {
    use goldrec::blocking::IndexError;
    use goldrec::engine::EngineError;
    use goldrec::store::StoreError;
    use tantivy::directory::error::LockError;
    use tantivy::TantivyError;
    match e {
        EngineError::Store(StoreError::Sled {
            source: sled::Error::Io(io),
            ..
        }) => io.to_string().contains("could not acquire lock"),
        // The blocking index's writer lock: the process holding it may be past sled's lock
        // (a server still closing, which releases sled before the index).
        EngineError::Index(IndexError::Tantivy {
            source: TantivyError::LockFailure(LockError::LockBusy, _),
            ..
        }) => true,
        _ => false,
    }
}

/// One line: who holds the data directory and what to do instead.
fn held_message(dir: &std::path::Path) -> String {
    match server_file::read(dir) {
        Some(s) => format!(
            "the data directory {} is held by a running goldrec server ({}, pid {}): stop it first, or go through it: `goldrec ingest --server {} --key KEY --source S FILE` (or {KEY_ENV}=KEY) for loads, its HTTP API otherwise",
            dir.display(),
            s.url,
            s.pid,
            s.url
        ),
        None => format!(
            "the data directory {} is held by another goldrec process (a running server?): stop it first, or load through the server with `goldrec ingest --server URL --key KEY --source S FILE`",
            dir.display()
        ),
    }
}

/// `<data_dir>/server.json`: where a running server listens, written when `serve` starts
/// listening and removed at its clean shutdown, so `goldrec ingest` on a held data directory
/// can send its records there instead. A server killed hard leaves it behind; it is only read
/// when the data directory is found held.
mod server_file {
    use std::path::{Path, PathBuf};

    use serde::{Deserialize, Serialize};

    /// What the file says.
    #[derive(Serialize, Deserialize)]
    pub struct ServerFile {
        /// Base URL of the API (loopback when the server listens on every address).
        pub url: String,
        /// The server's process id.
        pub pid: u32,
    }

    fn path(dir: &Path) -> PathBuf {
        dir.join("server.json")
    }

    /// Writes the file for a server listening on `addr` (atomically: temporary file, rename).
    pub fn write(dir: &Path, addr: std::net::SocketAddr) -> std::io::Result<()> {
        let host = match addr.ip() {
            std::net::IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
            std::net::IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_string(),
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        };
        let f = ServerFile {
            url: format!("http://{host}:{}", addr.port()),
            pid: std::process::id(),
        };
        let tmp = dir.join("server.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(&f).expect("serializes"))?;
        std::fs::rename(tmp, path(dir))
    }

    /// Reads the file, if there is a readable one.
    pub fn read(dir: &Path) -> Option<ServerFile> {
        serde_json::from_slice(&std::fs::read(path(dir)).ok()?).ok()
    }

    /// Removes the file (clean shutdown).
    pub fn remove(dir: &Path) {
        let _ = std::fs::remove_file(path(dir));
    }
}

fn keys(config: &Config, action: KeysAction) -> anyhow::Result<()> {
    use goldrec::auth;
    let dir = &config.data_dir;
    match action {
        KeysAction::Create {
            name,
            role,
            sources,
            pii,
        } => {
            if let Some(s) = sources.iter().find(|s| !config.sources.contains_key(*s)) {
                bail!("unknown source {s:?}");
            }
            let (entry, key) = auth::create(
                dir,
                auth::NewKey {
                    name,
                    role,
                    sources,
                    pii,
                },
            )?;
            eprintln!(
                "created key {} ({}, role {}); it is shown only this once:",
                entry.id,
                entry.name,
                entry.role.as_str()
            );
            println!("{key}");
        }
        KeysAction::List => {
            println!(
                "{:<14} {:<24} {:<8} {:<5} {:<20} {:<26} revoked",
                "id", "name", "role", "pii", "sources", "created"
            );
            for k in auth::list(dir)? {
                println!(
                    "{:<14} {:<24} {:<8} {:<5} {:<20} {:<26} {}",
                    k.id,
                    k.name,
                    k.role.as_str(),
                    k.pii,
                    k.sources.join(","),
                    k.created_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    k.revoked_at
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                        .unwrap_or_else(|| "-".into())
                );
            }
        }
        KeysAction::Revoke { key } => {
            let k = auth::revoke(dir, &key)?;
            eprintln!("revoked key {} ({})", k.id, k.name);
        }
    }
    Ok(())
}

/// Makes sure an admin key exists before serving: the one in `GOLDREC_ADMIN_KEY`, or else,
/// when the data directory has no active admin key, a new one printed once on stdout.
fn admin_key(config: &Config) -> anyhow::Result<()> {
    use goldrec::auth;
    let dir = &config.data_dir;
    match std::env::var(auth::ADMIN_KEY_ENV) {
        Ok(key) => auth::ensure_env_admin(dir, &key)?,
        Err(_) => {
            if let Some(key) = auth::bootstrap_admin(dir)? {
                eprintln!(
                    "no admin key in {}: created key \"bootstrap-admin\"; it is shown only this once (below), keep it:",
                    auth::keys_path(dir).display()
                );
                println!("{key}");
            }
        }
    }
    Ok(())
}

fn serve(config: Config) -> anyhow::Result<()> {
    let listen = config.listen;
    admin_key(&config)?;
    let data_dir = config.data_dir.clone();
    let engine = Arc::new(open(config)?);
    if engine.optimize_index()? {
        tracing::info!("merging the blocking index's segments in the background");
    }
    let rt = tokio::runtime::Runtime::new()?;
    let tls = engine.config.tls.clone();
    rt.block_on(async move {
        let router = goldrec::api::router(engine.clone())?;
        let served = match tls {
            None => {
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("binding {listen}"))?;
                let addr = listener.local_addr()?;
                tracing::info!(%addr, "goldrec listening");
                if let Err(e) = server_file::write(&data_dir, addr) {
                    tracing::warn!(error = %e, "cannot write server.json: `goldrec ingest` will not find this server");
                }
                axum::serve(listener, router)
                    .with_graceful_shutdown(async {
                        shutdown_signal().await;
                    })
                    .await
                    .map_err(anyhow::Error::from)
            }
            // No server.json: the CLI's client speaks plain HTTP only.
            Some((cert, key)) => serve_tls(listen, &cert, &key, router).await,
        };
        let closed = engine.close();
        server_file::remove(&data_dir);
        served?;
        closed?;
        Ok(())
    })
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM (what service managers send): the server then
/// finishes the requests in flight and closes the engine.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Serves HTTPS only (rustls, TLS 1.2 and 1.3, ring) with the PEM files named in the config;
/// stops on Ctrl-C after the requests in flight.
async fn serve_tls(
    listen: std::net::SocketAddr,
    cert: &std::path::Path,
    key: &std::path::Path,
    router: axum::Router,
) -> anyhow::Result<()> {
    // One process-wide crypto provider; an error only means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
        .await
        .with_context(|| {
            format!(
                "reading the TLS certificate {} and key {}",
                cert.display(),
                key.display()
            )
        })?;
    let handle = axum_server::Handle::new();
    let stop = handle.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        stop.graceful_shutdown(Some(std::time::Duration::from_secs(30)));
    });
    let listener =
        std::net::TcpListener::bind(listen).with_context(|| format!("binding {listen}"))?;
    tracing::info!(addr = %listener.local_addr()?, "goldrec listening (https)");
    axum_server::from_tcp_rustls(listener, tls)?
        .handle(handle)
        .serve(router.into_make_service())
        .await?;
    Ok(())
}

fn ingest_files(
    config: Config,
    source: &str,
    files: &[PathBuf],
    quiet: bool,
    key: Option<String>,
) -> anyhow::Result<()> {
    if let Some(a) = config.activity_sources.get(source) {
        let format = a.source.format;
        let dir = config.data_dir.clone();
        let engine = match Engine::open(config.clone()) {
            Ok(e) => e,
            Err(e) if held_by_another_process(&e) => {
                if let (Some(s), Some(key)) = (server_file::read(&dir), key) {
                    return remote::ingest(&config, &s.url, &key, source, files, quiet);
                }
                bail!("{}", held_message(&dir));
            }
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("opening data directory {}", dir.display())))
            }
        };
        let started = Instant::now();
        let mut summary = Summary::default();
        for path in files {
            let (file, bar) = open_with_bar(path, quiet)?;
            let mut items = ingest::read_payload(format, bar.wrap_read(file));
            let mut errors = Vec::new();
            loop {
                let chunk: Vec<_> = items.by_ref().take(config.batch_size).collect();
                if chunk.is_empty() {
                    break;
                }
                for (_, r) in engine.ingest_activity(source, chunk)? {
                    use goldrec::activity::ActivityStatus as A;
                    match r {
                        Ok(o) => match o.status {
                            A::Inserted => summary.inserted += 1,
                            A::Updated => summary.updated += 1,
                            A::Unchanged => summary.unchanged += 1,
                            A::Superseded => summary.superseded += 1,
                        },
                        Err(e) => errors.push(e),
                    }
                }
            }
            bar.finish_and_clear();
            report_rejected(path, &errors, errors.len())?;
            summary.rejected += errors.len();
        }
        engine.close()?;
        print_summary(&summary, started);
        return Ok(());
    }
    let Some(src) = config.sources.get(source) else {
        bail!(
            "unknown source {source:?}; configured: {}",
            config
                .sources
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let format = src.format;
    let batch = config.batch_size;
    let dir = config.data_dir.clone();
    let engine = match Engine::open(config.clone()) {
        Ok(e) => e,
        Err(e) if held_by_another_process(&e) => {
            // A running server holds the data directory: send the records to it when it says
            // where it listens and a key is at hand.
            if let (Some(s), Some(key)) = (server_file::read(&dir), key) {
                eprintln!(
                    "the data directory {} is held by the server at {}: sending the records to it",
                    dir.display(),
                    s.url
                );
                return remote::ingest(&config, &s.url, &key, source, files, quiet);
            }
            bail!("{}", held_message(&dir));
        }
        Err(e) => {
            return Err(
                anyhow::Error::new(e).context(format!("opening data directory {}", dir.display()))
            )
        }
    };
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut errors: Vec<RecordError> = Vec::new();
    for path in files {
        let (file, bar) = open_with_bar(path, quiet)?;
        let mut items = ingest::read_payload(format, bar.wrap_read(file));
        // Reading and preparing the next chunk overlaps with applying this one.
        let engine = &engine;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Change>>(1);
        let applied = std::thread::scope(|scope| -> anyhow::Result<Summary> {
            let writer = scope.spawn(move || -> anyhow::Result<Summary> {
                let mut summary = Summary::default();
                for changes in rx {
                    summary.add(&engine.apply(changes)?);
                }
                Ok(summary)
            });
            loop {
                let chunk: Vec<_> = items.by_ref().take(batch).collect();
                if chunk.is_empty() {
                    break;
                }
                let mut changes: Vec<Change> = Vec::with_capacity(chunk.len());
                for (_, r) in engine.prepare(source, chunk)? {
                    match r {
                        Ok(c) => changes.push(c),
                        Err(e) => errors.push(e),
                    }
                }
                if tx.send(changes).is_err() {
                    // The writer stopped on an error: it is reported below.
                    break;
                }
            }
            drop(tx);
            writer.join().expect("the writer thread does not panic")
        })?;
        summary.merge(&applied);
        bar.finish_and_clear();
        report_rejected(path, &errors, errors.len())?;
        summary.rejected += errors.len();
        errors.clear();
    }
    // Commit what the blocking index holds in memory and save the start-up snapshot, so the
    // next open neither rebuilds the index nor rescans the records; a bulk load then repacks
    // the store.
    let closing = Instant::now();
    match engine.close_after_load(summary.inserted as u64, summary.updated as u64)? {
        Some(Ok(c)) => eprintln!(
            "repacked the store after the load: {:.1} MB -> {:.1} MB (closed and repacked in {:.1}s)",
            c.before as f64 / 1e6,
            c.after as f64 / 1e6,
            closing.elapsed().as_secs_f64()
        ),
        // The load is committed: a repack that failed (a full disk?) only leaves it larger.
        Some(Err(e)) => eprintln!(
            "warning: the load is committed, but repacking the store after it failed: {e} (the store stays as loaded; `ingest.repack_after = 0` turns the repack off)"
        ),
        None => {}
    }
    print_summary(&summary, started);
    Ok(())
}

/// Opens a file to load with its progress bar (hidden when `quiet`).
fn open_with_bar(
    path: &std::path::Path,
    quiet: bool,
) -> anyhow::Result<(std::fs::File, indicatif::ProgressBar)> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(len).with_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {elapsed} eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        )
    };
    bar.set_message(path.display().to_string());
    Ok((file, bar))
}

/// Prints the first 50 rejected records of a file (of `total`) on stderr.
fn report_rejected(
    path: &std::path::Path,
    errors: &[RecordError],
    total: usize,
) -> anyhow::Result<()> {
    let stderr = std::io::stderr();
    let mut out = stderr.lock();
    for e in errors.iter().take(50) {
        writeln!(out, "{}: rejected {e}", path.display())?;
    }
    if total > 50 {
        writeln!(
            out,
            "{}: ... and {} more rejected records",
            path.display(),
            total - 50
        )?;
    }
    Ok(())
}

/// The closing summary of a load: one line on stderr, the counts as JSON on stdout.
fn print_summary(summary: &Summary, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    let total = summary.inserted + summary.updated + summary.unchanged + summary.rejected;
    eprintln!(
        "ingested {total} records in {secs:.2}s ({:.0} records/s): {} inserted, {} updated, {} unchanged, {} rejected",
        total as f64 / secs.max(1e-9),
        summary.inserted,
        summary.updated,
        summary.unchanged,
        summary.rejected
    );
    println!(
        "{}",
        serde_json::to_string(&summary).expect("a summary serializes")
    );
}

fn export(
    config: Config,
    format: ExportFormat,
    lineage: bool,
    purpose: Option<String>,
    segment: Option<String>,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    if let Some(p) = &purpose {
        config.check_purpose(p).map_err(anyhow::Error::msg)?;
    }
    if let Some(s) = &segment {
        let known = config
            .classification
            .as_ref()
            .is_some_and(|c| c.segments.contains_key(s));
        if !known {
            bail!("unknown segment {s:?}: declare it in [classification.segments]");
        }
    }
    let engine = open(config)?;
    let sink: Box<dyn Write> = match &out {
        Some(p) => {
            Box::new(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let mut w = std::io::BufWriter::new(sink);
    let format = match format {
        ExportFormat::Ndjson => goldrec::export::Format::Ndjson,
        ExportFormat::Csv => goldrec::export::Format::Csv,
    };
    let (seq, n) = goldrec::export::export(
        &engine,
        format,
        lineage,
        purpose.as_deref(),
        segment.as_deref(),
        None,
        &mut w,
        |_| {},
    )?;
    let granted = purpose
        .as_deref()
        .map(|p| format!(" granted for {p}"))
        .unwrap_or_default();
    eprintln!("exported {n} golden records{granted}, consistent with change sequence {seq} (follow /v1/changes?after={seq})");
    Ok(())
}

/// `goldrec ingest --server`: the files are read with the same adapters as a local load, and
/// sent to the server in requests of `server.chunk_records` records as NDJSON (whatever the
/// file's format, so a CSV record's quoted newlines travel safely and every error names the
/// file's own line). Reading the next request overlaps with sending this one.
mod remote {
    /// Asks the server at `url` for a backup into `dir` (made absolute: the server writes it
    /// on its own machine); the manifest it answers.
    pub fn backup(url: &str, key: &str, dir: &Path) -> anyhow::Result<goldrec::backup::Manifest> {
        let dir =
            std::path::absolute(dir).with_context(|| format!("resolving {}", dir.display()))?;
        let answer = reqwest::blocking::Client::new()
            .post(format!("{}/v1/backups", url.trim_end_matches('/')))
            .bearer_auth(key)
            .json(&serde_json::json!({ "dir": dir }))
            .send()
            .with_context(|| format!("asking {url} for a backup"))?;
        let status = answer.status();
        let body: Value = answer.json().unwrap_or(Value::Null);
        if !status.is_success() {
            bail!(
                "the server refused the backup ({status}): {}",
                body["message"].as_str().unwrap_or("no message")
            );
        }
        Ok(serde_json::from_value(body["backup"].clone())?)
    }

    use std::path::{Path, PathBuf};
    use std::time::Instant;

    use anyhow::{bail, Context};
    use serde_json::Value;

    use goldrec::config::{Config, Format};
    use goldrec::engine::Summary;
    use goldrec::ingest::{self, Position, RecordError};

    /// One request: the NDJSON body and the file position of each of its lines.
    struct Request {
        body: Vec<u8>,
        positions: Vec<Position>,
        /// Records the file's adapter rejected before sending.
        local_errors: Vec<RecordError>,
    }

    /// The format of a file: by its extension, else the source's configured format.
    fn format_of(path: &Path, config: &Config, source: &str) -> anyhow::Result<Format> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        Ok(match ext.as_deref() {
            Some("csv") => Format::Csv,
            Some("ndjson" | "jsonl") => Format::Ndjson,
            Some("json") => Format::Json,
            _ => match config.sources.get(source) {
                Some(s) => s.format,
                None => bail!(
                    "cannot tell the format of {}: name it .csv, .ndjson or .json",
                    path.display()
                ),
            },
        })
    }

    /// Loads `files` into source `source` of the server at `url`, with the local load's
    /// progress bar, rejected-record lines and summary.
    pub fn ingest(
        config: &Config,
        url: &str,
        key: &str,
        source: &str,
        files: &[PathBuf],
        quiet: bool,
    ) -> anyhow::Result<()> {
        let mut endpoint =
            reqwest::Url::parse(url).with_context(|| format!("--server {url:?} is not a URL"))?;
        endpoint
            .path_segments_mut()
            .map_err(|()| anyhow::anyhow!("--server {url:?} cannot take a path"))?
            .pop_if_empty()
            .extend(["v1", "sources", source, "records"]);
        let client = reqwest::blocking::Client::builder()
            .timeout(None)
            .build()
            .context("building the HTTP client")?;
        let chunk = config.chunk_records.max(1);
        let started = Instant::now();
        let mut summary = Summary::default();
        for path in files {
            let format = format_of(path, config, source)?;
            let (file, bar) = super::open_with_bar(path, quiet)?;
            let (tx, rx) = std::sync::mpsc::sync_channel::<anyhow::Result<Request>>(1);
            let reader_bar = bar.clone();
            let reader = std::thread::spawn(move || {
                let mut items = ingest::read_payload(format, reader_bar.wrap_read(file));
                loop {
                    let items: Vec<_> = items.by_ref().take(chunk).collect();
                    if items.is_empty() {
                        return;
                    }
                    let mut req = Request {
                        body: Vec::new(),
                        positions: Vec::new(),
                        local_errors: Vec::new(),
                    };
                    for (position, item) in items {
                        match item {
                            Ok(obj) => {
                                serde_json::to_writer(&mut req.body, &obj)
                                    .expect("a JSON object serializes");
                                req.body.push(b'\n');
                                req.positions.push(position);
                            }
                            Err(reason) => req.local_errors.push(RecordError {
                                position,
                                key: None,
                                field: None,
                                reason,
                            }),
                        }
                    }
                    if tx.send(Ok(req)).is_err() {
                        return;
                    }
                }
            });
            let mut errors: Vec<RecordError> = Vec::new();
            let mut rejected = 0usize;
            let mut sent = 0usize;
            let outcome = (|| -> anyhow::Result<()> {
                for req in rx {
                    let req = req?;
                    rejected += req.local_errors.len();
                    summary.rejected += req.local_errors.len();
                    errors.extend(req.local_errors);
                    if req.positions.is_empty() {
                        continue;
                    }
                    let reply = send(&client, &endpoint, key, req.body).with_context(|| {
                        let first = req.positions[0];
                        if sent == 0 {
                            format!("{}: sending the records from {first}", path.display())
                        } else {
                            format!(
                                "{}: sending the records from {first} ({sent} records before it were sent and stored)",
                                path.display()
                            )
                        }
                    })?;
                    sent += req.positions.len();
                    let counts: Summary = serde_json::from_value(reply.clone())
                        .context("the server's reply has no counts")?;
                    rejected += counts.rejected;
                    summary.merge(&counts);
                    for e in reply["errors"].as_array().into_iter().flatten() {
                        // The server numbers the request's lines from 1.
                        let line = e["line"].as_u64().unwrap_or(0) as usize;
                        let Some(&position) =
                            line.checked_sub(1).and_then(|i| req.positions.get(i))
                        else {
                            continue;
                        };
                        let text = |k: &str| e[k].as_str().map(String::from);
                        errors.push(RecordError {
                            position,
                            key: text("key"),
                            field: text("field"),
                            reason: text("reason").unwrap_or_default(),
                        });
                    }
                }
                Ok(())
            })();
            // Dropping the receiver stops the reader at its next request.
            bar.finish_and_clear();
            let _ = reader.join();
            outcome?;
            errors.sort_by_key(|e| match e.position {
                Position::Line(n) | Position::Index(n) => n,
            });
            super::report_rejected(path, &errors, rejected)?;
        }
        super::print_summary(&summary, started);
        Ok(())
    }

    /// POSTs one NDJSON body; the reply's JSON, or the server's error in one line.
    fn send(
        client: &reqwest::blocking::Client,
        endpoint: &reqwest::Url,
        key: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<Value> {
        let r = client
            .post(endpoint.clone())
            .bearer_auth(key)
            .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
            .body(body)
            .send()
            .with_context(|| format!("cannot reach the server at {endpoint}"))?;
        let status = r.status();
        let text = r.text().context("reading the server's reply")?;
        let reply: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            bail!(
                "the server answered {status} {}: {}",
                reply["code"].as_str().unwrap_or("error"),
                reply["message"].as_str().unwrap_or(text.trim())
            );
        }
        Ok(reply)
    }
}
