//! The p0f v3 TCP signature of one SYN or SYN-ACK, computed the way p0f 3.09b does
//! (process.c `parse_packet`, fp_tcp.c `detect_win_multi` and `dump_sig`).
//!
//! A well-formed option list's walk is read off the decoder's parse ([`Walk::from_decoded`]):
//! there both walks agree. Any other list is walked again from the record's raw bytes
//! with p0f's own rules: p0f reads a malformed MSS or WS in place and steps over it by
//! its nominal size, which gives a different layout than a length-driven walk. Matching
//! p0f's layout byte for byte is what parity needs.

use std::fmt;

use osfp_common::{ip_flag, tcp_flag};

use super::quirks::Quirks;
use crate::decode::{put_layout, Event, OptKind, TcpOptions};

/// p0f's MAX_DIST: most hops between a signature's TTL and the observed one.
pub const MAX_DIST: u8 = 35;
/// p0f's MAX_TCP_OPT.
pub const MAX_OPTS: usize = 24;
/// MSS p0f-sendsyn uses; echoed in a SYN-ACK it is printed as `*`.
pub const SPECIAL_MSS: u16 = 1331;

/// Which database section a packet is matched against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// SYN: `[tcp:request]`.
    Request = 0,
    /// SYN-ACK: `[tcp:response]`.
    Response = 1,
}

/// What the window size is a multiple of (p0f's `detect_win_multi`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WinMulti {
    /// The multiplier as p0f computes it (an `s16`, so it can be negative); <= 0 means
    /// "not a multiple".
    pub n: i16,
    /// Of the MTU rather than the MSS.
    pub mtu: bool,
}

impl WinMulti {
    pub const NONE: WinMulti = WinMulti { n: -1, mtu: false };
}

/// One packet's signature: every field p0f matches on, compact and `Copy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Signature {
    pub dir: Direction,
    /// 4 or 6.
    pub ver: u8,
    /// Observed TTL / hop limit.
    pub ttl: u8,
    /// IPv4 option bytes (0 for IPv6, as in p0f).
    pub ip_opt_len: u8,
    /// 0 when absent.
    pub mss: u16,
    pub win: u16,
    /// 0 when absent.
    pub wscale: u8,
    pub opt_cnt: u8,
    /// Option kinds in wire order, EOL included.
    pub layout: [u8; MAX_OPTS],
    pub eol_pad: u8,
    pub quirks: Quirks,
    /// Non-zero payload.
    pub pay: bool,
    /// IP + TCP header bytes (p0f's `tot_hdr`, used for the MTU window test).
    pub tot_hdr: u16,
    /// Own timestamp (TSval), 0 when absent.
    pub ts1: u32,
    pub win_multi: WinMulti,
}

/// p0f's `guess_dist`: hops to the next initial TTL up (32, 64, 128, 255).
pub fn guess_dist(ttl: u8) -> u8 {
    initial_ttl(ttl) - ttl
}

/// The initial TTL guess: the first of 32, 64, 128, 255 not below the observed TTL
/// (p0f's rule, also nmap's TG).
pub fn initial_ttl(ttl: u8) -> u8 {
    match ttl {
        0..=32 => 32,
        33..=64 => 64,
        65..=128 => 128,
        _ => 255,
    }
}

