//! The pcap path's parser and selection rules on crafted frames: every malformed case is
//! counted under its reason, nothing panics, and selection follows the documented rules.

use std::net::IpAddr;

use strum::IntoEnumIterator;

use osfp::{
    capture::frame::{Link, SelectConfig, Selector},
    decode::options::OptionProblem,
};
use osfp_common::{counter, reason, rec_flag, tcp_flag::*, Malformed};
use osfp_tests::craft::TcpFrame;

fn v4() -> (IpAddr, IpAddr) {
    ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap())
}
fn v6() -> (IpAddr, IpAddr) {
    (
        "2001:db8::1".parse().unwrap(),
        "2001:db8::2".parse().unwrap(),
    )
}
fn syn4() -> TcpFrame {
    let (s, d) = v4();
    TcpFrame::syn(s, d, 40000, 80)
}

/// Runs one frame; returns the record (if any) and the selector for its counters.
fn run(frame: &[u8]) -> (Option<osfp_common::PacketRecord>, Selector) {
    let mut sel = Selector::new(SelectConfig::default());
    let r = sel.frame(Link::Ethernet, frame, 1_000);
    (r, sel)
}

fn assert_malformed(frame: &[u8], want: Malformed) {
    let (r, sel) = run(frame);
    assert!(r.is_none(), "{want:?}: no record expected");
    for m in Malformed::ALL {
        let n = sel.counters.malformed(m);
        assert_eq!(
            n,
            (m == want) as u64,
            "counter {} for case {want:?}",
            m.name()
        );
    }
}

#[test]
fn truncated_ethernet() {
    assert_malformed(&syn4().frame()[..10], Malformed::EthernetTruncated);
}

#[test]
fn truncated_vlan_and_too_many_tags() {
    let mut f = syn4();
    f.vlans = vec![(0x8100, 5)];
    assert_malformed(&f.frame()[..16], Malformed::VlanTruncated);
    f.vlans = vec![
        (0x88a8, 5),
        (0x8100, 6),
        (0x8100, 7),
        (0x8100, 8),
        (0x8100, 9),
    ];
    assert_malformed(&f.frame(), Malformed::VlanTooDeep);
}

#[test]
fn two_vlan_tags_parse() {
    let mut f = syn4();
    f.vlans = vec![(0x88a8, 100), (0x8100, 200)];
    let (r, _) = run(&f.frame());
    let r = r.expect("QinQ SYN selected");
    assert_eq!(r.reason, reason::SYN);
    assert_eq!(r.ttl, 64);
}

#[test]
fn truncated_ipv4_and_bad_ihl_and_total_length() {
    let full = syn4().frame();
    assert_malformed(&full[..14 + 12], Malformed::Ipv4Truncated);

    let mut f = full.clone();
    f[14] = 0x44; // IHL 4
    assert_malformed(&f, Malformed::Ipv4BadHeaderLength);

    let mut f = full.clone();
    f[14] = 0x4f; // IHL 15 = 60 bytes, frame holds 14 + 20 + 40
    assert_malformed(&f[..14 + 40], Malformed::Ipv4Truncated);

    let mut f = full.clone();
    f[16..18].copy_from_slice(&10u16.to_be_bytes());
    assert_malformed(&f, Malformed::Ipv4BadTotalLength);

    let mut f = full;
    f[14] = 0x55; // version 5 under EtherType IPv4
    assert_malformed(&f, Malformed::IpBadVersion);
}

#[test]
fn ipv4_options_are_measured() {
    let mut f = syn4();
    f.ip_options = vec![1, 1, 1, 0]; // NOP NOP NOP EOL
    let (r, _) = run(&f.frame());
    assert_eq!(r.unwrap().ip_opt_len, 4);
}

#[test]
fn truncated_ipv6() {
    let (s, d) = v6();
    let f = TcpFrame::syn(s, d, 1, 2).frame();
    assert_malformed(&f[..14 + 30], Malformed::Ipv6Truncated);
}

