//! The two halves of the one pipeline agree: Ethernet frames go through a loaded build of
//! the XDP program (BPF_PROG_TEST_RUN) and through the pcap path's `Selector`; the
//! records must be identical apart from capture time and ifindex, and so must every
//! counter (selected by reason, malformed by reason, fragments).
//! `tests/xdp_parity.rs` runs every corpus frame on the host for every build; the kernel
//! matrix runs a subset rich in VLAN tags, IPv6 extension headers and tunnels in each
//! guest kernel. Both add crafted frames the corpus has few or none of (extension
//! chains, tunnels, options cut at every length, layer and VLAN stacks past the limits).

use std::{
    collections::BTreeMap,
    net::IpAddr,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
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
use osfp_common::{counter, map_name, reason, rec_flag, Malformed, PacketRecord, MAX_LAYERS};

use crate::craft::TcpFrame;

/// Largest frame BPF_PROG_TEST_RUN hands to XDP in one linear buffer on 4 KiB pages.
pub const MAX_LINEAR: usize = 3_000;

/// What was compared, and what differed.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Report {
    pub program: String,
    pub files: u64,
    pub frames: u64,
    pub records: u64,
    pub v6: u64,
    /// Records from frames with a VLAN tag.
    pub vlan: u64,
    /// Records from frames whose TCP sits behind IPv6 extension headers.
    pub v6_ext: u64,
    /// Records from frames whose TCP sits inside another header than Ethernet + VLAN +
    /// IP (MPLS, PPPoE, IP-in-IP, GRE, UDP tunnels...).
    pub encapsulated: u64,
    /// Records whose options are unusual or cut short.
    pub odd_options: u64,
    pub handshake_acks_v4: u64,
    pub handshake_acks_v6: u64,
    /// Frames over [`MAX_LINEAR`] bytes, not run (the kernel never gets them in one
    /// buffer either).
    pub skipped_big: u64,
    /// Crafted frames run (besides the files').
    pub crafted: u64,
    /// The kernel's malformed counters that are not zero, by reason.
    pub malformed: BTreeMap<String, u64>,
    /// The first differing frames (at most 5), and differing counter slots.
    pub mismatches: Vec<String>,
}

/// Where a frame's TCP header sits, from its outer headers.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub vlan: bool,
    pub v6_ext: bool,
    pub encapsulated: bool,
}

/// Reads a frame's outer headers (Ethernet, VLAN tags, the first IP header) to tell
/// plain frames from the ones the kernel's slow path walks.
pub fn shape(f: &[u8]) -> Shape {
    let be16 = |at: usize| f.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let mut s = Shape::default();
    let mut off = 12;
    let mut proto = be16(off);
    while matches!(proto, Some(0x8100 | 0x88a8 | 0x9100)) {
        s.vlan = true;
        off += 4;
        proto = be16(off);
    }
    let ip = off + 2;
    match proto {
        Some(0x0800) => {
            let p = f.get(ip + 9).copied();
            s.encapsulated = matches!(p, Some(4 | 41 | 47 | 17));
        }
        Some(0x86dd) => {
            let next = f.get(ip + 6).copied();
            s.v6_ext = matches!(next, Some(0 | 43 | 44 | 60));
            s.encapsulated = matches!(next, Some(4 | 41 | 47 | 17));
        }
        _ => s.encapsulated = true,
    }
    s
}

