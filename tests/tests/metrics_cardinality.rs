//! Cardinality: the sensor's /metrics has the same series after SYNs from 100,000
//! distinct addresses as after SYNs from 10, and after scans from thousands of sources;
//! no label value is an address. Crafted frames (Windows 11, macOS and unknown shapes,
//! IPv4 and IPv6, varied ports) go through the real XDP program on a veth.

use std::{
    collections::BTreeSet,
    io::{BufRead, BufReader},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use osfp_common::tcp_flag::{FIN, PSH, URG};
use osfp_tests::{craft::stacks, craft::TcpFrame};
use osfp_tests::{
    http_get_in_ns, osfp_bin, privileged,
    promtext::{samples, sum},
    Lab,
};

const PORT: u16 = 9184;

/// `osfp run --records off`: 100,000 JSON records kept in memory by the harness's
/// `Sensor` would cost more than the test measures.
struct QuietSensor(Child);

impl QuietSensor {
    fn start(lab: &Lab) -> QuietSensor {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &lab.ns_b])
            .arg(osfp_bin())
            .args(["run", "--iface", &lab.veth_b, "--xdp-mode", "skb"])
            .args(["--records", "off", "--listen", &format!("127.0.0.1:{PORT}")])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let end = Instant::now() + Duration::from_secs(20);
        let mut seen = String::new();
        loop {
            match rx.recv_timeout(end.saturating_duration_since(Instant::now())) {
                Ok(l) if l.contains("attached to") => break,
                Ok(l) => seen += &(l + "\n"),
                Err(_) => panic!("sensor did not attach: {seen}"),
            }
        }
        QuietSensor(child)
    }
}

impl Drop for QuietSensor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Source `i`: every tenth one IPv6, the others IPv4 from 172.16.0.0/12.
fn source(i: u32) -> IpAddr {
    if i % 10 == 9 {
        IpAddr::V6(Ipv6Addr::new(
            0xfd00,
            0xcafe,
            0,
            0,
            0,
            0,
            (i >> 16) as u16,
            i as u16,
        ))
    } else {
        IpAddr::V4(Ipv4Addr::from(0xac10_0000 + i))
    }
}

/// One SYN from source `i`: shapes Windows 11, macOS, unknown in turn; ports varied.
fn syn(lab: &Lab, i: u32) -> Vec<u8> {
    let src = source(i);
    let dst = if src.is_ipv4() { lab.b4 } else { lab.b6 };
    let shapes: [stacks::Shape; 3] = [stacks::windows11, stacks::macos, stacks::unknown_stack];
    let sport = 1024 + (i % 64000) as u16;
    let dport = [22, 80, 443, 8080, 3389][(i / 3 % 5) as usize];
    let mut f = shapes[(i % 3) as usize](src, dst, sport, dport);
    // Real IPv6 stacks set a flow label (the `flow` quirk of the v6 signatures).
    f.flow_label = 1 + i % 0xfffff;
    f.frame()
}

fn scrape(lab: &Lab) -> String {
    let r = http_get_in_ns(lab, &lab.ns_b, PORT, "/metrics").unwrap();
    r.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap()
}

/// The series (name and labels, no value) of a scrape.
fn series(text: &str) -> BTreeSet<String> {
    samples(text)
        .iter()
        .map(|s| format!("{}{:?}", s.name, s.labels))
        .collect()
}

fn assert_no_address_labels(text: &str) {
    for s in samples(text) {
        for (k, v) in &s.labels {
            assert!(
                v.parse::<IpAddr>().is_err() && v.parse::<SocketAddr>().is_err(),
                "{}: label {k}={v:?} is an address",
                s.name
            );
        }
    }
}

/// Waits until the sensor selected `sent` SYNs and consumed or counted as dropped every
/// selected record; returns the scrape and the ring-buffer drops.
fn wait_consumed(lab: &Lab, sent: u64) -> (String, u64) {
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let t = scrape(lab);
        let selected = sum(&t, "osfp_packets_selected_total", &[]);
        let syn = sum(&t, "osfp_packets_selected_total", &[("reason", "syn")]);
        let records = sum(&t, "osfp_records_total", &[]);
        let dropped = sum(&t, "osfp_ringbuf_dropped_total", &[]);
        if syn >= sent as f64 && records + dropped >= selected {
            assert_eq!(syn, sent as f64, "selected SYNs != SYNs sent");
            return (t, dropped as u64);
        }
        assert!(
            Instant::now() < end,
            "sent {sent}: selected {selected} (syn {syn}), records {records}, dropped {dropped}"
        );
        thread::sleep(Duration::from_millis(250));
    }
}

