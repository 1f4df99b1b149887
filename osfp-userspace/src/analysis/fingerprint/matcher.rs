//! Matching a packet's [`Signature`] against the database with p0f 3.09b's rules
//! (fp_tcp.c `tcp_find_match`): the first exact specific signature wins; else the
//! first exact generic one; else the first fuzzy one (never for `!` tool labels).
//!
//! Speed: signatures are indexed by option layout (p0f matches only signatures whose
//! layout is identical), so a packet is compared with the few signatures of its own
//! layout, in file order. Classification allocates nothing.
//!
//! Score (0..1), documented for consumers:
//! - exact specific: 1.0; exact generic: 0.9;
//! - fuzzy: 0.7, minus 0.1 per quirk that differs and 0.1 if the TTL is outside the
//!   signature's range, floored at 0.3;
//! - unknown: 0. Its nearest candidates are scored by [`similarity`] (< 1 by
//!   construction, since none matched).
//!
//! Two rules come from the database rather than from p0f, so that a p0f database is
//! matched exactly as p0f does: `;@osfp fuzzy-ttl = class` (a signature's TTL is
//! fuzzily matched only within its initial-TTL class: 32, 64, 128, 255), and
//! `;@osfp next-label = candidate` (that label's matches are only candidates for
//! [`super::Fingerprinter`]'s later steps). See `db.rs`.

use arrayvec::ArrayVec;
use serde::Serialize;
use strum::{EnumCount, EnumIter, IntoStaticStr};

use super::{
    db::{Database, DbSig, Label, WinSpec},
    quirks::Quirks,
    rewrite::Rewrites,
    sig::{initial_ttl, Direction, Signature, MAX_DIST, MAX_OPTS},
};

/// Signature indices of one direction, bucketed by exact option layout.
#[derive(Clone, Debug, Default)]
pub(crate) struct LayoutIndex {
    /// Sorted by key: (key, layout, start, end) into `order`; equal keys (hash
    /// collisions) sit next to each other and are told apart by the layout.
    buckets: Vec<(u64, ArrayVec<u8, MAX_OPTS>, u32, u32)>,
    /// Signature indices grouped by bucket, file order within a bucket.
    order: Vec<u32>,
}

/// FNV-1a over the layout bytes, with the count folded in.
fn layout_key(layout: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ layout.len() as u64;
    for &b in layout {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Byte-wise equality without a `memcmp` call: layouts are a few bytes, and the
/// library call dominated the lookup.
fn same_layout(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

impl LayoutIndex {
    fn build(sigs: &[DbSig]) -> LayoutIndex {
        let mut keyed: Vec<(u64, &[u8], u32)> = sigs
            .iter()
            .enumerate()
            .map(|(i, s)| (layout_key(s.layout()), s.layout(), i as u32))
            .collect();
        keyed.sort(); // by (key, layout, index): file order within a layout
        let mut idx = LayoutIndex::default();
        for (k, l, i) in keyed {
            match idx.buckets.last_mut() {
                Some(b) if b.0 == k && b.1.as_slice() == l => b.3 += 1,
                _ => {
                    let at = idx.order.len() as u32;
                    let layout = l.iter().copied().collect();
                    idx.buckets.push((k, layout, at, at + 1));
                }
            }
            idx.order.push(i);
        }
        idx
    }

    /// Indices of the signatures with exactly this layout, in file order.
    pub(crate) fn bucket(&self, layout: &[u8]) -> &[u32] {
        let k = layout_key(layout);
        let first = self.buckets.partition_point(|b| b.0 < k);
        for b in &self.buckets[first..] {
            if b.0 != k {
                break;
            }
            if same_layout(&b.1, layout) {
                return &self.order[b.2 as usize..b.3 as usize];
            }
        }
        &[]
    }
}

impl Database {
    pub(crate) fn build_index(&mut self) {
        for d in 0..2 {
            self.index[d] = LayoutIndex::build(&self.sigs[d]);
        }
    }
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, IntoStaticStr, EnumIter, EnumCount,
)]
#[serde(into = "&'static str")]
#[strum(serialize_all = "snake_case")]
pub enum MatchKind {
    Exact,
    Generic,
    Fuzzy,
    /// No signature explains the SYN: the family (and version) the classifier gives,
    /// with its probability (`Verdict::p`).
    Inferred,
    Unknown,
}

impl MatchKind {
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// A near miss offered for an unknown signature.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate<'db> {
    pub label: &'db Label,
    pub line: u32,
    pub score: f32,
}

/// The outcome of matching one packet.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Verdict<'db> {
    pub label: Option<&'db Label>,
    /// Line of the matching signature.
    pub line: u32,
    pub kind: MatchKind,
    pub score: f32,
    pub is_tool: bool,
    /// Hop distance as p0f reports it: from the matched signature's TTL when in
    /// range, else guessed from the observed TTL.
    pub dist: u8,
    /// For unknown verdicts (when asked for): up to three nearest labels, best first.
    pub candidates: [Option<Candidate<'db>>; 3],
    /// The middlebox rewrites undone to reach this match (empty for the SYN as seen).
    pub middlebox: Rewrites,
    /// For inferred verdicts: the classifier's probability of the family.
    pub p: Option<f32>,
}

impl<'db> Verdict<'db> {
    pub(crate) fn unknown(dist: u8) -> Self {
        Verdict {
            label: None,
            line: 0,
            kind: MatchKind::Unknown,
            score: 0.0,
            is_tool: false,
            dist,
            candidates: [None; 3],
            middlebox: Rewrites::NONE,
            p: None,
        }
    }

    pub fn family(&self) -> super::Family {
        self.label.map_or(super::Family::Unknown, |l| l.family)
    }

    /// The verdict without its borrow of the database (the label by id), to keep.
    pub fn stored(&self) -> StoredVerdict {
        StoredVerdict {
            label: self.label.map(|l| l.id),
            line: self.line,
            kind: self.kind,
            score: self.score,
            is_tool: self.is_tool,
            dist: self.dist,
            middlebox: self.middlebox,
            p: self.p,
        }
    }

    /// This verdict with its nearest candidates: found now if it is unknown and has
    /// none yet. Classification skips them unless asked (they cost a scan of the
    /// direction's signatures and are only for display), so output calls this when it
    /// serialises a verdict.
    pub fn with_candidates(mut self, db: &'db Database, s: &Signature) -> Self {
        if self.kind == MatchKind::Unknown && self.candidates.iter().all(Option::is_none) {
            self.candidates = db.nearest(s);
        }
        self
    }
}

/// A [`Verdict`] kept apart from the database it came from (its label by id; no
/// candidates): copied without allocation, resolved again with [`Self::resolve`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StoredVerdict {
    pub label: Option<u32>,
    pub line: u32,
    pub kind: MatchKind,
    pub score: f32,
    pub is_tool: bool,
    pub dist: u8,
    pub middlebox: Rewrites,
    pub p: Option<f32>,
}

impl StoredVerdict {
    /// The verdict again, its label from `db` (the database it came from).
    pub fn resolve(self, db: &Database) -> Verdict<'_> {
        Verdict {
            label: self.label.map(|id| db.label(id)),
            line: self.line,
            kind: self.kind,
            score: self.score,
            is_tool: self.is_tool,
            dist: self.dist,
            candidates: [None; 3],
            middlebox: self.middlebox,
            p: self.p,
        }
    }
}

