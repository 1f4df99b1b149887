//! `osfp pcap` against p0f on one large capture of handshakes: the SYN and SYN-ACK
//! frames of the corpus's Ethernet IPv4 captures, replicated with rewritten addresses
//! (each copy XORs both ends of every flow with the same value, so SYN and SYN-ACK
//! still pair up; the IPv4 header checksum is recomputed, the TCP one left as is:
//! neither tool checks it) into a temporary pcap of about `packets` frames. Both tools
//! read the same file in the same run, rounds interleaved; medians reported.

use std::{
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{bail, Context, Result};
use osfp::capture::{file as capture_file, frame::Link};
use osfp_common::tcp_flag;

use crate::median;

const P0F_DB: &str = "/etc/p0f/p0f.fp";

pub fn run(rounds: u32, packets: usize, keep: bool) -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let corpus = std::env::var_os("OSFP_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            [
                root.join("../shared/corpus"),
                root.join("../../shared/corpus"),
            ]
            .into_iter()
            .find(|p| p.join("INDEX.tsv").exists())
            .unwrap_or_else(|| root.join("../shared/corpus"))
        });
    let osfp = osfp_release_bin(&root)?;
    let base = handshake_frames(&corpus)?;
    if base.is_empty() {
        bail!(
            "no Ethernet IPv4 SYN/SYN-ACK frames found in {}",
            corpus.display()
        );
    }
    let path = std::env::temp_dir().join(format!("osfp-bench-p0f-{}.pcap", std::process::id()));
    let n = write_replicated(&path, &base, packets)?;
    println!(
        "capture: {} ({n} frames from {} corpus SYN/SYN-ACK frames, {:.1} MB)",
        path.display(),
        base.len(),
        std::fs::metadata(&path)?.len() as f64 / 1e6
    );

    let runs: [(&str, Vec<String>); 4] = [
        (
            "osfp pcap --quiet",
            vec![osfp.display().to_string(), "pcap".into(), "--quiet".into()],
        ),
        // Clock state for every source in the table (the default caps it well below
        // the table's cap, and most of this capture's sources are then refused it).
        (
            "osfp pcap --quiet, all clocks",
            vec![
                osfp.display().to_string(),
                "pcap".into(),
                "--quiet".into(),
                "--max-clock-sources".into(),
                "1000000".into(),
            ],
        ),
        (
            "osfp pcap --json >/dev/null",
            vec![osfp.display().to_string(), "pcap".into(), "--json".into()],
        ),
        (
            "p0f -r -f p0f.fp >/dev/null",
            vec!["p0f".into(), "-f".into(), P0F_DB.into(), "-r".into()],
        ),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); runs.len()];
    for _ in 0..rounds {
        for (i, (name, argv)) in runs.iter().enumerate() {
            let t = Instant::now();
            let st = Command::new(&argv[0])
                .args(&argv[1..])
                .arg(&path)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .with_context(|| format!("running {name}"))?;
            let dt = t.elapsed().as_secs_f64();
            if !st.success() {
                bail!("{name} failed: {st}");
            }
            times[i].push(dt);
        }
    }
    if !keep {
        let _ = std::fs::remove_file(&path);
    }
    println!("{rounds} rounds interleaved, median wall time (whole process):");
    let mut pps = Vec::new();
    for (i, (name, _)) in runs.iter().enumerate() {
        let m = median(times[i].clone());
        pps.push(n as f64 / m);
        println!(
            "  {name:30} {:8.3} s  {:6.2} M packets/s",
            m,
            n as f64 / m / 1e6
        );
    }
    println!(
        "ratio osfp --quiet / p0f: {:.1}x (all clocks {:.1}x); osfp --json / p0f: {:.1}x",
        pps[0] / pps[3],
        pps[1] / pps[3],
        pps[2] / pps[3]
    );
    Ok(())
}

/// The release `osfp` next to this xtask binary's target directory.
fn osfp_release_bin(root: &Path) -> Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("release/osfp");
    if !bin.exists() {
        bail!(
            "{} missing: build it first (cargo build --release -p osfp-userspace)",
            bin.display()
        );
    }
    Ok(bin)
}

/// Untagged Ethernet IPv4 TCP frames with SYN set (SYN and SYN-ACK) from the corpus.
fn handshake_frames(corpus: &Path) -> Result<Vec<Vec<u8>>> {
    let index = std::fs::read_to_string(corpus.join("INDEX.tsv"))
        .with_context(|| format!("{}/INDEX.tsv", corpus.display()))?;
    let mut out = Vec::new();
    for l in index.lines().skip(1) {
        let path = corpus.join(l.split('\t').next().unwrap());
        let _ = capture_file::for_each_frame(&path, |link, f, _| {
            if link != Link::Ethernet || f.len() < 54 || f[12..14] != [0x08, 0x00] {
                return;
            }
            let ihl = (f[14] & 0x0f) as usize * 4;
            if f[14] >> 4 != 4 || ihl < 20 || f[23] != 6 || f.len() < 14 + ihl + 20 {
                return;
            }
            let flags = f[14 + ihl + 13] as u16;
            if flags & tcp_flag::SYN != 0 && flags & tcp_flag::RST == 0 {
                out.push(f.to_vec());
            }
        });
    }
    Ok(out)
}

/// Writes copies of `base` until `packets` frames; returns how many were written.
fn write_replicated(path: &Path, base: &[Vec<u8>], packets: usize) -> Result<usize> {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    // pcap global header: microsecond magic, v2.4, snaplen 65535, Ethernet.
    w.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    w.write_all(&2u16.to_le_bytes())?;
    w.write_all(&4u16.to_le_bytes())?;
    w.write_all(&[0; 8])?;
    w.write_all(&65535u32.to_le_bytes())?;
    w.write_all(&1u32.to_le_bytes())?;
    let mut n = 0usize;
    let mut copy = 0u32;
    let mut f = Vec::new();
    while n < packets {
        // Vary the two low octets of both addresses; copy 0 is the original.
        let x = copy.wrapping_mul(0x9e37) & 0xffff;
        for b in base {
            if n >= packets {
                break;
            }
            f.clear();
            f.extend_from_slice(b);
            for off in [14 + 12 + 2, 14 + 16 + 2] {
                f[off] ^= (x >> 8) as u8;
                f[off + 1] ^= x as u8;
            }
            let ihl = (f[14] & 0x0f) as usize * 4;
            f[24] = 0;
            f[25] = 0;
            let c = ip_checksum(&f[14..14 + ihl]);
            f[24..26].copy_from_slice(&c.to_be_bytes());
            // 1 ms apart: p0f expires idle flows by capture time, not wall time.
            let ts_us = n as u64 * 1000;
            w.write_all(&((ts_us / 1_000_000) as u32).to_le_bytes())?;
            w.write_all(&((ts_us % 1_000_000) as u32).to_le_bytes())?;
            w.write_all(&(f.len() as u32).to_le_bytes())?;
            w.write_all(&(f.len() as u32).to_le_bytes())?;
            w.write_all(&f)?;
            n += 1;
        }
        copy += 1;
    }
    w.flush()?;
    Ok(n)
}

fn ip_checksum(h: &[u8]) -> u16 {
    let mut s: u32 = h
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}
