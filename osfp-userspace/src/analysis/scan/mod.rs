//! Scan detection: per-packet probe classification (`probe`), per-source sweeps over a
//! sliding window with bounded state (`tracker`), and the events, summaries and counters
//! it reports (`report`), tuned by `config`.

pub mod config;
pub mod probe;
pub mod report;
pub mod tracker;

pub use config::ScanConfig;
pub use probe::{classify, ProbeKind, Tool};
pub use report::{summarize, Phase, ScanCounters, ScanEvent, ScanKind, SourceScans};
pub use tracker::ScanTracker;
