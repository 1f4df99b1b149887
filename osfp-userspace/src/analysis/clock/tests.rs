//! Tracker tests on synthetic events built as real records (through `Event::decode`).

use std::net::{IpAddr, Ipv4Addr};

use osfp_common::{reason, tcp_flag, PacketRecord};

use super::*;
use crate::analysis::ipid::IpIdClass;

/// Capture starts here (unix ns).
const T0: u64 = 1_760_000_000_000_000_000;

fn ip(d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, d))
}

fn event(
    kind: Kind,
    ts_ns: u64,
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    tsval: u32,
) -> Event {
    let mut r = PacketRecord::zeroed();
    r.ts_ns = ts_ns;
    r.family = 4;
    r.reason = match kind {
        Kind::Syn => reason::SYN,
        Kind::Synack => reason::SYNACK,
        Kind::ScanProbe => reason::SCAN_PROBE,
        Kind::HandshakeAck => reason::HANDSHAKE_ACK,
        Kind::TsSample => reason::TS_SAMPLE,
    };
    r.tcp_flags = match kind {
        Kind::Syn => tcp_flag::SYN,
        Kind::Synack => tcp_flag::SYN | tcp_flag::ACK,
        _ => tcp_flag::ACK,
    };
    r.ttl = 64;
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src, dst) else {
        unreachable!()
    };
    r.src[..4].copy_from_slice(&s.octets());
    r.dst[..4].copy_from_slice(&d.octets());
    r.sport = sport;
    r.dport = dport;
    r.doff = 8;
    r.opt_len = 12;
    r.options[..4].copy_from_slice(&[1, 1, 8, 10]);
    r.options[4..8].copy_from_slice(&tsval.to_be_bytes());
    Event::decode(&r)
}

/// A simulated machine's TSval clock.
#[derive(Clone, Copy)]
struct Clock {
    hz: f64,
    /// Unix seconds at TSval 0 (the boot time for a boot-relative clock).
    zero_s: f64,
}

impl Clock {
    fn tsval(&self, t_ns: u64, extra_offset: u32) -> u32 {
        let t = t_ns as f64 / 1e9 - self.zero_s;
        ((t * self.hz).floor() as i64 as u64 as u32).wrapping_add(extra_offset)
    }
}

/// One connection: a SYN (or SYN-ACK for servers) at `start_ns`, then `samples`
/// one-second samples, with capture delay jitter of up to 3 ms.
#[allow(clippy::too_many_arguments)]
fn connection(
    t: &mut ClockTracker,
    clock: Clock,
    extra: u32,
    src: IpAddr,
    peer: IpAddr,
    sport: u16,
    dport: u16,
    start_ns: u64,
    samples: u32,
    server: bool,
    rng: &mut super::fit::tests_rng::Rng,
) {
    for i in 0..=samples {
        let sent = start_ns + i as u64 * 1_000_000_000 + (rng.unit() * 300e6) as u64;
        let seen = sent + (rng.unit() * 3e6) as u64;
        let kind = match (i, server) {
            (0, false) => Kind::Syn,
            (0, true) => Kind::Synack,
            _ => Kind::TsSample,
        };
        t.observe(&event(
            kind,
            seen,
            src,
            peer,
            sport,
            dport,
            clock.tsval(sent, extra),
        ));
    }
}

#[test]
fn boot_relative_single_machine() {
    let mut rng = super::fit::tests_rng::Rng(7);
    let mut t = ClockTracker::new(ClockConfig::default());
    let boot = T0 as f64 / 1e9 - 3.5 * 86_400.0;
    let clock = Clock {
        hz: 1000.0,
        zero_s: boot,
    };
    let src = ip(1);
    for k in 0..40u64 {
        // 40 connections over 20 minutes, to 5 peers; most short (SYN + 0..3 samples).
        connection(
            &mut t,
            clock,
            0,
            src,
            ip(100 + (k % 5) as u8),
            40_000 + k as u16,
            443,
            T0 + k * 30_000_000_000,
            (k % 4) as u32 * if k % 7 == 0 { 4 } else { 1 },
            false,
            &mut rng,
        );
    }
    let s = t.summary();
    assert_eq!(
        s.clock.offset_policy,
        OffsetPolicy::BootRelative,
        "{:?}",
        s.clock.evidence
    );
    assert_eq!(s.clock.hz, Some(1000.0));
    let raw = s.clock.hz_raw.unwrap();
    assert!((raw - 1000.0).abs() / 1000.0 < 0.005, "raw {raw}");
    let b = s.clock.boot_time.expect("boot time");
    assert!((b - boot).abs() < 1.0, "boot {b} vs {boot}");
    let up = s.clock.uptime.unwrap();
    let last_s = t.last_ns as f64 / 1e9;
    assert!(last_s - T0 as f64 / 1e9 > 1170.0);
    assert!((up - (last_s - boot)).abs() < 1.0, "uptime {up}");
    assert_eq!(s.hosts.count, 1, "{:?}", s.hosts);
    assert_eq!(s.hosts.machines[0].ports, vec![443]);
    assert!((s.hosts.machines[0].share - 1.0).abs() < 1e-9);
    assert!(s.clock.quality > 0.3, "quality {}", s.clock.quality);
}

