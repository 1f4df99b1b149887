//! Prometheus metrics of the running sensor, served on /metrics. Label values come only
//! from fixed sets (reasons, problems); never an address, port or fingerprint.

use std::{net::SocketAddr, sync::Arc};

use anyhow::{Context, Result};
use axum::{http::header, routing::get, Router};
use osfp_common::{counter, Malformed};
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

use crate::{
    fingerprint::{Database, Family, MatchKind, Verdict},
    frame::FrameCounters,
    options::OptionProblem,
    pipeline::Pipeline,
    scan::{ProbeKind, ScanKind},
};

const MATCHES: [MatchKind; 4] = [
    MatchKind::Exact,
    MatchKind::Generic,
    MatchKind::Fuzzy,
    MatchKind::Unknown,
];

/// Label per reason bit, in bit order (counter slots SELECTED_BASE + bit).
const SELECTED: [&str; osfp_common::reason::COUNT as usize] =
    ["syn", "synack", "scan_probe", "ts_sample", "handshake_ack"];

pub struct Metrics {
    pub registry: Registry,
    seen: IntCounter,
    tcp: IntCounter,
    selected: IntCounterVec,
    malformed: IntCounterVec,
    options_malformed: IntCounterVec,
    ringbuf_full: IntCounter,
    fragments: IntCounter,
    records: IntCounter,
    verdicts: IntCounterVec,
    unknown: IntCounter,
    sources: prometheus::IntGaugeVec,
    sources_tracked: IntGauge,
    sources_cap: IntGauge,
    sources_evicted: IntCounter,
    multiple_hosts: IntGauge,
    scan_events: IntCounterVec,
    scanners_active: IntGauge,
    scan_probes: IntCounterVec,
    last_evicted: u64,
    last_scans: [u64; ScanKind::COUNT],
    last_probes: [u64; ProbeKind::ALL.len()],
    /// Last kernel totals, to turn them into counter increments.
    last: FrameCounters,
    last_records: u64,
    last_options: [u64; OptionProblem::ALL.len()],
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
    let c = IntCounterVec::new(Opts::new(name, help), &[label]).unwrap();
    r.register(Box::new(c.clone())).unwrap();
    c
}

