//! What the running kernel offers the XDP program, and which build of the program it
//! gets. The object carries one build per kind of kernel (the same source, two walkers
//! of the encapsulation headers); `osfp run` probes the kernel, tries the most capable
//! build it allows, falls back to the next if the verifier refuses it, and says in one
//! line what it loaded, or, when the verifier refuses every build, why: the kernel
//! release, the program, the first failing instruction and the verifier's reason, with
//! the whole log written to a file.

use std::{fmt, path::PathBuf};

use aya::{programs::ProgramError, Ebpf};
use osfp_common::program;

use super::xdp::{self, LoadConfig};

/// One build of the XDP program in the object.
#[derive(Debug, PartialEq, Eq)]
pub struct Variant {
    /// Its name in the object (and in `bpftool prog`, and the metric's `program`).
    pub name: &'static str,
    /// How it walks encapsulations, for the start-up line.
    pub walker: &'static str,
    /// The kernel must have the `bpf_loop` helper (Linux 5.17).
    pub needs_bpf_loop: bool,
}

/// The builds, most capable first.
pub const VARIANTS: [Variant; 2] = [
    Variant {
        name: program::LOOP,
        walker: "bpf_loop header walker",
        needs_bpf_loop: true,
    },
    Variant {
        name: program::BOUNDED,
        walker: "bounded-loop header walker",
        needs_bpf_loop: false,
    },
];

/// What the kernel offers, probed once at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kernel {
    /// `uname -r`.
    pub release: String,
    pub ringbuf: bool,
    pub bpf_loop: bool,
}

impl Kernel {
    pub fn probe() -> Kernel {
        let xdp = aya::programs::ProgramType::Xdp;
        Kernel {
            release: release(),
            ringbuf: aya::sys::is_map_supported(aya::maps::MapType::RingBuf).unwrap_or(false),
            bpf_loop: aya::sys::is_helper_supported(xdp, aya::sys::BpfHelper::BPF_FUNC_loop)
                .unwrap_or(false),
        }
    }

    /// Why this kernel can run no build at all, if so.
    pub fn missing(&self) -> Option<String> {
        (!self.ringbuf).then(|| {
            format!(
                "Linux {} has no BPF ring buffers (BPF_MAP_TYPE_RINGBUF, Linux 5.8 or newer)",
                self.release
            )
        })
    }

    /// The builds to try here, in order: the one asked for, or (`None`) every build
    /// whose needs the kernel meets, most capable first.
    pub fn candidates(&self, asked: Option<&str>) -> Result<Vec<&'static Variant>, String> {
        if let Some(why) = self.missing() {
            return Err(why);
        }
        match asked {
            Some(name) => {
                let v = VARIANTS
                    .iter()
                    .find(|v| v.name == name)
                    .ok_or_else(|| format!("no XDP program {name:?} in this build"))?;
                Ok(vec![v])
            }
            None => Ok(VARIANTS
                .iter()
                .filter(|v| !v.needs_bpf_loop || self.bpf_loop)
                .collect()),
        }
    }
}

fn release() -> String {
    // SAFETY: uname fills a zeroed utsname; its fields are NUL-terminated.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return "unknown".into();
        }
        std::ffi::CStr::from_ptr(u.release.as_ptr())
            .to_string_lossy()
            .into_owned()
    }
}

/// The verifier's refusal of one build.
#[derive(Debug)]
pub struct Rejection {
    pub release: String,
    pub variant: &'static Variant,
    /// The instruction the verifier stopped at (`412: (85) call bpf_xdp_load_bytes#189`).
    pub insn: Option<String>,
    pub reason: String,
    /// Where the whole log was written (None if it could not be).
    pub log: Option<PathBuf>,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Linux {} rejected XDP program {} ({}): ",
            self.release, self.variant.name, self.variant.walker
        )?;
        if let Some(i) = &self.insn {
            write!(f, "at instruction {i}: ")?;
        }
        write!(f, "{}", self.reason)?;
        match &self.log {
            Some(p) => write!(f, " (verifier log: {})", p.display()),
            None => write!(f, " (the verifier log could not be written)"),
        }
    }
}

