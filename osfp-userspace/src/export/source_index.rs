//! The ordered index `/api/v1/sources` pages from, so that no request walks or sorts
//! the source table on the packet thread.
//!
//! The consumer loop copies each source's address and [`Traits`] (what the filters look
//! at) in steps of [`WALK_STEP`] slots between ring batches; the copy is sorted and
//! split into one sorted list per distinct `Traits` value off that thread
//! ([`SourceIndex::build`], in tokio's blocking pool). A page is then a merge of the
//! lists the filter admits, from `after` on: `O(lists × log n + limit)`, whatever the
//! table's size (at most 80 lists: ten families by three flags). The index is
//! rebuilt when a request finds it older than [`SourceIndex::max_age`] (a second, or
//! ten times what its walk cost the packet thread, whichever is longer) and the table
//! changed since: however many requests come, walks take at most a tenth of the packet
//! thread, whatever the table's size.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap, HashSet},
    net::IpAddr,
    time::Duration,
};

use strum::IntoEnumIterator;

use crate::{
    analysis::fingerprint::{Database, Family, MatchKind},
    pipeline::Pipeline,
    sources::{source_family, SourceState},
};

use super::api::Filter;

/// Slots of the table copied per step of a walk: a fraction of a millisecond on the
/// packet thread (see BENCHMARKS.md, "API at 1 M sources").
pub const WALK_STEP: usize = 4096;
/// An index younger than this is used as it is; an older one is checked against the
/// table's generation and rebuilt if the table changed (see [`SourceIndex::max_age`]).
pub const INDEX_MAX_AGE: Duration = Duration::from_secs(1);
/// A walk may take at most this share of the packet thread: 1 / 10.
const WALK_SHARE_INVERSE: u32 = 10;

/// What `/api/v1/sources`'s filters look at, packed in a byte: the family (low four
/// bits), some fingerprint unknown, scanning, several hosts behind the address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Traits(u8);

const UNKNOWN: u8 = 1 << 4;
const SCANNING: u8 = 1 << 5;
const MULTI: u8 = 1 << 6;

impl Traits {
    pub fn new(family: Family, unknown: bool, scanning: bool, multiple_hosts: bool) -> Traits {
        let bit = |b: bool, v: u8| if b { v } else { 0 };
        Traits(
            family as u8
                | bit(unknown, UNKNOWN)
                | bit(scanning, SCANNING)
                | bit(multiple_hosts, MULTI),
        )
    }

    /// The family part.
    pub fn family(self) -> Family {
        Family::iter()
            .nth((self.0 & 0x0f) as usize)
            .expect("built from a Family")
    }

    /// A source's traits now. `multi`: the sources with several machines behind them
    /// at the last clock sweep.
    pub fn of(
        p: &Pipeline,
        db: &Database,
        src: &IpAddr,
        s: &SourceState,
        multi: &HashSet<IpAddr>,
    ) -> Traits {
        Traits::new(
            source_family(s, db),
            s.os.verdicts.iter().any(|v| v.kind == MatchKind::Unknown),
            p.scans.is_active(src) || !s.scans().is_empty(),
            multi.contains(src),
        )
    }
}

impl Filter {
    /// The filter's parameters hold for a source with these traits.
    pub fn admits(&self, t: Traits) -> bool {
        let flag = |want: Option<bool>, bit: u8| want.is_none_or(|w| w == (t.0 & bit != 0));
        self.family.is_none_or(|f| f as u8 == t.0 & 0x0f)
            && flag(self.unknown, UNKNOWN)
            && flag(self.scanning, SCANNING)
            && flag(self.multiple_hosts, MULTI)
    }
}

/// The copy of the table a walk produced.
#[derive(Clone)]
pub struct Walked {
    /// The consumer's generation when the walk began (see [`SourceIndex::generation`]).
    pub generation: u64,
    /// Unix time of the walk's start, seconds.
    pub as_of: f64,
    pub entries: Vec<(IpAddr, Traits)>,
    /// The packet thread's time in the walk's steps.
    pub cpu: Duration,
}

impl Walked {
    /// A walk starting now, at the consumer's `generation`, of a table of `len`.
    pub fn start(generation: u64, as_of: f64, len: usize) -> Walked {
        Walked {
            generation,
            as_of,
            entries: Vec::with_capacity(len),
            cpu: Duration::ZERO,
        }
    }

