//! Records per second through the pipeline's stages as production runs them (scan,
//! fingerprint and match, the per-source table with clock state), over the corpus' real
//! SYN / SYN-ACKs with /etc/p0f/p0f.fp (the built-in database if absent).

use std::{
    hint::black_box,
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use osfp::{
    analysis::fingerprint::{self, Database},
    capture::frame::{Link, SelectConfig, Selector},
    decode::Event,
    pipeline::Pipeline,
};
use osfp_common::PacketRecord;
use osfp_tests::craft::TcpFrame;

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
    // bench-live's shape without the ring buffer: the same SYN from 32,768 sources
    // (they fit the established segment), 16 in a row from each, decoded as the live
    // consumer does. What the consumer's core can take at best.
    let bursts = live_bursts(32_768, 16);
    g.throughput(Throughput::Elements(bursts.len() as u64));
    let mut p3 = Pipeline::with_database(db.clone(), 65_536);
    g.bench_function(
        "decode+observe, bench-live's SYN bursts (32,768 sources)",
        |b| {
            let mut ev = Event::decode(&bursts[0]);
            b.iter(|| {
                for r in &bursts {
                    p3.process_into(r, &mut ev);
                    black_box(p3.observe(&ev, &mut scans).map(|(s, v)| (s.mss, v.score)));
                    scans.clear();
                }
            })
        },
    );
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

/// `bench-live`'s records: its SYN frame from `sources` addresses, `burst` in a row
/// from each, through the same selector the kernel mirrors.
fn live_bursts(sources: u32, burst: usize) -> Vec<PacketRecord> {
    let dst: IpAddr = Ipv4Addr::new(10, 99, 0, 2).into();
    let mut sel = Selector::new(SelectConfig::default());
    let mut out = Vec::new();
    for i in 0..sources {
        let src = Ipv4Addr::from(0x0a00_0000 | (i + 1)).into();
        let frame = TcpFrame::syn(src, dst, 40000 + (i % 20000) as u16, 443).frame();
        let r = sel
            .frame(Link::Ethernet, &frame, 0)
            .expect("a SYN is selected");
        out.extend(std::iter::repeat_n(r, burst));
    }
    // Time moves on as it would: 1 µs a record.
    for (i, r) in out.iter_mut().enumerate() {
        r.ts_ns = 1_700_000_000_000_000_000 + i as u64 * 1_000;
    }
    out
}

criterion_group!(benches, bench);
criterion_main!(benches);
