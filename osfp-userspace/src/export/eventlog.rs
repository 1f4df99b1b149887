//! The NDJSON event log of `osfp run`: what changed about a source, one line each —
//! a new verdict, an unknown fingerprint, scan start and end, SYN flood start and end,
//! several hosts behind an address, a first clock estimate. To a file (reopened on SIGHUP, for logrotate) or
//! stdout.
//!
//! Verdicts and unknown fingerprints are noticed per packet from the source table's
//! counts (a count of 1 is a first sighting); hosts and clocks need the clock analysis
//! and are found by [`Watch::sweep`], run every few seconds.

use std::{
    collections::{HashMap, HashSet},
    fs::OpenOptions,
    io::{self, BufWriter, Write},
    net::IpAddr,
    path::PathBuf,
};

use serde::Serialize;
use strum::{EnumCount, EnumIter, IntoStaticStr};

use super::{
    output::StdoutPipe,
    record::{os_json, OsJson},
};
use crate::{
    analysis::{
        clock::{hosts::Hosts, ClockReport},
        fingerprint::{Database, MatchKind, Signature, StoredVerdict, Verdict},
        flood::FloodEvent,
        scan::ScanEvent,
    },
    decode::Event,
    pipeline::ClockEstimates,
    sources::{same_sig, SourceTable},
};

/// The kinds of line, a fixed set (the `event` field and the metric's label values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, IntoStaticStr, EnumIter, EnumCount)]
#[serde(into = "&'static str")]
#[strum(serialize_all = "snake_case")]
pub enum LogKind {
    Verdict,
    UnknownFingerprint,
    Scan,
    Hosts,
    Clock,
    SynFlood,
}

impl LogKind {
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// Where the event log goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTarget {
    Stdout,
    File(PathBuf),
}

pub struct EventLog {
    target: LogTarget,
    out: Sink,
    /// Lines written, by [`LogKind`] (on stdout, also those dropped later).
    pub written: [u64; LogKind::COUNT],
    /// Lines that could not be written.
    pub errors: u64,
    /// Verdict lines not written: one-packet sources during a SYN flood (millions of
    /// spoofed addresses, each "new"; the flood's own line says what happened).
    pub suppressed: u64,
    /// Lines dropped by the logs this one replaced (see [`Self::carry_over`]).
    dropped_before: u64,
}

/// A file is written on the consumer thread (a disk does not stop reading); stdout
/// through the records' writer thread and bounded queue, as a reader of a pipe can.
enum Sink {
    File(BufWriter<std::fs::File>),
    Stdout(StdoutPipe),
}

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Sink::File(f) => f.write(b),
            Sink::Stdout(p) => p.write(b),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::File(f) => f.flush(),
            Sink::Stdout(p) => p.flush(),
        }
    }
}

fn open(target: &LogTarget) -> io::Result<Sink> {
    Ok(match target {
        LogTarget::Stdout => Sink::Stdout(StdoutPipe::new()),
        LogTarget::File(p) => Sink::File(BufWriter::new(
            OpenOptions::new().create(true).append(true).open(p)?,
        )),
    })
}

#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    ts: f64,
    event: LogKind,
    #[serde(flatten)]
    body: &'a T,
}

impl EventLog {
    pub fn open(target: LogTarget) -> io::Result<EventLog> {
        let out = open(&target)?;
        Ok(EventLog {
            target,
            out,
            written: [0; LogKind::COUNT],
            errors: 0,
            suppressed: 0,
            dropped_before: 0,
        })
    }

    pub fn target(&self) -> &LogTarget {
        &self.target
    }

    /// Closes and opens the file again by name (after logrotate moved it); stdout stays.
    pub fn reopen(&mut self) -> io::Result<()> {
        self.flush();
        if let LogTarget::File(_) = self.target {
            self.out = open(&self.target)?;
        }
        Ok(())
    }

    /// Lines a slow reader of stdout did not take (the writer thread's queue was full).
    pub fn dropped(&self) -> u64 {
        self.dropped_before
            + match &self.out {
                Sink::Stdout(p) => p.dropped_lines,
                Sink::File(_) => 0,
            }
    }

    /// Takes over the counts of the log this one replaces (a reload to another target):
    /// the metrics count on from the totals.
    pub fn carry_over(&mut self, old: &EventLog) {
        for (n, o) in self.written.iter_mut().zip(old.written) {
            *n += o;
        }
        self.errors += old.errors;
        self.suppressed += old.suppressed;
        self.dropped_before += old.dropped();
    }

    /// One line `{"ts":..,"event":kind,...body}`; `ts` is Unix seconds.
    pub fn write(&mut self, ts_ns: u64, kind: LogKind, body: &impl Serialize) {
        let line = Line {
            ts: ts_ns as f64 / 1e9,
            event: kind,
            body,
        };
        let ok = serde_json::to_writer(&mut self.out, &line).is_ok()
            && self.out.write_all(b"\n").is_ok();
        match ok {
            true => self.written[kind as usize] += 1,
            false => self.errors += 1,
        }
    }

    pub fn scan(&mut self, ts_ns: u64, e: &ScanEvent) {
        self.write(ts_ns, LogKind::Scan, e);
    }

    pub fn flood(&mut self, ts_ns: u64, e: &FloodEvent) {
        self.write(ts_ns, LogKind::SynFlood, e);
    }

    pub fn flush(&mut self) {
        if self.out.flush().is_err() {
            self.errors += 1;
        }
    }
}

/// A first verdict of a kind for a source, or an unknown signature new for it.
#[derive(Serialize)]
pub struct VerdictLine {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub dport: u16,
    pub direction: &'static str,
    pub signature: String,
    pub os: OsJson,
}

