//! The per-source table stays at its cap under 10 million distinct sources (half seen
//! twice, so both segments churn), counts every eviction by segment, and its memory
//! stays within the documented bound: the bytes it allocates (counted by this binary's
//! allocator) and its resident memory.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use osfp::sources::{established_cap, Segment, SourceTable};
use osfp_tests::alloc_count::{self, Counting};

/// Every allocation of this binary counted (`osfp_tests::alloc_count`).
#[global_allocator]
static ALLOC: Counting = Counting;

fn rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[test]
fn ten_million_sources_stay_capped() {
    const CAP: usize = 100_000;
    const SOURCES: u64 = 10_000_000;
    let (db, sig) = osfp_tests::table_fixture::linux_syn();
    let v = db.classify(&sig, false);
    assert_eq!(v.label.map(|l| l.name.as_str()), Some("Linux"));

    let before = rss_kib();
    let live_before = alloc_count::live();
    let mut t = SourceTable::new(CAP);
    let src_of = |i: u64| {
        // Half IPv4, half IPv6, all distinct.
        if i.is_multiple_of(2) {
            IpAddr::V4(Ipv4Addr::from((i / 2) as u32))
        } else {
            IpAddr::V6(Ipv6Addr::from(i as u128 | 0x2001_0db8 << 96))
        }
    };
    for i in 0..SOURCES {
        // The first half seen once each: probation churns at the whole cap. Then every
        // fourth source is seen twice (established churns), the others once.
        let src = src_of(i);
        t.observe(src, i, &sig, &v);
        if i >= SOURCES / 2 && i % 4 == 0 {
            t.observe(src, i, &sig, &v);
        }
        assert!(t.len() <= CAP);
    }
    let est = established_cap(CAP);
    assert_eq!(t.len(), CAP);
    assert_eq!(t.segment_len(Segment::Established), est);
    assert_eq!(t.promotions(), SOURCES / 8);
    let evicted_established = SOURCES / 8 - est as u64;
    assert_eq!(t.evicted(Segment::Established), evicted_established);
    assert_eq!(
        t.evicted(Segment::Probation),
        SOURCES - CAP as u64 - evicted_established
    );
    // The survivors are the most recent sources of each kind.
    let last = src_of(SOURCES - 1);
    let st = t.get(&last).expect("most recent source kept");
    assert_eq!(
        (st.packets, st.first_ns, st.os.verdicts[0].count),
        (1, SOURCES - 1, 1)
    );
    assert_eq!(t.segment(&last), Some(Segment::Probation));
    let twice = src_of(SOURCES - 4);
    assert_eq!(t.get(&twice).map(|s| s.packets), Some(2));
    assert_eq!(t.segment(&twice), Some(Segment::Established));
    assert!(t.get(&src_of(0)).is_none());

    // What the table holds now is what it allocated: the bound is met, and derived
    // (within 1 %), not padded.
    let bound = t.approx_bytes() as u64;
    let allocated = (alloc_count::live() - live_before) as u64;
    eprintln!(
        "source table: cap {CAP}, {} evictions, node {} B, bound {} B, allocated {allocated} B",
        t.evictions(),
        SourceTable::node_bytes(),
        bound,
    );
    // The counter is the process's: the test harness's own threads may hold a few
    // buffers meanwhile (a fresh-clone CI run saw 960 B above a bound that this same
    // table, same hash seed, meets to the byte when run again), so they get 4 KiB.
    const HARNESS: u64 = 4096;
    assert!(
        allocated <= bound + HARNESS,
        "allocated {allocated} B, bound {bound} B"
    );
    assert!(
        allocated >= bound - bound / 100,
        "allocated {allocated} B, bound {bound} B: the bound is not derived"
    );
    let (Some(b), Some(a)) = (before, rss_kib()) else {
        panic!("no VmRSS in /proc/self/status");
    };
    let grown = a.saturating_sub(b) * 1024;
    eprintln!("source table: RSS grew {} MiB", grown >> 20);
    // Resident memory also counts the allocator's own bookkeeping (this thread's arena).
    assert!(
        grown <= bound + bound / 20,
        "RSS grew {grown} B, bound {bound} B"
    );
}