#[test]
fn boot_time_from_syns_alone() {
    // A host seen only by its SYNs (no samples): the rate comes from the line through
    // the SYNs of many connections.
    let mut rng = super::fit::tests_rng::Rng(8);
    let mut t = ClockTracker::new(ClockConfig::default());
    let boot = T0 as f64 / 1e9 - 1000.0;
    let clock = Clock {
        hz: 100.0,
        zero_s: boot,
    };
    for k in 0..12u64 {
        connection(
            &mut t,
            clock,
            0,
            ip(1),
            ip(100 + k as u8),
            50_000 + k as u16,
            80,
            T0 + k * 20_000_000_000,
            0,
            false,
            &mut rng,
        );
    }
    let s = t.summary();
    assert_eq!(s.clock.hz, Some(100.0));
    assert_eq!(s.clock.offset_policy, OffsetPolicy::BootRelative);
    assert!((s.clock.boot_time.unwrap() - boot).abs() < 1.0);
}

#[test]
fn linux_jiffies_in_first_minutes() {
    // Linux < 4.13 at HZ=250 booted 100 s before the capture: jiffies started at
    // -300 s, so the TSvals sit just below 2^32 and wrap during the capture.
    let mut rng = super::fit::tests_rng::Rng(14);
    let boot = T0 as f64 / 1e9 - 100.0;
    let clock = Clock {
        hz: 250.0,
        zero_s: boot + 300.0,
    };
    // Seen for 6 minutes (the clock passes zero while we watch), and for 1 minute
    // (it does not yet).
    for n in [12u64, 2] {
        let mut t = ClockTracker::new(ClockConfig::default());
        for k in 0..n {
            connection(
                &mut t,
                clock,
                0,
                ip(1),
                ip(100 + (k % 4) as u8),
                50_000 + k as u16,
                443,
                T0 + k * 30_000_000_000,
                2,
                false,
                &mut rng,
            );
        }
        let s = t.summary();
        assert_eq!(s.clock.offset_policy, OffsetPolicy::BootRelative);
        assert_eq!(
            s.hosts.count, 1,
            "the wrap splits no machine: {:#?}",
            s.hosts
        );
        let b = s.clock.boot_time.unwrap();
        assert!((b - boot).abs() < 1.0, "{n}: boot {b} vs {boot}");
        let up = s.clock.uptime.unwrap();
        assert!(
            up > 100.0 && up < 100.0 + n as f64 * 30.0 + 5.0,
            "uptime {up}"
        );
    }
    // Far from a zero crossing nothing changes.
    assert_eq!(jiffies_boot(1_000.0, 1000.0, 1_500.0, 2_000.0), 1_000.0);
}

#[test]
fn per_peer_and_per_connection_never_give_boot_time() {
    let mut rng = super::fit::tests_rng::Rng(9);
    let clock = Clock {
        hz: 1000.0,
        zero_s: T0 as f64 / 1e9 - 500_000.0,
    };
    // Per peer: one random offset per peer address.
    let mut t = ClockTracker::new(ClockConfig::default());
    for k in 0..18u64 {
        let peer = (k % 3) as u8;
        let extra = [0x1111_2222u32, 0x7777_0000, 0xABCD_EF01][peer as usize];
        connection(
            &mut t,
            clock,
            extra,
            ip(1),
            ip(100 + peer),
            30_000 + k as u16,
            22,
            T0 + k * 10_000_000_000,
            2,
            false,
            &mut rng,
        );
    }
    let s = t.summary();
    assert_eq!(
        s.clock.offset_policy,
        OffsetPolicy::PerPeer,
        "{:?}",
        s.clock.evidence
    );
    assert_eq!(s.clock.boot_time, None);
    assert_eq!(s.clock.hz, Some(1000.0));
    assert_eq!(
        s.hosts.count, 1,
        "one machine toward each peer: {:?}",
        s.hosts
    );
    assert!(s.hosts.machines.iter().all(|m| m.boot_time.is_none()));

    // Per connection: a random offset each time, several connections per peer.
    let mut t = ClockTracker::new(ClockConfig::default());
    for k in 0..18u64 {
        let extra = rng.next() as u32;
        connection(
            &mut t,
            clock,
            extra,
            ip(1),
            ip(100 + (k % 3) as u8),
            30_000 + k as u16,
            22,
            T0 + k * 10_000_000_000,
            3,
            false,
            &mut rng,
        );
    }
    let s = t.summary();
    assert_eq!(
        s.clock.offset_policy,
        OffsetPolicy::PerConnection,
        "{:?}",
        s.clock.evidence
    );
    assert_eq!(s.clock.boot_time, None);
    assert_eq!(s.clock.hz, Some(1000.0));
    assert_eq!(s.hosts.basis, hosts::Basis::RatesOnly);
    assert_eq!(s.hosts.count, 1);
}

