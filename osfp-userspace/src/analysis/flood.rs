//! SYN flood detection: the rate of SYNs over whole seconds (of capture time), with
//! hysteresis. A flood starts in the first second with at least `syn_flood_rate` SYNs
//! and ends after `syn_flood_quiet_ms` of seconds below half that rate; its start and
//! end are events (the event log's `syn_flood` lines) with the rate, an estimate of
//! the distinct sources (a HyperLogLog sketch: a spoofed flood has as many sources as
//! SYNs, a botnet or one host far fewer) and the most hit targets.
//!
//! Bounded: one sketch of 4 KiB and eight target counters, whatever the flood.

use std::net::IpAddr;

use serde::Serialize;

use crate::{
    decode::Event,
    hashing::{keyed_state, KeyedState},
};

/// The sketch's registers (2^12: about 1.6 % standard error).
const HLL_BITS: u32 = 12;
/// Targets counted (Misra–Gries: any target with more than 1/9 of the SYNs is among
/// them) and listed in an event.
const TARGET_SLOTS: usize = 8;

/// Distinct-count sketch (HyperLogLog, Flajolet et al. 2007, with the small-range
/// correction); no crate of the dependency tree has one, and it is 30 lines.
#[derive(Clone)]
struct Sketch {
    regs: Box<[u8; 1 << HLL_BITS]>,
}

impl Sketch {
    fn new() -> Sketch {
        Sketch {
            regs: Box::new([0; 1 << HLL_BITS]),
        }
    }

    fn insert(&mut self, h: u64) {
        let idx = (h >> (64 - HLL_BITS)) as usize;
        let rank = ((h << HLL_BITS) | (1 << (HLL_BITS - 1))).leading_zeros() as u8 + 1;
        let r = &mut self.regs[idx];
        *r = (*r).max(rank);
    }

    fn estimate(&self) -> u64 {
        let m = (1u64 << HLL_BITS) as f64;
        let (mut sum, mut zeros) = (0.0, 0u32);
        for &r in self.regs.iter() {
            sum += 1.0 / (1u64 << r) as f64;
            zeros += (r == 0) as u32;
        }
        let raw = 0.7213 / (1.0 + 1.079 / m) * m * m / sum;
        let e = if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        e.round() as u64
    }

    fn clear(&mut self) {
        self.regs.fill(0);
    }
}

/// A flood's target and the SYNs counted for it (a lower bound, by at most the
/// flood's SYNs / 9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Target {
    pub dst: IpAddr,
    pub dport: u16,
    pub syns: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FloodPhase {
    Start,
    End,
}

/// A `syn_flood` event. At the start: the second that crossed the rate; at the end:
/// the whole flood.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FloodEvent {
    pub phase: FloodPhase,
    pub first_ts: f64,
    pub last_ts: f64,
    /// SYNs counted (SYNs the kernel shed or lost under load are not among them).
    pub syns: u64,
    /// SYNs per second: of the crossing second at the start, the peak at the end.
    pub rate: u64,
    pub sources_estimate: u64,
    pub targets: Vec<Target>,
}

impl FloodEvent {
    /// `{"event":"syn_flood",...}`: the record stream's line (the event log adds `ts`).
    pub fn to_json_line(&self) -> String {
        #[derive(Serialize)]
        struct Line<'a> {
            event: &'static str,
            #[serde(flatten)]
            flood: &'a FloodEvent,
        }
        serde_json::to_string(&Line {
            event: "syn_flood",
            flood: self,
        })
        .expect("flood events serialize")
    }
}

/// Totals for the metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FloodCounters {
    pub started: u64,
    /// SYNs counted during floods.
    pub syns_in_floods: u64,
    /// SYNs in the last whole second.
    pub last_rate: u64,
}

/// One window's counts: the current second, or the flood in progress.
struct Window {
    first_ns: u64,
    last_ns: u64,
    syns: u64,
    peak: u64,
    sources: Sketch,
    targets: Vec<Target>,
}

impl Window {
    fn new() -> Window {
        Window {
            first_ns: 0,
            last_ns: 0,
            syns: 0,
            peak: 0,
            sources: Sketch::new(),
            targets: Vec::with_capacity(TARGET_SLOTS),
        }
    }

    fn count(&mut self, ev: &Event, h: u64) {
        if self.syns == 0 {
            self.first_ns = ev.ts_ns;
        }
        self.last_ns = self.last_ns.max(ev.ts_ns);
        self.syns += 1;
        self.sources.insert(h);
        let (dst, dport) = (ev.dst, ev.record.dport);
        if let Some(t) = self
            .targets
            .iter_mut()
            .find(|t| t.dst == dst && t.dport == dport)
        {
            t.syns += 1;
        } else if self.targets.len() < TARGET_SLOTS {
            self.targets.push(Target {
                dst,
                dport,
                syns: 1,
            });
        } else {
            // Misra–Gries: a new target takes one from every counter.
            self.targets.iter_mut().for_each(|t| t.syns -= 1);
            self.targets.retain(|t| t.syns > 0);
        }
    }

