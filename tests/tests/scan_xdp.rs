//! Real scanners through the XDP sensor. Three namespaces: a scanner (which also hosts
//! benign clients), a router running `osfp run --json` on both of its veths, and a
//! target with four open ports. The sensor sits on the target's side of the path and
//! sees both directions (the scanner's probes and ACKs, the target's SYN-ACKs), which
//! the half-open split needs. Each tool runs from its own address, in sequence, against
//! one sensor: nmap -sS, -sT, -sN, -sF, -sX, -O, masscan and zmap must each be reported
//! as its kind with that address, -sT with no half-open handshakes and -sS with all of
//! them half-open; hundreds of ordinary connections from two other addresses, with
//! refused retries and short-lived connections, must yield no scan event.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{IpAddr, SocketAddr},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use osfp_tests::{in_netns, listen_in_ns, metric, privileged, sh, Sensor};
use serde_json::Value;

const TARGET: &str = "10.9.2.2";
/// Ports open on the target; the scans cover 1-100 and 8080.
const OPEN: [u16; 4] = [21, 22, 80, 8080];
const PORTS: &str = "1-100,8080";
const BENIGN: [&str; 2] = ["10.9.1.31", "10.9.1.32"];

/// Scanner (S), router with the sensor (R), target (T); removed on drop.
struct Net {
    s: String,
    r: String,
    t: String,
}

impl Net {
    fn new() -> Net {
        let id = std::process::id();
        let net = Net {
            s: format!("osfpkS{id}"),
            r: format!("osfpkR{id}"),
            t: format!("osfpkT{id}"),
        };
        let (s, r, t) = (&net.s, &net.r, &net.t);
        let mut extra = String::new();
        for a in (11..=18).chain(31..=32) {
            extra.push_str(&format!(" && ip -n {s} addr add 10.9.1.{a}/24 dev vs"));
        }
        sh(&format!(
            "ip netns add {s} && ip netns add {r} && ip netns add {t} && \
             ip link add vs netns {s} type veth peer name rs netns {r} && \
             ip link add rt netns {r} type veth peer name vt netns {t} && \
             ip -n {s} link set lo up && ip -n {r} link set lo up && ip -n {t} link set lo up && \
             ip -n {s} addr add 10.9.1.1/24 dev vs{extra} && \
             ip -n {r} addr add 10.9.1.254/24 dev rs && ip -n {r} addr add 10.9.2.254/24 dev rt && \
             ip -n {t} addr add {TARGET}/24 dev vt && \
             ip -n {s} link set vs up && ip -n {r} link set rs up && ip -n {r} link set rt up && \
             ip -n {t} link set vt up && \
             ip -n {s} route add default via 10.9.1.254 && ip -n {t} route add default via 10.9.2.254 && \
             ip netns exec {r} sysctl -qw net.ipv4.ip_forward=1"
        ))
        .expect("namespaces");
        net
    }

    /// Runs a command in the scanner namespace; it must succeed.
    fn scan(&self, args: &[&str]) {
        let t0 = Instant::now();
        let st = Command::new("ip")
            .args(["netns", "exec", &self.s])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "{args:?}: {st}");
        eprintln!(
            "{:?}: {:.1} s",
            args[..2].to_vec(),
            t0.elapsed().as_secs_f64()
        );
    }

    fn nmap(&self, src: &str, args: &[&str]) {
        let mut a = vec!["nmap", "-n", "-Pn", "-e", "vs", "-S", src, "-p", PORTS];
        a.extend_from_slice(args);
        a.push(TARGET);
        self.scan(&a);
    }

    fn router_mac(&self) -> String {
        sh(&format!(
            "ip netns exec {} cat /sys/class/net/rs/address",
            self.r
        ))
        .unwrap()
        .trim()
        .to_string()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = sh(&format!(
            "ip netns del {}; ip netns del {}; ip netns del {}",
            self.s, self.r, self.t
        ));
    }
}