#[test]
fn machines_behind_one_address() {
    let mut rng = super::fit::tests_rng::Rng(10);
    let now = T0 as f64 / 1e9;
    // Four servers behind one address: three Linux-like at 1000 Hz booted 2 h, 9 days
    // and 30 days ago, one at 100 Hz booted 3 days ago (with a wrapped clock: 30 days at
    // 1000 Hz is below 2^32 ticks, but the 250 Hz one below started near the wrap).
    let machines = [
        (
            Clock {
                hz: 1000.0,
                zero_s: now - 7_200.0,
            },
            443u16,
        ),
        (
            Clock {
                hz: 1000.0,
                zero_s: now - 9.0 * 86_400.0,
            },
            443,
        ),
        (
            Clock {
                hz: 1000.0,
                zero_s: now - 30.0 * 86_400.0,
            },
            443,
        ),
        (
            Clock {
                hz: 100.0,
                zero_s: now - 3.0 * 86_400.0,
            },
            25,
        ),
        (
            Clock {
                hz: 250.0,
                zero_s: now - 4_294_967_296.0 / 250.0 + 600.0,
            },
            80,
        ),
    ];
    let weights = [10u64, 6, 4, 5, 5];
    let mut t = ClockTracker::new(ClockConfig::default());
    let mut k = 0u64;
    for (m, &(clock, port)) in machines.iter().enumerate() {
        for j in 0..weights[m] {
            // Each answers SYN-ACKs to several clients over a quarter of an hour,
            // interleaved with the other machines.
            let start = T0 + (j * 5 + m as u64) * 30_000_000_000;
            connection(
                &mut t,
                clock,
                0,
                ip(1),
                ip(100 + (k % 7) as u8),
                port,
                50_000 + k as u16,
                start,
                (k % 3) as u32,
                true,
                &mut rng,
            );
            k += 1;
        }
    }
    let s = t.summary();
    assert_eq!(s.clock.offset_policy, OffsetPolicy::BootRelative);
    assert_eq!(s.hosts.basis, hosts::Basis::ClockLines);
    assert_eq!(s.hosts.count, 5, "{:#?}", s.hosts);
    let total: u64 = weights.iter().sum();
    for (m, &(clock, port)) in machines.iter().enumerate() {
        let found = s
            .hosts
            .machines
            .iter()
            .find(|x| {
                x.hz == clock.hz
                    && x.boot_time.is_some_and(|b| {
                        // Boot times are ambiguous by whole 32-bit periods.
                        let p = 4_294_967_296.0 / clock.hz;
                        let d = (b - clock.zero_s).rem_euclid(p);
                        d.min(p - d) < 1.0
                    })
            })
            .unwrap_or_else(|| panic!("machine {m} missing: {:#?}", s.hosts));
        assert_eq!(found.connections as u64, weights[m]);
        assert!((found.share - weights[m] as f64 / total as f64).abs() < 1e-9);
        assert_eq!(found.ports, vec![port]);
    }
}

#[test]
fn load_balanced_per_peer_machines_seen_from_one_client() {
    // tmap's case: one observer (client) talks to one address; three servers behind it
    // each add their own per-address-pair offset. Toward the one peer each machine is
    // one line: three machines, and no boot time (one peer cannot show boot-relative).
    let mut rng = super::fit::tests_rng::Rng(13);
    let clock = Clock {
        hz: 1000.0,
        zero_s: T0 as f64 / 1e9 - 86_400.0,
    };
    let offsets = [0x0123_4567u32, 0x89AB_CDEF, 0x4444_0000];
    let mut t = ClockTracker::new(ClockConfig::default());
    for k in 0..30u64 {
        let m = (k * 7 % 3) as usize;
        connection(
            &mut t,
            clock,
            offsets[m],
            ip(1),
            ip(200),
            443,
            40_000 + k as u16,
            T0 + k * 20_000_000_000,
            2,
            true,
            &mut rng,
        );
    }
    let s = t.summary();
    assert_eq!(
        s.clock.offset_policy,
        OffsetPolicy::Unknown,
        "{:?}",
        s.clock.evidence
    );
    assert_eq!(s.hosts.count, 3, "{:#?}", s.hosts);
    assert_eq!(s.hosts.basis, hosts::Basis::ClockLines);
    assert!(s
        .hosts
        .machines
        .iter()
        .all(|m| m.connections == 10 && m.boot_time.is_none()));
    assert_eq!(s.clock.boot_time, None);
}

