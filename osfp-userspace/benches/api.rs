//! `/api/v1/sources` at 10 k, 100 k and 1 M sources: what a request costs the packet
//! thread before (the whole table walked, filtered and sorted per request) and now (a
//! page merged from the ordered index, the page's sources filled in by the consumer,
//! and, at most once a second, the table copied in steps for a new index, sorted off
//! the packet thread). Sources are the corpus' SYNs, each from a new address.

use std::{collections::HashSet, hint::black_box, net::IpAddr, sync::Arc};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use osfp::{
    analysis::fingerprint::{self, Database, Family},
    decode::Event,
    export::{
        api::{page_sources, Filter},
        source_index::{SourceIndex, Traits, Walked, WALK_STEP},
    },
    pipeline::Pipeline,
};

/// The corpus' SYNs (the first 5,000).
fn syns() -> Vec<Event> {
    osfp_tests::corpus::syn_records()
        .iter()
        .filter(|r| r.tcp_flags == osfp_common::tcp_flag::SYN)
        .take(5000)
        .map(Event::decode)
        .collect()
}

/// A pipeline holding `n` sources: the corpus' SYNs again and again, each from a new
/// address (IPv4 and IPv6 alternating).
fn table(n: usize, syns: &[Event], db: &Arc<Database>) -> Pipeline {
    let mut p = Pipeline::with_database(db.clone(), n);
    let mut scans = Vec::new();
    for i in 0..n {
        let mut ev = syns[i % syns.len()].clone();
        ev.src = if i % 2 == 0 {
            IpAddr::from(((10 << 24) + i as u32).to_be_bytes())
        } else {
            IpAddr::from((0x2001_0db8u128 << 96 | i as u128).to_be_bytes())
        };
        let _ = p.observe(&ev, &mut scans);
        scans.clear();
    }
    assert_eq!(p.sources.len(), n);
    p
}

/// The whole walk, as the consumer makes it in steps.
fn walk(p: &Pipeline, db: &Database, multi: &HashSet<IpAddr>) -> Walked {
    let mut w = Walked::start(1, 0.0, p.sources.len());
    let mut at = Some(0);
    while let Some(from) = at {
        at = w.step(p, db, multi, from);
    }
    w
}

fn bench(c: &mut Criterion) {
    let syns = syns();
    let db = Arc::new(fingerprint::default_database().unwrap());
    let multi = HashSet::new();
    let linux = Filter {
        family: Some(Family::Linux),
        limit: 100,
        ..Filter::default()
    };
    let all = Filter {
        limit: 100,
        ..Filter::default()
    };
    let mut g = c.benchmark_group("api");
    g.sample_size(10);
    for n in [10_000, 100_000, 1_000_000] {
        let p = table(n, &syns, &db);
        // Before: every request walked, filtered and sorted the table on the packet
        // thread.
        g.bench_function(format!("before: walk, filter, sort per request/{n}"), |b| {
            b.iter(|| {
                let mut hits: Vec<IpAddr> = p
                    .sources
                    .iter()
                    .filter(|(a, s)| linux.admits(Traits::of(&p, &db, a, s, &multi)))
                    .map(|(a, _)| *a)
                    .collect();
                hits.sort_unstable();
                black_box(page_sources(
                    &p,
                    &db,
                    &hits[..100.min(hits.len())],
                    &linux,
                    &multi,
                ))
            })
        });
        let w = walk(&p, &db, &multi);
        assert_eq!(w.entries.len(), n);
        let idx = SourceIndex::build(w.clone());
        for (name, f) in [("all", &all), ("family=linux", &linux)] {
            let page = idx.page(f);
            assert_eq!(page.addrs.len(), 100);
            g.bench_function(format!("now: page from the index, {name}/{n}"), |b| {
                b.iter(|| black_box(idx.page(f)))
            });
        }
        // Now, on the packet thread: the page's sources, and one step of a walk.
        let page = idx.page(&linux).addrs;
        g.bench_function(format!("now: fill a page of 100/{n}"), |b| {
            b.iter(|| black_box(page_sources(&p, &db, &page, &linux, &multi)))
        });
        let steps = p.sources.slots().div_ceil(WALK_STEP);
        let mut k = 0;
        g.bench_function(
            format!("now: one walk step of {WALK_STEP} slots/{n}"),
            |b| {
                b.iter(|| {
                    k = (k + 1) % steps;
                    let mut w = Walked::start(1, 0.0, WALK_STEP);
                    black_box(w.step(&p, &db, &multi, k * WALK_STEP));
                    black_box(w.entries.len())
                })
            },
        );
        g.bench_function(format!("now: the whole walk, all steps/{n}"), |b| {
            b.iter(|| black_box(walk(&p, &db, &multi).entries.len()))
        });
        // Off the packet thread: the sort into lists.
        g.bench_function(format!("now: build the index (blocking pool)/{n}"), |b| {
            b.iter_batched(|| w.clone(), SourceIndex::build, BatchSize::LargeInput)
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
