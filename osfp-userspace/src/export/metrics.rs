//! Prometheus metrics of the running sensor, served on /metrics. Label values come only
//! from fixed sets (interfaces, reasons, problems, families, kinds) and from the loaded
//! database's labels (which a reload can add to, never an observed value); never an
//! address, port or fingerprint.

use strum::{EnumCount, IntoEnumIterator};

use osfp_common::{counter, reason, Malformed};
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use super::eventlog::{EventLog, LogKind};
use crate::{
    analysis::{
        fingerprint::{Database, Family, MatchKind, Rewrite},
        scan::{ProbeKind, ScanKind},
    },
    capture::frame::FrameCounters,
    capture::kernel::Attachment,
    decode::OptionProblem,
    pipeline::{ClockEstimates, Pipeline, VerdictCounts, INFERRED_P_BOUNDS},
    sources::{source_family, Segment},
};

pub struct Metrics {
    pub registry: Registry,
    /// Interface names, the `iface` label's fixed set (index = position).
    ifaces: Vec<String>,
    seen: IntCounterVec,
    tcp: IntCounterVec,
    selected: IntCounterVec,
    malformed: IntCounterVec,
    options_malformed: IntCounterVec,
    ringbuf_full: IntCounterVec,
    shed: IntCounterVec,
    ringbuf_bad: IntCounter,
    records_dropped: IntCounter,
    fragments: IntCounterVec,
    records: IntCounter,
    verdicts: IntCounterVec,
    verdicts_by_label: IntCounterVec,
    unknown: IntCounter,
    inferred: IntCounterVec,
    inferred_p: CountedHistogram,
    rewrites: IntCounterVec,
    sources: prometheus::IntGaugeVec,
    sources_tracked: IntGauge,
    sources_cap: IntGauge,
    sources_evicted: IntCounterVec,
    sources_in_segment: prometheus::IntGaugeVec,
    segment_cap: prometheus::IntGaugeVec,
    sources_promoted: IntCounter,
    multiple_hosts: IntGauge,
    scan_events: IntCounterVec,
    scanners_active: IntGauge,
    syn_rate: IntGauge,
    syn_flood_active: IntGauge,
    syn_flood_events: IntCounter,
    syn_flood_syns: IntCounter,
    syn_flood_sources: IntGauge,
    log_suppressed: IntCounter,
    clock_estimates: prometheus::IntGaugeVec,
    events_logged: IntCounterVec,
    event_log_errors: IntCounter,
    event_log_dropped: IntCounter,
    reloads: IntCounterVec,
    reload_ok: IntGauge,
    scan_probes: IntCounterVec,
    last_logged: [u64; LogKind::COUNT],
    last_log_errors: u64,
    last_log_dropped: u64,
    last_records_dropped: u64,
    last_evicted: [u64; 2],
    last_promoted: u64,
    last_scans: [u64; ScanKind::COUNT],
    last_probes: [u64; ProbeKind::COUNT],
    /// Last kernel totals per interface, to turn them into counter increments.
    last: Vec<FrameCounters>,
    last_records: u64,
    last_verdicts: VerdictCounts,
    last_rewrites: [u64; Rewrite::COUNT],
    last_options: [u64; OptionProblem::COUNT],
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).unwrap();
    r.register(Box::new(c.clone())).unwrap();
    c
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).unwrap();
    r.register(Box::new(g.clone())).unwrap();
    g
}

fn counter_vec(r: &Registry, name: &str, help: &str, label: &str) -> IntCounterVec {
    counter_vec_n(r, name, help, &[label])
}

fn counter_vec_n(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).unwrap();
    r.register(Box::new(c.clone())).unwrap();
    c
}

fn gauge_vec(r: &Registry, name: &str, help: &str, label: &str) -> prometheus::IntGaugeVec {
    let g = prometheus::IntGaugeVec::new(Opts::new(name, help), &[label]).unwrap();
    r.register(Box::new(g.clone())).unwrap();
    g
}

