//! `osfp run`: load and attach the XDP program (one instance per interface, so every
//! kernel counter is per interface without a key lookup in the fast path), consume the
//! ring buffers, serve metrics and the API, write the event log; SIGHUP reloads the
//! configuration and database, SIGINT/SIGTERM detach cleanly.

use std::{
    io::{self, Write},
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result};
use aya::maps::{MapData, PerCpuArray, RingBuf};
use osfp_common::{map_name, PacketRecord};
use tokio::{
    io::unix::AsyncFd,
    signal::unix::{signal, SignalKind},
    sync::{mpsc, watch},
    time::interval,
};

use super::config::{self, Records, RunConfig, Settings};
use crate::{
    analysis::{
        fingerprint::{self, Database},
        scan::ScanEvent,
    },
    capture::{
        frame::FrameCounters,
        reorder::Reorder,
        xdp::{self as sensor, LoadConfig, MonoToUnix, POLL_INTERVAL},
    },
    cli::args::RunArgs,
    export::{
        api::{self, ApiState, Query},
        eventlog::{self, EventLog, LogTarget, Watch},
        metrics::Metrics,
        output::{Format, Output, StdoutPipe},
        stats,
    },
    pipeline::{ClockEstimates, Pipeline},
};

/// Records handed from a ring buffer to the consumer loop at a time.
const BATCH: usize = 1024;
/// Batches in flight; when the loop falls behind, records wait in the ring buffer,
/// and the kernel counts what no longer fits there.
const BATCHES_IN_FLIGHT: usize = 64;
/// How often the source table is swept (table gauges, idle scans ended).
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// How often every source's clock is analysed (clock gauges, hosts / clock events).
const CLOCK_SWEEP_EVERY: Duration = Duration::from_secs(30);

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
    sensor::preflight()?;
    let ifaces = if cfg.ifaces.is_empty() {
        vec![default_interface()
            .context("no --iface given and no default route to pick an interface from")?]
    } else {
        cfg.ifaces.clone()
    };
    for i in &ifaces {
        sensor::ifindex(i)?;
    }
    // Bind now so that a busy port fails the start, not later.
    let listener = match cfg.listen {
        Some(a) => {
            Some(std::net::TcpListener::bind(a).with_context(|| format!("cannot listen on {a}"))?)
        }
        None => None,
    };
    let log = match &cfg.event_log {
        Some(t) => Some(EventLog::open(t.clone()).with_context(|| format!("event log {t:?}"))?),
        None => None,
    };
    let load = LoadConfig {
        ts_sample_interval_ns: cfg.ts_sample_interval.as_nanos() as u64,
        ts_sample_max_per_flow: cfg.ts_samples_per_flow,
        ring_bytes: cfg.ring_bytes,
        ..LoadConfig::default()
    };
    let mut taps = Vec::new();
    for i in &ifaces {
        let mut ebpf = sensor::load(&load)?;
        let mode = sensor::attach(&mut ebpf, i, cfg.xdp_mode)?;
        eprintln!("osfp: attached to {i} ({mode} mode)");
        taps.push(ebpf);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let daemon = Daemon::new(args.config.clone(), flags, cfg, db, ifaces.clone(), log);
    rt.block_on(daemon.run(taps, listener))?;
    Ok(0)
}

/// Records drained from one ring buffer.
struct Batch {
    records: Vec<PacketRecord>,
    bad_size: usize,
}

