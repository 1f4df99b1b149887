//! osfp: passive OS fingerprinting. The XDP program (osfp-ebpf) and the pcap path
//! (`frame`) both produce `PacketRecord`s; `pipeline` decodes them into `Event`s.

pub mod api;
pub mod capture_file;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod corpus;
pub mod craft;
pub mod event;
pub mod eventlog;
pub mod fingerprint;
pub mod frame;
pub mod ipid;
#[cfg(feature = "ja4t")]
pub mod ja4t;
pub mod metrics;
pub mod options;
pub mod output;
pub mod pipeline;
pub mod reorder;
pub mod scan;
pub mod sensor;
pub mod stats;