impl Metrics {
    /// Metrics for a sensor attached as `at`, with `db`'s labels as the label set.
    pub fn new(at: &Attachment, db: &Database) -> Self {
        let ifaces = &at.iface_names();
        let r = Registry::new();
        let build = IntGauge::with_opts(
            Opts::new("osfp_build_info", "osfp version")
                .const_label("version", env!("CARGO_PKG_VERSION")),
        )
        .unwrap();
        build.set(1);
        r.register(Box::new(build)).unwrap();
        // What runs where: one series per interface, fixed for the process's life.
        let sensor = prometheus::IntGaugeVec::new(
            Opts::new(
                "osfp_sensor_info",
                "The XDP program's build, its attach mode and the kernel, per interface.",
            ),
            &["iface", "program", "mode", "kernel"],
        )
        .unwrap();
        for (i, mode) in &at.ifaces {
            sensor
                .with_label_values(&[i, at.program, mode, &at.release])
                .set(1);
        }
        r.register(Box::new(sensor)).unwrap();
        let iface = |name: &str, help: &str| counter_vec(&r, name, help, "iface");
        let m = Metrics {
            ifaces: ifaces.to_vec(),
            seen: iface("osfp_packets_seen_total", "Frames the XDP program ran on."),
            tcp: iface(
                "osfp_packets_tcp_total",
                "TCP packets parsed up to the TCP header.",
            ),
            selected: counter_vec_n(
                &r,
                "osfp_packets_selected_total",
                "Packets selected, by reason.",
                &["iface", "reason"],
            ),
            malformed: counter_vec_n(
                &r,
                "osfp_packets_malformed_total",
                "Malformed frames, by reason.",
                &["iface", "reason"],
            ),
            options_malformed: counter_vec(
                &r,
                "osfp_tcp_options_malformed_total",
                "Selected packets whose TCP options are malformed, by problem.",
                "problem",
            ),
            ringbuf_full: iface(
                "osfp_ringbuf_dropped_total",
                "Selected records dropped: ring buffer full.",
            ),
            ringbuf_bad: counter(
                &r,
                "osfp_ringbuf_bad_entries_total",
                "Ring-buffer entries of the wrong size (not a record), skipped.",
            ),
            records_dropped: counter(
                &r,
                "osfp_records_output_dropped_total",
                "Record lines not printed on stdout: its reader was too slow (queue full).",
            ),
            shed: counter_vec_n(
                &r,
                "osfp_records_shed_total",
                "Records the XDP program shed on purpose while the ring buffer was filling up \
                 (SYNs of sources seen in the last second, timestamp samples; all but SYN-ACKs \
                 and handshake ACKs from three quarters full), by reason.",
                &["iface", "reason"],
            ),
            fragments: iface(
                "osfp_fragments_skipped_total",
                "Non-first fragments passed over.",
            ),
            records: counter(&r, "osfp_records_total", "Records decoded by userspace."),
            verdicts: counter_vec_n(
                &r,
                "osfp_verdicts_total",
                "SYN / SYN-ACK verdicts, by OS family and match kind.",
                &["family", "match"],
            ),
            verdicts_by_label: counter_vec_n(
                &r,
                "osfp_verdicts_by_label_total",
                "SYN / SYN-ACK verdicts, by the database's label (\"unknown\": none).",
                &["family", "label"],
            ),
            unknown: counter(
                &r,
                "osfp_unknown_fingerprints_total",
                "SYN / SYN-ACK fingerprints nothing explains: no signature, no middlebox undo, and the classifier below its threshold.",
            ),
            inferred: counter_vec(
                &r,
                "osfp_inferred_verdicts_total",
                "SYN verdicts given by the classifier (no signature matched), by OS family.",
                "family",
            ),
            inferred_p: {
                let h = CountedHistogram::new(
                    "osfp_inferred_probability",
                    "The classifier's probability of the family of its inferred verdicts.",
                    &INFERRED_P_BOUNDS,
                );
                r.register(Box::new(h.clone())).unwrap();
                h
            },
            rewrites: counter_vec(
                &r,
                "osfp_middlebox_rewrites_total",
                "Middlebox rewrites undone to match a SYN (ts_nop, ts_zero, mss_clamp, ws_strip, ttl_rewrite, ecn_bleach).",
                "kind",
            ),
            sources: gauge_vec(
                &r,
                "osfp_sources",
                "Tracked sources, by the OS family of their most frequent verdict.",
                "family",
            ),
            sources_tracked: gauge(
                &r,
                "osfp_sources_tracked",
                "Sources in the per-source table.",
            ),
            sources_cap: gauge(&r, "osfp_sources_cap", "The per-source table's cap."),
            sources_evicted: counter_vec(
                &r,
                "osfp_sources_evicted_total",
                "Sources evicted from the per-source table, by segment (probation: seen once; established: seen again).",
                "segment",
            ),
            sources_in_segment: gauge_vec(
                &r,
                "osfp_sources_in_segment",
                "Sources in each segment of the per-source table.",
                "segment",
            ),
            segment_cap: gauge_vec(
                &r,
                "osfp_sources_segment_cap",
                "Most sources each segment may hold (probation may use any slot established does not).",
                "segment",
            ),
            sources_promoted: counter(
                &r,
                "osfp_sources_promoted_total",
                "Sources moved from probation to established (seen again).",
            ),
            multiple_hosts: gauge(
                &r,
                "osfp_sources_multiple_hosts",
                "Sources with several machines behind the address (clocks).",
            ),
            scan_events: counter_vec(
                &r,
                "osfp_scan_events_total",
                "Scans started, by kind.",
                "kind",
            ),
            scanners_active: gauge(
                &r,
                "osfp_scanners_active",
                "Sources with a scan in progress.",
            ),
            syn_rate: gauge(
                &r,
                "osfp_syn_rate",
                "SYNs the pipeline counted in the last whole second (not those shed or lost in the kernel).",
            ),
            syn_flood_active: gauge(
                &r,
                "osfp_syn_flood_active",
                "1 while a SYN flood is in progress (see [scan] syn_flood_rate).",
            ),
            syn_flood_events: counter(
                &r,
                "osfp_syn_flood_events_total",
                "SYN floods started.",
            ),
            syn_flood_syns: counter(
                &r,
                "osfp_syn_flood_syns_total",
                "SYNs counted during SYN floods.",
            ),
            syn_flood_sources: gauge(
                &r,
                "osfp_syn_flood_sources_estimate",
                "Distinct sources of the SYN flood in progress (estimate; 0 without one).",
            ),
            log_suppressed: counter(
                &r,
                "osfp_event_log_suppressed_total",
                "Verdict lines of one-packet sources not written during a SYN flood.",
            ),
            clock_estimates: gauge_vec(
                &r,
                "osfp_clock_estimates",
                "Sources with a TSval clock estimate: rate, or boot time (boot-relative clocks).",
                "estimate",
            ),
            events_logged: counter_vec(
                &r,
                "osfp_events_logged_total",
                "Event log lines written, by event.",
                "event",
            ),
            event_log_errors: counter(
                &r,
                "osfp_event_log_errors_total",
                "Event log lines that could not be written.",
            ),
            event_log_dropped: counter(
                &r,
                "osfp_event_log_dropped_total",
                "Event log lines not written on stdout: its reader was too slow (queue full).",
            ),
            reloads: counter_vec(
                &r,
                "osfp_config_reloads_total",
                "SIGHUP reloads of configuration and database, by result.",
                "result",
            ),
            reload_ok: gauge(
                &r,
                "osfp_config_last_reload_successful",
                "1 if the last reload succeeded (or none happened), 0 if it was refused.",
            ),
            last_logged: [0; LogKind::COUNT],
            last_log_errors: 0,
            last_log_dropped: 0,
            last_records_dropped: 0,
            scan_probes: counter_vec(
                &r,
                "osfp_scan_probes_total",
                "Packets classified as scan probes, by probe kind.",
                "kind",
            ),
            last_evicted: [0; 2],
            last_promoted: 0,
            last_scans: [0; ScanKind::COUNT],
            last_probes: [0; ProbeKind::COUNT],
            registry: r,
            last: vec![FrameCounters::default(); ifaces.len()],
            last_records: 0,
            last_verdicts: VerdictCounts::default(),
            last_rewrites: [0; Rewrite::COUNT],
            last_options: [0; OptionProblem::COUNT],
        };
        // Every label value exists from the start, so series never appear later.
        for i in ifaces {
            m.seen.with_label_values(&[i]);
            m.tcp.with_label_values(&[i]);
            m.ringbuf_full.with_label_values(&[i]);
            m.fragments.with_label_values(&[i]);
            for s in reason::NAMES {
                m.selected.with_label_values(&[i, s]);
                m.shed.with_label_values(&[i, s]);
            }
            for x in Malformed::ALL {
                m.malformed.with_label_values(&[i, x.name()]);
            }
        }
        for p in OptionProblem::iter() {
            m.options_malformed.with_label_values(&[p.name()]);
        }
        for f in Family::iter() {
            m.sources.with_label_values(&[f.name()]);
            m.inferred.with_label_values(&[f.name()]);
            for k in MatchKind::iter() {
                m.verdicts.with_label_values(&[f.name(), k.name()]);
            }
        }
        for k in Rewrite::UNDONE {
            m.rewrites.with_label_values(&[k.name()]);
        }
        for seg in Segment::iter() {
            m.sources_evicted.with_label_values(&[seg.name()]);
            m.sources_in_segment.with_label_values(&[seg.name()]);
            m.segment_cap.with_label_values(&[seg.name()]);
        }
        m.add_labels(db);
        for k in ScanKind::iter() {
            m.scan_events.with_label_values(&[k.name()]);
        }
        for e in ["rate", "boot_time"] {
            m.clock_estimates.with_label_values(&[e]);
        }
        for k in LogKind::iter() {
            m.events_logged.with_label_values(&[k.name()]);
        }
        for r in ["ok", "error"] {
            m.reloads.with_label_values(&[r]);
        }
        m.reload_ok.set(1);
        for k in ProbeKind::iter() {
            m.scan_probes.with_label_values(&[k.name()]);
        }
        m
    }