/// Does signature `r` accept the window of `s`?
pub(crate) fn window_ok(r: &DbSig, s: &Signature) -> bool {
    let wm = s.win_multi;
    match r.win {
        WinSpec::Any => true,
        WinSpec::Value(v) => v == s.win,
        WinSpec::Mod(m) => s.win.is_multiple_of(m),
        WinSpec::Mss(n) => !wm.mtu && n as i32 == wm.n as i32,
        WinSpec::Mtu(n) => wm.mtu && n as i32 == wm.n as i32,
    }
}

/// The signature's quirks as p0f compares them: a `*:` signature loses the quirks
/// that cannot occur in the packet's IP version.
pub(crate) fn ref_quirks(r: &DbSig, s: &Signature) -> u32 {
    if r.ver.is_none() {
        if s.ver == 4 {
            r.quirks & !Quirks::FLOW
        } else {
            r.quirks & !Quirks::MASK_FOR_V6
        }
    } else {
        r.quirks
    }
}

impl Database {
    /// Classifies one packet signature. `candidates`: also find the three nearest
    /// labels when nothing matches (a scan of the direction's signatures; off in the
    /// hot path unless wanted).
    pub fn classify(&self, s: &Signature, candidates: bool) -> Verdict<'_> {
        let d = s.dir as usize;
        let sigs = &self.sigs[d];
        let mut fmatch: Option<&DbSig> = None;
        let mut gmatch: Option<&DbSig> = None;
        for &i in self.index[d].bucket(s.layout()) {
            let r = &sigs[i as usize];
            let rq = ref_quirks(r, s);
            let q = s.quirks.0;
            let mut fuzzy = false;
            if rq != q {
                let deleted = (rq ^ q) & rq;
                let added = (rq ^ q) & q;
                // p0f: a quirk difference is tolerated only as df/id+ gone or
                // id-/ecn new, and only while no fuzzy candidate is held yet.
                if fmatch.is_some()
                    || deleted & !(Quirks::DF | Quirks::NZ_ID) != 0
                    || added & !(Quirks::ZERO_ID | Quirks::ECN) != 0
                {
                    continue;
                }
                fuzzy = true;
            }
            if r.eol_pad != s.eol_pad || r.olen != s.ip_opt_len {
                continue;
            }
            if r.bad_ttl {
                if r.ttl < s.ttl {
                    continue;
                }
            } else if r.ttl < s.ttl || r.ttl - s.ttl > MAX_DIST {
                if self.fuzzy_ttl_class && initial_ttl(r.ttl) != initial_ttl(s.ttl) {
                    continue;
                }
                fuzzy = true;
            }
            if r.mss.is_some_and(|m| m != s.mss)
                || r.wscale.is_some_and(|w| w != s.wscale)
                || r.pclass.is_some_and(|p| p != s.pay)
                || !window_ok(r, s)
            {
                continue;
            }
            if !fuzzy {
                if !r.generic {
                    return self.verdict(r, s, MatchKind::Exact);
                } else if gmatch.is_none() {
                    gmatch = Some(r);
                }
            } else if fmatch.is_none() {
                fmatch = Some(r);
            }
        }
        if let Some(g) = gmatch {
            return self.verdict(g, s, MatchKind::Generic);
        }
        match fmatch {
            Some(f) if !f.tool => self.verdict(f, s, MatchKind::Fuzzy),
            _ => {
                let mut v = Verdict::unknown(s.guess_dist());
                if candidates {
                    v.candidates = self.nearest(s);
                }
                v
            }
        }
    }

    pub(crate) fn verdict(&self, r: &DbSig, s: &Signature, kind: MatchKind) -> Verdict<'_> {
        let in_range = r.ttl >= s.ttl && (r.bad_ttl || r.ttl - s.ttl <= MAX_DIST);
        let score = match kind {
            MatchKind::Exact => 1.0,
            MatchKind::Generic => 0.9,
            _ => {
                let diff = (ref_quirks(r, s) ^ s.quirks.0).count_ones() as f32;
                let ttl_pen = if in_range { 0.0 } else { 0.1 };
                (0.7 - 0.1 * diff - ttl_pen).max(0.3)
            }
        };
        Verdict {
            label: Some(self.label(r.label)),
            line: r.line,
            kind,
            score,
            is_tool: r.tool,
            dist: if in_range {
                r.ttl - s.ttl
            } else {
                s.guess_dist()
            },
            candidates: [None; 3],
            middlebox: Rewrites::NONE,
            p: None,
        }
    }

    /// The three best-scoring labels of the packet's direction by [`similarity`],
    /// one entry per label.
    pub fn nearest(&self, s: &Signature) -> [Option<Candidate<'_>>; 3] {
        let mut best: [Option<Candidate<'_>>; 3] = [None; 3];
        for r in &self.sigs[s.dir as usize] {
            let score = similarity(r, s);
            let label = self.label(r.label);
            let c = Candidate {
                label,
                line: r.line,
                score,
            };
            if let Some(slot) = best
                .iter()
                .position(|b| b.is_some_and(|b| std::ptr::eq(b.label, label)))
            {
                if best[slot].is_some_and(|b| b.score < score) {
                    best[slot] = Some(c);
                    best.sort_by(cmp_cand);
                }
                continue;
            }
            if best[2].is_none_or(|b| b.score < score) {
                best[2] = Some(c);
                best.sort_by(cmp_cand);
            }
        }
        best
    }
}

