//! A record's line, built in one place from the event and, for a fingerprinted SYN /
//! SYN-ACK, its signature and verdict: the JSON object (field names are an interface,
//! documented in the README) and the human-readable text.

use std::{fmt::Write as _, net::IpAddr};

use osfp_common::ip_flag;
use serde::Serialize;

use crate::{
    analysis::fingerprint::{
        initial_ttl, link_guess, nmap_options, Database, MatchKind, Signature, Verdict,
    },
    decode::{flags_string, layout_string, Event},
};

/// A fingerprinted SYN / SYN-ACK's part of its line.
#[derive(Clone, Copy)]
pub struct Fingerprinted<'a> {
    pub db: &'a Database,
    pub sig: &'a Signature,
    pub verdict: &'a Verdict<'a>,
}

/// The JSON object of one record.
#[derive(Serialize)]
pub struct RecordJson {
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
    pub os: Option<OsJson>,
    /// TTL guess, hops, MTU/link guess, nmap's O and W.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_fp: Option<TcpFpJson>,
    /// FoxIO's JA4T of a SYN (feature `ja4t`).
    #[cfg(feature = "ja4t")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja4t: Option<String>,
    /// FoxIO's JA4TS of a SYN-ACK (feature `ja4t`).
    #[cfg(feature = "ja4t")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja4ts: Option<String>,
}

/// `os` of a record.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct OsJson {
    /// `name flavor`; null when unknown.
    pub label: Option<String>,
    pub family: &'static str,
    #[serde(rename = "match")]
    pub kind: &'static str,
    pub score: f32,
    /// Present (true) when the label is a tool or application (`!`), not an OS.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tool: bool,
    /// Database line of the matching signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Inferred verdicts: the classifier's probability of the family.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p: Option<f32>,
    /// The middlebox rewrites undone to reach the match (`ts_nop`, `ts_zero`,
    /// `mss_clamp`, `ws_strip`, `ws_rewrite`, `win_rewrite`, `ttl_rewrite`,
    /// `ecn_bleach`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub middlebox: Vec<&'static str>,
    /// Nearest labels for an unknown signature.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<CandidateJson>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CandidateJson {
    pub label: String,
    pub family: &'static str,
    pub score: f32,
    pub line: u32,
}

/// `tcp_fp` of a record: what the signature says beyond the match.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TcpFpJson {
    /// Initial TTL guess (32, 64, 128, 255).
    pub ittl: u8,
    /// Hop distance (from the matched signature when in range, else guessed).
    pub hops: u8,
    /// MTU implied by the MSS, and its `[mtu]` label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// nmap's O (options) and W (window, hex) test values.
    pub nmap_o: String,
    pub nmap_w: String,
}

impl RecordJson {
    /// The record of `ev`; with `fp`, its signature, verdict (nearest candidates found
    /// here, for printed verdicts only) and TCP fingerprint facts.
    pub fn new(ev: &Event, fp: Option<Fingerprinted<'_>>) -> RecordJson {
        let r = &ev.record;
        let reasons = osfp_common::reason::NAMES
            .iter()
            .enumerate()
            .filter(|(bit, _)| r.reason & (1 << bit) != 0)
            .map(|(_, name)| *name)
            .collect();
        RecordJson {
            kind: ev.kind.name(),
            reasons,
            ts: ev.ts_ns as f64 / 1e9,
            ifindex: r.ifindex,
            ip_version: r.family,
            src: ev.src,
            dst: ev.dst,
            sport: r.sport,
            dport: r.dport,
            ttl: r.ttl,
            tos: r.tos,
            df: ev.df(),
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
            mss: ev.options.mss,
            wscale: ev.options.wscale,
            sack_ok: ev.options.sack_permitted,
            tsval: ev.options.timestamp.map(|t| t.0),
            tsecr: ev.options.timestamp.map(|t| t.1),
            options: layout_string(&ev.options),
            eol_pad: ev.options.eol_pad,
            options_malformed: ev.options.malformed.map(|p| p.name()),
            options_hex: hex(&r.options[..(r.opt_len as usize).min(40)]),
            signature: fp.map(|f| f.sig.p0f().to_string()),
            os: fp.map(|f| os_json(&f.verdict.with_candidates(f.db, f.sig))),
            tcp_fp: fp.map(|f| tcp_fp_json(f.db, ev, f.sig, f.verdict)),
            #[cfg(feature = "ja4t")]
            ja4t: fp
                .filter(|_| ev.is_syn())
                .map(|_| crate::analysis::ja4t::ja4t(r)),
            #[cfg(feature = "ja4t")]
            ja4ts: fp
                .filter(|_| !ev.is_syn())
                .map(|_| crate::analysis::ja4t::ja4t(r)),
        }
    }
}

pub fn os_json(v: &Verdict<'_>) -> OsJson {
    OsJson {
        label: v.label.map(|l| l.display_name()),
        family: v.family().name(),
        kind: v.kind.name(),
        score: (v.score * 1000.0).round() / 1000.0,
        tool: v.is_tool,
        line: (!matches!(v.kind, MatchKind::Unknown | MatchKind::Inferred)).then_some(v.line),
        p: v.p.map(|p| (p * 1000.0).round() / 1000.0),
        middlebox: v.middlebox.iter().map(|k| k.name()).collect(),
        candidates: v
            .candidates
            .iter()
            .flatten()
            .map(|c| CandidateJson {
                label: c.label.display_name(),
                family: c.label.family.name(),
                score: (c.score * 1000.0).round() / 1000.0,
                line: c.line,
            })
            .collect(),
    }
}

fn tcp_fp_json(db: &Database, ev: &Event, s: &Signature, v: &Verdict<'_>) -> TcpFpJson {
    let link = link_guess(db, s);
    TcpFpJson {
        ittl: initial_ttl(s.ttl),
        hops: v.dist,
        mtu: link.map(|l| l.0),
        link: link.and_then(|l| l.1.map(str::to_string)),
        nmap_o: nmap_options(&ev.options),
        nmap_w: format!("{:X}", s.win),
    }
}

/// One human-readable line; with `fp`, the signature and verdict at its end.
pub fn text_line(ev: &Event, fp: Option<Fingerprinted<'_>>) -> String {
    let r = &ev.record;
    let mut s = String::with_capacity(160);
    let _ = write!(
        s,
        "{} {:<10} {} -> {} ttl={} win={} flags={}",
        humantime::format_rfc3339_micros(
            std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ev.ts_ns)
        ),
        ev.kind.name(),
        sock(ev.src, r.sport),
        sock(ev.dst, r.dport),
        r.ttl,
        r.window,
        flags_string(r.tcp_flags),
    );
    if ev.df() {
        s.push_str(" df");
    }
    let o = &ev.options;
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
    if let Some(f) = fp {
        let v = f.verdict;
        let label = v
            .label
            .map_or_else(|| "???".to_string(), |l| l.display_name());
        let _ = write!(
            s,
            " sig={} {}=\"{}\" match={} score={:.2}",
            f.sig.p0f(),
            if v.is_tool { "tool" } else { "os" },
            label,
            v.kind.name(),
            v.score
        );
        if !v.middlebox.is_empty() {
            let kinds: Vec<&str> = v.middlebox.iter().map(|k| k.name()).collect();
            let _ = write!(s, " middlebox={}", kinds.join(","));
        }
    }
    s
}

fn sock(a: IpAddr, port: u16) -> String {
    match a {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
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