    /// The label series of a database (at start and after a reload that brings new
    /// labels; series of labels gone stay, as counters must).
    pub fn add_labels(&self, db: &Database) {
        self.verdicts_by_label
            .with_label_values(&[Family::Unknown.name(), "unknown"]);
        for l in &db.labels {
            self.verdicts_by_label
                .with_label_values(&[l.family.name(), &l.display_name()]);
        }
    }

    /// A reload's result.
    pub fn reloaded(&self, ok: bool) {
        self.reloads
            .with_label_values(&[if ok { "ok" } else { "error" }])
            .inc();
        self.reload_ok.set(ok as i64);
    }

    /// Brings the event log counters up to the log's totals.
    pub fn event_log(&mut self, log: &EventLog) {
        for (i, k) in LogKind::iter().enumerate() {
            self.events_logged
                .with_label_values(&[k.name()])
                .inc_by(log.written[i].saturating_sub(self.last_logged[i]));
            self.last_logged[i] = log.written[i];
        }
        self.event_log_errors
            .inc_by(log.errors.saturating_sub(self.last_log_errors));
        self.log_suppressed
            .inc_by(log.suppressed.saturating_sub(self.log_suppressed.get()));
        self.last_log_errors = log.errors;
        self.event_log_dropped
            .inc_by(log.dropped().saturating_sub(self.last_log_dropped));
        self.last_log_dropped = log.dropped();
    }

