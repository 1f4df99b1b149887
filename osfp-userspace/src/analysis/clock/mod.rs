//! Clocks of one source address: per-connection TSval rate fits, the source's offset
//! policy, the machines behind the address, and its IP ID behaviour.
//!
//! Everything is keyed by capture time (`Event::ts_ns`), never by processing time, so
//! a pcap replay and a live capture give the same estimates. Memory per source is
//! bounded by [`ClockConfig`] (under 15 KB with the defaults, see
//! [`ClockTracker::memory_bound`]).
//!
//! Wiring: one [`ClockTracker`] per source address (route by `Event::src`), call
//! [`ClockTracker::observe`] for every event of that source, and
//! [`ClockTracker::summary`] when reporting (it serializes to the issue's `clock`,
//! `hosts` and `ip_id` objects).
//!
//! A connection is one direction of a 4-tuple: the SYN (or the SYN-ACK, for the
//! answering side) starts its TSval series, `ts_sample` records of the same direction
//! extend it. Scan-like probes are a tool's packets and are skipped (counted).

pub mod fit;
pub mod hosts;
pub mod policy;

use std::{collections::VecDeque, net::IpAddr};

use serde::Serialize;

use crate::{
    analysis::ipid::{IpIdClass, IpIdSeq},
    decode::{Event, Kind},
};
use fit::{robust_line, Fit, Series};
use hosts::{cluster, top_ports, Basis, Hosts, Machine};
use policy::{decide, evidence, ConnLine, Evidence, OffsetPolicy};

/// Caps of one source's state.
#[derive(Clone, Copy, Debug)]
pub struct ClockConfig {
    /// Connections with a live series; the least recently seen is retired beyond this.
    pub max_connections: usize,
    /// Retired connections kept as compact summaries; the oldest is dropped beyond.
    pub max_finished: usize,
    /// TSval points kept per connection.
    pub max_samples: usize,
    /// Ports listed per machine.
    pub max_ports: usize,
}

impl Default for ClockConfig {
    fn default() -> Self {
        ClockConfig {
            max_connections: 16,
            max_finished: 64,
            max_samples: 16,
            max_ports: 8,
        }
    }
}

/// Least quality for a connection's rate to count when it is a common rate; an odd
/// rate needs 0.5.
const MIN_QUALITY: f64 = 0.1;

/// Connection identity from the source's side: peer and both ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnKey {
    pub peer: IpAddr,
    pub sport: u16,
    pub dport: u16,
}

struct Conn {
    key: ConnKey,
    /// The source answered (SYN-ACK): it serves `sport`; otherwise it uses `dport`.
    server: bool,
    first_ns: u64,
    last_ns: u64,
    series: Option<Series>,
    ipid: IpIdSeq,
}

/// A connection reduced to what the cross-connection analysis needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConnClock {
    pub key: ConnKey,
    pub port: u16,
    pub first_ns: u64,
    pub last_ns: u64,
    /// TSval at `first_ns`: from the fitted line at a common rate (through its least
    /// delayed point; unwrapped, may exceed 2^32), the first TSval seen otherwise.
    pub tsval_at_first: f64,
    pub fit: Option<Fit>,
    pub ipid_class: Option<IpIdClass>,
    pub ipids: u32,
}

impl ConnClock {
    /// When this connection's clock read zero (unix seconds) at `hz`: capture time
    /// minus TSval/hz. The boot time only if the source's offsets are boot-relative.
    pub fn zero_time(&self, hz: f64) -> f64 {
        self.first_ns as f64 / 1e9 - self.tsval_at_first / hz
    }
}

impl Conn {
    fn snapshot(&self) -> Option<ConnClock> {
        let s = self.series.as_ref()?;
        let fit = s.fit();
        let t0 = s.tsval0 as f64;
        Some(ConnClock {
            key: self.key,
            port: if self.server {
                self.key.sport
            } else {
                self.key.dport
            },
            first_ns: s.t0_ns,
            last_ns: s.last_ns,
            // At a common rate, place the line by its least delayed point; otherwise
            // the rate is uncertain and the first TSval itself is the best anchor.
            tsval_at_first: match fit {
                Some(f) if f.snapped => t0 + s.envelope_y0(f.hz, f.y0),
                _ => t0,
            },
            fit,
            ipid_class: self.ipid.class(),
            ipids: self.ipid.len(),
        })
    }
}

