//! The sensor on the kernels users' NICs run: Debian 11's 5.10, Debian 12's 6.1 and
//! 6.12 (bookworm's backport, trixie's kernel), each booted under QEMU with Debian's own
//! image, running `osfp-guest`: which builds of the XDP program the kernel's verifier
//! accepts (and how many instructions it went through), `osfp run`'s automatic choice,
//! a refusal as one line, the live checks on a veth pair in native and skb mode with the
//! guest's own TCP stack over IPv4 and IPv6, and the kernel/pcap parity on a corpus
//! subset with VLAN tags, IPv6 extension headers and tunnels. The host's kernel runs the
//! full suite. A kernel image or tool that is missing fails under CI=true.

use std::{path::PathBuf, sync::OnceLock, time::Duration};

use osfp_common::program;
use osfp_tests::{corpus_files, matrix, parity, privileged, require};
use serde_json::Value;

/// The corpus subset of the guests' parity: up to this many files per kind of frame.
const PER_SHAPE: usize = 6;

fn subset_list() -> &'static PathBuf {
    static LIST: OnceLock<PathBuf> = OnceLock::new();
    LIST.get_or_init(|| {
        let files = parity::subset(&corpus_files(), PER_SHAPE);
        let dir = std::env::temp_dir().join(format!("osfp-matrix-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let list = dir.join("parity-files.txt");
        let text: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        std::fs::write(&list, text.join("\n")).unwrap();
        list
    })
}

fn guest(series: &str, who: &str, expect_auto: &str) {
    if !privileged(&format!("kernel matrix {series}")) {
        return;
    }
    let Some(k) = require(
        matrix::find(series),
        &format!("kernel matrix {series}: no /boot/vmlinuz-{series}*-amd64 with modules ({who}; scripts/setup.sh installs it)"),
    ) else {
        return;
    };
    let list = subset_list();
    // `xtask verifier` first: the verifier's instruction count from a statistics log,
    // which kernels before 5.16 give no other way. Then the checks; guest time runs
    // several times slower under emulation, so their waits stretch by a factor (what they
    // assert does not change).
    let xtask = osfp_tests::workspace_root().join("target/debug/xtask");
    assert!(
        xtask.exists(),
        "{} missing: cargo build --all-targets",
        xtask.display()
    );
    let command = format!(
        "{} verifier; OSFP_TEST_TIME_SCALE=8 {} --parity-list {}",
        xtask.display(),
        env!("CARGO_BIN_EXE_osfp-guest"),
        list.display()
    );
    let boot = matrix::boot(&k, &command, Duration::from_secs(900)).unwrap();
    let report: Value = boot
        .stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "{}: no report (boot {:.0} s)\nstdout:\n{}\nstderr:\n{}",
                k.release, boot.seconds, boot.stdout, boot.stderr
            )
        });
    // `xtask verifier`'s table rows: | kernel | build | loads | insns (log) | ...
    let insns = |name: &str| -> Option<u64> {
        boot.stdout.lines().find_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells.len() > 5 && cells[1] == k.release && cells[2] == name && cells[3] == "yes")
                .then(|| cells[4].parse().ok())
                .flatten()
        })
    };
    // One line per kernel and build, for the README and BENCHMARKS.md.
    for p in report["programs"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        if p["loads"] == true {
            let n = insns(name);
            assert!(
                n.is_some(),
                "{}: no instruction count for {name}:\n{}",
                k.release,
                boot.stdout
            );
            if let Some(info) = p["verified_insns"].as_u64() {
                assert_eq!(
                    n,
                    Some(info),
                    "{}: log and bpf_prog_info disagree",
                    k.release
                );
            }
            eprintln!(
                "kernel matrix: Linux {} {name}: loads, {} instructions verified",
                k.release,
                n.unwrap()
            );
        } else {
            eprintln!(
                "kernel matrix: Linux {} {name}: refused: {}",
                k.release,
                p["rejection"].as_str().unwrap_or("?")
            );
        }
    }
    for c in report["checks"].as_array().unwrap() {
        eprintln!(
            "kernel matrix: Linux {} check {:?}: {} ({:.0} s)",
            k.release,
            c["name"].as_str().unwrap(),
            if c["ok"] == true { "ok" } else { "FAILED" },
            c["seconds"].as_f64().unwrap_or(0.0)
        );
    }
    for p in report["parity"].as_array().unwrap() {
        eprintln!("kernel matrix: Linux {} parity {p}", k.release);
    }
    eprintln!(
        "kernel matrix: Linux {} boot and checks {:.0} s",
        k.release, boot.seconds
    );
    assert_eq!(report["release"], k.release.as_str());
    assert_eq!(
        report["failed"].as_array().unwrap().len(),
        0,
        "{}: {:#}",
        k.release,
        report["failed"]
    );
    assert!(boot.success, "{}: the guest exited non-zero", k.release);
    assert_eq!(
        report["auto"], expect_auto,
        "{}: automatic build",
        k.release
    );
    // The live checks and the refusal of what this kernel cannot run all ran.
    let checks = report["checks"].as_array().unwrap();
    assert!(checks.len() >= 5, "{checks:?}");
    // The parity covered every build it accepts and every path of the walker.
    let parity = report["parity"].as_array().unwrap();
    let accepted = report["programs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["loads"] == true)
        .count();
    assert_eq!(parity.len(), accepted);
    for p in parity {
        for k in ["records", "vlan", "v6_ext", "encapsulated", "v6"] {
            assert!(p[k].as_u64().unwrap() > 0, "parity coverage {k}: {p}");
        }
        assert_eq!(p["mismatches"].as_array().unwrap().len(), 0, "{p}");
    }
}

#[test]
fn kernel_matrix_debian_11_linux_5_10() {
    guest("5.10.", "Debian 11 bullseye", program::BOUNDED);
}

#[test]
fn kernel_matrix_debian_12_linux_6_1() {
    guest("6.1.", "Debian 12 bookworm", program::LOOP);
}

#[test]
fn kernel_matrix_debian_12_backports_linux_6_12() {
    guest(
        "6.12.",
        "Debian 12 bookworm-backports, Debian 13 trixie",
        program::LOOP,
    );
}
