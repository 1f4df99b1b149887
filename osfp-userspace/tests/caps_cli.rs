//! Caps that would size a table beyond any machine are refused up front, in one line and
//! exit status 2, by `osfp pcap` as by `osfp run` (not an abort on the allocation).

use std::process::{Command, Output};

fn osfp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_osfp"))
        .args(args)
        .output()
        .expect("run osfp")
}

fn refused(args: &[&str], line: &str) {
    let out = osfp(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(
        err.lines().any(|l| l == line),
        "{args:?}: {err:?} lacks {line:?}"
    );
}

#[test]
fn pcap_refuses_caps_out_of_range_like_run() {
    // The check comes before the files are opened.
    let file = "/nonexistent/x.pcap";
    for (flag, value, why) in [
        (
            "--max-sources",
            "99999999999999",
            "is not from 1 to 10000000",
        ),
        ("--max-sources", "0", "is not from 1 to 10000000"),
        ("--max-clock-sources", "99999999999999", "is above 10000000"),
    ] {
        let line = format!("{flag}: {value} {why}");
        refused(&["pcap", flag, value, file], &format!("osfp: {line}"));
        // `osfp run` checks its configuration before it needs privileges.
        refused(&["run", flag, value], &line);
    }
    // Both caps in range, but their clock state beyond its budget.
    let mib = osfp::sources::SourceTable::clock_bytes_at(10_000_000, 10_000_000) >> 20;
    refused(
        &["pcap", "--max-sources", "10000000", "--max-clock-sources", "10000000", file],
        &format!("osfp: --max-clock-sources: 10000000 with max-sources 10000000: clock state up to {mib} MiB, above the 4096 MiB budget (lower max-clock-sources or max-sources)"),
    );
}

#[test]
fn pcap_takes_caps_at_the_bottom_of_their_ranges() {
    let dir = std::env::temp_dir().join(format!("osfp-caps-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("empty.pcap");
    let f = std::fs::File::create(&p).unwrap();
    drop(pcap_file::pcap::PcapWriter::new(f).unwrap());
    let out = osfp(&[
        "pcap",
        "--max-sources",
        "1",
        "--max-clock-sources",
        "0",
        p.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
