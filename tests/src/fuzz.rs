//! The bodies of the fuzz targets (`fuzz/fuzz_targets/`, one line each): the
//! production code over hostile bytes, with the invariants it must keep. Here so that
//! the normal test suite runs the seeds and every input the fuzzer ever crashed on
//! (`fuzz/regressions/`) through exactly what the fuzzer runs
//! (`osfp-userspace/tests/fuzz_regressions.rs`). Each function panics only on a bug.

use std::{
    collections::HashMap,
    io,
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
};

use axum::{extract::Query, http::Uri};
use osfp::{
    analysis::fingerprint::{default_database, nmap_options, Database, Signature},
    capture::{
        file::for_each_frame_in,
        frame::{Link, SelectConfig, Selector},
    },
    daemon::config,
    decode::{layout_string, options, Event},
    export::{
        api::{Filter, MAX_LIMIT},
        output::{Format, Output},
    },
    pipeline::Pipeline,
};
use strum::{EnumCount, IntoEnumIterator};

/// A fuzz target's body: panics only on a bug.
pub type Target = fn(&[u8]);

/// The fuzz targets, by name (`cargo fuzz run NAME`).
pub const TARGETS: [(&str, Target); 6] = [
    ("capture_file", capture_file),
    ("frame", frame),
    ("tcp_options", tcp_options),
    ("p0f_db", p0f_db),
    ("config", config),
    ("api_query", api_query),
];

/// `fuzz/` in the workspace.
pub fn dir() -> PathBuf {
    crate::workspace_root().join("fuzz")
}

fn builtin_db() -> Arc<Database> {
    static DB: OnceLock<Arc<Database>> = OnceLock::new();
    DB.get_or_init(|| Arc::new(default_database().expect("built-in database")))
        .clone()
}

/// A capture file's bytes through what `osfp pcap --json --summary` runs: the pcap /
/// pcapng reader (any link type the file declares), the selector's header walk, the
/// pipeline (decode, fingerprint, clock, scans, source table) and the JSON of records
/// and sources.
pub fn capture_file(data: &[u8]) {
    let db = builtin_db();
    let mut sel = Selector::new(SelectConfig {
        ts_sample_interval_ns: 1_000,
        ts_sample_max_per_flow: 8,
        // A fixed key: a crash input replays the same table collisions.
        hash_key: osfp::hashing::seeded(1),
    });
    let mut pipeline = Pipeline::with_database(db.clone(), 64);
    let mut out = Output::new(io::sink(), Format::Json);
    let mut scans = Vec::new();
    let _ = for_each_frame_in(data, |link, frame, ts| {
        if let Some(rec) = sel.frame(link, frame, ts) {
            let ev = pipeline.process(&rec);
            let fp = pipeline.observe(&ev, &mut scans);
            let _ = match &fp {
                Some((s, v)) => out.event_fingerprinted(&ev, &db, s, v),
                None => out.event(&ev),
            };
            for e in scans.drain(..) {
                let _ = out.text_line(&e.to_json_line());
            }
        }
    });
    pipeline.end_of_input(&mut scans);
    for (src, st) in pipeline.sources.iter() {
        let _ = out.json_line(&st.to_json(*src, &db));
    }
}

/// One frame through the selector's header walk (`Selector::frame`, the kernel's walk
/// mirrored): the first byte picks the link type, the rest is the frame (tunnels
/// included); a selected record is decoded as the pipeline decodes it.
pub fn frame(data: &[u8]) {
    let Some((&pick, frame)) = data.split_first() else {
        return;
    };
    let link = Link::iter()
        .nth(pick as usize % Link::COUNT)
        .expect("in range");
    // A fixed key, as in `capture_file`: a crash input replays the same collisions.
    let mut sel = Selector::new(SelectConfig {
        hash_key: osfp::hashing::seeded(1),
        ..SelectConfig::default()
    });
    // Twice: the second pass meets the flow state the first one left.
    for ts in [1_000_000_000, 3_000_000_000] {
        if let Some(r) = sel.frame(link, frame, ts) {
            assert!(r.opt_len as usize <= osfp_common::MAX_TCP_OPTION_BYTES);
            let _ = Event::decode(&r);
        }
    }
}

/// Raw TCP option bytes through `decode::options::parse` (the first byte's low bit
/// says whether the header claimed more than was captured), and the p0f layout string
/// and nmap `O` value made from the result.
pub fn tcp_options(data: &[u8]) {
    let Some((&flag, bytes)) = data.split_first() else {
        return;
    };
    let o = options::parse(bytes, flag & 1 != 0);
    assert!(o.layout.len() <= options::MAX_OPTIONS);
    let _ = layout_string(&o);
    let _ = nmap_options(&o);
}

/// Signatures of a Linux-shaped SYN over IPv4 and a Windows-shaped SYN-ACK over IPv6.
fn signatures() -> &'static [Signature] {
    static SIGS: OnceLock<Vec<Signature>> = OnceLock::new();
    SIGS.get_or_init(|| {
        let mut sel = Selector::new(SelectConfig::default());
        let syn = crate::craft::tunnels::syn_v4();
        let (s, d) = (syn.dst, syn.src);
        let mut synack = crate::craft::stacks::windows11(s, d, 443, 40000);
        synack.flags = osfp_common::tcp_flag::SYN | osfp_common::tcp_flag::ACK;
        [(syn.frame(), 0), (synack.frame(), 1460)]
            .iter()
            .map(|(f, mss)| {
                let r = sel.frame(Link::Ethernet, f, 1).expect("crafted SYN");
                Signature::from_event(&Event::decode(&r), *mss).expect("a signature")
            })
            .collect()
    })
}

/// A p0f.fp database text through `Database::parse` and `parse_lenient` (what `--db`
/// and `osfp db check` load; they must agree on whether it has errors), its errors as
/// `osfp db check` prints them, and the database matching a SYN and a SYN-ACK.
pub fn p0f_db(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (db, errors) = Database::parse_lenient(&text, "fuzz.fp");
    for e in &errors {
        let _ = e.to_string();
    }
    match Database::parse(&text, "fuzz.fp") {
        Ok(_) => assert!(
            errors.is_empty(),
            "strict parse accepted what lenient refused"
        ),
        Err(e) => {
            assert!(
                !errors.is_empty(),
                "lenient parse found nothing strict refused"
            );
            let _ = e.to_string();
        }
    }
    for s in signatures() {
        let _ = db.classify(s, true);
    }
}

/// A configuration file's text through `daemon::config::parse` and `Settings::check`,
/// alone and under command-line flags (`Settings::over`, as `osfp run --config` and a
/// reload do), errors formatted as printed.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/etc/osfp/osfp.toml");
    let settings = match config::parse(text, path) {
        Ok(s) => s,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let flags = config::Settings {
        ring_mib: Some(16),
        ..Default::default()
    };
    for s in [settings.clone(), flags.over(settings)] {
        if let Err(e) = s.check(Some((path, text))) {
            let _ = e.to_string();
        }
    }
}

/// A raw query string of `GET /api/v1/sources?...`, as hyper accepts the request
/// target and axum's `Query` extractor decodes it for the handler, through
/// `export::api::Filter::parse`.
pub fn api_query(data: &[u8]) {
    let Ok(q) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(uri) = format!("/api/v1/sources?{q}").parse::<Uri>() else {
        return;
    };
    let Ok(Query(params)) = Query::<HashMap<String, String>>::try_from_uri(&uri) else {
        return;
    };
    if let Ok(f) = Filter::parse(&params) {
        assert!((1..=MAX_LIMIT).contains(&f.limit));
    }
}
