//! Scan detection over the real corpus, through the real pcap path
//! (`capture_file::for_each_frame` -> `frame::Selector` -> `pipeline::Pipeline`).
//! Scanner addresses and expectations come from the files' documentation and the
//! packets themselves; the evidence is stated with each case.

use std::{collections::BTreeSet, net::IpAddr, path::PathBuf};

use osfp::analysis::scan::{Phase, ScanConfig, ScanCounters, ScanEvent, ScanKind, Tool};

/// `OSFP_CORPUS`, else `shared/corpus` beside the workspace root or one level up (the
/// lead's checkout has it beside, a worktree under /work/wt one level higher).
fn corpus() -> PathBuf {
    osfp_tests::corpus::locate()
        .expect("corpus not found: set OSFP_CORPUS or put shared/ beside the checkout")
}

struct Run {
    events: Vec<ScanEvent>,
    counters: ScanCounters,
}

impl Run {
    fn ends(&self) -> impl Iterator<Item = &ScanEvent> {
        self.events.iter().filter(|e| e.phase == Phase::End)
    }
    /// (kind, source) of every scan reported.
    fn kinds(&self) -> BTreeSet<(ScanKind, IpAddr)> {
        self.ends().map(|e| (e.kind, e.src)).collect()
    }
    fn one(&self, kind: ScanKind, src: &str) -> &ScanEvent {
        let src: IpAddr = src.parse().unwrap();
        let v: Vec<_> = self
            .ends()
            .filter(|e| e.kind == kind && e.src == src)
            .collect();
        assert_eq!(v.len(), 1, "{kind:?} from {src}: {:?}", self.kinds());
        v[0]
    }
}

fn scan_file(rel: &str) -> Run {
    let run = osfp_tests::run_pcap(&corpus().join(rel));
    let events = run.scan_events;
    // Every start has its end.
    let starts = events.iter().filter(|e| e.phase == Phase::Start).count();
    assert_eq!(starts * 2, events.len(), "{rel}: unpaired start/end");
    Run {
        events,
        counters: run.pipeline.scan_counters().clone(),
    }
}

fn set(v: &[(ScanKind, &str)]) -> BTreeSet<(ScanKind, IpAddr)> {
    v.iter().map(|(k, a)| (*k, a.parse().unwrap())).collect()
}

/// victorialugi/nmap syn.txt: "nmap -sS -F ... 158.160.84.144", 5 open ports (21, 22, 80,
/// 139, 445). The capture host 10.129.0.4 is the scanner (all 101 nmap-template SYNs
/// come from it). The capture also holds internet background; one background source,
/// 78.128.114.46, sends a zmap SYN (IP ID 54321, window 65535, no options).
#[test]
fn victorialugi_syn_scan() {
    let r = scan_file("victorialugi-nmap/syn_scan.pcap");
    assert_eq!(
        r.kinds(),
        set(&[
            (ScanKind::SynScan, "10.129.0.4"),
            (ScanKind::Zmap, "78.128.114.46"),
        ])
    );
    let e = r.one(ScanKind::SynScan, "10.129.0.4");
    assert_eq!(e.tool, Some(Tool::Nmap));
    assert_eq!(e.hosts, 1);
    assert_eq!(
        e.sample[0].host,
        "158.160.84.144".parse::<IpAddr>().unwrap()
    );
    // -F scans the 100 most common ports (plus retransmissions).
    assert_eq!(e.ports, 100);
    assert!(e.packets >= 100);
    // The five open ports answered with SYN-ACKs; nmap reset all five (other flows of
    // the capture complete their handshakes, so completion is known): all half-open.
    assert_eq!(e.answered, 5);
    assert_eq!((e.completed, e.half_open), (Some(0), Some(5)));
    assert_eq!(
        r.one(ScanKind::Zmap, "78.128.114.46").tool,
        Some(Tool::Zmap)
    );
}

