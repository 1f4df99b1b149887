//! The live side: loads the XDP program, attaches it, reads its counters, and turns ring
//! buffer entries into records with Unix capture times.

use std::{borrow::Borrow, ffi::CString, time::Duration};

use anyhow::{anyhow, bail, Context, Result};
use aya::{
    maps::{MapData, PerCpuArray},
    programs::{ProgramError, Xdp, XdpMode},
    Ebpf, EbpfLoader,
};
use osfp_common::{counter, map_name, tunable, HashKey};

use crate::capture::frame::FrameCounters;

/// The XDP object built by build.rs.
pub static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/osfp"));

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum AttachMode {
    /// Native (driver) mode if the driver has it, else generic (skb) mode.
    Auto,
    Native,
    Skb,
}

#[derive(Clone, Debug)]
pub struct LoadConfig {
    pub ts_sample_interval_ns: u64,
    pub ts_sample_max_per_flow: u32,
    pub wakeup_batch: u32,
    /// Each ring buffer's size in bytes (a power of two, a multiple of the page size).
    pub ring_bytes: u32,
    /// Ring buffers (consumer shards) in use, a power of two up to `MAX_SHARDS`.
    pub shards: u32,
    /// The key of the flow table's hash and of the choice of ring.
    pub hash_key: HashKey,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            ts_sample_interval_ns: tunable::DEFAULT_TS_SAMPLE_INTERVAL_NS,
            ts_sample_max_per_flow: tunable::DEFAULT_TS_SAMPLE_MAX_PER_FLOW,
            wakeup_batch: tunable::DEFAULT_WAKEUP_BATCH,
            ring_bytes: 8 << 20,
            shards: 1,
            hash_key: crate::hashing::process_key(),
        }
    }
}

/// Checks what a load needs from this process before trying, so the failure is one
/// clear line (what it needs from the kernel: [`super::kernel::Kernel`]).
pub fn preflight() -> Result<()> {
    if EBPF_OBJECT.is_empty() {
        bail!("this osfp was built with AYA_BUILD_SKIP=1 and carries no XDP program; rebuild without it");
    }
    let caps = effective_caps().unwrap_or(0);
    const CAP_NET_ADMIN: u32 = 12;
    const CAP_SYS_ADMIN: u32 = 21;
    const CAP_PERFMON: u32 = 38;
    const CAP_BPF: u32 = 39;
    let has = |c: u32| caps & (1u64 << c) != 0;
    let bpf_ok = has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON));
    if !has(CAP_NET_ADMIN) || !bpf_ok {
        bail!(
            "osfp run needs root, or the capabilities CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN \
             (e.g. `sudo osfp run ...`)"
        );
    }
    Ok(())
}

/// Effective capability set of this process, from /proc/self/status.
fn effective_caps() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line["CapEff:".len()..].trim(), 16).ok()
}

/// Loads build `name` of the program with its tunables; does not attach.
pub fn load(cfg: &LoadConfig, name: &str) -> Result<Ebpf> {
    load_object(EBPF_OBJECT, cfg, name)
}

/// [`load`] from another build's object (benchmarks compare builds).
pub fn load_object(object: &[u8], cfg: &LoadConfig, name: &str) -> Result<Ebpf> {
    let shards = cfg.shards.clamp(1, tunable::MAX_SHARDS).next_power_of_two();
    let ring_bytes = cfg.ring_bytes as u64;
    // Globals added since older builds (benchmark baselines) are required in ours only.
    let ours = std::ptr::eq(object, EBPF_OBJECT);
    let mut loader = EbpfLoader::new();
    // The rings of the shards in use get their size; the others one page.
    for i in 0..tunable::MAX_SHARDS {
        let size = if i < shards { cfg.ring_bytes } else { 4096 };
        loader.map_max_entries(map_name::events(i as usize), size);
    }
    let mut ebpf = loader
        .override_global(tunable::HASH_KEY, &cfg.hash_key, ours)
        .override_global(tunable::SHARDS, &shards, ours)
        .override_global(tunable::RING_BYTES, &ring_bytes, ours)
        .override_global(
            tunable::TS_SAMPLE_INTERVAL_NS,
            &cfg.ts_sample_interval_ns,
            true,
        )
        .override_global(
            tunable::TS_SAMPLE_MAX_PER_FLOW,
            &cfg.ts_sample_max_per_flow,
            true,
        )
        .override_global(tunable::WAKEUP_BATCH, &cfg.wakeup_batch.max(1), true)
        .load(object)
        .context("loading the XDP program")?;
    let prog: &mut Xdp = program(&mut ebpf, name)?;
    prog.load()
        .with_context(|| format!("the kernel rejected the XDP program {name}"))?;
    Ok(ebpf)
}