/// Moves records from one ring buffer to the loop; a last drain when `stop` turns true.
/// Records keep the kernel's monotonic capture time: the loop orders interfaces on it
/// and converts to Unix time once, with one clock (a wall-clock step cannot hold or
/// misorder records).
async fn pump(
    ring: RingBuf<MapData>,
    tx: mpsc::Sender<Batch>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    // SAFETY: the ring buffer owns its map fd, which stays open and unchanged until the
    // AsyncFd (and the RingBuf inside it) is dropped.
    let mut ring = unsafe { AsyncFd::register(ring) }.map_err(io::Error::from)?;
    let mut tick = interval(POLL_INTERVAL);
    let raw = MonoToUnix::identity();
    loop {
        let last = tokio::select! {
            g = ring.readable_mut() => { g?.clear_ready(); false }
            _ = tick.tick() => false,
            _ = stop.changed() => true,
        };
        loop {
            let mut records = Vec::with_capacity(BATCH);
            let (n, bad_size) = sensor::drain(ring.get_mut(), &raw, BATCH, |r| records.push(r));
            if n + bad_size == 0 {
                break;
            }
            if tx.send(Batch { records, bad_size }).await.is_err() {
                return Ok(());
            }
            if n + bad_size < BATCH {
                break;
            }
        }
        if last {
            return Ok(());
        }
    }
}

fn unix_now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

struct Daemon {
    config_path: Option<PathBuf>,
    flags: Settings,
    cfg: RunConfig,
    db: Arc<Database>,
    ifaces: Vec<String>,
    pipeline: Pipeline,
    metrics: Metrics,
    records: Option<Output<StdoutPipe>>,
    log: Option<EventLog>,
    watch: Watch,
    scan_events: Vec<ScanEvent>,
    bad_size: u64,
    started: Instant,
    /// With several interfaces: records held until they can go in capture order.
    reorder: Option<Reorder>,
    /// Kernel monotonic time to Unix time, refreshed to follow clock steps.
    clock: MonoToUnix,
    /// Clock estimates from the last clock sweep.
    clocks: ClockEstimates,
    /// Record lines dropped by stdout outputs replaced in reloads.
    records_dropped_before: u64,
}

fn records_output(r: Records) -> Option<Output<StdoutPipe>> {
    let format = match r {
        Records::Off => return None,
        Records::Text => Format::Text,
        Records::Json => Format::Json,
    };
    Some(Output::new(StdoutPipe::new(), format))
}

impl Daemon {
    fn new(
        config_path: Option<PathBuf>,
        flags: Settings,
        cfg: RunConfig,
        db: Arc<Database>,
        ifaces: Vec<String>,
        log: Option<EventLog>,
    ) -> Daemon {
        let pipeline = Pipeline::configured(
            db.clone(),
            cfg.max_sources,
            cfg.max_clock_sources,
            cfg.scan.clone(),
        );
        let reorder = (ifaces.len() > 1).then(Reorder::default);
        Daemon {
            metrics: Metrics::new(&ifaces, &db),
            records: records_output(cfg.records),
            config_path,
            flags,
            cfg,
            db,
            ifaces,
            pipeline,
            log,
            watch: Watch::default(),
            scan_events: Vec::new(),
            bad_size: 0,
            started: Instant::now(),
            reorder,
            clock: MonoToUnix::now(),
            clocks: ClockEstimates::default(),
            records_dropped_before: 0,
        }
    }