    /// A new database (a reload): its labels' series, and the per-label counts start
    /// again (the pipeline's restart with the database). Call
    /// [`Self::update_pipeline`] with the old database first, not to lose counts.
    pub fn set_database(&mut self, db: &Database) {
        self.add_labels(db);
        self.last_verdicts.by_label = vec![0; db.labels.len()];
    }

    /// Gauges and counters taken from the per-source and scan tables. Walks every
    /// source: call it every few seconds, not per record. `clocks` comes from the
    /// same sweep ([`super::eventlog::Watch::sweep`]).
    pub fn update_tables(&mut self, p: &Pipeline, db: &Database, clocks: &ClockEstimates) {
        let t = &p.sources;
        let mut by_family = [0i64; Family::COUNT];
        for (_, s) in t.iter() {
            by_family[source_family(s, db) as usize] += 1;
        }
        for (i, f) in Family::iter().enumerate() {
            self.sources
                .with_label_values(&[f.name()])
                .set(by_family[i]);
        }
        self.sources_tracked.set(t.len() as i64);
        self.sources_cap.set(t.cap() as i64);
        for seg in Segment::iter() {
            let n = t.evicted(seg);
            self.sources_evicted
                .with_label_values(&[seg.name()])
                .inc_by(n.saturating_sub(self.last_evicted[seg as usize]));
            self.last_evicted[seg as usize] = n;
            self.sources_in_segment
                .with_label_values(&[seg.name()])
                .set(t.segment_len(seg) as i64);
            self.segment_cap
                .with_label_values(&[seg.name()])
                .set(t.segment_cap(seg) as i64);
        }
        self.sources_promoted
            .inc_by(t.promotions().saturating_sub(self.last_promoted));
        self.last_promoted = t.promotions();
        self.multiple_hosts.set(clocks.multi_machine as i64);
        self.clock_estimates
            .with_label_values(&["rate"])
            .set(clocks.with_rate as i64);
        self.clock_estimates
            .with_label_values(&["boot_time"])
            .set(clocks.with_boot_time as i64);
        let c = p.scan_counters();
        for (i, k) in ScanKind::iter().enumerate() {
            let v = c.started(k);
            self.scan_events
                .with_label_values(&[k.name()])
                .inc_by(v.saturating_sub(self.last_scans[i]));
            self.last_scans[i] = v;
        }
        for (i, k) in ProbeKind::iter().enumerate() {
            let v = c.probes(k);
            self.scan_probes
                .with_label_values(&[k.name()])
                .inc_by(v.saturating_sub(self.last_probes[i]));
            self.last_probes[i] = v;
        }
        self.scanners_active.set(p.scans.active_sources() as i64);
    }