/// fin.txt / xmas.txt: nmap -sF -F / -sX -F against 158.160.84.144 from 10.129.0.4: 105
/// probes on 100 ports. nmap's host discovery (root) also sends one template SYN to
/// 443 (window 1024, MSS 1460 only, TTL 50, no DF: frame visible with tshark), which
/// is the one-packet syn_scan.
#[test]
fn victorialugi_fin_and_xmas() {
    for (file, kind) in [
        ("victorialugi-nmap/fin_scan.pcap", ScanKind::FinScan),
        ("victorialugi-nmap/xmas_scan.pcap", ScanKind::XmasScan),
    ] {
        let r = scan_file(file);
        assert_eq!(
            r.kinds(),
            set(&[(kind, "10.129.0.4"), (ScanKind::SynScan, "10.129.0.4")]),
            "{file}"
        );
        let e = r.one(kind, "10.129.0.4");
        assert_eq!(e.tool, Some(Tool::Nmap), "{file}");
        assert_eq!((e.hosts, e.ports, e.packets), (1, 100, 105), "{file}");
        let ping = r.one(ScanKind::SynScan, "10.129.0.4");
        assert_eq!((ping.packets, ping.sample[0].port), (1, 443), "{file}");
    }
}

/// esnet-curated: "masscan 1.0.4 -p0-1000" from 172.31.15.102: 1,001 SYNs, one host.
#[test]
fn esnet_masscan() {
    let r = scan_file("esnet-curated/attacks__scanners__masscan__tcp_0_1000_20190821.pcap");
    assert_eq!(r.kinds(), set(&[(ScanKind::Masscan, "172.31.15.102")]));
    let e = r.one(ScanKind::Masscan, "172.31.15.102");
    assert_eq!((e.tool, e.hosts, e.packets), (Some(Tool::Masscan), 1, 1001));
    // 1,001 ports exceed the per-source target cap: counts become lower bounds, flagged.
    let cap = ScanConfig::default().max_targets_per_source as u32;
    assert_eq!(e.ports, cap);
    assert!(e.targets_truncated);
    assert_eq!(r.counters.targets_dropped, 1001 - cap as u64);
}

/// nDPI synscan.pcap and PPA synscan.pcapng (the same trace): an nmap SYN scan of one
/// host from 172.16.0.8 (1,994 SYNs, window 2048, MSS 1460 only).
#[test]
fn ndpi_and_ppa_synscan() {
    for file in ["ndpi/synscan.pcap", "chrissanders-packets/synscan.pcapng"] {
        let r = scan_file(file);
        assert_eq!(
            r.kinds(),
            set(&[(ScanKind::SynScan, "172.16.0.8")]),
            "{file}"
        );
        let e = r.one(ScanKind::SynScan, "172.16.0.8");
        assert_eq!((e.tool, e.hosts, e.packets), (Some(Tool::Nmap), 1, 1994));
    }
}

/// nDPI tcp_scan.pcapng: from 192.168.1.178 to 192.168.1.2, first ordinary connections
/// (80, 443, 445: macOS-like SYNs, DF), then one nmap -sS SYN (3389), one -sF (3390),
/// one -sN (3391), one -sX (3392), all window 1024, no DF, TTL <= 59.
#[test]
fn ndpi_tcp_scan() {
    let r = scan_file("ndpi/tcp_scan.pcapng");
    let src = "192.168.1.178";
    assert_eq!(
        r.kinds(),
        set(&[
            (ScanKind::SynScan, src),
            (ScanKind::FinScan, src),
            (ScanKind::NullScan, src),
            (ScanKind::XmasScan, src),
        ])
    );
    for (k, port) in [
        (ScanKind::SynScan, 3389),
        (ScanKind::FinScan, 3390),
        (ScanKind::NullScan, 3391),
        (ScanKind::XmasScan, 3392),
    ] {
        let e = r.one(k, src);
        assert_eq!((e.packets, e.sample[0].port), (1, port), "{k:?}");
        assert_eq!(e.tool, Some(Tool::Nmap));
    }
}

