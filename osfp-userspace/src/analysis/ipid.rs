//! IP ID behaviour with nmap's TI/CI/II classes (Z, RD, RI, BI, I, constant), kept
//! incrementally in O(1) memory, plus the counter's rate for incremental IDs
//! (Tranalyzer's host-load idea: a global counter advances once per packet the host
//! sends, to anyone).
//!
//! Differences follow nmap: consecutive IDs, modulo 65536 (65100 then 700 is 1136;
//! 2000 then 1100 is 64636).

use std::fmt;

use serde::{Serialize, Serializer};

/// nmap's IP ID sequence classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpIdClass {
    /// All zero.
    Z,
    /// Random: some step of at least 20,000 (needs three or more IDs).
    Rd,
    /// Random positive increments.
    Ri,
    /// Broken increment: host byte order, steps multiples of 256 up to 5,120.
    Bi,
    /// Incremental: every step under ten.
    I,
    /// The same nonzero value every time (nmap writes it in hex).
    Constant(u16),
}

impl fmt::Display for IpIdClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpIdClass::Z => f.write_str("Z"),
            IpIdClass::Rd => f.write_str("RD"),
            IpIdClass::Ri => f.write_str("RI"),
            IpIdClass::Bi => f.write_str("BI"),
            IpIdClass::I => f.write_str("I"),
            IpIdClass::Constant(v) => write!(f, "{v:X}"),
        }
    }
}

impl Serialize for IpIdClass {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An IP ID sequence, summarised as it arrives.
#[derive(Clone, Copy, Debug, Default)]
pub struct IpIdSeq {
    n: u32,
    first: u16,
    last: u16,
    first_ns: u64,
    last_ns: u64,
    any_nonzero: bool,
    any_change: bool,
    /// Some step >= 20,000 (rule 2).
    any_big: bool,
    /// Some step > 1,000 that is not a multiple of 256 (rule 4; a multiple of 256
    /// would need to be >= 256,000, which a 16-bit step never is).
    any_ri: bool,
    /// Some step that is not a multiple of 256 or exceeds 5,120 (breaks rule 5).
    not_bi: bool,
    /// Some step >= 10 (breaks rule 6).
    not_i: bool,
    /// Some step > 1,000: not a small-step counter.
    not_counter: bool,
    /// Sum of steps, and of steps of the byte-swapped IDs (the counter behind BI).
    sum: u64,
    sum_swapped: u64,
}

impl IpIdSeq {
    pub fn push(&mut self, ts_ns: u64, id: u16) {
        if self.n == 0 {
            self.first = id;
            self.first_ns = ts_ns;
        } else {
            let d = id.wrapping_sub(self.last) as u32;
            self.any_change |= d != 0;
            self.any_big |= d >= 20_000;
            self.any_ri |= d > 1_000 && !d.is_multiple_of(256);
            self.not_bi |= !d.is_multiple_of(256) || d > 5_120;
            self.not_i |= d >= 10;
            self.not_counter |= d > 1_000;
            self.sum += d as u64;
            self.sum_swapped += id.swap_bytes().wrapping_sub(self.last.swap_bytes()) as u64;
        }
        self.any_nonzero |= id != 0;
        self.last = id;
        self.last_ns = self.last_ns.max(ts_ns);
        self.n = self.n.saturating_add(1);
    }

    pub fn len(&self) -> u32 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// nmap's classification, rules in nmap's order; None with fewer than two IDs or
    /// when no rule applies (nmap omits the test then).
    pub fn class(&self) -> Option<IpIdClass> {
        if self.n < 2 {
            return None;
        }
        if !self.any_nonzero {
            return Some(IpIdClass::Z);
        }
        // RD is impossible with two IDs (nmap: not enough samples, as for II).
        if self.n > 2 && self.any_big {
            return Some(IpIdClass::Rd);
        }
        if !self.any_change {
            return Some(IpIdClass::Constant(self.first));
        }
        if self.any_ri {
            return Some(IpIdClass::Ri);
        }
        if !self.not_bi {
            return Some(IpIdClass::Bi);
        }
        if !self.not_i {
            return Some(IpIdClass::I);
        }
        None
    }