/// Runs the frames of `files` through build `program` of the XDP program and through
/// the pcap path, and compares.
pub fn run(program: &str, files: &[PathBuf]) -> Result<Report> {
    // Sample every timestamp packet of a tracked flow: the kernel's rate limit runs on
    // its own clock, the pcap path's on capture time, so only an interval of 0 compares.
    let cfg = LoadConfig {
        ts_sample_interval_ns: 0,
        ts_sample_max_per_flow: u32::MAX,
        ..LoadConfig::default()
    };
    let mut ebpf = xdp::load(&cfg, program).with_context(|| format!("loading {program}"))?;
    let mut ring = RingBuf::try_from(ebpf.take_map(map_name::EVENTS).context("EVENTS")?)?;
    let mut sel = Selector::new(SelectConfig {
        ts_sample_interval_ns: 0,
        ts_sample_max_per_flow: u32::MAX,
        hash_key: cfg.hash_key,
    });
    let mut r = Report {
        program: program.to_string(),
        ..Report::default()
    };
    let mut error = None;
    let crafted = crafted_frames();
    r.crafted = crafted.len() as u64;
    {
        let prog = xdp::program(&mut ebpf, program)?;
        let mut each = |path: &Path, link: Link, frame: &[u8], ts: u64| {
            if link != Link::Ethernet || error.is_some() {
                return false;
            }
            if frame.len() < 14 || frame.len() > MAX_LINEAR {
                r.skipped_big += 1;
                return true;
            }
            r.frames += 1;
            let out = match prog.test_run(TestRunOptions {
                data_in: Some(frame),
                ..TestRunOptions::new()
            }) {
                Ok(o) => o,
                Err(e) => {
                    error = Some(format!("BPF_PROG_TEST_RUN: {e}"));
                    return true;
                }
            };
            if out.return_value != 2 {
                error = Some(format!("XDP returned {} (not XDP_PASS)", out.return_value));
                return true;
            }
            let strip = |mut rec: PacketRecord| {
                rec.ts_ns = 0;
                rec.ifindex = 0;
                rec
            };
            let mut kernel = Vec::new();
            while let Some(item) = ring.next() {
                match PacketRecord::from_bytes(&item) {
                    Some(rec) => kernel.push(strip(rec)),
                    None => error = Some(format!("ring entry of {} bytes", item.len())),
                }
            }
            let user: Vec<PacketRecord> = sel
                .frame(Link::Ethernet, frame, ts)
                .into_iter()
                .map(strip)
                .collect();
            if kernel != user {
                if r.mismatches.len() < 5 {
                    r.mismatches.push(format!(
                        "{}: frame {}: kernel {kernel:?} userspace {user:?}",
                        path.display(),
                        r.frames
                    ));
                }
                return true;
            }
            let sh = shape(frame);
            for rec in &user {
                count(&mut r, rec, sh);
            }
            true
        };
        let mut used_files = 0;
        for path in files {
            let mut used = false;
            let _ = capture_file::for_each_frame(path, |link, frame, ts| {
                used |= each(path, link, frame, ts);
            });
            used_files += used as u64;
        }
        for (i, f) in crafted.iter().enumerate() {
            each(
                Path::new("(crafted)"),
                Link::Ethernet,
                f,
                1_000_000_000 * (i as u64 + 1),
            );
        }
        r.files = used_files;
    }
    if let Some(e) = error {
        bail!("{program}: {e}");
    }
    let counters: PerCpuArray<&MapData, u64> =
        PerCpuArray::try_from(ebpf.map(map_name::COUNTERS).context("COUNTERS")?)?;
    let kc = xdp::read_counters(&counters)?;
    for m in Malformed::ALL {
        if kc.malformed(m) > 0 {
            r.malformed.insert(m.name().to_string(), kc.malformed(m));
        }
    }
    for slot in 0..counter::COUNT {
        if kc.get(slot) != sel.counters.get(slot) {
            r.mismatches.push(format!(
                "counter slot {slot}: kernel {} userspace {}",
                kc.get(slot),
                sel.counters.get(slot)
            ));
        }
    }
    Ok(r)
}