/// An IPv6 packet with `n` destination-options headers (8 bytes each) before TCP.
fn v6_with_ext(n: usize) -> Vec<u8> {
    let (s, d) = v6();
    let base = TcpFrame::syn(s, d, 1, 2).frame();
    let (head, tcp) = base.split_at(14 + 40);
    let mut f = head.to_vec();
    f[14 + 6] = if n > 0 { 60 } else { 6 };
    for i in 0..n {
        f.extend_from_slice(&[if i + 1 < n { 60 } else { 6 }, 0, 1, 4, 0, 0, 0, 0]);
    }
    f.extend_from_slice(tcp);
    let payload = (f.len() - 14 - 40) as u16;
    f[14 + 4..14 + 6].copy_from_slice(&payload.to_be_bytes());
    f
}

#[test]
fn ipv6_extension_chains() {
    let (r, _) = run(&v6_with_ext(3));
    let r = r.expect("3 extension headers walked");
    assert_eq!(r.ip_opt_len, 24);
    assert_eq!(r.family, 6);
    assert_eq!(r.options[..4], [2, 4, 5, 0xb4]);
    let limit = osfp_common::MAX_IPV6_EXT_HEADERS;
    assert!(
        run(&v6_with_ext(limit)).0.is_some(),
        "exactly the limit is fine"
    );
    assert_malformed(
        &v6_with_ext(limit + 1),
        Malformed::Ipv6ExtensionChainTooLong,
    );
    let f = v6_with_ext(2);
    assert_malformed(&f[..14 + 40 + 9], Malformed::Ipv6ExtensionTruncated);
}

#[test]
fn ipv6_fields() {
    let (s, d) = v6();
    let mut f = TcpFrame::syn(s, d, 1, 2);
    f.flow_label = 0xabcde;
    f.tos = 0xb8;
    f.ttl = 57;
    let r = run(&f.frame()).0.unwrap();
    assert_eq!((r.flow_label, r.tos, r.ttl), (0xabcde, 0xb8, 57));
    assert_eq!(r.src[..2], [0x20, 0x01]);
}

#[test]
fn truncated_tcp_and_bad_data_offset() {
    let full = syn4().frame();
    assert_malformed(&full[..14 + 20 + 12], Malformed::TcpTruncated);
    let mut f = syn4();
    f.doff_override = Some(4);
    assert_malformed(&f.frame(), Malformed::TcpBadDataOffset);
}

#[test]
fn data_offset_past_the_packet_is_counted_and_flagged() {
    let mut f = syn4();
    f.doff_override = Some(15); // claims 40 option bytes, carries 20
    let (r, sel) = run(&f.frame());
    assert_eq!(sel.counters.malformed(Malformed::TcpOptionsTruncated), 1);
    let r = r.expect("a SYN with cut options is still reported");
    assert_eq!(r.opt_len, 20);
    assert_ne!(r.rec_flags & rec_flag::OPTIONS_TRUNCATED, 0);
    let mut p = osfp_tests::pipeline();
    let ev = p.process(&r);
    assert_eq!(ev.options.malformed, Some(OptionProblem::Truncated));
    assert_eq!(p.option_problem(OptionProblem::Truncated), 1);
}

/// Option-level problems are found by the userspace decoder and counted there.
#[test]
fn malformed_options_counted_by_reason() {
    let cases: [(&[u8], OptionProblem); 6] = [
        (&[2, 0, 5, 0xb4], OptionProblem::LengthTooShort),
        (&[2, 1, 5, 0xb4], OptionProblem::LengthTooShort),
        (&[1, 1, 8, 10, 0, 0, 0, 1], OptionProblem::RunsPastHeader),
        (&[1; 40], OptionProblem::TooManyOptions),
        (&[2, 4, 5, 0xb4, 0, 0, 9, 0], OptionProblem::DataAfterEol),
        (&[2, 3, 5, 0], OptionProblem::WrongLength),
    ];
    for (opts, want) in cases {
        let mut f = syn4();
        f.options = opts.to_vec();
        let (r, _) = run(&f.frame());
        let mut p = osfp_tests::pipeline();
        p.process(&r.expect("SYN selected"));
        for o in OptionProblem::iter() {
            assert_eq!(
                p.option_problem(o),
                (o == want) as u64,
                "{} for {want:?}",
                o.name()
            );
        }
    }
}

