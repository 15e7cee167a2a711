//! Integration tests: the real server on a loopback port, a real sled database and a real
//! tantivy index in a temp dir, driven over HTTP.

mod config;
mod helpers;
mod ingest;
mod restart;