impl Signature {
    /// The signature of a SYN or SYN-ACK; `None` for anything else. p0f's rule: the
    /// flags among SYN/ACK/FIN/RST must be exactly SYN or SYN+ACK (PSH, URG, ECE, CWR
    /// may ride along). `syn_mss`: for a SYN-ACK, the MSS of its flow's SYN (0 if the
    /// SYN was not seen), which p0f uses to explain the window.
    #[inline]
    pub fn from_event(ev: &Event, syn_mss: u16) -> Option<Signature> {
        let r = &ev.record;
        let f = r.tcp_flags;
        let kind = f & (tcp_flag::SYN | tcp_flag::ACK | tcp_flag::FIN | tcp_flag::RST);
        let dir = if kind == tcp_flag::SYN {
            Direction::Request
        } else if kind == tcp_flag::SYN | tcp_flag::ACK {
            Direction::Response
        } else {
            return None;
        };
        let mut q = 0u32;
        let (ip_opt_len, ip_hdr) = if r.family == 4 {
            if r.tos & 3 != 0 {
                q |= Quirks::ECN;
            }
            if r.ip_flags & ip_flag::RESERVED != 0 {
                q |= Quirks::NZ_MBZ;
            }
            if r.ip_flags & ip_flag::DF != 0 {
                q |= Quirks::DF;
                if r.ip_id != 0 {
                    q |= Quirks::NZ_ID;
                }
            } else if r.ip_id == 0 {
                q |= Quirks::ZERO_ID;
            }
            (r.ip_opt_len, 20 + r.ip_opt_len as u16)
        } else {
            if r.flow_label != 0 {
                q |= Quirks::FLOW;
            }
            if r.tos & 3 != 0 {
                q |= Quirks::ECN;
            }
            (0, 40)
        };
        if f & (tcp_flag::ECE | tcp_flag::CWR | tcp_flag::AE) != 0 {
            q |= Quirks::ECN;
        }
        if r.seq == 0 {
            q |= Quirks::ZERO_SEQ;
        }
        if f & tcp_flag::ACK != 0 {
            if r.ack == 0 {
                q |= Quirks::ZERO_ACK;
            }
        } else if (r.ack >> 24) & 1 != 0 && f & tcp_flag::RST == 0 {
            // p0f 3.09b computes `RD32(ack) & !(flags & RST)`: a bitwise AND with 0/1,
            // so on a little-endian host only bit 0 of the ack field's first wire byte
            // counts. Reproduced on purpose: parity with p0f's signatures.
            q |= Quirks::NZ_ACK;
        }
        if f & tcp_flag::URG != 0 {
            q |= Quirks::URG;
        } else if r.urg_ptr != 0 {
            q |= Quirks::NZ_URG;
        }
        if f & tcp_flag::PSH != 0 {
            q |= Quirks::PUSH;
        }

        let syn = dir == Direction::Request;
        let w = Walk::from_decoded(&ev.options, syn).unwrap_or_else(|| {
            let n = (r.opt_len as usize).min(r.options.len());
            walk_options(&r.options[..n], syn)
        });
        q |= w.quirks;

        let mut s = Signature {
            dir,
            ver: r.family,
            ttl: r.ttl,
            ip_opt_len,
            mss: w.mss,
            win: r.window,
            wscale: w.wscale,
            opt_cnt: w.cnt,
            layout: w.layout,
            eol_pad: w.eol_pad,
            quirks: Quirks(q),
            pay: r.payload_len != 0,
            tot_hdr: ip_hdr + r.doff as u16 * 4,
            ts1: w.ts1,
            win_multi: WinMulti::NONE,
        };
        s.win_multi = s.detect_win_multi(syn_mss);
        Some(s)
    }

    pub fn layout(&self) -> &[u8] {
        &self.layout[..self.opt_cnt as usize]
    }

    /// p0f's guess of the hop distance from the TTL alone.
    pub fn guess_dist(&self) -> u8 {
        guess_dist(self.ttl)
    }

    /// p0f's `detect_win_multi`: is the window a multiple of the MSS (or MSS - 12 with
    /// timestamps, or the MSS of a 1500-byte MTU), or of the MTU, or of the peer SYN's MSS?
    pub(crate) fn detect_win_multi(&self, syn_mss: u16) -> WinMulti {
        let win = self.win as i32;
        let mss = self.mss as i32;
        if win == 0 || mss < 100 {
            return WinMulti::NONE;
        }
        let v6 = self.ver == 6;
        let mut tries: [(i32, bool); 12] = [(0, false); 12];
        let mut k = 0;
        let mut push = |d: i32, mtu: bool| {
            tries[k] = (d, mtu);
            k += 1;
        };
        push(mss, false);
        if self.ts1 != 0 {
            push(mss - 12, false);
        }
        push(1500 - 40, false);
        push(1500 - 40 - 12, false);
        if v6 {
            push(1500 - 60, false);
            push(1500 - 60 - 12, false);
        }
        push(mss + 40, true);
        push(mss + self.tot_hdr as i32, true);
        if v6 {
            push(mss + 60, true);
        }
        push(1500, true);
        if syn_mss != 0 {
            push(syn_mss as i32, false);
            push(syn_mss as i32 - 12, false);
        }
        for &(d, mtu) in &tries[..k] {
            // C's `%` truncates toward zero like Rust's; a negative divisor can divide.
            if d != 0 && win % d == 0 {
                return WinMulti {
                    n: (win / d) as i16,
                    mtu,
                };
            }
        }
        WinMulti::NONE
    }

