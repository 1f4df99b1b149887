//! Per-source scan state over a sliding window, in a bounded LRU table: probe counts by
//! kind, the (host, port) targets touched, and which of them answered (SYN-ACK) or had
//! their handshake completed. Emits start events when a kind's threshold is crossed and
//! end events when the source goes idle, is evicted, or the input ends.
//!
//! Half-open accounting: the selected records carry SYNs and SYN-ACKs but not the ACK
//! that completes a handshake nor RSTs (only scan-like ones). A target is `answered`
//! when its SYN-ACK is seen; `completed` only through [`ScanTracker::handshake_completed`]
//! (the kernel-side completion record, to come). Until a completion is ever reported,
//! events carry `completed`/`half_open` as unknown and plain-SYN sweeps stay
//! `port_sweep` (no connect/half-open split); nmap's raw SYNs are `syn_scan` by their
//! template either way.

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    num::NonZeroUsize,
};

use lru::LruCache;

use super::{
    config::ScanConfig,
    probe::{classify, tool, Tool},
    report::{EndReason, Phase, ScanCounters, ScanEvent, ScanKind, TargetPort},
};
use crate::event::Event;

/// Target bit for ordinary-looking SYNs (the sweep material); bits 0..11 are ScanKinds.
const PLAIN_SYN: u16 = 1 << 15;

const fn bit(k: ScanKind) -> u16 {
    1 << k as u16
}

#[derive(Clone, Copy, Debug)]
struct Target {
    last_ns: u64,
    /// Which kinds (and PLAIN_SYN) touched it.
    kinds: u16,
    answered: bool,
    completed: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct KindState {
    packets: u64,
    tool_probes: u64,
    first_ns: u64,
    last_ns: u64,
    tool: Option<Tool>,
    started: bool,
    /// Target bits this kind's summary covers.
    mask: u16,
}

impl KindState {
    /// Counts one packet; an idle count older than the window starts over.
    fn count(&mut self, now: u64, window: u64) {
        if !self.started && self.packets > 0 && now.saturating_sub(self.first_ns) > window {
            *self = KindState {
                mask: self.mask,
                ..KindState::default()
            };
        }
        if self.packets == 0 {
            self.first_ns = now;
        }
        self.packets += 1;
        self.last_ns = self.last_ns.max(now);
    }
}

struct Source {
    last_ns: u64,
    targets: HashMap<(IpAddr, u16), Target>,
    truncated: bool,
    kinds: [KindState; ScanKind::COUNT],
    /// Ordinary SYNs (sweep material).
    plain: KindState,
    /// The kind a port / host sweep of this source was reported as.
    port_sweep: Option<ScanKind>,
    host_sweep: bool,
}

impl Source {
    fn new(now: u64) -> Self {
        let mut kinds = [KindState::default(); ScanKind::COUNT];
        for k in ScanKind::ALL {
            kinds[k as usize].mask = bit(k);
        }
        Source {
            last_ns: now,
            targets: HashMap::new(),
            truncated: false,
            kinds,
            plain: KindState::default(),
            port_sweep: None,
            host_sweep: false,
        }
    }

    fn any_started(&self) -> bool {
        self.kinds.iter().any(|k| k.started)
    }
}

/// Scan detection over decoded events. Feed every event in capture order.
pub struct ScanTracker {
    cfg: ScanConfig,
    sources: LruCache<IpAddr, Source>,
    pub counters: ScanCounters,
    /// Some completion record was ever fed: half-open becomes known.
    completion_known: bool,
    last_expire_ns: u64,
}

impl ScanTracker {
    pub fn new(cfg: ScanConfig) -> Self {
        let cap = NonZeroUsize::new(cfg.max_sources.max(1)).expect("non-zero");
        ScanTracker {
            cfg,
            sources: LruCache::new(cap),
            counters: ScanCounters::default(),
            completion_known: false,
            last_expire_ns: 0,
        }
    }

    pub fn config(&self) -> &ScanConfig {
        &self.cfg
    }

    /// Sources currently tracked (at most `max_sources`).
    pub fn tracked_sources(&self) -> usize {
        self.sources.len()
    }

    /// Sources with a scan in progress.
    pub fn active_sources(&self) -> usize {
        self.sources.iter().filter(|(_, s)| s.any_started()).count()
    }

    fn window_ns(&self) -> u64 {
        self.cfg.window_ms.saturating_mul(1_000_000)
    }

