//! HTTP integration tests: the real router served on a loopback port, with a real sled database
//! and a real tantivy index in a temporary data directory, driven over HTTP with reqwest.

mod auth;
mod browser;
mod changes;
mod cli_server;
mod config;
mod consent;
mod crash;
mod csv_http;
mod customer_file;
mod decisions;
mod encryption;
mod entities;
mod erasure;
mod errors;
mod fuzz;
mod helpers;
mod ingest;
mod invariants;
mod multisource;
mod openapi;
mod overrides;
mod overview;
mod quality;
mod restart;
mod tls;
mod training;