    /// Copies the sources of slots `from..` (at most [`WALK_STEP`] of them, on the
    /// packet thread); returns the slot to go on from, `None` at the end of the table.
    pub fn step(
        &mut self,
        p: &Pipeline,
        db: &Database,
        multi: &HashSet<IpAddr>,
        from: usize,
    ) -> Option<usize> {
        let t = std::time::Instant::now();
        let end = (from + WALK_STEP).min(p.sources.slots());
        for i in from..end {
            if let Some((a, s)) = p.sources.slot(i) {
                self.entries.push((a, Traits::of(p, db, &a, s, multi)));
            }
        }
        self.cpu += t.elapsed();
        (end < p.sources.slots()).then_some(end)
    }
}

/// Sources by traits, each list sorted by address.
pub struct SourceIndex {
    /// The consumer loop's count of changes (records, sweeps, reloads) when the walk
    /// began: an index of the same generation is still exact.
    pub generation: u64,
    pub as_of: f64,
    /// What the walk cost the packet thread.
    pub walk_cpu: Duration,
    lists: Vec<(Traits, Vec<IpAddr>)>,
}

/// One page: the matching total, the page's addresses, the `after` of the next page.
#[derive(Debug, PartialEq)]
pub struct Page {
    pub total: usize,
    pub addrs: Vec<IpAddr>,
    pub next: Option<IpAddr>,
}

impl SourceIndex {
    /// Sorts a walk's copy into lists (off the packet thread: `O(n log n)`). A source
    /// that moved during the walk may have been copied twice: it is kept once.
    pub fn build(mut w: Walked) -> SourceIndex {
        w.entries.sort_unstable_by_key(|e| e.0);
        w.entries.dedup_by_key(|e| e.0);
        let mut by: HashMap<Traits, Vec<IpAddr>> = HashMap::new();
        for (a, t) in w.entries {
            by.entry(t).or_default().push(a);
        }
        let mut lists: Vec<_> = by.into_iter().collect();
        lists.sort_unstable_by_key(|l| l.0);
        SourceIndex {
            generation: w.generation,
            as_of: w.as_of,
            walk_cpu: w.cpu,
            lists,
        }
    }

    /// How long the index is used before the table is asked whether it changed: a
    /// second, or long enough that its walk took at most a tenth of the packet thread
    /// (2.5 s at 1 M sources here).
    pub fn max_age(&self) -> Duration {
        INDEX_MAX_AGE.max(self.walk_cpu * WALK_SHARE_INVERSE)
    }

    /// Memory at `cap` sources, at most: the index held, a walk's copy, and the next
    /// index being built from it.
    pub fn bytes_at(cap: usize) -> usize {
        let entry = std::mem::size_of::<(IpAddr, Traits)>();
        let addr = std::mem::size_of::<IpAddr>();
        // Held lists, the copy (it grows if the table does during the walk), the new
        // lists; each may have doubled past its size.
        cap.saturating_mul(2 * addr + 2 * entry + 2 * addr)
    }

