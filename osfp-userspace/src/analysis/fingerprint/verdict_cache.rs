//! The matcher's and the middlebox undo's outcome by signature. Both are pure functions
//! of the database and the signature, and the signatures seen on a link are few (one
//! per OS stack, TTL and MSS in use) while the packets are many: a source's SYNs repeat
//! its stack packet after packet. Looking the outcome up costs a hash and a compare
//! instead of a walk of the layout's signatures (a quarter of the live consumer's
//! time before this cache).
//!
//! Direct-mapped by a keyed hash of the signature: a colliding signature takes the
//! slot, so the cache is bounded, never allocates after start, and nobody can choose
//! signatures that keep evicting each other. A new database gets a new cache
//! (`Fingerprinter::new`).

use super::{matcher::StoredVerdict, sig::Signature};
use crate::hashing::{keyed_state, KeyedState};

/// Slots (a power of two): far more than the distinct stacks of a busy link.
pub const SLOTS: usize = 1024;

/// What steps 1 and 2 of the verdict order gave for one signature.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outcome {
    /// The matcher on the packet as seen.
    pub seen: StoredVerdict,
    /// The middlebox undo's verdict, once asked for (`None` inside: it found none).
    pub undone: Option<Option<StoredVerdict>>,
}

pub struct VerdictCache {
    slots: Box<[Option<(Signature, Outcome)>]>,
    hasher: KeyedState,
    pub hits: u64,
    pub misses: u64,
}

impl Default for VerdictCache {
    fn default() -> Self {
        VerdictCache {
            slots: vec![None; SLOTS].into_boxed_slice(),
            hasher: keyed_state(),
            hits: 0,
            misses: 0,
        }
    }
}

/// The signature as the matcher and the undo read it: of the TSval only whether it is
/// zero (the `ts1-` quirk and the window's MSS-12 test, already in `quirks` and
/// `win_multi`; the undo's window test asks the same), so a source's SYNs share a key.
pub fn key(s: &Signature) -> Signature {
    let mut k = *s;
    k.ts1 = (s.ts1 != 0) as u32;
    k
}

impl VerdictCache {
    /// The slot of `key`: its fields packed into words and hashed at once (a derived
    /// `Hash` feeds the hasher field by field, which cost more than the lookup saved).
    /// Equality, not this hash, decides a hit: a field left out would only collide.
    fn slot(&self, k: &Signature) -> usize {
        let l = |i: usize| u64::from_le_bytes(k.layout[i..i + 8].try_into().expect("8 bytes"));
        let words = [
            k.dir as u64
                | (k.ver as u64) << 8
                | (k.ttl as u64) << 16
                | (k.ip_opt_len as u64) << 24
                | (k.mss as u64) << 32
                | (k.win as u64) << 48,
            k.wscale as u64
                | (k.opt_cnt as u64) << 8
                | (k.eol_pad as u64) << 16
                | (k.pay as u64) << 24
                | (k.tot_hdr as u64) << 32
                | (k.ts1 as u64 & 1) << 48
                | (k.win_multi.mtu as u64) << 49,
            k.quirks.0 as u64 | (k.win_multi.n as u16 as u64) << 32,
            l(0),
            l(8),
            l(16),
        ];
        self.hasher.hash_one(words) as usize & (SLOTS - 1)
    }

    /// The outcome for `key` (from [`key`]): the stored one, else a new one whose
    /// matcher verdict `seen` gives (it replaces whatever held the slot).
    pub fn entry(&mut self, key: Signature, seen: impl FnOnce() -> StoredVerdict) -> &mut Outcome {
        let i = self.slot(&key);
        if matches!(&self.slots[i], Some((k, _)) if *k == key) {
            self.hits += 1;
        } else {
            self.misses += 1;
            self.slots[i] = Some((
                key,
                Outcome {
                    seen: seen(),
                    undone: None,
                },
            ));
        }
        &mut self.slots[i].as_mut().expect("filled above").1
    }

    /// Forgets every outcome (a reference run without the cache, in tests).
    pub fn clear(&mut self) {
        self.slots.fill(None);
    }
}
