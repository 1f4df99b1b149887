//! `osfp pcap` over the whole corpus: no panic, and for every file its SYN and SYN-ACK
//! counts equal tshark's, run here on the same file.
//!
//! One deliberate difference, excluded from tshark's count with `!icmp && !icmpv6`:
//! tshark also counts TCP headers quoted inside ICMP errors (arkime/ospf.pcap has 17).
//! Those are not SYNs any host sent, and a fingerprinter must not treat them as such.

use std::{
    collections::BTreeMap,
    path::Path,
    process::Command,
    sync::{Arc, Mutex},
    thread,
};

use osfp::capture::{
    file as capture_file,
    frame::{SelectConfig, Selector},
};
use osfp_common::tcp_flag::{ACK, SYN};
use osfp_tests::{corpus_dir, corpus_files, osfp_bin};

/// (SYN, SYN-ACK) through the pcap path.
fn ours(path: &Path) -> (u64, u64) {
    let mut sel = Selector::new(SelectConfig::default());
    let (mut syn, mut synack) = (0, 0);
    capture_file::for_each_frame(path, |link, frame, ts| {
        if let Some(r) = sel.frame(link, frame, ts) {
            if r.tcp_flags & SYN != 0 {
                if r.tcp_flags & ACK != 0 {
                    synack += 1;
                } else {
                    syn += 1;
                }
            }
        }
    })
    .unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
    (syn, synack)
}

/// (SYN, SYN-ACK) by tshark.
fn tshark(path: &Path) -> (u64, u64) {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(path)
        .args([
            "-Y",
            "tcp.flags.syn == 1 && !icmp && !icmpv6",
            "-T",
            "fields",
            "-e",
            "tcp.flags.ack",
        ])
        .output()
        .expect("tshark (Debian package tshark) must be installed");
    let text = String::from_utf8_lossy(&out.stdout);
    let (mut syn, mut synack) = (0, 0);
    for l in text.lines() {
        match l.trim() {
            "True" | "1" => synack += 1,
            "False" | "0" => syn += 1,
            other => panic!("{}: unexpected tshark field {other:?}", path.display()),
        }
    }
    (syn, synack)
}

#[test]
fn syn_and_synack_counts_equal_tsharks_on_every_corpus_file() {
    let files = corpus_files();
    assert!(
        files.len() > 1000,
        "corpus missing? {}",
        corpus_dir().display()
    );
    let queue = Arc::new(Mutex::new(files.clone()));
    let results = Arc::new(Mutex::new(BTreeMap::new()));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (q, r) = (queue.clone(), results.clone());
            thread::spawn(move || loop {
                let Some(f) = q.lock().unwrap().pop() else {
                    break;
                };
                let t = tshark(&f);
                let o = ours(&f);
                r.lock().unwrap().insert(f, (o, t));
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker panicked");
    }
    let results = results.lock().unwrap();
    let mismatches: Vec<_> = results.iter().filter(|(_, (o, t))| o != t).collect();
    let total: (u64, u64) = results
        .values()
        .fold((0, 0), |a, (o, _)| (a.0 + o.0, a.1 + o.1));
    eprintln!(
        "{} files, {} SYN, {} SYN-ACK",
        results.len(),
        total.0,
        total.1
    );
    assert!(
        mismatches.is_empty(),
        "(ours, tshark's) differ: {mismatches:#?}"
    );
}

/// The binary itself over every file at once: exit 0, no panic, a summary line.
#[test]
fn osfp_pcap_reads_the_whole_corpus() {
    let out = Command::new(osfp_bin())
        .args(["pcap", "--quiet"])
        .args(corpus_files())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {}: {}", out.status, err);
    assert!(!err.contains("panicked"), "{err}");
    let summary = err
        .lines()
        .find(|l| l.starts_with("osfp: frames="))
        .unwrap_or_else(|| panic!("no counter summary in {err}"));
    assert!(summary.contains("selected_syn="), "{summary}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("osfp: fingerprinted exact=")),
        "{err}"
    );
}
