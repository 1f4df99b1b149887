//! Per-source state: OS verdicts with counts, first/last capture time, hop distances
//! and distinct signatures, in a hard-capped LRU table with an eviction counter.
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
    hashing::{keyed_state, KeyedState},
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
    /// The source's scans that ended, oldest first.
    pub scans: ArrayVec<ScanSummary, MAX_SCANS>,
    pub scans_dropped: u64,
}

/// The table of sources, capped with LRU eviction.
pub struct SourceTable {
    map: LruCache<IpAddr, SourceState, KeyedState>,
    pub evictions: u64,
    clocks: ClockPool,
    /// Clock events of sources not in the table (no fingerprinted SYN / SYN-ACK yet, or
    /// evicted): not analysed.
    pub clock_events_without_source: u64,
    /// Clock events of sources in the table that were refused clock state because
    /// [`Self::max_clock_sources`] sources held it: not analysed.
    pub clock_events_refused: u64,
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
    /// false if refused.
    fn feed(&mut self, e: &mut SourceState, ev: &Event) -> bool {
        if e.clock.is_none() {
            if self.sources >= self.max_sources {
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
        SourceTable {
            map: LruCache::with_hasher(NonZeroUsize::new(cap.max(1)).unwrap(), keyed_state()),
            evictions: 0,
            clocks: ClockPool {
                cfg: ClockConfig::default(),
                retired: ClockCounters::default(),
                sources: 0,
                max_sources: clock_cap.min(cap.max(1)),
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
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    pub fn cap(&self) -> usize {
        self.map.cap().get()
    }

    /// Bytes of one entry's node: the heap block lru allocates per entry (its
    /// `LruEntry<IpAddr, SourceState>`: key, value, two list pointers), as glibc's
    /// malloc rounds it. Without the clock state, which only sources with clock events
    /// allocate.
    pub fn node_bytes() -> usize {
        malloc_block(std::mem::size_of::<LruNode>())
    }

    /// Bytes per entry at most: the node and the entry's share of the hash table,
    /// which has fewer than 4 x 8/7 buckets per entry (see [`hash_table_bytes`]).
    pub fn approx_entry_bytes() -> usize {
        Self::node_bytes() + (HASH_BUCKET_BYTES * 32).div_ceil(7)
    }

    /// Upper bound of one source's clock state (with the table's [`ClockConfig`]).
    pub fn clock_bytes_bound(&self) -> usize {
        ClockTracker::memory_bound(&self.clocks.cfg)
    }

    /// Upper bound of the table's memory at its cap, without clock state: a node per
    /// entry (and lru's two sentinel nodes) and the hash table lru allocates for the
    /// cap up front.
    pub fn approx_bytes(&self) -> usize {
        (self.cap() + 2) * Self::node_bytes() + hash_table_bytes(self.cap())
    }

    /// Upper bound with every source that may hold clock state (and the one spare
    /// tracker) at its clock worst case.
    pub fn approx_bytes_with_clocks(&self) -> usize {
        self.approx_bytes() + (self.clocks.max_sources + 1) * self.clock_bytes_bound()
    }

    /// The state of a source, created if new (evicting the least recently seen
    /// source when full).
    pub fn entry(&mut self, src: IpAddr, ts_ns: u64) -> &mut SourceState {
        Self::entry_in(
            &mut self.map,
            &mut self.evictions,
            &mut self.clocks,
            src,
            ts_ns,
        )
    }

    fn entry_in<'a>(
        map: &'a mut LruCache<IpAddr, SourceState, KeyedState>,
        evictions: &mut u64,
        clocks: &mut ClockPool,
        src: IpAddr,
        ts_ns: u64,
    ) -> &'a mut SourceState {
        if map.len() == map.cap().get() {
            // The evicted source's clock counters stay in the totals. Only a source
            // with clock state needs the extra lookup.
            if let Some((_, old)) = map.peek_lru() {
                if old.clock.is_some() && !map.contains(&src) {
                    let (_, old) = map.pop_lru().expect("peeked");
                    clocks.retire(old.clock.expect("checked"));
                    *evictions += 1;
                }
            }
        }
        let full = map.len() == map.cap().get();
        let mut created = false;
        // One lookup; at the cap a new source reuses the least recently used node.
        let e = map.get_or_insert_mut(src, || {
            created = true;
            SourceState {
                first_ns: ts_ns,
                last_ns: ts_ns,
                packets: 0,
                os: OsState {
                    verdicts: ArrayVec::new(),
                    hops: ArrayVec::new(),
                    sigs: ArrayVec::new(),
                    overflow: 0,
                },
                clock: None,
                scans: ArrayVec::new(),
                scans_dropped: 0,
            }
        });
        if created && full {
            *evictions += 1;
        }
        e.first_ns = e.first_ns.min(ts_ns);
        e.last_ns = e.last_ns.max(ts_ns);
        e
    }

    /// Records one fingerprinted packet of `src`.
    pub fn observe(&mut self, src: IpAddr, ts_ns: u64, sig: &Signature, v: &Verdict<'_>) {
        let e = self.entry(src, ts_ns);
        Self::record_os(e, sig, v);
    }

    /// Records one fingerprinted packet and feeds the same event to the source's clock
    /// state: [`Self::observe`] then [`Self::observe_clock`] with one lookup.
    pub fn observe_with_clock(&mut self, ev: &Event, sig: &Signature, v: &Verdict<'_>) {
        let e = Self::entry_in(
            &mut self.map,
            &mut self.evictions,
            &mut self.clocks,
            ev.src,
            ev.ts_ns,
        );
        Self::record_os(e, sig, v);
        if !self.clocks.feed(e, ev) {
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
        match self.map.get_mut(&ev.src) {
            Some(e) => {
                if !self.clocks.feed(e, ev) {
                    self.clock_events_refused += 1;
                }
            }
            None => self.clock_events_without_source += 1,
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
        if st.scans.try_push(ScanSummary::from(e)).is_err() {
            st.scans_dropped += 1;
        }
    }

    /// Clock counters over all sources, evicted ones included.
    pub fn clock_counters(&self) -> ClockCounters {
        let mut c = self.clocks.retired;
        for (_, s) in self.map.iter() {
            if let Some(t) = &s.clock {
                add_clock_counters(&mut c, &t.counters);
            }
        }
        c
    }

    /// New caps (a reload); shrinking evicts the least recently seen sources. Sources
    /// holding clock state beyond a smaller clock cap keep it until they are evicted.
    pub fn set_caps(&mut self, cap: usize, clock_cap: usize) {
        let cap = NonZeroUsize::new(cap.max(1)).unwrap();
        while self.map.len() > cap.get() {
            let (_, old) = self.map.pop_lru().expect("non-empty");
            if let Some(c) = old.clock {
                self.clocks.retire(c);
            }
            self.evictions += 1;
        }
        self.map.resize(cap);
        self.clocks.max_sources = clock_cap.min(cap.get());
    }

    /// Moves label ids to another database's (a reload): `map` gives the new id of an
    /// old one, `None` when the new database has no such label, which makes the
    /// verdict unknown (its count is kept).
    pub fn remap_labels(&mut self, mut map: impl FnMut(u32) -> Option<u32>) {
        for (_, s) in self.map.iter_mut() {
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
        self.map.peek(src)
    }

    /// Sources, most recently seen first.
    pub fn iter(&self) -> impl Iterator<Item = (&IpAddr, &SourceState)> {
        self.map.iter()
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

/// glibc malloc's block for `n` bytes on 64-bit Linux: an 8-byte size header, the
/// block a multiple of 16 bytes, at least 32.
fn malloc_block(n: usize) -> usize {
    (n + 8).next_multiple_of(16).max(32)
}

/// One bucket of lru's hash table: `(KeyRef<IpAddr>, NonNull<LruEntry>)`, two pointers,
/// and its control byte.
const HASH_BUCKET_BYTES: usize = 2 * std::mem::size_of::<usize>() + 1;

/// The bytes of lru's hash table for `cap` entries, at most. lru allocates it with
/// `HashMap::with_capacity(cap)`: hashbrown's buckets are a power of two with at least
/// one in eight empty (for small tables at most 3 of 4, 7 of 8, 14 of 16), plus one
/// group (16) of trailing control bytes. At the cap, every eviction removes a key and
/// inserts another, and the removals leave tombstones: when they use up the spare
/// buckets hashbrown grows the table once, to twice the buckets (the old one is freed);
/// from then on the table is less than half full and it rehashes in place.
pub fn hash_table_bytes(cap: usize) -> usize {
    let buckets = match cap {
        0..4 => 4,
        4..8 => 8,
        8..15 => 16,
        _ => (cap * 8 / 7).next_power_of_two(),
    };
    malloc_block(2 * buckets * HASH_BUCKET_BYTES + 16)
}

/// Two signatures print the same (ignoring what varies per packet: the TSval).
pub fn same_sig(a: &Signature, b: &Signature) -> bool {
    let mut b2 = *b;
    b2.ts1 = a.ts1;
    // ts1 only matters through the `ts1-` quirk and the window rule, both kept.
    *a == b2
}