/// Problems and events counted per source: nothing is dropped silently.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClockCounters {
    pub events: u64,
    /// Scan-like probes are a tool's packets, not the host's stack: not analysed.
    pub scan_probes_skipped: u64,
    /// Events without a timestamp option.
    pub no_timestamp: u64,
    /// TSval 0 (old stacks put it in SYNs; nmap's TS=0): not a clock reading, skipped.
    pub zero_tsval: u64,
    /// A SYN/SYN-ACK on a known 4-tuple whose TSval did not continue the series.
    pub restarted: u64,
    /// Live connections retired to make room.
    pub evicted: u64,
    /// Retired summaries dropped (oldest first) at the cap.
    pub finished_dropped: u64,
}

/// Per-source clock and IP ID state.
pub struct ClockTracker {
    cfg: ClockConfig,
    conns: Vec<Conn>,
    finished: VecDeque<ConnClock>,
    ipid: IpIdSeq,
    /// SYN and SYN-ACK IDs only: the analogue of nmap's TI (its SYN probes' answers).
    handshake_ipid: IpIdSeq,
    last_ns: u64,
    pub counters: ClockCounters,
}

/// The summary's `clock` object.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClockReport {
    /// Snapped rate (a common rate), if the raw rate is close to one.
    pub hz: Option<f64>,
    pub hz_raw: Option<f64>,
    pub quality: f64,
    pub offset_policy: OffsetPolicy,
    /// Unix seconds when the clock read zero; only for boot-relative clocks.
    /// Ambiguous by multiples of 2^32/hz (49.7 days at 1000 Hz): the most recent
    /// candidate is given. Linux before 4.13 sent jiffies, which start 300 s below
    /// zero (INITIAL_JIFFIES): such hosts booted about 5 minutes before this, and a
    /// TSval within the last 300 s of ticks before the wrap is taken to be that (a
    /// host in its first 5 minutes) and corrected, see [`jiffies_boot`]. A clock that
    /// stops while the machine sleeps moves it later by the time slept.
    pub boot_time: Option<f64>,
    /// Seconds from `boot_time` to the last event seen.
    pub uptime: Option<f64>,
    /// Connections with timestamps analysed.
    pub connections: u32,
    pub evidence: Evidence,
}

/// The summary's `ip_id` object.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IpIdReport {
    /// nmap class over everything the source sent, in capture order.
    pub class: Option<IpIdClass>,
    /// IDs per second for counter-like sequences.
    pub rate: Option<f64>,
    pub samples: u32,
    /// The most common class within single connections (three or more IDs each).
    pub per_flow_class: Option<IpIdClass>,
    /// Class of the SYN and SYN-ACK IDs alone, comparable to nmap's TI (Linux sends
    /// 0 in DF SYN-ACKs: Z, as nmap's Linux entries say).
    pub handshake_class: Option<IpIdClass>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClockSummary {
    pub clock: ClockReport,
    pub hosts: Hosts,
    pub ip_id: IpIdReport,
}

/// A rate group: connections whose fitted rates agree within 5 %.
struct Group {
    hz: f64,
    snapped: bool,
    raws: Vec<f64>,
    qualities: Vec<f64>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

impl ClockTracker {
    pub fn new(cfg: ClockConfig) -> Self {
        // Collections grow on demand (to at most the next power of two of their cap):
        // most sources send one or two packets, and a big up-front allocation per
        // source cost page faults and allocator time on captures of many sources.
        ClockTracker {
            cfg,
            conns: Vec::new(),
            finished: VecDeque::new(),
            ipid: IpIdSeq::default(),
            handshake_ipid: IpIdSeq::default(),
            last_ns: 0,
            counters: ClockCounters::default(),
        }
    }

    /// Forgets everything (as [`Self::new`] with the same config) but keeps the
    /// collections' capacity, so a table can reuse an evicted source's tracker.
    pub fn reset(&mut self) {
        self.conns.clear();
        self.finished.clear();
        self.ipid = IpIdSeq::default();
        self.handshake_ipid = IpIdSeq::default();
        self.last_ns = 0;
        self.counters = ClockCounters::default();
    }