    /// Brings interface `i`'s counters up to its kernel totals.
    pub fn update_iface(&mut self, i: usize, k: &FrameCounters) {
        let (Some(name), Some(last)) = (self.ifaces.get(i), self.last.get(i)) else {
            return;
        };
        let d = |slot: u32| k.get(slot).saturating_sub(last.get(slot));
        let n = name.as_str();
        self.seen.with_label_values(&[n]).inc_by(d(counter::SEEN));
        self.tcp.with_label_values(&[n]).inc_by(d(counter::TCP));
        // Counter slots SELECTED_BASE + bit and SHED_BASE + bit, named in bit order.
        for (j, s) in reason::NAMES.iter().enumerate() {
            self.selected
                .with_label_values(&[n, s])
                .inc_by(d(counter::SELECTED_BASE + j as u32));
            self.shed
                .with_label_values(&[n, s])
                .inc_by(d(counter::SHED_BASE + j as u32));
        }
        for x in Malformed::ALL {
            self.malformed
                .with_label_values(&[n, x.name()])
                .inc_by(d(counter::malformed(x)));
        }
        self.ringbuf_full
            .with_label_values(&[n])
            .inc_by(d(counter::RINGBUF_FULL));
        self.fragments
            .with_label_values(&[n])
            .inc_by(d(counter::FRAGMENT_SKIPPED));
        self.last[i] = k.clone();
    }

    /// Brings the ring-buffer entry counter up to `bad` (a running total).
    pub fn ringbuf_bad(&self, bad: u64) {
        self.ringbuf_bad
            .inc_by(bad.saturating_sub(self.ringbuf_bad.get()));
    }

    /// Brings the stdout drop counter up to `n` (a running total of one output; a new
    /// output after a reload starts again at 0, so only increases are added).
    pub fn records_dropped(&mut self, n: u64) {
        self.records_dropped
            .inc_by(n.saturating_sub(self.last_records_dropped));
        self.last_records_dropped = n;
    }

