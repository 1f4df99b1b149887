//! Per-source state: OS verdicts with counts, first/last capture time, hop distances
//! and distinct signatures, in a hard-capped table with eviction counters.
//!
//! Two segments, so that a flood of spoofed one-packet sources cannot push out the
//! sources that matter (a segmented LRU): a new source enters *probation*; its second
//! event of any kind (the handshake ACK of its connection, a timestamp sample, a second
//! SYN, a scan's end) promotes it to *established*. A new source, when the table is
//! full, evicts the least recently seen probation source; established sources are
//! evicted only to make room for a promotion (the least recently seen established one
//! goes) or, with probation empty, for a new source. Established sources are capped at
//! `cap - cap / 8` so probation always has at least an eighth of the table: a real
//! client's SYN survives in probation until its handshake ACK arrives, while spoofed
//! sources only ever evict each other. A random-source flood never promotes (each
//! address is seen once); a small pool of spoofed addresses repeating can take at most
//! its own size of the established segment.
//!
//! Memory bound: every per-source list is a fixed-capacity `ArrayVec` (no heap), so an
//! entry is one heap node (the state, the key, two list pointers) plus a slot of the
//! hash table lru sizes for the cap; see [`SourceTable::approx_bytes`] and
//! `tests/source_table.rs`, which counts the bytes actually allocated. Clock / IP ID state
//! ([`ClockTracker`], allocated on a source's first clock event, bounded by its
//! [`ClockConfig`]) and the source's finished scans (a fixed list) live in the same
//! entry, so one cap and one eviction policy cover them all. Clock state is much
//! bigger than the rest at its worst, so it has its own cap on how many sources hold
//! it ([`SourceTable::max_clock_sources`]); events of sources refused it are counted
//! ([`SourceTable::clock_events_refused`]), and [`SourceTable::approx_bytes_with_clocks`]
//! is the bound with every allowed source at its clock worst case.

use std::{net::IpAddr, num::NonZeroUsize};

use arrayvec::ArrayVec;
use lru::LruCache;

use crate::{
    analysis::{
        clock::{ClockConfig, ClockCounters, ClockTracker},
        fingerprint::{MatchKind, Signature, Verdict},
        scan::{report::ScanSummary, Phase, ScanEvent},
    },
    decode::Event,
    hashing::{keyed_state, malloc_block, KeyedState},
};

/// Distinct verdicts kept per source.
pub const MAX_VERDICTS: usize = 4;
/// Distinct hop distances kept per source.
pub const MAX_HOPS: usize = 4;
/// Distinct signatures kept per source.
pub const MAX_SIGS: usize = 4;
/// Finished scans kept per source (further ones are counted in `scans_dropped`).
pub const MAX_SCANS: usize = 8;
/// Default cap on sources.
pub const DEFAULT_CAP: usize = 65_536;
/// The established segment's share of the cap: all but an eighth, the least probation
/// keeps.
pub fn established_cap(cap: usize) -> usize {
    cap - cap / 8
}

