//! The built-in database against the corpus, through the real pcap path
//! (`capture_file` -> `Selector` -> `Pipeline::with_database` -> `observe`):
//!
//! - every corpus file with ground truth (INDEX.tsv `gt`) gives its labelled host the
//!   right family: at least one of its SYN / SYN-ACK records in an expected family and
//!   none in another known family (unknown verdicts are allowed), the rule of
//!   `scripts/db-coverage.py --gt`;
//! - over the whole corpus, the share of SYN / SYN-ACK signatures that get a label
//!   (any non-unknown verdict, tools included) is higher than with p0f's own
//!   /etc/p0f/p0f.fp, computed here with the same matcher (exact parity with p0f:
//!   tests/p0f_parity.rs) on the same records.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    net::IpAddr,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

use osfp::{
    analysis::fingerprint::{self, Database, MatchKind},
    capture::{
        file as capture_file,
        frame::{SelectConfig, Selector},
    },
    pipeline::Pipeline,
};

const P0F_DB: &str = "/etc/p0f/p0f.fp";

/// The labelled host(s) of each ground-truth file and their expected families
/// (`a|b`: either). Host addresses as identified for `scripts/db-coverage.py`; for
/// IoT Sentinel the device's own address, in [`IOT`].
const GT_HOSTS: &[(&str, &[(&str, &str)])] = &[
    (
        "arkime/fbzero-android.pcap",
        &[("192.168.1.111", "android")],
    ),
    // An iPhone: p0f-style labels do not tell iOS from macOS ("Mac OS X 10.12 or
    // newer (also iOS)"), so either family is right.
    (
        "arkime/gtp-iphone.pcap",
        &[("fd00:183:1:1:1886:9040:8605:32b8", "ios|macos")],
    ),
    (
        "chrissanders-packets/activeosfingerprinting.pcapng",
        &[("172.16.16.150", "windows"), ("172.16.16.128", "tool")],
    ),
    (
        "chrissanders-packets/passiveosfingerprinting.pcapng",
        &[("172.16.16.134", "windows|linux")],
    ),
    (
        "chrissanders-packets/synscan.pcapng",
        &[("172.16.0.8", "tool")],
    ),
    (
        "esnet-curated/attacks__scanners__masscan__tcp_0_1000_20190821.pcap",
        &[("172.31.15.102", "tool")],
    ),
    (
        "esnet-curated/attacks__scanners__nmap__nmap_80_all.pcap",
        &[("10.87.1.10", "linux|tool")],
    ),
    (
        "esnet-curated/attacks__scanners__nmap__nmap_80_vanilla.pcap",
        &[("10.87.1.10", "linux|tool")],
    ),
    (
        "esnet-curated/attacks__scanners__nmap__nmap_80_w_service_detection.pcap",
        &[("10.87.1.10", "linux|tool")],
    ),
    (
        "esnet-curated/tcp__control__one_way_all_flags.pcap",
        &[("10.0.0.10", "tool")],
    ),
    (
        "huginn-net/macos_tcp_flags.pcap",
        &[("172.16.5.16", "macos")],
    ),
    ("ndpi/android.pcap", &[("192.168.2.16", "android")]),
    (
        "ndpi/googledns_android10.pcap",
        &[("192.168.1.159", "android")],
    ),
    ("ndpi/synscan.pcap", &[("172.16.0.8", "tool")]),
    ("ndpi/tcp_scan.pcapng", &[("192.168.1.178", "tool|macos")]),
    (
        "ndpi/windowsupdate_over_http.pcap",
        &[("10.0.2.15", "windows")],
    ),
    ("pypi-pypacker/linuxcc.pcap", &[("10.50.247.1", "linux")]),
    (
        "victorialugi-nmap/fin_scan.pcap",
        &[("10.129.0.4", "tool|linux")],
    ),
    (
        "victorialugi-nmap/syn_scan.pcap",
        &[("10.129.0.4", "tool|linux")],
    ),
    (
        "victorialugi-nmap/xmas_scan.pcap",
        &[("10.129.0.4", "tool|linux")],
    ),
    (
        "zeek/dce-rpc__cs_window7-join_stream092.pcap",
        &[("192.168.122.145", "windows")],
    ),
    (
        "zeek/ldap__ctu-sme-11-win7ad-1-ldap-tcp-50041.pcap",
        &[
            ("192.168.1.105", "windows"),
            ("192.168.1.107", "windows"),
            ("192.168.1.108", "windows"),
        ],
    ),
    (
        "zeek/rfb__vnc-mac-to-linux.pcap",
        &[("192.168.2.115", "macos"), ("192.168.2.125", "linux")],
    ),
];

