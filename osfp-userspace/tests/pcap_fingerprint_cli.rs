//! `osfp pcap --json --db` adds `signature`, `os` and `tcp_fp` to exactly the SYN /
//! SYN-ACK records, and `--summary --json` prints one object per source that adds up
//! to the same records. Runs the real binary over corpus files.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

fn corpus() -> Option<PathBuf> {
    osfp_tests::corpus::locate()
}

fn osfp(args: &[&str], files: &[PathBuf]) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_osfp"))
        .args(args)
        .args(files)
        .output()
        .expect("run osfp");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[test]
fn records_and_summary_carry_fingerprints() {
    let Some(c) = osfp_tests::require(
        corpus(),
        "records_and_summary_carry_fingerprints: corpus not found",
    ) else {
        return;
    };
    if !Path::new("/etc/p0f/p0f.fp").exists() {
        osfp_tests::cannot_run(
            "records_and_summary_carry_fingerprints: /etc/p0f/p0f.fp missing (Debian package p0f)",
        );
        return;
    }
    let files = vec![
        c.join("arkime/dns-tcp.pcap"),
        c.join("arkime/mongo.pcap"),
        c.join("arkime/CVE-2018-6794.pcap"),
    ];
    let db = ["--db", "/etc/p0f/p0f.fp"];
    let recs = osfp(&[&["pcap", "--json"][..], &db[..]].concat(), &files);
    let mut per_src: HashMap<String, u64> = HashMap::new();
    let mut exact = 0;
    for r in &recs {
        let flags = r["flags"].as_str().unwrap();
        let syn_or_synack = flags.contains('S') && !flags.contains('F') && !flags.contains('R');
        assert_eq!(r.get("signature").is_some(), syn_or_synack, "{r}");
        assert_eq!(r.get("os").is_some(), syn_or_synack, "{r}");
        if !syn_or_synack {
            continue;
        }
        *per_src
            .entry(r["src"].as_str().unwrap().to_string())
            .or_default() += 1;
        let os = &r["os"];
        let sig = r["signature"].as_str().unwrap();
        assert!(
            sig.starts_with(&format!("{}:{}+", r["ip_version"], r["ttl"])),
            "{sig}"
        );
        let m = os["match"].as_str().unwrap();
        assert!(["exact", "generic", "fuzzy", "unknown"].contains(&m));
        let score = os["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&score));
        if m == "exact" {
            exact += 1;
            assert_eq!(score, 1.0);
            assert!(os["label"].is_string() && os["family"] != "unknown", "{os}");
        }
        if m == "unknown" {
            assert!(os["label"].is_null());
        }
        assert_eq!(
            r["tcp_fp"]["nmap_w"],
            format!("{:X}", r["window"].as_u64().unwrap())
        );
    }
    assert!(exact >= 6, "expected several exact matches, got {exact}");
    let summary = osfp(
        &[&["pcap", "--summary", "--json"][..], &db[..]].concat(),
        &files,
    );
    assert_eq!(summary.len(), per_src.len());
    for s in &summary {
        let src = s["src"].as_str().unwrap();
        assert_eq!(s["packets"].as_u64(), per_src.get(src).copied(), "{s}");
        let counted: u64 = s["os"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["count"].as_u64().unwrap())
            .sum();
        assert_eq!(counted, s["packets"].as_u64().unwrap());
        assert!(s["first_seen"].as_f64() <= s["last_seen"].as_f64());
    }
}
