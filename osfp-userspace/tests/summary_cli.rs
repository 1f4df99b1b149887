//! `osfp pcap --summary --json`: per source, the fingerprint fields plus `clock`,
//! `hosts`, `ip_id` and `scans`, from the real binary over crafted and corpus pcaps.

use std::{
    collections::BTreeMap,
    fs::File,
    net::IpAddr,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use osfp::analysis::clock::policy::OffsetPolicy;
use osfp_common::tcp_flag::{ACK, SYN};
use osfp_tests::craft::TcpFrame;
use pcap_file::pcap::{PcapPacket, PcapWriter};
use serde_json::Value;

/// `OSFP_CORPUS`, or `shared/corpus` beside the workspace root (or its parent, for a
/// worktree under /work/wt).
fn corpus() -> PathBuf {
    osfp_tests::corpus::locate()
        .expect("corpus not found: set OSFP_CORPUS or put shared/ beside the checkout")
}

/// Runs `osfp pcap --summary --json FILES`, one object per source keyed by address.
fn summary(files: &[PathBuf]) -> BTreeMap<String, Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_osfp"))
        .args(["pcap", "--summary", "--json"])
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
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("one JSON object per line");
            (v["src"].as_str().unwrap().to_string(), v)
        })
        .collect()
}

/// A machine with a boot-relative TSval clock.
struct Machine {
    hz: f64,
    /// Unix seconds.
    boot: f64,
    ip_id: u16,
}

impl Machine {
    fn tsval(&self, t: f64) -> u32 {
        (self.hz * (t - self.boot)) as u64 as u32
    }
}

const T0: f64 = 1_700_000_000.0;

/// Frames of one connection from `m` at `src`: a SYN at `t` carrying TSval, then four
/// ACKs with NOP NOP TS 1.1 s apart (each past the 1 s sampling interval). Capture
/// times lag the clock reading by 0-3 ms.
fn connection(
    m: &mut Machine,
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    t: f64,
) -> Vec<(f64, Vec<u8>)> {
    let mut out = Vec::new();
    for k in 0..5u32 {
        let sent = t + 1.1 * k as f64;
        let lag = ((sport as u32 * 7 + k * 13) % 4) as f64 * 1e-3;
        let ts = m.tsval(sent).to_be_bytes();
        let mut f = TcpFrame::syn(src, dst, sport, dport);
        m.ip_id = m.ip_id.wrapping_add(1);
        f.ip_id = m.ip_id;
        if k == 0 {
            f.options = vec![
                2, 4, 5, 0xb4, 4, 2, 8, 10, ts[0], ts[1], ts[2], ts[3], 0, 0, 0, 0, 1, 3, 3, 7,
            ];
        } else {
            f.flags = ACK;
            f.seq = f.seq.wrapping_add(1);
            f.ack = 1;
            f.window = 502;
            f.options = vec![1, 1, 8, 10, ts[0], ts[1], ts[2], ts[3], 0, 0, 0, 1];
        }
        assert!(k > 0 || f.flags == SYN);
        out.push((sent + lag, f.frame()));
    }
    out
}

fn write_pcap(path: &Path, mut frames: Vec<(f64, Vec<u8>)>) {
    frames.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut w = PcapWriter::new(File::create(path).unwrap()).unwrap();
    for (t, f) in &frames {
        w.write_packet(&PcapPacket::new(
            Duration::from_secs_f64(*t),
            f.len() as u32,
            f,
        ))
        .unwrap();
    }
}