    /// Feeds one event of this source (the caller routes by `ev.src`).
    pub fn observe(&mut self, ev: &Event) {
        // A bare handshake completion is the scan stage's (half-open accounting): not a
        // sample the rate limit chose, and right behind the SYN it would weigh the
        // connection's start twice.
        if ev.record.reason == osfp_common::reason::HANDSHAKE_ACK {
            return;
        }
        self.counters.events += 1;
        if ev.kind == Kind::ScanProbe {
            self.counters.scan_probes_skipped += 1;
            return;
        }
        self.last_ns = self.last_ns.max(ev.ts_ns);
        let r = &ev.record;
        let key = ConnKey {
            peer: ev.dst,
            sport: r.sport,
            dport: r.dport,
        };
        let starts = ev.is_syn() || ev.is_synack();
        let mut tsval = ev.options.timestamp.map(|t| t.0);
        match tsval {
            None => self.counters.no_timestamp += 1,
            Some(0) => {
                self.counters.zero_tsval += 1;
                tsval = None;
            }
            Some(_) => {}
        }
        let mut pos = self.conns.iter().position(|c| c.key == key);
        if let (Some(i), Some(v), true) = (pos, tsval, starts) {
            if !continues(&self.conns[i], ev.ts_ns, v) {
                self.counters.restarted += 1;
                let c = self.conns.swap_remove(i);
                self.retire(c);
                pos = None;
            }
        }
        let i = match pos {
            Some(i) => i,
            None => {
                if self.conns.len() >= self.cfg.max_connections.max(1) {
                    let oldest = (0..self.conns.len())
                        .min_by_key(|&j| self.conns[j].last_ns)
                        .unwrap();
                    let c = self.conns.swap_remove(oldest);
                    self.counters.evicted += 1;
                    self.retire(c);
                }
                if self.conns.capacity() == 0 {
                    // Most sources have one connection: room for one, not the default four.
                    self.conns.reserve_exact(1);
                }
                self.conns.push(Conn {
                    key,
                    server: ev.is_synack(),
                    first_ns: ev.ts_ns,
                    last_ns: ev.ts_ns,
                    series: None,
                    ipid: IpIdSeq::default(),
                });
                self.conns.len() - 1
            }
        };
        let c = &mut self.conns[i];
        c.last_ns = c.last_ns.max(ev.ts_ns);
        c.first_ns = c.first_ns.min(ev.ts_ns);
        c.server |= ev.is_synack();
        if r.family == 4 {
            c.ipid.push(ev.ts_ns, r.ip_id as u16);
            self.ipid.push(ev.ts_ns, r.ip_id as u16);
            if starts {
                self.handshake_ipid.push(ev.ts_ns, r.ip_id as u16);
            }
        }
        if let Some(v) = tsval {
            match &mut c.series {
                Some(s) => s.push(ev.ts_ns, v),
                None => c.series = Some(Series::new(ev.ts_ns, v, self.cfg.max_samples)),
            }
        }
    }

    fn retire(&mut self, c: Conn) {
        if let Some(s) = c.snapshot() {
            if self.finished.len() >= self.cfg.max_finished {
                self.finished.pop_front();
                self.counters.finished_dropped += 1;
            }
            self.finished.push_back(s);
        }
    }

    /// Connections with timestamps: retired ones, then live ones.
    pub fn connections(&self) -> Vec<ConnClock> {
        self.finished
            .iter()
            .copied()
            .chain(self.conns.iter().filter_map(Conn::snapshot))
            .collect()
    }

    /// Upper bound of the heap and inline bytes this tracker can hold with its caps.
    pub fn memory_bound(cfg: &ClockConfig) -> usize {
        // Collections may round their capacity up; never beyond the next power of two.
        std::mem::size_of::<ClockTracker>()
            + cfg.max_connections.max(1).next_power_of_two()
                * (std::mem::size_of::<Conn>()
                    + cfg.max_samples.max(4).next_power_of_two()
                        * std::mem::size_of::<(f64, f64)>())
            + cfg.max_finished.next_power_of_two() * std::mem::size_of::<ConnClock>()
    }