/// Waits until the metrics (table gauges refresh on a timer) satisfy `pred`.
fn wait_metric(lab: &Lab, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let end = Instant::now() + Duration::from_secs(25);
    loop {
        let t = scrape(lab);
        if pred(&t) {
            return t;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}\n{t}");
        thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn series_count_does_not_grow_with_sources() {
    if !privileged("series_count_does_not_grow_with_sources") {
        return;
    }
    let t0 = Instant::now();
    let lab = Lab::new().unwrap();
    let _sensor = QuietSensor::start(&lab);

    // 10 sources.
    let first: Vec<Vec<u8>> = (0..10).map(|i| syn(&lab, i)).collect();
    lab.send_frames(&lab.ns_a, &lab.veth_a, first).unwrap();
    let (t10, dropped10) = wait_consumed(&lab, 10);
    assert_eq!(dropped10, 0);
    // The shapes are what they claim (i % 3: Windows 0,3,6,9; macOS 1,4,7; unknown 2,5,8).
    let v = |fam: &str, m: &str| {
        sum(
            &t10,
            "osfp_verdicts_total",
            &[("family", fam), ("match", m)],
        )
    };
    assert_eq!(v("windows", "exact"), 4.0, "{t10}");
    assert_eq!(v("macos", "exact"), 3.0, "{t10}");
    assert_eq!(v("unknown", "unknown"), 3.0, "{t10}");
    assert_eq!(sum(&t10, "osfp_unknown_fingerprints_total", &[]), 3.0);
    let s10 = series(&t10);
    assert_no_address_labels(&t10);

    // 100,000 more, in chunks the ring buffer (8 MiB, ~60,000 records) can hold.
    const MORE: u32 = 100_000;
    const CHUNK: u32 = 20_000;
    let (mut send_time, mut dropped) = (Duration::ZERO, 0);
    let mut t_big = String::new();
    for c in 0..MORE / CHUNK {
        let lo = 10 + c * CHUNK;
        let frames: Vec<Vec<u8>> = (lo..lo + CHUNK).map(|i| syn(&lab, i)).collect();
        let t = Instant::now();
        lab.send_frames(&lab.ns_a, &lab.veth_a, frames).unwrap();
        send_time += t.elapsed();
        (t_big, dropped) = wait_consumed(&lab, (lo + CHUNK) as u64);
    }
    eprintln!(
        "sent {MORE} SYNs from distinct sources in {send_time:.2?} (AF_PACKET), \
         ring-buffer drops: {dropped}"
    );
    let total = (10 + MORE) as u64;
    // The source table saw every consumed source (its gauges refresh on a timer): at
    // most its cap kept, the rest evicted and counted.
    let consumed = (total - dropped) as f64;
    let t_tab = wait_metric(&lab, "tracked + evicted sources = consumed SYNs", |t| {
        sum(t, "osfp_sources_tracked", &[]) + sum(t, "osfp_sources_evicted_total", &[]) == consumed
    });
    let cap = sum(&t_tab, "osfp_sources_cap", &[]);
    assert!(cap > 0.0, "{t_tab}");
    assert_eq!(
        sum(&t_tab, "osfp_sources_tracked", &[]),
        cap.min(consumed),
        "{t_tab}"
    );
    // One source in three has the unknown shape; a dropped record is one SYN fewer.
    let unknown_sent = (0..total).filter(|i| i % 3 == 2).count() as f64;
    let unknown_seen = sum(&t_big, "osfp_unknown_fingerprints_total", &[]);
    assert!(
        unknown_seen <= unknown_sent && unknown_seen >= unknown_sent - dropped as f64,
        "unknown {unknown_seen} of {unknown_sent} sent, {dropped} drops"
    );
    for t in [&t_big, &t_tab] {
        assert_no_address_labels(t);
        assert_eq!(
            series(t),
            s10,
            "series changed between 10 and {total} sources"
        );
    }

    // A different mix: Xmas scans (3 probes to 3 ports) from 3,000 more sources.
    let scans: Vec<Vec<u8>> = (0..3_000u32)
        .flat_map(|i| {
            let src = IpAddr::V4(Ipv4Addr::from(0xc0a8_0000 + i));
            (0..3u16).map(move |p| (src, p))
        })
        .map(|(src, p)| {
            let mut f = TcpFrame::syn(src, lab.b4, 50000, 100 + p);
            f.flags = FIN | PSH | URG;
            f.options.clear();
            f.frame()
        })
        .collect();
    lab.send_frames(&lab.ns_a, &lab.veth_a, scans).unwrap();
    let t_scan = wait_metric(&lab, "Xmas scan events", |t| {
        sum(t, "osfp_scan_events_total", &[("kind", "xmas_scan")]) > 0.0
    });
    assert_no_address_labels(&t_scan);
    assert_eq!(series(&t_scan), s10, "series changed after scans");
    eprintln!(
        "{} series throughout; xmas scan events {}; test took {:.1?}",
        s10.len(),
        sum(&t_scan, "osfp_scan_events_total", &[("kind", "xmas_scan")]),
        t0.elapsed()
    );
}
