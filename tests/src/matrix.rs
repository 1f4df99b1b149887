//! Debian's packaged kernels booted under QEMU with virtme-ng (software emulation: KVM
//! hangs on this kind of machine), running `osfp-guest` over the host's file system.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

/// A kernel image installed under /boot.
#[derive(Clone, Debug)]
pub struct GuestKernel {
    pub vmlinuz: PathBuf,
    /// `uname -r` of the guest (the image's suffix).
    pub release: String,
}

/// The newest installed image of a series (`5.10.`, `6.1.`, `6.12.`), Debian's generic
/// flavour (`-amd64`, not `-cloud-amd64` or `-rt-amd64`), with its modules (veth is one).
pub fn find(series: &str) -> Option<GuestKernel> {
    let mut found: Vec<(Vec<u64>, GuestKernel)> = std::fs::read_dir("/boot")
        .ok()?
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            let release = name.strip_prefix("vmlinuz-")?.to_string();
            let ok = release.starts_with(series)
                && release.ends_with("-amd64")
                && !release.ends_with("-cloud-amd64")
                && !release.ends_with("-rt-amd64")
                && Path::new("/lib/modules").join(&release).is_dir();
            let version: Vec<u64> = release
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|p| p.parse().ok())
                .collect();
            ok.then(|| {
                (
                    version,
                    GuestKernel {
                        vmlinuz: PathBuf::from("/boot").join(&name),
                        release,
                    },
                )
            })
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found.pop().map(|(_, k)| k)
}

/// virtme-ng's command: on PATH, else where python3 installs scripts.
fn vng() -> PathBuf {
    if Command::new("vng")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return PathBuf::from("vng");
    }
    let scripts = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    PathBuf::from(scripts).join("vng")
}

/// What a boot printed.
pub struct Boot {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    pub seconds: f64,
}

/// Boots `k` and runs `command` in it (as root, in the workspace root; the host's file
/// system is read-only there, /tmp and /run are the guest's own); `timeout` bounds the
/// whole boot.
pub fn boot(k: &GuestKernel, command: &str, timeout: Duration) -> Result<Boot> {
    let root = crate::workspace_root();
    let t = Instant::now();
    let out = Command::new("timeout")
        .arg(timeout.as_secs().to_string())
        .arg(vng())
        .arg("--disable-kvm")
        .arg("--run")
        .arg(&k.vmlinuz)
        .args(["--memory", "2G", "--cpus", "2"])
        .arg("--cwd")
        .arg(&root)
        .arg("--exec")
        .arg(command)
        .output()
        .context("running vng (virtme-ng): scripts/setup.sh installs it")?;
    if out.status.code() == Some(124) {
        bail!(
            "{}: no answer within {} s\n{}",
            k.release,
            timeout.as_secs(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(Boot {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        seconds: t.elapsed().as_secs_f64(),
    })
}