    /// Bytes held now (same accounting as [`Self::memory_bound`]).
    pub fn memory_used(&self) -> usize {
        std::mem::size_of::<ClockTracker>()
            + self.conns.capacity() * std::mem::size_of::<Conn>()
            + self
                .conns
                .iter()
                .filter_map(|c| c.series.as_ref())
                .map(Series::heap_bytes)
                .sum::<usize>()
            + self.finished.capacity() * std::mem::size_of::<ConnClock>()
    }

    pub fn live_connections(&self) -> usize {
        self.conns.len()
    }

    pub fn finished_connections(&self) -> usize {
        self.finished.len()
    }

    pub fn summary(&self) -> ClockSummary {
        let conns = self.connections();
        let (groups, lines) = self.lines(&conns);
        let idx: Vec<usize> = (0..lines.len()).collect();
        let ev = evidence(&lines);
        let policy = decide(&ev);

        let dominant = groups.iter().max_by(|a, b| {
            let wa: f64 = a.qualities.iter().sum();
            let wb: f64 = b.qualities.iter().sum();
            wa.total_cmp(&wb)
        });
        let total_w: f64 = groups.iter().flat_map(|g| &g.qualities).sum();
        let (hz, hz_raw, quality) = match dominant {
            Some(g) => {
                let w: f64 = g.qualities.iter().sum();
                (
                    g.snapped.then_some(g.hz),
                    Some(median(g.raws.clone())),
                    median(g.qualities.clone()) * w / total_w,
                )
            }
            None => (None, None, 0.0),
        };

        let hosts = self.hosts(&lines, &idx, policy);
        let boot_time = if policy == OffsetPolicy::BootRelative {
            // The boot of the machine whose clock is reported: the busiest one at the
            // dominant rate (several machines may share the address).
            let dom_hz = dominant.map(|g| g.hz);
            hosts
                .machines
                .iter()
                .filter(|m| Some(m.hz) == dom_hz)
                .max_by_key(|m| m.connections)
                .or(hosts.machines.first())
                .and_then(|m| m.boot_time)
        } else {
            None
        };
        let clock = ClockReport {
            hz,
            hz_raw,
            quality,
            offset_policy: policy,
            boot_time,
            uptime: boot_time.map(|b| self.last_ns as f64 / 1e9 - b),
            connections: lines.len() as u32,
            evidence: ev,
        };
        ClockSummary {
            clock,
            hosts,
            ip_id: IpIdReport {
                class: self.ipid.class(),
                rate: self.ipid.rate(),
                samples: self.ipid.len(),
                per_flow_class: per_flow_class(&conns),
                handshake_class: self.handshake_ipid.class(),
            },
        }
    }

