//! Real kernel clocks: two network namespaces joined by a veth pair, TCP connections
//! from one to the other captured with `dumpcap`, the capture run through the real pcap
//! path into the clock tracker. Root only; skips loudly otherwise.
//!
//! The offset policy expected is measured independently: the SYN TSvals (read back
//! with `tshark`) are compared against CLOCK_MONOTONIC read by the client right before
//! each connect, for connections to the same and to different peers. The client
//! namespace runs once with `net.ipv4.tcp_timestamps=1` (the kernel's randomised
//! offsets) and once with `=2` (no offset: TSval counts milliseconds of
//! CLOCK_MONOTONIC, i.e. boot-relative).

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    net::IpAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use osfp::analysis::clock::policy::OffsetPolicy;

const SERVER: &str = r#"
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5000)); s.listen(64)
def echo(c):
    while True:
        d = c.recv(4096)
        if not d: break
        c.sendall(d)
    c.close()
while True:
    c, _ = s.accept(); threading.Thread(target=echo, args=(c,), daemon=True).start()
"#;

/// argv: long-connection seconds, then peers. Prints one JSON line per connection.
const CLIENT: &str = r#"
import socket, sys, time, json
hold = float(sys.argv[1]); peers = sys.argv[2:]
def conn(addr, hold, every):
    for _ in range(100):
        mono = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        boot = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        real = time.clock_gettime_ns(time.CLOCK_REALTIME)
        try:
            s = socket.create_connection((addr, 5000), timeout=2); break
        except OSError:
            time.sleep(0.1)
    print(json.dumps(dict(peer=addr, sport=s.getsockname()[1], mono=mono, boot=boot, real=real)), flush=True)
    end = time.monotonic() + hold
    while time.monotonic() < end:
        s.sendall(b"x" * 100); s.recv(4096); time.sleep(every)
    s.close()
if hold > 0: conn(peers[0], hold, 0.5)
for _ in range(3):
    for p in peers: conn(p, 1.3, 0.3)
"#;

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run(args: &[&str]) {
    let st = Command::new(args[0]).args(&args[1..]).status().unwrap();
    assert!(st.success(), "failed: {args:?}");
}

/// Deletes the namespaces (and with them the veth pair) however the test ends.
struct Namespaces(Vec<String>);
impl Drop for Namespaces {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

/// A child process killed (by its own id) when dropped.
struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ns_cmd(ns: &str, prog: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).args(prog);
    c
}

/// One client connection as the client saw it.
#[derive(Debug)]
struct Conn {
    peer: IpAddr,
    sport: u16,
    mono_ns: u64,
    real_ns: u64,
    boot_ns: u64,
}

/// SYN TSvals by client port, read with tshark.
fn syn_tsvals(pcap: &Path) -> HashMap<u16, u32> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args([
            "-Y",
            "tcp.flags.syn==1 && tcp.flags.ack==0",
            "-T",
            "fields",
            "-e",
            "tcp.srcport",
            "-e",
            "tcp.options.timestamp.tsval",
        ])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
        })
        .collect()
}

/// The policy the kernel follows, from SYN TSval minus CLOCK_MONOTONIC in ms.
fn measured_policy(conns: &[Conn], tsvals: &HashMap<u16, u32>) -> (OffsetPolicy, Vec<i64>) {
    let offs: Vec<(IpAddr, i64)> = conns
        .iter()
        .map(|c| {
            let ts = tsvals[&c.sport];
            let mono_ms = (c.mono_ns / 1_000_000) as u32;
            (c.peer, ts.wrapping_sub(mono_ms) as i32 as i64)
        })
        .collect();
    let close = |a: i64, b: i64| (a - b).abs() <= 20;
    let all_zero = offs.iter().all(|o| o.1.abs() <= 20);
    let mut same_peer_same = true;
    let mut cross_peer_differ = true;
    for (i, a) in offs.iter().enumerate() {
        for b in &offs[i + 1..] {
            if a.0 == b.0 {
                same_peer_same &= close(a.1, b.1);
            } else {
                cross_peer_differ &= !close(a.1, b.1);
            }
        }
    }
    let p = if all_zero {
        OffsetPolicy::BootRelative
    } else if same_peer_same && cross_peer_differ {
        OffsetPolicy::PerPeer
    } else if !same_peer_same {
        OffsetPolicy::PerConnection
    } else {
        OffsetPolicy::Unknown
    };
    (p, offs.iter().map(|o| o.1).collect())
}

