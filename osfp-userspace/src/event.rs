//! The one userspace decoder: a [`PacketRecord`] (from the ring buffer or a file) becomes
//! an [`Event`] with addresses, kind and parsed options. Also its JSON and text forms.

use std::{
    fmt::Write as _,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use osfp_common::{ip_flag, reason, rec_flag, tcp_flag, PacketRecord};
use serde::Serialize;

use crate::options::{self, OptKind, TcpOptions};

/// The primary reason a record exists; `reasons` on the event keeps all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
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

    pub fn name(self) -> &'static str {
        match self {
            Kind::Syn => "syn",
            Kind::Synack => "synack",
            Kind::ScanProbe => "scan_probe",
            Kind::HandshakeAck => "handshake_ack",
            Kind::TsSample => "ts_sample",
        }
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
        let len = (record.opt_len as usize).min(record.options.len());
        let truncated = record.rec_flags & rec_flag::OPTIONS_TRUNCATED != 0;
        Event {
            ts_ns: record.ts_ns,
            kind: Kind::of(record.reason),
            src: addr(record.family, &record.src),
            dst: addr(record.family, &record.dst),
            options: options::parse(&record.options[..len], truncated),
            record: *record,
        }
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

    /// The JSON form: field names are an interface, documented in the README.
    pub fn to_json(&self) -> EventJson {
        let r = &self.record;
        let reasons = [
            (reason::SYN, Kind::Syn),
            (reason::SYNACK, Kind::Synack),
            (reason::SCAN_PROBE, Kind::ScanProbe),
            (reason::TS_SAMPLE, Kind::TsSample),
            (reason::HANDSHAKE_ACK, Kind::HandshakeAck),
        ]
        .into_iter()
        .filter(|(b, _)| r.reason & b != 0)
        .map(|(_, k)| k.name())
        .collect();
        EventJson {
            kind: self.kind.name(),
            reasons,
            ts: self.ts_ns as f64 / 1e9,
            ifindex: r.ifindex,
            ip_version: r.family,
            src: self.src,
            dst: self.dst,
            sport: r.sport,
            dport: r.dport,
            ttl: r.ttl,
            tos: r.tos,
            df: self.df(),
            mf: r.ip_flags & ip_flag::MF != 0,
            ip_id: r.ip_id,
            ip_len: r.ip_len,
            ip_opt_len: r.ip_opt_len,
            flow_label: r.flow_label,
            seq: r.seq,
            ack: r.ack,
            flags: flags_string(r.tcp_flags),
            flags_raw: r.tcp_flags,
            window: r.window,
            urg_ptr: r.urg_ptr,
            payload_len: r.payload_len,
            doff: r.doff,
            mss: self.options.mss,
            wscale: self.options.wscale,
            sack_ok: self.options.sack_permitted,
            tsval: self.options.timestamp.map(|t| t.0),
            tsecr: self.options.timestamp.map(|t| t.1),
            options: layout_string(&self.options),
            eol_pad: self.options.eol_pad,
            options_malformed: self.options.malformed.map(|p| p.name()),
            options_hex: hex(&r.options[..(r.opt_len as usize).min(40)]),
            signature: None,
            os: None,
            tcp_fp: None,
        }
    }

    /// One human-readable line.
    pub fn to_text(&self) -> String {
        let r = &self.record;
        let mut s = String::with_capacity(160);
        let _ = write!(
            s,
            "{} {:<10} {} -> {} ttl={} win={} flags={}",
            humantime::format_rfc3339_micros(
                std::time::UNIX_EPOCH + std::time::Duration::from_nanos(self.ts_ns)
            ),
            self.kind.name(),
            sock(self.src, r.sport),
            sock(self.dst, r.dport),
            r.ttl,
            r.window,
            flags_string(r.tcp_flags),
        );
        if self.df() {
            s.push_str(" df");
        }
        let o = &self.options;
        if let Some(m) = o.mss {
            let _ = write!(s, " mss={m}");
        }
        if let Some(w) = o.wscale {
            let _ = write!(s, " ws={w}");
        }
        if let Some((v, e)) = o.timestamp {
            let _ = write!(s, " ts={v}/{e}");
        }
        let _ = write!(s, " opts={}", layout_string(o));
        if let Some(p) = o.malformed {
            let _ = write!(s, " malformed={}", p.name());
        }
        s
    }
}

fn sock(a: IpAddr, port: u16) -> String {
    match a {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// tcpdump's letters: F S R P A U E C, then N for AE (ex-NS) and X for reserved bits.
pub fn flags_string(f: u16) -> String {
    let mut s = String::with_capacity(10);
    for (bit, c) in [
        (tcp_flag::FIN, 'F'),
        (tcp_flag::SYN, 'S'),
        (tcp_flag::RST, 'R'),
        (tcp_flag::PSH, 'P'),
        (tcp_flag::ACK, 'A'),
        (tcp_flag::URG, 'U'),
        (tcp_flag::ECE, 'E'),
        (tcp_flag::CWR, 'C'),
        (tcp_flag::AE, 'N'),
    ] {
        if f & bit != 0 {
            s.push(c);
        }
    }
    if f & tcp_flag::RESERVED != 0 {
        s.push('X');
    }
    if s.is_empty() {
        s.push('.');
    }
    s
}

/// Option layout in p0f's notation: `mss,nop,ws,sok,ts`, `eol+N`, `?N` for unknown kinds.
pub fn layout_string(o: &TcpOptions) -> String {
    let mut s = String::with_capacity(32);
    for (i, k) in o.layout.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        match k {
            OptKind::Eol => {
                let _ = write!(s, "eol+{}", o.eol_pad);
            }
            OptKind::Nop => s.push_str("nop"),
            OptKind::Mss => s.push_str("mss"),
            OptKind::Ws => s.push_str("ws"),
            OptKind::SackOk => s.push_str("sok"),
            OptKind::Sack => s.push_str("sack"),
            OptKind::Ts => s.push_str("ts"),
            OptKind::Unknown(n) => {
                let _ = write!(s, "?{n}");
            }
        }
    }
    s
}

fn hex(b: &[u8]) -> String {
    // By table, not `write!`: the formatter was a visible share of JSON output time.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(DIGITS[(x >> 4) as usize] as char);
        s.push(DIGITS[(x & 15) as usize] as char);
    }
    s
}

/// Serialized form of an [`Event`].
#[derive(Serialize)]
pub struct EventJson {
    pub kind: &'static str,
    pub reasons: Vec<&'static str>,
    pub ts: f64,
    pub ifindex: u32,
    pub ip_version: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub ttl: u8,
    pub tos: u8,
    pub df: bool,
    pub mf: bool,
    pub ip_id: u32,
    pub ip_len: u16,
    pub ip_opt_len: u8,
    pub flow_label: u32,
    pub seq: u32,
    pub ack: u32,
    pub flags: String,
    pub flags_raw: u16,
    pub window: u16,
    pub urg_ptr: u16,
    pub payload_len: u16,
    pub doff: u8,
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_ok: bool,
    pub tsval: Option<u32>,
    pub tsecr: Option<u32>,
    pub options: String,
    pub eol_pad: u8,
    pub options_malformed: Option<&'static str>,
    pub options_hex: String,
    /// p0f v3 signature (SYN / SYN-ACK, when fingerprinting).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The database verdict for `signature`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<crate::fingerprint::json::OsJson>,
    /// TTL guess, hops, MTU/link guess, nmap's O and W.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_fp: Option<crate::fingerprint::json::TcpFpJson>,
}