/// PPA activeosfingerprinting.pcapng: nmap -O from 172.16.16.128 against 172.16.16.150
/// (open 135, closed 41296): SEQ probes, ECN, T2-T7 (retransmitted). The T2 NULL and T7
/// FIN+PSH+URG probes are OS probes, not NULL/Xmas scans.
#[test]
fn ppa_os_detection() {
    let r = scan_file("chrissanders-packets/activeosfingerprinting.pcapng");
    assert_eq!(r.kinds(), set(&[(ScanKind::OsDetection, "172.16.16.128")]));
    let e = r.one(ScanKind::OsDetection, "172.16.16.128");
    assert_eq!(e.tool, Some(Tool::Nmap));
    assert_eq!((e.hosts, e.ports), (1, 2));
    // 6 SEQ + ECN + 4 rounds of T2, T3, T5, T7 (T4/T6 are ACKs, not selected).
    assert_eq!(e.packets, 23);
    assert_eq!(
        r.counters.probes(osfp::analysis::scan::ProbeKind::NmapOs),
        23,
        "every probe classified"
    );
}

/// esnet-curated nmap 7.80 -p 80 runs (vanilla, -sV, -A): every SYN carries the Linux
/// stack's template (DF, TTL 64, window 29200, mss,sok,ts,nop,ws): nmap ran
/// unprivileged (connect scan), so -A had no raw OS probes, and two ports on one host
/// are no sweep. Nothing to report.
#[test]
fn esnet_unprivileged_nmap_is_quiet() {
    for f in [
        "esnet-curated/attacks__scanners__nmap__nmap_80_vanilla.pcap",
        "esnet-curated/attacks__scanners__nmap__nmap_80_w_service_detection.pcap",
        "esnet-curated/attacks__scanners__nmap__nmap_80_all.pcap",
    ] {
        assert!(scan_file(f).kinds().is_empty(), "{f}");
    }
}

/// esnet-curated one_way_all_flags (scapy, every flag combination from 10.0.0.10, one
/// port): FIN-without-ACK variants (7) and SYN+FIN / SYN+RST / URG-less combinations are
/// reported; the single NULL and single Xmas stay below `min_probes` (no tool traits).
/// zeek modbus fuzz-72: a fuzzer (166.161.16.230) sending urgent pointers without URG
/// and SYN+FIN in one session: odd flags.
#[test]
fn synthetic_and_fuzzed_flags() {
    let r = scan_file("esnet-curated/tcp__control__one_way_all_flags.pcap");
    assert_eq!(
        r.kinds(),
        set(&[
            (ScanKind::FinScan, "10.0.0.10"),
            (ScanKind::OddFlags, "10.0.0.10")
        ])
    );
    assert!(r.ends().all(|e| e.tool.is_none() && e.ports == 1));
    let r = scan_file("zeek/modbus__fuzz-72.pcap");
    assert_eq!(r.kinds(), set(&[(ScanKind::OddFlags, "166.161.16.230")]));
}

/// Files without scans give nothing: 50 arkime/ and zeek/ files whose `scan` column is
/// empty (tshark found no NULL/FIN/Xmas) and with at most 20 SYNs per SYN source (no
/// room for a sweep), every 11th in path order to spread over both sets; plus the
/// corpus's busiest benign SYN senders (the most SYNs per file outside the scan files).
#[test]
fn benign_files_are_quiet() {
    let index = std::fs::read_to_string(corpus().join("INDEX.tsv")).unwrap();
    let mut sample: Vec<String> = index
        .lines()
        .skip(1)
        .filter_map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            let (path, syn, srcs, scan) = (c[0], c[4], c[6], c[7]);
            let (syn, srcs): (u64, u64) = (syn.parse().ok()?, srcs.parse().ok()?);
            let ok = (path.starts_with("arkime/") || path.starts_with("zeek/"))
                && scan.is_empty()
                && srcs > 0
                && syn <= 20 * srcs;
            ok.then(|| path.to_string())
        })
        .step_by(11)
        .take(50)
        .collect();
    assert_eq!(sample.len(), 50);
    sample.extend(
        [
            "zeek/ldap__ldap-max-recursion.pcap",
            "chrissanders-packets/http_espn_fail.pcapng",
            "ndpi/whatsapp.pcap",
            "iot-sentinel/HueBridge/Setup-C-9-STA.pcap",
            "ndpi/sites.pcapng",
            "ndpi/ethereum.pcap",
        ]
        .map(String::from),
    );
    let mut loud = Vec::new();
    for f in &sample {
        let r = scan_file(f);
        if !r.kinds().is_empty() {
            loud.push((f.clone(), r.kinds()));
        }
    }
    assert!(loud.is_empty(), "scans reported in benign files: {loud:?}");
}

