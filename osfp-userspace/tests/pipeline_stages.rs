//! `Pipeline::observe`: one table for fingerprints, clock / IP ID state and scans, one
//! cap, evictions counted; counters reachable through plain getters.

use std::{net::IpAddr, sync::Arc};

use osfp::{
    analysis::{
        fingerprint,
        scan::{ScanEvent, ScanKind},
    },
    capture::frame::{Link, SelectConfig, Selector},
    pipeline::Pipeline,
};
use osfp_common::tcp_flag::{ACK, FIN};
use osfp_tests::craft::TcpFrame;

const S: u64 = 1_000_000_000;

struct Feed {
    sel: Selector,
    pipe: Pipeline,
    scans: Vec<ScanEvent>,
}

impl Feed {
    fn new(cap: usize) -> Self {
        Feed {
            sel: Selector::new(SelectConfig::default()),
            pipe: Pipeline::with_database(Arc::new(fingerprint::default_database().unwrap()), cap),
            scans: Vec::new(),
        }
    }

    fn frame(&mut self, f: &TcpFrame, ts_ns: u64) -> bool {
        match self.sel.frame(Link::Ethernet, &f.frame(), ts_ns) {
            Some(rec) => {
                let ev = self.pipe.process(&rec);
                self.pipe.observe(&ev, &mut self.scans);
                true
            }
            None => false,
        }
    }

