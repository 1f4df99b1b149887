//! Hashers for the tables keyed by what the network sends (addresses, ports), keyed with
//! this process's secret ([`process_key`]): random for each run, so that no sender can
//! pick addresses or flows that pile up in one bucket or one slot of a bounded table; or
//! derived from a seed ([`use_seed`]) for a run that must be reproducible bit for bit
//! (the direct-mapped tables are bounded, and which entries collide depends on the key).
//! The XDP program's flow table and its choice of ring buffer take the same key.

use std::sync::OnceLock;

pub use osfp_common::HashKey;

/// The keyed hasher of hash maps and direct-mapped tables (ahash, seeded).
pub type KeyedState = ahash::RandomState;

static KEY: OnceLock<HashKey> = OnceLock::new();

/// The environment variable that seeds the key of a whole process (the test suite sets
/// it, so that every test process is reproducible).
pub const SEED_ENV: &str = "OSFP_HASH_SEED";

/// The process's key: from [`use_seed`] if that came first, else from `$OSFP_HASH_SEED`,
/// else random (the kernel's).
pub fn process_key() -> HashKey {
    *KEY.get_or_init(|| {
        if let Some(seed) = std::env::var(SEED_ENV).ok().and_then(|s| s.parse().ok()) {
            return seeded(seed);
        }
        let mut b = [0u8; 16];
        getrandom::fill(&mut b).expect("the kernel's random number generator");
        HashKey {
            k0: u64::from_le_bytes(b[..8].try_into().unwrap()),
            k1: u64::from_le_bytes(b[8..].try_into().unwrap()),
        }
    })
}

/// Derives the process key from `seed` instead of the random one; false if the key was
/// already in use (then nothing changes).
pub fn use_seed(seed: u64) -> bool {
    KEY.set(seeded(seed)).is_ok()
}

/// The key derived from `seed`.
pub fn seeded(seed: u64) -> HashKey {
    // splitmix64: two well-spread words from one seed.
    let next = |x: &mut u64| {
        *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut x = seed;
    HashKey {
        k0: next(&mut x),
        k1: next(&mut x),
    }
}

/// A hasher state keyed with the process key.
pub fn keyed_state() -> KeyedState {
    let k = process_key();
    KeyedState::with_seeds(k.k0, k.k1, k.k0.rotate_left(32), k.k1.rotate_left(32))
}

/// glibc malloc's block for `n` bytes on 64-bit Linux: an 8-byte size header, the
/// block a multiple of 16 bytes, at least 32.
pub fn malloc_block(n: usize) -> usize {
    (n + 8).next_multiple_of(16).max(32)
}

/// The bytes of a hashbrown table (std's `HashMap`, lru's index) holding at most `cap`
/// entries of `slot` bytes each, at most. Its buckets are a power of two with at least one
/// in eight empty (for small tables at most 3 of 4, 7 of 8, 14 of 16), each with a control
/// byte, plus one group (16) of trailing control bytes. At the cap, every eviction removes
/// a key and inserts another, and the removals leave tombstones: when they use up the
/// spare buckets hashbrown grows the table once, to twice the buckets (the old one is
/// freed); from then on the table is less than half full and it rehashes in place.
pub fn hash_table_bytes(cap: usize, slot: usize) -> usize {
    let buckets = match cap {
        0..4 => 4,
        4..8 => 8,
        8..15 => 16,
        _ => (cap.saturating_mul(8) / 7).next_power_of_two(),
    };
    malloc_block(
        buckets
            .saturating_mul(2)
            .saturating_mul(slot + 1)
            .saturating_add(16),
    )
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn keyed_states_agree_within_the_process() {
        let a = keyed_state().hash_one(std::net::Ipv4Addr::LOCALHOST);
        let b = keyed_state().hash_one(std::net::Ipv4Addr::LOCALHOST);
        assert_eq!(a, b, "one key for the process");
        assert!(!use_seed(7), "the key is already in use");
        assert_ne!(seeded(1), seeded(2));
        assert_eq!(seeded(1), seeded(1));
    }
}
