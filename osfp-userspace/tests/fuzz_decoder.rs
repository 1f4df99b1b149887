//! Property tests: arbitrary bytes, and mutated real frames, never panic the parser or the
//! decoder, and whatever is selected decodes to a consistent event.

use std::{cell::RefCell, sync::Arc};

use osfp::{
    analysis::{fingerprint, scan::ScanEvent},
    capture::frame::{Link, SelectConfig, Selector},
    decode::options,
    export::output::{Format, Output},
    pipeline::Pipeline,
};
use osfp_common::counter;
use osfp_tests::craft::TcpFrame;
use proptest::prelude::*;
use strum::{EnumCount, IntoEnumIterator};

/// Every link type a capture file may have.
fn links() -> Vec<Link> {
    Link::iter().collect()
}

thread_local! {
    /// The production path after selection: every stage, with the built-in database.
    static PIPELINE: RefCell<Pipeline> = RefCell::new(Pipeline::with_database(
        Arc::new(fingerprint::default_database().unwrap()),
        1024,
    ));
}

fn check(link: Link, bytes: &[u8]) {
    let mut sel = Selector::new(SelectConfig::default());
    if let Some(r) = sel.frame(link, bytes, 42) {
        assert!(r.opt_len as usize <= 40);
        assert!(r.doff >= 5);
        assert!(r.reason != 0);
        PIPELINE.with_borrow_mut(|p| {
            let db = p.fingerprinter.db_arc().clone();
            let ev = p.process(&r);
            let mut scans: Vec<ScanEvent> = Vec::new();
            let fp = p.observe(&ev, &mut scans);
            // Both line forms; the JSON one parses back as one object.
            for format in [Format::Json, Format::Text] {
                let mut out = Output::new(Vec::new(), format);
                match &fp {
                    Some((s, v)) => out.event_fingerprinted(&ev, &db, s, v),
                    None => out.event(&ev),
                }
                .unwrap();
                let line = out.writer();
                assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1, "one line");
                if format == Format::Json {
                    let _: serde_json::Value = serde_json::from_slice(line).expect("JSON");
                }
            }
        });
    }
    assert_eq!(sel.counters.get(counter::SEEN), 1);
    let malformed: u64 = (0..osfp_common::Malformed::COUNT as u32)
        .map(|m| sel.counters.get(counter::MALFORMED_BASE + m))
        .sum();
    assert!(malformed <= 1, "a frame has at most one malformed reason");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn arbitrary_bytes(link in 0usize..Link::COUNT, bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        check(links()[link], &bytes);
    }

    #[test]
    fn mutated_frames(
        v6 in any::<bool>(),
        cut in 0usize..120,
        flips in proptest::collection::vec((0usize..120, any::<u8>()), 0..6),
        opts in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let (s, d) = if v6 {
            ("2001:db8::1".parse().unwrap(), "2001:db8::2".parse().unwrap())
        } else {
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap())
        };
        let mut f = TcpFrame::syn(s, d, 1234, 80);
        f.options = opts;
        let mut frame = f.frame();
        for (at, b) in flips {
            if at < frame.len() { frame[at] ^= b; }
        }
        frame.truncate(frame.len().saturating_sub(cut).max(1));
        check(Link::Ethernet, &frame);
    }

    #[test]
    fn option_parser_total(bytes in proptest::collection::vec(any::<u8>(), 0..40), truncated in any::<bool>()) {
        let o = options::parse(&bytes, truncated);
        prop_assert!(o.layout.len() <= options::MAX_OPTIONS);
        prop_assert!(o.eol_pad as usize <= bytes.len());
        if truncated { prop_assert!(o.malformed.is_some()); }
    }
}
