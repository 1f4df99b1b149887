//! A [`PacketRecord`] becomes an [`Event`] with addresses, kind and parsed options.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use osfp_common::{ip_flag, reason, rec_flag, tcp_flag, PacketRecord};
use serde::Serialize;

use super::options::{self, OptKind, TcpOptions};

/// The primary reason a record exists; `reasons` on the event keeps all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "&'static str")]
pub enum Kind {
    Syn,
    Synack,
    ScanProbe,
    /// The ACK completing a tracked SYN's handshake (scan detection's half-open split).
    HandshakeAck,
    TsSample,
}

impl Kind {
    /// Scan-like wins (the packet is odd first of all), then SYN, SYN-ACK, handshake
    /// ACK, sample.
    pub fn of(reason_bits: u8) -> Kind {
        if reason_bits & reason::SCAN_PROBE != 0 {
            Kind::ScanProbe
        } else if reason_bits & reason::SYN != 0 {
            Kind::Syn
        } else if reason_bits & reason::SYNACK != 0 {
            Kind::Synack
        } else if reason_bits & reason::HANDSHAKE_ACK != 0 {
            Kind::HandshakeAck
        } else {
            Kind::TsSample
        }
    }

    /// The selection reason bit this kind stands for.
    pub fn reason(self) -> u8 {
        match self {
            Kind::Syn => reason::SYN,
            Kind::Synack => reason::SYNACK,
            Kind::ScanProbe => reason::SCAN_PROBE,
            Kind::HandshakeAck => reason::HANDSHAKE_ACK,
            Kind::TsSample => reason::TS_SAMPLE,
        }
    }

    /// The reason's name (`syn`, `synack`, ...).
    pub fn name(self) -> &'static str {
        reason::NAMES[self.reason().trailing_zeros() as usize]
    }
}

impl From<Kind> for &'static str {
    fn from(k: Kind) -> &'static str {
        k.name()
    }
}

/// A decoded record.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Capture time, ns since the Unix epoch.
    pub ts_ns: u64,
    pub kind: Kind,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub options: TcpOptions,
    pub record: PacketRecord,
}

fn addr(family: u8, a: &[u8; 16]) -> IpAddr {
    if family == 4 {
        IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(*a))
    }
}

impl Event {
    /// Decodes a record whose `ts_ns` is already Unix time.
    pub fn decode(record: &PacketRecord) -> Event {
        let mut ev = Event {
            ts_ns: record.ts_ns,
            kind: Kind::of(record.reason),
            src: addr(record.family, &record.src),
            dst: addr(record.family, &record.dst),
            options: TcpOptions::default(),
            record: *record,
        };
        ev.parse_options();
        ev
    }

    /// [`Event::decode`] into this event, reusing it (the live consumer's path: no
    /// event is built elsewhere and copied in).
    pub fn decode_into(&mut self, record: &PacketRecord) {
        self.ts_ns = record.ts_ns;
        self.kind = Kind::of(record.reason);
        self.src = addr(record.family, &record.src);
        self.dst = addr(record.family, &record.dst);
        self.record = *record;
        self.parse_options();
    }

    fn parse_options(&mut self) {
        let r = &self.record;
        let len = (r.opt_len as usize).min(r.options.len());
        let truncated = r.rec_flags & rec_flag::OPTIONS_TRUNCATED != 0;
        options::parse_into(&r.options[..len], truncated, &mut self.options);
    }

    pub fn has(&self, reason_bit: u8) -> bool {
        self.record.reason & reason_bit != 0
    }
    pub fn is_syn(&self) -> bool {
        self.has(reason::SYN)
    }
    pub fn is_synack(&self) -> bool {
        self.has(reason::SYNACK)
    }
    pub fn df(&self) -> bool {
        self.record.ip_flags & ip_flag::DF != 0
    }
    pub fn flag(&self, f: u16) -> bool {
        self.record.tcp_flags & f != 0
    }
}

/// The letter of each TCP flag, in print order.
const FLAG_LETTERS: [(u16, u8); 9] = [
    (tcp_flag::FIN, b'F'),
    (tcp_flag::SYN, b'S'),
    (tcp_flag::RST, b'R'),
    (tcp_flag::PSH, b'P'),
    (tcp_flag::ACK, b'A'),
    (tcp_flag::URG, b'U'),
    (tcp_flag::ECE, b'E'),
    (tcp_flag::CWR, b'C'),
    (tcp_flag::AE, b'N'),
];

/// tcpdump's letters: F S R P A U E C, then N for AE (ex-NS) and X for reserved bits.
pub fn flags_string(f: u16) -> String {
    let mut b = Vec::with_capacity(10);
    put_flags(&mut b, f);
    String::from_utf8(b).expect("flag letters are ASCII")
}

/// [`flags_string`] appended to `buf`.
pub fn put_flags(buf: &mut Vec<u8>, f: u16) {
    let start = buf.len();
    for (bit, c) in FLAG_LETTERS {
        if f & bit != 0 {
            buf.push(c);
        }
    }
    if f & tcp_flag::RESERVED != 0 {
        buf.push(b'X');
    }
    if buf.len() == start {
        buf.push(b'.');
    }
}

/// Option layout in p0f's notation: `mss,nop,ws,sok,ts`, `eol+N`, `?N` for unknown kinds.
pub fn layout_string(o: &TcpOptions) -> String {
    let mut b = Vec::with_capacity(32);
    put_layout(&mut b, o.layout.iter().copied(), o.eol_pad);
    String::from_utf8(b).expect("option names are ASCII")
}

/// [`layout_string`] of these kinds appended to `buf` (`eol_pad`: the bytes after EOL).
pub fn put_layout(buf: &mut Vec<u8>, kinds: impl IntoIterator<Item = OptKind>, eol_pad: u8) {
    let mut n = itoa::Buffer::new();
    for (i, k) in kinds.into_iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        match k {
            OptKind::Eol => {
                buf.extend_from_slice(b"eol+");
                buf.extend_from_slice(n.format(eol_pad).as_bytes());
            }
            OptKind::Nop => buf.extend_from_slice(b"nop"),
            OptKind::Mss => buf.extend_from_slice(b"mss"),
            OptKind::Ws => buf.extend_from_slice(b"ws"),
            OptKind::SackOk => buf.extend_from_slice(b"sok"),
            OptKind::Sack => buf.extend_from_slice(b"sack"),
            OptKind::Ts => buf.extend_from_slice(b"ts"),
            OptKind::Unknown(k) => {
                buf.push(b'?');
                buf.extend_from_slice(n.format(k).as_bytes());
            }
        }
    }
}
