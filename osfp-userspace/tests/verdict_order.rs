//! The verdict order never changes a clean SYN's verdict: over every SYN / SYN-ACK of
//! the corpus, with the built-in database and with p0f's, a record the matcher labels
//! (`--strict`, p0f's rules) gets exactly that verdict from the whole order (label,
//! match, score, line, hops, nothing undone), unless the database marks the label a
//! candidate (`;@osfp next-label = candidate`). The middlebox undo and the classifier
//! only speak where the matcher had nothing (or a candidate). A source's family comes
//! from its own stack, not from the tools it ran.

use std::{net::IpAddr, path::Path, sync::Arc};

use osfp::{
    analysis::fingerprint::{self, Database, Family, MatchKind},
    capture::{
        file as capture_file,
        frame::{SelectConfig, Selector},
    },
    pipeline::Pipeline,
    sources::source_family,
};
use osfp_tests::craft::TcpFrame;

#[derive(Default, Debug)]
struct Counts {
    records: u64,
    kept: u64,
    filled: u64,
    candidates_replaced: u64,
}

fn compare(
    db: &Arc<Database>,
    files: &[std::path::PathBuf],
    c: &mut Counts,
    bad: &mut Vec<String>,
) {
    for f in files {
        let mut sel = Selector::new(SelectConfig::default());
        let mut strict = Pipeline::with_database(db.clone(), 1024);
        strict.fingerprinter.config.strict = true;
        let mut full = Pipeline::with_database(db.clone(), 1024);
        let (mut s1, mut s2) = (Vec::new(), Vec::new());
        let _ = capture_file::for_each_frame(f, |link, frame, ts| {
            let Some(rec) = sel.frame(link, frame, ts) else {
                return;
            };
            let ev = strict.process(&rec);
            let Some((_, a)) = strict.observe(&ev, &mut s1) else {
                return;
            };
            let (_, b) = full.observe(&ev, &mut s2).expect("same event");
            c.records += 1;
            match a.label {
                Some(l) if !l.candidate => {
                    c.kept += 1;
                    let same = a.label.map(|l| l.id) == b.label.map(|l| l.id)
                        && (a.kind, a.score, a.line, a.dist, a.is_tool)
                            == (b.kind, b.score, b.line, b.dist, b.is_tool)
                        && b.middlebox.is_empty()
                        && b.p.is_none();
                    if !same && bad.len() < 20 {
                        bad.push(format!("{}: {a:?} became {b:?}", f.display()));
                    }
                }
                Some(_) => c.candidates_replaced += (b.kind != a.kind) as u64,
                None => c.filled += (b.kind != MatchKind::Unknown) as u64,
            }
            s1.clear();
            s2.clear();
        });
    }
}

#[test]
fn labelled_verdicts_are_never_replaced() {
    let Some(corpus) = osfp_tests::require(
        osfp_tests::corpus::locate(),
        "verdict_order: corpus not found",
    ) else {
        return;
    };
    let index = std::fs::read_to_string(corpus.join("INDEX.tsv")).unwrap();
    let files: Vec<_> = index
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .map(|p| corpus.join(p))
        .collect();
    let mut dbs = vec![Arc::new(fingerprint::default_database().unwrap())];
    if Path::new("/etc/p0f/p0f.fp").exists() {
        dbs.push(Arc::new(Database::load("/etc/p0f/p0f.fp").unwrap()));
    } else {
        osfp_tests::cannot_run("verdict_order: /etc/p0f/p0f.fp missing");
    }
    for db in &dbs {
        let (mut c, mut bad) = (Counts::default(), Vec::new());
        compare(db, &files, &mut c, &mut bad);
        eprintln!("{}: {c:?}", db.name);
        assert!(bad.is_empty(), "{}:\n{}", db.name, bad.join("\n"));
        assert!(c.kept > 5000 && c.filled > 100, "{c:?}");
    }
}