fn missing_tool() -> Option<&'static str> {
    ["nmap", "masscan", "zmap"].into_iter().find(|t| {
        !Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Ordinary clients: per address, 150 short-lived connections to the open ports (a
/// few bytes each way) and 10 connections to a closed port, each retried 3 times.
fn benign_load(ns: &str) {
    let ns = ns.to_string();
    let handles: Vec<_> = BENIGN
        .iter()
        .map(|src| {
            let (ns, src) = (ns.clone(), src.parse::<IpAddr>().unwrap());
            std::thread::spawn(move || {
                in_netns(&ns, move || {
                    use std::io::Write;
                    let target: IpAddr = TARGET.parse().unwrap();
                    let conn = |port: u16| -> std::io::Result<()> {
                        let s = socket2::Socket::new(
                            socket2::Domain::IPV4,
                            socket2::Type::STREAM,
                            None,
                        )?;
                        s.bind(&SocketAddr::new(src, 0).into())?;
                        s.connect_timeout(
                            &SocketAddr::new(target, port).into(),
                            Duration::from_secs(2),
                        )?;
                        let mut s = std::net::TcpStream::from(s);
                        let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
                        Ok(())
                    };
                    let (mut ok, mut refused) = (0, 0);
                    for i in 0..150 {
                        ok += conn([80, 8080, 22][i % 3]).is_ok() as u32;
                        if i % 15 == 0 {
                            for _ in 0..3 {
                                refused += conn(81).is_err() as u32;
                                std::thread::sleep(Duration::from_millis(20));
                            }
                        }
                    }
                    (ok, refused)
                })
                .unwrap()
            })
        })
        .collect();
    for h in handles {
        let (ok, refused) = h.join().unwrap();
        assert_eq!((ok, refused), (150, 30), "benign connections");
    }
}

fn metrics(ns: &str) -> String {
    in_netns(ns, || -> std::io::Result<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", 9184))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(s, "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut body = String::new();
        s.read_to_string(&mut body)?;
        Ok(body)
    })
    .unwrap()
    .unwrap()
}

#[test]
fn real_scanners_are_detected_through_the_xdp_sensor() {
    if !privileged("real_scanners_are_detected_through_the_xdp_sensor") {
        return;
    }
    if let Some(t) = missing_tool() {
        panic!("{t} is not installed (the test needs nmap, masscan and zmap)");
    }
    let t0 = Instant::now();
    let net = Net::new();
    let _listeners: Vec<_> = OPEN
        .iter()
        .map(|p| {
            listen_in_ns(&net.t, SocketAddr::new(TARGET.parse().unwrap(), *p), |_| {
                Ok(())
            })
            .unwrap()
        })
        .collect();
    let sensor = Sensor::start(&net.r, "rs", "skb", &["--iface", "rt"]).unwrap();
    std::thread::sleep(Duration::from_millis(500));

    let retries = ["--max-retries", "1"];
    net.nmap("10.9.1.11", &["-sS"]);
    net.nmap("10.9.1.12", &["-sT"]);
    net.nmap("10.9.1.13", &[&["-sN"][..], &retries].concat());
    net.nmap("10.9.1.14", &[&["-sF"][..], &retries].concat());
    net.nmap("10.9.1.15", &[&["-sX"][..], &retries].concat());
    net.nmap("10.9.1.16", &["-O", "--max-os-tries", "1"]);
    let mac = net.router_mac();
    net.scan(&[
        "masscan",
        TARGET,
        "-p",
        PORTS,
        "--rate",
        "2000",
        "--router-mac",
        &mac,
        "-e",
        "vs",
        "--adapter-ip",
        "10.9.1.17",
        "--wait",
        "1",
    ]);
    // zmap's default blocklist excludes private space: give it an empty one.
    let empty = std::env::temp_dir().join(format!("osfp-scan-xdp-{}.conf", std::process::id()));
    std::fs::write(&empty, "").unwrap();
    net.scan(&[
        "zmap",
        "-p",
        "8080",
        "10.9.2.0/29",
        "-i",
        "vs",
        "-G",
        &mac,
        "-S",
        "10.9.1.18",
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
    benign_load(&net.s);

    // Per-probe-kind counters (the scan metrics refresh every 5 s, the kernel's every
    // second): poll until every figure is in, then check them.
    let want: [(&str, f64); 8] = [
        ("osfp_scan_probes_total{kind=\"null\"}", 101.0),
        ("osfp_scan_probes_total{kind=\"fin\"}", 101.0),
        ("osfp_scan_probes_total{kind=\"xmas\"}", 101.0),
        ("osfp_scan_probes_total{kind=\"nmap_syn\"}", 101.0),
        ("osfp_scan_probes_total{kind=\"nmap_os\"}", 1.0),
        ("osfp_scan_probes_total{kind=\"masscan\"}", 101.0),
        ("osfp_scan_probes_total{kind=\"zmap\"}", 1.0),
        // 4 from -sT, 150 per benign client.
        (
            // Scanner and benign clients are on the `rs` side.
            "osfp_packets_selected_total{iface=\"rs\",reason=\"handshake_ack\"}",
            (OPEN.len() + 150 * BENIGN.len()) as f64,
        ),
    ];
    let deadline = Instant::now() + Duration::from_secs(25);
    let missing = loop {
        let text = metrics(&net.r);
        let missing: Vec<_> = want
            .iter()
            .map(|(series, min)| (*series, metric(&text, series), *min))
            .filter(|(_, v, min)| !v.is_some_and(|v| v >= *min))
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        missing.is_empty(),
        "metrics (series, value, minimum): {missing:#?}"
    );

    let (status, stderr, recs) = sensor.finish().unwrap();
    assert!(status.success(), "{status}: {stderr}");

    // The kernel's completion records: -sT's four open ports, none from -sS.
    let completions = |src: &str| {
        recs.iter()
            .filter(|r| r["kind"] == "handshake_ack" && r["src"] == src)
            .map(|r| r["dport"].as_u64().unwrap() as u16)
            .collect::<BTreeSet<u16>>()
    };
    assert_eq!(completions("10.9.1.12"), OPEN.into_iter().collect(), "-sT");
    assert!(completions("10.9.1.11").is_empty(), "-sS never completes");

    let scans: Vec<&Value> = recs.iter().filter(|r| r["event"] == "scan").collect();
    let ends: Vec<&Value> = scans
        .iter()
        .copied()
        .filter(|e| e["phase"] == "end")
        .collect();
    let mut by_src: BTreeMap<String, BTreeMap<String, &Value>> = BTreeMap::new();
    for e in &ends {
        by_src
            .entry(e["src"].as_str().unwrap().to_string())
            .or_default()
            .insert(e["kind"].as_str().unwrap().to_string(), e);
    }
    let summary: Vec<String> = ends
        .iter()
        .map(|e| {
            format!(
                "{} {} tool={} ports={} answered={} completed={} half_open={}",
                e["src"],
                e["kind"],
                e["tool"],
                e["ports"],
                e["answered"],
                e["completed"],
                e["half_open"]
            )
        })
        .collect();
    eprintln!("scan ends:\n  {}", summary.join("\n  "));

    let expect: [(&str, &[&str]); 8] = [
        ("10.9.1.11", &["syn_scan"]),
        ("10.9.1.12", &["connect_scan"]),
        ("10.9.1.13", &["null_scan"]),
        ("10.9.1.14", &["fin_scan"]),
        ("10.9.1.15", &["xmas_scan"]),
        // -O's own port scan uses nmap's SYN template.
        ("10.9.1.16", &["os_detection", "syn_scan"]),
        ("10.9.1.17", &["masscan"]),
        ("10.9.1.18", &["zmap"]),
    ];
    let want: BTreeMap<String, BTreeSet<String>> = expect
        .iter()
        .map(|(a, k)| (a.to_string(), k.iter().map(|s| s.to_string()).collect()))
        .collect();
    let got: BTreeMap<String, BTreeSet<String>> = by_src
        .iter()
        .map(|(a, k)| (a.clone(), k.keys().cloned().collect()))
        .collect();
    // Exactly these sources: benign clients and the target report nothing.
    assert_eq!(got, want, "{summary:#?}");
    // Every scan that started also ended (nothing from anyone else).
    assert!(scans
        .iter()
        .all(|e| want.contains_key(e["src"].as_str().unwrap())));

    let get = |src: &str, kind: &str| by_src[src][kind];
    let open = OPEN.len() as u64;
    // -sS: every open port answered, none completed: all half-open.
    let ss = get("10.9.1.11", "syn_scan");
    assert_eq!(ss["tool"], "nmap");
    assert_eq!(
        (
            ss["answered"].as_u64(),
            ss["completed"].as_u64(),
            ss["half_open"].as_u64()
        ),
        (Some(open), Some(0), Some(open)),
        "-sS {ss}"
    );
    // -sT: the kernel's connects complete every answered handshake.
    let st = get("10.9.1.12", "connect_scan");
    assert_eq!(
        (
            st["answered"].as_u64(),
            st["completed"].as_u64(),
            st["half_open"].as_u64()
        ),
        (Some(open), Some(open), Some(0)),
        "-sT {st}"
    );
    assert!(st["ports"].as_u64().unwrap() >= 101, "{st}");
    for (src, kind) in [
        ("10.9.1.13", "null_scan"),
        ("10.9.1.14", "fin_scan"),
        ("10.9.1.15", "xmas_scan"),
    ] {
        let e = get(src, kind);
        assert_eq!(e["tool"], "nmap", "{e}");
        assert!(e["ports"].as_u64().unwrap() >= 101, "{e}");
    }
    assert_eq!(get("10.9.1.16", "os_detection")["tool"], "nmap");
    let m = get("10.9.1.17", "masscan");
    assert_eq!(
        (m["tool"].as_str(), m["ports"].as_u64()),
        (Some("masscan"), Some(101)),
        "{m}"
    );
    // masscan's own stack never completes a handshake.
    assert_eq!(m["completed"].as_u64(), Some(0), "{m}");
    let z = get("10.9.1.18", "zmap");
    assert_eq!(
        (z["tool"].as_str(), z["hosts"].as_u64(), z["ports"].as_u64()),
        (Some("zmap"), Some(8), Some(1)),
        "{z}"
    );
    eprintln!("scan_xdp: {:.1} s", t0.elapsed().as_secs_f64());
}