/// A fingerprinted packet's signature and verdict, copied (no allocation) before the
/// pipeline is used again: a line is built only when one is written.
pub struct Seen {
    pub sig: Signature,
    pub verdict: StoredVerdict,
}

impl Seen {
    pub fn new(sig: &Signature, v: &Verdict<'_>) -> Seen {
        Seen {
            sig: *sig,
            verdict: v.stored(),
        }
    }
}

/// What to log for a fingerprinted packet, after the table counted it: the first
/// time a (label, match) pair is seen for its source (`verdict`), or, for an unknown
/// one, the first time its signature is seen for its source (`unknown_fingerprint`).
pub fn fingerprinted(
    table: &SourceTable,
    db: &Database,
    ev: &Event,
    seen: Seen,
) -> Option<(LogKind, VerdictLine)> {
    let s = table.get(&ev.src)?;
    let v = seen.verdict;
    let first = if v.kind == MatchKind::Unknown {
        s.os.sigs
            .iter()
            .any(|c| c.count == 1 && same_sig(&c.sig, &seen.sig))
    } else {
        s.os.verdicts
            .iter()
            .any(|c| c.count == 1 && c.label == v.label && c.kind == v.kind)
    };
    first.then(|| {
        let kind = match v.kind {
            MatchKind::Unknown => LogKind::UnknownFingerprint,
            _ => LogKind::Verdict,
        };
        let line = VerdictLine {
            src: ev.src,
            dst: ev.dst,
            dport: ev.record.dport,
            direction: if ev.is_syn() { "syn" } else { "synack" },
            signature: seen.sig.p0f().to_string(),
            // The nearest candidates of an unknown one are found here, for this line.
            os: os_json(&v.resolve(db).with_candidates(db, &seen.sig)),
        };
        (kind, line)
    })
}

#[derive(Serialize)]
pub struct HostsLine<'a> {
    pub src: IpAddr,
    #[serde(flatten)]
    pub hosts: &'a Hosts,
}

#[derive(Serialize)]
pub struct ClockLine<'a> {
    pub src: IpAddr,
    pub clock: &'a ClockReport,
}

/// What was already logged per source for the swept kinds (bounded: only sources still
/// in the table are kept).
#[derive(Default)]
pub struct Watch {
    reported: HashMap<IpAddr, Reported>,
    /// Sources with several machines behind them at the last sweep.
    multi: HashSet<IpAddr>,
}

#[derive(Default, Clone, Copy)]
struct Reported {
    hosts: u32,
    clock: bool,
}

impl Watch {
    /// Sources with several machines behind them, as of the last sweep.
    pub fn multiple_hosts(&self) -> &HashSet<IpAddr> {
        &self.multi
    }

    /// Runs every source's clock analysis once: returns the counts for the metrics and,
    /// with a log, writes `hosts` when more machines are seen behind an address than
    /// were last logged, and `clock` for a source's first rate estimate. The whole table
    /// at once; `osfp run` goes in steps ([`Watch::sweep_step`]).
    pub fn sweep(
        &mut self,
        table: &SourceTable,
        now_ns: u64,
        mut log: Option<&mut EventLog>,
    ) -> ClockEstimates {
        let mut sw = ClockSweep::default();
        while !self.sweep_step(&mut sw, table, now_ns, log.as_deref_mut(), usize::MAX) {}
        self.finish_sweep(sw, table, log)
    }

    /// The next step of a sweep: the sources of up to `max_slots` table slots from
    /// where the last step ended. True when the table is done (then
    /// [`Watch::finish_sweep`]). Between steps the table may change: a source that
    /// stays in it is analysed once, one that comes in meanwhile may wait for the next
    /// sweep ([`SourceTable::slot`]).
    pub fn sweep_step(
        &mut self,
        sw: &mut ClockSweep,
        table: &SourceTable,
        now_ns: u64,
        mut log: Option<&mut EventLog>,
        max_slots: usize,
    ) -> bool {
        let end = sw.next_slot.saturating_add(max_slots).min(table.slots());
        for i in sw.next_slot..end {
            let Some((src, s)) = table.slot(i) else {
                continue;
            };
            let Some(c) = &s.clock else { continue };
            let sum = c.summary();
            sw.estimates.count(&sum);
            if sum.hosts.count > 1 {
                sw.multi.insert(src);
            }
            let Some(log) = log.as_deref_mut() else {
                continue;
            };
            let r = self.reported.entry(src).or_default();
            if sum.hosts.count > 1 && sum.hosts.count > r.hosts {
                r.hosts = sum.hosts.count;
                log.write(
                    now_ns,
                    LogKind::Hosts,
                    &HostsLine {
                        src,
                        hosts: &sum.hosts,
                    },
                );
            }
            if sum.clock.hz_raw.is_some() && !r.clock {
                r.clock = true;
                log.write(
                    now_ns,
                    LogKind::Clock,
                    &ClockLine {
                        src,
                        clock: &sum.clock,
                    },
                );
            }
        }
        sw.next_slot = end;
        end >= table.slots()
    }

    /// Ends a sweep: its several-hosts set replaces the last one (the API's filter),
    /// what was logged is forgotten for sources no longer in the table, and the counts
    /// for the metrics are returned.
    pub fn finish_sweep(
        &mut self,
        sw: ClockSweep,
        table: &SourceTable,
        log: Option<&mut EventLog>,
    ) -> ClockEstimates {
        self.multi = sw.multi;
        self.reported.retain(|a, _| table.get(a).is_some());
        if let Some(log) = log {
            log.flush();
        }
        sw.estimates
    }
}

/// A clock sweep under way ([`Watch::sweep_step`]).
#[derive(Default)]
pub struct ClockSweep {
    next_slot: usize,
    estimates: ClockEstimates,
    multi: HashSet<IpAddr>,
}
