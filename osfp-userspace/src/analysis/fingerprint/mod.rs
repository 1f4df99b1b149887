//! OS fingerprints and p0f-compatible signature matching.
//!
//! - [`sig`]: the p0f v3 signature of a SYN / SYN-ACK, nmap's option string, TTL guess;
//! - [`db`]: reading p0f.fp databases with located errors;
//! - [`matcher`]: p0f's matching rules, indexed by option layout, and the verdict;
//! - [`family`]: the coarse OS family of a label.

pub mod db;
pub mod family;
pub mod matcher;
pub mod quirks;
pub mod sig;

use std::{hash::Hash, sync::Arc};

pub use db::{Database, DbError, DbErrors, Label};
pub use family::Family;
pub use matcher::{Candidate, MatchKind, StoredVerdict, Verdict};
pub use quirks::Quirks;
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

/// A SYN's flow in the direction of the SYN.
#[derive(Clone, Copy, PartialEq, Eq, Hash, FromZeros)]
struct FlowId {
    a: [u8; 16],
    b: [u8; 16],
    pa: u16,
    pb: u16,
}

/// A slot of the SYN-MSS table; all zeros is empty.
#[derive(Clone, Copy, FromZeros)]
struct SynMss {
    id: FlowId,
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
}

impl Fingerprinter {
    pub fn new(db: Arc<Database>) -> Self {
        Fingerprinter {
            db,
            // Zeroed memory: no page is touched until a slot is written.
            syn_mss: <[SynMss]>::new_box_zeroed_with_elems(SYN_MSS_SLOTS)
                .expect("SYN-MSS table allocation"),
            hasher: keyed_state(),
        }
    }

    fn slot(&self, id: &FlowId) -> usize {
        self.hasher.hash_one(id) as usize & (SYN_MSS_SLOTS - 1)
    }

    pub fn db(&self) -> &Database {
        &self.db
    }

    pub fn db_arc(&self) -> &Arc<Database> {
        &self.db
    }

    /// The signature of a SYN or SYN-ACK event (`None` for other events).
    pub fn signature(&mut self, ev: &Event) -> Option<Signature> {
        let r = &ev.record;
        let syn = r.tcp_flags & osfp_common::tcp_flag::SYN != 0;
        if !syn {
            return None;
        }
        let is_ack = r.tcp_flags & osfp_common::tcp_flag::ACK != 0;
        let syn_mss = if is_ack {
            let id = FlowId {
                a: r.dst,
                b: r.src,
                pa: r.dport,
                pb: r.sport,
            };
            let e = &self.syn_mss[self.slot(&id)];
            if e.id == id {
                e.mss
            } else {
                0
            }
        } else {
            0
        };
        let s = Signature::from_event(ev, syn_mss)?;
        if s.dir == Direction::Request {
            let id = FlowId {
                a: r.src,
                b: r.dst,
                pa: r.sport,
                pb: r.dport,
            };
            let slot = self.slot(&id);
            self.syn_mss[slot] = SynMss { id, mss: s.mss };
        }
        Some(s)
    }

    pub fn classify(&self, s: &Signature) -> Verdict<'_> {
        // Nearest candidates of unknown ones are for display: whoever prints a verdict
        // finds them (`Verdict::with_candidates`).
        self.db.classify(s, false)
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
