//! Records per second through the pipeline's stages as production runs them (scan,
//! fingerprint and match, the per-source table with clock state), over the corpus' real
//! SYN / SYN-ACKs with /etc/p0f/p0f.fp (the built-in database if absent).

use std::{hint::black_box, sync::Arc};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use osfp::{
    analysis::fingerprint::{self, Database},
    decode::Event,
    pipeline::Pipeline,
};

fn database() -> Arc<Database> {
    Arc::new(
        Database::load("/etc/p0f/p0f.fp")
            .or_else(|_| fingerprint::default_database())
            .unwrap(),
    )
}

fn bench(c: &mut Criterion) {
    let recs = osfp_tests::corpus::syn_records();
    let events: Vec<Event> = recs.iter().map(Event::decode).collect();
    let db = database();
    let mut g = c.benchmark_group("fingerprint");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.sample_size(20);
    for candidates in [false, true] {
        let name = if candidates {
            "observe (with nearest candidates)"
        } else {
            "observe"
        };
        let mut p = Pipeline::with_database(db.clone(), 65_536);
        let mut scans = Vec::new();
        g.bench_function(name, |b| {
            b.iter(|| {
                for ev in &events {
                    let v = p.observe(ev, &mut scans).map(|(s, v)| {
                        // What printing costs: the nearest candidates of unknown ones.
                        let v = if candidates {
                            v.with_candidates(&db, &s)
                        } else {
                            v
                        };
                        (s.mss, v.score)
                    });
                    black_box(v);
                    scans.clear();
                }
            })
        });
    }
    let mut p = Pipeline::with_database(db.clone(), 65_536);
    let mut scans = Vec::new();
    g.bench_function("decode+observe", |b| {
        b.iter(|| {
            for r in &recs {
                let ev = p.process(r);
                black_box(p.observe(&ev, &mut scans).map(|(s, v)| (s.mss, v.score)));
                scans.clear();
            }
        })
    });
    // A random-source flood's shape: every SYN from a new address, so each one inserts
    // a source and evicts the least recent (the table's churn path).
    let mut p2 = Pipeline::with_database(db.clone(), 65_536);
    let mut next: u32 = 0;
    g.bench_function("observe, every source new (table churn)", |b| {
        b.iter(|| {
            for ev in &events {
                let mut ev = ev.clone();
                next = next.wrapping_add(1);
                ev.src = std::net::IpAddr::from((0x0a00_0000 | (next & 0x00ff_ffff)).to_be_bytes());
                black_box(p2.observe(&ev, &mut scans).map(|(s, v)| (s.mss, v.score)));
                scans.clear();
            }
        })
    });
    g.finish();
    let m = p.matches;
    eprintln!(
        "{} records; verdicts over the runs: exact {} generic {} fuzzy {} unknown {}",
        recs.len(),
        m[0],
        m[1],
        m[2],
        m[3]
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
