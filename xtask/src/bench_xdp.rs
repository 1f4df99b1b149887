//! XDP cost per packet via BPF_PROG_TEST_RUN. Cases are interleaved round by round so
//! that machine noise hits them alike; figures are medians, and ratios to the baseline.

use anyhow::{bail, Context, Result};
use aya::{
    maps::{MapData, RingBuf},
    programs::{TestRun, TestRunOptions, Xdp},
    Ebpf,
};
use osfp::capture::xdp::{self, LoadConfig};
use osfp_common::{map_name, program, tcp_flag, BASELINE_PROGRAM_NAME};
use osfp_tests::craft::TcpFrame;

use crate::median;

struct Case {
    name: &'static str,
    program: &'static str,
    frame: Vec<u8>,
}

fn cases() -> Vec<Case> {
    let (s, d) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
    let syn = TcpFrame::syn(s, d, 40000, 443);
    let mut ack = syn.clone();
    ack.flags = tcp_flag::ACK;
    ack.options.clear();
    // A data segment: never a handshake completion, returns on the fast path.
    let mut data = ack.clone();
    data.flags = tcp_flag::ACK | tcp_flag::PSH;
    data.payload = vec![0x61; 100];
    let mut ack_ts = ack.clone();
    ack_ts.options = vec![1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
    // The SYN case opens this flow; the sample interval (1 s) keeps it rate-limited.
    let tracked_ts = ack_ts.clone();
    ack_ts.sport = 40001;
    let mut udp = syn.ip_packet();
    udp[9] = 17; // same bytes, protocol UDP
    let mut udp_frame = syn.frame()[..14].to_vec();
    udp_frame.extend_from_slice(&udp);
    let mut vlan_syn = syn.clone();
    vlan_syn.vlans = vec![(0x8100, 10)];
    let v6_syn = TcpFrame::syn(
        "2001:db8::1".parse().unwrap(),
        "2001:db8::2".parse().unwrap(),
        40000,
        443,
    );
    vec![
        Case {
            name: "baseline (XDP_PASS only), TCP SYN",
            program: BASELINE_PROGRAM_NAME,
            frame: syn.frame(),
        },
        Case {
            name: "not selected: UDP",
            program: program::LOOP,
            frame: udp_frame,
        },
        Case {
            name: "not selected: TCP pure ACK, no options, untracked flow",
            program: program::LOOP,
            frame: ack.frame(),
        },
        Case {
            name: "not selected: TCP data (ACK+PSH, 100 B), no options",
            program: program::LOOP,
            frame: data.frame(),
        },
        Case {
            name: "not selected: TCP ACK with TS, untracked flow",
            program: program::LOOP,
            frame: ack_ts.frame(),
        },
        Case {
            name: "not selected: TCP ACK with TS, tracked flow, rate-limited",
            program: program::LOOP,
            frame: tracked_ts.frame(),
        },
        Case {
            name: "selected: TCP SYN (IPv4)",
            program: program::LOOP,
            frame: syn.frame(),
        },
        Case {
            name: "selected: TCP SYN (802.1Q, IPv4)",
            program: program::LOOP,
            frame: vlan_syn.frame(),
        },
        Case {
            name: "selected: TCP SYN (IPv6)",
            program: program::LOOP,
            frame: v6_syn.frame(),
        },
    ]
}

fn load(wakeup_batch: u32, ring_mib: u32) -> Result<Ebpf> {
    let cfg = LoadConfig {
        wakeup_batch,
        ring_bytes: ring_mib << 20,
        ..LoadConfig::default()
    };
    let mut ebpf = xdp::load(&cfg, program::LOOP)?;
    let base: &mut Xdp = ebpf
        .program_mut(BASELINE_PROGRAM_NAME)
        .context("baseline program")?
        .try_into()?;
    base.load()?;
    Ok(ebpf)
}

fn time(ebpf: &mut Ebpf, program: &str, frame: &[u8], repeat: u32) -> Result<f64> {
    let prog: &mut Xdp = ebpf.program_mut(program).context("program")?.try_into()?;
    let out = prog.test_run(TestRunOptions {
        data_in: Some(frame),
        repeat,
        ..TestRunOptions::new()
    })?;
    Ok(out.duration.as_nanos() as f64)
}

fn drain(ring: &mut RingBuf<MapData>) -> usize {
    let mut n = 0;
    while ring.next().is_some() {
        n += 1;
    }
    n
}

pub fn run(rounds: u32, repeat: u32) -> Result<()> {
    // SAFETY: no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        bail!("bench-xdp needs root (BPF_PROG_TEST_RUN)");
    }
    // Room for every record of one call, so the selected cases time the real path and
    // not the ring-full drop.
    let ring_mib = ((repeat as u64 * 136) >> 20).next_power_of_two().max(1) as u32 * 2;
    let mut ebpf = load(osfp_common::tunable::DEFAULT_WAKEUP_BATCH, ring_mib)?;
    let mut ring = RingBuf::try_from(ebpf.take_map(map_name::EVENTS).context("ring")?)?;
    let cases = cases();
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for _ in 0..rounds {
        for (i, c) in cases.iter().enumerate() {
            samples[i].push(time(&mut ebpf, c.program, &c.frame, repeat)?);
            drain(&mut ring);
        }
    }
    let medians: Vec<f64> = samples.into_iter().map(median).collect();
    let base = medians[0];
    println!("XDP ns per packet, BPF_PROG_TEST_RUN, {rounds} rounds x {repeat} runs, median");
    println!("| case | ns/packet | minus baseline |");
    println!("|---|---:|---:|");
    for (c, m) in cases.iter().zip(&medians) {
        println!("| {} | {:.1} | {:+.1} |", c.name, m, m - base);
    }
    let prog: &mut Xdp = ebpf
        .program_mut(program::LOOP)
        .context("program")?
        .try_into()?;
    let insns = prog.info()?.verified_instruction_count();
    println!(
        "\nverifier: {} instructions processed (kernel-reported verified_insns)",
        insns.map_or("n/a".into(), |n| n.to_string())
    );

    // Wake-up batching: the selected SYN with a forced wake-up on every record, versus
    // the default batch, in one interleaved run.
    let syn = &cases
        .iter()
        .find(|c| c.name == "selected: TCP SYN (IPv4)")
        .context("SYN case")?
        .frame;
    let mut every = load(1, ring_mib)?;
    let mut ring1 = RingBuf::try_from(every.take_map(map_name::EVENTS).context("ring")?)?;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        a.push(time(&mut every, program::LOOP, syn, repeat)?);
        drain(&mut ring1);
        b.push(time(&mut ebpf, program::LOOP, syn, repeat)?);
        drain(&mut ring);
    }
    let (a, b) = (median(a), median(b));
    println!(
        "\nselected SYN, wake-up on every record: {a:.1} ns; batched (every {} records): {b:.1} ns; ratio {:.2}",
        osfp_common::tunable::DEFAULT_WAKEUP_BATCH,
        a / b
    );
    Ok(())
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
