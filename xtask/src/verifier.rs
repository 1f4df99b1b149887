//! `cargo xtask verifier`: loads each XDP program variant of the object on the running
//! kernel and prints whether the verifier accepts it, how many instructions it
//! processed, and on rejection the tail of its log. Meant for other kernels under QEMU
//! too (`./target/debug/xtask verifier` in the guest; see TOOLCHAIN.md).
//!
//! The instruction count: `bpf_prog_info.verified_insns` exists from Linux 5.16 only, and
//! aya returns the verifier log only when a load fails. So while a variant loads, the
//! first BPF_PROG_LOAD that aya issues without a log (its first try) is given a
//! statistics-only log (level 4, BPF_LOG_STATS, Linux 5.2+) and the "processed N insns"
//! line is read from it. `--log-level 2 --log-mib 1024` gives that first try a whole
//! log instead (every instruction and state, to see where the verifier spends). That needs the `syscall` interposer below: this binary defines
//! `syscall(2)` itself (x86-64 Linux only), so aya's calls come here first. Every other
//! call passes straight through to the kernel.

use std::{
    fmt::Write as _,
    path::PathBuf,
    sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering},
};

use anyhow::{Context, Result};
use aya::{programs::Xdp, EbpfLoader, VerifierLogLevel};
use osfp::capture::{kernel::Kernel, xdp::EBPF_OBJECT};
use osfp_common::{program, BASELINE_PROGRAM_NAME};

/// One variant's outcome on this kernel.
struct Outcome {
    name: &'static str,
    accepted: bool,
    /// From the statistics log ("processed N insns").
    log_insns: Option<u64>,
    /// From bpf_prog_info (Linux 5.16+).
    info_insns: Option<u32>,
    stats: Option<String>,
    /// With --log-level: the whole log of the first load attempt.
    full_log: Option<String>,
    /// Rejection: the error and the whole verifier log.
    error: Option<String>,
    log: Option<String>,
}

pub fn run(
    programs: Vec<String>,
    tail: usize,
    log_dir: Option<PathBuf>,
    object: Option<PathBuf>,
    log_level: u32,
    log_mib: u32,
) -> Result<()> {
    // Another build's object (e.g. an older commit's, for a before/after count).
    let object: &'static [u8] = match &object {
        Some(p) => std::fs::read(p)
            .with_context(|| p.display().to_string())?
            .leak(),
        None => EBPF_OBJECT,
    };
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let names: Vec<&'static str> = if programs.is_empty() {
        program::ALL.to_vec()
    } else {
        programs
            .iter()
            .map(|p| {
                program::ALL
                    .iter()
                    .chain([&BASELINE_PROGRAM_NAME])
                    .find(|v| **v == p.as_str())
                    .copied()
                    .with_context(|| format!("no program {p:?} in the object"))
            })
            .collect::<Result<_>>()?
    };
    let kernel = Kernel::probe();
    println!(
        "kernel {release}: bpf_loop helper for XDP {}; builds tried in this order: {}",
        if kernel.bpf_loop { "yes" } else { "no" },
        kernel
            .candidates(None)
            .map(|c| c.iter().map(|v| v.name).collect::<Vec<_>>().join(", "))
            .unwrap_or_else(|e| e)
    );
    let mut outcomes = Vec::new();
    for name in names {
        let o = load_one(object, name, log_level, log_mib)?;
        if let (Some(dir), Some(log)) = (&log_dir, &o.full_log) {
            let path = dir.join(format!("verifier-{release}-{name}-level{log_level}.log"));
            std::fs::write(&path, log).with_context(|| path.display().to_string())?;
            println!(
                "{name}: whole log ({} MB) in {}",
                log.len() >> 20,
                path.display()
            );
        }
        outcomes.push(o);
    }
    println!("| kernel | variant | loads | verifier insns (log) | verified_insns (info) | stats |");
    println!("|---|---|---|---:|---:|---|");
    for o in &outcomes {
        println!(
            "| {release} | {} | {} | {} | {} | {} |",
            o.name,
            if o.accepted { "yes" } else { "REJECTED" },
            o.log_insns.map_or("n/a".into(), |n| n.to_string()),
            o.info_insns.map_or("n/a".into(), |n| n.to_string()),
            o.stats.as_deref().unwrap_or(""),
        );
    }
    for o in &outcomes {
        let (Some(err), Some(log)) = (&o.error, &o.log) else {
            continue;
        };
        println!("\n{} rejected on {release}: {err}", o.name);
        let lines: Vec<&str> = log.lines().collect();
        println!(
            "verifier log, last {} of {} lines:",
            tail.min(lines.len()),
            lines.len()
        );
        for l in &lines[lines.len().saturating_sub(tail)..] {
            println!("    {l}");
        }
        if let Some(dir) = &log_dir {
            let path = dir.join(format!("verifier-{release}-{}.log", o.name));
            std::fs::write(&path, log).with_context(|| path.display().to_string())?;
            println!("whole log: {}", path.display());
        }
    }
    Ok(())
}

