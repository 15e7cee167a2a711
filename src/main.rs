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
    /// Load files of one source (CSV, NDJSON or JSON as the source's format says).
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
    },
    /// Write all golden records.
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Ndjson)]
        format: ExportFormat,
        /// Include lineage of every golden value (NDJSON only).
        #[arg(long)]
        lineage: bool,
        /// Output file (default: standard output).
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Copy the data directory (store, index, keys) into DIR, which must be absent or empty.
    /// Offline: stop the server first (it holds the directory).
    Backup {
        /// Target directory.
        dir: PathBuf,
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
    match cli.command {
        Command::Serve { listen } => {
            if let Some(l) = listen {
                config.listen = l.parse().with_context(|| format!("--listen {l:?}"))?;
            }
            serve(config)
        }
        Command::Keys { action } => keys(&config, action),
        Command::Backup { dir } => {
            let engine = open(config)?;
            let m = goldrec::backup::backup(&engine, &dir)?;
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
        } => ingest_files(config, &source, &files, quiet),
        Command::Export {
            format,
            lineage,
            out,
        } => export(config, format, lineage, out),
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
            let store = goldrec::store::Store::open(&dir.join("sled"), enc, dir)
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

fn open(config: Config) -> anyhow::Result<Engine> {
    let dir = config.data_dir.clone();
    Engine::open(config).with_context(|| format!("opening data directory {}", dir.display()))
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
    let engine = Arc::new(open(config)?);
    let rt = tokio::runtime::Runtime::new()?;
    let tls = engine.config.tls.clone();
    rt.block_on(async move {
        let router = goldrec::api::router(engine.clone())?;
        match tls {
            None => {
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("binding {listen}"))?;
                tracing::info!(addr = %listener.local_addr()?, "goldrec listening");
                axum::serve(listener, router)
                    .with_graceful_shutdown(async {
                        let _ = tokio::signal::ctrl_c().await;
                    })
                    .await?;
            }
            Some((cert, key)) => serve_tls(listen, &cert, &key, router).await?,
        }
        engine.close()?;
        Ok(())
    })
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
        let _ = tokio::signal::ctrl_c().await;
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
) -> anyhow::Result<()> {
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
    let engine = open(config)?;
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut errors: Vec<RecordError> = Vec::new();
    for path in files {
        let file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
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
        let stderr = std::io::stderr();
        let mut out = stderr.lock();
        for e in errors.iter().take(50) {
            writeln!(out, "{}: rejected {e}", path.display())?;
        }
        if errors.len() > 50 {
            writeln!(
                out,
                "{}: ... and {} more rejected records",
                path.display(),
                errors.len() - 50
            )?;
        }
        summary.rejected += errors.len();
        errors.clear();
    }
    // Commit what the blocking index holds in memory and save the start-up snapshot, so the
    // next open neither rebuilds the index nor rescans the records.
    engine.close()?;
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
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

fn export(
    config: Config,
    format: ExportFormat,
    lineage: bool,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
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
    let (seq, n) = goldrec::export::export(&engine, format, lineage, None, &mut w, |_| {})?;
    eprintln!("exported {n} golden records, consistent with change sequence {seq} (follow /v1/changes?after={seq})");
    Ok(())
}