fn count(r: &mut Report, rec: &PacketRecord, sh: Shape) {
    r.records += 1;
    if rec.reason & reason::HANDSHAKE_ACK != 0 {
        r.handshake_acks_v4 += (rec.family == 4) as u64;
        r.handshake_acks_v6 += (rec.family == 6) as u64;
    }
    r.v6 += (rec.family == 6) as u64;
    r.vlan += sh.vlan as u64;
    r.v6_ext += sh.v6_ext as u64;
    r.encapsulated += sh.encapsulated as u64;
    let o = options::parse(
        &rec.options[..rec.opt_len as usize],
        rec.rec_flags & rec_flag::OPTIONS_TRUNCATED != 0,
    );
    let unknown_kind = o.layout.iter().any(|k| matches!(k, OptKind::Unknown(_)));
    r.odd_options += (o.malformed.is_some() || o.nonzero_after_eol || unknown_kind) as u64;
}

/// Up to `per_shape` files with selected records of each shape (VLAN, IPv6 extension
/// headers, encapsulated), smallest first, and as many plain ones: a subset that takes
/// every path of the kernel's walker, small enough for a guest under emulation.
pub fn subset(files: &[PathBuf], per_shape: usize) -> Vec<PathBuf> {
    let mut by_size: Vec<&PathBuf> = files.iter().collect();
    by_size.sort_by_key(|p| std::fs::metadata(p).map_or(u64::MAX, |m| m.len()));
    let mut picked: Vec<PathBuf> = Vec::new();
    let mut taken = [0usize; 4];
    for path in by_size {
        let mut sel = Selector::new(SelectConfig::default());
        let mut has = [false; 4];
        let _ = capture_file::for_each_frame(path, |link, frame, ts| {
            if link == Link::Ethernet
                && frame.len() <= MAX_LINEAR
                && sel.frame(link, frame, ts).is_some()
            {
                let s = shape(frame);
                has[0] |= s.vlan;
                has[1] |= s.v6_ext;
                has[2] |= s.encapsulated;
                has[3] |= s == Shape::default();
            }
        });
        if (0..4).any(|i| has[i] && taken[i] < per_shape) {
            (0..4).filter(|i| has[*i]).for_each(|i| taken[i] += 1);
            picked.push(path.clone());
        }
        if taken.iter().all(|t| *t >= per_shape) {
            break;
        }
    }
    picked
}

/// The corpus files listed in a file, one path a line (the matrix hands its subset to a
/// guest this way).
pub fn read_list(list: &Path) -> Result<Vec<PathBuf>> {
    Ok(std::fs::read_to_string(list)
        .with_context(|| list.display().to_string())?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(PathBuf::from)
        .collect())
}