fn load_one(object: &[u8], name: &'static str, log_level: u32, log_mib: u32) -> Result<Outcome> {
    let mut ebpf = EbpfLoader::new()
        .verifier_log_level(VerifierLogLevel::DEBUG | VerifierLogLevel::STATS)
        .load(object)
        .context("parsing the object and creating its maps")?;
    let prog: &mut Xdp = ebpf
        .program_mut(name)
        .with_context(|| format!("program {name} missing"))?
        .try_into()?;
    let mut buf = vec![0u8; (log_mib.max(1) as usize) << 20];
    capture::arm(&mut buf, log_level | capture::BPF_LOG_STATS);
    let res = prog.load();
    let injected = capture::disarm();
    let stats_log = if injected {
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        String::new()
    };
    let mut out = Outcome {
        full_log: (log_level != 0 && injected).then(|| stats_log.clone()),
        name,
        accepted: res.is_ok(),
        log_insns: None,
        info_insns: None,
        stats: None,
        error: None,
        log: None,
    };
    match res {
        Ok(()) => {
            out.info_insns = prog
                .info()
                .ok()
                .and_then(|i| i.verified_instruction_count());
            if let Some(line) = stats_log.lines().find(|l| l.starts_with("processed ")) {
                out.log_insns = line.split_whitespace().nth(1).and_then(|n| n.parse().ok());
                out.stats = Some(line.to_string());
            }
        }
        Err(e) => {
            let mut err = String::new();
            let mut log = None;
            if let aya::programs::ProgramError::LoadError {
                io_error,
                verifier_log,
            } = &e
            {
                let _ = write!(err, "BPF_PROG_LOAD: {io_error}");
                log = Some(verifier_log.to_string());
            } else {
                let _ = write!(err, "{e}");
            }
            if let Some(line) = log
                .as_deref()
                .and_then(|l| l.lines().find(|l| l.starts_with("processed ")))
            {
                out.log_insns = line.split_whitespace().nth(1).and_then(|n| n.parse().ok());
                out.stats = Some(line.to_string());
            }
            out.error = Some(err);
            out.log = log;
        }
    }
    Ok(out)
}

/// The `syscall(2)` interposer (see the module comment).
mod capture {
    use super::*;

    static ARMED: AtomicBool = AtomicBool::new(false);
    static INJECTED: AtomicBool = AtomicBool::new(false);
    static BUF: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
    static LEN: AtomicU32 = AtomicU32::new(0);
    static LEVEL: AtomicU32 = AtomicU32::new(0);

    /// The next BPF_PROG_LOAD without a log of its own gets `buf` as its log, at
    /// `level` (BPF_LOG_STATS for the statistics alone).
    pub fn arm(buf: &mut [u8], level: u32) {
        LEVEL.store(level, Ordering::SeqCst);
        BUF.store(buf.as_mut_ptr(), Ordering::SeqCst);
        LEN.store(buf.len() as u32, Ordering::SeqCst);
        INJECTED.store(false, Ordering::SeqCst);
        ARMED.store(true, Ordering::SeqCst);
    }

    /// Whether a log was injected since `arm`.
    pub fn disarm() -> bool {
        ARMED.store(false, Ordering::SeqCst);
        INJECTED.load(Ordering::SeqCst)
    }

    const SYS_BPF: i64 = 321;
    const BPF_PROG_LOAD: i64 = 5;
    pub const BPF_LOG_STATS: u32 = 4;

    /// syscall(2). Integer variadic arguments sit where these six do (x86-64 SysV).
    ///
    /// # Safety
    /// As syscall(2).
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    #[no_mangle]
    pub unsafe extern "C" fn syscall(
        n: i64,
        a1: i64,
        a2: i64,
        a3: i64,
        a4: i64,
        a5: i64,
        a6: i64,
    ) -> i64 {
        if n == SYS_BPF && a1 == BPF_PROG_LOAD && a2 != 0 && ARMED.load(Ordering::SeqCst) {
            // bpf_attr for BPF_PROG_LOAD: log_level u32 at 24, log_size u32 at 28,
            // log_buf u64 at 32.
            let attr = a2 as *mut u8;
            let level = attr.add(24) as *mut u32;
            if level.read_unaligned() == 0 {
                level.write_unaligned(LEVEL.load(Ordering::SeqCst));
                (attr.add(28) as *mut u32).write_unaligned(LEN.load(Ordering::SeqCst));
                (attr.add(32) as *mut u64).write_unaligned(BUF.load(Ordering::SeqCst) as u64);
                ARMED.store(false, Ordering::SeqCst);
                INJECTED.store(true, Ordering::SeqCst);
                let r = raw(n, a1, a2, a3, a4, a5, a6);
                // Leave the caller's attribute as it was.
                level.write_unaligned(0);
                (attr.add(28) as *mut u32).write_unaligned(0);
                (attr.add(32) as *mut u64).write_unaligned(0);
                return r;
            }
        }
        raw(n, a1, a2, a3, a4, a5, a6)
    }

    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    unsafe fn raw(n: i64, a1: i64, a2: i64, a3: i64, a4: i64, a5: i64, a6: i64) -> i64 {
        let ret: i64;
        std::arch::asm!(
            "syscall",
            inlateout("rax") n => ret,
            in("rdi") a1,
            in("rsi") a2,
            in("rdx") a3,
            in("r10") a4,
            in("r8") a5,
            in("r9") a6,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
        if (-4095..0).contains(&ret) {
            *libc::__errno_location() = -ret as i32;
            return -1;
        }
        ret
    }
}
