//! What leaves the process: record lines ([`record`], [`output`]), Prometheus metrics
//! ([`metrics`]), the JSON API ([`api`]), the NDJSON event log ([`eventlog`]) and the
//! end-of-run counter line ([`stats`]).

pub mod api;
pub mod eventlog;
pub mod metrics;
pub mod output;
pub mod record;
pub mod stats;
