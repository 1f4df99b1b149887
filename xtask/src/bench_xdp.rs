//! XDP cost per packet via BPF_PROG_TEST_RUN. Cases are interleaved round by round so
//! that machine noise hits them alike; figures are medians, and ratios to the baseline.
//!
//! Several programs can be timed in the same run, case by case: each variant of this
//! build's object (`--program`, repeatable), and the XDP program of another build's
//! object (`--before path/to/osfp`, e.g. an older commit's), so a before/after
//! comparison shares one baseline and one stretch of machine noise.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use aya::{
    maps::{MapData, RingBuf},
    programs::{TestRun, TestRunOptions, Xdp},
    Ebpf,
};
use osfp::capture::xdp::{self, LoadConfig, EBPF_OBJECT};
use osfp_common::{map_name, program, tcp_flag, BASELINE_PROGRAM_NAME};
use osfp_tests::craft::TcpFrame;

use crate::median;

struct Case {
    name: &'static str,
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
    // The slow path: the same SYN inside VXLAN (outer IPv4/UDP 4789), walked header by
    // header.
    let inner = syn.frame();
    let mut vx = vec![0xc0, 0x00, 0x12, 0xb5];
    vx.extend_from_slice(&((16 + inner.len()) as u16).to_be_bytes());
    vx.extend_from_slice(&[0, 0, 8, 0, 0, 0, 0, 0, 1, 0]);
    vx.extend_from_slice(&inner);
    let mut outer = vec![
        0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 1, 0, 1, 10, 1, 0, 2,
    ];
    outer[2..4].copy_from_slice(&((20 + vx.len()) as u16).to_be_bytes());
    outer.extend_from_slice(&vx);
    let mut vxlan_syn = syn.frame()[..14].to_vec();
    vxlan_syn.extend_from_slice(&outer);
    vec![
        Case {
            name: "not selected: UDP",
            frame: udp_frame,
        },
        Case {
            name: "not selected: TCP pure ACK, no options, untracked flow",
            frame: ack.frame(),
        },
        Case {
            name: "not selected: TCP data (ACK+PSH, 100 B), no options",
            frame: data.frame(),
        },
        Case {
            name: "not selected: TCP ACK with TS, untracked flow",
            frame: ack_ts.frame(),
        },
        Case {
            name: "not selected: TCP ACK with TS, tracked flow, rate-limited",
            frame: tracked_ts.frame(),
        },
        Case {
            name: "selected: TCP SYN (IPv4)",
            frame: syn.frame(),
        },
        Case {
            name: "selected: TCP SYN (802.1Q, IPv4)",
            frame: vlan_syn.frame(),
        },
        Case {
            name: "selected: TCP SYN (IPv6)",
            frame: v6_syn.frame(),
        },
        Case {
            name: "selected: TCP SYN in VXLAN (slow path)",
            frame: vxlan_syn,
        },
    ]
}

/// One program timed over every case: a variant of one loaded object.
struct Arm {
    label: String,
    ebpf: usize,
    program: &'static str,
}

