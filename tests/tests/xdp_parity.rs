//! Parity of the two halves of the one pipeline: every Ethernet frame of the corpus goes
//! through the loaded XDP program (BPF_PROG_TEST_RUN) and through the pcap path's
//! Selector. The records must be identical apart from capture time and ifindex, and so
//! must every counter (selected by reason, malformed by reason, fragments).

use aya::{
    maps::{MapData, PerCpuArray, RingBuf},
    programs::{TestRun, TestRunOptions},
};
use osfp::{
    capture::{
        file as capture_file,
        frame::{Link, SelectConfig, Selector},
        xdp::{self, LoadConfig},
    },
    decode::options::{self, OptKind},
};
use osfp_common::{counter, map_name, reason, rec_flag, PacketRecord};
use osfp_tests::{corpus_files, privileged};

/// Largest frame BPF_PROG_TEST_RUN hands to XDP in one linear buffer on 4 KiB pages.
const MAX_LINEAR: usize = 3_000;

#[test]
fn xdp_program_and_pcap_path_agree_on_the_corpus() {
    if !privileged("xdp_program_and_pcap_path_agree_on_the_corpus") {
        return;
    }
    // Sample every timestamp packet of a tracked flow: the kernel's rate limit runs on its
    // own clock, the pcap path's on capture time, so only an interval of 0 compares.
    let cfg = LoadConfig {
        ts_sample_interval_ns: 0,
        ts_sample_max_per_flow: u32::MAX,
        ..LoadConfig::default()
    };
    let mut ebpf = xdp::load(&cfg).unwrap();
    let mut ring = RingBuf::try_from(ebpf.take_map(map_name::EVENTS).unwrap()).unwrap();
    let mut sel = Selector::new(SelectConfig {
        ts_sample_interval_ns: 0,
        ts_sample_max_per_flow: u32::MAX,
    });

    let (mut frames, mut records, mut skipped_big, mut v6, mut vlan, mut odd_opts, mut files) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    // Handshake completions, over IPv4 and IPv6 (the fast path decides them itself).
    let (mut hs4, mut hs6) = (0u64, 0u64);
    let mut mismatches = Vec::new();
    {
        let prog = xdp::program(&mut ebpf).unwrap();
        for path in corpus_files() {
            let mut used = false;
            let _ = capture_file::for_each_frame(&path, |link, frame, ts| {
                if link != Link::Ethernet {
                    return;
                }
                used = true;
                if frame.len() < 14 || frame.len() > MAX_LINEAR {
                    // Not a frame XDP can see in one buffer; the kernel never would.
                    skipped_big += 1;
                    return;
                }
                frames += 1;
                let out = prog
                    .test_run(TestRunOptions {
                        data_in: Some(frame),
                        ..TestRunOptions::new()
                    })
                    .expect("BPF_PROG_TEST_RUN");
                assert_eq!(out.return_value, 2, "XDP_PASS always");
                let mut kernel: Vec<PacketRecord> = Vec::new();
                while let Some(item) = ring.next() {
                    kernel.push(PacketRecord::from_bytes(&item).expect("record size"));
                }
                let user: Vec<PacketRecord> =
                    sel.frame(Link::Ethernet, frame, ts).into_iter().collect();
                let strip = |mut r: PacketRecord| {
                    r.ts_ns = 0;
                    r.ifindex = 0;
                    r
                };
                let k: Vec<_> = kernel.into_iter().map(strip).collect();
                let u: Vec<_> = user.into_iter().map(strip).collect();
                if k != u {
                    if mismatches.len() < 5 {
                        mismatches.push(format!(
                            "{}: frame {frames}: kernel {k:?} userspace {u:?}",
                            path.display()
                        ));
                    }
                    return;
                }
                for r in &u {
                    records += 1;
                    if r.reason & reason::HANDSHAKE_ACK != 0 {
                        hs4 += (r.family == 4) as u64;
                        hs6 += (r.family == 6) as u64;
                    }
                    v6 += (r.family == 6) as u64;
                    vlan += (frame[12..14] == [0x81, 0x00] || frame[12..14] == [0x88, 0xa8]) as u64;
                    let o = options::parse(
                        &r.options[..r.opt_len as usize],
                        r.rec_flags & rec_flag::OPTIONS_TRUNCATED != 0,
                    );
                    let unknown_kind = o.layout.iter().any(|k| matches!(k, OptKind::Unknown(_)));
                    odd_opts +=
                        (o.malformed.is_some() || o.nonzero_after_eol || unknown_kind) as u64;
                }
            });
            files += used as u64;
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatching frames, first: {mismatches:#?}",
        mismatches.len()
    );

    let counters: PerCpuArray<&MapData, u64> =
        PerCpuArray::try_from(ebpf.map(map_name::COUNTERS).unwrap()).unwrap();
    let kc = xdp::read_counters(&counters).unwrap();
    for slot in 0..counter::COUNT {
        assert_eq!(kc.get(slot), sel.counters.get(slot), "counter slot {slot}");
    }
    eprintln!(
        "parity: {files} files, {frames} frames, {records} records ({v6} IPv6, {vlan} VLAN-tagged, \
         {odd_opts} with unusual or cut options, {hs4}+{hs6} IPv4+IPv6 handshake ACKs), \
         {skipped_big} frames over {MAX_LINEAR} bytes not run"
    );
    // The comparison covered what the issue asks for.
    assert!(files > 500 && records > 10_000, "too little compared");
    assert!(
        v6 > 100 && vlan > 10 && odd_opts > 0 && hs4 > 100 && hs6 > 10,
        "coverage: v6 {v6} vlan {vlan} odd {odd_opts} handshake ACKs {hs4}+{hs6}"
    );
}

/// The crafted frames of every tunnel the walkers open (`craft::tunnels`), whole and cut
/// at every length from the Ethernet header on: the XDP program and the pcap path give
/// the same records and the same counters.
#[test]
fn xdp_program_and_pcap_path_agree_on_crafted_tunnels() {
    if !privileged("xdp_program_and_pcap_path_agree_on_crafted_tunnels") {
        return;
    }
    let mut ebpf = xdp::load(&LoadConfig::default()).unwrap();
    let mut ring = RingBuf::try_from(ebpf.take_map(map_name::EVENTS).unwrap()).unwrap();
    let mut sel = Selector::new(SelectConfig::default());
    let (mut frames, mut records) = (0u64, 0u64);
    {
        let prog = xdp::program(&mut ebpf).unwrap();
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
                assert_eq!(kernel, user, "{} cut at {len}", case.name);
                frames += 1;
                records += user.len() as u64;
            }
        }
    }
    let counters: PerCpuArray<&MapData, u64> =
        PerCpuArray::try_from(ebpf.map(map_name::COUNTERS).unwrap()).unwrap();
    let kc = xdp::read_counters(&counters).unwrap();
    for slot in 0..counter::COUNT {
        assert_eq!(kc.get(slot), sel.counters.get(slot), "counter slot {slot}");
    }
    eprintln!("tunnel parity: {frames} frames, {records} records");
    assert!(records > 100, "{records} records");
}