    async fn run(
        mut self,
        mut taps: Vec<aya::Ebpf>,
        listener: Option<std::net::TcpListener>,
    ) -> Result<()> {
        let (tx, mut rx) = mpsc::channel(BATCHES_IN_FLIGHT);
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut counters = Vec::new();
        let mut pumps = Vec::new();
        for t in taps.iter_mut() {
            let ring = RingBuf::try_from(t.take_map(map_name::EVENTS).context("EVENTS map")?)?;
            let c: PerCpuArray<MapData, u64> =
                PerCpuArray::try_from(t.take_map(map_name::COUNTERS).context("COUNTERS map")?)?;
            counters.push(c);
            pumps.push(tokio::spawn(pump(ring, tx.clone(), stop_rx.clone())));
        }
        drop(tx); // the pumps hold the only senders: the channel ends with them
        let (api_tx, mut api_rx) = mpsc::channel(64);
        if let Some(l) = listener {
            let addr = l.local_addr()?;
            let st = ApiState {
                registry: Arc::new(self.metrics.registry.clone()),
                queries: api_tx,
            };
            tokio::spawn(async move {
                if let Err(e) = api::serve(l, st).await {
                    eprintln!("osfp: HTTP server stopped: {e:#}");
                }
            });
            eprintln!(
                "osfp: metrics on http://{addr}/metrics, API on http://{addr}/api/v1/sources"
            );
        }
        let mut sigint = signal(SignalKind::interrupt())?;
        let mut sigterm = signal(SignalKind::terminate())?;
        let mut sighup = signal(SignalKind::hangup())?;
        let mut metrics_tick = interval(Duration::from_secs(1));
        let mut release_tick = interval(POLL_INTERVAL);
        let mut sweep_tick = interval(SWEEP_EVERY);
        let mut stats_tick = interval(self.cfg.stats_every.unwrap_or(Duration::from_secs(3600)));
        let mut clock_tick = interval(CLOCK_SWEEP_EVERY);
        let mut failure = None;
        loop {
            tokio::select! {
                b = rx.recv() => match b {
                    Some(b) => self.batch(b),
                    // Every pump ended (each said why): no data would come any more.
                    None => {
                        failure = Some(anyhow::anyhow!("every ring-buffer reader stopped"));
                        break;
                    }
                },
                _ = release_tick.tick(), if self.reorder.is_some() => self.release(sensor::mono_now_ns()),
                Some(q) = api_rx.recv() => self.answer(q),
                _ = metrics_tick.tick() => {
                    if let Err(e) = self.update_metrics(&counters) {
                        failure = Some(e.context("reading the kernel counters"));
                        break;
                    }
                    self.clock = MonoToUnix::now();
                }
                _ = sweep_tick.tick() => self.sweep(),
                _ = clock_tick.tick() => self.clock_sweep(),
                _ = stats_tick.tick(), if self.cfg.stats_every.is_some() => {
                    eprintln!("osfp: {}", self.stats(&counters));
                }
                _ = sighup.recv() => {
                    self.reload();
                    stats_tick = interval(self.cfg.stats_every.unwrap_or(Duration::from_secs(3600)));
                }
                _ = sigint.recv() => break,
                _ = sigterm.recv() => break,
            }
        }
        // Detach first, so that the last drain ends even under a flood: the rings and
        // counters were taken out of the programs and stay readable.
        let names = self.ifaces.join(", ");
        taps.clear();
        eprintln!("osfp: detached from {names}");
        let _ = stop_tx.send(true);
        while let Some(b) = rx.recv().await {
            self.batch(b);
        }
        for p in pumps {
            let _ = p.await;
        }
        self.release(u64::MAX);
        self.pipeline.end_of_input(&mut self.scan_events);
        self.emit_scans(unix_now_ns());
        self.flush();
        eprintln!("osfp: {}", self.stats(&counters));
        failure.map_or(Ok(()), Err)
    }

    /// A ring buffer's batch: straight through the pipeline with one interface, else
    /// into capture order first.
    fn batch(&mut self, b: Batch) {
        self.bad_size += b.bad_size as u64;
        match self.reorder.as_mut() {
            None => b.records.iter().for_each(|r| self.record(r)),
            Some(q) => {
                b.records.into_iter().for_each(|r| q.push(r));
                self.release(sensor::mono_now_ns());
                return;
            }
        }
        self.flush();
    }

    /// Held records whose hold is over, in capture order.
    fn release(&mut self, now_ns: u64) {
        let Some(mut q) = self.reorder.take() else {
            return;
        };
        q.release(now_ns, |r| self.record(r));
        self.reorder = Some(q);
        self.flush();
    }

