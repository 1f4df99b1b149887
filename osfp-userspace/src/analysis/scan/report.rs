//! What scan detection outputs: events (start/end), per-source summaries and counters.
//! Kinds and phases are small fixed sets, fit for metric labels; addresses never are.

use std::net::IpAddr;

use serde::{Serialize, Serializer};
use strum::{EnumCount, EnumIter, IntoEnumIterator, IntoStaticStr};

use super::probe::{ProbeKind, Tool};

/// The kinds of scan reported.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    IntoStaticStr,
    EnumIter,
    EnumCount,
)]
#[serde(into = "&'static str")]
#[strum(serialize_all = "snake_case")]
pub enum ScanKind {
    /// nmap -sS SYNs, or (with handshake completion known) a half-open port sweep.
    SynScan,
    /// A port sweep whose answered handshakes were completed (needs completion records).
    ConnectScan,
    NullScan,
    FinScan,
    XmasScan,
    /// SYN+FIN, SYN+RST, reserved bits, urgent pointer without URG.
    OddFlags,
    OsDetection,
    Masscan,
    Zmap,
    /// Many ports on one host from ordinary-looking SYNs.
    PortSweep,
    /// One port on many hosts from ordinary-looking SYNs.
    HostSweep,
}

impl ScanKind {
    pub fn name(self) -> &'static str {
        self.into()
    }

    pub fn of_probe(p: ProbeKind) -> ScanKind {
        match p {
            ProbeKind::Null => ScanKind::NullScan,
            ProbeKind::Fin => ScanKind::FinScan,
            ProbeKind::Xmas => ScanKind::XmasScan,
            ProbeKind::SynFin | ProbeKind::SynRst | ProbeKind::Reserved | ProbeKind::UrgNoUrg => {
                ScanKind::OddFlags
            }
            ProbeKind::NmapOs => ScanKind::OsDetection,
            ProbeKind::NmapSyn => ScanKind::SynScan,
            ProbeKind::Masscan => ScanKind::Masscan,
            ProbeKind::Zmap => ScanKind::Zmap,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Start,
    End,
}

/// Why a scan ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// No packet from the source for `idle_end_ms`.
    Idle,
    /// The source was evicted from the bounded table.
    Evicted,
    /// End of input (`flush`).
    Flush,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TargetPort {
    pub host: IpAddr,
    pub port: u16,
}

fn secs<S: Serializer>(ns: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(*ns as f64 / 1e9)
}

/// One scan's start or end. Counts cover the scan from its source's first packet of this
/// kind (within the window before the start) up to now.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScanEvent {
    pub phase: Phase,
    pub kind: ScanKind,
    pub tool: Option<Tool>,
    pub src: IpAddr,
    /// Distinct target hosts and ports (lower bounds if `targets_truncated`).
    pub hosts: u32,
    pub ports: u32,
    pub targets_truncated: bool,
    /// Up to `sample_size` targets, lowest first.
    pub sample: Vec<TargetPort>,
    #[serde(rename = "first_ts", serialize_with = "secs")]
    pub first_ns: u64,
    #[serde(rename = "last_ts", serialize_with = "secs")]
    pub last_ns: u64,
    pub packets: u64,
    /// Targets that answered with a SYN-ACK.
    pub answered: u32,
    /// Answered targets whose handshake the scanner completed; `None` while no
    /// completion records are fed (pcap mode today), so half-open is unknown.
    pub completed: Option<u32>,
    /// Answered but never completed (classic half-open), when completion is known.
    pub half_open: Option<u32>,
    pub end_reason: Option<EndReason>,
}

impl ScanEvent {
    /// The NDJSON form: `{"event":"scan",...}`.
    pub fn to_json_line(&self) -> String {
        #[derive(Serialize)]
        struct Line<'a> {
            event: &'static str,
            #[serde(flatten)]
            scan: &'a ScanEvent,
        }
        serde_json::to_string(&Line {
            event: "scan",
            scan: self,
        })
        .expect("scan events serialize")
    }
}

/// One finished (or ongoing) scan of a source, for the per-source table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScanSummary {
    pub kind: ScanKind,
    pub tool: Option<Tool>,
    pub hosts: u32,
    pub ports: u32,
    pub packets: u64,
    #[serde(rename = "first_ts", serialize_with = "secs")]
    pub first_ns: u64,
    #[serde(rename = "last_ts", serialize_with = "secs")]
    pub last_ns: u64,
}

/// A source's scans, for `osfp pcap --summary --json` (`scans` column).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SourceScans {
    pub src: IpAddr,
    pub scans: Vec<ScanSummary>,
}

impl From<&ScanEvent> for ScanSummary {
    fn from(e: &ScanEvent) -> Self {
        ScanSummary {
            kind: e.kind,
            tool: e.tool,
            hosts: e.hosts,
            ports: e.ports,
            packets: e.packets,
            first_ns: e.first_ns,
            last_ns: e.last_ns,
        }
    }
}

