//! What leaves the process: record lines ([`record`], [`output`]), Prometheus metrics
//! ([`metrics`]), the JSON API ([`api`], paging from [`source_index`]), the NDJSON event log ([`eventlog`]) and the
//! end-of-run counter line ([`stats`]).

pub mod api;
pub mod eventlog;
pub mod metrics;
pub mod output;
pub mod record;
pub mod source_index;
pub mod stats;