/// Issue 4: three machines with distinct clocks (1000, 250, 100 Hz; booted 3, 10 and
/// 40 days before) behind 10.0.0.1, six connections each to four peers, interleaved;
/// one machine (1000 Hz) with twelve connections at 10.0.0.2. The summary finds 3
/// machines and 1, with their rates and boot times (stated tolerance 0.05 s: capture
/// lag up to 3 ms plus one tick at 100 Hz).
#[test]
fn machines_behind_one_address() {
    let nat: IpAddr = "10.0.0.1".parse().unwrap();
    let single: IpAddr = "10.0.0.2".parse().unwrap();
    let peers: Vec<IpAddr> = (1..=4)
        .map(|i| format!("192.0.2.{i}").parse().unwrap())
        .collect();
    let mut machines = [
        Machine {
            hz: 1000.0,
            boot: T0 - 3.0 * 86400.0 + 0.25,
            ip_id: 100,
        },
        Machine {
            hz: 250.0,
            boot: T0 - 10.0 * 86400.0 + 0.5,
            ip_id: 20000,
        },
        Machine {
            hz: 100.0,
            boot: T0 - 40.0 * 86400.0 + 0.75,
            ip_id: 40000,
        },
    ];
    let mut lone = Machine {
        hz: 1000.0,
        boot: T0 - 5000.0,
        ip_id: 7,
    };
    let mut frames = Vec::new();
    for k in 0..6u16 {
        for (i, m) in machines.iter_mut().enumerate() {
            let n = k * 3 + i as u16;
            let t = T0 + 7.0 * n as f64;
            let dst = peers[(n % 4) as usize];
            let dport = if n.is_multiple_of(2) { 443 } else { 80 };
            frames.extend(connection(m, nat, dst, 40000 + n, dport, t));
        }
    }
    for n in 0..12u16 {
        let t = T0 + 3.5 + 10.0 * n as f64;
        let dst = peers[(n % 4) as usize];
        frames.extend(connection(&mut lone, single, dst, 50000 + n, 22, t));
    }
    let path = std::env::temp_dir().join(format!("osfp-summary-nat-{}.pcap", std::process::id()));
    write_pcap(&path, frames);
    let s = summary(std::slice::from_ref(&path));
    std::fs::remove_file(&path).ok();

    let check = |src: &str, want: &[&Machine]| {
        let v = &s[src];
        println!("{src}: clock {} hosts {}", v["clock"], v["hosts"]);
        assert_eq!(v["clock"]["offset_policy"], "boot_relative", "{v}");
        assert_eq!(v["hosts"]["count"], want.len(), "{}", v["hosts"]);
        assert_eq!(v["scans"].as_array().unwrap().len(), 0, "{v}");
        assert!(v["ip_id"]["class"].is_string(), "{}", v["ip_id"]);
        let got = v["hosts"]["machines"].as_array().unwrap();
        for m in want {
            let found = got.iter().find(|g| g["hz"].as_f64() == Some(m.hz));
            let g = found.unwrap_or_else(|| panic!("{src}: no {} Hz machine: {got:?}", m.hz));
            let boot = g["boot_time"].as_f64().expect("boot time");
            assert!(
                (boot - m.boot).abs() < 0.05,
                "{src} {} Hz: boot {boot} vs {}",
                m.hz,
                m.boot
            );
            assert_eq!(
                g["connections"].as_u64(),
                Some(if want.len() == 1 { 12 } else { 6 })
            );
        }
    };
    check("10.0.0.1", &machines.iter().collect::<Vec<_>>());
    // The source's clock is one machine's: rate and boot time of the same machine.
    let c = &s["10.0.0.1"]["clock"];
    let m = machines
        .iter()
        .find(|m| c["hz"].as_f64() == Some(m.hz))
        .expect("a machine's rate");
    assert!(
        (c["boot_time"].as_f64().unwrap() - m.boot).abs() < 0.05,
        "{c}"
    );
    check("10.0.0.2", &[&lone]);
    // The dominant clock of the lone machine is its own.
    assert_eq!(s["10.0.0.2"]["clock"]["hz"], 1000.0);
    let b = s["10.0.0.2"]["clock"]["boot_time"].as_f64().unwrap();
    assert!((b - lone.boot).abs() < 0.05, "{b}");
}

