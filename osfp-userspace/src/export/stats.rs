//! End-of-run counter report, shared by `osfp run` and `osfp pcap`.

use std::fmt::Write as _;

use strum::IntoEnumIterator;

use osfp_common::{counter, Malformed};

use crate::{capture::frame::FrameCounters, decode::OptionProblem, pipeline::Pipeline};

/// Non-zero counters as `name=value` pairs, one line.
pub fn summary(c: &FrameCounters, p: &Pipeline, ringbuf_bad_size: u64) -> String {
    let mut s = String::new();
    let mut put = |name: &str, v: u64| {
        if v != 0 {
            let _ = write!(s, "{}{name}={v}", if s.is_empty() { "" } else { " " });
        }
    };
    put("frames", c.get(counter::SEEN));
    put("tcp", c.get(counter::TCP));
    for (i, name) in osfp_common::reason::NAMES.iter().enumerate() {
        put(
            &format!("selected_{name}"),
            c.get(counter::SELECTED_BASE + i as u32),
        );
    }
    put("ringbuf_full", c.get(counter::RINGBUF_FULL));
    for (i, name) in osfp_common::reason::NAMES.iter().enumerate() {
        put(
            &format!("shed_{name}"),
            c.get(counter::SHED_BASE + i as u32),
        );
    }
    put("fragments_skipped", c.get(counter::FRAGMENT_SKIPPED));
    for m in Malformed::ALL {
        put(&format!("malformed_{}", m.name()), c.malformed(m));
    }
    for o in OptionProblem::iter() {
        put(&format!("options_{}", o.name()), p.option_problem(o));
    }
    put("ringbuf_bad_size", ringbuf_bad_size);
    s
}
