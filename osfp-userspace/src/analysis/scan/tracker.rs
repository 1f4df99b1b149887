//! Per-source scan state over a sliding window, in a bounded LRU table: probe counts by
//! kind, the (host, port) targets touched, and which of them answered (SYN-ACK) or had
//! their handshake completed. Emits start events when a kind's threshold is crossed and
//! end events when the source goes idle, is evicted, or the input ends.
//!
//! Half-open accounting: a target is `answered` when its SYN-ACK is seen, `completed`
//! when the scanner's ACK completing the handshake is (the kernel's, or the pcap path's,
//! `HANDSHAKE_ACK` record: the first pure ACK after a tracked SYN, fed here by
//! [`ScanTracker::observe`] through [`ScanTracker::handshake_completed`]). A connect
//! scan (nmap -sT) completes its answered handshakes (half_open ~0); nmap -sS resets
//! them instead (half_open = answered). The flow table is bounded and direct-mapped, so
//! a completion can be lost when another flow takes its slot first (it then counts as
//! half-open). Until a completion is ever reported (e.g. records from an older sensor),
//! events carry `completed`/`half_open` as unknown and plain-SYN sweeps stay
//! `port_sweep` (no connect/half-open split); nmap's raw SYNs are `syn_scan` by their
//! template either way.

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    num::NonZeroUsize,
};

use lru::LruCache;
use strum::{EnumCount, IntoEnumIterator};

use osfp_common::reason;