/// Default cap on sources holding clock state: with the default [`ClockConfig`] at
/// its worst case (just under 15 KB a source) this keeps the table with clocks under
/// 256 MiB at [`DEFAULT_CAP`].
pub const DEFAULT_CLOCK_SOURCES: usize = 12_288;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VerdictCount {
    /// Label id in the database; `None` for unknown.
    pub label: Option<u32>,
    pub kind: MatchKind,
    pub count: u64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SigCount {
    pub sig: Signature,
    pub count: u64,
}

/// What the fingerprinting stage knows about one source.
#[derive(Clone, Debug, PartialEq)]
pub struct OsState {
    pub verdicts: ArrayVec<VerdictCount, MAX_VERDICTS>,
    pub hops: ArrayVec<(u8, u64), MAX_HOPS>,
    pub sigs: ArrayVec<SigCount, MAX_SIGS>,
    /// Observations that did not fit a full list (a new distinct value).
    pub overflow: u64,
}

/// Everything kept per source address. New per-source stages add their own field
/// here (fixed size, bounded lists).
pub struct SourceState {
    /// Capture time, Unix ns.
    pub first_ns: u64,
    pub last_ns: u64,
    /// SYN / SYN-ACK packets fingerprinted.
    pub packets: u64,
    pub os: OsState,
    /// Clock and IP ID analysis of everything the source sent; boxed so that a source
    /// without clock events costs one pointer.
    pub clock: Option<Box<ClockTracker>>,
    /// The source's scans that ended, oldest first ([`Self::scans`]); boxed because
    /// most sources never scan, and a smaller entry is cheaper to move (every eviction
    /// and promotion moves one).
    scans: Option<Box<ScanList>>,
    pub scans_dropped: u64,
    /// When the source was last looked up (the table's sequence): both segments'
    /// recency in one order.
    touched: u64,
    /// The source's place in [`Segments::slots`].
    slot: u32,
}

/// A source's finished scans.
type ScanList = ArrayVec<ScanSummary, MAX_SCANS>;

impl SourceState {
    /// The source's scans that ended, oldest first (at most [`MAX_SCANS`]; further
    /// ones are counted in `scans_dropped`).
    pub fn scans(&self) -> &[ScanSummary] {
        self.scans.as_deref().map_or(&[], |l| l.as_slice())
    }
}

/// The table's segments, as label values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum Segment {
    /// Sources seen once.
    Probation,
    /// Sources seen again.
    Established,
}

impl Segment {
    pub fn name(self) -> &'static str {
        self.into()
    }
}

type Lru = LruCache<IpAddr, SourceState, KeyedState>;

/// The table of sources, capped, in two LRU segments (see the module comment).
pub struct SourceTable {
    segs: Segments,
    clocks: ClockPool,
    /// Clock events of sources not in the table (no fingerprinted SYN / SYN-ACK yet, or
    /// evicted): not analysed.
    pub clock_events_without_source: u64,
    /// Clock events of sources in the table that were refused clock state because
    /// [`Self::max_clock_sources`] sources held it: not analysed.
    pub clock_events_refused: u64,
}

/// The two segments and their counters (apart from the clock pool, so that a looked-up
/// entry and the pool can be borrowed at once).
struct Segments {
    /// Sources seen once; lru's capacity is the whole cap (probation may use every slot
    /// established does not), the cap itself is kept by [`Segments::lookup`].
    probation: Lru,
    established: Lru,
    cap: usize,
    /// Evictions by segment (index: [`Segment`]).
    evicted: [u64; 2],
    /// Sources moved from probation to established.
    promotions: u64,
    seq: u64,
    /// Every source's address and segment at a place that does not change while it
    /// is in the table (`None`: free, listed in `free`), so that a walk of the table can stop
    /// and resume between two ring batches ([`SourceTable::slot`]), which lru's
    /// iterators cannot.
    slots: Vec<Option<(IpAddr, Segment)>>,
    free: Vec<u32>,
}

/// The table's clock bookkeeping (apart from the map, so both can be borrowed at once).
struct ClockPool {
    cfg: ClockConfig,
    /// Clock counters of evicted sources (live ones are summed on demand).
    retired: ClockCounters,
    /// Sources holding clock state now, and their cap.
    sources: usize,
    max_sources: usize,
    /// An evicted source's clock tracker, reset, for the next source (saves the
    /// allocation and its page faults when sources churn).
    spare: Option<Box<ClockTracker>>,
}

impl ClockPool {
    /// Takes an evicted source's clock state: counters kept, tracker kept for reuse.
    fn retire(&mut self, mut c: Box<ClockTracker>) {
        add_clock_counters(&mut self.retired, &c.counters);
        self.sources -= 1;
        c.reset();
        self.spare = Some(c);
    }