#[test]
fn scan_like_combinations_are_selected() {
    let cases: [(u16, u16); 9] = [
        (0, 0),               // NULL
        (FIN, 0),             // FIN
        (FIN | PSH | URG, 0), // Xmas
        (FIN | PSH | URG | ACK, 0),
        (SYN | FIN, 0),
        (SYN | RST, 0),
        (ACK | 0x800, 0), // reserved bit
        (ACK, 0xF7F5),    // urgent pointer without URG
        (ECE | CWR, 0),   // none of FIN/SYN/RST/PSH/ACK/URG
    ];
    for (flags, urg) in cases {
        let mut f = syn4();
        f.flags = flags;
        f.urg_ptr = urg;
        f.options.clear();
        let r = run(&f.frame())
            .0
            .unwrap_or_else(|| panic!("flags {flags:#x} urg {urg}"));
        assert_ne!(r.reason & reason::SCAN_PROBE, 0, "flags {flags:#x}");
        assert_eq!(r.tcp_flags, flags);
        assert_eq!(r.urg_ptr, urg);
    }
}

#[test]
fn ordinary_packets_are_not_selected() {
    for flags in [ACK, ACK | PSH, ACK | FIN, RST, RST | ACK, ACK | URG] {
        let mut f = syn4();
        f.flags = flags;
        f.urg_ptr = if flags & URG != 0 { 5 } else { 0 };
        let (r, sel) = run(&f.frame());
        assert!(r.is_none(), "flags {flags:#x} selected");
        assert_eq!(sel.counters.get(counter::TCP), 1);
    }
}

#[test]
fn synack_and_syn_reasons() {
    let mut f = syn4();
    f.flags = SYN | ACK;
    assert_eq!(run(&f.frame()).0.unwrap().reason, reason::SYNACK);
    f.flags = SYN | ECE | CWR;
    assert_eq!(run(&f.frame()).0.unwrap().reason, reason::SYN);
}

#[test]
fn timestamp_samples_are_rate_limited_per_flow() {
    let cfg = SelectConfig {
        ts_sample_interval_ns: 1_000,
        ts_sample_max_per_flow: 3,
        ..SelectConfig::default()
    };
    let mut sel = Selector::new(cfg);
    let (s, d) = v4();
    let mut ack = TcpFrame::syn(s, d, 40000, 80);
    ack.flags = ACK;
    ack.options = vec![1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 1];
    // Before the SYN: the flow is unknown, nothing sampled.
    assert!(sel.frame(Link::Ethernet, &ack.frame(), 0).is_none());
    assert!(sel.frame(Link::Ethernet, &syn4().frame(), 100).is_some());
    // The first ACK completes the handshake (too soon after the SYN to be a sample).
    let first = sel.frame(Link::Ethernet, &ack.frame(), 110).unwrap();
    assert_eq!(first.reason, reason::HANDSHAKE_ACK);
    let mut taken = Vec::new();
    for t in (200..10_000).step_by(300) {
        if let Some(r) = sel.frame(Link::Ethernet, &ack.frame(), t) {
            assert_eq!(r.reason, reason::TS_SAMPLE);
            taken.push(t);
        }
    }
    assert_eq!(
        taken,
        vec![1_100, 2_300, 3_500],
        "one per 1000 ns, at most 3"
    );
    // The reverse direction was never opened by a SYN-ACK: not sampled.
    let mut rev = ack.clone();
    std::mem::swap(&mut rev.src, &mut rev.dst);
    std::mem::swap(&mut rev.sport, &mut rev.dport);
    assert!(sel.frame(Link::Ethernet, &rev.frame(), 50_000).is_none());
    // Options without a leading timestamp are not sampled.
    let mut sack = ack.clone();
    sack.sport = 1;
    sack.options = vec![1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2];
    assert!(sel.frame(Link::Ethernet, &sack.frame(), 60_000).is_none());
}