    /// Rate groups, and every connection with timestamps placed on a line: fitted
    /// connections at their group's rate, unfitted ones (a SYN alone) at the dominant
    /// rate. Without any per-connection rate, a line through the connections' first
    /// points may still give one (a boot-relative host with many short connections).
    fn lines(&self, conns: &[ConnClock]) -> (Vec<Group>, Vec<ConnLine>) {
        let mut groups: Vec<Group> = Vec::new();
        let mut of: Vec<Option<usize>> = vec![None; conns.len()];
        for (i, c) in conns.iter().enumerate() {
            // An odd rate from a weak fit is more likely a delayed packet than another
            // machine: such connections are placed like unfitted ones.
            let Some(f) = c
                .fit
                .filter(|f| f.quality >= if f.snapped { MIN_QUALITY } else { 0.5 })
            else {
                continue;
            };
            let g = match groups
                .iter()
                .position(|g| ((f.hz - g.hz) / g.hz).abs() <= 0.05)
            {
                Some(g) => g,
                None => {
                    groups.push(Group {
                        hz: f.hz,
                        snapped: f.snapped,
                        raws: Vec::new(),
                        qualities: Vec::new(),
                    });
                    groups.len() - 1
                }
            };
            groups[g].raws.push(f.hz_raw);
            groups[g].qualities.push(f.quality);
            of[i] = Some(g);
        }
        // A group without a common rate takes its members' median.
        for g in groups.iter_mut().filter(|g| !g.snapped) {
            g.hz = median(g.raws.clone());
        }
        if groups.is_empty() {
            if let Some(g) = cross_connection_rate(conns) {
                groups.push(g);
            }
        }
        let dominant = (0..groups.len()).max_by(|&a, &b| {
            let wa: f64 = groups[a].qualities.iter().sum();
            let wb: f64 = groups[b].qualities.iter().sum();
            wa.total_cmp(&wb)
        });
        let line = |c: &ConnClock, hz: f64| {
            let first_s = c.first_ns as f64 / 1e9;
            ConnLine {
                peer: c.key.peer,
                sport: c.key.sport,
                dport: c.key.dport,
                port: c.port,
                hz,
                offset: c.zero_time(hz),
                first_s,
                last_s: c.last_ns as f64 / 1e9,
            }
        };
        let mut lines: Vec<ConnLine> = conns
            .iter()
            .zip(&of)
            .filter_map(|(c, g)| g.map(|g| line(c, groups[g].hz)))
            .collect();
        let fitted = lines.len();
        // An unfitted connection joins the rate group on whose line it falls (a
        // machine of another rate behind the same address), else the dominant one.
        for (c, _) in conns.iter().zip(&of).filter(|(_, g)| g.is_none()) {
            let on_line = groups
                .iter()
                .map(|g| line(c, g.hz))
                .find(|l| lines[..fitted].iter().any(|f| policy::same_line(f, l)));
            if let Some(l) = on_line.or_else(|| dominant.map(|g| line(c, groups[g].hz))) {
                lines.push(l);
            }
        }
        (groups, lines)
    }

