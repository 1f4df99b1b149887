//! The daemon's ring pump against the real kernel: records the loaded XDP program wrote
//! into its ring buffer (BPF_PROG_TEST_RUN of crafted SYNs) reach the consumer in
//! batches of at most `BATCH`, each exactly once, and the last drain after `stop` takes
//! what is left.

use std::collections::HashSet;

use aya::{
    maps::RingBuf,
    programs::{TestRun, TestRunOptions},
};
use osfp::{
    capture::xdp::{self, LoadConfig},
    daemon::pump::{pump, Batch, BATCH, BATCHES_IN_FLIGHT},
};
use osfp_common::{map_name, program};
use osfp_tests::{craft::TcpFrame, privileged};
use tokio::sync::{mpsc, watch};

#[test]
fn pump_delivers_every_record_in_bounded_batches() {
    if !privileged("pump_delivers_every_record_in_bounded_batches") {
        return;
    }
    let mut ebpf = xdp::load(&LoadConfig::default(), program::LOOP).unwrap();
    let ring = RingBuf::try_from(ebpf.take_map(map_name::EVENTS).unwrap()).unwrap();
    // More than two batches' worth, each SYN from its own port.
    let n = 2 * BATCH + 300;
    {
        let prog = xdp::program(&mut ebpf, program::LOOP).unwrap();
        for i in 0..n {
            let f = TcpFrame::syn(
                "10.1.0.1".parse().unwrap(),
                "10.1.0.2".parse().unwrap(),
                10_000 + i as u16,
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let batches: Vec<Batch> = rt.block_on(async {
        let (tx, mut rx) = mpsc::channel(BATCHES_IN_FLIGHT);
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(pump(ring, tx, stop_rx));
        let mut got = Vec::new();
        let mut records = 0;
        // Everything is already in the ring: the first wake-up or poll drains it.
        while records < n {
            let b = rx.recv().await.expect("the pump runs");
            records += b.records.len();
            got.push(b);
        }
        stop_tx.send(true).unwrap();
        // The last drain finds nothing more and the pump ends, closing the channel.
        while let Some(b) = rx.recv().await {
            got.push(b);
        }
        task.await.unwrap().unwrap();
        got
    });
    let ports: Vec<u16> = batches
        .iter()
        .flat_map(|b| b.records.iter().map(|r| r.sport))
        .collect();
    assert_eq!(ports.len(), n, "every record once");
    assert_eq!(
        ports.iter().collect::<HashSet<_>>().len(),
        n,
        "no duplicate"
    );
    assert!(batches
        .iter()
        .all(|b| b.records.len() <= BATCH && b.bad_size == 0));
    assert!(
        batches.len() >= 3,
        "{} batches for {n} records",
        batches.len()
    );
}
