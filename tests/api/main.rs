//! HTTP integration tests: the real router served on a loopback port, with a real sled database
//! and a real tantivy index in a temporary data directory, driven over HTTP with reqwest.

mod auth;
mod changes;
mod cli_server;
mod config;
mod crash;
mod csv_http;
mod decisions;
mod entities;
mod errors;
mod fuzz;
mod helpers;
mod ingest;
mod invariants;
mod multisource;
mod overrides;
mod quality;
mod restart;
mod training;
