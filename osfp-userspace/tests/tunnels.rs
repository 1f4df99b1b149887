//! Every tunnel and encapsulation the header walker opens, on crafted frames
//! (`osfp_tests::craft::tunnels`): the record of the inner SYN equals the record of the
//! same SYN sent plain, and a frame cut short anywhere before the inner TCP header is
//! counted once, under the reason of the header it was cut in.

use osfp::capture::frame::{Link, SelectConfig, Selector};
use osfp_common::{counter, reason, Malformed, PacketRecord};
use osfp_tests::craft::tunnels::{self, TunnelCase};

/// One frame through a fresh selector: its record and the malformed reasons counted.
fn run(frame: &[u8]) -> (Option<PacketRecord>, Vec<Malformed>, Selector) {
    let mut sel = Selector::new(SelectConfig::default());
    let r = sel.frame(Link::Ethernet, frame, 7_000_000_123);
    let counted = Malformed::ALL
        .iter()
        .flat_map(|&m| std::iter::repeat_n(m, sel.counters.malformed(m) as usize))
        .collect();
    (r, counted, sel)
}

#[test]
fn the_inner_syn_gives_the_plain_syns_record() {
    let cases = tunnels::cases();
    assert!(cases.len() >= 38, "{} cases", cases.len());
    for TunnelCase {
        name, frame, plain, ..
    } in &cases
    {
        let (want, none, _) = run(plain);
        let want = want.expect("the plain SYN is selected");
        assert!(none.is_empty());
        let (got, counted, sel) = run(frame);
        assert!(counted.is_empty(), "{name}: counted {counted:?}");
        assert_eq!(sel.counters.get(counter::TCP), 1, "{name}");
        let got = got.unwrap_or_else(|| panic!("{name}: no record"));
        assert_eq!(got.reason, reason::SYN, "{name}");
        // The record describes the inner IP header and TCP segment only, so nothing
        // about the tunnel shows in it: byte for byte the plain frame's.
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn a_cut_tunnel_header_is_counted_under_its_reason() {
    for TunnelCase {
        name, frame, cuts, ..
    } in tunnels::cases()
    {
        assert!(!cuts.is_empty(), "{name}: no cut");
        // Each case cuts its tunnel's own header at least once.
        assert!(
            cuts.iter()
                .any(|(_, m)| matches!(m, Malformed::TunnelTruncated | Malformed::VlanTruncated))
                || name.starts_with("ipip"),
            "{name}: no cut in the tunnel header"
        );
        for (len, want) in cuts {
            assert!(len < frame.len(), "{name}: cut at {len}");
            let (r, counted, _) = run(&frame[..len]);
            assert!(r.is_none(), "{name} cut at {len}: a record");
            assert_eq!(counted, vec![want], "{name} cut at {len}");
        }
    }
}

/// Every length short of a complete inner TCP header: no record, one malformed count,
/// no panic. From there on the SYN is reported, its options flagged as cut.
#[test]
fn every_cut_is_counted_once() {
    for TunnelCase { name, frame, .. } in tunnels::cases() {
        // The SYN has 20 option bytes and no payload: its TCP header is the last 40.
        let tcp = frame.len() - 40;
        for len in 0..frame.len() {
            let (r, counted, _) = run(&frame[..len]);
            if len < tcp + 20 {
                assert!(r.is_none(), "{name} cut at {len}: a record");
                assert_eq!(counted.len(), 1, "{name} cut at {len}: {counted:?}");
                if len >= tcp {
                    assert_eq!(counted, vec![Malformed::TcpTruncated], "{name} at {len}");
                }
            } else {
                let r = r.unwrap_or_else(|| panic!("{name} cut at {len}: no record"));
                assert_eq!(counted, vec![Malformed::TcpOptionsTruncated], "{name}");
                assert_eq!(r.opt_len as usize, len - tcp - 20, "{name} at {len}");
            }
        }
    }
}