    /// Brings the decoder's and the verdicts' counters up to the pipeline's totals.
    pub fn update_pipeline(&mut self, p: &Pipeline) {
        let db = p.fingerprinter.db();
        let (now, last) = (&p.verdicts, &mut self.last_verdicts);
        for f in Family::iter() {
            for k in MatchKind::iter() {
                let (n, l) = (
                    now.by_family[f as usize][k as usize],
                    &mut last.by_family[f as usize][k as usize],
                );
                if n > *l {
                    self.verdicts
                        .with_label_values(&[f.name(), k.name()])
                        .inc_by(n - *l);
                    match k {
                        MatchKind::Unknown => self.unknown.inc_by(n - *l),
                        MatchKind::Inferred => {
                            self.inferred.with_label_values(&[f.name()]).inc_by(n - *l)
                        }
                        _ => {}
                    }
                    *l = n;
                }
            }
        }
        if now.unlabelled > last.unlabelled {
            self.verdicts_by_label
                .with_label_values(&[Family::Unknown.name(), "unknown"])
                .inc_by(now.unlabelled - last.unlabelled);
            last.unlabelled = now.unlabelled;
        }
        last.by_label.resize(now.by_label.len(), 0);
        for (id, (n, l)) in now
            .by_label
            .iter()
            .zip(last.by_label.iter_mut())
            .enumerate()
        {
            if *n > *l {
                let label = db.label(id as u32);
                self.verdicts_by_label
                    .with_label_values(&[label.family.name(), &label.display_name()])
                    .inc_by(n - *l);
                *l = *n;
            }
        }
        self.inferred_p.add(
            &now.inferred_p,
            now.inferred_p_sum,
            &last.inferred_p,
            last.inferred_p_sum,
        );
        (last.inferred_p, last.inferred_p_sum) = (now.inferred_p, now.inferred_p_sum);
        for k in Rewrite::UNDONE {
            let (n, l) = (p.rewrites[k as usize], &mut self.last_rewrites[k as usize]);
            self.rewrites
                .with_label_values(&[k.name()])
                .inc_by(n.saturating_sub(*l));
            *l = n;
        }
        self.records
            .inc_by(p.records.saturating_sub(self.last_records));
        for (i, o) in OptionProblem::iter().enumerate() {
            let v = p.option_problem(o);
            self.options_malformed
                .with_label_values(&[o.name()])
                .inc_by(v.saturating_sub(self.last_options[i]));
            self.last_options[i] = v;
        }
        self.last_records = p.records;
        let f = &p.floods;
        self.syn_rate.set(f.counters.last_rate as i64);
        self.syn_flood_active.set(f.active() as i64);
        self.syn_flood_sources.set(f.sources_estimate() as i64);
        self.syn_flood_events.inc_by(
            f.counters
                .started
                .saturating_sub(self.syn_flood_events.get()),
        );
        self.syn_flood_syns.inc_by(
            f.counters
                .syns_in_floods
                .saturating_sub(self.syn_flood_syns.get()),
        );
    }
}

/// A histogram whose buckets the pipeline counts ([`VerdictCounts::inferred_p`]) and
/// the metrics take once a second: the packet path adds to an array instead of
/// observing an atomic histogram per record.
#[derive(Clone)]
struct CountedHistogram {
    desc: prometheus::core::Desc,
    bounds: &'static [f64],
    /// Per bucket (not cumulative; the last above every bound), and the sum.
    state: std::sync::Arc<std::sync::Mutex<(Vec<u64>, f64)>>,
}

impl CountedHistogram {
    fn new(name: &str, help: &str, bounds: &'static [f64]) -> Self {
        CountedHistogram {
            desc: prometheus::core::Desc::new(name.into(), help.into(), vec![], Default::default())
                .unwrap(),
            bounds,
            state: std::sync::Arc::new(std::sync::Mutex::new((vec![0; bounds.len() + 1], 0.0))),
        }
    }

    /// Adds what was counted between `last` and `now`.
    fn add(&self, now: &[u64], now_sum: f64, last: &[u64], last_sum: f64) {
        let mut st = self.state.lock().unwrap();
        for (c, (n, l)) in st.0.iter_mut().zip(now.iter().zip(last)) {
            *c += n.saturating_sub(*l);
        }
        st.1 += (now_sum - last_sum).max(0.0);
    }
}

impl prometheus::core::Collector for CountedHistogram {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        use prometheus::proto;
        let (counts, sum) = self.state.lock().unwrap().clone();
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(self.bounds.len());
        for (le, n) in self.bounds.iter().zip(&counts) {
            cumulative += n;
            let mut b = proto::Bucket::default();
            b.set_cumulative_count(cumulative);
            b.set_upper_bound(*le);
            buckets.push(b);
        }
        let mut h = proto::Histogram::default();
        h.set_bucket(buckets);
        h.set_sample_count(counts.iter().sum());
        h.set_sample_sum(sum);
        let mut m = proto::Metric::default();
        m.set_histogram(h);
        let mut mf = proto::MetricFamily::default();
        mf.set_name(self.desc.fq_name.clone());
        mf.set_help(self.desc.help.clone());
        mf.set_field_type(proto::MetricType::HISTOGRAM);
        mf.set_metric(vec![m]);
        vec![mf]
    }
}
