//! Unit tests on crafted records: every quirk, every window notation, the matching
//! order, and database errors with their locations.

use std::sync::Arc;

use osfp_common::{ip_flag, reason, tcp_flag, PacketRecord};

use super::*;
use crate::decode::Event;

/// A plain IPv4 SYN with no quirks: no DF, IP ID 1, seq 1, ack 0, TTL 64.
fn rec() -> PacketRecord {
    let mut r = PacketRecord::zeroed();
    r.family = 4;
    r.reason = reason::SYN;
    r.ttl = 64;
    r.src[..4].copy_from_slice(&[10, 0, 0, 1]);
    r.dst[..4].copy_from_slice(&[10, 0, 0, 2]);
    r.ip_len = 40;
    r.ip_id = 1;
    r.sport = 40000;
    r.dport = 80;
    r.seq = 1;
    r.tcp_flags = tcp_flag::SYN;
    r.window = 8192;
    r.doff = 5;
    r
}

fn with_opts(mut r: PacketRecord, opts: &[u8]) -> PacketRecord {
    r.options[..opts.len()].copy_from_slice(opts);
    r.opt_len = opts.len() as u8;
    r.doff = 5 + opts.len().div_ceil(4) as u8;
    r
}

fn sig_of(r: PacketRecord) -> Signature {
    Signature::from_event(&Event::decode(&r), 0).expect("a SYN or SYN-ACK")
}

fn quirks(r: PacketRecord) -> String {
    sig_of(r).quirks.to_string()
}

fn synack(mut r: PacketRecord) -> PacketRecord {
    r.tcp_flags = tcp_flag::SYN | tcp_flag::ACK;
    r.reason = reason::SYNACK;
    r.ack = 2;
    r
}

fn v6(mut r: PacketRecord) -> PacketRecord {
    r.family = 6;
    r.src = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    r.dst = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    r.ip_len = 60;
    r
}

const TS_ZERO_ECR: [u8; 10] = [8, 10, 0, 0, 0, 5, 0, 0, 0, 0];

#[test]
fn baseline_has_no_quirks() {
    assert_eq!(quirks(rec()), "");
}

#[test]
fn ip_quirks() {
    let mut r = rec();
    r.ip_flags = ip_flag::DF;
    r.ip_id = 0;
    assert_eq!(quirks(r), "df");
    r.ip_id = 7;
    assert_eq!(quirks(r), "df,id+");
    let mut r = rec();
    r.ip_id = 0;
    assert_eq!(quirks(r), "id-");
    let mut r = rec();
    r.tos = 0x01; // ECN CE
    assert_eq!(quirks(r), "ecn");
    r.tos = 0x02; // ECT(0)
    assert_eq!(quirks(r), "ecn");
    r.tos = 0xb8; // DSCP only
    assert_eq!(quirks(r), "");
    let mut r = rec();
    r.ip_flags = ip_flag::RESERVED;
    assert_eq!(quirks(r), "0+");
}

#[test]
fn tcp_ecn_flags_are_ecn() {
    for f in [tcp_flag::ECE, tcp_flag::CWR, tcp_flag::AE] {
        let mut r = rec();
        r.tcp_flags |= f;
        assert_eq!(quirks(r), "ecn", "flag {f:#x}");
    }
    // The reserved TCP bits are not p0f's `0+` (that one is IPv4's).
    let mut r = rec();
    r.tcp_flags |= tcp_flag::RESERVED;
    assert_eq!(quirks(r), "");
}

#[test]
fn ipv6_quirks_and_ipv4_only_ones_ignored() {
    let mut r = v6(rec());
    r.ip_id = 0; // would be id- on IPv4
    r.ip_flags = ip_flag::RESERVED; // would be 0+ on IPv4
    assert_eq!(quirks(r), "");
    r.flow_label = 0x12345;
    assert_eq!(quirks(r), "flow");
    r.tos = 0x02; // traffic class ECT
    assert_eq!(quirks(r), "ecn,flow");
    assert_eq!(sig_of(r).ip_opt_len, 0);
    // flow is ignored for IPv4.
    let mut r = rec();
    r.flow_label = 5;
    assert_eq!(quirks(r), "");
}

#[test]
fn seq_ack_urg_push_quirks() {
    let mut r = rec();
    r.seq = 0;
    assert_eq!(quirks(r), "seq-");
    // p0f 3.09b tests `RD32(ack) & !(flags & RST)`: only bit 0 of the first wire
    // byte of the ack field counts (little-endian host). Reproduced on purpose.
    let mut r = rec();
    r.ack = 0x0100_0000;
    assert_eq!(quirks(r), "ack+");
    r.ack = 0x0000_0001;
    assert_eq!(quirks(r), "");
    let mut r = synack(rec());
    r.ack = 0;
    assert_eq!(quirks(r), "ack-");
    let mut r = rec();
    r.urg_ptr = 5;
    assert_eq!(quirks(r), "uptr+");
    r.tcp_flags |= tcp_flag::URG;
    assert_eq!(quirks(r), "urgf+");
    let mut r = rec();
    r.tcp_flags |= tcp_flag::PSH;
    assert_eq!(quirks(r), "pushf+");
}