    /// p0f's `raw_sig` text (`dump_sig`).
    pub fn p0f(&self) -> P0fSig<'_> {
        P0fSig(self)
    }
}

/// Displays a [`Signature`] exactly as p0f prints `raw_sig`.
pub struct P0fSig<'a>(&'a Signature);

impl fmt::Display for P0fSig<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut b = Vec::with_capacity(96);
        self.0.put_p0f(&mut b);
        f.write_str(std::str::from_utf8(&b).expect("a signature's text is ASCII"))
    }
}

impl Signature {
    /// The signature's p0f text ([`P0fSig`]) appended to `buf`, without the formatter
    /// (the JSON record writer's path).
    pub fn put_p0f(&self, buf: &mut Vec<u8>) {
        let s = self;
        let mut n = itoa::Buffer::new();
        let mut num = |buf: &mut Vec<u8>, v: u64| buf.extend_from_slice(n.format(v).as_bytes());
        num(buf, s.ver as u64);
        buf.push(b':');
        num(buf, s.ttl as u64);
        buf.push(b'+');
        let dist = guess_dist(s.ttl);
        if dist > MAX_DIST {
            buf.push(b'?');
        } else {
            num(buf, dist as u64);
        }
        buf.push(b':');
        num(buf, s.ip_opt_len as u64);
        buf.push(b':');
        if s.mss == SPECIAL_MSS && s.dir == Direction::Response {
            buf.push(b'*');
        } else {
            num(buf, s.mss as u64);
        }
        buf.push(b':');
        if s.win_multi.n > 0 {
            buf.extend_from_slice(if s.win_multi.mtu { b"mtu*" } else { b"mss*" });
            num(buf, s.win_multi.n as u64);
        } else {
            num(buf, s.win as u64);
        }
        buf.push(b',');
        num(buf, s.wscale as u64);
        buf.push(b':');
        put_layout(
            buf,
            s.layout().iter().map(|&k| OptKind::from_kind(k)),
            s.eol_pad,
        );
        buf.push(b':');
        for (i, q) in s.quirks.names().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            buf.extend_from_slice(q.as_bytes());
        }
        buf.extend_from_slice(if s.pay { b":+" } else { b":0" });
    }
}

#[derive(Debug, PartialEq)]
pub(crate) struct Walk {
    layout: [u8; MAX_OPTS],
    cnt: u8,
    eol_pad: u8,
    mss: u16,
    wscale: u8,
    ts1: u32,
    quirks: u32,
}

impl Walk {
    /// p0f's walk read off the decoder's parse of the same bytes, where the two must
    /// agree: no structural problem, nothing non-zero after EOL, no SACK (p0f refuses
    /// the 2-byte SACK the decoder takes) and WS and TS each at most once (p0f's quirks
    /// look at every copy, the decoder keeps the last; [`TcpOptions::p0f_apart`]).
    /// `None` otherwise: then [`walk_options`] walks the bytes. Saves the second walk
    /// on nearly every packet.
    pub(crate) fn from_decoded(o: &TcpOptions, syn: bool) -> Option<Walk> {
        if o.malformed.is_some() || o.nonzero_after_eol || o.p0f_apart {
            return None;
        }
        let mut w = Walk {
            layout: o.kinds,
            cnt: o.layout.len() as u8,
            eol_pad: o.eol_pad,
            mss: o.mss.unwrap_or(0),
            wscale: o.wscale.unwrap_or(0),
            ts1: 0,
            quirks: 0,
        };
        if w.wscale > 14 {
            w.quirks |= Quirks::OPT_EXWS;
        }
        if let Some((val, ecr)) = o.timestamp {
            w.ts1 = val;
            if val == 0 {
                w.quirks |= Quirks::OPT_ZERO_TS1;
            }
            if syn && ecr != 0 {
                w.quirks |= Quirks::OPT_NZ_TS2;
            }
        }
        Some(w)
    }
}