fn cmp_cand(a: &Option<Candidate<'_>>, b: &Option<Candidate<'_>>) -> std::cmp::Ordering {
    let sa = a.map_or(-1.0, |c| c.score);
    let sb = b.map_or(-1.0, |c| c.score);
    sb.total_cmp(&sa)
}

/// How close a packet is to a signature, 0..1: option layout 0.3 (the share of the
/// longer layout that agrees position by position), quirks 0.2 (less the share of
/// differing quirks), window rule 0.15, MSS 0.1, window scale 0.1, TTL in range 0.1,
/// EOL padding + IP option length + payload class 0.05. Never 1 for a non-match
/// because a non-match fails at least one of these.
pub fn similarity(r: &DbSig, s: &Signature) -> f32 {
    let (a, b) = (r.layout(), s.layout());
    let n = a.len().max(b.len());
    let same = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let layout = if n == 0 { 1.0 } else { same as f32 / n as f32 };
    let rq = ref_quirks(r, s);
    let union = (rq | s.quirks.0).count_ones();
    let quirks = if union == 0 {
        1.0
    } else {
        1.0 - (rq ^ s.quirks.0).count_ones() as f32 / union as f32
    };
    let ttl_ok = r.ttl >= s.ttl && (r.bad_ttl || r.ttl - s.ttl <= MAX_DIST);
    let misc = (r.eol_pad == s.eol_pad
        && r.olen == s.ip_opt_len
        && r.pclass.is_none_or(|p| p == s.pay)) as u8 as f32;
    let score = 0.3 * layout
        + 0.2 * quirks
        + 0.15 * window_ok(r, s) as u8 as f32
        + 0.1 * r.mss.is_none_or(|m| m == s.mss) as u8 as f32
        + 0.1 * r.wscale.is_none_or(|w| w == s.wscale) as u8 as f32
        + 0.1 * ttl_ok as u8 as f32
        + 0.05 * misc;
    score.min(0.99)
}

/// Which p0f-style direction a label's signatures are in (for reports).
pub fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Request => "request",
        Direction::Response => "response",
    }
}