    /// One record (kernel monotonic time) through the pipeline: the same stages as
    /// `osfp pcap`.
    fn record(&mut self, rec: &PacketRecord) {
        let mut rec = *rec;
        rec.ts_ns = self.clock.convert(rec.ts_ns);
        let ev = self.pipeline.process(&rec);
        let fp = self.pipeline.observe(&ev, &mut self.scan_events);
        let seen = match fp {
            Some((s, v)) => {
                self.metrics.verdict(&v);
                if let Some(o) = self.records.as_mut() {
                    let _ = o.event_fingerprinted(&ev, &self.db, &s, &v);
                }
                self.log.is_some().then(|| eventlog::Seen::new(&s, &v))
            }
            None => {
                if let Some(o) = self.records.as_mut() {
                    let _ = o.event(&ev);
                }
                None
            }
        };
        if let (Some(seen), Some(log), Some(t)) =
            (seen, self.log.as_mut(), self.pipeline.sources.as_ref())
        {
            if let Some((kind, line)) = eventlog::fingerprinted(t, &ev, seen) {
                log.write(ev.ts_ns, kind, &line);
            }
        }
        self.emit_scans(ev.ts_ns);
    }

    /// Scan start / end events: in the record stream and the event log.
    fn emit_scans(&mut self, ts_ns: u64) {
        for e in self.scan_events.drain(..) {
            if let Some(o) = self.records.as_mut() {
                let _ = o.text_line(&e.to_json_line());
            }
            if let Some(log) = self.log.as_mut() {
                log.scan(ts_ns, &e);
            }
        }
    }

    fn flush(&mut self) {
        if let Some(o) = self.records.as_mut() {
            let _ = o.flush();
        }
        if let Some(l) = self.log.as_mut() {
            l.flush();
        }
    }

    fn answer(&mut self, q: Query) {
        let (p, db) = (&self.pipeline, &*self.db);
        match q {
            // Nobody waits for it any more (timed out): not worth a walk of the table.
            Query::Sources(_, tx) if tx.is_closed() => {}
            Query::Sources(f, tx) => {
                let _ = tx.send(api::sources(p, db, &f, self.watch.multiple_hosts()));
            }
            Query::Source(a, tx) => {
                let _ = tx.send(api::source(p, db, a));
            }
            Query::Ready(tx) => {
                let _ = tx.send(serde_json::json!({
                    "ready": true,
                    "interfaces": self.ifaces,
                    "database": db.name,
                    "signatures": db.sigs[0].len() + db.sigs[1].len(),
                    "sources": p.sources.as_ref().map_or(0, |t| t.len()),
                    "uptime_seconds": self.started.elapsed().as_secs(),
                }));
            }
        }
    }

    fn read_counters(counters: &[PerCpuArray<MapData, u64>]) -> Result<Vec<FrameCounters>> {
        counters
            .iter()
            .map(|c| {
                let mut f = FrameCounters::default();
                for slot in 0..osfp_common::counter::COUNT {
                    f.0[slot as usize] = c.get(&slot, 0)?.iter().sum();
                }
                Ok(f)
            })
            .collect()
    }

    fn update_metrics(&mut self, counters: &[PerCpuArray<MapData, u64>]) -> Result<()> {
        for (i, c) in Self::read_counters(counters)?.iter().enumerate() {
            self.metrics.update_iface(i, c);
        }
        self.metrics.update_pipeline(&self.pipeline);
        self.metrics.ringbuf_bad(self.bad_size);
        let current = self
            .records
            .as_ref()
            .map_or(0, |o| o.writer().dropped_lines);
        self.metrics
            .records_dropped(self.records_dropped_before + current);
        if let Some(l) = &self.log {
            self.metrics.event_log(l);
        }
        Ok(())
    }

    /// Periodic work over the tables: idle scans end (time passes without packets),
    /// table gauges.
    fn sweep(&mut self) {
        let now = unix_now_ns();
        self.pipeline.expire(now, &mut self.scan_events);
        self.emit_scans(now);
        self.metrics
            .update_tables(&self.pipeline, &self.db, &self.clocks);
        self.flush();
    }

