//! The JSON form of a source (`osfp pcap --summary --json`, the API) and the family a
//! source is counted under.

use std::net::IpAddr;

use arrayvec::ArrayVec;
use serde::Serialize;

use super::table::{SourceState, MAX_SIGS, MAX_VERDICTS};
use crate::analysis::{
    clock::{hosts::Hosts, ClockReport, IpIdReport},
    fingerprint::{initial_ttl, Database, Direction, Family},
    scan::report::ScanSummary,
};

/// The family of a source's own stack (what `osfp_sources` counts and the API filters
/// on): that of its most frequent verdict that is not a tool's (nmap, masscan, ...:
/// a program's packets say nothing of the host's OS); on a tie a labelled verdict wins
/// over an unknown one. A source seen only through tool signatures is `tool`.
pub fn source_family(s: &SourceState, db: &Database) -> Family {
    let tool = |v: &&super::table::VerdictCount| v.label.is_some_and(|id| db.label(id).is_tool());
    match s
        .os
        .verdicts
        .iter()
        .filter(|v| !tool(v))
        .max_by_key(|v| (v.count, v.label.is_some()))
    {
        Some(v) => v.label.map_or(Family::Unknown, |id| db.label(id).family),
        None if s.os.verdicts.iter().any(|v| tool(&v)) => Family::Tool,
        None => Family::Unknown,
    }
}

/// The JSON summary of one source.
#[derive(Serialize)]
pub struct SourceJson {
    pub src: IpAddr,
    pub first_seen: f64,
    pub last_seen: f64,
    pub packets: u64,
    pub os: Vec<SourceOsJson>,
    /// Tool and application signatures the source's packets matched (`NMap SYN scan`,
    /// `masscan SYN scan`...), in the order first seen: it uses these tools; its own
    /// family comes from its other verdicts.
    pub tools: Vec<String>,
    pub hops: Vec<(u8, u64)>,
    pub signatures: Vec<SourceSigJson>,
    /// More than one OS name or more than one initial TTL in one direction: several
    /// hosts may share this address.
    pub nat_hint: bool,
    /// Distinct values that did not fit the bounded lists.
    pub overflow: u64,
    /// TSval clock, machines behind the address, IP ID behaviour (null without any
    /// clock event).
    pub clock: Option<ClockReport>,
    pub hosts: Option<Hosts>,
    pub ip_id: Option<IpIdReport>,
    /// Scans that ended, oldest first; `scans_dropped` more did not fit.
    pub scans: Vec<ScanSummary>,
    pub scans_dropped: u64,
}

#[derive(Serialize)]
pub struct SourceOsJson {
    pub label: Option<String>,
    pub family: &'static str,
    #[serde(rename = "match")]
    pub kind: &'static str,
    pub tool: bool,
    pub count: u64,
}

#[derive(Serialize)]
pub struct SourceSigJson {
    pub direction: &'static str,
    pub sig: String,
    pub count: u64,
}

impl SourceState {
    pub fn to_json(&self, src: IpAddr, db: &Database) -> SourceJson {
        let os = &self.os;
        let mut names: ArrayVec<&str, MAX_VERDICTS> = ArrayVec::new();
        for v in &os.verdicts {
            if let Some(l) = v.label.map(|i| db.label(i)) {
                if !l.is_tool() && !names.contains(&l.name.as_str()) {
                    names.push(&l.name);
                }
            }
        }
        let mut ttls: ArrayVec<(Direction, u8), MAX_SIGS> = ArrayVec::new();
        for s in &os.sigs {
            let t = (s.sig.dir, initial_ttl(s.sig.ttl));
            if !ttls.contains(&t) {
                ttls.push(t);
            }
        }
        let ttl_split = [Direction::Request, Direction::Response]
            .iter()
            .any(|d| ttls.iter().filter(|t| t.0 == *d).count() > 1);
        let clock = self.clock.as_ref().map(|c| c.summary());
        let mut tools: Vec<String> = Vec::new();
        for l in os
            .verdicts
            .iter()
            .filter_map(|v| v.label.map(|i| db.label(i)))
        {
            let name = l.display_name();
            if l.is_tool() && !tools.contains(&name) {
                tools.push(name);
            }
        }
        SourceJson {
            src,
            first_seen: self.first_ns as f64 / 1e9,
            last_seen: self.last_ns as f64 / 1e9,
            packets: self.packets,
            os: os
                .verdicts
                .iter()
                .map(|v| {
                    let l = v.label.map(|i| db.label(i));
                    SourceOsJson {
                        label: l.map(|l| l.display_name()),
                        family: l.map_or("unknown", |l| l.family.name()),
                        kind: v.kind.name(),
                        tool: l.is_some_and(|l| l.is_tool()),
                        count: v.count,
                    }
                })
                .collect(),
            tools,
            hops: os.hops.to_vec(),
            signatures: os
                .sigs
                .iter()
                .map(|s| SourceSigJson {
                    direction: match s.sig.dir {
                        Direction::Request => "syn",
                        Direction::Response => "synack",
                    },
                    sig: s.sig.p0f().to_string(),
                    count: s.count,
                })
                .collect(),
            nat_hint: names.len() > 1 || ttl_split,
            overflow: os.overflow,
            clock: clock.as_ref().map(|c| c.clock.clone()),
            hosts: clock.as_ref().map(|c| c.hosts.clone()),
            ip_id: clock.map(|c| c.ip_id),
            scans: self.scans().to_vec(),
            scans_dropped: self.scans_dropped,
        }
    }
}