#[test]
fn one_busy_machine_is_one() {
    let mut rng = super::fit::tests_rng::Rng(11);
    let clock = Clock {
        hz: 1000.0,
        zero_s: T0 as f64 / 1e9 - 40.0 * 86_400.0,
    };
    // 300 connections also exercise eviction of live and retired ones.
    let mut t = ClockTracker::new(ClockConfig::default());
    for k in 0..300u64 {
        connection(
            &mut t,
            clock,
            0,
            ip(1),
            ip(100 + (k % 50) as u8),
            443,
            1024 + k as u16,
            T0 + k * 2_000_000_000,
            (k % 2) as u32,
            true,
            &mut rng,
        );
    }
    let s = t.summary();
    assert_eq!(s.hosts.count, 1, "{:#?}", s.hosts);
    assert_eq!(s.clock.offset_policy, OffsetPolicy::BootRelative);
    assert!(t.counters.evicted > 0 && t.counters.finished_dropped > 0);
    let cfg = ClockConfig::default();
    assert!(t.live_connections() <= cfg.max_connections);
    assert!(t.finished_connections() <= cfg.max_finished);
}

#[test]
fn memory_stays_bounded() {
    let cfg = ClockConfig::default();
    let mut t = ClockTracker::new(cfg);
    let mut rng = super::fit::tests_rng::Rng(12);
    for k in 0..5_000u64 {
        let ts = T0 + k * 10_000_000;
        t.observe(&event(
            if k % 3 == 0 {
                Kind::Syn
            } else {
                Kind::TsSample
            },
            ts,
            ip(1),
            ip((k % 200) as u8),
            (k % 700) as u16,
            80,
            rng.next() as u32,
        ));
        assert!(t.memory_used() <= ClockTracker::memory_bound(&cfg));
    }
    eprintln!(
        "memory bound per source: {} bytes",
        ClockTracker::memory_bound(&cfg)
    );
    assert!(
        ClockTracker::memory_bound(&cfg) < 24 * 1024,
        "{}",
        ClockTracker::memory_bound(&cfg)
    );
    // Garbage TSvals give no trustworthy rate, and no boot time.
    let s = t.summary();
    assert_eq!(s.clock.boot_time, None);
}

#[test]
fn port_reuse_with_new_offset_restarts() {
    let mut t = ClockTracker::new(ClockConfig::default());
    let e = |k, ts, v| event(k, ts, ip(1), ip(2), 40_000, 80, v);
    t.observe(&e(Kind::Syn, T0, 5_000));
    t.observe(&e(Kind::TsSample, T0 + 1_000_000_000, 6_000));
    // SYN retransmission: same series.
    t.observe(&e(Kind::Syn, T0 + 1_100_000_000, 6_100));
    assert_eq!(t.counters.restarted, 0);
    // New connection on the same 4-tuple with another offset.
    t.observe(&e(Kind::Syn, T0 + 60_000_000_000, 123));
    assert_eq!(t.counters.restarted, 1);
    assert_eq!(t.connections().len(), 2);
}

#[test]
fn scan_probes_and_missing_timestamps_are_counted() {
    let mut t = ClockTracker::new(ClockConfig::default());
    let mut e = event(Kind::ScanProbe, T0, ip(1), ip(2), 1, 2, 0xFFFF_FFFF);
    e.kind = Kind::ScanProbe;
    t.observe(&e);
    let mut n = event(Kind::Syn, T0, ip(1), ip(2), 1, 2, 0);
    t.observe(&n);
    n.options.timestamp = None;
    t.observe(&n);
    assert_eq!(t.counters.scan_probes_skipped, 1);
    assert_eq!(t.counters.no_timestamp, 1);
    assert_eq!(t.counters.zero_tsval, 1);
    let s = t.summary();
    assert_eq!(s.hosts.basis, hosts::Basis::None);
    assert_eq!(s.clock.offset_policy, OffsetPolicy::Unknown);
}