    /// The clock analysis of every source with clock state (up to ~0.5 s at the default
    /// clock cap, so less often): gauges, the API's several-hosts filter, hosts and clock
    /// lines of the event log.
    fn clock_sweep(&mut self) {
        self.clocks = self.watch.sweep(
            self.pipeline.sources.as_ref(),
            unix_now_ns(),
            self.log.as_mut(),
        );
    }

    fn stats(&self, counters: &[PerCpuArray<MapData, u64>]) -> String {
        let mut total = FrameCounters::default();
        match Self::read_counters(counters) {
            Ok(v) => v.iter().for_each(|c| total.add(c)),
            Err(e) => return format!("kernel counters unreadable: {e:#}"),
        }
        stats::summary(&total, &self.pipeline, self.bad_size)
    }

    /// SIGHUP: reopen the event log (log rotation, whatever else happens), check the
    /// configuration file and the database it names; apply both only if both are good,
    /// else keep the running ones and say why.
    fn reload(&mut self) {
        if let Some(l) = self.log.as_mut() {
            if let Err(e) = l.reopen() {
                eprintln!("osfp: reopening the event log {:?}: {e}", l.target());
            }
        }
        let fail = |d: &mut Daemon, why: String| {
            eprintln!(
                "osfp: reload refused, keeping the running configuration and database: {why}"
            );
            d.metrics.reloaded(false);
        };
        let cfg = match config::load(self.config_path.as_deref(), &self.flags) {
            Ok(c) => c,
            Err(e) => return fail(self, format!("\n{e}")),
        };
        let db = match load_database(cfg.db.as_ref()) {
            Ok(db) => db,
            Err(e) => return fail(self, e),
        };
        // A new log target must open before anything changes (the same one reopened).
        let log = match (&cfg.event_log, self.log.as_mut()) {
            (Some(t), Some(l)) if t == l.target() => None,
            (Some(t), _) => match EventLog::open(t.clone()) {
                Ok(l) => Some(Some(l)),
                Err(e) => return fail(self, format!("event log {t:?}: {e}")),
            },
            (None, _) => Some(None),
        };
        for k in self.cfg.restart_keys(&cfg) {
            eprintln!("osfp: reload: {k} changed; it takes effect at the next restart");
        }
        if let Some(l) = log {
            if let Some(old) = self.log.as_mut() {
                old.flush();
            }
            self.log = l;
        }
        let db = self.pipeline.reconfigure(
            db,
            cfg.max_sources,
            cfg.max_clock_sources,
            cfg.scan.clone(),
            &mut self.scan_events,
        );
        self.emit_scans(unix_now_ns());
        self.metrics.add_labels(&db);
        if cfg.records != self.cfg.records {
            self.flush();
            if let Some(o) = &self.records {
                self.records_dropped_before += o.writer().dropped_lines;
            }
            self.records = records_output(cfg.records);
        }
        eprintln!(
            "osfp: reloaded: database {} ({} signatures), {} sources max, event log {}",
            db.name,
            db.sigs[0].len() + db.sigs[1].len(),
            cfg.max_sources,
            match &cfg.event_log {
                None => "off".to_string(),
                Some(LogTarget::Stdout) => "stdout".to_string(),
                Some(LogTarget::File(p)) => p.display().to_string(),
            }
        );
        // Keys needing a restart keep their running values.
        self.cfg = RunConfig {
            ifaces: self.cfg.ifaces.clone(),
            xdp_mode: self.cfg.xdp_mode,
            ring_bytes: self.cfg.ring_bytes,
            listen: self.cfg.listen,
            ts_sample_interval: self.cfg.ts_sample_interval,
            ts_samples_per_flow: self.cfg.ts_samples_per_flow,
            ..cfg
        };
        self.db = db;
        self.metrics.reloaded(true);
        let _ = io::stderr().flush();
    }
}

/// `--db FILE` or the built-in database. On failure, one line: the first problem as
/// `file:line:column: ...`, and how many more there are (`osfp db check` lists them).
fn load_database(path: Option<&PathBuf>) -> std::result::Result<Database, String> {
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