/// `osfp pcap --scans --quiet FILE`: scan events as NDJSON on stdout, nothing else.
#[test]
fn cli_prints_scan_events_as_ndjson() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_osfp"))
        .args(["pcap", "--quiet", "--scans"])
        .arg(corpus().join("ndpi/tcp_scan.pcapng"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 8, "{lines:?}");
    assert!(lines.iter().all(|v| v["event"] == "scan"));
    let phase = |p: &str| lines.iter().filter(|v| v["phase"] == p).count();
    assert_eq!((phase("start"), phase("end")), (4, 4));
    let kinds: BTreeSet<&str> = lines.iter().map(|v| v["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["syn_scan", "null_scan", "fin_scan", "xmas_scan"]
            .into_iter()
            .collect()
    );
    assert!(lines.iter().all(|v| v["src"] == "192.168.1.178"));
}

/// Every file of the corpus: the scans reported are exactly the ones justified above,
/// nothing anywhere else (1,022 files, ~8,400 SYNs and ~300 scan-like packets).
#[test]
fn whole_corpus_reports_only_the_known_scans() {
    let index = std::fs::read_to_string(corpus().join("INDEX.tsv")).unwrap();
    let mut got = BTreeSet::new();
    let mut files = 0;
    for line in index.lines().skip(1) {
        let path = line.split('\t').next().unwrap();
        files += 1;
        for (k, src) in scan_file(path).kinds() {
            got.insert((path.to_string(), k, src));
        }
    }
    assert_eq!(files, 1022);
    let want: BTreeSet<(String, ScanKind, IpAddr)> = [
        (
            "chrissanders-packets/activeosfingerprinting.pcapng",
            ScanKind::OsDetection,
            "172.16.16.128",
        ),
        (
            "chrissanders-packets/synscan.pcapng",
            ScanKind::SynScan,
            "172.16.0.8",
        ),
        (
            "esnet-curated/attacks__scanners__masscan__tcp_0_1000_20190821.pcap",
            ScanKind::Masscan,
            "172.31.15.102",
        ),
        (
            "esnet-curated/tcp__control__one_way_all_flags.pcap",
            ScanKind::FinScan,
            "10.0.0.10",
        ),
        (
            "esnet-curated/tcp__control__one_way_all_flags.pcap",
            ScanKind::OddFlags,
            "10.0.0.10",
        ),
        ("ndpi/synscan.pcap", ScanKind::SynScan, "172.16.0.8"),
        ("ndpi/tcp_scan.pcapng", ScanKind::SynScan, "192.168.1.178"),
        ("ndpi/tcp_scan.pcapng", ScanKind::NullScan, "192.168.1.178"),
        ("ndpi/tcp_scan.pcapng", ScanKind::FinScan, "192.168.1.178"),
        ("ndpi/tcp_scan.pcapng", ScanKind::XmasScan, "192.168.1.178"),
        (
            "victorialugi-nmap/fin_scan.pcap",
            ScanKind::SynScan,
            "10.129.0.4",
        ),
        (
            "victorialugi-nmap/fin_scan.pcap",
            ScanKind::FinScan,
            "10.129.0.4",
        ),
        (
            "victorialugi-nmap/syn_scan.pcap",
            ScanKind::Zmap,
            "78.128.114.46",
        ),
        (
            "victorialugi-nmap/syn_scan.pcap",
            ScanKind::SynScan,
            "10.129.0.4",
        ),
        (
            "victorialugi-nmap/xmas_scan.pcap",
            ScanKind::SynScan,
            "10.129.0.4",
        ),
        (
            "victorialugi-nmap/xmas_scan.pcap",
            ScanKind::XmasScan,
            "10.129.0.4",
        ),
        (
            "zeek/modbus__fuzz-72.pcap",
            ScanKind::OddFlags,
            "166.161.16.230",
        ),
    ]
    .into_iter()
    .map(|(f, k, a)| (f.to_string(), k, a.parse().unwrap()))
    .collect();
    assert_eq!(got, want);
}