    /// Feeds one event; start and end events go to `out`.
    pub fn observe(&mut self, ev: &Event, out: &mut Vec<ScanEvent>) {
        let now = ev.ts_ns;
        self.expire(now, out);
        if ev.is_synack() {
            self.answered(ev);
            return;
        }
        let probe = classify(ev);
        if probe.is_none() && !ev.is_syn() {
            // A timestamp sample or an unrecognised scan-like packet with ACK etc.
            return;
        }
        if let Some(p) = probe {
            self.counters.probes[p as usize] += 1;
        }
        self.touch_source(ev.src, now, out);
        let window = self.window_ns();
        let cap = self.cfg.max_targets_per_source;
        let s = self.sources.get_mut(&ev.src).expect("just inserted");
        s.last_ns = s.last_ns.max(now);

        let tbit = probe.map_or(PLAIN_SYN, |p| bit(ScanKind::of_probe(p)));
        let key = (ev.dst, ev.record.dport);
        let mut new_target = false;
        if let Some(t) = s.targets.get_mut(&key) {
            t.last_ns = t.last_ns.max(now);
            t.kinds |= tbit;
        } else {
            if s.targets.len() >= cap && !s.any_started() {
                s.targets
                    .retain(|_, t| now.saturating_sub(t.last_ns) <= window);
            }
            if s.targets.len() < cap {
                s.targets.insert(
                    key,
                    Target {
                        last_ns: now,
                        kinds: tbit,
                        answered: false,
                        completed: false,
                    },
                );
                new_target = true;
            } else {
                s.truncated = true;
                self.counters.targets_dropped += 1;
            }
        }

        match probe {
            Some(p) => {
                let k = ScanKind::of_probe(p);
                let t = tool(ev, p);
                let ks = &mut s.kinds[k as usize];
                ks.count(now, window);
                if t.is_some() {
                    ks.tool = t;
                    ks.tool_probes += 1;
                }
                let min = if ks.tool_probes > 0 {
                    self.cfg.tool_min_probes
                } else {
                    self.cfg.min_probes
                };
                if !ks.started && ks.packets >= min as u64 {
                    ks.started = true;
                    self.counters.started[k as usize] += 1;
                    out.push(self.event(ev.src, k, Phase::Start, None));
                }
            }
            None => {
                s.plain.count(now, window);
                if let Some(k) = s.port_sweep {
                    s.kinds[k as usize].count(now, window);
                }
                if s.host_sweep {
                    s.kinds[ScanKind::HostSweep as usize].count(now, window);
                }
                if new_target {
                    self.judge_sweeps(ev.src, key, now, out);
                }
            }
        }
    }

    /// Reports that `src` completed the handshake of its SYN to `dst:dport` (the ACK of
    /// a tracked SYN). `sport` is the scanner's port; targets are keyed by (dst, dport).
    pub fn handshake_completed(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        _sport: u16,
        dport: u16,
        _ts_ns: u64,
    ) {
        self.completion_known = true;
        match self
            .sources
            .peek_mut(&src)
            .and_then(|s| s.targets.get_mut(&(dst, dport)))
        {
            Some(t) => t.completed = true,
            None => self.counters.unmatched_answers += 1,
        }
    }

    /// Ends every scan in progress (end of input) and forgets all sources.
    pub fn flush(&mut self, out: &mut Vec<ScanEvent>) {
        while let Some((src, s)) = self.sources.pop_lru() {
            self.end_all(src, &s, EndReason::Flush, out);
        }
    }

    /// Ends the scans of sources idle for `idle_end_ms` (checked at most once a second
    /// of capture time; cheap otherwise).
    pub fn expire(&mut self, now: u64, out: &mut Vec<ScanEvent>) {
        if now < self.last_expire_ns.saturating_add(1_000_000_000) {
            return;
        }
        self.last_expire_ns = now;
        let idle = self.cfg.idle_end_ms.saturating_mul(1_000_000);
        while let Some((_, s)) = self.sources.peek_lru() {
            if now.saturating_sub(s.last_ns) < idle {
                break;
            }
            let (src, s) = self.sources.pop_lru().expect("peeked");
            self.end_all(src, &s, EndReason::Idle, out);
        }
    }

    /// A SYN-ACK from a target to a tracked source marks that target answered.
    fn answered(&mut self, ev: &Event) {
        match self
            .sources
            .peek_mut(&ev.dst)
            .and_then(|s| s.targets.get_mut(&(ev.src, ev.record.sport)))
        {
            Some(t) => t.answered = true,
            None => self.counters.unmatched_answers += 1,
        }
    }

    fn touch_source(&mut self, src: IpAddr, now: u64, out: &mut Vec<ScanEvent>) {
        if self.sources.contains(&src) {
            return;
        }
        if let Some((old, s)) = self.sources.push(src, Source::new(now)) {
            self.counters.sources_evicted += 1;
            if s.any_started() {
                self.counters.sources_evicted_active += 1;
                self.end_all(old, &s, EndReason::Evicted, out);
            }
        }
    }

