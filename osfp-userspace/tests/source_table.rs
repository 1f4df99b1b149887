//! The per-source table stays at its cap under 10 million distinct sources, counts
//! every eviction, and its resident memory stays within the documented bound.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use osfp::{
    analysis::fingerprint::{Database, Signature},
    decode::Event,
    sources::SourceTable,
};
use osfp_common::{reason, tcp_flag, PacketRecord};

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
    let db = Database::parse(
        "classes = unix\n[tcp:request]\nlabel = s:unix:Linux:test\nsig = *:64:0:*:*,*:mss::0\n",
        "t.fp",
    )
    .unwrap();
    let mut r = PacketRecord::zeroed();
    r.family = 4;
    r.reason = reason::SYN;
    r.ttl = 60;
    r.seq = 1;
    r.ip_id = 1;
    r.tcp_flags = tcp_flag::SYN;
    r.window = 100;
    r.doff = 6;
    r.opt_len = 4;
    r.options[..4].copy_from_slice(&[2, 4, 5, 0xb4]);
    let ev = Event::decode(&r);
    let sig = Signature::from_event(&ev, 0).unwrap();
    let v = db.classify(&sig, false);
    assert_eq!(v.label.map(|l| l.name.as_str()), Some("Linux"));

    let before = rss_kib();
    let mut t = SourceTable::new(CAP);
    for i in 0..SOURCES {
        // Half IPv4, half IPv6, all distinct.
        let src = if i % 2 == 0 {
            IpAddr::V4(Ipv4Addr::from((i / 2) as u32))
        } else {
            IpAddr::V6(Ipv6Addr::from(i as u128 | 0x2001_0db8 << 96))
        };
        t.observe(src, i, &sig, &v);
        assert!(t.len() <= CAP);
    }
    assert_eq!(t.len(), CAP);
    assert_eq!(t.evictions, SOURCES - CAP as u64);
    // The survivors are the most recent sources, each seen once.
    let last = IpAddr::V6(Ipv6Addr::from((SOURCES - 1) as u128 | 0x2001_0db8 << 96));
    let st = t.get(&last).expect("most recent source kept");
    assert_eq!(
        (st.packets, st.first_ns, st.os.verdicts[0].count),
        (1, SOURCES - 1, 1)
    );
    assert!(t.get(&IpAddr::V4(Ipv4Addr::from(0u32))).is_none());

    let bound = t.approx_bytes() as u64;
    if let (Some(b), Some(a)) = (before, rss_kib()) {
        let grown = a.saturating_sub(b) * 1024;
        eprintln!(
            "source table: cap {CAP}, {} evictions, entry ~{} B, bound {} MiB, RSS grew {} MiB",
            t.evictions,
            SourceTable::approx_entry_bytes(),
            bound >> 20,
            grown >> 20
        );
        // The LRU's hash table rounds up to a power of two: allow twice the bound.
        assert!(grown <= 2 * bound, "RSS grew {grown} B, bound {bound} B");
    }
}
