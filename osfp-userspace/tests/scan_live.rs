//! Real nmap against a target in a network namespace pair, captured with tshark, then
//! detected through the pcap path. All scans share one source address here, so targets
//! (and their completion) are shared between kinds: the half-open split per tool is
//! asserted by tests/tests/scan_xdp.rs (one address per tool, through the XDP sensor). Needs root, nmap, tshark, python3; skips loudly
//! otherwise. Namespaces, processes and the capture file are removed on drop.

use std::{
    collections::BTreeSet,
    net::IpAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use osfp::analysis::scan::{Phase, ScanKind, Tool};

/// Tests run in parallel in one process: names carry the pid and a per-lab number.
static LABS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

struct Lab {
    /// `<pid><n>`, unique per lab.
    tag: String,
    scanner_ns: String,
    target_ns: String,
    pcap: PathBuf,
    children: Vec<Child>,
}

fn sh(args: &[&str]) {
    let st = Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(st.success(), "{args:?}: {st}");
}

impl Lab {
    const SCANNER: &'static str = "10.213.7.1";
    const TARGET: &'static str = "10.213.7.2";
    const SCANNER6: &'static str = "fd00:213:7::1";
    const TARGET6: &'static str = "fd00:213:7::2";

    fn new() -> Lab {
        let n = LABS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let tag = format!("{}{n}", std::process::id());
        let lab = Lab {
            scanner_ns: format!("osfpscan-s{tag}"),
            target_ns: format!("osfpscan-t{tag}"),
            pcap: std::env::temp_dir().join(format!("osfp-scan-live-{tag}.pcapng")),
            children: Vec::new(),
            tag,
        };
        let (va, vb) = (lab.scanner_dev(), lab.target_dev());
        let (s, t) = (lab.scanner_ns.as_str(), lab.target_ns.as_str());
        sh(&["ip", "netns", "add", s]);
        sh(&["ip", "netns", "add", t]);
        sh(&[
            "ip", "link", "add", &va, "type", "veth", "peer", "name", &vb,
        ]);
        sh(&["ip", "link", "set", &va, "netns", s]);
        sh(&["ip", "link", "set", &vb, "netns", t]);
        for (ns, dev, addr, addr6) in [
            (s, &va, Self::SCANNER, Self::SCANNER6),
            (t, &vb, Self::TARGET, Self::TARGET6),
        ] {
            let a4 = format!("{addr}/24");
            sh(&["ip", "-n", ns, "addr", "add", &a4, "dev", dev]);
            let a6 = format!("{addr6}/64");
            sh(&[
                "ip", "-n", ns, "-6", "addr", "add", &a6, "dev", dev, "nodad",
            ]);
            sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        lab
    }

    fn spawn(&mut self, ns: &str, args: &[&str]) {
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        self.children.push(child);
    }

    fn nmap(&self, args: &[&str]) {
        let mut a = vec!["netns", "exec", &self.scanner_ns, "nmap", "-n", "-Pn"];
        a.extend_from_slice(args);
        a.push(if args.contains(&"-6") {
            Self::TARGET6
        } else {
            Self::TARGET
        });
        let st = Command::new("ip")
            .args(&a)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "nmap {args:?}: {st}");
    }

    /// Stops the capture (tshark finishes its file on SIGTERM).
    fn stop_all(&mut self) {
        for c in &mut self.children {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        }
        for mut c in self.children.drain(..) {
            let deadline = Instant::now() + Duration::from_secs(10);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Lab {
    fn target_dev(&self) -> String {
        format!("osv{}b", self.tag)
    }
    fn scanner_dev(&self) -> String {
        format!("osv{}a", self.tag)
    }

    /// tshark on the target's side of the veth; returns once its file exists.
    fn start_capture(&mut self) {
        let (t_ns, dev) = (self.target_ns.clone(), self.target_dev());
        let pcap = self.pcap.to_str().unwrap().to_string();
        self.spawn(&t_ns, &["tshark", "-q", "-i", &dev, "-w", &pcap]);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::fs::metadata(&self.pcap).map(|m| m.len()).unwrap_or(0) == 0 {
            assert!(Instant::now() < deadline, "tshark did not start");
            sleep(Duration::from_millis(100));
        }
        sleep(Duration::from_secs(1));
    }

    fn target_mac(&self) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.target_ns, "cat"])
            .arg(format!("/sys/class/net/{}/address", self.target_dev()))
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn run_in_scanner(&self, args: &[&str]) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.scanner_ns])
            .args(args)
            .stdout(Stdio::null())
            .output()
            .unwrap();
        // The scanner's own words on failure (zmap once died of SIGABRT in a loaded run).
        assert!(
            out.status.success(),
            "{args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The capture through the production pcap path (its scan stage among the others).
fn detect(pcap: &std::path::Path) -> Vec<osfp::analysis::scan::ScanEvent> {
    osfp_tests::run_pcap(pcap).scan_events
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop_all();
        for ns in [&self.scanner_ns, &self.target_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = std::fs::remove_file(&self.pcap);
    }
}

fn missing_prereq(tools: &[&str]) -> Option<String> {
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    for tool in tools {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !found {
            return Some(format!("{tool} not installed"));
        }
    }
    None
}

#[test]
fn real_nmap_scans_are_detected_through_the_pcap_path() {
    if let Some(why) = missing_prereq(&["nmap", "tshark", "python3", "ip"]) {
        osfp_tests::cannot_run(&format!(
            "scan_live: {why} (needs root, nmap, tshark, python3)"
        ));
        return;
    }
    let mut lab = Lab::new();
    let (t_ns, pcap) = (lab.target_ns.clone(), lab.pcap.clone());
    // An open port for -sT / -O; everything else in 1-100 is closed.
    lab.spawn(
        &t_ns,
        &[
            "python3",
            "-m",
            "http.server",
            "8080",
            "--bind",
            Lab::TARGET,
        ],
    );
    lab.start_capture();

    let ports = "1-100,8080";
    lab.nmap(&["-sS", "-p", ports]);
    lab.nmap(&["-sT", "-p", ports]);
    lab.nmap(&["-sN", "--max-retries", "1", "-p", ports]);
    lab.nmap(&["-sF", "--max-retries", "1", "-p", ports]);
    lab.nmap(&["-sX", "--max-retries", "1", "-p", ports]);
    lab.nmap(&["-O", "-p", "7,8080"]);
    lab.nmap(&["-6", "-sS", "-p", "1-40"]);
    lab.nmap(&["-6", "-sX", "--max-retries", "1", "-p", "1-40"]);
    sleep(Duration::from_secs(1));
    lab.stop_all();

    let events = detect(&pcap);
    let (ends, ends6): (Vec<_>, Vec<_>) = events
        .iter()
        .filter(|e| e.phase == Phase::End)
        .partition(|e| e.src.is_ipv4());
    // IPv6: nmap's template SYNs and Xmas probes (hop limit 255, window 1024).
    let scanner6: IpAddr = Lab::SCANNER6.parse().unwrap();
    let mut got6: Vec<_> = ends6
        .iter()
        .map(|e| (e.kind, e.src, e.tool, e.ports))
        .collect();
    got6.sort_by_key(|g| g.0);
    assert_eq!(
        got6,
        [
            (ScanKind::SynScan, scanner6, Some(Tool::Nmap), 40),
            (ScanKind::XmasScan, scanner6, Some(Tool::Nmap), 40),
        ],
        "{ends6:?}"
    );
    let scanner: IpAddr = Lab::SCANNER.parse().unwrap();
    let target: IpAddr = Lab::TARGET.parse().unwrap();
    let kinds: BTreeSet<ScanKind> = ends.iter().map(|e| e.kind).collect();
    assert!(ends.iter().all(|e| e.src == scanner), "{ends:?}");
    // -sS and -O's own port scan: nmap's SYN template; -sT: the kernel's SYNs, 101 ports
    // of which one answered and had its handshake completed (the pcap path's handshake
    // ACK records): a connect scan.
    assert_eq!(
        kinds,
        [
            ScanKind::SynScan,
            ScanKind::ConnectScan,
            ScanKind::NullScan,
            ScanKind::FinScan,
            ScanKind::XmasScan,
            ScanKind::OsDetection,
        ]
        .into_iter()
        .collect(),
        "{ends:?}"
    );
    for e in &ends {
        assert!(e.sample.iter().all(|t| t.host == target));
        match e.kind {
            ScanKind::ConnectScan => {
                assert_eq!((e.tool, e.ports), (None, 101));
                assert_eq!(e.answered, 1, "only 8080 is open");
                assert_eq!((e.completed, e.half_open), (Some(1), Some(0)), "{e:?}");
            }
            ScanKind::OsDetection => assert_eq!(e.tool, Some(Tool::Nmap)),
            _ => {
                assert_eq!(e.tool, Some(Tool::Nmap), "{e:?}");
                assert!(e.ports >= 101, "{e:?}");
            }
        }
    }
}

/// Real masscan (its own stack, --router-mac) over 101 ports and real zmap over a /29
/// on one port, from the scanner namespace; both named by their templates.
#[test]
fn real_masscan_and_zmap_are_detected_through_the_pcap_path() {
    if let Some(why) = missing_prereq(&["masscan", "zmap", "tshark", "ip"]) {
        osfp_tests::cannot_run(&format!(
            "scan_live: {why} (needs root, masscan, zmap, tshark)"
        ));
        return;
    }
    let mut lab = Lab::new();
    lab.start_capture();
    let mac = lab.target_mac();
    let dev = lab.scanner_dev();
    lab.run_in_scanner(&[
        "masscan",
        Lab::TARGET,
        "-p1-100,8080",
        "--rate",
        "2000",
        "--router-mac",
        &mac,
        "-e",
        &dev,
        "--wait",
        "1",
    ]);
    // zmap's default blocklist excludes private space: give it an empty one.
    let empty = std::env::temp_dir().join(format!("osfp-scan-live-{}.conf", lab.tag));
    std::fs::write(&empty, "").unwrap();
    let net = format!("{}/29", Lab::TARGET);
    lab.run_in_scanner(&[
        "zmap",
        "-p",
        "8080",
        &net,
        "-i",
        &dev,
        "-G",
        &mac,
        "-B",
        "1M",
        "-c",
        "1",
        "-b",
        empty.to_str().unwrap(),
        "-o",
        "/dev/null",
    ]);
    let _ = std::fs::remove_file(&empty);
    sleep(Duration::from_secs(1));
    lab.stop_all();

    let events = detect(&lab.pcap);
    let scanner: IpAddr = Lab::SCANNER.parse().unwrap();
    let mut got: Vec<_> = events
        .iter()
        .filter(|e| e.phase == Phase::End)
        .map(|e| (e.kind, e.src, e.tool, e.hosts, e.ports))
        .collect();
    got.sort_by_key(|g| g.0);
    assert_eq!(
        got,
        [
            (ScanKind::Masscan, scanner, Some(Tool::Masscan), 1, 101),
            (ScanKind::Zmap, scanner, Some(Tool::Zmap), 8, 1),
        ],
        "{events:?}"
    );
}
