//! `osfp run`: attach, consume the ring buffer, detach cleanly on SIGINT/SIGTERM.

use std::{
    io::{self, BufWriter},
    sync::Arc,
};

use anyhow::{Context, Result};
use aya::maps::{MapData, PerCpuArray, RingBuf};
use osfp_common::map_name;
use tokio::{
    io::unix::AsyncFd,
    signal::unix::{signal, SignalKind},
    time::interval,
};

use crate::{
    cli::RunArgs,
    fingerprint::{self, Database},
    metrics::Metrics,
    output::Output,
    pipeline::Pipeline,
    sensor::{self, LoadConfig, MonoToUnix, POLL_INTERVAL},
    stats,
};

pub fn run(args: &RunArgs) -> Result<i32> {
    // The database first: a bad one must stop us before anything touches the kernel.
    let db = match load_database(args) {
        Ok(db) => Arc::new(db),
        Err(line) => {
            eprintln!("osfp: {line}");
            return Ok(1);
        }
    };
    sensor::preflight()?;
    let ifaces = if args.ifaces.is_empty() {
        vec![default_interface()
            .context("no --iface given and no default route to pick an interface from")?]
    } else {
        args.ifaces.clone()
    };
    for i in &ifaces {
        sensor::ifindex(i)?;
    }
    let cfg = LoadConfig {
        ts_sample_interval_ns: args.select.ts_sample_interval.as_nanos() as u64,
        ts_sample_max_per_flow: args.select.ts_samples_per_flow,
        ring_bytes: args.ring_mib.max(1).next_power_of_two() << 20,
        ..LoadConfig::default()
    };
    let mut ebpf = sensor::load(&cfg)?;
    for i in &ifaces {
        let mode = sensor::attach(&mut ebpf, i, args.xdp_mode)?;
        eprintln!("osfp: attached to {i} ({mode} mode)");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(consume(&mut ebpf, args, db))?;
    drop(ebpf); // detaches every link
    eprintln!("osfp: detached from {}", ifaces.join(", "));
    Ok(0)
}

async fn consume(ebpf: &mut aya::Ebpf, args: &RunArgs, db: Arc<Database>) -> Result<()> {
    let ring = RingBuf::try_from(ebpf.take_map(map_name::EVENTS).context("EVENTS map")?)?;
    let counters: PerCpuArray<&MapData, u64> =
        PerCpuArray::try_from(ebpf.map(map_name::COUNTERS).context("COUNTERS map")?)?;
    // SAFETY: the ring buffer owns its map fd, which stays open and unchanged until the
    // AsyncFd (and the RingBuf inside it) is dropped.
    let mut ring = unsafe { AsyncFd::register(ring) }.map_err(io::Error::from)?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut tick = interval(POLL_INTERVAL);
    let mut clock_refresh = interval(std::time::Duration::from_secs(60));
    let stats_every = (!args.stats_every.is_zero()).then_some(args.stats_every);
    let mut stats_tick = interval(stats_every.unwrap_or(std::time::Duration::from_secs(3600)));
    let mut clock = MonoToUnix::now();
    let mut pipeline = Pipeline::with_database(db.clone(), fingerprint::table::DEFAULT_CAP);
    let mut metrics = Metrics::new();
    let registry = std::sync::Arc::new(metrics.registry.clone());
    let mut metrics_tick = interval(std::time::Duration::from_secs(1));
    let mut table_tick = interval(std::time::Duration::from_secs(15));
    if args.metrics_addr != "off" {
        let addr: std::net::SocketAddr = args
            .metrics_addr
            .parse()
            .with_context(|| format!("bad --metrics-addr {:?}", args.metrics_addr))?;
        // Bind now so that a busy port fails the start, not later.
        let listener = std::net::TcpListener::bind(addr)
            .with_context(|| format!("cannot listen for metrics on {addr}"))?;
        drop(listener);
        tokio::spawn(async move {
            if let Err(e) = crate::metrics::serve(addr, registry).await {
                eprintln!("osfp: metrics server stopped: {e:#}");
            }
        });
        eprintln!("osfp: metrics on http://{addr}/metrics");
    }
    let mut bad_size = 0u64;
    let mut out = Output::new(
        BufWriter::new(io::stdout().lock()),
        super::format(&args.output),
    );
    let mut scan_events = Vec::new();
    let mut drain = |ring: &mut RingBuf<MapData>,
                     pipeline: &mut Pipeline,
                     metrics: &Metrics,
                     clock: &MonoToUnix| {
        let (_, bad) = sensor::drain(ring, clock, |rec| {
            let ev = pipeline.process(&rec);
            // The same stages as `osfp pcap`: fingerprint, clocks, scans.
            let _ = match pipeline.observe(&ev, &mut scan_events) {
                Some((s, v)) => {
                    metrics.verdict(&v);
                    out.event_fingerprinted(&ev, &db, &s, &v)
                }
                None => out.event(&ev),
            };
            for e in scan_events.drain(..) {
                let _ = out.text_line(&e.to_json_line());
            }
        });
        let _ = out.flush();
        bad as u64
    };
    loop {
        tokio::select! {
            guard = ring.readable_mut() => {
                let mut guard = guard?;
                bad_size += drain(guard.get_inner_mut(), &mut pipeline, &metrics, &clock);
                guard.clear_ready();
            }
            _ = tick.tick() => bad_size += drain(ring.get_mut(), &mut pipeline, &metrics, &clock),
            _ = clock_refresh.tick() => clock = MonoToUnix::now(),
            _ = metrics_tick.tick() => {
                let c = sensor::read_counters(&counters)?;
                metrics.update(&c, &pipeline);
            }
            _ = table_tick.tick() => metrics.update_tables(&pipeline, &db),
            _ = stats_tick.tick(), if stats_every.is_some() => {
                let c = sensor::read_counters(&counters)?;
                eprintln!("osfp: {}", stats::summary(&c, &pipeline, bad_size));
            }
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
        }
    }
    bad_size += drain(ring.get_mut(), &mut pipeline, &metrics, &clock);
    // Shutdown ends the scans in progress, as the end of a file does for `osfp pcap`.
    pipeline.end_of_input(&mut scan_events);
    for e in scan_events.drain(..) {
        let _ = out.text_line(&e.to_json_line());
    }
    let _ = out.flush();
    let c = sensor::read_counters(&counters)?;
    eprintln!("osfp: {}", stats::summary(&c, &pipeline, bad_size));
    Ok(())
}

/// `--db FILE` or the built-in database. On failure, one line: the first problem as
/// `file:line:column: ...`, and how many more there are (`osfp db check` lists them).
fn load_database(args: &RunArgs) -> std::result::Result<Database, String> {
    let res = match &args.db {
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
