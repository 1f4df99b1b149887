//! Shedding in the real kernel: the XDP program, run with BPF_PROG_TEST_RUN on crafted
//! frames into a ring buffer nobody drains, sheds by design before the ring overflows.
//! From half full, a source already seen loses its SYNs but one in `SHED_SAMPLE` while
//! every new source's first SYN still gets in; from three quarters full, SYNs are shed
//! and SYN-ACKs still fill the rest; only then is `ringbuf_full` counted. A source whose
//! handshake ACK was seen keeps all its SYNs.

use std::net::Ipv4Addr;

use aya::{
    maps::{PerCpuArray, RingBuf},
    programs::{TestRun, TestRunOptions},
    Ebpf,
};
use osfp::capture::{
    frame::FrameCounters,
    xdp::{self, LoadConfig},
};
use osfp_common::{counter, map_name, program, reason, tcp_flag, tunable, PacketRecord};
use osfp_tests::{craft::TcpFrame, privileged};

const RING_BYTES: u32 = 256 << 10;

/// Bytes a record takes in the ring: an 8-byte header, rounded up to 8.
fn entry_bytes() -> u32 {
    (8 + std::mem::size_of::<PacketRecord>() as u32).next_multiple_of(8)
}

fn run(ebpf: &mut Ebpf, frame: &[u8]) {
    let prog = xdp::program(ebpf, program::LOOP).unwrap();
    let out = prog
        .test_run(TestRunOptions {
            data_in: Some(frame),
            ..TestRunOptions::new()
        })
        .unwrap();
    assert_eq!(out.return_value, 2, "XDP_PASS");
}

fn counters(ebpf: &Ebpf) -> FrameCounters {
    let map = PerCpuArray::<_, u64>::try_from(ebpf.map(map_name::COUNTERS).unwrap()).unwrap();
    xdp::read_counters(&map).unwrap()
}

fn syn(src: Ipv4Addr, sport: u16) -> Vec<u8> {
    TcpFrame::syn(src.into(), "10.9.0.1".parse().unwrap(), sport, 443).frame()
}

fn synack(src: Ipv4Addr, dport: u16) -> Vec<u8> {
    let mut f = TcpFrame::syn(src.into(), "10.9.0.1".parse().unwrap(), 443, dport);
    f.flags = tcp_flag::SYN | tcp_flag::ACK;
    f.frame()
}

/// The n-th address of 10.64.0.0/10, one per new source.
fn source(n: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a40_0000 + n)
}

#[test]
fn ring_sheds_repeat_syns_then_keeps_synacks() {
    if !privileged("ring_sheds_repeat_syns_then_keeps_synacks") {
        return;
    }
    let cfg = LoadConfig {
        ring_bytes: RING_BYTES,
        wakeup_batch: 1 << 20,
        ..LoadConfig::default()
    };
    let mut ebpf = xdp::load(&cfg, program::LOOP).unwrap();
    // A client completes a handshake first (SYN, then its ACK): from then on its SYNs
    // are never shed.
    let client = Ipv4Addr::new(10, 8, 0, 9);
    run(&mut ebpf, &syn(client, 999));
    let mut ack = TcpFrame::syn(client.into(), "10.9.0.1".parse().unwrap(), 999, 443);
    ack.flags = tcp_flag::ACK;
    ack.options.clear();
    run(&mut ebpf, &ack.frame());
    let c = counters(&ebpf);
    assert_eq!(
        c.get(counter::SELECTED_BASE + reason::HANDSHAKE_ACK.trailing_zeros()),
        1
    );
    let client_records = 2u64;
    let half = (RING_BYTES / 2).div_ceil(entry_bytes());
    let three_quarters = (RING_BYTES * 3 / 4).div_ceil(entry_bytes());
    let full = RING_BYTES / entry_bytes();
    let syns = |c: &FrameCounters| c.get(counter::SELECTED_BASE + reason::SYN.trailing_zeros());
    let shed = |c: &FrameCounters| c.get(counter::SHED_BASE + reason::SYN.trailing_zeros());

    // One source: all its SYNs until half full, then one in SHED_SAMPLE (per CPU).
    let repeat = 320;
    for i in 0..half + repeat {
        run(&mut ebpf, &syn(Ipv4Addr::new(10, 8, 0, 1), 1024 + i as u16));
    }
    let c = counters(&ebpf);
    let kept = syns(&c) - 1 - half as u64;
    assert!(
        kept <= 1 + 2 * (repeat / tunable::SHED_SAMPLE) as u64 + 2,
        "{kept} of {repeat} repeat SYNs past half full were kept"
    );
    assert_eq!(
        shed(&c),
        repeat as u64 - kept,
        "every SYN not kept is counted shed"
    );
    assert_eq!(c.get(counter::RINGBUF_FULL), 0);
    let used = (syns(&c) + 1) as u32;
    assert!(
        used < three_quarters,
        "{used} records, below 3/4 ({three_quarters})"
    );

    // New sources between half and three quarters: every first SYN gets in.
    let fresh = three_quarters - used - 1;
    for n in 0..fresh {
        run(&mut ebpf, &syn(source(n), 40_000));
    }
    let c2 = counters(&ebpf);
    assert_eq!(
        syns(&c2) - syns(&c),
        fresh as u64,
        "each new source's first SYN kept"
    );
    assert_eq!(shed(&c2), shed(&c));

    // Past three quarters: new sources' SYNs are shed too, SYN-ACKs fill the ring, and
    // only records that find no room count as ring full.
    for n in 0..3 {
        run(&mut ebpf, &syn(source(fresh + n), 40_000));
    }
    let c3 = counters(&ebpf);
    let used = (syns(&c3) + 1) as u32;
    assert!(
        used >= three_quarters,
        "{used} records reach 3/4 ({three_quarters})"
    );
    assert!(
        shed(&c3) >= shed(&c2) + 2,
        "SYNs shed from three quarters full"
    );
    // The client's SYNs still get in past three quarters.
    for i in 0..5 {
        run(&mut ebpf, &syn(client, 2000 + i));
    }
    let c3b = counters(&ebpf);
    assert_eq!(syns(&c3b), syns(&c3) + 5, "the client's SYNs are not shed");
    assert_eq!(shed(&c3b), shed(&c3));
    let used = used + 5;
    let synacks_sent = full - used + 10;
    for n in 0..synacks_sent {
        run(&mut ebpf, &synack(source(100_000 + n), 50_000));
    }
    let c4 = counters(&ebpf);
    let synacks = c4.get(counter::SELECTED_BASE + reason::SYNACK.trailing_zeros());
    let full_count = c4.get(counter::RINGBUF_FULL);
    assert_eq!(
        synacks + full_count,
        synacks_sent as u64,
        "no SYN-ACK is shed"
    );
    assert!(
        synacks >= (full - used - 1) as u64,
        "SYN-ACKs take the last quarter"
    );
    assert!(
        full_count >= 9,
        "the ring overflows only at the end ({full_count})"
    );

    // What the counters say is what the ring holds.
    let mut ring = RingBuf::try_from(ebpf.take_map(map_name::EVENTS).unwrap()).unwrap();
    let mut records = 0u64;
    while ring.next().is_some() {
        records += 1;
    }
    assert_eq!(records, syns(&c4) + synacks + client_records - 1);
}