impl Metrics {
    pub fn new() -> Self {
        let r = Registry::new();
        let build = IntGauge::with_opts(
            Opts::new("osfp_build_info", "osfp version")
                .const_label("version", env!("CARGO_PKG_VERSION")),
        )
        .unwrap();
        build.set(1);
        r.register(Box::new(build)).unwrap();
        let m = Metrics {
            seen: counter(
                &r,
                "osfp_packets_seen_total",
                "Frames the XDP program ran on.",
            ),
            tcp: counter(
                &r,
                "osfp_packets_tcp_total",
                "TCP packets parsed up to the TCP header.",
            ),
            selected: counter_vec(
                &r,
                "osfp_packets_selected_total",
                "Packets selected, by reason.",
                "reason",
            ),
            malformed: counter_vec(
                &r,
                "osfp_packets_malformed_total",
                "Malformed frames, by reason.",
                "reason",
            ),
            options_malformed: counter_vec(
                &r,
                "osfp_tcp_options_malformed_total",
                "Selected packets whose TCP options are malformed, by problem.",
                "problem",
            ),
            ringbuf_full: counter(
                &r,
                "osfp_ringbuf_dropped_total",
                "Selected records dropped: ring buffer full.",
            ),
            fragments: counter(
                &r,
                "osfp_fragments_skipped_total",
                "Non-first fragments passed over.",
            ),
            records: counter(&r, "osfp_records_total", "Records decoded by userspace."),
            verdicts: {
                let c = IntCounterVec::new(
                    Opts::new(
                        "osfp_verdicts_total",
                        "SYN / SYN-ACK verdicts, by OS family and match kind.",
                    ),
                    &["family", "match"],
                )
                .unwrap();
                r.register(Box::new(c.clone())).unwrap();
                c
            },
            unknown: counter(
                &r,
                "osfp_unknown_fingerprints_total",
                "SYN / SYN-ACK signatures no signature matched.",
            ),
            sources: {
                let g = prometheus::IntGaugeVec::new(
                    Opts::new(
                        "osfp_sources",
                        "Tracked sources, by the OS family of their most frequent verdict.",
                    ),
                    &["family"],
                )
                .unwrap();
                r.register(Box::new(g.clone())).unwrap();
                g
            },
            sources_tracked: gauge(
                &r,
                "osfp_sources_tracked",
                "Sources in the per-source table.",
            ),
            sources_cap: gauge(&r, "osfp_sources_cap", "The per-source table's cap."),
            sources_evicted: counter(
                &r,
                "osfp_sources_evicted_total",
                "Sources evicted from the per-source table.",
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
            scan_probes: counter_vec(
                &r,
                "osfp_scan_probes_total",
                "Packets classified as scan probes, by probe kind.",
                "kind",
            ),
            last_evicted: 0,
            last_scans: [0; ScanKind::COUNT],
            last_probes: [0; ProbeKind::ALL.len()],
            registry: r,
            last: FrameCounters::default(),
            last_records: 0,
            last_options: [0; OptionProblem::ALL.len()],
        };
        // Every label value exists from the start, so series never appear later.
        for s in SELECTED {
            m.selected.with_label_values(&[s]);
        }
        for x in Malformed::ALL {
            m.malformed.with_label_values(&[x.name()]);
        }
        for p in OptionProblem::ALL {
            m.options_malformed.with_label_values(&[p.name()]);
        }
        for f in Family::ALL {
            m.sources.with_label_values(&[f.name()]);
            for k in MATCHES {
                m.verdicts.with_label_values(&[f.name(), k.name()]);
            }
        }
        for k in ScanKind::ALL {
            m.scan_events.with_label_values(&[k.name()]);
        }
        for k in ProbeKind::ALL {
            m.scan_probes.with_label_values(&[k.name()]);
        }
        m
    }

    /// One SYN / SYN-ACK verdict.
    pub fn verdict(&self, v: &Verdict<'_>) {
        self.verdicts
            .with_label_values(&[v.family().name(), v.kind.name()])
            .inc();
        if v.kind == MatchKind::Unknown {
            self.unknown.inc();
        }
    }

    /// Gauges and counters taken from the per-source and scan tables. Walks every
    /// source (the clock estimates too): call it every few seconds, not per record.
    pub fn update_tables(&mut self, p: &Pipeline, db: &Database) {
        if let Some(t) = &p.sources {
            let mut by_family = [0i64; Family::ALL.len()];
            for (_, s) in t.iter() {
                let best = s.os.verdicts.iter().max_by_key(|v| v.count);
                let f = best
                    .and_then(|v| v.label)
                    .map_or(Family::Unknown, |id| db.label(id).family);
                by_family[Family::ALL.iter().position(|x| *x == f).unwrap_or(0)] += 1;
            }
            for (i, f) in Family::ALL.iter().enumerate() {
                self.sources
                    .with_label_values(&[f.name()])
                    .set(by_family[i]);
            }
            self.sources_tracked.set(t.len() as i64);
            self.sources_cap.set(t.cap() as i64);
            self.sources_evicted
                .inc_by(t.evictions.saturating_sub(self.last_evicted));
            self.last_evicted = t.evictions;
        }
        self.multiple_hosts
            .set(p.clock_estimates().multi_machine as i64);
        if let Some(c) = p.scan_counters() {
            for (i, k) in ScanKind::ALL.iter().enumerate() {
                let v = c.started(*k);
                self.scan_events
                    .with_label_values(&[k.name()])
                    .inc_by(v.saturating_sub(self.last_scans[i]));
                self.last_scans[i] = v;
            }
            for (i, k) in ProbeKind::ALL.iter().enumerate() {
                let v = c.probes(*k);
                self.scan_probes
                    .with_label_values(&[k.name()])
                    .inc_by(v.saturating_sub(self.last_probes[i]));
                self.last_probes[i] = v;
            }
        }
        if let Some(t) = &p.scans {
            self.scanners_active.set(t.active_sources() as i64);
        }
    }

    /// Brings the counters up to the kernel's totals and the pipeline's.
    pub fn update(&mut self, k: &FrameCounters, p: &Pipeline) {
        let d = |slot: u32, last: &FrameCounters| k.get(slot).saturating_sub(last.get(slot));
        self.seen.inc_by(d(counter::SEEN, &self.last));
        self.tcp.inc_by(d(counter::TCP, &self.last));
        for (i, s) in SELECTED.iter().enumerate() {
            self.selected
                .with_label_values(&[s])
                .inc_by(d(counter::SELECTED_BASE + i as u32, &self.last));
        }
        for x in Malformed::ALL {
            self.malformed
                .with_label_values(&[x.name()])
                .inc_by(d(counter::malformed(x), &self.last));
        }
        self.ringbuf_full
            .inc_by(d(counter::RINGBUF_FULL, &self.last));
        self.fragments
            .inc_by(d(counter::FRAGMENT_SKIPPED, &self.last));
        self.records
            .inc_by(p.records.saturating_sub(self.last_records));
        for (i, o) in OptionProblem::ALL.iter().enumerate() {
            let v = p.option_problem(*o);
            self.options_malformed
                .with_label_values(&[o.name()])
                .inc_by(v.saturating_sub(self.last_options[i]));
            self.last_options[i] = v;
        }
        self.last = k.clone();
        self.last_records = p.records;
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Serves /metrics from `registry` on `addr` until the runtime stops.
pub async fn serve(addr: SocketAddr, registry: Arc<Registry>) -> Result<()> {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let r = registry.clone();
            async move {
                let body = TextEncoder::new()
                    .encode_to_string(&r.gather())
                    .unwrap_or_default();
                ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for metrics on {addr}"))?;
    axum::serve(listener, app).await?;
    Ok(())
}