    pub fn len(&self) -> usize {
        self.lists.iter().map(|l| l.1.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The page of `f`: up to `f.limit` addresses after `f.after`, in address order.
    pub fn page(&self, f: &Filter) -> Page {
        let lists: Vec<&[IpAddr]> = self
            .lists
            .iter()
            .filter(|l| f.admits(l.0))
            .map(|l| l.1.as_slice())
            .collect();
        let total = lists.iter().map(|l| l.len()).sum();
        // A k-way merge from each list's first address after `after`.
        let mut heads: BinaryHeap<Reverse<(IpAddr, usize, usize)>> = lists
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                let at = f.after.map_or(0, |a| l.partition_point(|x| *x <= a));
                l.get(at).map(|x| Reverse((*x, i, at)))
            })
            .collect();
        let mut addrs = Vec::with_capacity(f.limit.min(total));
        while addrs.len() < f.limit {
            let Some(Reverse((a, i, at))) = heads.pop() else {
                break;
            };
            addrs.push(a);
            if let Some(x) = lists[i].get(at + 1) {
                heads.push(Reverse((*x, i, at + 1)));
            }
        }
        let next = if heads.is_empty() {
            None
        } else {
            addrs.last().copied()
        };
        Page { total, addrs, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(i: u32) -> IpAddr {
        IpAddr::from(i.to_be_bytes())
    }

    /// What the filter admits, by brute force: filtered, sorted, once each.
    fn hits(entries: &[(IpAddr, Traits)], f: &Filter) -> Vec<IpAddr> {
        let mut hits: Vec<IpAddr> = entries
            .iter()
            .filter(|e| f.admits(e.1))
            .map(|e| e.0)
            .collect();
        hits.sort_unstable();
        hits.dedup();
        hits
    }

    /// The page of `f` cut from the brute-force hits.
    fn brute(hits: &[IpAddr], f: &Filter) -> Page {
        let total = hits.len();
        let start = f.after.map_or(0, |a| hits.partition_point(|x| *x <= a));
        let addrs: Vec<_> = hits[start..].iter().take(f.limit).copied().collect();
        let next = (start + addrs.len() < total)
            .then(|| addrs.last().copied())
            .flatten();
        Page { total, addrs, next }
    }

    #[test]
    fn traits_keep_every_field_apart() {
        for fam in Family::iter() {
            for bits in 0..8u8 {
                let (u, s, m) = (bits & 1 != 0, bits & 2 != 0, bits & 4 != 0);
                let t = Traits::new(fam, u, s, m);
                assert_eq!(t.family(), fam);
                let f = Filter {
                    family: Some(fam),
                    unknown: Some(u),
                    scanning: Some(s),
                    multiple_hosts: Some(m),
                    limit: 1,
                    after: None,
                };
                assert!(f.admits(t), "{fam:?} {bits}");
                for other in Family::iter().filter(|o| *o != fam) {
                    assert!(!f.admits(Traits::new(other, u, s, m)));
                }
                assert!(!f.admits(Traits::new(fam, !u, s, m)));
                assert!(!f.admits(Traits::new(fam, u, !s, m)));
                assert!(!f.admits(Traits::new(fam, u, s, !m)));
            }
        }
    }

    /// Pages from the index are the brute-force pages, for every filter shape, page
    /// size and cursor, over addresses in several lists, IPv4 and IPv6 mixed, with
    /// duplicates from a walk.
    #[test]
    fn pages_equal_filtering_and_sorting_the_whole_table() {
        let fams: Vec<Family> = Family::iter().collect();
        let mut entries = Vec::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..3000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let a = if i % 3 == 0 {
                IpAddr::from(std::net::Ipv6Addr::from((x as u128) << 64 | i as u128))
            } else {
                ip((x >> 32) as u32)
            };
            let t = Traits::new(
                fams[(x % 4) as usize],
                x & 16 != 0,
                x & 32 != 0,
                x & 64 != 0,
            );
            entries.push((a, t));
            if i % 97 == 0 {
                entries.push((a, t)); // copied twice by a walk
            }
        }
        let idx = SourceIndex::build(Walked {
            generation: 1,
            as_of: 0.0,
            entries: entries.clone(),
            cpu: Duration::ZERO,
        });
        assert_eq!(
            idx.page(&Filter {
                limit: 1000,
                ..Filter::default()
            })
            .total,
            idx.len()
        );
        let filters = [
            Filter::default(),
            Filter {
                family: Some(fams[1]),
                ..Filter::default()
            },
            Filter {
                unknown: Some(true),
                scanning: Some(false),
                ..Filter::default()
            },
            Filter {
                family: Some(fams[2]),
                multiple_hosts: Some(true),
                ..Filter::default()
            },
            Filter {
                family: Some(Family::Tool),
                ..Filter::default()
            },
        ];
        for base in filters {
            let all = hits(&entries, &base);
            for limit in [1, 7, 100, 1000] {
                let mut f = Filter {
                    limit,
                    ..base.clone()
                };
                let mut seen = 0;
                loop {
                    let (got, want) = (idx.page(&f), brute(&all, &f));
                    assert_eq!(got, want, "{f:?}");
                    seen += got.addrs.len();
                    match got.next {
                        Some(n) => f.after = Some(n),
                        None => break,
                    }
                }
                assert_eq!(seen, all.len(), "{base:?} limit {limit}");
            }
            // A cursor that is not in the table pages on from where it would be.
            let f = Filter {
                after: Some(ip(0x8000_0000)),
                limit: 10,
                ..base.clone()
            };
            assert_eq!(idx.page(&f), brute(&all, &f));
        }
    }
}
