//! Developer tasks. `cargo xtask bench-xdp`, `bench-decode` and `bench-p0f` print the
//! figures recorded in BENCHMARKS.md. Benchmarks, not tests: they assert nothing.
//! `cargo xtask demo` runs a namespace lab with the sensor (see demo.rs).

mod bench_decode;
mod bench_p0f;
mod bench_xdp;
mod demo;
mod model;

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
    EvalModel,
    Demo {
        /// Keep the lab and the sensor up until Ctrl-C.
        #[arg(long)]
        keep: bool,
        /// Build and run the release binary (default: debug, see demo.rs).
        #[arg(long)]
        release: bool,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::BenchXdp { rounds, repeat } => bench_xdp::run(rounds, repeat),
        Cmd::BenchDecode { rounds } => bench_decode::run(rounds),
        Cmd::BenchP0f {
            rounds,
            packets,
            keep,
        } => bench_p0f::run(rounds, packets, keep),
        Cmd::Demo { keep, release } => demo::run(keep, release),
        Cmd::TrainModel { check } => model::train_cmd(check),
        Cmd::EvalModel => model::eval_cmd(),
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