fn load(object: &[u8], program: &'static str, wakeup_batch: u32, ring_mib: u32) -> Result<Ebpf> {
    let cfg = LoadConfig {
        wakeup_batch,
        ring_bytes: ring_mib << 20,
        ..LoadConfig::default()
    };
    xdp::load_object(object, &cfg, program)
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

pub fn run(rounds: u32, repeat: u32, programs: Vec<String>, before: Option<PathBuf>) -> Result<()> {
    // SAFETY: no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        bail!("bench-xdp needs root (BPF_PROG_TEST_RUN)");
    }
    let variants: Vec<&'static str> = if programs.is_empty() {
        vec![program::LOOP]
    } else {
        programs
            .iter()
            .map(|p| {
                program::ALL
                    .into_iter()
                    .find(|v| v == p)
                    .with_context(|| format!("no variant {p:?} (have {:?})", program::ALL))
            })
            .collect::<Result<_>>()?
    };
    // Room for every record of one call, so the selected cases time the real path and
    // not the ring-full drop.
    let ring_mib = ((repeat as u64 * 136) >> 20).next_power_of_two().max(1) as u32 * 2;
    let batch = osfp_common::tunable::DEFAULT_WAKEUP_BATCH;
    // One loaded object per arm (its own ring buffer and flow table), the baseline
    // program loaded into the first.
    let mut objs: Vec<Ebpf> = Vec::new();
    let mut arms = Vec::new();
    let before_obj: Option<&'static [u8]> = match &before {
        Some(p) => Some(
            std::fs::read(p)
                .with_context(|| p.display().to_string())?
                .leak(),
        ),
        None => None,
    };
    if let Some(obj) = before_obj {
        objs.push(load(obj, program::LOOP, batch, ring_mib)?);
        arms.push(Arm {
            label: format!("before: {}", program::LOOP),
            ebpf: objs.len() - 1,
            program: program::LOOP,
        });
    }
    for v in &variants {
        objs.push(load(EBPF_OBJECT, v, batch, ring_mib)?);
        arms.push(Arm {
            label: v.to_string(),
            ebpf: objs.len() - 1,
            program: v,
        });
    }
    {
        let base: &mut Xdp = objs[0]
            .program_mut(BASELINE_PROGRAM_NAME)
            .context("baseline program")?
            .try_into()?;
        base.load()?;
    }
    let mut rings = Vec::new();
    for o in objs.iter_mut() {
        rings.push(RingBuf::try_from(
            o.take_map(map_name::EVENTS).context("ring")?,
        )?);
    }
    let cases = cases();
    let baseline_frame = &cases
        .iter()
        .find(|c| c.name == "selected: TCP SYN (IPv4)")
        .context("SYN case")?
        .frame;
    let mut base_samples = Vec::new();
    let mut samples: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); cases.len()]; arms.len()];
    for _ in 0..rounds {
        base_samples.push(time(
            &mut objs[0],
            BASELINE_PROGRAM_NAME,
            baseline_frame,
            repeat,
        )?);
        for (i, c) in cases.iter().enumerate() {
            for (a, arm) in arms.iter().enumerate() {
                samples[a][i].push(time(&mut objs[arm.ebpf], arm.program, &c.frame, repeat)?);
                drain(&mut rings[arm.ebpf]);
            }
        }
    }
    let base = median(base_samples);
    let medians: Vec<Vec<f64>> = samples
        .into_iter()
        .map(|per_case| per_case.into_iter().map(median).collect())
        .collect();
    println!(
        "XDP ns per packet, BPF_PROG_TEST_RUN, {rounds} rounds x {repeat} runs, median; \
         baseline (XDP_PASS only, TCP SYN) {base:.1} ns"
    );
    let mut head = String::from("| case |");
    let mut rule = String::from("|---|");
    for a in &arms {
        head += &format!(" {} | minus baseline |", a.label);
        rule += "---:|---:|";
    }
    if arms.len() > 1 {
        head += &format!(" ratio to {} |", arms[0].label);
        rule += "---|";
    }
    println!("{head}\n{rule}");
    for (i, c) in cases.iter().enumerate() {
        let mut row = format!("| {} |", c.name);
        for m in &medians {
            row += &format!(" {:.1} | {:+.1} |", m[i], m[i] - base);
        }
        if arms.len() > 1 {
            let ratios: Vec<String> = medians[1..]
                .iter()
                .map(|m| format!("{:.3}", m[i] / medians[0][i]))
                .collect();
            row += &format!(" {} |", ratios.join(", "));
        }
        println!("{row}");
    }
    println!();
    for a in &arms {
        let prog: &mut Xdp = objs[a.ebpf]
            .program_mut(a.program)
            .context("program")?
            .try_into()?;
        let insns = prog.info()?.verified_instruction_count();
        println!(
            "verifier, {}: {} instructions processed (kernel-reported verified_insns)",
            a.label,
            insns.map_or("n/a".into(), |n| n.to_string())
        );
    }

    // Wake-up batching: the selected SYN with a forced wake-up on every record, versus
    // the default batch, in one interleaved run (the first arm's program).
    let first = &arms[0];
    // With --before, the first arm is the other build's program.
    let object = before_obj.unwrap_or(EBPF_OBJECT);
    let mut every = load(object, first.program, 1, ring_mib)?;
    let mut ring1 = RingBuf::try_from(every.take_map(map_name::EVENTS).context("ring")?)?;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        a.push(time(&mut every, first.program, baseline_frame, repeat)?);
        drain(&mut ring1);
        b.push(time(
            &mut objs[first.ebpf],
            first.program,
            baseline_frame,
            repeat,
        )?);
        drain(&mut rings[first.ebpf]);
    }
    let (a, b) = (median(a), median(b));
    println!(
        "\n{}: selected SYN, wake-up on every record: {a:.1} ns; batched (every {batch} records): {b:.1} ns; ratio {:.2}",
        first.label,
        a / b
    );
    Ok(())
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
