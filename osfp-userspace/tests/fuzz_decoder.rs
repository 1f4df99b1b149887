//! Property tests: arbitrary bytes, and mutated real frames, never panic the parser or the
//! decoder, and whatever is selected decodes to a consistent event.

use osfp::{
    craft::TcpFrame,
    frame::{Link, SelectConfig, Selector},
    options,
    pipeline::Pipeline,
};
use osfp_common::counter;
use proptest::prelude::*;

const LINKS: [Link; 8] = [
    Link::Ethernet,
    Link::LinuxSll,
    Link::LinuxSll2,
    Link::RawIp,
    Link::Ipv4,
    Link::Ipv6,
    Link::Null,
    Link::Loop,
];

fn check(link: Link, bytes: &[u8]) {
    let mut sel = Selector::new(SelectConfig::default());
    let mut p = Pipeline::new();
    if let Some(r) = sel.frame(link, bytes, 42) {
        assert!(r.opt_len as usize <= 40);
        assert!(r.doff >= 5);
        assert!(r.reason != 0);
        let ev = p.process(&r);
        let _ = ev.to_text();
        let _ = serde_json::to_string(&ev.to_json()).unwrap();
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
    fn arbitrary_bytes(link in 0usize..LINKS.len(), bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        check(LINKS[link], &bytes);
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
