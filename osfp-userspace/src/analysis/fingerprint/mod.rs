//! OS fingerprints and p0f-compatible signature matching.
//!
//! - [`sig`]: the p0f v3 signature of a SYN / SYN-ACK, nmap's option string, TTL guess;
//! - [`db`]: reading p0f.fp databases with located errors;
//! - [`matcher`]: p0f's matching rules, indexed by option layout, and the verdict;
//! - [`rewrite`], [`middlebox`]: documented middlebox rewrites, and their undo;
//! - [`features`], [`model`]: the classifier for SYNs no signature explains;
//! - [`family`]: the coarse OS family of a label.
//!
//! The verdict order ([`Fingerprinter::classify_event`]):
//! 1. the matcher on the packet as seen (p0f's rules: exact, generic, fuzzy); a label
//!    is the verdict, unless the database marks it a candidate
//!    (`;@osfp next-label = candidate`);
//! 2. a SYN with no verdict yet: the middlebox undo ([`middlebox::undo`]); an exact
//!    match there is the verdict, `middlebox` says what was undone;
//! 3. then the classifier: `match: inferred` with the family's probability `p`, when
//!    `p` reaches the threshold ([`VerdictConfig::threshold`]), for SYNs with options
//!    that are not scan probes (what it was trained on);
//! 4. otherwise step 1's candidate if there was one, else unknown.
//!
//! With [`VerdictConfig::strict`] only step 1 runs, and every match is a verdict:
//! p0f's behaviour on any database.

pub mod db;
pub mod family;
pub mod features;
pub mod matcher;
pub mod middlebox;
pub mod model;
pub mod quirks;
pub mod rewrite;
pub mod sig;
pub mod verdict_cache;

use std::sync::Arc;

pub use db::{Database, DbError, DbErrors, Label};
pub use family::Family;
pub use matcher::{Candidate, MatchKind, StoredVerdict, Verdict};
pub use model::{Model, Prior};
pub use quirks::Quirks;
pub use rewrite::{Rewrite, Rewrites};
pub use sig::{initial_ttl, nmap_options, Direction, Signature};

use zerocopy::FromZeros;

use crate::{
    decode::Event,
    hashing::{keyed_state, KeyedState},
};

/// The database built into the binary (used when no `--db` is given).
pub const DEFAULT_DB: &str = include_str!("../../../db/osfp.fp");

/// Loads the built-in database.
pub fn default_database() -> Result<Database, DbErrors> {
    Database::parse(DEFAULT_DB, "osfp.fp (built in)")
}

/// How a verdict is reached beyond the matcher (settings `strict`, `infer-threshold`,
/// `infer-prior`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VerdictConfig {
    /// The matcher only, every match a verdict: p0f's behaviour (no middlebox undo, no
    /// classifier).
    pub strict: bool,
    /// The classifier's verdict is unknown below this probability of its family.
    pub threshold: f32,
    /// The class prior the classifier's scores are shifted to.
    pub prior: Prior,
}

impl Default for VerdictConfig {
    fn default() -> Self {
        VerdictConfig {
            strict: false,
            threshold: model::embedded().file.threshold as f32,
            prior: Prior::Target,
        }
    }
}

/// A slot of the SYN-MSS table: the flow's keyed hash (odd, so that all zeros is
/// empty) and its SYN's MSS. 16 bytes instead of the 40 of the addresses and ports:
/// the table is written for every SYN, and a quarter of the cache lines is what it
/// costs. Two flows alike in all 64 bits of a keyed hash are not to be had.
#[derive(Clone, Copy, FromZeros)]
struct SynMss {
    tag: u64,
    mss: u16,
}

/// Slots of the SYN-MSS table (a power of two).
pub const SYN_MSS_SLOTS: usize = 1 << 16;

/// Turns events into signatures, remembering each flow's SYN MSS (p0f explains a
/// SYN-ACK's window with it) in a direct-mapped table: one hash and one compare per
/// packet, no allocation, a colliding newer flow simply takes the slot.
pub struct Fingerprinter {
    db: Arc<Database>,
    syn_mss: Box<[SynMss]>,
    hasher: KeyedState,
    /// Steps 2-4 of the verdict order (see the module comment).
    pub config: VerdictConfig,
    model: &'static Model,
    /// Steps 1 and 2 of the verdict order by signature.
    pub cache: verdict_cache::VerdictCache,
}

impl Fingerprinter {
    pub fn new(db: Arc<Database>) -> Self {
        Fingerprinter {
            db,
            // Zeroed memory: no page is touched until a slot is written.
            syn_mss: <[SynMss]>::new_box_zeroed_with_elems(SYN_MSS_SLOTS)
                .expect("SYN-MSS table allocation"),
            hasher: keyed_state(),
            config: VerdictConfig::default(),
            model: model::embedded(),
            cache: verdict_cache::VerdictCache::default(),
        }
    }