    /// A SYN with TSval `ts0` at `t` and three ACK samples at 1000 Hz, 1.5 s apart.
    fn connection(&mut self, src: IpAddr, sport: u16, t: u64, ts0: u32) {
        let dst: IpAddr = "192.0.2.1".parse().unwrap();
        for k in 0..4u64 {
            let mut f = TcpFrame::syn(src, dst, sport, 443);
            let ts = ts0.wrapping_add(1500 * k as u32).to_be_bytes();
            if k == 0 {
                f.options[8..12].copy_from_slice(&ts);
            } else {
                f.flags = ACK;
                f.options = vec![1, 1, 8, 10, ts[0], ts[1], ts[2], ts[3], 0, 0, 0, 1];
            }
            assert!(self.frame(&f, t + k * 1_500_000_000), "selected");
        }
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Cap 2, three sources: the oldest is evicted (counted once), its clock counters stay
/// in the totals; a sample of a source not in the table is counted, not analysed.
#[test]
fn clock_state_lives_and_dies_with_the_source() {
    let mut f = Feed::new(2);
    f.connection(ip("10.0.0.1"), 1000, 10 * S, 5_000);
    f.connection(ip("10.0.0.2"), 1000, 20 * S, 9_000);
    let before = f.pipe.clock_counters();
    assert_eq!(before.events, 8);
    assert_eq!(f.pipe.clock_estimates().sources, 2);
    assert_eq!(f.pipe.clock_estimates().with_rate, 2);
    f.connection(ip("10.0.0.3"), 1000, 30 * S, 1_000);
    let t = &f.pipe.sources;
    assert_eq!((t.len(), t.evictions()), (2, 1));
    assert!(t.get(&ip("10.0.0.1")).is_none());
    assert_eq!(f.pipe.clock_counters().events, 12);
    assert_eq!(f.pipe.clock_estimates().sources, 2);

    // A sample (after its SYN was selected) of the evicted source: counted only.
    let mut fr = TcpFrame::syn(ip("10.0.0.1"), ip("192.0.2.1"), 2000, 443);
    assert!(f.frame(&fr, 40 * S));
    let t = &f.pipe.sources;
    assert_eq!(t.evictions(), 2, "10.0.0.1 came back, 10.0.0.2 went");
    fr.flags = ACK;
    fr.options = vec![1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 1];
    // Fill the table with two others so that 10.0.0.1 is gone again.
    f.connection(ip("10.0.0.4"), 1000, 41 * S, 1_000);
    f.connection(ip("10.0.0.5"), 1000, 42 * S, 1_000);
    assert!(f.frame(&fr, 48 * S));
    let t = &f.pipe.sources;
    assert_eq!(t.clock_events_without_source, 1);
    assert_eq!(t.evictions(), 4);
    // Every analysed event is in the totals: 5 connections of 4 events, one lone SYN.
    assert_eq!(f.pipe.clock_counters().events, 21);
}

/// Nine rounds of FIN probing, each ended by `end_of_input`: nine fin scans counted by
/// kind, the source keeps the first 8 and counts the ninth as dropped.
#[test]
fn scans_recorded_per_source_with_a_bounded_list() {
    let mut f = Feed::new(16);
    let src = ip("10.9.9.9");
    for round in 0..9u64 {
        for p in 0..3u16 {
            let mut fr = TcpFrame::syn(src, ip("192.0.2.7"), 50000, 20 + p);
            fr.flags = FIN;
            fr.options.clear();
            fr.window = 501;
            assert!(f.frame(&fr, (round * 100 + p as u64) * S));
        }
        f.pipe.end_of_input(&mut f.scans);
    }
    let c = f.pipe.scan_counters();
    assert_eq!(c.started(ScanKind::FinScan), 9);
    assert_eq!(
        c.started_by_kind().map(|(_, n)| n).sum::<u64>(),
        9,
        "no other kind"
    );
    let st = f.pipe.sources.get(&src).expect("scanner");
    assert_eq!(st.scans().len(), 8);
    assert_eq!(st.scans_dropped, 1);
    assert!(st.scans().iter().all(|s| s.kind == ScanKind::FinScan));
    assert_eq!(st.packets, 0, "no SYN fingerprinted");
    // Start and end events were handed to the caller.
    assert_eq!(f.scans.len(), 18);
}

/// The bound with clock state: every entry, plus the clock module's own bound for
/// each source allowed clock state (and the one spare tracker); under 256 MiB at the
/// default cap. Printed for the report.
#[test]
fn memory_bound_with_clocks() {
    let f = Feed::new(osfp::sources::DEFAULT_CAP);
    let t = &f.pipe.sources;
    assert_eq!(t.max_clock_sources(), osfp::sources::DEFAULT_CLOCK_SOURCES);
    assert_eq!(
        t.approx_bytes_with_clocks(),
        t.approx_bytes() + (t.max_clock_sources() + 1) * t.clock_bytes_bound()
    );
    // The same bounds without a table, as the configuration check and the start use them.
    assert_eq!(
        osfp::sources::SourceTable::bytes_at(t.cap()),
        t.approx_bytes()
    );
    assert_eq!(
        t.approx_bytes()
            + osfp::sources::SourceTable::clock_bytes_at(t.cap(), t.max_clock_sources()),
        t.approx_bytes_with_clocks()
    );
    assert!(
        t.clock_bytes_bound() < 15 * 1024,
        "{}",
        t.clock_bytes_bound()
    );
    assert!(
        t.approx_bytes_with_clocks() < 256 << 20,
        "{} MiB",
        t.approx_bytes_with_clocks() >> 20
    );
    eprintln!(
        "per source: entry {} B, clock {} B; cap {} ({} with clocks): {} MiB without clocks, {} MiB with",
        osfp::sources::SourceTable::approx_entry_bytes(),
        t.clock_bytes_bound(),
        t.cap(),
        t.max_clock_sources(),
        t.approx_bytes() >> 20,
        t.approx_bytes_with_clocks() >> 20
    );
}

/// Clock state has its own cap: sources beyond it are fingerprinted but their clock
/// events are counted as refused, not analysed; an evicted source's clock slot (and
/// its reset tracker) goes to the next source, whose estimate starts from scratch.
#[test]
fn clock_state_has_its_own_cap() {
    let mut f = Feed::new(4);
    f.pipe.sources = osfp::sources::SourceTable::with_clock_cap(4, 2);
    f.connection(ip("10.0.0.1"), 1000, 10 * S, 5_000);
    f.connection(ip("10.0.0.2"), 1000, 20 * S, 9_000);
    f.connection(ip("10.0.0.3"), 1000, 30 * S, 1_000);
    let t = &f.pipe.sources;
    assert_eq!((t.len(), t.clock_sources()), (3, 2));
    assert_eq!(
        t.clock_events_refused, 4,
        "SYN and three samples of 10.0.0.3"
    );
    let third = t.get(&ip("10.0.0.3")).unwrap();
    assert_eq!((third.packets, third.clock.is_none()), (1, true));
    assert_eq!(f.pipe.clock_estimates().sources, 2);

    f.connection(ip("10.0.0.4"), 1000, 40 * S, 1_000);
    // The fifth source evicts 10.0.0.1 (least recently seen) and takes its clock slot.
    f.connection(ip("10.0.0.5"), 1000, 50 * S, 77_000);
    let t = &f.pipe.sources;
    assert_eq!((t.len(), t.evictions(), t.clock_sources()), (4, 1, 2));
    assert_eq!(t.clock_events_refused, 8);
    assert!(t.get(&ip("10.0.0.1")).is_none());
    let c = t.get(&ip("10.0.0.5")).unwrap().clock.as_ref().unwrap();
    assert_eq!(c.counters.events, 4, "the reused tracker starts empty");
    assert_eq!(c.live_connections(), 1);
    assert_eq!(c.summary().clock.hz, Some(1000.0));
    // The evicted source's events stay in the totals: 10.0.0.1, .2 and .5.
    assert_eq!(f.pipe.clock_counters().events, 12);
    assert_eq!(f.pipe.clock_estimates().with_rate, 2);
}

/// A reload (`osfp run`'s SIGHUP): a smaller cap evicts the least recently seen
/// sources (counted), the table's verdicts keep their labels although the new database
/// (p0f's) has none of that name, and new packets are matched by the new database.
#[test]
fn reconfigure_keeps_labels_and_applies_new_caps() {
    let mut f = Feed::new(16);
    let dst = ip("192.0.2.1");
    for (i, src) in ["10.0.0.1", "10.0.0.2", "10.0.0.3"].iter().enumerate() {
        assert!(f.frame(&TcpFrame::syn(ip(src), dst, 40000, 443), i as u64 * S));
    }
    let label_of = |p: &Pipeline, src: &str| {
        let t = &p.sources;
        let id = t.get(&ip(src)).unwrap().os.verdicts[0].label.unwrap();
        p.fingerprinter.db().label(id).display_name()
    };
    let before = label_of(&f.pipe, "10.0.0.3");
    let p0f = fingerprint::Database::load("/etc/p0f/p0f.fp").expect("p0f's database");
    assert!(p0f.labels.iter().all(|l| l.display_name() != before));
    let mut ended = Vec::new();
    f.pipe
        .reconfigure(p0f, 2, 1, Default::default(), &mut ended);
    let t = &f.pipe.sources;
    assert_eq!((t.len(), t.cap(), t.evictions()), (2, 2, 1));
    assert_eq!(t.max_clock_sources(), 1);
    assert!(
        t.get(&ip("10.0.0.1")).is_none(),
        "least recently seen evicted"
    );
    assert_eq!(label_of(&f.pipe, "10.0.0.3"), before, "carried over");
    // A new SYN from the same source: a verdict of the new database beside the old.
    assert!(f.frame(&TcpFrame::syn(ip("10.0.0.3"), dst, 40001, 443), 10 * S));
    let st = f.pipe.sources.get(&ip("10.0.0.3")).unwrap();
    assert_eq!(st.os.verdicts.len(), 2, "{:?}", st.os.verdicts);
    let db = f.pipe.fingerprinter.db();
    let new = db.label(st.os.verdicts[1].label.expect("p0f labels a Linux SYN"));
    assert!(
        new.display_name().starts_with("Linux"),
        "{}",
        new.display_name()
    );
    assert_ne!(new.display_name(), before);
}

/// A SYN flood from spoofed sources (each seen once) while real clients connect: the
/// flood churns through probation, never evicts a client that completed a handshake,
/// and a client arriving mid-flood is promoted by its second packet. Spoofed sources
/// cannot take the clock state's last quarter either.
#[test]
fn syn_flood_churns_probation_not_clients() {
    let db = Arc::new(fingerprint::default_database().unwrap());
    let mut f = Feed {
        sel: Selector::new(SelectConfig::default()),
        pipe: Pipeline::configured(db, 1000, 1000, Default::default()),
        scans: Vec::new(),
    };
    let client = |i: u32| IpAddr::from([172, 16, (i >> 8) as u8, i as u8]);
    for i in 0..500 {
        f.connection(client(i), 1000, S, 1_000);
    }
    let dst = ip("192.0.2.1");
    let flood = |f: &mut Feed, from: u32, n: u32, t: u64| {
        for i in from..from + n {
            let src = IpAddr::from((0x0a00_0000 + i).to_be_bytes());
            assert!(f.frame(&TcpFrame::syn(src, dst, 1024 + (i % 60_000) as u16, 80), t));
        }
    };
    flood(&mut f, 0, 50_000, 10 * S);
    // A new client mid-flood: its handshake ACK (a timestamp sample) promotes it.
    let late = ip("172.16.9.9");
    f.connection(late, 2000, 20 * S, 5_000);
    flood(&mut f, 50_000, 50_000, 30 * S);

    let t = &f.pipe.sources;
    use osfp::sources::Segment::{Established, Probation};
    assert_eq!(t.evicted(Established), 0, "no client evicted by the flood");
    assert_eq!(t.segment_len(Established), 501);
    assert_eq!(t.len(), 1000);
    assert_eq!(t.evicted(Probation), 100_000 - 499);
    assert_eq!(t.promotions(), 501);
    for i in 0..500 {
        let c = t.get(&client(i)).expect("client kept");
        assert_eq!(c.packets, 1, "the client's SYN fingerprint");
        assert!(c.clock.is_some());
    }
    assert_eq!(t.segment(&late), Some(Established));
    assert!(
        t.get(&late).unwrap().clock.is_some(),
        "the reserve served the late client"
    );
    assert!(
        t.clock_sources() <= 750 + 1,
        "spoofed sources hold at most 3/4 of the clocks"
    );
}

/// SYN flood events: a start in the second the rate is crossed (with the rate, the
/// distinct-source estimate and the targets), an end after the quiet time with the
/// whole flood's counts; a busy second just below the rate starts nothing.
#[test]
fn syn_flood_start_and_end() {
    let mut f = Feed::new(1000);
    let (victim, other) = (ip("192.0.2.80"), ip("192.0.2.81"));
    let t0 = 100 * S;
    // 19,999 SYNs in one second: below the default 20,000.
    let mut n = 0u32;
    let mut syns = |f: &mut Feed, count: u32, start: u64, len: u64, spoofed: bool| {
        for i in 0..count {
            n += 1;
            let src = if spoofed {
                IpAddr::from((0x0a00_0000 + n).to_be_bytes())
            } else {
                ip("198.51.100.7")
            };
            let dst = if i % 10 == 0 { other } else { victim };
            let t = start + len * i as u64 / count as u64;
            assert!(f.frame(&TcpFrame::syn(src, dst, 1024 + (n % 60000) as u16, 80), t));
        }
    };
    syns(&mut f, 19_999, t0, S, true);
    syns(&mut f, 100, t0 + S, S, true);
    assert_eq!(f.pipe.take_flood_events().count(), 0, "below the rate");
    assert!(!f.pipe.floods.active());

    // Three seconds at 30,000 SYN/s from spoofed sources, then quiet.
    syns(&mut f, 90_000, t0 + 5 * S, 3 * S, true);
    let start: Vec<_> = f.pipe.take_flood_events().collect();
    assert_eq!(start.len(), 1);
    let s = &start[0];
    assert_eq!(s.phase, osfp::analysis::flood::FloodPhase::Start);
    assert_eq!((s.syns, s.rate), (20_000, 20_000));
    assert!(
        (19_000..=21_000).contains(&s.sources_estimate),
        "{}",
        s.sources_estimate
    );
    assert_eq!((s.targets[0].dst, s.targets[0].dport), (victim, 80));
    assert!(f.pipe.floods.active());
    // Four quiet seconds are not enough, five are.
    f.pipe.expire_floods(t0 + 12 * S);
    assert_eq!(f.pipe.take_flood_events().count(), 0);
    f.pipe.expire_floods(t0 + 14 * S);
    let end: Vec<_> = f.pipe.take_flood_events().collect();
    assert_eq!(end.len(), 1);
    let e = &end[0];
    assert_eq!(e.phase, osfp::analysis::flood::FloodPhase::End);
    assert_eq!((e.syns, e.rate), (90_000, 30_000));
    assert!(
        (85_000..=95_000).contains(&e.sources_estimate),
        "{}",
        e.sources_estimate
    );
    assert!(
        e.first_ts >= 105.0 && e.last_ts < 108.0,
        "{} {}",
        e.first_ts,
        e.last_ts
    );
    let c = f.pipe.floods.counters;
    assert_eq!((c.started, c.syns_in_floods), (1, 90_000));
    assert!(!f.pipe.floods.active());

    // One source flooding: a second flood, one source.
    syns(&mut f, 25_000, t0 + 20 * S, S, false);
    let one: Vec<_> = f.pipe.take_flood_events().collect();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].sources_estimate, 1);
    f.pipe.end_of_input(&mut f.scans);
    let fin: Vec<_> = f.pipe.take_flood_events().collect();
    assert_eq!(fin.len(), 1, "the end of input ends it");
    assert_eq!(fin[0].syns, 25_000);
    assert_eq!(f.pipe.floods.counters.started, 2);
}