    /// Feeds `ev` to the source's clock state, giving it some if the cap allows;
    /// false if refused. A source in probation gets none within the last quarter of the
    /// cap: a flood of new sources with timestamps cannot take all of it.
    fn feed(&mut self, e: &mut SourceState, ev: &Event, probation: bool) -> bool {
        if e.clock.is_none() {
            let limit = if probation {
                self.max_sources - self.max_sources / 4
            } else {
                self.max_sources
            };
            if self.sources >= limit {
                return false;
            }
            self.sources += 1;
            let cfg = self.cfg;
            e.clock = Some(
                self.spare
                    .take()
                    .unwrap_or_else(|| Box::new(ClockTracker::new(cfg))),
            );
        }
        e.clock.as_mut().expect("set above").observe(ev);
        true
    }
}

impl Segments {
    /// Marks a looked-up entry recent; with `create`'s time, a packet of it seen then.
    fn touch(e: &mut SourceState, seq: u64, create: Option<u64>) {
        e.touched = seq;
        if let Some(ts) = create {
            e.first_ns = e.first_ns.min(ts);
            e.last_ns = e.last_ns.max(ts);
        }
    }

    /// An established source's state, touched, in one probe of the map: most packets
    /// of a busy link come from established sources. `None` for the rest (then
    /// [`Segments::lookup`]).
    fn established(&mut self, src: &IpAddr, create: Option<u64>) -> Option<&mut SourceState> {
        let e = self.established.get_mut(src)?;
        self.seq += 1;
        Self::touch(e, self.seq, create);
        Some(e)
    }

    /// The state of a source and whether it is in probation; with `create`'s time, a
    /// new source is created, otherwise `None` for one not in the table. Touches
    /// (recency) and promotes from probation.
    fn lookup(
        &mut self,
        clocks: &mut ClockPool,
        src: IpAddr,
        create: Option<u64>,
    ) -> (Option<&mut SourceState>, bool) {
        // `contains` then `get_mut`: returning `get_mut`'s borrow from inside an
        // `if let` keeps `self` borrowed for the rest of the function (a borrow-checker
        // limit), and the second probe hits a cache line just read. The packet path
        // avoids it: [`Segments::established`], then [`Segments::not_established`].
        if self.established.contains(&src) {
            return (self.established(&src, create), false);
        }
        self.not_established(clocks, src, create)
    }

    /// [`Segments::lookup`] of a source known not to be established.
    fn not_established(
        &mut self,
        clocks: &mut ClockPool,
        src: IpAddr,
        create: Option<u64>,
    ) -> (Option<&mut SourceState>, bool) {
        self.seq += 1;
        let seq = self.seq;
        let touch = |e: &mut SourceState| Self::touch(e, seq, create);
        if let Some(st) = self.probation.pop(&src) {
            // Seen again: established. A full segment gives up its least recent.
            if self.established.len() == self.established.cap().get() {
                let (_, old) = self.established.pop_lru().expect("full");
                self.retire(clocks, old, Segment::Established);
            }
            self.promotions += 1;
            self.slots[st.slot as usize] = Some((src, Segment::Established));
            let e = self.established.get_or_insert_mut(src, || st);
            touch(e);
            return (Some(e), false);
        }
        let Some(ts) = create else {
            return (None, false);
        };
        if self.probation.len() + self.established.len() == self.cap {
            let (victim, seg) = if self.probation.is_empty() {
                (self.established.pop_lru(), Segment::Established)
            } else {
                (self.probation.pop_lru(), Segment::Probation)
            };
            self.retire(clocks, victim.expect("full").1, seg);
        }
        let slot = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some((src, Segment::Probation));
                i
            }
            None => {
                self.slots.push(Some((src, Segment::Probation)));
                (self.slots.len() - 1) as u32
            }
        };
        let e = self.probation.get_or_insert_mut(src, || SourceState {
            first_ns: ts,
            last_ns: ts,
            packets: 0,
            os: OsState {
                verdicts: ArrayVec::new(),
                hops: ArrayVec::new(),
                sigs: ArrayVec::new(),
                overflow: 0,
            },
            clock: None,
            scans: None,
            scans_dropped: 0,
            touched: seq,
            slot,
        });
        touch(e);
        (Some(e), true)
    }

    /// Counts an evicted source; its clock counters stay in the totals.
    fn retire(&mut self, clocks: &mut ClockPool, old: SourceState, seg: Segment) {
        self.slots[old.slot as usize] = None;
        self.free.push(old.slot);
        if let Some(c) = old.clock {
            clocks.retire(c);
        }
        self.evicted[seg as usize] += 1;
    }
}