    /// IDs per second of an incremental counter: for I, for BI (on the byte-swapped
    /// counter), and for sequences nmap leaves unclassified whose steps are all small
    /// (at most 1,000: a busy global counter sampled sparsely). None otherwise or
    /// without a time span.
    pub fn rate(&self) -> Option<f64> {
        let span = self.last_ns.saturating_sub(self.first_ns) as f64 / 1e9;
        if self.n < 2 || span <= 0.0 {
            return None;
        }
        let ids = match self.class() {
            Some(IpIdClass::I) => self.sum,
            Some(IpIdClass::Bi) => self.sum_swapped,
            None if !self.not_counter => self.sum,
            _ => return None,
        };
        Some(ids as f64 / span)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(ids: &[u16]) -> IpIdSeq {
        let mut s = IpIdSeq::default();
        for (i, &id) in ids.iter().enumerate() {
            // nmap's SEQ probes: 100 ms apart.
            s.push(i as u64 * 100_000_000, id);
        }
        s
    }

    #[test]
    fn nmap_document_examples() {
        // "the difference between an IP ID of 65,100 followed by a value of 700 is 1,136":
        // one step > 1,000, not a multiple of 256 -> RI (two IDs cannot be RD).
        assert_eq!(seq(&[65_100, 700]).class(), Some(IpIdClass::Ri));
        // "The difference between 2,000 followed by 1,100 is 64,636": with three or more
        // IDs a step >= 20,000 is RD; with two it is RI.
        assert_eq!(seq(&[2_000, 1_100]).class(), Some(IpIdClass::Ri));
        assert_eq!(seq(&[1_000, 2_000, 1_100]).class(), Some(IpIdClass::Rd));
        // SS example: TCP IDs 117..122 then ICMP 123, 124: one incremental sequence.
        let tcp = [117, 118, 119, 120, 121, 122];
        assert_eq!(seq(&tcp).class(), Some(IpIdClass::I));
        assert_eq!(
            seq(&[117, 118, 119, 120, 121, 122, 123, 124]).class(),
            Some(IpIdClass::I)
        );
        // "...but the ICMP values are 32,917 and 32,918": a second sequence; mixed in
        // order they contain a jump of 32,795 -> RD.
        assert_eq!(seq(&[32_917, 32_918]).class(), Some(IpIdClass::I));
        assert_eq!(
            seq(&[117, 118, 119, 120, 121, 122, 32_917, 32_918]).class(),
            Some(IpIdClass::Rd)
        );
        // "probe #1 returns an IP ID of 10,000 and probe #6 returns 20,000" (avg 2,000
        // per probe): steps of 2,000 are RI.
        assert_eq!(
            seq(&[10_000, 12_000, 14_000, 16_000, 18_000, 20_000]).class(),
            Some(IpIdClass::Ri)
        );
    }

    #[test]
    fn remaining_rules() {
        assert_eq!(seq(&[0, 0, 0, 0]).class(), Some(IpIdClass::Z));
        assert_eq!(
            seq(&[0x1042, 0x1042, 0x1042]).class(),
            Some(IpIdClass::Constant(0x1042))
        );
        assert_eq!(IpIdClass::Constant(0x1042).to_string(), "1042");
        // Windows-style host byte order: +1 on the counter is +256 on the wire.
        let bi: Vec<u16> = (100u16..106).map(|c| c.swap_bytes()).collect();
        assert_eq!(seq(&bi).class(), Some(IpIdClass::Bi));
        assert!(
            (seq(&bi).rate().unwrap() - 10.0).abs() < 1e-9,
            "1 per 100 ms"
        );
        // Steps of 10..=1,000 match no rule.
        assert_eq!(seq(&[100, 150, 200, 260]).class(), None);
        assert!((seq(&[100, 150, 200, 260]).rate().unwrap() - 160.0 / 0.3).abs() < 1e-6);
        // Wrap: 65,530 -> 3 is a step of 9.
        assert_eq!(seq(&[65_520, 65_529, 2, 8]).class(), Some(IpIdClass::I));
        assert_eq!(seq(&[7]).class(), None);
        assert_eq!(seq(&[20_000, 65_000, 100]).class(), Some(IpIdClass::Rd));
        assert_eq!(seq(&[20_000, 65_000, 100]).rate(), None);
    }

    #[test]
    fn incremental_rate() {
        let mut s = IpIdSeq::default();
        // Global counter at 37 IDs/s seen once per second.
        for i in 0..20u64 {
            s.push(i * 1_000_000_000, (60_000 + 37 * i) as u16);
        }
        assert_eq!(s.class(), None, "steps of 37 are between I and RI");
        assert!((s.rate().unwrap() - 37.0).abs() < 1e-9);
        let json = serde_json::to_string(&Some(IpIdClass::Rd)).unwrap();
        assert_eq!(json, "\"RD\"");
    }
}
