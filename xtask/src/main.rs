//! Developer tasks. `cargo xtask bench-xdp`, `bench-live`, `bench-decode` and `bench-p0f` print the
//! figures recorded in BENCHMARKS.md. Benchmarks, not tests: they assert nothing.
//! `cargo xtask demo` runs a namespace lab with the sensor (see demo.rs).
//! `cargo xtask fuzz-seeds` writes the fuzz seed corpus; `cargo xtask audit` and
//! `cargo xtask licenses` are the supply-chain checks (supply.rs).

mod bench_decode;
mod bench_live;
mod bench_p0f;
mod bench_xdp;
mod demo;
mod fuzz_seeds;
mod model;
mod supply;
mod verifier;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// XDP ns per packet through BPF_PROG_TEST_RUN, against an XDP_PASS-only baseline
    /// measured in the same run, and the verifier's instruction count. Needs root.
    BenchXdp {
        /// Rounds per case; the median is reported.
        #[arg(long, default_value_t = 15)]
        rounds: u32,
        /// Program runs per round (one syscall).
        #[arg(long, default_value_t = 200_000)]
        repeat: u32,
        /// Program variants to time side by side (default: osfp).
        #[arg(long = "program")]
        programs: Vec<String>,
        /// Also time the osfp program of this eBPF object (another build's, e.g.
        /// target/debug/build/osfp-userspace-*/out/osfp of an older commit), first.
        #[arg(long)]
        before: Option<std::path::PathBuf>,
    },
    /// Loads each XDP program variant on the running kernel: accepted or not, the
    /// verifier's instruction count, and on rejection the tail of its log. Needs root;
    /// runs in QEMU guests too (./target/debug/xtask verifier).
    Verifier {
        /// Variants to load (default: every variant in the object).
        #[arg(long = "program")]
        programs: Vec<String>,
        /// Lines of a rejection's log to print.
        #[arg(long, default_value_t = 12)]
        tail: usize,
        /// Also write each rejection's whole log into this directory.
        #[arg(long)]
        log_dir: Option<std::path::PathBuf>,
        /// Load this eBPF object instead of the one built into osfp.
        #[arg(long)]
        object: Option<std::path::PathBuf>,
        /// Verifier log level (1 or 2) of the first load attempt, written to --log-dir
        /// whole; 0: statistics only.
        #[arg(long, default_value_t = 0)]
        log_level: u32,
        /// Log buffer for --log-level, MiB.
        #[arg(long, default_value_t = 1)]
        log_mib: u32,
    },
    /// Userspace decoder (record -> event with parsed options) records per second,
    /// and the pcap path's frames per second over corpus files.
    BenchDecode {
        #[arg(long, default_value_t = 15)]
        rounds: u32,
    },
    /// `osfp pcap` against p0f on one large capture of replicated corpus handshakes.
    /// Needs the release binary (cargo build --release -p osfp-userspace) and p0f.
    BenchP0f {
        #[arg(long, default_value_t = 5)]
        rounds: u32,
        /// Frames in the generated capture.
        #[arg(long, default_value_t = 1_000_000)]
        packets: usize,
        /// Keep the generated capture (its path is printed).
        #[arg(long)]
        keep: bool,
    },
    /// The live pipeline: `osfp run` (release, records off) on one CPU against the
    /// sensor's own XDP program run by BPF_PROG_TEST_RUN at paced rates on the other;
    /// consumed records/s and ring-buffer loss per offered rate, then an hping3 flood.
    /// Needs root, the release binary and hping3.
    BenchLive {
        /// Offered rates, million records per second.
        #[arg(long, value_delimiter = ',', default_value = "0.25,0.5,1,1.5,2,3,4")]
        rates: Vec<f64>,
        /// Seconds per rate.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Distinct source addresses the injected SYNs come from.
        #[arg(long, default_value_t = 65_536)]
        sources: u32,
        /// SYNs per source per BPF_PROG_TEST_RUN call (its repeat count).
        #[arg(long, default_value_t = 16)]
        burst: u32,
        /// Seconds of hping3 --flood --rand-source afterwards (0: none).
        #[arg(long, default_value_t = 8)]
        flood: u64,
        /// The sensor binary (default: target/release/osfp): another build, for a
        /// before / after in one session.
        #[arg(long)]
        osfp: Option<std::path::PathBuf>,
        /// The sensor's `--ring-mib` (osfp run's default: 8).
        #[arg(long, default_value_t = 8)]
        ring_mib: u32,
    },
    /// A namespace lab: the sensor, real Linux connections, crafted Windows/macOS/unknown
    /// SYNs and an nmap scan, then verdicts, scans and metrics. Needs root.
    /// Rebuilds the embedded classifier (osfp-userspace/db/osfp-model.json) from its
    /// data: eval/labels, the corpus, eval/data/lab and eval/data/synth, augmented with
    /// the middlebox rewrites. Needs the corpus and p0f.
    TrainModel {
        /// Only check that the shipped model equals the rebuild.
        #[arg(long)]
        check: bool,
    },
    /// Figures of the verdict order, the matcher, the classifier and p0f on the eval/
    /// split, train and held-out apart (markdown on stdout). Needs the corpus and p0f.
    EvalModel {
        /// Also write the verdict order's misses on the held-out real stacks (TSV).
        #[arg(long, value_name = "FILE")]
        errors: Option<std::path::PathBuf>,
    },
    Demo {
        /// Keep the lab and the sensor up until Ctrl-C.
        #[arg(long)]
        keep: bool,
        /// Build and run the release binary (default: debug, see demo.rs).
        #[arg(long)]
        release: bool,
    },
    /// Writes the fuzz targets' seed corpus (fuzz/seeds/) from the crafted frames.
    FuzzSeeds,
    /// RustSec advisories affecting the lock files, from the offline database
    /// (supply-chain.toml; $OSFP_ADVISORY_DB). Fails on a vulnerability or an unsound
    /// crate.
    Audit {
        /// Lock files to check instead of the configured ones.
        #[arg(long = "lock")]
        locks: Vec<std::path::PathBuf>,
    },
    /// The licence of every crate in the dependency tree against supply-chain.toml.
    Licenses,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::BenchXdp {
            rounds,
            repeat,
            programs,
            before,
        } => bench_xdp::run(rounds, repeat, programs, before),
        Cmd::Verifier {
            programs,
            tail,
            log_dir,
            object,
            log_level,
            log_mib,
        } => verifier::run(programs, tail, log_dir, object, log_level, log_mib),
        Cmd::BenchDecode { rounds } => bench_decode::run(rounds),
        Cmd::BenchP0f {
            rounds,
            packets,
            keep,
        } => bench_p0f::run(rounds, packets, keep),
        Cmd::BenchLive {
            rates,
            seconds,
            sources,
            burst,
            flood,
            osfp,
            ring_mib,
        } => bench_live::run(rates, seconds, sources, burst, flood, osfp, ring_mib),
        Cmd::Demo { keep, release } => demo::run(keep, release),
        Cmd::FuzzSeeds => fuzz_seeds::run(),
        Cmd::Audit { locks } => supply::audit(locks),
        Cmd::Licenses => supply::licenses(),
        Cmd::TrainModel { check } => model::train_cmd(check),
        Cmd::EvalModel { errors } => model::eval_cmd(errors.as_deref()),
    }
}

/// Median of a sample.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
