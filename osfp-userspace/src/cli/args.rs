//! Command-line interface.

use std::{path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "osfp",
    version,
    about = "Passive OS fingerprinting from an XDP sensor or capture files"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Attach the XDP sensor to interfaces and print what it selects.
    Run(crate::daemon::config::RunArgs),
    /// Read pcap/pcapng files through the same selection and decoder.
    Pcap(PcapArgs),
    /// Fingerprint database tools.
    #[command(subcommand)]
    Db(DbCommand),
}

#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Validate a p0f.fp-format database: every error as file:line:column.
    Check {
        /// The database file.
        file: PathBuf,
    },
}

#[derive(Args, Debug)]
pub struct OutputArgs {
    /// One JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SelectArgs {
    /// Minimum gap between timestamp samples of one flow.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    pub ts_sample_interval: Duration,
    /// Most timestamp samples taken from one flow.
    #[arg(long, default_value_t = osfp_common::tunable::DEFAULT_TS_SAMPLE_MAX_PER_FLOW)]
    pub ts_samples_per_flow: u32,
}

#[derive(Args, Debug)]
pub struct PcapArgs {
    /// pcap or pcapng files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Do not print records; only the counter summary (for throughput measurements).
    #[arg(long)]
    pub quiet: bool,
    /// Detect scans and print scan events as NDJSON lines (`{"event":"scan",...}`),
    /// also with --quiet.
    #[arg(long)]
    pub scans: bool,
    /// Fingerprint database (p0f.fp format). Default: the built-in one.
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// The signature matcher only, every match a verdict, as p0f does (no middlebox
    /// undo, no classifier): with `--db /etc/p0f/p0f.fp`, p0f's verdicts.
    #[arg(long)]
    pub strict: bool,
    /// The classifier's verdict is unknown below this probability of its family.
    /// [default: the model's]
    #[arg(long)]
    pub infer_threshold: Option<f32>,
    /// The classifier's class prior: target or flat.
    #[arg(long, default_value = "target", value_parser = ["target", "flat"])]
    pub infer_prior: String,
    /// Print one line per source (from the per-source table) instead of records.
    #[arg(long)]
    pub summary: bool,
    /// Most sources kept in the per-source table (least recently seen evicted).
    #[arg(long, default_value_t = crate::sources::DEFAULT_CAP)]
    pub max_sources: usize,
    /// Key the hashes of the bounded tables from this number instead of a random key: the
    /// same capture then gives the same output bit for bit (which flows share a slot of a
    /// direct-mapped table depends on the key).
    #[arg(long)]
    pub hash_seed: Option<u64>,
    /// Most sources in the table with clock / IP ID state (further sources' clock
    /// events are counted as refused).
    #[arg(long, default_value_t = crate::sources::DEFAULT_CLOCK_SOURCES)]
    pub max_clock_sources: usize,
}
