//! osfp: passive OS fingerprinting.
//!
//! The rooms follow the data, and each imports only the rooms above it (checked by
//! `tests/layers.rs`):
//!
//! 1. [`hashing`]: hashers for tables keyed by what the network sends.
//! 2. [`capture`]: where records come from: the XDP sensor, capture files, the frame
//!    walker that mirrors the kernel's selection, capture-order merging.
//! 3. [`decode`]: a record becomes an [`decode::Event`] (addresses, kind, options).
//! 4. [`analysis`]: what one event says: fingerprint and signature match, clock and
//!    IP ID, scan probes and sweeps.
//! 5. [`sources`]: the bounded per-source table that gathers the analyses.
//! 6. [`pipeline`]: decode, analysis and the source table joined, for both inputs.
//! 7. [`export`]: what leaves the process: record lines, metrics, the API, the event log.
//! 8. [`daemon`]: `osfp run`'s loop, configuration and reload.
//! 9. [`cli`]: the command line and its commands.

pub mod hashing;

pub mod capture;

pub mod decode;

pub mod analysis;

pub mod sources;

pub mod pipeline;

pub mod export;

pub mod daemon;

pub mod cli;
