//! The per-source table: one bounded entry per source address gathering its verdicts,
//! hops, signatures, clock and IP ID state and finished scans, with admission and
//! eviction, and its JSON form (the API's and `osfp pcap --summary`'s).

mod json;
mod table;

pub use json::{source_family, SourceJson, SourceOsJson, SourceSigJson};
pub use table::*;
