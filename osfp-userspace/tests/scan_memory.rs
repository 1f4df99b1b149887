//! The scan tracker's memory stays within `ScanTracker::memory_bound` (what the
//! configuration check holds under its budget and `osfp run` prints at start) when every
//! tracked source sweeps more targets than it may keep and sources churn: the bytes it
//! allocates, counted by this binary's allocator.

use std::net::Ipv6Addr;

use osfp::{
    analysis::scan::{ScanConfig, ScanTracker},
    decode::Event,
};
use osfp_common::{reason, tcp_flag, PacketRecord};
use osfp_tests::alloc_count::{self, Counting};

/// Every allocation of this binary counted (`osfp_tests::alloc_count`).
#[global_allocator]
static ALLOC: Counting = Counting;

/// A plain SYN from `src` to `dst`:`dport` at `ts_ns` (IPv6: the largest keys).
fn syn(src: u128, dst: u128, dport: u16, ts_ns: u64) -> Event {
    let mut r = PacketRecord::zeroed();
    r.family = 6;
    r.reason = reason::SYN;
    r.ts_ns = ts_ns;
    r.src = Ipv6Addr::from(src).octets();
    r.dst = Ipv6Addr::from(dst).octets();
    r.sport = 40_000;
    r.dport = dport;
    r.ttl = 64;
    r.seq = 1;
    r.tcp_flags = tcp_flag::SYN;
    r.window = 64_240;
    r.doff = 5;
    Event::decode(&r)
}

#[test]
fn sweeping_sources_stay_within_the_bound() {
    let cfg = ScanConfig {
        max_sources: 200,
        max_targets_per_source: 256,
        ..ScanConfig::default()
    };
    let bound = ScanTracker::memory_bound(&cfg) as isize;
    let mut out = Vec::with_capacity(4096);
    let before = alloc_count::live();
    let mut t = ScanTracker::new(cfg);
    let mut ts = 1_000_000_000u64;
    // 300 sources (the first 100 evicted), each sweeping 1000 targets, within the window.
    for s in 0..300u128 {
        let src = 0x2001_0db8_0000_0000_0000_0000_0000_0000 | s << 32;
        for i in 0..1000u16 {
            ts += 1000;
            let dst = 0x2001_0db8_ffff_0000_0000_0000_0000_0000 | (i as u128 % 40);
            t.observe(&syn(src, dst, 1 + i, ts), &mut out);
            out.clear();
        }
    }
    assert_eq!(t.tracked_sources(), 200);
    let allocated = alloc_count::live() - before;
    eprintln!("scan tracker: bound {bound} B, allocated {allocated} B");
    assert!(
        allocated <= bound,
        "allocated {allocated} B, bound {bound} B"
    );
    // Not padded beyond the one growth under tombstones the bound allows each target
    // table (at 256 targets in 512 buckets, half full, removals rarely leave tombstones,
    // so here the tables kept their first size).
    assert!(
        allocated >= bound / 2,
        "allocated {allocated} B, bound {bound} B: the bound is not derived"
    );
    drop(t);
}
