//! The FreeBSD 13.x-14.x and OpenBSD 7.x entries of the built-in database match the SYN
//! each stack sends by default. The packets below are DERIVED FROM SOURCE CODE, not
//! from a capture (we have no BSD machine): option bytes in the order and padding of
//! FreeBSD's `tcp_addoptions()` (sys/netinet/tcp_output.c) and OpenBSD's
//! `tcp_output()`, windows and scales from their buffer defaults, IP ID / DF from
//! FreeBSD's `ip_fillid()` (RFC 6864 mode) and OpenBSD's `ip_randomid()`; the
//! derivation is in `db/osfp.fp` and `db/EVIDENCE.md`. Each frame goes through the
//! pcap path's frame decoder (`Selector`) and `Pipeline::with_database(default db)`.

use std::{net::IpAddr, sync::Arc};

use osfp::{
    analysis::fingerprint::{self, Family, MatchKind},
    capture::frame::{Link, SelectConfig, Selector},
    pipeline::Pipeline,
};
use osfp_tests::craft::TcpFrame;

const MSS_1460: [u8; 4] = [2, 4, 0x05, 0xb4];
const TS: [u8; 10] = [8, 10, 0x00, 0x12, 0x34, 0x56, 0, 0, 0, 0];

/// Label name, flavor and match kind of `f` through the pcap path.
fn classify(f: &TcpFrame) -> (Family, String, MatchKind) {
    let mut sel = Selector::new(SelectConfig::default());
    let db = Arc::new(fingerprint::default_database().expect("built-in database"));
    let mut pipe = Pipeline::with_database(db, 16);
    let rec = sel
        .frame(Link::Ethernet, &f.frame(), 1_700_000_000_000_000_000)
        .expect("SYN selected");
    let ev = pipe.process(&rec);
    let (_, v) = pipe
        .observe(&ev, &mut Vec::new())
        .expect("a SYN is fingerprinted");
    let name = v
        .label
        .map(|l| l.display_name())
        .unwrap_or_else(|| "???".into());
    (v.family(), name, v.kind)
}

fn syn(window: u16, options: Vec<u8>, ip_id: u16) -> TcpFrame {
    let src: IpAddr = "198.51.100.7".parse().unwrap();
    let dst: IpAddr = "203.0.113.9".parse().unwrap();
    let mut f = TcpFrame::syn(src, dst, 51515, 443);
    f.window = window;
    f.options = options;
    f.ip_id = ip_id;
    f.df = true;
    f.ttl = 64;
    f
}

#[test]
fn freebsd_13_14_default_syn() {
    // mss, nop, ws 6, sok, ts: 4 + 1 + 3 + 2 + 10 = 20 bytes, no EOL padding.
    let mut o = MSS_1460.to_vec();
    o.extend_from_slice(&[1, 3, 3, 6, 4, 2]);
    o.extend_from_slice(&TS);
    assert_eq!(o.len(), 20);
    // Window 65535 (recvspace 65536 capped), DF, IP ID 0 (ip_fillid, rfc6864=1).
    let (fam, name, kind) = classify(&syn(65535, o.clone(), 0));
    assert_eq!(fam, Family::Bsd, "{name}");
    assert_eq!(kind, MatchKind::Exact, "{name}");
    assert!(
        name.contains("FreeBSD") && name.contains("13.x-14.x"),
        "{name}"
    );

    // With net.inet.ip.rfc6864=0 the ID is a counter: p0f's old FreeBSD entry, not ours.
    let (fam, name, _) = classify(&syn(65535, o, 0x3a41));
    assert_eq!(fam, Family::Bsd, "{name}");
    assert!(!name.contains("13.x-14.x"), "{name}");
}

#[test]
fn openbsd_7_default_syn() {
    // mss, nop,nop,sok, nop,ws 6, nop,nop,ts: 4 + 4 + 4 + 12 = 24 bytes.
    let mut o = MSS_1460.to_vec();
    o.extend_from_slice(&[1, 1, 4, 2, 1, 3, 3, 6, 1, 1]);
    o.extend_from_slice(&TS);
    assert_eq!(o.len(), 24);
    // Window tcp_recvspace 16384, DF, random IP ID.
    let (fam, name, kind) = classify(&syn(16384, o.clone(), 0xb7e2));
    assert_eq!(fam, Family::Bsd, "{name}");
    assert_eq!(kind, MatchKind::Exact, "{name}");
    assert!(name.contains("OpenBSD") && name.contains("7.x"), "{name}");

    // Scale 3 (the old 256 KB SB_MAX) is still p0f's 4.x-5.x entry.
    o[11] = 3;
    let (_, name, _) = classify(&syn(16384, o, 0xb7e2));
    assert!(name.contains("4.x-5.x"), "{name}");
}
