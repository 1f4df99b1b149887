//! Hash flooding: a sender who knows a table's hash key can pick source addresses that
//! all land in one bucket, and every insert and lookup then walks all of them. The
//! tables keyed by what the network sends use the process's secret key
//! (`osfp::hashing::keyed_state`), so addresses crafted against any other key spread
//! out like random ones.
//!
//! Here: 2000 addresses of one /64 chosen so that a fixed, known ahash key puts them in
//! the same bucket of a table of their size. Deterministically, they share one bucket
//! index under the fixed key and spread over about as many as random addresses under the
//! process key; timed, inserting and looking them up is many times slower than random
//! addresses with the fixed key, and as fast as random ones with the process key.

use std::{
    collections::{HashMap, HashSet},
    hash::BuildHasher,
    net::Ipv6Addr,
    time::{Duration, Instant},
};

/// Addresses in the crafted set (and in the random one).
const N: usize = 2000;
/// Buckets of a std `HashMap::with_capacity(N)` (hashbrown: the next power of two of
/// N x 8/7), whose index is the hash's low bits.
const BUCKETS: u64 = (N as u64 * 8 / 7).next_power_of_two();

/// A key the sender knows (as if the table were keyed by a constant).
fn fixed() -> ahash::RandomState {
    ahash::RandomState::with_seeds(1, 2, 3, 4)
}

fn in_64(i: u64) -> Ipv6Addr {
    Ipv6Addr::from((0x2001_0db8_0000_0001u128 << 64) | i as u128)
}

/// The first N addresses of the /64 whose hash under `s` has the low bits of bucket 0.
fn crafted(s: &impl BuildHasher) -> Vec<Ipv6Addr> {
    (0..)
        .map(in_64)
        .filter(|a| s.hash_one(a) % BUCKETS == 0)
        .take(N)
        .collect()
}

/// N addresses of the same /64 spread by a different generator (splitmix64).
fn random() -> Vec<Ipv6Addr> {
    let mut x = 0x1234_5678u64;
    (0..N)
        .map(|_| {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            in_64(z ^ (z >> 31))
        })
        .collect()
}

fn buckets(s: &impl BuildHasher, addrs: &[Ipv6Addr]) -> usize {
    let b: HashSet<u64> = addrs.iter().map(|a| s.hash_one(a) % BUCKETS).collect();
    b.len()
}

/// Inserting every address into a table of their size, then looking each up.
fn fill_and_find<S: BuildHasher>(s: S, addrs: &[Ipv6Addr]) -> Duration {
    let t0 = Instant::now();
    let mut m = HashMap::with_capacity_and_hasher(N, s);
    for (i, a) in addrs.iter().enumerate() {
        m.insert(*a, i);
    }
    for a in addrs {
        assert!(m.contains_key(a));
    }
    t0.elapsed()
}

/// The median over rounds of the crafted set's time over the random set's.
fn ratio<S: BuildHasher>(s: impl Fn() -> S, crafted: &[Ipv6Addr], random: &[Ipv6Addr]) -> f64 {
    let mut r: Vec<f64> = (0..7)
        .map(|_| {
            let c = fill_and_find(s(), crafted).as_secs_f64();
            let n = fill_and_find(s(), random).as_secs_f64();
            c / n
        })
        .collect();
    r.sort_by(f64::total_cmp);
    r[r.len() / 2]
}

#[test]
fn addresses_crafted_against_a_known_key_do_not_collide_under_the_process_key() {
    let set = crafted(&fixed());
    let random = random();
    let keyed = osfp::hashing::keyed_state;

    // One bucket under the key they were crafted for; under the process key as many as
    // random addresses get (N into 4096 buckets: ~1600), not a handful.
    assert_eq!(buckets(&fixed(), &set), 1);
    let spread = buckets(&keyed(), &set);
    let spread_random = buckets(&keyed(), &random);
    assert!(
        spread * 10 >= spread_random * 9,
        "crafted {spread} buckets, random {spread_random}"
    );

    let slow = ratio(fixed, &set, &random);
    let even = ratio(keyed, &set, &random);
    eprintln!(
        "{N} crafted addresses: {spread} buckets (random {spread_random}) under the process key; \
         time crafted / random: fixed key {slow:.1}, process key {even:.2}"
    );
    // The crafted set really is an attack on the fixed key, else the check below proves
    // nothing.
    assert!(slow > 10.0, "the fixed key is not flooded: {slow:.1}");
    assert!(even < 3.0, "the process key is flooded: {even:.2}");
}