/// p0f's option walk, rule for rule (process.c). `syn`: the packet is a plain SYN
/// (only then is a non-zero TSecr the `ts2+` quirk).
pub(crate) fn walk_options(b: &[u8], syn: bool) -> Walk {
    let mut w = Walk {
        layout: [0; MAX_OPTS],
        cnt: 0,
        eol_pad: 0,
        mss: 0,
        wscale: 0,
        ts1: 0,
        quirks: 0,
    };
    let end = b.len();
    let mut i = 0usize;
    let be32 = |at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    while i < end && (w.cnt as usize) < MAX_OPTS {
        let kind = b[i];
        w.layout[w.cnt as usize] = kind;
        w.cnt += 1;
        i += 1;
        match kind {
            0 => {
                w.eol_pad = (end - i) as u8;
                // p0f's `while (data < opt_end && !*data++);` steps past the first
                // non-zero byte, so a non-zero *last* byte goes unnoticed.
                while i < end {
                    let z = b[i] == 0;
                    i += 1;
                    if !z {
                        break;
                    }
                }
                if i != end {
                    w.quirks |= Quirks::OPT_EOL_NZ;
                    i = end;
                }
            }
            1 => {}
            2 => {
                if i + 3 > end {
                    return abort(w);
                }
                if b[i] != 4 {
                    w.quirks |= Quirks::OPT_BAD;
                }
                w.mss = u16::from_be_bytes([b[i + 1], b[i + 2]]);
                i += 3;
            }
            3 => {
                if i + 2 > end {
                    return abort(w);
                }
                if b[i] != 3 {
                    w.quirks |= Quirks::OPT_BAD;
                }
                w.wscale = b[i + 1];
                if w.wscale > 14 {
                    w.quirks |= Quirks::OPT_EXWS;
                }
                i += 2;
            }
            4 => {
                if i + 1 > end {
                    return abort(w);
                }
                if b[i] != 2 {
                    w.quirks |= Quirks::OPT_BAD;
                }
                i += 1;
            }
            5 => {
                if i == end {
                    return abort(w);
                }
                let len = b[i] as usize;
                if !(10..=34).contains(&len) || i - 1 + len > end {
                    return abort(w);
                }
                i += len - 1;
            }
            8 => {
                if i + 9 > end {
                    return abort(w);
                }
                if b[i] != 10 {
                    w.quirks |= Quirks::OPT_BAD;
                }
                w.ts1 = be32(i + 1);
                if w.ts1 == 0 {
                    w.quirks |= Quirks::OPT_ZERO_TS1;
                }
                if syn && be32(i + 5) != 0 {
                    w.quirks |= Quirks::OPT_NZ_TS2;
                }
                i += 9;
            }
            _ => {
                if i == end {
                    return abort(w);
                }
                let len = b[i] as usize;
                if !(2..=40).contains(&len) || i - 1 + len > end {
                    return abort(w);
                }
                i += len - 1;
            }
        }
    }
    if i != end {
        return abort(w);
    }
    w
}

fn abort(mut w: Walk) -> Walk {
    w.quirks |= Quirks::OPT_BAD;
    w
}

/// nmap's `O` test string for an option list: `L` EOL, `N` NOP, `M<hex>` MSS,
/// `W<hex>` window scale, `T<0|1><0|1>` timestamp (TSval, TSecr non-zero), `S` SACK
/// permitted; other kinds are left out, as nmap does.
pub fn nmap_options(o: &crate::decode::options::TcpOptions) -> String {
    use crate::decode::options::OptKind;
    use fmt::Write as _;
    let mut s = String::with_capacity(24);
    for k in &o.layout {
        let _ = match k {
            OptKind::Eol => s.write_str("L"),
            OptKind::Nop => s.write_str("N"),
            OptKind::Mss => write!(s, "M{:X}", o.mss.unwrap_or(0)),
            OptKind::Ws => write!(s, "W{:X}", o.wscale.unwrap_or(0)),
            OptKind::SackOk => s.write_str("S"),
            OptKind::Ts => {
                let (v, e) = o.timestamp.unwrap_or((0, 0));
                write!(s, "T{}{}", (v != 0) as u8, (e != 0) as u8)
            }
            OptKind::Sack | OptKind::Unknown(_) => Ok(()),
        };
    }
    s
}