/// Adds `b` into `a`.
pub fn add_clock_counters(a: &mut ClockCounters, b: &ClockCounters) {
    a.events += b.events;
    a.scan_probes_skipped += b.scan_probes_skipped;
    a.no_timestamp += b.no_timestamp;
    a.zero_tsval += b.zero_tsval;
    a.restarted += b.restarted;
    a.evicted += b.evicted;
    a.finished_dropped += b.finished_dropped;
}

/// Adds 1 to the entry equal by `same`, or pushes a new one, or counts an overflow.
fn bump<T, const N: usize>(
    list: &mut ArrayVec<T, N>,
    overflow: &mut u64,
    same: impl Fn(&T) -> bool,
    count: impl Fn(&mut T) -> &mut u64,
    new: impl FnOnce() -> T,
) {
    if let Some(e) = list.iter_mut().find(|e| same(e)) {
        *count(e) += 1;
    } else if list.is_full() {
        *overflow += 1;
    } else {
        list.push(new());
    }
}

impl SourceTable {
    /// A table of at most `cap` sources, at most [`DEFAULT_CLOCK_SOURCES`] (and `cap`)
    /// of them with clock state.
    pub fn new(cap: usize) -> Self {
        Self::with_clock_cap(cap, DEFAULT_CLOCK_SOURCES)
    }

    /// A table of at most `cap` sources, at most `clock_cap` of them with clock state.
    pub fn with_clock_cap(cap: usize, clock_cap: usize) -> Self {
        let cap = cap.max(1);
        SourceTable {
            segs: Segments {
                probation: LruCache::with_hasher(NonZeroUsize::new(cap).unwrap(), keyed_state()),
                established: LruCache::with_hasher(
                    NonZeroUsize::new(established_cap(cap)).unwrap(),
                    keyed_state(),
                ),
                cap,
                evicted: [0; 2],
                promotions: 0,
                seq: 0,
                slots: Vec::with_capacity(cap),
                free: Vec::new(),
            },
            clocks: ClockPool {
                cfg: ClockConfig::default(),
                retired: ClockCounters::default(),
                sources: 0,
                max_sources: clock_cap.min(cap),
                spare: None,
            },
            clock_events_without_source: 0,
            clock_events_refused: 0,
        }
    }

    /// Most sources that may hold clock state at once.
    pub fn max_clock_sources(&self) -> usize {
        self.clocks.max_sources
    }

    /// Sources holding clock state now.
    pub fn clock_sources(&self) -> usize {
        self.clocks.sources
    }