    fn event(&self, phase: FloodPhase, rate: u64) -> FloodEvent {
        let mut targets = self.targets.clone();
        targets.sort_by_key(|t| std::cmp::Reverse(t.syns));
        FloodEvent {
            phase,
            first_ts: self.first_ns as f64 / 1e9,
            last_ts: self.last_ns as f64 / 1e9,
            syns: self.syns,
            rate,
            sources_estimate: self.sources.estimate(),
            targets,
        }
    }

    fn clear(&mut self) {
        self.syns = 0;
        self.peak = 0;
        self.last_ns = 0;
        self.sources.clear();
        self.targets.clear();
    }
}

pub struct FloodDetector {
    /// SYNs a second that start a flood (0: detection off).
    rate: u64,
    /// Whole seconds below half the rate that end one.
    quiet_secs: u64,
    /// The current second (of capture time), where the next one starts (ns; saves a
    /// division per SYN), and its SYNs.
    sec: u64,
    next_ns: u64,
    in_sec: u64,
    /// This second's counts, or the flood's while one is active.
    window: Window,
    active: bool,
    /// Seconds below half the rate since the last one above it.
    quiet: u64,
    pub counters: FloodCounters,
    hasher: KeyedState,
}

const NS: u64 = 1_000_000_000;

impl FloodDetector {
    pub fn new(rate: u64, quiet_ms: u64) -> FloodDetector {
        FloodDetector {
            rate,
            quiet_secs: quiet_ms.div_ceil(1000).max(1),
            sec: 0,
            next_ns: NS,
            in_sec: 0,
            window: Window::new(),
            active: false,
            quiet: 0,
            counters: FloodCounters::default(),
            hasher: keyed_state(),
        }
    }

    /// New thresholds (a reload): a flood in progress goes on under them.
    pub fn set_thresholds(&mut self, rate: u64, quiet_ms: u64) {
        self.rate = rate;
        self.quiet_secs = quiet_ms.div_ceil(1000).max(1);
    }

    /// End of input: a flood in progress ends here.
    pub fn finish(&mut self, out: &mut Vec<FloodEvent>) {
        if self.active {
            self.window.peak = self.window.peak.max(self.in_sec);
            out.push(self.window.event(FloodPhase::End, self.window.peak));
            self.active = false;
            self.window.clear();
        }
    }

    pub fn active(&self) -> bool {
        self.active
    }

    /// The distinct sources of the flood in progress (0 without one).
    pub fn sources_estimate(&self) -> u64 {
        if self.active {
            self.window.sources.estimate()
        } else {
            0
        }
    }

    /// Counts a SYN (not a SYN-ACK); events of the seconds it closes go to `out`.
    pub fn observe(&mut self, ev: &Event, out: &mut Vec<FloodEvent>) {
        if self.rate == 0 || !ev.is_syn() {
            return;
        }
        self.advance(ev.ts_ns, out);
        self.in_sec += 1;
        let h = self.hasher.hash_one(ev.src);
        self.window.count(ev, h);
        if self.active {
            self.counters.syns_in_floods += 1;
        } else if self.in_sec == self.rate {
            // Reported in the second it crosses the rate, not a second later.
            self.active = true;
            self.quiet = 0;
            self.counters.started += 1;
            self.counters.syns_in_floods += self.window.syns;
            self.window.peak = self.rate;
            out.push(self.window.event(FloodPhase::Start, self.rate));
        }
    }

    /// Closes the seconds before `now_ns` (live capture: called on a timer too, so
    /// that a flood ends when packets stop).
    pub fn advance(&mut self, now_ns: u64, out: &mut Vec<FloodEvent>) {
        if now_ns < self.next_ns {
            return;
        }
        let sec = now_ns / NS;
        self.counters.last_rate = if sec - self.sec == 1 { self.in_sec } else { 0 };
        // The closed second, then the empty ones after it (at most until the flood
        // ends: a jump in capture time costs no more).
        let mut closed = self.in_sec;
        for _ in self.sec..sec {
            if self.active {
                self.window.peak = self.window.peak.max(closed);
                if closed * 2 < self.rate {
                    self.quiet += 1;
                } else {
                    self.quiet = 0;
                }
                if self.quiet >= self.quiet_secs {
                    out.push(self.window.event(FloodPhase::End, self.window.peak));
                    self.active = false;
                    self.window.clear();
                    break;
                }
            } else {
                self.window.clear();
                break;
            }
            closed = 0;
        }
        self.sec = sec;
        self.next_ns = (sec + 1).saturating_mul(NS);
        self.in_sec = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sketch_estimates_within_a_few_percent() {
        for n in [10u64, 1000, 100_000, 1_000_000] {
            let mut s = Sketch::new();
            let st = keyed_state();
            for i in 0..n {
                s.insert(st.hash_one(i));
                s.insert(st.hash_one(i)); // repeats do not count
            }
            let e = s.estimate() as f64;
            assert!((e - n as f64).abs() <= n as f64 * 0.05 + 1.0, "{n}: {e}");
        }
    }
}
