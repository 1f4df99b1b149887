//! `cargo xtask bench-live`: the live pipeline end to end. `osfp run` (release build,
//! records off) is attached to a veth in a namespace lab and pinned to one CPU; this
//! process, pinned to the other, runs the sensor's own loaded XDP program with
//! BPF_PROG_TEST_RUN (found by id, so its records go into the sensor's real ring buffer)
//! at a paced rate, over SYN frames from many sources. Per offered rate: records the
//! sensor consumed per second and what the ring buffer dropped, from its /metrics. The
//! sustained rate is the highest offered rate without a drop; above it, the loss curve.
//!
//! The second case is real: `hping3 -S --flood --rand-source` from one namespace into the
//! sensor's link for a few seconds, every SYN from a new address.

use std::{
    os::fd::{AsFd, AsRawFd},
    path::PathBuf,
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use osfp_tests::{craft::TcpFrame, http_get_netns, metric, Lab};

/// The sensor's metrics port inside the lab's namespace.
const PORT: u16 = 9184;

pub fn run(
    rates: Vec<f64>,
    seconds: u64,
    sources: u32,
    burst: u32,
    flood: u64,
    osfp: Option<PathBuf>,
    ring_mib: u32,
) -> Result<()> {
    let bin = match osfp {
        Some(b) => b,
        None => osfp_release_bin()?,
    };
    let lab = Lab::new()?;
    let sensor = start_sensor(&lab, &bin, ring_mib)?;
    let prog_fd = find_program()?;
    println!(
        "osfp run: {} (release), CPU 1, records off, ring {ring_mib} MiB; injector: CPU 0, {sources} sources, {burst} SYNs per source per run",
        bin.display()
    );
    pin_to_cpu(0)?;
    let frames: Vec<Vec<u8>> = (0..sources)
        .map(|i| {
            let src = std::net::Ipv4Addr::from(0x0a00_0000 | (i + 1)).into();
            TcpFrame::syn(src, lab.b4, 40000 + (i % 20000) as u16, 443).frame()
        })
        .collect();
    println!(
        "| offered (M records/s) | injected (M/s) | consumed (M/s) | shed by design | dropped in the ring | loss | sensor CPU per record (ns) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let mut sustained = 0.0f64;
    for rate in rates {
        let before = counters(&lab)?;
        let cpu_before = cpu_ns(sensor.id())?;
        let t = Instant::now();
        let injected = inject(
            prog_fd.as_fd().as_raw_fd(),
            &frames,
            burst,
            rate * 1e6,
            seconds,
        )?;
        let elapsed = t.elapsed().as_secs_f64();
        // Let the consumer finish what is in the ring.
        let sel_now = counters(&lab)?;
        let after = settle(
            &lab,
            before.records + (sel_now.selected_syn - before.selected_syn),
        )?;
        let consumed = after.records - before.records;
        let cpu = cpu_ns(sensor.id())? - cpu_before;
        let dropped = after.dropped - before.dropped;
        let shed = after.shed - before.shed;
        let loss = (dropped + shed) as f64 / injected.max(1) as f64;
        println!(
            "| {rate:.2} | {:.2} | {:.2} | {shed} | {dropped} | {:.2} % | {:.0} |",
            injected as f64 / elapsed / 1e6,
            consumed as f64 / elapsed / 1e6,
            loss * 100.0,
            cpu as f64 / consumed.max(1) as f64
        );
        if dropped + shed == 0 {
            sustained = sustained.max(injected as f64 / elapsed / 1e6);
        }
    }
    println!("sustained at zero loss: {sustained:.2} M records/s");
    if flood > 0 {
        hping3_case(&lab, flood)?;
    }
    stop(sensor);
    Ok(())
}

/// CPU time (user + system) the process has used, in ns: the sensor's cost per record
/// is this over the records it consumed, a steadier figure than the highest rate at
/// zero loss on a shared machine (it includes the 1 s metrics refresh and the sweeps).
fn cpu_ns(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat
        .rsplit_once(')')
        .context("/proc/PID/stat without a command name")?
        .1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime: fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = f[11].parse::<u64>()? + f[12].parse::<u64>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok(ticks * 1_000_000_000 / hz)
}

fn osfp_release_bin() -> Result<PathBuf> {
    let bin = osfp_tests::workspace_root().join("target/release/osfp");
    if !bin.exists() {
        bail!(
            "{} missing: cargo build --release -p osfp-userspace",
            bin.display()
        );
    }
    Ok(bin)
}

fn start_sensor(lab: &Lab, bin: &PathBuf, ring_mib: u32) -> Result<Child> {
    let mut child = Command::new("ip")
        .args(["netns", "exec", &lab.ns_b, "taskset", "-c", "1"])
        .arg(bin)
        .args([
            "run",
            "--iface",
            &lab.veth_b,
            "--xdp-mode",
            "skb",
            "--records",
            "off",
            "--ring-mib",
            &ring_mib.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting osfp run")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while counters(lab).is_err() {
        if Instant::now() > deadline || child.try_wait()?.is_some() {
            let _ = child.kill();
            bail!("osfp run did not come up");
        }
        thread::sleep(Duration::from_millis(200));
    }
    Ok(child)
}

fn stop(mut child: Child) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

/// The sensor's XDP program: the newest loaded program named like one of its builds.
fn find_program() -> Result<aya::programs::ProgramFd> {
    let mut best = None;
    for info in aya::programs::loaded_programs() {
        let info = info?;
        let name = info.name_as_str().unwrap_or("");
        if osfp_common::program::ALL.contains(&name)
            && best.as_ref().is_none_or(|(id, _)| info.id() > *id)
        {
            best = Some((info.id(), info));
        }
    }
    let (_, info) = best.context("no osfp XDP program loaded")?;
    Ok(info.fd()?)
}

fn pin_to_cpu(cpu: usize) -> Result<()> {
    // SAFETY: a zeroed cpu_set_t with one bit set, for this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            bail!("sched_setaffinity: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Runs `prog_fd` over the frames, `burst` times each per syscall, paced to `rate`
/// records per second for `seconds`; returns how many runs (= SYN records) it made.
fn inject(prog_fd: i32, frames: &[Vec<u8>], burst: u32, rate: f64, seconds: u64) -> Result<u64> {
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let mut done = 0u64;
    let mut i = 0;
    while Instant::now() < end {
        // Ahead of the schedule: wait (a busy wait below 50 µs keeps the pace smooth).
        let due = start + Duration::from_secs_f64(done as f64 / rate);
        let now = Instant::now();
        if due > now {
            let d = due - now;
            if d > Duration::from_micros(50) {
                thread::sleep(d);
            }
            continue;
        }
        test_run(prog_fd, &frames[i % frames.len()], burst)?;
        done += burst as u64;
        i += 1;
    }
    Ok(done)
}

/// BPF_PROG_TEST_RUN of `frame`, `repeat` times in one syscall.
fn test_run(prog_fd: i32, frame: &[u8], repeat: u32) -> Result<()> {
    // The `test` member of union bpf_attr (linux/bpf.h), zero-padded to the union's size.
    #[repr(C)]
    struct TestAttr {
        prog_fd: u32,
        retval: u32,
        data_size_in: u32,
        data_size_out: u32,
        data_in: u64,
        data_out: u64,
        repeat: u32,
        duration: u32,
        ctx_size_in: u32,
        ctx_size_out: u32,
        ctx_in: u64,
        ctx_out: u64,
        flags: u32,
        cpu: u32,
        batch_size: u32,
        _pad: [u32; 11],
    }
    const BPF_PROG_TEST_RUN: libc::c_long = 10;
    let mut attr = TestAttr {
        prog_fd: prog_fd as u32,
        retval: 0,
        data_size_in: frame.len() as u32,
        data_size_out: 0,
        data_in: frame.as_ptr() as u64,
        data_out: 0,
        repeat,
        duration: 0,
        ctx_size_in: 0,
        ctx_size_out: 0,
        ctx_in: 0,
        ctx_out: 0,
        flags: 0,
        cpu: 0,
        batch_size: 0,
        _pad: [0; 11],
    };
    // SAFETY: a valid bpf_attr for BPF_PROG_TEST_RUN; the frame outlives the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_TEST_RUN,
            &mut attr as *mut TestAttr,
            std::mem::size_of::<TestAttr>() as u32,
        )
    };
    if r != 0 {
        bail!("BPF_PROG_TEST_RUN: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

#[derive(Clone, Copy, Debug)]
struct Counters {
    records: u64,
    dropped: u64,
    selected_syn: u64,
    shed: u64,
}

fn counters(lab: &Lab) -> Result<Counters> {
    let text = http_get_netns(&lab.ns_b, ([127, 0, 0, 1], PORT).into(), "/metrics")?;
    let get = |s: &str| metric(&text, s).map(|v| v as u64).context(s.to_string());
    Ok(Counters {
        records: get("osfp_records_total")?,
        dropped: get(&format!(
            "osfp_ringbuf_dropped_total{{iface=\"{}\"}}",
            lab.veth_b
        ))?,
        selected_syn: get(&format!(
            "osfp_packets_selected_total{{iface=\"{}\",reason=\"syn\"}}",
            lab.veth_b
        ))?,
        shed: get(&format!(
            "osfp_records_shed_total{{iface=\"{}\",reason=\"syn\"}}",
            lab.veth_b
        ))?,
    })
}

/// Waits until the sensor's record count reaches `want` or stops moving (metrics refresh
/// every second).
fn settle(lab: &Lab, want: u64) -> Result<Counters> {
    let mut last = counters(lab)?;
    for _ in 0..30 {
        thread::sleep(Duration::from_millis(1100));
        let now = counters(lab)?;
        if now.records >= want || now.records == last.records {
            return Ok(now);
        }
        last = now;
    }
    Ok(last)
}

/// hping3 -S --flood --rand-source into the sensor's link for `seconds`.
fn hping3_case(lab: &Lab, seconds: u64) -> Result<()> {
    let before = counters(lab)?;
    let mut h = Command::new("ip")
        .args(["netns", "exec", &lab.ns_a, "taskset", "-c", "0", "hping3"])
        .args(["-S", "-p", "80", "--flood", "--rand-source", "-q"])
        .arg(lab.b4.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("hping3 (Debian package hping3)")?;
    let t = Instant::now();
    thread::sleep(Duration::from_secs(seconds));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(h.id() as i32, libc::SIGINT) };
    let _ = h.wait();
    let elapsed = t.elapsed().as_secs_f64();
    thread::sleep(Duration::from_secs(2));
    let sel_now = counters(lab)?;
    let after = settle(
        lab,
        before.records + (sel_now.selected_syn - before.selected_syn),
    )?;
    let selected = after.selected_syn - before.selected_syn;
    let dropped = after.dropped - before.dropped;
    let shed = after.shed - before.shed;
    println!(
        "hping3 -S --flood --rand-source, {elapsed:.1} s: {selected} SYNs selected ({:.2} M/s), {} consumed, {shed} shed, {dropped} dropped in the ring ({:.2} % loss)",
        selected as f64 / elapsed / 1e6,
        after.records - before.records,
        (dropped + shed) as f64 / selected.max(1) as f64 * 100.0
    );
    Ok(())
}