    pub fn len(&self) -> usize {
        self.segs.probation.len() + self.segs.established.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn cap(&self) -> usize {
        self.segs.cap
    }
    /// Sources in a segment now.
    pub fn segment_len(&self, seg: Segment) -> usize {
        match seg {
            Segment::Probation => self.segs.probation.len(),
            Segment::Established => self.segs.established.len(),
        }
    }
    /// Most sources a segment may hold.
    pub fn segment_cap(&self, seg: Segment) -> usize {
        match seg {
            Segment::Probation => self.segs.cap,
            Segment::Established => self.segs.established.cap().get(),
        }
    }
    /// Evictions of both segments.
    pub fn evictions(&self) -> u64 {
        self.segs.evicted.iter().sum()
    }
    /// Evictions from one segment.
    pub fn evicted(&self, seg: Segment) -> u64 {
        self.segs.evicted[seg as usize]
    }
    /// Sources moved from probation to established.
    pub fn promotions(&self) -> u64 {
        self.segs.promotions
    }
    /// The segment a source is in.
    pub fn segment(&self, src: &IpAddr) -> Option<Segment> {
        if self.segs.established.contains(src) {
            Some(Segment::Established)
        } else if self.segs.probation.contains(src) {
            Some(Segment::Probation)
        } else {
            None
        }
    }

    /// Bytes of one entry's node: the heap block lru allocates per entry (its
    /// `LruEntry<IpAddr, SourceState>`: key, value, two list pointers), as glibc's
    /// malloc rounds it. Without the clock state, which only sources with clock events
    /// allocate.
    pub fn node_bytes() -> usize {
        malloc_block(std::mem::size_of::<LruNode>())
    }

    /// Bytes per entry at most: the node and the entry's share of the two segments'
    /// hash tables, each with fewer than 4 x 8/7 buckets per entry of its cap (see
    /// [`hash_table_bytes`]).
    pub fn approx_entry_bytes() -> usize {
        Self::node_bytes() + ((HASH_SLOT_BYTES + 1) * 2 * 32).div_ceil(7)
    }

    /// Upper bound of one source's clock state (with the table's [`ClockConfig`]).
    pub fn clock_bytes_bound(&self) -> usize {
        ClockTracker::memory_bound(&self.clocks.cfg)
    }

    /// Upper bound of the table's memory at its cap, without clock state: a node per
    /// entry (and each segment's two sentinel nodes) and the hash tables lru allocates
    /// for each segment's cap up front.
    pub fn approx_bytes(&self) -> usize {
        Self::bytes_at(self.cap())
    }

    /// [`Self::approx_bytes`] of a table of `cap` sources, without building it (at a
    /// large cap, building allocates the hash tables).
    pub fn bytes_at(cap: usize) -> usize {
        let cap = cap.max(1);
        (cap + 4) * Self::node_bytes()
            + hash_table_bytes(cap)
            + hash_table_bytes(established_cap(cap))
            + slot_bytes(cap)
    }

    /// Upper bound of the finished-scan lists at `cap` sources: each source holds one
    /// from its first finished scan on (none without).
    pub fn scan_bytes_at(cap: usize) -> usize {
        cap.max(1)
            .saturating_mul(malloc_block(std::mem::size_of::<ScanList>()))
    }

    /// Upper bound with every source that may hold clock state (and the one spare
    /// tracker) at its clock worst case.
    pub fn approx_bytes_with_clocks(&self) -> usize {
        self.approx_bytes() + (self.clocks.max_sources + 1) * self.clock_bytes_bound()
    }

    /// The clock part of [`Self::approx_bytes_with_clocks`] for a table built with
    /// [`Self::with_clock_cap`]`(cap, clock_cap)`, without building it.
    pub fn clock_bytes_at(cap: usize, clock_cap: usize) -> usize {
        let sources = clock_cap.min(cap.max(1)) + 1;
        sources.saturating_mul(ClockTracker::memory_bound(&ClockConfig::default()))
    }

    /// The state of a source, created if new (see the module comment for what is
    /// evicted when full), promoted to established if it was in probation.
    pub fn entry(&mut self, src: IpAddr, ts_ns: u64) -> &mut SourceState {
        let (e, _) = self.segs.lookup(&mut self.clocks, src, Some(ts_ns));
        e.expect("created")
    }

    /// Records one fingerprinted packet of `src`.
    pub fn observe(&mut self, src: IpAddr, ts_ns: u64, sig: &Signature, v: &Verdict<'_>) {
        let e = self.entry(src, ts_ns);
        Self::record_os(e, sig, v);
    }

    /// Records one fingerprinted packet and feeds the same event to the source's clock
    /// state: [`Self::observe`] then [`Self::observe_clock`] with one lookup.
    pub fn observe_with_clock(&mut self, ev: &Event, sig: &Signature, v: &Verdict<'_>) {
        let (e, probation) = match self.segs.established(&ev.src, Some(ev.ts_ns)) {
            Some(e) => (e, false),
            None => {
                let (e, probation) =
                    self.segs
                        .not_established(&mut self.clocks, ev.src, Some(ev.ts_ns));
                (e.expect("created"), probation)
            }
        };
        Self::record_os(e, sig, v);
        if !self.clocks.feed(e, ev, probation) {
            self.clock_events_refused += 1;
        }
    }

    fn record_os(e: &mut SourceState, sig: &Signature, v: &Verdict<'_>) {
        e.packets += 1;
        let os = &mut e.os;
        let label = v.label.map(|l| l.id);
        bump(
            &mut os.verdicts,
            &mut os.overflow,
            |x| x.label == label && x.kind == v.kind,
            |x| &mut x.count,
            || VerdictCount {
                label,
                kind: v.kind,
                count: 1,
            },
        );
        bump(
            &mut os.hops,
            &mut os.overflow,
            |x| x.0 == v.dist,
            |x| &mut x.1,
            || (v.dist, 1),
        );
        bump(
            &mut os.sigs,
            &mut os.overflow,
            |x| same_sig(&x.sig, sig),
            |x| &mut x.count,
            || SigCount {
                sig: *sig,
                count: 1,
            },
        );
    }

    /// Feeds an event to its source's clock tracker, if the source is in the table
    /// (and holds clock state or may get it).
    pub fn observe_clock(&mut self, ev: &Event) {
        let found = match self.segs.established(&ev.src, None) {
            Some(e) => (Some(e), false),
            None => self.segs.not_established(&mut self.clocks, ev.src, None),
        };
        match found {
            (Some(e), probation) => {
                if !self.clocks.feed(e, ev, probation) {
                    self.clock_events_refused += 1;
                }
            }
            (None, _) => self.clock_events_without_source += 1,
        }
    }

    /// Records a scan in its source's entry, created at the scan's start (a FIN
    /// scanner sends nothing else, and a running scan must be visible); the summary
    /// is added at its end.
    pub fn record_scan(&mut self, e: &ScanEvent) {
        let st = self.entry(e.src, e.first_ns);
        if e.phase != Phase::End {
            return;
        }
        st.last_ns = st.last_ns.max(e.last_ns);
        let list = st.scans.get_or_insert_with(Box::default);
        if list.try_push(ScanSummary::from(e)).is_err() {
            st.scans_dropped += 1;
        }
    }

    /// Clock counters over all sources, evicted ones included.
    pub fn clock_counters(&self) -> ClockCounters {
        let mut c = self.clocks.retired;
        for (_, s) in self.iter() {
            if let Some(t) = &s.clock {
                add_clock_counters(&mut c, &t.counters);
            }
        }
        c
    }

    /// New caps (a reload); shrinking evicts the least recently seen sources,
    /// probation's first. Sources holding clock state beyond a smaller clock cap keep it
    /// until they are evicted.
    pub fn set_caps(&mut self, cap: usize, clock_cap: usize) {
        let cap = cap.max(1);
        let est = established_cap(cap);
        let g = &mut self.segs;
        while g.established.len() > est {
            let (_, old) = g.established.pop_lru().expect("non-empty");
            g.retire(&mut self.clocks, old, Segment::Established);
        }
        while g.probation.len() + g.established.len() > cap {
            let (_, old) = g.probation.pop_lru().expect("established fits");
            g.retire(&mut self.clocks, old, Segment::Probation);
        }
        g.probation.resize(NonZeroUsize::new(cap).unwrap());
        g.established.resize(NonZeroUsize::new(est).unwrap());
        g.cap = cap;
        // Slots renumbered from 0, the list sized to the new cap (a walk under way
        // may miss or repeat sources once; the reload makes its index stale anyway).
        g.slots.clear();
        g.free = Vec::new();
        g.slots.shrink_to(cap);
        g.slots.reserve_exact(cap);
        for (seg, lru) in [
            (Segment::Probation, &mut g.probation),
            (Segment::Established, &mut g.established),
        ] {
            for (a, s) in lru.iter_mut() {
                s.slot = g.slots.len() as u32;
                g.slots.push(Some((*a, seg)));
            }
        }
        self.clocks.max_sources = clock_cap.min(cap);
    }

    /// Moves label ids to another database's (a reload): `map` gives the new id of an
    /// old one, `None` when the new database has no such label, which makes the
    /// verdict unknown (its count is kept).
    pub fn remap_labels(&mut self, mut map: impl FnMut(u32) -> Option<u32>) {
        let g = &mut self.segs;
        for (_, s) in g.probation.iter_mut().chain(g.established.iter_mut()) {
            for v in s.os.verdicts.iter_mut() {
                if let Some(old) = v.label {
                    v.label = map(old);
                    if v.label.is_none() {
                        v.kind = MatchKind::Unknown;
                    }
                }
            }
        }
    }

    pub fn get(&self, src: &IpAddr) -> Option<&SourceState> {
        let g = &self.segs;
        g.established.peek(src).or_else(|| g.probation.peek(src))
    }

    /// One past the highest slot in use so far: [`Self::slot`]'s range.
    pub fn slots(&self) -> usize {
        self.segs.slots.len()
    }

    /// The source at slot `i`, if one is there. A source keeps its slot for as long as
    /// it is in the table, so a walk of `0..slots()` in steps, with the table changing
    /// between them, sees every source that stayed in the table throughout exactly
    /// once (sources that came in meanwhile may be missed).
    pub fn slot(&self, i: usize) -> Option<(IpAddr, &SourceState)> {
        let (a, seg) = (*self.segs.slots.get(i)?)?;
        // The segment kept with the slot saves probing the other one.
        let s = match seg {
            Segment::Probation => self.segs.probation.peek(&a),
            Segment::Established => self.segs.established.peek(&a),
        };
        s.map(|s| (a, s))
    }

    /// Sources, most recently looked up first (both segments merged).
    pub fn iter(&self) -> impl Iterator<Item = (&IpAddr, &SourceState)> {
        let mut a = self.segs.established.iter().peekable();
        let mut b = self.segs.probation.iter().peekable();
        std::iter::from_fn(move || match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.1.touched >= y.1.touched => a.next(),
            (Some(_), Some(_)) | (None, Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, None) => None,
        })
    }
}