/// Frames the corpus has few or none of, each through the walker's slow path or its edge:
/// IPv6 extension chains, tunnels, TCP options cut short at every length, layer and VLAN
/// stacks past the limits.
pub fn crafted_frames() -> Vec<Vec<u8>> {
    let ip = |a: &str| -> IpAddr { a.parse().unwrap() };
    let syn4 = TcpFrame::syn(ip("192.0.2.1"), ip("192.0.2.2"), 40000, 443);
    let syn6 = TcpFrame::syn(ip("2001:db8::1"), ip("2001:db8::2"), 40000, 443);
    // The longest options: Linux's 20 bytes, then 20 NOPs.
    let mut long4 = syn4.clone();
    long4.options.extend_from_slice(&[1; 20]);
    let eth = |ethertype: u16, payload: &[u8]| -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    };
    // An outer IPv4 header around `inner`, protocol `proto`.
    let ipv4 = |proto: u8, inner: &[u8]| -> Vec<u8> {
        let mut h = vec![
            0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0, 198, 51, 100, 1, 198, 51, 100, 2,
        ];
        h[2..4].copy_from_slice(&((20 + inner.len()) as u16).to_be_bytes());
        h.extend_from_slice(inner);
        h
    };
    let udp = |dport: u16, inner: &[u8]| -> Vec<u8> {
        let mut u = vec![0xc0, 0x00];
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&((8 + inner.len()) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(inner);
        u
    };
    let vxlan = |inner: &[u8]| -> Vec<u8> {
        let mut vx = vec![8, 0, 0, 0, 0, 0, 1, 0];
        vx.extend_from_slice(inner);
        eth(0x0800, &ipv4(17, &udp(4789, &vx)))
    };
    // IPv6 with extension headers (their next-header numbers) between the fixed header
    // and TCP.
    let v6_ext = |exts: &[u8]| -> Vec<u8> {
        let ip = syn6.ip_packet();
        let (hdr, tcp) = ip.split_at(40);
        let mut h = hdr.to_vec();
        let mut chain = Vec::new();
        for (i, &kind) in exts.iter().enumerate() {
            let next = exts.get(i + 1).copied().unwrap_or(6);
            if kind == 44 {
                // Fragment header: offset 0, M clear, an identification.
                chain.extend_from_slice(&[next, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef]);
            } else {
                // Hop-by-hop, routing or destination options: 8 bytes, PadN.
                chain.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]);
            }
        }
        h[6] = exts.first().copied().unwrap_or(6);
        h[4..6].copy_from_slice(&((chain.len() + tcp.len()) as u16).to_be_bytes());
        h.extend_from_slice(&chain);
        h.extend_from_slice(tcp);
        eth(0x86DD, &h)
    };
    let mut out = vec![
        syn4.frame(),
        syn6.frame(),
        long4.frame(),
        v6_ext(&[0]),
        v6_ext(&[0, 60, 44]),
        v6_ext(&[43, 60]),
        v6_ext(&[60, 60, 60, 60, 60, 60]),
        v6_ext(&[60, 60, 60, 60, 60, 60, 60]),
    ];
    // Three VLAN tags (past the fast path's two), then five (past MAX_VLAN_TAGS).
    let mut vlans = syn4.clone();
    vlans.vlans = vec![(0x88a8, 1), (0x8100, 2), (0x8100, 3)];
    out.push(vlans.frame());
    vlans.vlans.push((0x8100, 4));
    vlans.vlans.push((0x8100, 5));
    out.push(vlans.frame());
    // Tunnels: GRE, VXLAN, Geneve, each around IPv4 and IPv6 SYNs.
    for inner in [&syn4, &syn6, &long4] {
        let et: u16 = if inner.src.is_ipv4() { 0x0800 } else { 0x86DD };
        let mut gre = vec![0, 0];
        gre.extend_from_slice(&et.to_be_bytes());
        gre.extend_from_slice(&inner.ip_packet());
        out.push(eth(0x0800, &ipv4(47, &gre)));
        out.push(vxlan(&inner.frame()));
        let mut geneve = vec![0, 0, 0x65, 0x58, 0, 0, 1, 0];
        geneve.extend_from_slice(&inner.frame());
        out.push(eth(0x0800, &ipv4(17, &udp(6081, &geneve))));
    }
    // Options cut short at every length, on the fast path and behind VXLAN.
    let whole = long4.frame();
    let opt_start = 14 + 20 + 20;
    for cut in 0..=40 {
        let f = whole[..opt_start + cut].to_vec();
        out.push(vxlan(&f));
        out.push(f);
    }
    let whole6 = syn6.frame();
    for cut in 0..=20 {
        out.push(whole6[..14 + 40 + 20 + cut].to_vec());
    }
    // MPLS label stacks up to and past MAX_LAYERS, the last label bottom of stack.
    for labels in [
        1,
        MAX_LAYERS - 3,
        MAX_LAYERS - 2,
        MAX_LAYERS - 1,
        MAX_LAYERS,
        MAX_LAYERS + 4,
    ] {
        let mut m = Vec::new();
        for i in 0..labels {
            m.extend_from_slice(&[0, 0x01, if i + 1 == labels { 0x01 } else { 0 }, 64]);
        }
        m.extend_from_slice(&syn4.ip_packet());
        out.push(eth(0x8847, &m));
    }
    // VXLAN in VXLAN in VXLAN...: nested until the layer limit stops the walk.
    let mut nested = syn4.frame();
    for _ in 0..5 {
        nested = vxlan(&nested);
        out.push(nested.clone());
    }
    out
}
