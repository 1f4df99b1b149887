//! JA4T / JA4TS in `osfp pcap --json` (feature `ja4t`) against the same strings built
//! from tshark's dissection of the same SYN / SYN-ACK frames (window, option kinds up
//! to EOL, MSS, window scale), over corpus files with varied stacks.
#![cfg(feature = "ja4t")]

use std::{
    path::{Path, PathBuf},
    process::Command,
};

const FILES: &[&str] = &[
    "huginn-net/macos_tcp_flags.pcap",
    "ndpi/windowsupdate_over_http.pcap",
    "ndpi/android.pcap",
    "zeek/rfb__vnc-mac-to-linux.pcap",
    "chrissanders-packets/synscan.pcapng",
];

fn corpus() -> Option<PathBuf> {
    osfp_tests::corpus::locate()
}

fn tshark_strings(file: &Path) -> Vec<String> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args([
            "-Y",
            "tcp.flags.syn==1 && tcp.flags.reset==0",
            "-T",
            "fields",
        ])
        .args(["-e", "tcp.window_size_value", "-e", "tcp.option_kind"])
        .args([
            "-e",
            "tcp.options.mss_val",
            "-e",
            "tcp.options.wscale.shift",
        ])
        .output()
        .expect("run tshark");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let kinds: Vec<&str> = f[1]
                .split(',')
                .filter(|k| !k.is_empty())
                .take_while(|k| *k != "0")
                .collect();
            let or00 = |s: &str| {
                let s = s.split(',').next().unwrap_or("");
                if s.is_empty() {
                    "00".to_string()
                } else {
                    s.to_string()
                }
            };
            format!("{}_{}_{}_{}", f[0], kinds.join("-"), or00(f[2]), or00(f[3]))
        })
        .collect()
}

#[test]
fn ja4t_matches_tshark_dissection() {
    if Command::new("tshark").arg("-v").output().is_err() {
        osfp_tests::cannot_run("ja4t_matches_tshark_dissection: tshark not installed");
        return;
    }
    let Some(corpus) =
        osfp_tests::require(corpus(), "ja4t_matches_tshark_dissection: corpus not found")
    else {
        return;
    };
    let mut compared = 0;
    for rel in FILES {
        let file = corpus.join(rel);
        let out = Command::new(env!("CARGO_BIN_EXE_osfp"))
            .args(["pcap", "--json"])
            .arg(&file)
            .output()
            .unwrap();
        let mut ours: Vec<String> = Vec::new();
        for l in String::from_utf8_lossy(&out.stdout).lines() {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            match v["kind"].as_str() {
                Some("syn") => {
                    assert!(v.get("ja4ts").is_none(), "{l}");
                    ours.push(v["ja4t"].as_str().expect("ja4t on a SYN").to_string());
                }
                Some("synack") => {
                    assert!(v.get("ja4t").is_none(), "{l}");
                    ours.push(v["ja4ts"].as_str().expect("ja4ts on a SYN-ACK").to_string());
                }
                _ => assert!(v.get("ja4t").is_none() && v.get("ja4ts").is_none(), "{l}"),
            }
        }
        let mut want = tshark_strings(&file);
        ours.sort();
        want.sort();
        assert_eq!(ours, want, "{rel}");
        compared += ours.len();
    }
    eprintln!("{compared} JA4T/JA4TS strings equal tshark's");
    assert!(compared > 20, "only {compared} compared");
}