#[test]
fn kernel_clock_rate_and_offset_policy() {
    if !osfp_tests::privileged("clock_kernel") {
        return;
    }
    for tool in ["ip", "dumpcap", "tshark", "python3"] {
        if !have(tool) {
            osfp_tests::cannot_run(&format!("clock_kernel: {tool} not installed"));
            return;
        }
    }
    let id = std::process::id();
    let (a, b) = (format!("osfpck-a-{id}"), format!("osfpck-b-{id}"));
    let (va, vb) = (
        format!("ocka{}", id % 100_000),
        format!("ockb{}", id % 100_000),
    );
    run(&["ip", "netns", "add", &a]);
    let _ns = Namespaces(vec![a.clone(), b.clone()]);
    run(&["ip", "netns", "add", &b]);
    run(&[
        "ip", "link", "add", &va, "netns", &a, "type", "veth", "peer", "name", &vb, "netns", &b,
    ]);
    run(&["ip", "-n", &a, "addr", "add", "10.199.7.1/24", "dev", &va]);
    run(&["ip", "-n", &b, "addr", "add", "10.199.7.2/24", "dev", &vb]);
    run(&["ip", "-n", &b, "addr", "add", "10.199.7.3/24", "dev", &vb]);
    for (ns, dev) in [(&a, &va), (&b, &vb)] {
        run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        run(&["ip", "-n", ns, "link", "set", dev, "up"]);
    }
    let _server = Proc(
        ns_cmd(&b, &["python3", "-c", SERVER])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client: IpAddr = "10.199.7.1".parse().unwrap();

    for (mode, hold) in [(1, 12.0), (2, 0.0)] {
        run(&[
            "ip",
            "netns",
            "exec",
            &a,
            "sysctl",
            "-qw",
            &format!("net.ipv4.tcp_timestamps={mode}"),
        ]);
        let pcap: PathBuf =
            std::env::temp_dir().join(format!("osfp-clock-kernel-{id}-{mode}.pcapng"));
        let _ = std::fs::remove_file(&pcap);
        let mut cap = Proc(
            ns_cmd(&a, &["dumpcap", "-q", "-i", &va, "-w"])
                .arg(&pcap)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        // dumpcap writes the section header once it is capturing.
        let t = Instant::now();
        while std::fs::metadata(&pcap).map_or(true, |m| m.len() == 0) {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "dumpcap did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(500));

        let out = ns_cmd(
            &a,
            &[
                "python3",
                "-c",
                CLIENT,
                &hold.to_string(),
                "10.199.7.2",
                "10.199.7.3",
            ],
        )
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
        assert!(out.status.success(), "client failed");
        let conns: Vec<Conn> = BufReader::new(&out.stdout[..])
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(&l.unwrap()).unwrap();
                Conn {
                    peer: v["peer"].as_str().unwrap().parse().unwrap(),
                    sport: v["sport"].as_u64().unwrap() as u16,
                    mono_ns: v["mono"].as_u64().unwrap(),
                    real_ns: v["real"].as_u64().unwrap(),
                    boot_ns: v["boot"].as_u64().unwrap(),
                }
            })
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        // SIGINT lets dumpcap finish its file.
        unsafe { libc::kill(cap.0.id() as i32, libc::SIGINT) };
        let _ = cap.0.wait();

        let run = osfp_tests::run_pcap(&pcap);
        let tsvals = syn_tsvals(&pcap);
        let _ = std::fs::remove_file(&pcap);
        let (expected, offs) = measured_policy(&conns, &tsvals);
        let t = run.clock(&client).expect("client seen");
        let s = t.summary();
        eprintln!(
            "tcp_timestamps={mode}: TSval - CLOCK_MONOTONIC ms per connection {offs:?} -> kernel does {expected:?}; \
             tracker: policy {:?}, hz {:?}, raw {:?}, quality {:.2}, boot {:?}, evidence {:?}",
            s.clock.offset_policy, s.clock.hz, s.clock.hz_raw, s.clock.quality, s.clock.boot_time, s.clock.evidence
        );
        assert_eq!(conns.len(), if hold > 0.0 { 7 } else { 6 });
        assert_eq!(s.clock.offset_policy, expected, "tcp_timestamps={mode}");
        assert_eq!(s.clock.hz, Some(1000.0));
        if hold > 0.0 {
            // The long connection alone: 1000 Hz within 1 %.
            let long = t
                .connections()
                .into_iter()
                .filter_map(|c| c.fit)
                .max_by_key(|f| f.n)
                .unwrap();
            assert!(long.n >= 10, "samples {}", long.n);
            assert!(
                (long.hz_raw - 1000.0).abs() < 10.0,
                "long connection {} Hz",
                long.hz_raw
            );
        }
        if expected == OffsetPolicy::BootRelative {
            // TSval counts CLOCK_MONOTONIC ms: the boot time seen is REALTIME - MONOTONIC.
            let c = &conns[0];
            let truth = (c.real_ns as f64 - c.mono_ns as f64) / 1e9;
            let got = s.clock.boot_time.expect("boot time");
            eprintln!(
                "boot time: tracker {got:.3}, REALTIME-MONOTONIC {truth:.3}, REALTIME-BOOTTIME {:.3}",
                (c.real_ns as f64 - c.boot_ns as f64) / 1e9
            );
            assert!((got - truth).abs() < 1.0, "boot {got} vs {truth}");
        } else {
            assert_eq!(s.clock.boot_time, None, "no boot time from random offsets");
        }
    }
}