/// The instruction and reason of a verifier log's refusal: the last instruction line
/// (`N: (op) ...`, without the register state after `;`) and the lines after it, up to
/// the statistics the verifier ends with (`verification time`, `stack depth`,
/// `processed N insns`), joined with "; ". A refusal before any instruction (a malformed
/// program, missing BTF) has no instruction: its last lines are the reason.
pub fn summarize(log: &str) -> (Option<String>, String) {
    let mut lines: Vec<&str> = log
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    while lines.last().is_some_and(|l| {
        l.starts_with("verification time ")
            || l.starts_with("stack depth ")
            || (l.starts_with("processed ") && l.contains(" insns"))
    }) {
        lines.pop();
    }
    let end = lines.len();
    let is_insn = |l: &str| {
        let digits = l.bytes().take_while(u8::is_ascii_digit).count();
        digits > 0 && l[digits..].starts_with(": (")
    };
    let (insn, reason) = match lines.iter().rposition(|l| is_insn(l)) {
        Some(i) => {
            let insn = lines[i].split(" ;").next().unwrap_or(lines[i]).trim_end();
            (Some(insn.to_string()), &lines[i + 1..end])
        }
        None => (None, &lines[end.saturating_sub(2)..end]),
    };
    let reason = if reason.is_empty() {
        "no reason in the verifier log".to_string()
    } else {
        reason.join("; ")
    };
    (insn, reason)
}

/// Where verifier logs go: systemd's LogsDirectory when run as the unit, else the
/// temporary directory.
fn log_dir() -> PathBuf {
    std::env::var_os("LOGS_DIRECTORY")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

/// Why nothing could be loaded.
#[derive(Debug)]
pub enum LoadFailure {
    /// The verifier refused every build tried, in order.
    Rejected(Vec<Rejection>),
    /// Anything else (the object, a map, permissions), as one line.
    Other(String),
}

impl fmt::Display for LoadFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadFailure::Rejected(r) => {
                let lines: Vec<String> = r.iter().map(|r| r.to_string()).collect();
                f.write_str(&lines.join("\nosfp: "))
            }
            LoadFailure::Other(s) => f.write_str(s),
        }
    }
}

/// What `osfp run` loaded where: the kernel, the build, each interface with its attach
/// mode (`native` or `skb`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub release: String,
    pub program: &'static str,
    pub ifaces: Vec<(String, &'static str)>,
}

impl Attachment {
    pub fn iface_names(&self) -> Vec<String> {
        self.ifaces.iter().map(|(i, _)| i.clone()).collect()
    }
}

/// A loaded build and the builds the verifier refused before it.
pub struct Loaded {
    pub ebpf: Ebpf,
    pub variant: &'static Variant,
    pub rejected: Vec<Rejection>,
}