#[cfg(test)]
mod walk_tests {
    use proptest::prelude::*;

    use super::*;
    use crate::decode::options;

    /// Option chunks as senders put them on the wire, well-formed and not: every kind
    /// p0f treats apart, repeated kinds, wrong lengths, EOL with zero and non-zero pad.
    fn chunk() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            any::<u16>().prop_map(|m| vec![2, 4, (m >> 8) as u8, m as u8]),
            (0u8..20).prop_map(|s| vec![3, 3, s]),
            Just(vec![4, 2]),
            (any::<u32>(), any::<u32>(), 0u8..3).prop_map(|(v, e, z)| {
                // TSval / TSecr zero now and then: the ts1- and ts2+ quirks.
                let (v, e) = match z {
                    0 => (0, e),
                    1 => (v, 0),
                    _ => (v, e),
                };
                let mut c = vec![8, 10];
                c.extend_from_slice(&v.to_be_bytes());
                c.extend_from_slice(&e.to_be_bytes());
                c
            }),
            Just(vec![1]),
            (0usize..4, any::<bool>()).prop_map(|(pad, nz)| {
                let mut c = vec![0; 1 + pad];
                if nz && pad > 0 {
                    c[pad] = 7;
                }
                c
            }),
            (0usize..3).prop_map(|blocks| {
                let mut c = vec![5, 2 + 8 * blocks as u8];
                c.resize(2 + 8 * blocks, 0xaa);
                c
            }),
            (9u8..40, 2u8..6).prop_map(|(k, l)| {
                let mut c = vec![k, l];
                c.resize(l as usize, 0);
                c
            }),
            // Wrong or impossible lengths of known kinds, and a bare kind byte.
            (prop::sample::select(vec![2u8, 3, 4, 5, 8]), 0u8..12).prop_map(|(k, l)| {
                let mut c = vec![k, l];
                c.resize((l as usize).max(2), 1);
                c
            }),
            any::<u8>().prop_map(|k| vec![k]),
        ]
    }

    fn list() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(chunk(), 0..8).prop_map(|cs| {
            let mut b: Vec<u8> = cs.concat();
            b.truncate(40);
            b
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// Wherever the decoder's parse stands in for p0f's walk, it gives what the
        /// walk gives, for SYNs and SYN-ACKs.
        #[test]
        fn decoded_walk_equals_p0f_walk(b in list()) {
            let o = options::parse(&b, false);
            for syn in [true, false] {
                if let Some(w) = Walk::from_decoded(&o, syn) {
                    prop_assert_eq!(w, walk_options(&b, syn), "{:?} syn {}", b, syn);
                }
            }
        }
    }

    /// The common lists take the decoder's path (else the test above proves nothing of
    /// the live path), the odd ones the walk.
    #[test]
    fn which_lists_take_the_decoded_walk() {
        let takes = |b: &[u8]| Walk::from_decoded(&options::parse(b, false), true).is_some();
        // Linux, Windows, macOS SYNs.
        assert!(takes(&[
            2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7
        ]));
        assert!(takes(&[2, 4, 5, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2]));
        assert!(takes(&[
            2, 4, 5, 0xb4, 1, 3, 3, 6, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 4, 2, 0, 0
        ]));
        assert!(takes(&[]));
        // A 2-byte SACK, two WS, a non-zero byte after EOL, a bad MSS length.
        assert!(!takes(&[5, 2, 1, 1]));
        assert!(!takes(&[3, 3, 1, 3, 3, 15]));
        assert!(!takes(&[2, 4, 5, 0xb4, 0, 0, 9, 0]));
        assert!(!takes(&[2, 3, 5, 1]));
    }
}
