//! Parity of the two halves of the one pipeline, for every build of the XDP program in
//! the object: every Ethernet frame of the corpus goes through the loaded build
//! (BPF_PROG_TEST_RUN) and through the pcap path's Selector; records and counters must
//! be identical (osfp_tests::parity).

use aya::{
    maps::{MapData, PerCpuArray, RingBuf},
    programs::{TestRun, TestRunOptions},
};
use osfp::capture::{
    frame::{Link, SelectConfig, Selector},
    kernel::VARIANTS,
    xdp::{self, LoadConfig},
};
use osfp_common::{counter, map_name, PacketRecord};
use osfp_tests::{corpus_files, parity, privileged};

#[test]
fn every_build_and_the_pcap_path_agree_on_the_corpus() {
    if !privileged("every_build_and_the_pcap_path_agree_on_the_corpus") {
        return;
    }
    let files = corpus_files();
    for v in &VARIANTS {
        let r = parity::run(v.name, &files).unwrap();
        assert!(
            r.mismatches.is_empty(),
            "{}: {} mismatches, first: {:#?}",
            v.name,
            r.mismatches.len(),
            r.mismatches
        );
        eprintln!(
            "parity {}: {} files, {} frames, {} records ({} IPv6, {} VLAN-tagged, {} behind IPv6 extension headers, \
             {} encapsulated, {} with unusual or cut options, {}+{} IPv4+IPv6 handshake ACKs), \
             {} frames over {} bytes not run, {} crafted frames",
            v.name,
            r.files,
            r.frames,
            r.records,
            r.v6,
            r.vlan,
            r.v6_ext,
            r.encapsulated,
            r.odd_options,
            r.handshake_acks_v4,
            r.handshake_acks_v6,
            r.skipped_big,
            parity::MAX_LINEAR,
            r.crafted
        );
        // The crafted frames reach the walker's limits.
        for m in [
            "encapsulation_too_deep",
            "vlan_too_deep",
            "ipv6_extension_chain_too_long",
            "tcp_options_truncated",
        ] {
            assert!(
                r.malformed.contains_key(m),
                "{}: no {m} frame: {:?}",
                v.name,
                r.malformed
            );
        }
        // The comparison covered what matters.
        assert!(
            r.files > 500 && r.records > 10_000,
            "{}: too little compared",
            v.name
        );
        assert!(
            r.v6 > 100
                && r.vlan > 10
                && r.v6_ext > 0
                && r.encapsulated > 10
                && r.odd_options > 0
                && r.handshake_acks_v4 > 100
                && r.handshake_acks_v6 > 10,
            "{}: coverage {r:?}",
            v.name
        );
    }
}

/// The crafted frames of every tunnel the walkers open (`craft::tunnels`), whole and cut
/// at every length from the Ethernet header on: the XDP program and the pcap path give
/// the same records and the same counters.
#[test]
fn xdp_program_and_pcap_path_agree_on_crafted_tunnels() {
    if !privileged("xdp_program_and_pcap_path_agree_on_crafted_tunnels") {
        return;
    }
    for v in &VARIANTS {
        let mut ebpf = xdp::load(&LoadConfig::default(), v.name).unwrap();
        let mut ring = RingBuf::try_from(ebpf.take_map(map_name::EVENTS).unwrap()).unwrap();
        let mut sel = Selector::new(SelectConfig::default());
        let (mut frames, mut records) = (0u64, 0u64);
        {
            let prog = xdp::program(&mut ebpf, v.name).unwrap();
            for case in osfp_tests::craft::tunnels::cases() {
                for len in (14..=case.frame.len()).rev() {
                    let frame = &case.frame[..len];
                    let out = prog
                        .test_run(TestRunOptions {
                            data_in: Some(frame),
                            ..TestRunOptions::new()
                        })
                        .expect("BPF_PROG_TEST_RUN");
                    assert_eq!(out.return_value, 2, "XDP_PASS always");
                    let mut kernel = Vec::new();
                    while let Some(item) = ring.next() {
                        let mut r = PacketRecord::from_bytes(&item).expect("record size");
                        (r.ts_ns, r.ifindex) = (0, 0);
                        kernel.push(r);
                    }
                    let user: Vec<PacketRecord> =
                        sel.frame(Link::Ethernet, frame, 0).into_iter().collect();
                    assert_eq!(kernel, user, "{}: {} cut at {len}", v.name, case.name);
                    frames += 1;
                    records += user.len() as u64;
                }
            }
        }
        let counters: PerCpuArray<&MapData, u64> =
            PerCpuArray::try_from(ebpf.map(map_name::COUNTERS).unwrap()).unwrap();
        let kc = xdp::read_counters(&counters).unwrap();
        for slot in 0..counter::COUNT {
            assert_eq!(
                kc.get(slot),
                sel.counters.get(slot),
                "{}: counter slot {slot}",
                v.name
            );
        }
        eprintln!(
            "tunnel parity {}: {frames} frames, {records} records",
            v.name
        );
        assert!(records > 100, "{records} records");
    }
}