/// Issue 5 in the summary: nmap's SYN/NULL/FIN/Xmas probes are listed under the
/// scanner (without --scans); nmap -sF's 100 ports are listed under its source alone; a
/// benign capture lists none.
#[test]
fn scans_listed_under_the_scanner() {
    let s = summary(&[corpus().join("ndpi/tcp_scan.pcapng")]);
    let scanner = &s["192.168.1.178"];
    let mut kinds: Vec<&str> = scanner["scans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            assert_eq!(x["tool"], "nmap", "{x}");
            x["kind"].as_str().unwrap()
        })
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["fin_scan", "null_scan", "syn_scan", "xmas_scan"]);
    for (src, v) in &s {
        if src != "192.168.1.178" {
            assert_eq!(v["scans"].as_array().unwrap().len(), 0, "{v}");
        }
    }

    // nmap -sF -F (100 ports) against one host, with LAN background.
    let s = summary(&[corpus().join("victorialugi-nmap/fin_scan.pcap")]);
    let with_scans: Vec<(&String, &Value)> = s
        .iter()
        .filter(|(_, v)| !v["scans"].as_array().unwrap().is_empty())
        .collect();
    assert_eq!(with_scans.len(), 1, "{with_scans:?}");
    let (src, v) = with_scans[0];
    assert_eq!(src, "10.129.0.4");
    let fin = v["scans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] == "fin_scan")
        .expect("fin scan");
    assert_eq!(
        (fin["hosts"].as_u64(), fin["ports"].as_u64()),
        (Some(1), Some(100))
    );
    assert!(fin["packets"].as_u64().unwrap() >= 100, "{fin}");

    let benign = summary(&[corpus().join("ndpi/weibo.pcap")]);
    assert!(!benign.is_empty());
    for v in benign.values() {
        assert_eq!(v["scans"].as_array().unwrap().len(), 0, "{v}");
    }
}

/// A boot-relative host from the corpus (a Philips Hue bridge, 100 Hz): the summary
/// gives the same clock as the clock module fed directly with every event.
#[test]
fn corpus_host_boot_time_in_summary() {
    let rel = "iot-sentinel/HueBridge/Setup-C-12-STA.pcap";
    let host = "10.10.10.6";
    let path = corpus().join(rel);
    let s = summary(std::slice::from_ref(&path));
    let v = &s[host];
    assert_eq!(v["clock"]["offset_policy"], "boot_relative", "{v}");
    assert_eq!(v["clock"]["hz"], 100.0);
    assert_eq!(v["hosts"]["count"], 1);
    let boot = v["clock"]["boot_time"].as_f64().expect("boot time");

    // The library's pipeline on the same file, against the command's summary.
    let run = osfp_tests::run_pcap(&path);
    let direct = run.clock(&host.parse().unwrap()).unwrap().summary();
    assert_eq!(direct.clock.offset_policy, OffsetPolicy::BootRelative);
    let want = direct.clock.boot_time.unwrap();
    assert!(
        (boot - want).abs() < 0.01,
        "summary {boot} vs direct {want}"
    );
}

/// The whole corpus in one run: the summary's scans are exactly the scans whose end
/// `--scans` prints (same source, kind, tool, counts), none dropped or invented.
#[test]
fn whole_corpus_summary_scans_match_scan_events() {
    let index = std::fs::read_to_string(corpus().join("INDEX.tsv")).unwrap();
    let files: Vec<PathBuf> = index
        .lines()
        .skip(1)
        .map(|l| corpus().join(l.split('\t').next().unwrap()))
        .collect();
    let key = |src: &str, x: &Value| {
        format!(
            "{src} {} {} hosts={} ports={} packets={} {}-{}",
            x["kind"], x["tool"], x["hosts"], x["ports"], x["packets"], x["first_ts"], x["last_ts"]
        )
    };
    let mut from_summary: Vec<String> = Vec::new();
    for (src, v) in summary(&files) {
        assert_eq!(v["scans_dropped"], 0, "{v}");
        for x in v["scans"].as_array().unwrap() {
            from_summary.push(key(&src, x));
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_osfp"))
        .args(["pcap", "--quiet", "--scans"])
        .args(&files)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut from_events: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["phase"] == "end")
        .map(|v| key(v["src"].as_str().unwrap(), &v))
        .collect();
    from_summary.sort();
    from_events.sort();
    assert!(!from_events.is_empty());
    assert_eq!(from_summary, from_events);
}
