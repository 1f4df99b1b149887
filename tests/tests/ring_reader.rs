//! The daemon's ring reader against the real kernel: records the loaded XDP program
//! wrote into its ring buffer (BPF_PROG_TEST_RUN of crafted SYNs) wake the reader, come
//! out at most `BATCH` a turn with `more` telling whether to come back at once, each
//! exactly once, and the last turn takes what is left.

use std::collections::HashSet;

use aya::{
    maps::{MapData, RingBuf},
    programs::{TestRun, TestRunOptions},
};
use osfp::{
    capture::xdp::{self, LoadConfig},
    daemon::rings::{Rings, Turn, BATCH},
};
use osfp_common::{map_name, program};
use osfp_tests::{craft::TcpFrame, privileged};

/// The loaded program's ring with `n` SYNs in it (source ports from `first_port`), and a
/// runtime for the reader.
fn ring_with_syns(
    n: usize,
    first_port: u16,
) -> (aya::Ebpf, RingBuf<MapData>, tokio::runtime::Runtime) {
    let mut ebpf = xdp::load(&LoadConfig::default(), program::LOOP).unwrap();
    let ring = RingBuf::try_from(ebpf.take_map(map_name::EVENTS).unwrap()).unwrap();
    write_syns(&mut ebpf, n, first_port);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    (ebpf, ring, rt)
}

fn write_syns(ebpf: &mut aya::Ebpf, n: usize, first_port: u16) {
    let prog = xdp::program(ebpf, program::LOOP).unwrap();
    for i in 0..n {
        let f = TcpFrame::syn(
            "10.1.0.1".parse().unwrap(),
            "10.1.0.2".parse().unwrap(),
            first_port + i as u16,
            443,
        )
        .frame();
        let out = prog
            .test_run(TestRunOptions {
                data_in: Some(&f),
                ..TestRunOptions::new()
            })
            .unwrap();
        assert_eq!(out.return_value, 2, "XDP_PASS");
    }
}

#[test]
fn reader_takes_every_record_once_in_bounded_turns() {
    if !privileged("reader_takes_every_record_once_in_bounded_turns") {
        return;
    }
    // More than two batches' worth, each SYN from its own port.
    let n = 2 * BATCH + 300;
    let (_ebpf, ring, rt) = ring_with_syns(n, 10_000);
    let mut ports = Vec::new();
    let turns: Vec<Turn> = rt.block_on(async {
        let mut rings = Rings::new(vec![ring]).unwrap();
        // Data is waiting: the wait ends at once (a hang here fails the test by timeout).
        tokio::time::timeout(std::time::Duration::from_secs(5), rings.readable())
            .await
            .expect("the ring is readable")
            .unwrap();
        (0..4)
            .map(|_| rings.turn(BATCH, |r| ports.push(r.sport)))
            .collect()
    });
    let want = |records, more| Turn {
        records,
        bad_size: 0,
        more,
    };
    assert_eq!(
        turns,
        vec![
            want(BATCH, true),
            want(BATCH, true),
            want(300, false),
            want(0, false)
        ]
    );
    assert_eq!(ports.len(), n, "every record once");
    assert_eq!(
        ports.iter().collect::<HashSet<_>>().len(),
        n,
        "no duplicate"
    );
    assert!(ports
        .iter()
        .all(|p| (10_000..10_000 + n as u16).contains(p)));
}

#[test]
fn last_turn_takes_everything_left() {
    if !privileged("last_turn_takes_everything_left") {
        return;
    }
    let n = 3 * BATCH + 7;
    let (_ebpf, ring, rt) = ring_with_syns(n, 20_000);
    // The reader registers with a tokio reactor; the last turn itself does not wait.
    let _in_runtime = rt.enter();
    let mut rings = Rings::new(vec![ring]).unwrap();
    let mut seen = 0;
    let t = rings.last_turn(|_| seen += 1);
    assert_eq!((t.records, t.bad_size, seen), (n, 0, n));
    assert_eq!(rings.last_turn(|_| seen += 1).records, 0, "nothing twice");
}
