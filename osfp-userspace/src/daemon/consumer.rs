//! `osfp run`'s consumer loop: one thread owns the pipeline and the source table, reads
//! the ring buffers a batch at a time (`rings.rs`), answers API queries between
//! batches, refreshes metrics, sweeps the tables on timers and reloads on SIGHUP
//! (`reload.rs`).

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result};
use aya::maps::{MapData, PerCpuArray, RingBuf};
use osfp_common::{map_name, PacketRecord};
use tokio::{
    signal::unix::{signal, SignalKind},
    sync::{mpsc, oneshot},
    time::interval,
};

use super::{
    config::{Records, RunConfig, Settings},
    rings::{Rings, BATCH},
};
use crate::{
    analysis::{fingerprint::Database, scan::ScanEvent},
    capture::{
        frame::FrameCounters,
        kernel::Attachment,
        reorder::Reorder,
        xdp::{self, MonoToUnix, POLL_INTERVAL},
    },
    decode::Event,
    export::{
        api::{self, ApiState, Query},
        eventlog::{self, ClockSweep, EventLog, Watch},
        metrics::Metrics,
        output::{Format, Output, StdoutPipe},
        source_index::Walked,
        stats,
    },
    pipeline::{ClockEstimates, Pipeline},
    sources::Segment,
};

/// How often the source table is swept (table gauges, idle scans ended).
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// How often every source's clock is analysed (clock gauges, hosts / clock events).
const CLOCK_SWEEP_EVERY: Duration = Duration::from_secs(30);
/// Table slots a step of the clock sweep covers: at most ~4 ms of the loop (up to
/// ~8 µs a source with clock state), well under what half of the smallest ring buffer
/// holds at line rate.
const CLOCK_SWEEP_STEP: usize = 512;

pub(super) fn unix_now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

pub(super) struct Daemon {
    pub(super) config_path: Option<PathBuf>,
    pub(super) flags: Settings,
    pub(super) cfg: RunConfig,
    pub(super) db: Arc<Database>,
    /// What runs where (kernel, build, interfaces and their attach modes).
    pub(super) attachment: Attachment,
    pub(super) pipeline: Pipeline,
    pub(super) metrics: Metrics,
    pub(super) records: Option<Output<StdoutPipe>>,
    pub(super) log: Option<EventLog>,
    pub(super) watch: Watch,
    pub(super) scan_events: Vec<ScanEvent>,
    pub(super) bad_size: u64,
    pub(super) started: Instant,
    /// With several interfaces: records held until they can go in capture order.
    pub(super) reorder: Option<Reorder>,
    /// Kernel monotonic time to Unix time, refreshed to follow clock steps.
    pub(super) clock: MonoToUnix,
    /// Clock estimates from the last clock sweep.
    pub(super) clocks: ClockEstimates,
    /// Record lines dropped by stdout outputs replaced in reloads.
    pub(super) records_dropped_before: u64,
    /// Counts what may change the API's view of the table (records, sweeps, reloads):
    /// an index of the current generation is still exact.
    pub(super) generation: u64,
    /// The walk of the table for the API's index in progress, if any.
    walk: Option<Walk>,
    /// The event each record is decoded into (reused: no per-record copy of it).
    ev: Event,
    /// The clock sweep under way, if any.
    clock_sweep: Option<ClockSweep>,
}

/// A copy of the table being made in steps ([`Walked::step`]).
struct Walk {
    next_slot: usize,
    copy: Walked,
    /// Every request that asked while the walk was under way gets its result.
    waiters: Vec<oneshot::Sender<Option<Walked>>>,
}

pub(super) fn records_output(r: Records) -> Option<Output<StdoutPipe>> {
    let format = match r {
        Records::Off => return None,
        Records::Text => Format::Text,
        Records::Json => Format::Json,
    };
    Some(Output::new(StdoutPipe::new(), format))
}

impl Daemon {
    pub(super) fn new(
        config_path: Option<PathBuf>,
        flags: Settings,
        cfg: RunConfig,
        db: Arc<Database>,
        attachment: Attachment,
        log: Option<EventLog>,
    ) -> Daemon {
        let mut pipeline = Pipeline::configured(
            db.clone(),
            cfg.max_sources,
            cfg.max_clock_sources,
            cfg.scan.clone(),
        );
        pipeline.fingerprinter.config = cfg.verdicts;
        let reorder = (attachment.ifaces.len() > 1).then(Reorder::default);
        Daemon {
            metrics: Metrics::new(&attachment, &db),
            records: records_output(cfg.records),
            config_path,
            flags,
            cfg,
            db,
            attachment,
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
            generation: 0,
            walk: None,
            ev: Event::decode(&PacketRecord::zeroed()),
            clock_sweep: None,
        }
    }

