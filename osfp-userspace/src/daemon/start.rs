//! `osfp run`'s start: configuration and database checked first (a bad one stops us
//! before we touch the kernel), then the kernel's capabilities, the interfaces, the
//! listener and the event log, then the XDP program loaded and attached per interface,
//! and the consumer loop.

use std::{path::PathBuf, sync::Arc};

use anyhow::{Context, Result};

use super::{
    config::{self, Records, RunArgs},
    consumer::Daemon,
};
use crate::{
    analysis::{
        fingerprint::{self, Database},
        scan::ScanTracker,
    },
    capture::{
        kernel::{load_first, Attachment, Kernel, LoadFailure},
        xdp::{self, LoadConfig},
    },
    export::{eventlog::EventLog, source_index::SourceIndex},
    sources::SourceTable,
};

pub fn run(args: &RunArgs) -> Result<i32> {
    // A reload (SIGHUP) before the loop handles it must not kill the start (its default
    // action); systemd would count that as a clean exit and not restart us.
    // SAFETY: setting a signal's disposition to ignore.
    unsafe { libc::signal(libc::SIGHUP, libc::SIG_IGN) };
    let mut flags = args.settings.clone();
    if args.json {
        flags.records.get_or_insert(Records::Json);
    }
    // Configuration and database first: bad ones stop us before we touch the kernel.
    let cfg = match config::load(args.config.as_deref(), &flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("osfp: bad configuration:\n{e}");
            return Ok(2);
        }
    };
    let db = match load_database(cfg.db.as_ref()) {
        Ok(db) => Arc::new(db),
        Err(line) => {
            eprintln!("osfp: {line}");
            return Ok(1);
        }
    };
    xdp::preflight()?;
    let kernel = Kernel::probe();
    let candidates = match kernel.candidates(cfg.attach.xdp_program.as_deref()) {
        Ok(c) => c,
        Err(why) => {
            eprintln!("osfp: {why}");
            return Ok(1);
        }
    };
    let ifaces = if cfg.attach.ifaces.is_empty() {
        vec![default_interface()
            .context("no --iface given and no default route to pick an interface from")?]
    } else {
        cfg.attach.ifaces.clone()
    };
    for i in &ifaces {
        xdp::ifindex(i)?;
    }
    // Bind now so that a busy port fails the start, not later.
    let listener = match cfg.attach.listen {
        Some(a) => {
            Some(std::net::TcpListener::bind(a).with_context(|| format!("cannot listen on {a}"))?)
        }
        None => None,
    };
    let log = match &cfg.event_log {
        Some(t) => Some(EventLog::open(t.clone()).with_context(|| format!("event log {t:?}"))?),
        None => None,
    };
    eprintln!("osfp: {}", memory_bound(&cfg, ifaces.len()));
    let load = LoadConfig {
        ts_sample_interval_ns: cfg.attach.ts_sample_interval.as_nanos() as u64,
        ts_sample_max_per_flow: cfg.attach.ts_samples_per_flow,
        ring_bytes: cfg.attach.ring_bytes(),
        ..LoadConfig::default()
    };
    // The first interface's load chooses the build (the verifier's refusals fall back to
    // the next candidate); every interface gets its own instance of that build.
    let loaded = match load_first(&load, &kernel, &candidates) {
        Ok(l) => l,
        Err(f) => {
            eprintln!("osfp: {f}");
            if matches!(f, LoadFailure::Rejected(_)) {
                eprintln!("osfp: nothing was attached");
            }
            return Ok(1);
        }
    };
    for r in &loaded.rejected {
        eprintln!("osfp: {r}; trying the next build");
    }
    let v = loaded.variant;
    eprintln!(
        "osfp: Linux {}: XDP program {} ({}){}",
        kernel.release,
        v.name,
        v.walker,
        verified_insns(&loaded.ebpf, v.name)
            .map_or(String::new(), |n| format!(", {n} instructions verified"))
    );
    let mut attachment = Attachment {
        release: kernel.release.clone(),
        program: v.name,
        ifaces: Vec::new(),
    };
    let mut taps = Vec::new();
    let mut first = Some(loaded.ebpf);
    for i in &ifaces {
        let mut ebpf = match first.take() {
            Some(e) => e,
            None => xdp::load(&load, v.name)?,
        };
        let mode = xdp::attach(&mut ebpf, v.name, i, cfg.attach.xdp_mode)?;
        eprintln!("osfp: attached to {i} ({mode} mode)");
        attachment.ifaces.push((i.clone(), mode));
        taps.push(ebpf);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let daemon = Daemon::new(args.config.clone(), flags, cfg, db, attachment, log);
    rt.block_on(daemon.run(taps, listener))?;
    Ok(0)
}

/// What the caps allow at most, for the operator to compare with the machine: the source
/// table, its clock state, the scan tracker (each bounded by the configuration check)
/// and the ring buffers the kernel allocates, one per interface (the 15 unused shards'
/// rings, a page each, left out).
fn memory_bound(cfg: &config::RunConfig, ifaces: usize) -> String {
    let rings = ifaces * cfg.attach.ring_bytes() as usize;
    format!(
        "memory bound at these caps: source table {} MiB (+ clock state {} MiB, finished-scan lists {} MiB, API index {} MiB), scan tracker {} MiB, ring buffers {} MiB",
        SourceTable::bytes_at(cfg.max_sources).div_ceil(1 << 20),
        SourceTable::clock_bytes_at(cfg.max_sources, cfg.max_clock_sources).div_ceil(1 << 20),
        SourceTable::scan_bytes_at(cfg.max_sources).div_ceil(1 << 20),
        SourceIndex::bytes_at(cfg.max_sources).div_ceil(1 << 20),
        ScanTracker::memory_bound(&cfg.scan).div_ceil(1 << 20),
        rings.div_ceil(1 << 20),
    )
}

/// Instructions the verifier went through for `name` (the kernel reports it from 5.16).
fn verified_insns(ebpf: &aya::Ebpf, name: &str) -> Option<u32> {
    let prog: &aya::programs::Xdp = ebpf.program(name)?.try_into().ok()?;
    prog.info().ok()?.verified_instruction_count()
}

/// `--db FILE` or the built-in database. On failure, one line: the first problem as
/// `file:line:column: ...`, and how many more there are (`osfp db check` lists them).
pub(super) fn load_database(path: Option<&PathBuf>) -> std::result::Result<Database, String> {
    let res = match path {
        Some(p) => Database::load(p),
        None => fingerprint::default_database(),
    };
    res.map_err(|e| {
        let first = e.0.first().map_or_else(
            || "bad database".to_string(),
            |f| format!("{}", f).replace('\n', " "),
        );
        match e.0.len() {
            0 | 1 => format!("bad database: {first}"),
            n => format!("bad database: {first} (and {} more problems)", n - 1),
        }
    })
}

/// The interface of the IPv4 default route (/proc/net/route), else of the IPv6 one.
pub fn default_interface() -> Option<String> {
    let v4 = std::fs::read_to_string("/proc/net/route").ok()?;
    for line in v4.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() > 2 && f[1] == "00000000" {
            return Some(f[0].to_string());
        }
    }
    let v6 = std::fs::read_to_string("/proc/net/ipv6_route").ok()?;
    for line in v6.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 10
            && f[0] == "00000000000000000000000000000000"
            && f[1] == "00"
            && f[9] != "lo"
        {
            return Some(f[9].to_string());
        }
    }
    None
}
