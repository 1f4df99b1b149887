//! The middlebox undo, one test per documented rewrite: a real stack's SYN (our lab
//! captures of Linux 6.18 in eval/data/lab; Windows 10 and macOS SYNs of the corpus),
//! rewritten with the library's rewrite module (the same code that makes the
//! classifier's augmented training data), must be matched to the stack underneath with
//! that rewrite named in `middlebox` and a score below a clean exact match; the clean SYN
//! keeps its verdict, with nothing undone.

use std::{net::IpAddr, path::Path, sync::Arc};

use osfp::{
    analysis::fingerprint::{
        self, rewrite::Edit, Database, Fingerprinter, MatchKind, Rewrite, Rewrites, Signature,
    },
    capture::{
        file as capture_file,
        frame::{SelectConfig, Selector},
    },
    decode::Event,
};
use osfp_common::{tcp_flag, PacketRecord};

fn lab(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../eval/data/lab/6.18.44-fc-v1045")
        .join(name)
}

/// The first client SYN of `src` (any source if None) in a capture.
fn first_syn(path: &Path, src: Option<IpAddr>) -> PacketRecord {
    let mut sel = Selector::new(SelectConfig::default());
    let mut out = None;
    capture_file::for_each_frame(path, |link, frame, ts| {
        if out.is_some() {
            return;
        }
        if let Some(r) = sel.frame(link, frame, ts) {
            let ev = Event::decode(&r);
            if r.tcp_flags & (tcp_flag::SYN | tcp_flag::ACK) == tcp_flag::SYN
                && src.is_none_or(|s| s == ev.src)
            {
                out = Some(r);
            }
        }
    })
    .unwrap();
    out.unwrap_or_else(|| panic!("no SYN in {}", path.display()))
}

fn fingerprinter(db: Database) -> Fingerprinter {
    Fingerprinter::new(Arc::new(db))
}

/// (label, match, middlebox, score) of a record under the verdict order.
fn verdict(fp: &mut Fingerprinter, r: &PacketRecord) -> (String, MatchKind, Rewrites, f32) {
    let ev = Event::decode(r);
    let s = Signature::from_event(&ev, 0).unwrap();
    let v = fp.classify_event(&ev, &s);
    (
        v.label.map(|l| l.display_name()).unwrap_or_default(),
        v.kind,
        v.middlebox,
        v.score,
    )
}

fn rewritten(r: &PacketRecord, edits: &[Edit]) -> PacketRecord {
    let mut r = *r;
    for e in edits {
        assert!(e.apply(&mut r), "{e:?} applies to the stack's SYN");
    }
    r
}

fn set(k: &[Rewrite]) -> Rewrites {
    k.iter().copied().collect()
}

/// Checks the clean SYN and each rewritten one.
fn check(
    fp: &mut Fingerprinter,
    clean: &PacketRecord,
    label: &str,
    cases: &[(&[Edit], &[Rewrite])],
) {
    let (l, kind, mb, score) = verdict(fp, clean);
    assert_eq!(
        (l.as_str(), kind, mb, score),
        (label, MatchKind::Exact, Rewrites::NONE, 1.0)
    );
    for (edits, kinds) in cases {
        let r = rewritten(clean, edits);
        let (l, kind, mb, score) = verdict(fp, &r);
        assert_eq!(
            (l.as_str(), kind, mb),
            (label, MatchKind::Exact, set(kinds)),
            "{edits:?}"
        );
        assert!((0.5..1.0).contains(&score), "{edits:?}: score {score}");
        // Without the undo (strict, p0f's matching) the rewritten SYN is not this label.
        let mut strict = fingerprinter(fingerprint::default_database().unwrap());
        strict.config.strict = true;
        let (l2, ..) = verdict(&mut strict, &r);
        assert_ne!(
            l2, label,
            "{edits:?}: the matcher alone already explains it"
        );
    }
}

#[test]
fn linux_syn_rewrites_are_undone() {
    let mut fp = fingerprinter(fingerprint::default_database().unwrap());
    let clean = first_syn(&lab("default-mtu1500-v4.pcap"), None);
    check(
        &mut fp,
        &clean,
        "Linux 4.19-6.x",
        &[
            (&[Edit::TsNop], &[Rewrite::TsNop]),
            (&[Edit::TsZero], &[Rewrite::TsZero]),
            (&[Edit::TtlRewrite(128)], &[Rewrite::TtlRewrite]),
            (&[Edit::TtlRewrite(255)], &[Rewrite::TtlRewrite]),
            (
                &[Edit::TsNop, Edit::TtlRewrite(126)],
                &[Rewrite::TsNop, Rewrite::TtlRewrite],
            ),
        ],
    );
    // A PPPoE host (MSS 1452, window 45 x 1452 = 65340) behind a box that clamps the MSS
    // to 1380: the window is still a multiple of the stack's own MSS.
    let pppoe = first_syn(&lab("default-mtu1492-v4.pcap"), None);
    check(
        &mut fp,
        &pppoe,
        "Linux 4.19-6.x",
        &[
            (&[Edit::MssClamp(1380)], &[Rewrite::MssClamp]),
            (&[Edit::WsStrip], &[Rewrite::WsStrip]),
            (
                &[Edit::MssClamp(1360), Edit::TsNop],
                &[Rewrite::TsNop, Rewrite::MssClamp],
            ),
        ],
    );
}