#[test]
fn non_first_fragments_are_passed_over() {
    let mut f = syn4().frame();
    f[14 + 6..14 + 8].copy_from_slice(&0x0010u16.to_be_bytes());
    let (r, sel) = run(&f);
    assert!(r.is_none());
    assert_eq!(sel.counters.get(counter::FRAGMENT_SKIPPED), 1);
    assert!(Malformed::ALL
        .iter()
        .all(|m| sel.counters.malformed(*m) == 0));
}

#[test]
fn other_link_types() {
    let ip = syn4().ip_packet();
    let mut sel = Selector::new(SelectConfig::default());
    assert!(sel.frame(Link::RawIp, &ip, 1).is_some());
    let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&ip);
    assert!(sel.frame(Link::LinuxSll, &sll, 1).is_some());
    let mut sll2 = vec![
        0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0,
    ];
    sll2.extend_from_slice(&ip);
    assert!(sel.frame(Link::LinuxSll2, &sll2, 1).is_some());
    let mut null = 2u32.to_le_bytes().to_vec();
    null.extend_from_slice(&ip);
    assert!(sel.frame(Link::Null, &null, 1).is_some());
}

/// The ACK completing a tracked SYN's handshake: the first pure ACK of the SYN's flow,
/// in its direction, once per SYN; not data, not RST/FIN, not the other direction, not
/// a flow whose SYN was never seen.
#[test]
fn handshake_ack_once_per_tracked_syn() {
    let mut sel = Selector::new(SelectConfig::default());
    let (s, d) = v4();
    let syn = TcpFrame::syn(s, d, 40000, 80);
    let mut ack = syn.clone();
    ack.flags = ACK;
    ack.options.clear();
    let sel_at = |sel: &mut Selector, f: &TcpFrame, t: u64| {
        sel.frame(Link::Ethernet, &f.frame(), t).map(|r| r.reason)
    };
    // No SYN seen: nothing.
    assert_eq!(sel_at(&mut sel, &ack, 1), None);
    assert_eq!(sel_at(&mut sel, &syn, 2), Some(reason::SYN));
    // The reverse direction, data, RST+ACK and FIN+ACK do not complete it.
    let mut rev = ack.clone();
    std::mem::swap(&mut rev.src, &mut rev.dst);
    std::mem::swap(&mut rev.sport, &mut rev.dport);
    assert_eq!(sel_at(&mut sel, &rev, 3), None);
    let mut data = ack.clone();
    data.flags = ACK | PSH;
    data.payload = b"GET /".to_vec();
    assert_eq!(sel_at(&mut sel, &data, 4), None);
    for flags in [RST | ACK, FIN | ACK] {
        let mut f = ack.clone();
        f.flags = flags;
        assert_eq!(sel_at(&mut sel, &f, 5), None, "{flags:#x}");
    }
    // The pure ACK does, once; a duplicate ACK does not.
    assert_eq!(sel_at(&mut sel, &ack, 6), Some(reason::HANDSHAKE_ACK));
    assert_eq!(sel_at(&mut sel, &ack, 7), None);
    // A retransmitted SYN arms it again.
    assert_eq!(sel_at(&mut sel, &syn, 8), Some(reason::SYN));
    assert_eq!(sel_at(&mut sel, &ack, 9), Some(reason::HANDSHAKE_ACK));
    // A SYN-ACK's flow (the server's direction) is not armed: the server's ACKs never
    // report a completion.
    let mut synack = rev.clone();
    synack.flags = SYN | ACK;
    assert_eq!(sel_at(&mut sel, &synack, 10), Some(reason::SYNACK));
    assert_eq!(sel_at(&mut sel, &rev, 11), None);
    assert_eq!(
        sel.counters
            .get(counter::SELECTED_BASE + reason::HANDSHAKE_ACK.trailing_zeros()),
        2
    );
}