use super::{
    config::ScanConfig,
    probe::{classify, tool, Tool},
    report::{EndReason, Phase, ScanCounters, ScanEvent, ScanKind, TargetPort},
};
use crate::{
    decode::Event,
    hashing::{hash_table_bytes, keyed_state, malloc_block, KeyedState},
};

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
    targets: HashMap<(IpAddr, u16), Target, KeyedState>,
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
        for k in ScanKind::iter() {
            kinds[k as usize].mask = bit(k);
        }
        Source {
            last_ns: now,
            targets: HashMap::default(),
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

/// A source whose plain SYNs so far all went to one target, kept in a slot of
/// [`ScanTracker`]'s first-sight table instead of as a tracked source: a flood of
/// one-SYN sources (spoofed addresses) then costs a slot write each, not a tracked
/// source's allocation and an eviction, and neither does a client that connects to one
/// service again and again (one target is no sweep). Its first SYN to another target
/// makes it a tracked source, its first target and SYNs included as if it had been
/// tracked from the start.
#[derive(Clone, Copy, Debug)]
struct FirstSight {
    src: Option<IpAddr>,
    dst: IpAddr,
    dport: u16,
    /// The first and the last SYN to the target, and how many.
    ts_ns: u64,
    last_ns: u64,
    syns: u64,
    answered: bool,
    completed: bool,
}

impl Default for FirstSight {
    fn default() -> Self {
        FirstSight {
            src: None,
            dst: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            dport: 0,
            ts_ns: 0,
            last_ns: 0,
            syns: 0,
            answered: false,
            completed: false,
        }
    }
}

impl FirstSight {
    fn is(&self, src: IpAddr, dst: IpAddr, dport: u16) -> bool {
        self.src == Some(src) && self.dst == dst && self.dport == dport
    }
}

/// Slots of the first-sight table (a power of two).
const FIRST_SIGHT_SLOTS: usize = 1 << 16;

/// The layout of lru's node for a tracked source (`LruEntry<K, V>`: the key, the value,
/// two raw pointers), for the memory bound; never built.
#[allow(dead_code)]
struct LruNode {
    key: IpAddr,
    val: Source,
    prev: *mut u8,
    next: *mut u8,
}

/// Scan detection over decoded events. Feed every event in capture order.
pub struct ScanTracker {
    cfg: ScanConfig,
    sources: LruCache<IpAddr, Source>,
    /// Sources with one plain SYN so far, direct-mapped by a keyed hash of the address.
    first_sight: Box<[FirstSight]>,
    hasher: KeyedState,
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
            first_sight: vec![FirstSight::default(); FIRST_SIGHT_SLOTS].into_boxed_slice(),
            hasher: keyed_state(),
            counters: ScanCounters::default(),
            completion_known: false,
            last_expire_ns: 0,
        }
    }

    pub fn config(&self) -> &ScanConfig {
        &self.cfg
    }

    /// Upper bound of the tracker's memory at `cfg`'s caps: the first-sight table, lru's
    /// index (allocated for the cap up front), a node per tracked source (and lru's two
    /// sentinels), and each source's target map at `max_targets_per_source` (see
    /// [`hash_table_bytes`]). The targets dominate: ~330 MiB of the default ~340 MiB.
    pub fn memory_bound(cfg: &ScanConfig) -> usize {
        use std::mem::size_of;
        let sources = cfg.max_sources.max(1);
        let targets = hash_table_bytes(
            cfg.max_targets_per_source,
            size_of::<((IpAddr, u16), Target)>(),
        );
        let per_source = malloc_block(size_of::<LruNode>()).saturating_add(targets);
        (malloc_block(FIRST_SIGHT_SLOTS * size_of::<FirstSight>())
            + hash_table_bytes(sources, 2 * size_of::<usize>())
            + 2 * malloc_block(size_of::<LruNode>()))
        .saturating_add(sources.saturating_mul(per_source))
    }

    /// Sources currently tracked (at most `max_sources`).
    pub fn tracked_sources(&self) -> usize {
        self.sources.len()
    }

    /// Sources with a scan in progress.
    pub fn active_sources(&self) -> usize {
        self.sources.iter().filter(|(_, s)| s.any_started()).count()
    }

    /// Whether `src` has a scan in progress.
    pub fn is_active(&self, src: &IpAddr) -> bool {
        self.sources.peek(src).is_some_and(|s| s.any_started())
    }

    /// New thresholds for the running tracker (a reload); shrinking the source cap
    /// evicts the least recently seen sources as the cap always does (end events).
    pub fn reconfigure(&mut self, cfg: ScanConfig, out: &mut Vec<ScanEvent>) {
        let cap = NonZeroUsize::new(cfg.max_sources.max(1)).expect("non-zero");
        while self.sources.len() > cap.get() {
            let (old, s) = self.sources.pop_lru().expect("non-empty");
            self.counters.sources_evicted += 1;
            if s.any_started() {
                self.counters.sources_evicted_active += 1;
                self.end_all(old, &s, EndReason::Evicted, out);
            }
        }
        self.sources.resize(cap);
        self.cfg = cfg;
    }

    fn window_ns(&self) -> u64 {
        self.cfg.window_ms.saturating_mul(1_000_000)
    }

    /// Feeds one event; start and end events go to `out`.
    pub fn observe(&mut self, ev: &Event, out: &mut Vec<ScanEvent>) {
        let now = ev.ts_ns;
        self.expire(now, out);
        if ev.has(reason::HANDSHAKE_ACK) {
            let r = &ev.record;
            self.handshake_completed(ev.src, ev.dst, r.sport, r.dport, now);
            return;
        }
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
        let window = self.window_ns();
        let cap = self.cfg.max_targets_per_source;
        // A client's SYNs to its one service again: its first-sight slot, no probe of
        // the tracked sources (a source is never in both).
        // Plain SYNs only: a probe makes its source tracked at once.
        let slot = probe.is_none().then(|| self.first_slot(ev.src));
        if slot.is_some_and(|slot| self.repeat_first_sight(slot, ev)) {
            return;
        }
        // One probe of the table for a tracked source.
        let s = match self.sources.get_mut(&ev.src) {
            Some(s) => s,
            None => {
                if slot.is_some_and(|slot| !self.second_sight(slot, ev, out)) {
                    return;
                }
                self.touch_source(ev.src, now, out);
                self.sources.get_mut(&ev.src).expect("just inserted")
            }
        };
        s.last_ns = s.last_ns.max(now);

        let tbit = probe.map_or(PLAIN_SYN, |p| bit(ScanKind::of_probe(p)));
        let key = (ev.dst, ev.record.dport);
        let mut new_target = false;
        if let Some(t) = s.targets.get_mut(&key) {
            t.last_ns = t.last_ns.max(now);
            // New to this kind (e.g. -sT after -sS on the same ports) counts as new.
            new_target = t.kinds & tbit == 0;
            t.kinds |= tbit;
        } else {
            if s.targets.len() >= cap && !s.any_started() {
                // Nothing to report yet: the window slides, so the oldest target goes
                // (a busy client never freezes its table).
                s.targets
                    .retain(|_, t| now.saturating_sub(t.last_ns) <= window);
                if s.targets.len() >= cap {
                    if let Some(oldest) = s.targets.iter().min_by_key(|(_, t)| t.last_ns) {
                        let oldest = *oldest.0;
                        s.targets.remove(&oldest);
                    }
                }
            }
            // A scan in progress keeps its targets (its evidence); new ones past the cap
            // are only counted.
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

    /// The first-sight slot of `src` (keyed, so that no sender can choose collisions).
    fn first_slot(&self, src: IpAddr) -> usize {
        self.hasher.hash_one(src) as usize & (FIRST_SIGHT_SLOTS - 1)
    }

    /// Counts a plain SYN in its `slot` of the first-sight table if that holds the source
    /// and the same target within the window.
    fn repeat_first_sight(&mut self, slot: usize, ev: &Event) -> bool {
        let window = self.window_ns();
        let f = &mut self.first_sight[slot];
        let now = ev.ts_ns;
        if !f.is(ev.src, ev.dst, ev.record.dport) || now.saturating_sub(f.ts_ns) > window {
            return false;
        }
        f.last_ns = f.last_ns.max(now);
        f.syns += 1;
        true
    }

    /// A plain SYN of a source neither tracked nor repeating its first sight
    /// ([`Self::repeat_first_sight`]): a new first sight (false: nothing more to do),
    /// or, to another target within the window (true), a tracked source with the first
    /// target and its SYNs counted as they would have been.
    fn second_sight(&mut self, slot: usize, ev: &Event, out: &mut Vec<ScanEvent>) -> bool {
        let now = ev.ts_ns;
        let window = self.window_ns();
        let first = &mut self.first_sight[slot];
        if first.src != Some(ev.src) || now.saturating_sub(first.ts_ns) > window {
            *first = FirstSight {
                src: Some(ev.src),
                dst: ev.dst,
                dport: ev.record.dport,
                ts_ns: now,
                last_ns: now,
                syns: 1,
                answered: false,
                completed: false,
            };
            return false;
        }
        let first = *first;
        self.touch_source(ev.src, first.ts_ns, out);
        let s = self.sources.get_mut(&ev.src).expect("just inserted");
        s.targets.insert(
            (first.dst, first.dport),
            Target {
                last_ns: first.last_ns,
                kinds: PLAIN_SYN,
                answered: first.answered,
                completed: first.completed,
            },
        );
        s.plain.count(first.ts_ns, window);
        s.plain.packets += first.syns - 1;
        s.plain.last_ns = s.plain.last_ns.max(first.last_ns);
        s.last_ns = s.last_ns.max(first.last_ns);
        true
    }

    /// The first-sight slot of `src` if it holds `src`'s SYN to `dst:dport`.
    fn first_sight_of(&mut self, src: IpAddr, dst: IpAddr, dport: u16) -> Option<&mut FirstSight> {
        let f = &mut self.first_sight[self.first_slot(src)];
        f.is(src, dst, dport).then_some(f)
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
        if let Some(s) = self.sources.peek_mut(&src) {
            match s.targets.get_mut(&(dst, dport)) {
                Some(t) => t.completed = true,
                None => self.counters.unmatched_answers += 1,
            }
        } else {
            match self.first_sight_of(src, dst, dport) {
                Some(f) => f.completed = true,
                None => self.counters.unmatched_answers += 1,
            }
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
    #[inline]
    pub fn expire(&mut self, now: u64, out: &mut Vec<ScanEvent>) {
        // Called for every event: the once-a-second test inline, the walk apart.
        if now >= self.last_expire_ns.saturating_add(1_000_000_000) {
            self.expire_idle(now, out);
        }
    }

    fn expire_idle(&mut self, now: u64, out: &mut Vec<ScanEvent>) {
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
        let (scanner, target, port) = (ev.dst, ev.src, ev.record.sport);
        if let Some(s) = self.sources.peek_mut(&scanner) {
            match s.targets.get_mut(&(target, port)) {
                Some(t) => t.answered = true,
                None => self.counters.unmatched_answers += 1,
            }
        } else {
            match self.first_sight_of(scanner, target, port) {
                Some(f) => f.answered = true,
                None => self.counters.unmatched_answers += 1,
            }
        }
    }

    fn touch_source(&mut self, src: IpAddr, now: u64, out: &mut Vec<ScanEvent>) {
        if self.sources.contains(&src) {
            return;
        }
        // Tracked from now on: its first sight, if any, is over (a source is never in
        // both; a probe makes a source tracked without its plain SYNs' promotion).
        let slot = self.first_slot(src);
        if self.first_sight[slot].src == Some(src) {
            self.first_sight[slot].src = None;
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
        for k in ScanKind::iter() {
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

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use osfp_common::{ip_flag, tcp_flag::*};

    use super::*;
    use crate::analysis::scan::probe::tests::rec;

    const LINUX_OPTS: [u8; 20] = [
        2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 1, 2, 3, 0, 0, 0, 0, 1, 3, 3, 7,
    ];
    const MS: u64 = 1_000_000;

    fn ip(a: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(a))
    }

    /// An ordinary Linux SYN (DF, TTL 64, full options): sweep material only.
    fn syn(src: u32, dst: u32, sport: u16, dport: u16, ts: u64) -> Event {
        let mut r = rec(SYN, 64240, 64, &LINUX_OPTS);
        r.ip_flags = ip_flag::DF;
        r.src[..4].copy_from_slice(&src.to_be_bytes());
        r.dst[..4].copy_from_slice(&dst.to_be_bytes());
        r.sport = sport;
        r.dport = dport;
        r.ts_ns = ts;
        Event::decode(&r)
    }

    fn synack(to: &Event, ts: u64) -> Event {
        let mut r = rec(SYN | ACK, 65160, 64, &LINUX_OPTS);
        r.src = to.record.dst;
        r.dst = to.record.src;
        r.sport = to.record.dport;
        r.dport = to.record.sport;
        r.ts_ns = ts;
        Event::decode(&r)
    }

    /// The handshake-ACK record completing `syn`'s handshake (ACK only, no options).
    fn handshake_ack(syn: &Event, ts: u64) -> Event {
        let mut r = rec(ACK, 502, 64, &[]);
        r.reason = osfp_common::reason::HANDSHAKE_ACK;
        r.src = syn.record.src;
        r.dst = syn.record.dst;
        r.sport = syn.record.sport;
        r.dport = syn.record.dport;
        r.ts_ns = ts;
        Event::decode(&r)
    }

    const CLIENT: u32 = 0x0a00_0001;
    const SERVER: u32 = 0x0a00_0002;

    fn kinds(out: &[ScanEvent], phase: Phase) -> Vec<ScanKind> {
        out.iter()
            .filter(|e| e.phase == phase)
            .map(|e| e.kind)
            .collect()
    }

    #[test]
    fn port_sweep_of_closed_ports() {
        let mut t = ScanTracker::new(ScanConfig::default());
        let mut out = Vec::new();
        for port in 1..=30u16 {
            t.observe(
                &syn(CLIENT, SERVER, 40000, port, port as u64 * 10 * MS),
                &mut out,
            );
            let expect = if port >= 24 { 1 } else { 0 };
            assert_eq!(kinds(&out, Phase::Start).len(), expect, "port {port}");
        }
        t.flush(&mut out);
        let end = out.iter().find(|e| e.phase == Phase::End).unwrap();
        assert_eq!(end.kind, ScanKind::PortSweep);
        assert_eq!((end.hosts, end.ports, end.packets), (1, 30, 30));
        assert_eq!(end.src, ip(CLIENT));
        assert_eq!(
            end.completed, None,
            "no completion records: half-open unknown"
        );
        assert_eq!(end.end_reason, Some(EndReason::Flush));
        assert_eq!(t.counters.started(ScanKind::PortSweep), 1);
    }

    #[test]
    fn host_sweep_of_one_port() {
        let mut t = ScanTracker::new(ScanConfig::default());
        let mut out = Vec::new();
        for h in 0..70u32 {
            t.observe(
                &syn(CLIENT, 0x0b00_0000 + h, 40000, 22, h as u64 * MS),
                &mut out,
            );
        }
        assert_eq!(kinds(&out, Phase::Start), vec![ScanKind::HostSweep]);
        t.flush(&mut out);
        let end = out.iter().find(|e| e.phase == Phase::End).unwrap();
        assert_eq!((end.hosts, end.ports), (70, 1));
        assert_eq!(end.sample.len(), 8);
    }

    /// -sT after -sS over the same ports: the kernel's SYNs still make a sweep, although
    /// the targets were already known from nmap's template SYNs.
    #[test]
    fn sweep_over_targets_seen_by_another_kind() {
        let mut t = ScanTracker::new(ScanConfig::default());
        let mut out = Vec::new();
        let mut nmap = rec(SYN, 1024, 50, &[2, 4, 5, 0xb4]);
        nmap.src[..4].copy_from_slice(&CLIENT.to_be_bytes());
        nmap.dst[..4].copy_from_slice(&SERVER.to_be_bytes());
        for port in 1..=30u16 {
            nmap.dport = port;
            nmap.ts_ns = port as u64 * MS;
            t.observe(&Event::decode(&nmap), &mut out);
        }
        for port in 1..=30u16 {
            t.observe(
                &syn(CLIENT, SERVER, 40000, port, (100 + port as u64) * MS),
                &mut out,
            );
        }
        assert_eq!(
            kinds(&out, Phase::Start),
            vec![ScanKind::SynScan, ScanKind::PortSweep]
        );
    }

    /// A web client: hundreds of short connections to two ports on three hosts, with
    /// retries (same SYN again), all answered. Then a browser session: 100 distinct
    /// hosts on 443, answered. Then FTP passive: 40 data ports on one server, answered.
    #[test]
    fn busy_benign_clients_are_quiet() {
        let mut t = ScanTracker::new(ScanConfig::default());
        let mut out = Vec::new();
        let mut now = 0;
        for i in 0..600u32 {
            now += 20 * MS;
            let host = SERVER + (i % 3);
            let port = if i % 2 == 0 { 443 } else { 80 };
            let s = syn(CLIENT, host, 30000 + (i % 20000) as u16, port, now);
            t.observe(&s, &mut out);
            if i % 7 == 0 {
                // retransmitted SYN
                t.observe(&syn(CLIENT, host, s.record.sport, port, now + MS), &mut out);
            }
            t.observe(&synack(&s, now + 2 * MS), &mut out);
        }
        for h in 0..100u32 {
            now += 50 * MS;
            let s = syn(CLIENT, 0x2000_0000 + h * 7919, 50000, 443, now);
            t.observe(&s, &mut out);
            t.observe(&synack(&s, now + 30 * MS), &mut out);
        }
        for p in 0..40u16 {
            now += 100 * MS;
            let s = syn(CLIENT, SERVER, 50001 + p, 30000 + p * 13, now);
            t.observe(&s, &mut out);
            t.observe(&synack(&s, now + MS), &mut out);
        }
        t.flush(&mut out);
        assert!(out.is_empty(), "{out:?}");
        // The same 100 hosts unanswered would be a host sweep: the share matters.
        let mut t = ScanTracker::new(ScanConfig::default());
        for h in 0..100u32 {
            t.observe(
                &syn(CLIENT, 0x2000_0000 + h * 7919, 50000, 443, h as u64 * MS),
                &mut out,
            );
        }
        assert_eq!(kinds(&out, Phase::Start), vec![ScanKind::HostSweep]);
    }

    /// Slow scanning below the window rate stays quiet: 30 ports, one every 3 s, with a
    /// 60 s window holds at most 20 at a time.
    #[test]
    fn window_slides() {
        let mut t = ScanTracker::new(ScanConfig::default());
        let mut out = Vec::new();
        for port in 1..=30u16 {
            t.observe(
                &syn(CLIENT, SERVER, 40000, port, port as u64 * 3000 * MS),
                &mut out,
            );
        }
        assert!(out.is_empty(), "{out:?}");
    }

    /// With completion records (the handshake-ACK records of the kernel or the pcap
    /// path, fed through `observe`): open ports whose handshake the scanner completes
    /// make a connect scan; open ports left half-open a SYN scan.
    #[test]
    fn completion_splits_connect_and_half_open() {
        for complete in [true, false] {
            let mut t = ScanTracker::new(ScanConfig::default());
            let mut out = Vec::new();
            // Completion known from the start (some earlier completion record).
            t.handshake_completed(ip(1), ip(2), 1, 1, 0);
            for port in 1..=30u16 {
                let now = port as u64 * 10 * MS;
                let s = syn(CLIENT, SERVER, 40000 + port, port, now);
                t.observe(&s, &mut out);
                if port <= 10 {
                    t.observe(&synack(&s, now + MS), &mut out);
                    if complete {
                        t.observe(&handshake_ack(&s, now + 2 * MS), &mut out);
                    }
                }
            }
            t.flush(&mut out);
            let end = out.iter().find(|e| e.phase == Phase::End).unwrap();
            let want = if complete {
                ScanKind::ConnectScan
            } else {
                ScanKind::SynScan
            };
            assert_eq!(end.kind, want);
            assert_eq!(end.answered, 10);
            assert_eq!(end.completed, Some(if complete { 10 } else { 0 }));
            assert_eq!(end.half_open, Some(if complete { 0 } else { 10 }));
        }
    }

    #[test]
    fn idle_source_ends_its_scan() {
        let mut t = ScanTracker::new(ScanConfig::default());
        let mut out = Vec::new();
        let mut fin = rec(FIN, 1024, 50, &[]);
        for port in 1..=5u16 {
            fin.dport = port;
            fin.ts_ns = port as u64 * MS;
            t.observe(&Event::decode(&fin), &mut out);
        }
        assert_eq!(kinds(&out, Phase::Start), vec![ScanKind::FinScan]);
        // Another source's packet 61 s later ends the idle scan.
        t.observe(&syn(CLIENT, SERVER, 1, 80, 61_000 * MS), &mut out);
        let end = out.iter().find(|e| e.phase == Phase::End).unwrap();
        assert_eq!(
            (end.kind, end.end_reason),
            (ScanKind::FinScan, Some(EndReason::Idle))
        );
        assert_eq!((end.ports, end.packets), (5, 5));
        // The scanner is gone; the client's one plain SYN is a first sight, not a
        // tracked source.
        assert_eq!(t.tracked_sources(), 0);
    }

    /// A flood of one-SYN sources leaves the tracked sources alone (no eviction of a
    /// scanner in progress); a source's second plain SYN tracks it with both targets,
    /// and a SYN-ACK to the first one, seen while it was a first sight, still counts.
    #[test]
    fn one_syn_sources_are_first_sights() {
        let cfg = ScanConfig {
            max_sources: 4,
            ..ScanConfig::default()
        };
        let mut t = ScanTracker::new(cfg);
        let mut out = Vec::new();
        let mut fin = rec(FIN, 1024, 50, &[]);
        for port in 1..=5u16 {
            fin.dport = port;
            fin.ts_ns = port as u64 * MS;
            t.observe(&Event::decode(&fin), &mut out);
        }
        assert_eq!(kinds(&out, Phase::Start), vec![ScanKind::FinScan]);
        for i in 0..10_000u32 {
            t.observe(&syn(0x0b00_0000 + i, SERVER, 1000, 80, 10 * MS), &mut out);
        }
        assert_eq!(t.tracked_sources(), 1, "only the scanner is tracked");
        assert_eq!(t.counters.sources_evicted, 0);
        assert!(out.iter().all(|e| e.phase == Phase::Start), "no scan ended");
        // Another client's SYN, the server's SYN-ACK, the client's second SYN.
        let other = 0x0a00_0009;
        let first = syn(other, SERVER, 1, 80, 20 * MS);
        t.observe(&first, &mut out);
        t.observe(&synack(&first, 21 * MS), &mut out);
        t.observe(&syn(other, SERVER, 2, 81, 22 * MS), &mut out);
        assert_eq!(t.tracked_sources(), 2);
        let s = t.sources.peek(&ip(other)).unwrap();
        assert_eq!(s.targets.len(), 2);
        assert!(
            s.targets[&(ip(SERVER), 80)].answered,
            "the answer to the first sight"
        );
        assert_eq!(s.plain.packets, 2);
        assert_eq!(t.counters.unmatched_answers, 0);
    }

    /// A client that connects to one service again and again stays a first sight (one
    /// target is no sweep): not tracked, nothing evicted. When it then sweeps the
    /// server's ports, the sweep counts those SYNs as if it had been tracked all along.
    #[test]
    fn repeat_syns_to_one_target_stay_first_sights() {
        let mut t = ScanTracker::new(ScanConfig::default());
        let mut out = Vec::new();
        for i in 0..1000u64 {
            let s = syn(CLIENT, SERVER, 40000 + i as u16, 443, i * MS);
            t.observe(&s, &mut out);
            t.observe(&synack(&s, i * MS + 1), &mut out);
        }
        assert_eq!(t.tracked_sources(), 0);
        assert_eq!(t.counters.sources_evicted, 0);
        assert_eq!(
            t.counters.unmatched_answers, 0,
            "answers find the first sight"
        );
        let min = ScanConfig::default().port_sweep_min_ports;
        for p in 1..=min as u16 {
            t.observe(
                &syn(CLIENT, SERVER, 50001, p, (2000 + p as u64) * MS),
                &mut out,
            );
        }
        assert_eq!(t.tracked_sources(), 1);
        let s = t.sources.peek(&ip(CLIENT)).unwrap();
        let first = &s.targets[&(ip(SERVER), 443)];
        assert!(first.answered);
        assert_eq!(first.last_ns, 999 * MS, "the last SYN to the first target");
        assert_eq!(kinds(&out, Phase::Start), vec![ScanKind::PortSweep]);
        // 443 and min - 1 swept ports make min: the sweep starts at the one before last.
        assert_eq!(s.plain.packets, 1000 + min as u64);
        assert_eq!(s.plain.first_ns, 0);
        t.flush(&mut out);
        let end = out.iter().find(|e| e.phase == Phase::End).unwrap();
        assert_eq!(end.packets, 1000 + min as u64);
    }

    /// Two stray FINs (no nmap traits: TTL 64, window 501) are not a scan; the third is.
    #[test]
    fn untraited_probes_need_min_probes() {
        let mut t = ScanTracker::new(ScanConfig::default());
        let mut out = Vec::new();
        let mut fin = rec(FIN, 501, 64, &[]);
        for i in 1..=3u64 {
            fin.ts_ns = i * MS;
            t.observe(&Event::decode(&fin), &mut out);
            assert_eq!(out.len(), if i < 3 { 0 } else { 1 });
        }
        assert_eq!(out[0].tool, None);
    }

    /// Millions of spoofed sources, each sending nmap-template Xmas probes: the table
    /// stays at its cap, every eviction is counted, every started scan gets its end.
    #[test]
    fn spoofed_flood_stays_bounded() {
        const N: u32 = 2_000_000;
        let cfg = ScanConfig {
            max_sources: 4096,
            ..ScanConfig::default()
        };
        let mut t = ScanTracker::new(cfg.clone());
        let mut out = Vec::new();
        let mut ev = Event::decode(&rec(FIN | PSH | URG, 1024, 50, &[]));
        let (mut starts, mut ends) = (0u64, 0u64);
        for i in 0..N {
            // Spread over 10 s of capture time: nobody goes idle.
            ev.ts_ns = i as u64 * 5_000;
            ev.src = ip(0x0100_0000u32.wrapping_add(i.wrapping_mul(2_654_435_761)));
            t.observe(&ev, &mut out);
            for e in out.drain(..) {
                match e.phase {
                    Phase::Start => starts += 1,
                    Phase::End => ends += 1,
                }
            }
            assert!(t.tracked_sources() <= cfg.max_sources);
        }
        assert_eq!(t.tracked_sources(), cfg.max_sources);
        assert_eq!(
            t.counters.sources_evicted,
            (N as usize - cfg.max_sources) as u64
        );
        assert_eq!(
            t.counters.sources_evicted_active,
            t.counters.sources_evicted
        );
        assert_eq!(starts, N as u64);
        assert_eq!(ends, t.counters.sources_evicted);
        assert_eq!(t.counters.started(ScanKind::XmasScan), N as u64);
        t.flush(&mut out);
        assert_eq!(ends + out.len() as u64, N as u64);
        assert_eq!(t.tracked_sources(), 0);
    }

    /// A busy client with more distinct targets than the table holds, all answered:
    /// the table slides (oldest out), nothing is dropped or reported.
    #[test]
    fn busy_client_table_slides() {
        let mut t = ScanTracker::new(ScanConfig::default());
        let mut out = Vec::new();
        for h in 0..2000u32 {
            let s = syn(CLIENT, 0x3000_0000 + h, 50000, 443, h as u64 * MS);
            t.observe(&s, &mut out);
            t.observe(&synack(&s, h as u64 * MS + 1), &mut out);
        }
        assert!(out.is_empty());
        assert_eq!(t.counters.targets_dropped, 0);
        // Then it starts sweeping closed ports of one host: still seen.
        for p in 1..=30u16 {
            t.observe(
                &syn(CLIENT, SERVER, 50001, p, (3000 + p as u64) * MS),
                &mut out,
            );
        }
        assert_eq!(kinds(&out, Phase::Start), vec![ScanKind::PortSweep]);
    }

    /// One source spraying a million targets keeps at most `max_targets_per_source`.
    #[test]
    fn target_table_is_capped() {
        let mut t = ScanTracker::new(ScanConfig::default());
        let mut out = Vec::new();
        let mut ev = Event::decode(&rec(FIN | PSH | URG, 1024, 50, &[]));
        for i in 0..1_000_000u32 {
            ev.ts_ns = i as u64 * 1_000;
            ev.dst = ip(0x0b00_0000 + (i >> 8));
            ev.record.dport = i as u16;
            t.observe(&ev, &mut out);
        }
        t.flush(&mut out);
        let end = out.iter().find(|e| e.phase == Phase::End).unwrap();
        assert_eq!(end.packets, 1_000_000);
        assert!(end.targets_truncated);
        assert_eq!(t.counters.targets_dropped, 1_000_000 - 256);
    }
}
