//! JSON and text forms of a fingerprint and its verdict (fields added to a SYN /
//! SYN-ACK record's output).

use serde::Serialize;

use super::{
    link_guess, matcher::MatchKind, nmap_options, sig::initial_ttl, Database, Signature, Verdict,
};
use crate::event::Event;

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

pub fn os_json(v: &Verdict<'_>) -> OsJson {
    OsJson {
        label: v.label.map(|l| l.display_name()),
        family: v.family().name(),
        kind: v.kind.name(),
        score: (v.score * 1000.0).round() / 1000.0,
        tool: v.is_tool,
        line: (v.kind != MatchKind::Unknown).then_some(v.line),
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

pub fn tcp_fp_json(db: &Database, ev: &Event, s: &Signature, v: &Verdict<'_>) -> TcpFpJson {
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

/// The text suffix for a record line.
pub fn text_suffix(s: &Signature, v: &Verdict<'_>) -> String {
    let label = v
        .label
        .map_or_else(|| "???".to_string(), |l| l.display_name());
    format!(
        " sig={} {}=\"{}\" match={} score={:.2}",
        s.p0f(),
        if v.is_tool { "tool" } else { "os" },
        label,
        v.kind.name(),
        v.score
    )
}