    /// The tag of the flow from `a`:`pa` to `b`:`pb` (the SYN's direction); its low
    /// bits are its slot.
    fn flow_tag(&self, a: &[u8; 16], b: &[u8; 16], pa: u16, pb: u16) -> u64 {
        let w = |x: &[u8; 16], i: usize| u64::from_ne_bytes(x[i..i + 8].try_into().expect("8"));
        let words = [
            w(a, 0),
            w(a, 8),
            w(b, 0),
            w(b, 8),
            (pa as u64) << 16 | pb as u64,
        ];
        self.hasher.hash_one(words) | 1
    }

    pub fn model(&self) -> &'static Model {
        self.model
    }

    /// Scores with another model of the same classes (training and evaluation of a
    /// model not yet embedded).
    pub fn set_model(&mut self, m: &'static Model) {
        self.model = m;
    }

    pub fn db(&self) -> &Database {
        &self.db
    }

    pub fn db_arc(&self) -> &Arc<Database> {
        &self.db
    }

    /// The signature of a SYN or SYN-ACK event (`None` for other events).
    #[inline]
    pub fn signature(&mut self, ev: &Event) -> Option<Signature> {
        let r = &ev.record;
        let syn = r.tcp_flags & osfp_common::tcp_flag::SYN != 0;
        if !syn {
            return None;
        }
        let is_ack = r.tcp_flags & osfp_common::tcp_flag::ACK != 0;
        let syn_mss = if is_ack {
            let tag = self.flow_tag(&r.dst, &r.src, r.dport, r.sport);
            let e = &self.syn_mss[tag as usize & (SYN_MSS_SLOTS - 1)];
            if e.tag == tag {
                e.mss
            } else {
                0
            }
        } else {
            0
        };
        let s = Signature::from_event(ev, syn_mss)?;
        if s.dir == Direction::Request {
            let tag = self.flow_tag(&r.src, &r.dst, r.sport, r.dport);
            self.syn_mss[tag as usize & (SYN_MSS_SLOTS - 1)] = SynMss { tag, mss: s.mss };
        }
        Some(s)
    }

    /// The matcher alone (step 1, every match a verdict): p0f's verdict.
    pub fn classify(&self, s: &Signature) -> Verdict<'_> {
        // Nearest candidates of unknown ones are for display: whoever prints a verdict
        // finds them (`Verdict::with_candidates`).
        self.db.classify(s, false)
    }

    /// The verdict of a SYN / SYN-ACK in the order of the module comment. Steps 1 and
    /// 2 come from [`verdict_cache`] when the same signature was seen before; step 3
    /// reads more of the packet than the signature and always runs.
    pub fn classify_event(&mut self, ev: &Event, s: &Signature) -> Verdict<'_> {
        let db = &*self.db;
        let o = self
            .cache
            .entry(verdict_cache::key(s), || db.classify(s, false).stored());
        let seen = o.seen.resolve(db);
        if self.config.strict {
            return seen;
        }
        let trusted = seen.label.is_some_and(|l| !l.candidate);
        if trusted || s.dir != Direction::Request {
            return seen;
        }
        let undone = *o
            .undone
            .get_or_insert_with(|| middlebox::undo(db, s).map(|v| v.stored()));
        if let Some(v) = undone {
            return v.resolve(db);
        }
        if let Some(v) = self.infer(ev, s) {
            return v;
        }
        seen
    }

    /// The classifier's verdict for a SYN, if its family's probability reaches the
    /// threshold.
    /// It speaks only of SYNs like those it learnt from: with TCP options (every OS
    /// stack sends at least an MSS; a bare SYN is a tool's or a crafted one), not a
    /// scan probe, and whose option kinds in order (with the initial TTL class) its
    /// training data had (`Inference::novel`): a new stack stays unknown.
    pub fn infer(&self, ev: &Event, s: &Signature) -> Option<Verdict<'_>> {
        if ev.record.opt_len == 0 || ev.record.reason & osfp_common::reason::SCAN_PROBE != 0 {
            return None;
        }
        let inf = self.model.infer(ev, s, self.config.prior);
        if inf.novel || inf.p < self.config.threshold as f64 {
            return None;
        }
        let label = self
            .db
            .inferred
            .get(inf.class)
            .map(|&id| self.db.label(id))?;
        let mut v = Verdict::unknown(s.guess_dist());
        v.label = Some(label);
        v.kind = MatchKind::Inferred;
        v.score = inf.p as f32;
        v.p = Some(inf.p as f32);
        Some(v)
    }

    /// The `[mtu]` link guess for a signature's MSS: (MTU, label if listed).
    pub fn link(&self, s: &Signature) -> Option<(u32, Option<&str>)> {
        link_guess(&self.db, s)
    }
}

/// MTU = MSS + 40 (IPv4) or + 60 (IPv6), looked up in `[mtu]`, as p0f does; nothing
/// without an MSS.
pub fn link_guess<'a>(db: &'a Database, s: &Signature) -> Option<(u32, Option<&'a str>)> {
    if s.mss == 0 {
        return None;
    }
    let mtu = s.mss as u32 + if s.ver == 4 { 40 } else { 60 };
    Some((mtu, db.link(mtu)))
}

#[cfg(test)]
mod tests;