#[test]
fn ip_ids_per_source_and_per_flow() {
    let mut t = ClockTracker::new(ClockConfig::default());
    // Linux-like: a per-connection counter from a random start, +1 per packet.
    let starts = [1_000u16, 40_000, 17_000, 60_000];
    for (k, &s0) in starts.iter().enumerate() {
        for i in 0..4u16 {
            let mut e = event(
                if i == 0 { Kind::Syn } else { Kind::TsSample },
                T0 + (k as u64 * 10 + i as u64) * 1_000_000_000,
                ip(1),
                ip(2),
                40_000 + k as u16,
                443,
                1_000 * i as u32,
            );
            e.record.ip_id = s0.wrapping_add(i) as u32;
            t.observe(&e);
        }
    }
    let s = t.summary();
    assert_eq!(s.ip_id.per_flow_class, Some(IpIdClass::I));
    assert_eq!(s.ip_id.class, Some(IpIdClass::Rd));
    assert_eq!(s.ip_id.samples, 16);
    assert_eq!(s.ip_id.handshake_class, Some(IpIdClass::Rd));
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["ip_id"]["class"], "RD");
    // Equal TSvals at different start times: a new offset per connection.
    assert_eq!(json["clock"]["offset_policy"], "per_connection");
    for k in ["hz", "hz_raw", "quality", "offset_policy", "boot_time"] {
        assert!(json["clock"].get(k).is_some(), "clock.{k}");
    }
    for k in ["count", "machines"] {
        assert!(json["hosts"].get(k).is_some(), "hosts.{k}");
    }
}

proptest::proptest! {
    /// Any sequence of events: no panic, caps hold, no boot time without its policy.
    #[test]
    fn arbitrary_events_are_safe(
        evs in proptest::collection::vec(
            (0u8..4, 0u64..100_000_000_000u64, 0u8..6, proptest::num::u16::ANY, proptest::num::u32::ANY, proptest::num::u16::ANY),
            0..300,
        )
    ) {
        let cfg = ClockConfig { max_connections: 3, max_finished: 5, max_samples: 6, max_ports: 2 };
        let mut t = ClockTracker::new(cfg);
        for (k, dt, peer, port, tsval, id) in evs {
            let kind = [Kind::Syn, Kind::Synack, Kind::TsSample, Kind::ScanProbe][k as usize];
            let mut e = event(kind, T0 + dt, ip(1), ip(peer), port % 8, 80, tsval);
            e.record.ip_id = id as u32;
            t.observe(&e);
            proptest::prop_assert!(t.memory_used() <= ClockTracker::memory_bound(&cfg));
        }
        let s = t.summary();
        proptest::prop_assert!(s.clock.quality >= 0.0 && s.clock.quality <= 1.0);
        if s.clock.offset_policy != OffsetPolicy::BootRelative {
            proptest::prop_assert!(s.clock.boot_time.is_none());
            proptest::prop_assert!(s.hosts.machines.iter().all(|m| m.boot_time.is_none()));
        }
        proptest::prop_assert!(s.hosts.machines.iter().all(|m| m.ports.len() <= 2));
        let share: f64 = s.hosts.machines.iter().map(|m| m.share).sum();
        proptest::prop_assert!(s.hosts.count == 0 || (share - 1.0).abs() < 1e-9);
    }
}

/// A reset tracker (as the source table reuses an evicted source's) gives exactly what
/// a new one gives for the same events, whatever it held before.
#[test]
fn reset_tracker_equals_a_new_one() {
    let cfg = ClockConfig::default();
    let feed = |t: &mut ClockTracker, peer0: u8, hz: u64, n: u64| {
        for k in 0..n {
            let kind = if k % 4 == 0 {
                Kind::Syn
            } else {
                Kind::TsSample
            };
            let ts = T0 + k * 400_000_000;
            let tsval = 10_000 + (k * 400 * hz / 1000) as u32;
            let peer = ip(peer0 + (k / 4) as u8);
            t.observe(&event(
                kind,
                ts,
                ip(1),
                peer,
                1000 + (k / 4) as u16,
                80,
                tsval,
            ));
        }
    };
    let mut used = ClockTracker::new(cfg);
    feed(&mut used, 10, 250, 400);
    assert!(used.finished_connections() > 0);
    used.reset();
    assert_eq!(
        (used.live_connections(), used.finished_connections()),
        (0, 0)
    );
    let mut fresh = ClockTracker::new(cfg);
    feed(&mut used, 50, 1000, 24);
    feed(&mut fresh, 50, 1000, 24);
    assert_eq!(used.counters, fresh.counters);
    assert_eq!(used.summary(), fresh.summary());
    assert_eq!(fresh.summary().clock.hz, Some(1000.0));
}