/// The layout of lru's per-entry node (`LruEntry<K, V>`: `MaybeUninit<K>`,
/// `MaybeUninit<V>` and two raw pointers), for the memory bound; never built.
#[allow(dead_code)]
struct LruNode {
    key: IpAddr,
    val: SourceState,
    prev: *mut u8,
    next: *mut u8,
}

/// One slot of lru's hash table: `(KeyRef<IpAddr>, NonNull<LruEntry>)`, two pointers.
const HASH_SLOT_BYTES: usize = 2 * std::mem::size_of::<usize>();

/// The bytes of lru's hash table for `cap` entries, at most: lru allocates it with
/// `HashMap::with_capacity(cap)` (see [`crate::hashing::hash_table_bytes`]).
pub fn hash_table_bytes(cap: usize) -> usize {
    crate::hashing::hash_table_bytes(cap, HASH_SLOT_BYTES)
}

/// The slot list at `cap` sources (allocated at the cap, renumbered when a reload
/// shrinks it) and its free list, which holds at most one slot between two lookups
/// (an eviction frees one, the new source takes it): its first allocation.
fn slot_bytes(cap: usize) -> usize {
    malloc_block(cap * std::mem::size_of::<Option<(IpAddr, Segment)>>())
        + malloc_block(4 * std::mem::size_of::<u32>())
}

/// Two signatures print the same (ignoring what varies per packet: the TSval).
pub fn same_sig(a: &Signature, b: &Signature) -> bool {
    let mut b2 = *b;
    b2.ts1 = a.ts1;
    // ts1 only matters through the `ts1-` quirk and the window rule, both kept.
    *a == b2
}