/// Build `name` of the program in a loaded object.
pub fn program<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut Xdp> {
    Ok(ebpf
        .program_mut(name)
        .ok_or_else(|| anyhow!("program {name} missing from the object"))?
        .try_into()?)
}

pub fn ifindex(name: &str) -> Result<u32> {
    let c = CString::new(name).map_err(|_| anyhow!("bad interface name {name:?}"))?;
    // SAFETY: a valid NUL-terminated string.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => bail!("unknown interface {name:?}"),
        i => Ok(i),
    }
}

/// Attaches build `name` to one interface; returns the mode that took.
pub fn attach(ebpf: &mut Ebpf, name: &str, iface: &str, mode: AttachMode) -> Result<&'static str> {
    let idx = ifindex(iface)?;
    let prog = program(ebpf, name)?;
    let tries: &[(XdpMode, &str)] = match mode {
        AttachMode::Auto => &[(XdpMode::Driver, "native"), (XdpMode::Skb, "skb")],
        AttachMode::Native => &[(XdpMode::Driver, "native")],
        AttachMode::Skb => &[(XdpMode::Skb, "skb")],
    };
    let mut last = None;
    for (m, name) in tries {
        match prog.attach_to_if_index(idx, *m) {
            Ok(_) => return Ok(name),
            Err(e) => {
                if is_busy(&e) {
                    bail!(
                        "interface {iface} already has an XDP program attached by someone else; \
                         osfp will not replace it (inspect with `bpftool net show dev {iface}`)"
                    );
                }
                last = Some((name, e));
            }
        }
    }
    let (name, e) = last.unwrap();
    Err(anyhow!(e)).with_context(|| format!("cannot attach to {iface} in {name} mode"))
}

fn is_busy(e: &ProgramError) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if matches!(io.raw_os_error(), Some(libc::EBUSY) | Some(libc::EEXIST)) {
                return true;
            }
        }
        let text = s.to_string();
        if text.contains("Device or resource busy") || text.contains("File exists") {
            return true;
        }
        src = s.source();
    }
    false
}

/// Sums the per-CPU counters.
pub fn read_counters<T: Borrow<MapData>>(map: &PerCpuArray<T, u64>) -> Result<FrameCounters> {
    let mut c = FrameCounters::default();
    for slot in 0..counter::COUNT {
        let v = map.get(&slot, 0)?;
        c.0[slot as usize] = v.iter().sum();
    }
    Ok(c)
}

/// Maps CLOCK_MONOTONIC (the kernel's bpf_ktime_get_ns) to Unix time; refreshed now
/// and then so that clock steps are followed.
#[derive(Clone, Copy, Debug)]
pub struct MonoToUnix {
    offset_ns: i128,
}

/// CLOCK_MONOTONIC now, the kernel's bpf_ktime_get_ns clock.
pub fn mono_now_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC).max(0) as u64
}

impl MonoToUnix {
    pub fn now() -> Self {
        let mono = clock_ns(libc::CLOCK_MONOTONIC);
        let real = clock_ns(libc::CLOCK_REALTIME);
        MonoToUnix {
            offset_ns: real - mono,
        }
    }
    pub fn convert(&self, mono_ns: u64) -> u64 {
        (mono_ns as i128 + self.offset_ns).max(0) as u64
    }
}

fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

/// How often the consumer polls even without a wake-up (records submitted with
/// BPF_RB_NO_WAKEUP wait at most this long).
pub const POLL_INTERVAL: Duration = Duration::from_millis(10);