/// Without its window scale, Linux's 64240-window SYN is also p0f's "Android older"
/// (mss*44, scale 1): two families explain it with one rewrite, so nothing is undone
/// and the classifier gives the family.
#[test]
fn an_ambiguous_undo_is_left_to_the_classifier() {
    let mut fp = fingerprinter(fingerprint::default_database().unwrap());
    let clean = first_syn(&lab("default-mtu1500-v4.pcap"), None);
    let r = rewritten(&clean, &[Edit::WsStrip]);
    let (l, kind, mb, _) = verdict(&mut fp, &r);
    assert_eq!(
        (l.as_str(), kind, mb),
        ("Linux (also ChromeOS)", MatchKind::Inferred, Rewrites::NONE)
    );
}

/// A clamp of a 1460 host needs no undo: p0f's rule explains 64240 as 44 x 1460.
#[test]
fn clamp_of_an_ethernet_host_is_no_rewrite_to_undo() {
    let mut fp = fingerprinter(fingerprint::default_database().unwrap());
    let clean = first_syn(&lab("default-mtu1500-v4.pcap"), None);
    let r = rewritten(&clean, &[Edit::MssClamp(1380)]);
    let (l, kind, mb, score) = verdict(&mut fp, &r);
    assert_eq!(
        (l.as_str(), kind, mb, score),
        ("Linux 4.19-6.x", MatchKind::Exact, Rewrites::NONE, 1.0)
    );
}

/// ECN bleaching: Linux with tcp_ecn=1 sends ECE+CWR; a box clears them. The shipped
/// database has both forms, so the bleached SYN is simply the plain form. Against a
/// database that knows only the stack's ECN form the undo names the rewrite.
#[test]
fn ecn_bleaching() {
    let ecn = first_syn(&lab("ecn-v4.pcap"), None);
    let bleached = rewritten(&ecn, &[Edit::EcnBleach]);
    let mut fp = fingerprinter(fingerprint::default_database().unwrap());
    assert_eq!(
        verdict(&mut fp, &bleached),
        (
            "Linux 4.19-6.x".into(),
            MatchKind::Exact,
            Rewrites::NONE,
            1.0
        )
    );
    let only_ecn = "classes = unix\n[tcp:request]\nlabel = s:unix:Linux:ECN on\nsig = 4:64:0:*:mss*44,10:mss,sok,ts,nop,ws:df,id+,ecn:0\n";
    let mut fp = fingerprinter(Database::parse(only_ecn, "ecn-only").unwrap());
    assert_eq!(verdict(&mut fp, &ecn).0, "Linux ECN on");
    let (l, kind, mb, _) = verdict(&mut fp, &bleached);
    assert_eq!(
        (l.as_str(), kind, mb),
        ("Linux ECN on", MatchKind::Exact, set(&[Rewrite::EcnBleach]))
    );
}

fn corpus_syn(file: &str, src: &str) -> Option<PacketRecord> {
    let c = osfp_tests::require(
        osfp_tests::corpus::locate(),
        "middlebox_undo: corpus not found",
    )?;
    Some(first_syn(&c.join(file), Some(src.parse().unwrap())))
}

#[test]
fn windows_and_macos_syn_rewrites_are_undone() {
    let mut fp = fingerprinter(fingerprint::default_database().unwrap());
    let Some(win) = corpus_syn("ndpi/windowsupdate_over_http.pcap", "10.0.2.15") else {
        return;
    };
    check(
        &mut fp,
        &win,
        "Windows 10 or 11",
        &[
            (&[Edit::TtlRewrite(64)], &[Rewrite::TtlRewrite]),
            (&[Edit::WsStrip], &[Rewrite::WsStrip]),
        ],
    );
    let Some(mac) = corpus_syn("zeek/rfb__vnc-mac-to-linux.pcap", "192.168.2.115") else {
        return;
    };
    check(
        &mut fp,
        &mac,
        "Mac OS X 10.12 or newer (also iOS)",
        &[
            (&[Edit::TsNop], &[Rewrite::TsNop]),
            (&[Edit::TsZero], &[Rewrite::TsZero]),
            (&[Edit::TtlRewrite(128)], &[Rewrite::TtlRewrite]),
        ],
    );
}

/// Rewrites that are not undone (window, scale value, removed timestamp): the
/// classifier takes the SYN, and says so.
#[test]
fn rewrites_not_undone_go_to_the_classifier() {
    let mut fp = fingerprinter(fingerprint::default_database().unwrap());
    let clean = first_syn(&lab("default-mtu1500-v4.pcap"), None);
    for e in [Edit::WinRewrite(16384), Edit::WsRewrite(5)] {
        let r = rewritten(&clean, &[e]);
        let (l, kind, mb, _) = verdict(&mut fp, &r);
        assert!(mb.is_empty(), "{e:?}: {l}");
        assert!(
            matches!(kind, MatchKind::Inferred | MatchKind::Unknown),
            "{e:?}: {l} {kind:?}"
        );
    }
}