/// Folds end events into per-source summaries, sources in address order.
pub fn summarize<'a>(events: impl IntoIterator<Item = &'a ScanEvent>) -> Vec<SourceScans> {
    let mut by_src: std::collections::BTreeMap<IpAddr, Vec<ScanSummary>> = Default::default();
    for e in events.into_iter().filter(|e| e.phase == Phase::End) {
        by_src.entry(e.src).or_default().push(ScanSummary::from(e));
    }
    by_src
        .into_iter()
        .map(|(src, mut scans)| {
            scans.sort_by_key(|s| (s.first_ns, s.kind));
            SourceScans { src, scans }
        })
        .collect()
}

/// Counters by fixed label sets, for metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ScanCounters {
    /// Scans started, by [`ScanKind`] index.
    pub started: [u64; ScanKind::COUNT],
    /// Probes classified, by [`ProbeKind`] index.
    pub probes: [u64; ProbeKind::COUNT],
    /// Sources pushed out of the bounded table.
    pub sources_evicted: u64,
    /// Of those, sources that had a scan in progress.
    pub sources_evicted_active: u64,
    /// Targets not remembered because a source's target table was full.
    pub targets_dropped: u64,
    /// SYN-ACKs and completions for flows we had no state for.
    pub unmatched_answers: u64,
}

impl ScanCounters {
    pub fn started(&self, k: ScanKind) -> u64 {
        self.started[k as usize]
    }
    pub fn probes(&self, p: ProbeKind) -> u64 {
        self.probes[p as usize]
    }
    /// (kind label, scans started) for every kind, zeros included: a fixed label set.
    pub fn started_by_kind(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        ScanKind::iter().map(|k| (k.name(), self.started[k as usize]))
    }
    /// (probe label, probes classified) for every probe kind.
    pub fn probes_by_kind(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        ProbeKind::iter().map(|p| (p.name(), self.probes[p as usize]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(phase: Phase, kind: ScanKind, src: &str, first: u64) -> ScanEvent {
        ScanEvent {
            phase,
            kind,
            tool: Some(Tool::Nmap),
            src: src.parse().unwrap(),
            hosts: 1,
            ports: 3,
            targets_truncated: false,
            sample: vec![TargetPort {
                host: "10.0.0.2".parse().unwrap(),
                port: 22,
            }],
            first_ns: first,
            last_ns: first + 500_000_000,
            packets: 4,
            answered: 1,
            completed: None,
            half_open: None,
            end_reason: (phase == Phase::End).then_some(EndReason::Idle),
        }
    }

    #[test]
    fn json_line_shape() {
        let line = ev(Phase::End, ScanKind::XmasScan, "10.0.0.1", 2_000_000_000).to_json_line();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["event"], "scan");
        assert_eq!(v["phase"], "end");
        assert_eq!(v["kind"], "xmas_scan");
        assert_eq!(v["tool"], "nmap");
        assert_eq!(v["src"], "10.0.0.1");
        assert_eq!(v["first_ts"], 2.0);
        assert_eq!(v["last_ts"], 2.5);
        assert_eq!(v["sample"][0]["port"], 22);
        assert_eq!(v["end_reason"], "idle");
        assert!(v["completed"].is_null());
    }

    #[test]
    fn kind_names_match_serde_and_indexes() {
        for (i, k) in ScanKind::iter().enumerate() {
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
            assert_eq!(k as usize, i);
        }
        for (i, p) in ProbeKind::iter().enumerate() {
            assert_eq!(serde_json::to_value(p).unwrap(), p.name());
            assert_eq!(p as usize, i);
        }
        let mut c = ScanCounters::default();
        c.started[ScanKind::Zmap as usize] = 3;
        let v: Vec<_> = c.started_by_kind().collect();
        assert_eq!(v.len(), ScanKind::COUNT);
        assert!(v.contains(&("zmap", 3)));
        assert_eq!(c.probes_by_kind().count(), ProbeKind::COUNT);
    }

    #[test]
    fn summaries_by_source_from_end_events() {
        let events = [
            ev(Phase::Start, ScanKind::FinScan, "10.0.0.9", 5),
            ev(Phase::End, ScanKind::FinScan, "10.0.0.9", 5),
            ev(Phase::End, ScanKind::SynScan, "10.0.0.9", 1),
            ev(Phase::End, ScanKind::Zmap, "10.0.0.1", 7),
        ];
        let s = summarize(&events);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].src.to_string(), "10.0.0.1");
        let kinds: Vec<_> = s[1].scans.iter().map(|x| x.kind).collect();
        assert_eq!(kinds, [ScanKind::SynScan, ScanKind::FinScan]);
    }
}