/// Loads the first of `candidates` the verifier accepts (does not attach).
pub fn load_first(
    cfg: &LoadConfig,
    kernel: &Kernel,
    candidates: &[&'static Variant],
) -> Result<Loaded, LoadFailure> {
    let mut rejected = Vec::new();
    for v in candidates {
        match xdp::load(cfg, v.name) {
            Ok(ebpf) => {
                return Ok(Loaded {
                    ebpf,
                    variant: v,
                    rejected,
                })
            }
            Err(e) => match verifier_log(&e) {
                Some(log) => rejected.push(rejection(kernel, v, &log)),
                None => return Err(LoadFailure::Other(format!("{e:#}"))),
            },
        }
    }
    Err(LoadFailure::Rejected(rejected))
}

/// The verifier's log inside a load error, if the kernel refused the program.
fn verifier_log(e: &anyhow::Error) -> Option<String> {
    e.chain()
        .find_map(|c| match c.downcast_ref::<ProgramError>() {
            Some(ProgramError::LoadError { verifier_log, .. }) => Some(verifier_log.to_string()),
            _ => None,
        })
}

fn rejection(kernel: &Kernel, v: &'static Variant, log: &str) -> Rejection {
    let (insn, reason) = summarize(log);
    let path = log_dir().join(format!("osfp-verifier-{}-{}.log", v.name, kernel.release));
    Rejection {
        release: kernel.release.clone(),
        variant: v,
        insn,
        reason,
        log: std::fs::write(&path, log).ok().map(|_| path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debian 12's 6.1.0-57 refusing the build before the kernel-compatibility work
    /// (bpf_xdp_load_bytes into the ring-buffer record), the log's tail as the kernel
    /// wrote it; and Debian 11's 5.10.0-32 refusing the bpf_loop build before any
    /// instruction (no BPF_PSEUDO_FUNC before 5.13), the whole log. tests/fixtures/verifier
    /// says how they were captured.
    const LOG_6_1: &str = include_str!(
        "../../../tests/fixtures/verifier/6.1.0-57-amd64_osfp-4a1f140_rejected.tail.log"
    );
    const LOG_5_10: &str = include_str!(
        "../../../tests/fixtures/verifier/5.10.0-32-amd64_osfp_bpf-loop-variant_rejected.log"
    );

    #[test]
    fn the_failing_instruction_and_reason_are_found() {
        let (insn, reason) = summarize(LOG_6_1);
        assert_eq!(
            insn.as_deref(),
            Some("3798: (85) call bpf_xdp_load_bytes#189")
        );
        assert_eq!(
            reason,
            "invalid access to memory, mem_size=128 off=88 size=0; R3 min value is outside of the allowed memory range"
        );
        let (insn, reason) = summarize(LOG_5_10);
        assert_eq!(insn, None);
        assert_eq!(
            reason,
            "number of funcs in func_info doesn't match number of subprogs"
        );
        // The register state after an instruction is left out.
        let (insn, _) = summarize("7: (bf) r1 = r6 ; R1_w=ctx()\nR1 invalid mem access\n");
        assert_eq!(insn.as_deref(), Some("7: (bf) r1 = r6"));
        // No instruction lines at all (a log cut short, or a refusal before any
        // instruction): the last lines are the reason.
        let (insn, reason) = summarize("BTF is required\n");
        assert_eq!((insn, reason.as_str()), (None, "BTF is required"));
        assert_eq!(summarize("").1, "no reason in the verifier log");
    }

    #[test]
    fn one_line_names_kernel_program_instruction_reason_and_log() {
        let k = Kernel {
            release: "6.1.0-57-amd64".into(),
            ringbuf: true,
            bpf_loop: true,
        };
        let r = rejection(&k, &VARIANTS[0], LOG_6_1);
        let line = r.to_string();
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.starts_with(&format!(
                "Linux 6.1.0-57-amd64 rejected XDP program {} (bpf_loop header walker): at instruction 3798: (85) call bpf_xdp_load_bytes#189: invalid access to memory",
                program::LOOP
            )),
            "{line}"
        );
        let path = r.log.expect("log written");
        assert!(line.ends_with(&format!("(verifier log: {})", path.display())));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), LOG_6_1);
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn candidates_follow_what_the_kernel_offers() {
        let mut k = Kernel {
            release: "5.10.0-32-amd64".into(),
            ringbuf: true,
            bpf_loop: false,
        };
        let names = |k: &Kernel, a| -> Vec<&str> {
            k.candidates(a).unwrap().iter().map(|v| v.name).collect()
        };
        assert_eq!(names(&k, None), [program::BOUNDED]);
        // Asked for by name, it is tried even where the probe says it cannot work: the
        // verifier then says why.
        assert_eq!(names(&k, Some(program::LOOP)), [program::LOOP]);
        k.bpf_loop = true;
        assert_eq!(names(&k, None), [program::LOOP, program::BOUNDED]);
        assert!(k
            .candidates(Some("osfp_fast"))
            .unwrap_err()
            .contains("no XDP program"));
        k.ringbuf = false;
        let e = k.candidates(None).unwrap_err();
        assert!(
            e.contains("no BPF ring buffers") && e.contains("5.10.0-32-amd64"),
            "{e}"
        );
    }
}