/// Ground-truth files whose `gt` names no OS to check, with the reason.
const GT_NO_OS: &[(&str, &str)] = &[
    (
        "zeek/nmap-vsn.pcap",
        "gt is `nmap -sV`: full connect()s from the scanner's own stack, whose OS is not stated",
    ),
    (
        "zeek/rfb__vnc-scanner.pcap",
        "gt is `VNC scanner`: neither the scanner's nor the target's OS is stated",
    ),
];

/// IoT Sentinel devices (directory name) and their own address in the captures.
const IOT: &[(&str, &str)] = &[
    ("Aria", "10.10.10.123"),
    ("D-LinkCam", "10.10.10.37"),
    ("D-LinkDoorSensor", "10.10.10.87"),
    ("D-LinkSiren", "10.10.10.39"),
    ("EdimaxPlug1101W", "10.10.10.186"),
    ("EdnetGateway", "10.10.10.149"),
    ("HueBridge", "10.10.10.6"),
    ("TP-LinkPlugHS100", "10.10.10.228"),
    ("WeMoInsightSwitch", "10.10.10.158"),
    ("WeMoLink", "10.10.10.144"),
    ("Withings", "10.10.10.21"),
];

fn corpus() -> Option<PathBuf> {
    osfp_tests::corpus::locate()
}

/// Expected hosts of a ground-truth file: address -> families; `Err` for a file with
/// ground truth this test does not know how to check.
fn expected_hosts(path: &str) -> Option<Vec<(IpAddr, Vec<&'static str>)>> {
    let fams = |s: &'static str| s.split('|').collect::<Vec<_>>();
    if let Some((_, hosts)) = GT_HOSTS.iter().find(|(p, _)| *p == path) {
        return Some(
            hosts
                .iter()
                .map(|(a, f)| (a.parse().unwrap(), fams(f)))
                .collect(),
        );
    }
    let mut parts = path.split('/');
    if parts.next() == Some("iot-sentinel") {
        let dev = parts.next()?;
        let (_, addr) = IOT.iter().find(|(d, _)| *d == dev)?;
        return Some(vec![(addr.parse().unwrap(), vec!["embedded"])]);
    }
    None
}

#[derive(Default)]
struct FileResult {
    records: u64,
    labelled_ours: u64,
    labelled_p0f: u64,
    /// Subject address -> family -> records (our database).
    families: HashMap<IpAddr, BTreeMap<&'static str, u64>>,
    error: Option<String>,
}

fn family_name(tool: bool, kind: MatchKind, fam: fingerprint::Family) -> &'static str {
    if kind == MatchKind::Unknown {
        "unknown"
    } else if tool {
        "tool"
    } else {
        fam.name()
    }
}

fn run_file(path: &Path, ours: &Arc<Database>, p0f: &Arc<Database>) -> FileResult {
    let mut sel = Selector::new(SelectConfig::default());
    let mut p_ours = Pipeline::with_database(ours.clone(), osfp::sources::DEFAULT_CAP);
    let mut p_p0f = Pipeline::with_database(p0f.clone(), osfp::sources::DEFAULT_CAP);
    let (mut scans_ours, mut scans_p0f) = (Vec::new(), Vec::new());
    let mut r = FileResult::default();
    let res = capture_file::for_each_frame(path, |link, frame, ts| {
        let Some(rec) = sel.frame(link, frame, ts) else {
            return;
        };
        let ev = p_ours.process(&rec);
        let Some((_, v)) = p_ours.observe(&ev, &mut scans_ours) else {
            return;
        };
        r.records += 1;
        if v.kind != MatchKind::Unknown {
            r.labelled_ours += 1;
        }
        let fam = family_name(v.is_tool, v.kind, v.family());
        // The subject of a SYN is its client, of a SYN-ACK its server: the sender.
        *r.families
            .entry(ev.src)
            .or_default()
            .entry(fam)
            .or_default() += 1;
        let (_, v2) = p_p0f
            .observe(&ev, &mut scans_p0f)
            .expect("same event, same direction");
        if v2.kind != MatchKind::Unknown {
            r.labelled_p0f += 1;
        }
    });
    match res {
        Ok(rep) => r.error = rep.read_error.map(|e| e.to_string()),
        Err(e) => r.error = Some(format!("{e:#}")),
    }
    r
}