/// A Linux host that ran `nmap -sS`: 3 Linux SYNs, 200 nmap probes. Its family is
/// Linux, it is a tool user, and the probes are counted under `tool`, not `unknown`.
#[test]
fn a_source_family_is_its_own_stacks() {
    let mut p = Pipeline::with_database(Arc::new(fingerprint::default_database().unwrap()), 64);
    let (src, dst): (IpAddr, IpAddr) = ("192.0.2.7".parse().unwrap(), "192.0.2.1".parse().unwrap());
    let mut sel = Selector::new(SelectConfig::default());
    let mut scans = Vec::new();
    let mut frames = Vec::new();
    for i in 0..3u16 {
        frames.push(TcpFrame::syn(src, dst, 40000 + i, 443).frame());
    }
    for port in 1..=200u16 {
        let mut f = TcpFrame::syn(src, dst, 55555, port);
        f.window = 1024;
        f.ttl = 48;
        f.df = false;
        f.ip_id = port;
        f.options = vec![2, 4, 5, 0xb4];
        frames.push(f.frame());
    }
    let mut tool_verdicts = 0;
    for (i, f) in frames.iter().enumerate() {
        let rec = sel
            .frame(
                osfp::capture::frame::Link::Ethernet,
                f,
                i as u64 * 1_000_000,
            )
            .expect("selected");
        let ev = p.process(&rec);
        if let Some((_, v)) = p.observe(&ev, &mut scans) {
            if v.is_tool {
                tool_verdicts += 1;
                assert_eq!(v.family(), Family::Tool);
            }
        }
    }
    assert_eq!(tool_verdicts, 200);
    let db = p.fingerprinter.db_arc().clone();
    let st = p.sources.get(&src).unwrap();
    assert_eq!(source_family(st, &db), Family::Linux);
    let j = st.to_json(src, &db);
    assert_eq!(j.tools, ["NMap SYN scan"]);
}

/// The verdict of one crafted SYN through the whole order.
fn verdict_of(f: &TcpFrame) -> (MatchKind, Family, Option<f32>) {
    let mut p = Pipeline::with_database(Arc::new(fingerprint::default_database().unwrap()), 64);
    let mut sel = Selector::new(SelectConfig::default());
    let rec = sel
        .frame(osfp::capture::frame::Link::Ethernet, &f.frame(), 0)
        .expect("selected");
    let ev = p.process(&rec);
    let (_, v) = p.observe(&ev, &mut Vec::new()).expect("a SYN");
    (v.kind, v.family(), v.p)
}

/// "unknown" is for what is new: a stack whose option kinds (in order, with its initial
/// TTL class) no training SYN had stays unknown, however confident the linear model
/// would be far from its data; the same SYN with Linux's option kinds is inferred,
/// and so is Linux's after a middlebox replaced its timestamp with NOPs and the window
/// is one no signature lists.
#[test]
fn only_new_stacks_stay_unknown() {
    let (src, dst): (IpAddr, IpAddr) = ("192.0.2.8".parse().unwrap(), "192.0.2.1".parse().unwrap());
    let new = osfp_tests::craft::stacks::unknown_stack(src, dst, 40000, 443);
    assert_eq!(
        verdict_of(&new),
        (MatchKind::Unknown, Family::Unknown, None)
    );
    let mut ttl = new.clone();
    ttl.ttl = 64;
    ttl.options = vec![4, 2, 3, 3, 3, 2, 4, 5, 0x64];
    assert_eq!(
        verdict_of(&ttl).0,
        MatchKind::Unknown,
        "sok,ws,mss is new at TTL 64 too"
    );

    // Linux's layout behind a middlebox: NOPs over the timestamp, an odd window.
    let mut linux = TcpFrame::syn(src, dst, 40001, 443);
    linux.window = 4321;
    linux.options = vec![
        2, 4, 5, 0xb4, 4, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 7,
    ];
    let (kind, family, p) = verdict_of(&linux);
    assert!(
        matches!(
            kind,
            MatchKind::Inferred | MatchKind::Fuzzy | MatchKind::Generic | MatchKind::Exact
        ),
        "{kind:?}"
    );
    assert!(
        matches!(family, Family::Linux | Family::Android),
        "{family:?} {p:?}"
    );
}