    fn hosts(&self, lines: &[ConnLine], idx: &[usize], policy: OffsetPolicy) -> Hosts {
        if lines.is_empty() {
            return Hosts {
                count: 0,
                basis: Basis::None,
                machines: Vec::new(),
            };
        }
        let total = lines.len() as f64;
        // Lines identify machines unless offsets are random per connection. Per-peer
        // lines only identify machines toward one peer: use the busiest peer.
        let (basis, clusters) = match policy {
            OffsetPolicy::PerConnection => {
                let mut by_rate: Vec<(f64, Vec<usize>)> = Vec::new();
                for &i in idx {
                    match by_rate.iter_mut().find(|(hz, _)| *hz == lines[i].hz) {
                        Some((_, m)) => m.push(i),
                        None => by_rate.push((lines[i].hz, vec![i])),
                    }
                }
                by_rate.sort_by_key(|r| std::cmp::Reverse(r.1.len()));
                let cl = by_rate
                    .into_iter()
                    .map(|(hz, members)| hosts::Cluster {
                        hz,
                        members,
                        offset: f64::NAN,
                    })
                    .collect();
                (Basis::RatesOnly, cl)
            }
            OffsetPolicy::PerPeer => {
                let mut peers: Vec<IpAddr> = lines.iter().map(|l| l.peer).collect();
                peers.sort();
                peers.dedup();
                let best = peers
                    .iter()
                    .map(|p| {
                        let sub: Vec<usize> = idx
                            .iter()
                            .copied()
                            .filter(|&i| lines[i].peer == *p)
                            .collect();
                        cluster(lines, &sub)
                    })
                    .max_by_key(|c| (c.len(), c.iter().map(|x| x.members.len()).sum::<usize>()))
                    .unwrap_or_default();
                (Basis::ClockLines, best)
            }
            _ => (Basis::ClockLines, cluster(lines, idx)),
        };
        let share_total = if policy == OffsetPolicy::PerPeer {
            clusters.iter().map(|c| c.members.len()).sum::<usize>() as f64
        } else {
            total
        };
        let machines = clusters
            .iter()
            .map(|c| {
                let mut peers: Vec<IpAddr> = c.members.iter().map(|&i| lines[i].peer).collect();
                peers.sort();
                peers.dedup();
                Machine {
                    hz: c.hz,
                    boot_time: (policy == OffsetPolicy::BootRelative && peers.len() >= 2).then(
                        || {
                            let first = c
                                .members
                                .iter()
                                .map(|&i| lines[i].first_s)
                                .fold(f64::INFINITY, f64::min);
                            jiffies_boot(c.offset, c.hz, first, self.last_ns as f64 / 1e9)
                        },
                    ),
                    share: c.members.len() as f64 / share_total,
                    connections: c.members.len() as u32,
                    ports: top_ports(c.members.iter().map(|&i| lines[i].port), self.cfg.max_ports),
                }
            })
            .collect::<Vec<_>>();
        Hosts {
            count: machines.len() as u32,
            basis,
            machines,
        }
    }
}

/// Linux jiffies start at -300 s (INITIAL_JIFFIES) to catch wrap bugs early, so a
/// Linux host in its first 5 minutes sends TSvals just below 2^32 and its clock passes
/// zero 300 s after boot. `zero_s` (the clock's most recent zero before `last_s`) is
/// taken to be that when the host was seen within 300 s before the zero: either the
/// zero lies after `first_s` (it passed while we watched, no more than 300 s after
/// first sight), or the next zero comes less than 300 s after `last_s`. Boot is then
/// 300 s before that zero. Otherwise `zero_s` is returned unchanged. Any other stack
/// would have to be within 5 minutes of a whole period of uptime (49.7 days at
/// 1000 Hz) for this to misfire.
pub fn jiffies_boot(zero_s: f64, hz: f64, first_s: f64, last_s: f64) -> f64 {
    let period = fit::TS_PERIOD / hz;
    if zero_s > first_s && zero_s <= first_s + 300.0 {
        zero_s - 300.0
    } else if last_s - zero_s > period - 300.0 && last_s - zero_s < period {
        zero_s + period - 300.0
    } else {
        zero_s
    }
}

/// Does a SYN/SYN-ACK with `tsval` at `ts_ns` continue this connection's series? A
/// retransmitted SYN does (same or slightly later TSval); a new connection reusing the
/// 4-tuple with another offset does not. Allows up to 1050 ticks per elapsed second.
fn continues(c: &Conn, ts_ns: u64, tsval: u32) -> bool {
    let Some(s) = &c.series else {
        return true;
    };
    let step = tsval.wrapping_sub(s.last_raw()) as i32 as f64;
    let dt = ts_ns.saturating_sub(s.last_ns) as f64 / 1e9;
    (-2.0..=1050.0 * dt + 50.0).contains(&step)
}

/// A rate from the first points of several connections, if they lie on one line.
fn cross_connection_rate(conns: &[ConnClock]) -> Option<Group> {
    if conns.len() < 3 {
        return None;
    }
    let mut order: Vec<&ConnClock> = conns.iter().collect();
    order.sort_by_key(|c| c.first_ns);
    let t0 = order[0].first_ns;
    // Unwrap first TSvals in time order (steps under 2^31 ticks).
    let mut y = 0.0f64;
    let mut prev = order[0].tsval_at_first;
    let mut pts = Vec::with_capacity(order.len());
    for c in order {
        let step = (c.tsval_at_first - prev).rem_euclid(fit::TS_PERIOD);
        let step = if step >= fit::TS_PERIOD / 2.0 {
            step - fit::TS_PERIOD
        } else {
            step
        };
        y += step;
        prev = c.tsval_at_first;
        pts.push(((c.first_ns - t0) as f64 / 1e9, y));
    }
    let line = robust_line(&pts, 2.0)?;
    let f = Fit::from_line(&line)?;
    if line.inliers < 3 || (line.inliers as f64) < 0.6 * line.n as f64 || !f.snapped {
        return None;
    }
    Some(Group {
        hz: f.hz,
        snapped: true,
        raws: vec![f.hz_raw],
        qualities: vec![f.quality],
    })
}

fn per_flow_class(conns: &[ConnClock]) -> Option<IpIdClass> {
    let mut counts: Vec<(IpIdClass, u32)> = Vec::new();
    for c in conns.iter().filter(|c| c.ipids >= 3) {
        let Some(k) = c.ipid_class else { continue };
        match counts.iter_mut().find(|(q, _)| *q == k) {
            Some((_, n)) => *n += 1,
            None => counts.push((k, 1)),
        }
    }
    counts.into_iter().max_by_key(|&(_, n)| n).map(|(k, _)| k)
}

#[cfg(test)]
mod tests;