#[test]
fn ground_truth_and_coverage_beat_p0f() {
    let Some(corpus) = osfp_tests::require(corpus(), "ground_truth: corpus not found") else {
        return;
    };
    if !Path::new(P0F_DB).exists() {
        osfp_tests::cannot_run(&format!(
            "ground_truth: {P0F_DB} missing (Debian package p0f)"
        ));
        return;
    }
    let ours = Arc::new(fingerprint::default_database().expect("built-in database"));
    let p0f = Arc::new(Database::load(P0F_DB).expect("load p0f.fp"));
    let index = std::fs::read_to_string(corpus.join("INDEX.tsv")).unwrap();
    let mut lines = index.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let gt_col = header.iter().position(|h| *h == "gt").expect("gt column");
    let mut seen = HashSet::new();
    let mut files: Vec<(String, bool)> = Vec::new();
    for l in lines {
        let f: Vec<&str> = l.split('\t').collect();
        if seen.insert(f[0].to_string()) {
            let has_gt = f.get(gt_col).is_some_and(|g| !g.trim().is_empty());
            files.push((f[0].to_string(), has_gt));
        }
    }
    assert!(files.len() > 1000, "corpus has {} files", files.len());

    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(String, bool, FileResult)>> = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|sc| {
        for _ in 0..threads {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((path, gt)) = files.get(i) else {
                    break;
                };
                let r = run_file(&corpus.join(path), &ours, &p0f);
                results.lock().unwrap().push((path.clone(), *gt, r));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.0.cmp(&b.0));

    let (mut n, mut k_ours, mut k_p0f) = (0u64, 0u64, 0u64);
    let mut failures = Vec::new();
    let mut checked = 0;
    for (path, has_gt, r) in &results {
        n += r.records;
        k_ours += r.labelled_ours;
        k_p0f += r.labelled_p0f;
        if let Some(e) = &r.error {
            eprintln!("note: {path}: {e}");
        }
        if !has_gt {
            continue;
        }
        let Some(hosts) = expected_hosts(path) else {
            if !GT_NO_OS.iter().any(|(p, _)| p == path) {
                failures.push(format!(
                    "{path}: has ground truth but no expected host here"
                ));
            }
            continue;
        };
        for (addr, want) in hosts {
            checked += 1;
            let got = r.families.get(&addr).cloned().unwrap_or_default();
            let good: u64 = got
                .iter()
                .filter(|(f, _)| want.contains(f))
                .map(|(_, c)| c)
                .sum();
            let wrong: Vec<_> = got
                .keys()
                .filter(|f| **f != "unknown" && !want.contains(f))
                .collect();
            if good == 0 || !wrong.is_empty() {
                failures.push(format!(
                    "{path} {addr}: want {} got {got:?}",
                    want.join("|")
                ));
            }
        }
    }
    let pct = |k: u64| 100.0 * k as f64 / n.max(1) as f64;
    eprintln!(
        "SYN/SYN-ACK signatures labelled over {} files: built-in {k_ours}/{n} ({:.1}%), \
         p0f.fp {k_p0f}/{n} ({:.1}%); ground-truth hosts checked: {checked}, failures: {}",
        results.len(),
        pct(k_ours),
        pct(k_p0f),
        failures.len()
    );
    for f in &failures {
        eprintln!("GROUND TRUTH FAILURE: {f}");
    }
    assert!(n > 1000, "only {n} SYN/SYN-ACK records in the corpus");
    assert!(checked > 40, "only {checked} ground-truth hosts checked");
    assert!(
        failures.is_empty(),
        "{} ground-truth failures",
        failures.len()
    );
    assert!(
        k_ours > k_p0f,
        "built-in database labels {k_ours}/{n}, p0f.fp {k_p0f}/{n}"
    );
}