/// The API's list path without HTTP: a walk of the table in steps, the index, a page,
/// and the page's sources as the consumer writes them. Filters select by the source's
/// traits; a source evicted after the walk is left out of its page, and the index's
/// total still counts it until the next walk.
#[test]
fn api_pages_come_from_the_index_and_the_live_table() {
    use osfp::export::{
        api::{page_sources, Filter},
        source_index::{SourceIndex, Walked},
    };
    let mut f = Feed::new(6);
    for (i, src) in ["10.0.0.3", "10.0.0.1", "fd00::2"].iter().enumerate() {
        f.connection(ip(src), 1000, (i as u64 + 1) * 10 * S, 5_000);
    }
    // A FIN scanner (no SYN: family unknown, scanning).
    for p in 0..3u16 {
        let mut fr = TcpFrame::syn(ip("10.9.9.9"), ip("192.0.2.7"), 50000, 20 + p);
        fr.flags = FIN;
        fr.options.clear();
        assert!(f.frame(&fr, (50 + p as u64) * S));
    }
    let db = Arc::new(fingerprint::default_database().unwrap());
    let multi = Default::default();
    let walk = |p: &Pipeline| {
        let mut w = Walked::start(7, 1.5, p.sources.len());
        let mut at = Some(0);
        while let Some(from) = at {
            at = w.step(p, &db, &multi, from);
        }
        SourceIndex::build(w)
    };
    let idx = walk(&f.pipe);
    assert_eq!((idx.len(), idx.generation, idx.as_of), (4, 7, 1.5));
    let srcs = |body: &str| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s["src"].as_str().unwrap().to_string())
            .collect()
    };
    let page_of = |p: &Pipeline, filter: &Filter| {
        let pg = idx.page(filter);
        (
            pg.total,
            srcs(&page_sources(p, &db, &pg.addrs, filter, &multi)),
            pg.next,
        )
    };
    let page = |filter: &Filter| page_of(&f.pipe, filter);
    let all = Filter {
        limit: 100,
        ..Filter::default()
    };
    assert_eq!(
        page(&all),
        (
            4,
            vec![
                "10.0.0.1".into(),
                "10.0.0.3".into(),
                "10.9.9.9".into(),
                "fd00::2".into()
            ],
            None
        )
    );
    let scanning = Filter {
        scanning: Some(true),
        ..all.clone()
    };
    assert_eq!(page(&scanning), (1, vec!["10.9.9.9".into()], None));
    let linux = Filter {
        family: Some(fingerprint::Family::Linux),
        limit: 2,
        ..all.clone()
    };
    let (total, first, next) = page(&linux);
    assert_eq!(
        (total, &first[..], next),
        (
            3,
            &["10.0.0.1".to_string(), "10.0.0.3".into()][..],
            Some(ip("10.0.0.3"))
        )
    );
    let (_, second, next) = page(&Filter {
        after: next,
        ..linux.clone()
    });
    assert_eq!((second, next), (vec!["fd00::2".to_string()], None));
    // The page's source objects are the API's: family, scan state, verdicts.
    let pg = idx.page(&scanning);
    let body: serde_json::Value =
        serde_json::from_str(&page_sources(&f.pipe, &db, &pg.addrs, &scanning, &multi)).unwrap();
    assert_eq!(body[0]["family"], "unknown", "{body}");
    assert_eq!(body[0]["scan_active"], true, "{body}");

    // A reload to cap 2 evicts the two least recent sources (the first connections),
    // after the walk: they are left out of their page, counted until the next walk.
    f.pipe.sources.set_caps(2, 2);
    assert!(f.pipe.sources.get(&ip("10.0.0.1")).is_none());
    let (total, first, next) = page_of(&f.pipe, &linux);
    assert_eq!((total, first, next), (3, vec![], Some(ip("10.0.0.3"))));
    assert_eq!(
        walk(&f.pipe).page(&linux).addrs,
        vec![ip("fd00::2")],
        "the next walk sees the table as it is"
    );
}
