//! The event log's triggers over crafted frames through the pcap-path selector and the
//! one pipeline: a verdict once per (source, label, match), an unknown fingerprint once
//! per (source, signature), a clock line at a source's first rate, a hosts line when
//! more machines appear behind an address than were last logged; reopen after rotation.

use std::{net::IpAddr, path::PathBuf, sync::Arc};

use osfp::{
    analysis::fingerprint,
    capture::frame::{Link, SelectConfig, Selector},
    export::eventlog::{self, EventLog, LogTarget, Seen, Watch},
    pipeline::Pipeline,
};
use osfp_common::tcp_flag::ACK;
use osfp_tests::craft::TcpFrame;
use serde_json::Value;

const S: u64 = 1_000_000_000;

struct Feed {
    sel: Selector,
    pipe: Pipeline,
    log: EventLog,
    path: PathBuf,
}

impl Feed {
    fn new(name: &str) -> Feed {
        let path = std::env::temp_dir().join(format!("osfp-evlog-{name}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        Feed {
            sel: Selector::new(SelectConfig::default()),
            pipe: Pipeline::with_database(Arc::new(fingerprint::default_database().unwrap()), 100),
            log: EventLog::open(LogTarget::File(path.clone())).unwrap(),
            path,
        }
    }

    /// One frame through selection, the pipeline and the per-packet trigger.
    fn frame(&mut self, f: &TcpFrame, ts_ns: u64) {
        let rec = self
            .sel
            .frame(Link::Ethernet, &f.frame(), ts_ns)
            .expect("selected");
        let ev = self.pipe.process(&rec);
        let mut scans = Vec::new();
        let seen = self
            .pipe
            .observe(&ev, &mut scans)
            .map(|(s, v)| Seen::new(&s, &v));
        if let Some(seen) = seen {
            let (t, db) = (&self.pipe.sources, self.pipe.fingerprinter.db());
            if let Some((kind, line)) = eventlog::fingerprinted(t, db, &ev, seen) {
                self.log.write(ev.ts_ns, kind, &line);
            }
        }
        self.log.flush();
    }

    /// A SYN and three timestamp samples 1.5 s apart from a clock of `hz` that read 0
    /// at `boot` (seconds), to `dst`.
    fn connection(&mut self, src: IpAddr, dst: IpAddr, sport: u16, t: u64, hz: f64, boot: f64) {
        for k in 0..4u64 {
            let now = t + k * 1_500_000_000;
            let ts = ((now as f64 / 1e9 - boot) * hz) as u64 as u32;
            let mut f = TcpFrame::syn(src, dst, sport, 443);
            let b = ts.to_be_bytes();
            if k == 0 {
                f.options[8..12].copy_from_slice(&b);
            } else {
                f.flags = ACK;
                f.options = vec![1, 1, 8, 10, b[0], b[1], b[2], b[3], 0, 0, 0, 1];
            }
            self.frame(&f, now);
        }
    }

    fn lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_file(self.path.with_extension("1"));
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn of<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["event"] == kind).collect()
}

#[test]
fn verdicts_and_unknowns_are_logged_once_each() {
    let mut f = Feed::new("verdicts");
    let (a, b, dst) = (ip("10.0.0.1"), ip("10.0.0.2"), ip("192.0.2.1"));
    // The crafted SYN is Linux's; three from a, one from b.
    for (i, src) in [a, a, a, b].into_iter().enumerate() {
        f.frame(
            &TcpFrame::syn(src, dst, 40000 + i as u16, 443),
            i as u64 * S,
        );
    }
    let lines = f.lines();
    let v = of(&lines, "verdict");
    assert_eq!(v.len(), 2, "{lines:#?}");
    assert_eq!(
        (v[0]["src"].as_str(), v[1]["src"].as_str()),
        (Some("10.0.0.1"), Some("10.0.0.2"))
    );
    assert_eq!(v[0]["os"]["family"], "linux");
    assert_eq!(v[0]["ts"], 0.0);
    assert_eq!(v[1]["ts"], 3.0);
    // Signatures no entry matches: each distinct one once per source.
    for (i, win) in [1234u16, 1234, 4321].into_iter().enumerate() {
        let mut s = TcpFrame::syn(a, dst, 41000 + i as u16, 443);
        s.window = win;
        s.options = vec![2, 4, 0x05, 0xb4, 1, 3, 3, 9];
        f.frame(&s, (10 + i as u64) * S);
    }
    let lines = f.lines();
    let u = of(&lines, "unknown_fingerprint");
    assert_eq!(u.len(), 2, "{lines:#?}");
    assert_eq!(u[0]["os"]["match"], "unknown");
    assert_ne!(u[0]["signature"], u[1]["signature"]);
    assert_eq!(f.log.written[eventlog::LogKind::Verdict as usize], 2);
}