    pub(super) async fn run(
        mut self,
        mut taps: Vec<aya::Ebpf>,
        listener: Option<std::net::TcpListener>,
    ) -> Result<()> {
        let mut counters = Vec::new();
        let mut rings = Vec::new();
        for t in taps.iter_mut() {
            rings.push(RingBuf::try_from(
                t.take_map(map_name::EVENTS).context("EVENTS map")?,
            )?);
            let c: PerCpuArray<MapData, u64> =
                PerCpuArray::try_from(t.take_map(map_name::COUNTERS).context("COUNTERS map")?)?;
            counters.push(c);
        }
        let mut rings = Rings::new(rings).context("watching the ring buffers")?;
        // A turn on every tick too: records submitted without a wake-up wait at most this
        // long, and so do held records (several interfaces) for their release.
        let mut poll_tick = interval(POLL_INTERVAL);
        let (api_tx, mut api_rx) = mpsc::channel(api::QUEUE);
        if let Some(l) = listener {
            let addr = l.local_addr()?;
            let st = ApiState::new(Arc::new(self.metrics.registry.clone()), api_tx);
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
        let mut sweep_tick = interval(SWEEP_EVERY);
        let mut stats_tick = interval(self.cfg.stats_every.unwrap_or(Duration::from_secs(3600)));
        let mut clock_tick = interval(CLOCK_SWEEP_EVERY);
        let mut failure = None;
        let mut more = false;
        loop {
            tokio::select! {
                r = rings.readable(), if !more => {
                    if let Err(e) = r {
                        failure = Some(anyhow::Error::from(e).context("waiting on the ring buffers"));
                        break;
                    }
                    more = self.turn(&mut rings);
                }
                // A full batch came from some ring: the next turn without waiting.
                _ = std::future::ready(()), if more => more = self.turn(&mut rings),
                _ = poll_tick.tick() => more = self.turn(&mut rings),
                Some(q) = api_rx.recv() => self.answer(q),
                // Always ready while a walk is under way: a step, then the loop turns.
                _ = std::future::ready(()), if self.walk.is_some() => self.walk_step(),
                _ = std::future::ready(()), if self.clock_sweep.is_some() => self.clock_sweep_step(),
                _ = metrics_tick.tick() => {
                    if let Err(e) = self.update_metrics(&counters) {
                        failure = Some(e.context("reading the kernel counters"));
                        break;
                    }
                    self.clock = MonoToUnix::now();
                    // A flood ends when its packets stop, not with the next packet.
                    let now = unix_now_ns();
                    self.pipeline.expire_floods(now);
                    self.emit_scans(now);
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
        let names = self.attachment.iface_names().join(", ");
        taps.clear();
        eprintln!("osfp: detached from {names}");
        let t = rings.last_turn(|r| self.take(r));
        self.bad_size += t.bad_size as u64;
        self.release(u64::MAX);
        self.pipeline.end_of_input(&mut self.scan_events);
        self.emit_scans(unix_now_ns());
        self.flush();
        eprintln!("osfp: {}", self.stats(&counters));
        failure.map_or(Ok(()), Err)
    }

    /// One turn over the rings (at most a batch from each); returns whether some ring
    /// gave a full batch. With one interface each record goes straight through the
    /// pipeline; with several, into capture order first.
    fn turn(&mut self, rings: &mut Rings) -> bool {
        let t = rings.turn(BATCH, |r| self.take(r));
        self.bad_size += t.bad_size as u64;
        if self.reorder.is_some() {
            self.release(xdp::mono_now_ns());
        } else if t.records > 0 {
            self.flush();
        }
        t.more
    }

    fn take(&mut self, r: &PacketRecord) {
        match self.reorder.as_mut() {
            None => self.record(r),
            Some(q) => q.push(*r),
        }
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
    /// `osfp pcap`, decoded into the one event the loop reuses.
    fn record(&mut self, rec: &PacketRecord) {
        self.generation += 1;
        let ev = &mut self.ev;
        self.pipeline.process_into(rec, ev);
        ev.ts_ns = self.clock.convert(rec.ts_ns);
        ev.record.ts_ns = ev.ts_ns;
        let ev = &self.ev;
        let fp = self.pipeline.observe(ev, &mut self.scan_events);
        let seen = match fp {
            Some((s, v)) => {
                if let Some(o) = self.records.as_mut() {
                    let _ = o.event_fingerprinted(ev, &self.db, &s, &v);
                }
                self.log.is_some().then(|| eventlog::Seen::new(&s, &v))
            }
            None => {
                if let Some(o) = self.records.as_mut() {
                    let _ = o.event(ev);
                }
                None
            }
        };
        if let (Some(seen), Some(log)) = (seen, self.log.as_mut()) {
            if self.pipeline.floods.active()
                && self.pipeline.sources.segment(&ev.src) == Some(Segment::Probation)
            {
                log.suppressed += 1;
            } else if let Some((kind, line)) =
                eventlog::fingerprinted(&self.pipeline.sources, &self.db, ev, seen)
            {
                log.write(ev.ts_ns, kind, &line);
            }
        }
        if !self.scan_events.is_empty() || self.pipeline.has_flood_events() {
            self.emit_scans(self.ev.ts_ns);
        }
    }

    /// Scan and SYN flood start / end events: in the record stream and the event log.
    pub(super) fn emit_scans(&mut self, ts_ns: u64) {
        for e in self.scan_events.drain(..) {
            if let Some(o) = self.records.as_mut() {
                let _ = o.text_line(&e.to_json_line());
            }
            if let Some(log) = self.log.as_mut() {
                log.scan(ts_ns, &e);
            }
        }
        for e in self.pipeline.take_flood_events() {
            if let Some(o) = self.records.as_mut() {
                let _ = o.text_line(&e.to_json_line());
            }
            if let Some(log) = self.log.as_mut() {
                log.flood(ts_ns, &e);
            }
        }
    }

    pub(super) fn flush(&mut self) {
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
            Query::Walk(Some(g), tx) if g == self.generation => {
                let _ = tx.send(None);
            }
            Query::Walk(_, tx) => match self.walk.as_mut() {
                Some(w) => w.waiters.push(tx),
                None => {
                    self.walk = Some(Walk {
                        next_slot: 0,
                        copy: Walked::start(
                            self.generation,
                            unix_now_ns() as f64 / 1e9,
                            p.sources.len(),
                        ),
                        waiters: vec![tx],
                    })
                }
            },
            Query::Page(addrs, f, tx) => {
                let multi = self.watch.multiple_hosts();
                let _ = tx.send(api::page_sources(p, db, &addrs, &f, multi));
            }
            Query::Source(a, tx) => {
                let _ = tx.send(api::source(p, db, a));
            }
            Query::Ready(tx) => {
                let _ = tx.send(api::readiness(
                    &self.attachment,
                    db,
                    p.sources.len(),
                    self.started.elapsed(),
                ));
            }
        }
    }

    /// Copies the next slots of the table ([`Walked::step`]); at the end, hands the copy
    /// to whoever asked (the sort happens on their side).
    fn walk_step(&mut self) {
        let Some(w) = self.walk.as_mut() else {
            return;
        };
        let (p, db, multi) = (&self.pipeline, &*self.db, self.watch.multiple_hosts());
        if let Some(next) = w.copy.step(p, db, multi, w.next_slot) {
            w.next_slot = next;
            return;
        }
        let Walk { copy, waiters, .. } = self.walk.take().expect("walking");
        let mut waiters: Vec<_> = waiters.into_iter().filter(|t| !t.is_closed()).collect();
        if let Some(last) = waiters.pop() {
            for tx in waiters {
                let _ = tx.send(Some(copy.clone()));
            }
            let _ = last.send(Some(copy));
        }
    }

    fn read_counters(counters: &[PerCpuArray<MapData, u64>]) -> Result<Vec<FrameCounters>> {
        counters.iter().map(xdp::read_counters).collect()
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
        self.generation += 1;
        let now = unix_now_ns();
        self.pipeline.expire(now, &mut self.scan_events);
        self.emit_scans(now);
        self.metrics
            .update_tables(&self.pipeline, &self.db, &self.clocks);
        self.flush();
    }

    /// Starts the clock analysis of every source with clock state (gauges, the API's
    /// several-hosts filter, hosts and clock lines of the event log), unless one is
    /// under way. At the default clock cap the whole table takes up to ~0.5 s: in one
    /// go it would hold the ring buffers that long, so it runs in steps between batches.
    fn clock_sweep(&mut self) {
        if self.clock_sweep.is_none() {
            self.clock_sweep = Some(ClockSweep::default());
        }
    }

    /// The sources of the next [`CLOCK_SWEEP_STEP`] slots; at the end of the table, the
    /// sweep's results replace the last ones.
    fn clock_sweep_step(&mut self) {
        let Some(sw) = self.clock_sweep.as_mut() else {
            return;
        };
        let table = &self.pipeline.sources;
        let now = unix_now_ns();
        if !self
            .watch
            .sweep_step(sw, table, now, self.log.as_mut(), CLOCK_SWEEP_STEP)
        {
            return;
        }
        let sw = self.clock_sweep.take().expect("sweeping");
        self.generation += 1;
        self.clocks = self.watch.finish_sweep(sw, table, self.log.as_mut());
    }

    fn stats(&self, counters: &[PerCpuArray<MapData, u64>]) -> String {
        let mut total = FrameCounters::default();
        match Self::read_counters(counters) {
            Ok(v) => v.iter().for_each(|c| total.add(c)),
            Err(e) => return format!("kernel counters unreadable: {e:#}"),
        }
        stats::summary(&total, &self.pipeline, self.bad_size)
    }
}