    fn judge_sweeps(
        &mut self,
        src: IpAddr,
        (dst, dport): (IpAddr, u16),
        now: u64,
        out: &mut Vec<ScanEvent>,
    ) {
        let window = self.window_ns();
        let cfg = &self.cfg;
        let s = self.sources.peek_mut(&src).expect("tracked");
        // (count, answered, completed) on this host / on this port, within the window.
        let (mut h, mut p) = ([0u32; 3], [0u32; 3]);
        for ((th, tp), t) in &s.targets {
            if t.kinds & PLAIN_SYN == 0 || now.saturating_sub(t.last_ns) > window {
                continue;
            }
            let add = |c: &mut [u32; 3]| {
                c[0] += 1;
                c[1] += t.answered as u32;
                c[2] += (t.answered && t.completed) as u32;
            };
            if *th == dst {
                add(&mut h);
            }
            if *tp == dport {
                add(&mut p);
            }
        }
        let quiet = |c: [u32; 3]| c[1] as f64 <= cfg.sweep_max_answered_share * c[0] as f64;
        let mut start = Vec::new();
        if s.port_sweep.is_none() && h[0] >= cfg.port_sweep_min_ports && quiet(h) {
            let k = if !self.completion_known || h[1] == 0 {
                ScanKind::PortSweep
            } else if h[2] * 2 >= h[1] {
                ScanKind::ConnectScan
            } else {
                ScanKind::SynScan
            };
            s.port_sweep = Some(k);
            start.push(k);
        }
        if !s.host_sweep && p[0] >= cfg.host_sweep_min_hosts && quiet(p) {
            s.host_sweep = true;
            start.push(ScanKind::HostSweep);
        }
        let mut emit = Vec::new();
        for k in start {
            let plain = s.plain;
            let ks = &mut s.kinds[k as usize];
            ks.mask |= PLAIN_SYN;
            if ks.started {
                // nmap's own SYNs already started a syn_scan: the sweep joins it.
                ks.packets += plain.packets;
                ks.first_ns = ks.first_ns.min(plain.first_ns);
                continue;
            }
            ks.packets = plain.packets;
            ks.first_ns = plain.first_ns;
            ks.last_ns = plain.last_ns;
            ks.started = true;
            emit.push(k);
        }
        for k in emit {
            self.counters.started[k as usize] += 1;
            out.push(self.event(src, k, Phase::Start, None));
        }
    }

    fn event(&self, src: IpAddr, k: ScanKind, phase: Phase, why: Option<EndReason>) -> ScanEvent {
        let s = self.sources.peek(&src).expect("tracked");
        build_event(&self.cfg, self.completion_known, src, s, k, phase, why)
    }

    fn end_all(&mut self, src: IpAddr, s: &Source, why: EndReason, out: &mut Vec<ScanEvent>) {
        for k in ScanKind::ALL {
            if s.kinds[k as usize].started {
                out.push(build_event(
                    &self.cfg,
                    self.completion_known,
                    src,
                    s,
                    k,
                    Phase::End,
                    Some(why),
                ));
            }
        }
    }
}

fn build_event(
    cfg: &ScanConfig,
    completion_known: bool,
    src: IpAddr,
    s: &Source,
    k: ScanKind,
    phase: Phase,
    end_reason: Option<EndReason>,
) -> ScanEvent {
    let ks = &s.kinds[k as usize];
    let mut hosts = HashSet::new();
    let mut ports = HashSet::new();
    let mut all = Vec::new();
    let (mut answered, mut completed) = (0u32, 0u32);
    for ((h, p), t) in &s.targets {
        if t.kinds & ks.mask == 0 {
            continue;
        }
        hosts.insert(*h);
        ports.insert(*p);
        all.push(TargetPort { host: *h, port: *p });
        answered += t.answered as u32;
        completed += (t.answered && t.completed) as u32;
    }
    all.sort_by_key(|t| (t.host, t.port));
    all.truncate(cfg.sample_size);
    ScanEvent {
        phase,
        kind: k,
        tool: ks.tool,
        src,
        hosts: hosts.len() as u32,
        ports: ports.len() as u32,
        targets_truncated: s.truncated,
        sample: all,
        first_ns: ks.first_ns,
        last_ns: ks.last_ns,
        packets: ks.packets,
        answered,
        completed: completion_known.then_some(completed),
        half_open: completion_known.then_some(answered - completed),
        end_reason,
    }
}