#[test]
fn clock_and_hosts_lines_from_the_sweep() {
    let mut f = Feed::new("sweep");
    let src = ip("10.0.0.9");
    // One machine at 1000 Hz, connections to two peers (boot-relative clock lines).
    for (i, dst) in ["192.0.2.1", "192.0.2.2"].into_iter().enumerate() {
        f.connection(
            src,
            ip(dst),
            40000 + i as u16,
            (100 + 10 * i as u64) * S,
            1000.0,
            50.0,
        );
    }
    let mut w = Watch::default();
    let e = w.sweep(&f.pipe.sources, 200 * S, Some(&mut f.log));
    assert_eq!((e.sources, e.with_rate, e.multi_machine), (1, 1, 0));
    let lines = f.lines();
    let c = of(&lines, "clock");
    assert_eq!(c.len(), 1, "{lines:#?}");
    assert_eq!(c[0]["src"], "10.0.0.9");
    assert_eq!(c[0]["clock"]["hz"], 1000.0);
    assert!(of(&lines, "hosts").is_empty(), "one machine: {lines:#?}");
    // A second sweep repeats nothing.
    w.sweep(&f.pipe.sources, 205 * S, Some(&mut f.log));
    assert_eq!(f.lines().len(), lines.len());

    // A second machine behind the address (250 Hz, booted elsewhen), rotation first.
    std::fs::rename(&f.path, f.path.with_extension("1")).unwrap();
    f.log.reopen().unwrap();
    for (i, dst) in ["192.0.2.3", "192.0.2.4"].into_iter().enumerate() {
        f.connection(
            src,
            ip(dst),
            41000 + i as u16,
            (300 + 10 * i as u64) * S,
            250.0,
            7.0,
        );
    }
    let e = w.sweep(&f.pipe.sources, 400 * S, Some(&mut f.log));
    assert_eq!(e.multi_machine, 1);
    let lines = f.lines();
    let h = of(&lines, "hosts");
    assert_eq!(h.len(), 1, "{lines:#?}");
    assert_eq!(h[0]["count"], 2);
    assert!(
        of(&lines, "clock").is_empty(),
        "the clock line was logged before"
    );
    // Without a log the sweep still counts.
    let e = Watch::default().sweep(&f.pipe.sources, 400 * S, None);
    assert_eq!((e.sources, e.multi_machine), (1, 1));
}

/// `osfp run` sweeps in steps between batches: a sweep one slot at a time finds what a
/// whole sweep finds (counts, several-hosts set, lines), and until it ends the API's
/// several-hosts set stays the last finished sweep's.
#[test]
fn stepped_sweep_equals_whole_sweep() {
    use osfp::export::eventlog::ClockSweep;
    let mut whole = Feed::new("sweep-whole");
    let mut stepped = Feed::new("sweep-stepped");
    for f in [&mut whole, &mut stepped] {
        for n in 1..=6u16 {
            let src = ip(&format!("10.0.1.{n}"));
            f.connection(src, ip("192.0.2.1"), 40000 + n, 100 * S, 1000.0, 50.0);
            if n % 3 == 0 {
                // A second machine behind every third address.
                f.connection(src, ip("192.0.2.2"), 41000 + n, 110 * S, 250.0, 7.0);
            }
        }
    }
    let mut w = Watch::default();
    let e_whole = w.sweep(&whole.pipe.sources, 200 * S, Some(&mut whole.log));
    let mut ws = Watch::default();
    let mut sw = ClockSweep::default();
    let mut steps = 1;
    let t = &stepped.pipe.sources;
    while !ws.sweep_step(&mut sw, t, 200 * S, Some(&mut stepped.log), 1) {
        assert!(ws.multiple_hosts().is_empty(), "no sweep has ended yet");
        steps += 1;
    }
    assert_eq!(steps, t.slots(), "one slot a step");
    let e_stepped = ws.finish_sweep(sw, t, Some(&mut stepped.log));
    assert_eq!(e_stepped, e_whole);
    assert_eq!((e_whole.sources, e_whole.multi_machine), (6, 2));
    assert_eq!(ws.multiple_hosts(), w.multiple_hosts());
    let sorted = |f: &Feed| {
        let mut l: Vec<String> = f.lines().iter().map(|v| v.to_string()).collect();
        l.sort();
        l
    };
    let (a, b) = (sorted(&whole), sorted(&stepped));
    assert_eq!(a, b);
    assert_eq!(of(&whole.lines(), "hosts").len(), 2, "{a:#?}");
}