#[test]
fn timestamp_quirks() {
    let ts1_zero = [8, 10, 0, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(quirks(with_opts(rec(), &ts1_zero)), "ts1-");
    let ts2 = [8, 10, 0, 0, 0, 5, 0, 0, 0, 9];
    assert_eq!(quirks(with_opts(rec(), &ts2)), "ts2+");
    // A non-zero TSecr is normal on a SYN-ACK.
    assert_eq!(quirks(synack(with_opts(rec(), &ts2))), "");
    assert_eq!(quirks(with_opts(rec(), &TS_ZERO_ECR)), "");
}

#[test]
fn option_quirks() {
    // Data after EOL: opt+, except when the only non-zero byte is the last one
    // (p0f's scan steps past it).
    let s = sig_of(with_opts(rec(), &[2, 4, 5, 0xb4, 0, 7, 0, 0]));
    assert_eq!((s.quirks.to_string(), s.eol_pad), ("opt+".into(), 3));
    assert_eq!(quirks(with_opts(rec(), &[2, 4, 5, 0xb4, 0, 0, 0, 7])), "");
    assert_eq!(quirks(with_opts(rec(), &[3, 3, 15, 0])), "exws");
    assert_eq!(quirks(with_opts(rec(), &[3, 3, 14, 0])), "");
    // MSS with a wrong length byte: bad, still read in place.
    let s = sig_of(with_opts(rec(), &[2, 5, 5, 0xb4]));
    assert_eq!((s.quirks.to_string(), s.mss), ("bad".into(), 1460));
    // Timestamp running past the header.
    assert_eq!(quirks(with_opts(rec(), &[1, 1, 8, 10, 0, 0, 0, 1])), "bad");
    // Unknown option with an impossible length.
    assert_eq!(quirks(with_opts(rec(), &[30, 1, 0, 0])), "bad");
}

#[test]
fn quirk_print_order_is_p0fs() {
    let mut r = with_opts(rec(), &[8, 10, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 15, 0]);
    r.ip_flags = ip_flag::DF | ip_flag::RESERVED;
    r.tos = 1;
    r.seq = 0;
    r.ack = 0x0100_0000;
    r.urg_ptr = 1;
    r.tcp_flags |= tcp_flag::PSH;
    assert_eq!(
        quirks(r),
        "df,id+,ecn,0+,seq-,ack+,uptr+,pushf+,ts1-,ts2+,exws"
    );
}

#[test]
fn p0f_text_and_nmap_strings() {
    // Linux SYN: MSS 1460, SACK_PERM, TS, NOP, WS 7; window 64240 = 44 * 1460.
    let mut r = with_opts(
        rec(),
        &[
            2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ],
    );
    r.ip_flags = ip_flag::DF;
    r.ip_id = 0x1234;
    r.ttl = 57;
    r.window = 64240;
    let s = sig_of(r);
    assert_eq!(
        s.p0f().to_string(),
        "4:57+7:0:1460:mss*44,7:mss,sok,ts,nop,ws:df,id+:0"
    );
    assert_eq!(nmap_options(&Event::decode(&r).options), "M5B4ST10NW7");
    assert_eq!((initial_ttl(57), s.guess_dist()), (64, 7));
    // A distance over 35 prints as `+?`.
    r.ttl = 80;
    assert!(sig_of(r).p0f().to_string().starts_with("4:80+?:0:"));
}

fn db(text: &str) -> Arc<Database> {
    Arc::new(Database::parse(text, "t.fp").unwrap_or_else(|e| panic!("{e}")))
}

const WINDOWS_DB: &str = "\
classes = win,unix,other
[mtu]
label = Ethernet
sig = 1500
[tcp:request]
label = s:unix:Value:
sig = *:64:0:1001:5000,0:mss::0
label = s:unix:MssN:
sig = *:64:0:1002:mss*10,0:mss::0
label = s:unix:MtuN:
sig = *:64:0:1003:mtu*4,0:mss::0
label = s:unix:Mod:
sig = *:64:0:1004:%1000,0:mss::0
label = s:unix:Any:
sig = *:64:0:1005:*,0:mss::0
[tcp:response]
label = s:unix:PeerMss:
sig = *:64:0:1380:mss*5,0:mss::0
";

fn mss_win(mss: u16, win: u16) -> PacketRecord {
    let m = mss.to_be_bytes();
    let mut r = with_opts(rec(), &[2, 4, m[0], m[1]]);
    r.window = win;
    r
}

fn label_of(db: &Database, r: PacketRecord) -> Option<String> {
    db.classify(&sig_of(r), false).label.map(|l| l.name.clone())
}

#[test]
fn window_notations() {
    let d = db(WINDOWS_DB);
    let cases: [(u16, u16, Option<&str>); 10] = [
        (1001, 5000, Some("Value")),
        (1001, 5001, None),
        (1002, 10020, Some("MssN")),
        (1002, 10021, None),
        (1003, 4172, Some("MtuN")), // (1003 + 40) * 4
        (1003, 4012, None),         // 1003 * 4: an MSS multiple, not an MTU one
        (1004, 3000, Some("Mod")),
        (1004, 3001, None),
        (1005, 1, Some("Any")),
        (1005, 65535, Some("Any")),
    ];
    for (mss, win, want) in cases {
        assert_eq!(
            label_of(&d, mss_win(mss, win)).as_deref(),
            want,
            "mss {mss} win {win}"
        );
    }
}

#[test]
fn synack_window_from_peer_syn_mss() {
    let d = db(WINDOWS_DB);
    let mut fp = Fingerprinter::new(d.clone());
    let syn = mss_win(1000, 1000);
    let mut sa = synack(mss_win(1380, 5000));
    sa.src = syn.dst;
    sa.dst = syn.src;
    sa.sport = syn.dport;
    sa.dport = syn.sport;
    // Without the SYN, 5000 is no multiple of anything p0f tries.
    let alone = fp.signature(&Event::decode(&sa)).unwrap();
    assert_eq!(alone.p0f().to_string(), "4:64+0:0:1380:5000,0:mss::0");
    assert!(fp.classify(&alone).label.is_none());
    fp.signature(&Event::decode(&syn)).unwrap();
    let s = fp.signature(&Event::decode(&sa)).unwrap();
    assert_eq!(s.p0f().to_string(), "4:64+0:0:1380:mss*5,0:mss::0");
    assert_eq!(fp.classify(&s).label.unwrap().name, "PeerMss");
    assert_eq!(
        link_guess(&d, &sig_of(mss_win(1460, 1))),
        Some((1500, Some("Ethernet")))
    );
}

const ORDER_DB: &str = "\
classes = win,unix,other
[tcp:request]
label = g:unix:Generic:
sig = *:64:0:*:*,0:mss:df:0
label = s:unix:Specific:
sig = *:64:0:1460:*,0:mss:df:0
label = s:!:Tool:scan
sys = @unix
sig = *:64-:0:1200:*,0:mss,nop::0
";

#[test]
fn match_order_fuzzy_and_tools() {
    let d = db(ORDER_DB);
    let mut r = mss_win(1460, 100);
    r.ip_flags = ip_flag::DF;
    r.ip_id = 0;
    // The specific signature wins over the earlier generic one.
    let v = d.classify(&sig_of(r), false);
    assert_eq!(
        (v.label.unwrap().name.as_str(), v.kind, v.score),
        ("Specific", MatchKind::Exact, 1.0)
    );
    // Only the generic one fits MSS 1400.
    let mut r2 = mss_win(1400, 100);
    r2.ip_flags = ip_flag::DF;
    r2.ip_id = 0;
    let v = d.classify(&sig_of(r2), false);
    assert_eq!(
        (v.label.unwrap().name.as_str(), v.kind),
        ("Generic", MatchKind::Generic)
    );
    // df missing: fuzzy (p0f tolerates df/id+ gone, id-/ecn new).
    let v = d.classify(&sig_of(mss_win(1460, 100)), false);
    assert_eq!(v.kind, MatchKind::Fuzzy);
    // TTL 20 is 44 hops below 64: beyond 35, fuzzy, distance guessed.
    r.ttl = 20;
    let v = d.classify(&sig_of(r), false);
    assert_eq!((v.kind, v.dist), (MatchKind::Fuzzy, 12));
    // A quirk p0f never tolerates (seq-) gives unknown, with candidates.
    let mut r3 = r;
    r3.ttl = 64;
    r3.seq = 0;
    let v = d.classify(&sig_of(r3), true);
    assert_eq!(v.kind, MatchKind::Unknown);
    let c = v.candidates[0].expect("a nearest candidate");
    assert!(c.score > 0.0 && c.score < 1.0);
    assert!(v.candidates.windows(2).all(|w| match (w[0], w[1]) {
        (Some(a), Some(b)) => a.score >= b.score,
        _ => true,
    }));
    // Found later (as output does) they are the same; a match gets none.
    let lazy = d.classify(&sig_of(r3), false);
    assert!(lazy.candidates.iter().all(Option::is_none));
    assert_eq!(lazy.with_candidates(&d, &sig_of(r3)), v);
    let exact = d.classify(&sig_of(r), false);
    assert_eq!(exact.with_candidates(&d, &sig_of(r)), exact);
    // The tool, with its random TTL (`64-`): any TTL up to 64, reported as a tool.
    let mut t = with_opts(rec(), &[2, 4, 0x04, 0xb0, 1]);
    t.window = 1024;
    t.ttl = 39;
    let v = d.classify(&sig_of(t), false);
    assert_eq!(
        (
            v.label.unwrap().name.as_str(),
            v.is_tool,
            v.kind,
            v.family()
        ),
        ("Tool", true, MatchKind::Exact, Family::Tool)
    );
    // ... but never fuzzy-matched: with ECN it would only be fuzzy, so unknown.
    t.tos = 1;
    assert_eq!(d.classify(&sig_of(t), false).kind, MatchKind::Unknown);
}

fn errors(text: &str) -> Vec<String> {
    match Database::parse(text, "x.fp") {
        Ok(_) => Vec::new(),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn db_errors_with_locations() {
    let text = "\
classes = win,unix,other
[tcp:request]
sig = *:64:0:*:*,0:mss::0
label = s:unix:Linux:a
sig   = *:64:0:*:*,0:mss:df,wat:0
sig   = *:64:0:70000:*,0:mss::0
sig   = *:300:0:*:*,0:mss::0
sig   = *:64:0:*:*,0:mss::0:extra
sig   = 5:64:0:*:*,0:mss::0
label = s:unix:Linux:a
label = s:martian:Linux:b
[tcp:response]
label = s:unix:Linux:a
this is not a statement
";
    assert_eq!(
        errors(text),
        vec![
            "x.fp:3:7: sig before any label: *:64:0:*:*,0:mss::0",
            "x.fp:5:29: unknown quirk: wat",
            "x.fp:6:16: MSS out of range (max 65535): 70000",
            "x.fp:7:11: initial TTL out of range (max 255): 300",
            "x.fp:8:9: signature has 9 fields, want 8 (ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass): *:64:0:*:*,0:mss::0:extra",
            "x.fp:9:9: IP version must be 4, 6 or *: 5",
            "x.fp:10:9: duplicate label (first at line 4): s:unix:Linux:a",
            "x.fp:11:11: unknown class: martian",
            "x.fp:14:1: expected 'name = value': this is not a statement",
        ]
    );
}

#[test]
fn db_value_rules() {
    let head = "classes = win,unix\n[tcp:request]\nlabel = s:unix:X:\n";
    let one = |sig: &str| errors(&format!("{head}sig = {sig}\n"));
    assert!(one("*:64:0:*:mss*0,0:mss::0")[0].contains("window multiplier must be 1..1000"));
    assert!(one("*:64:0:*:%1,0:mss::0")[0].contains("window modulus must be 2..65535"));
    assert!(one("*:64:0:*:*,0:mss,eol+1,nop::0")[0].contains("eol must be the last option"));
    assert!(one("*:64:0:*:*,0:mss,bogus::0")[0].contains("unknown TCP option: bogus"));
    assert!(one("6:64:0:*:*,0:mss:df:0")[0].contains("quirk not valid for IPv6: df"));
    assert!(one("4:64:0:*:*,0:mss:flow:0")[0].contains("quirk not valid for IPv4: flow"));
    assert!(one("*:250+10:0:*:*,0:mss::0")[0].contains("exceeds 255"));
    // A window scale above 14 is a legal value in a signature (p0f allows 0..255).
    assert!(one("*:64:0:*:*,15:mss:exws:0").is_empty());
    assert!(one("*:64:0:*:*,256:mss::0")[0].contains("window scale out of range"));
    // A signature an earlier specific one already matches is a duplicate (p0f's rule).
    let e = errors(&format!(
        "{head}sig = *:64:0:*:*,0:mss::0\nsig = *:64:0:1460:100,0:mss::0\n"
    ));
    assert_eq!(
        e,
        vec!["x.fp:5:7: signature already covered by line 4: *:64:0:1460:100,0:mss::0"]
    );
    // A tool label needs its sys line before signatures.
    let e = errors("classes = unix\n[tcp:request]\nlabel = s:!:T:\nsig = *:64:0:*:*,0:mss::0\n");
    assert_eq!(
        e,
        vec!["x.fp:4:7: sig before 'sys' of a '!' label: *:64:0:*:*,0:mss::0"]
    );
    // MTU values.
    let e = errors("[mtu]\nlabel = X\nsig = 0\nsig = 70000\nsig = 1500\n");
    assert_eq!(e.len(), 2);
    assert!(e[0].starts_with("x.fp:3:7: MTU must be 1..65535"));
}

#[test]
fn builtin_database_parses() {
    default_database().unwrap_or_else(|e| panic!("{e}"));
}
