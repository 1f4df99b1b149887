//! The one pipeline both inputs feed: a record is decoded ([`Pipeline::process`], with
//! counters of what the decoder found wrong), then every analysis sees the event
//! ([`Pipeline::observe`]): scan detection (printing its events is the caller's choice),
//! fingerprinting, and the clock / IP ID state of the source. All
//! per-source results live in one [`SourceTable`] (one cap, one LRU eviction): a source
//! enters it with a fingerprinted SYN / SYN-ACK or an ended scan; events of sources not
//! in it are counted (`clock_events_without_source`), not analysed. Scans appear in the
//! table when they end (idle, eviction from the scan window, or [`Pipeline::end_of_input`]).

use std::sync::Arc;

use strum::EnumCount;

use osfp_common::PacketRecord;

use crate::{
    analysis::{
        clock::ClockCounters,
        fingerprint::{
            Database, Family, Fingerprinter, Label, MatchKind, Rewrite, Signature, Verdict,
        },
        flood::{FloodDetector, FloodEvent},
        scan::{ScanConfig, ScanCounters, ScanEvent, ScanTracker},
    },
    decode::{Event, OptionProblem},
    sources::{SourceTable, DEFAULT_CLOCK_SOURCES},
};

pub struct Pipeline {
    pub records: u64,
    /// Option-list problems by [`OptionProblem`] (as index).
    pub option_problems: [u64; OptionProblem::COUNT],
    pub fingerprinter: Fingerprinter,
    /// The per-source table, fed by every stage.
    pub sources: SourceTable,
    /// Fingerprinted SYN / SYN-ACKs by match kind (as index).
    pub matches: [u64; MatchKind::COUNT],
    /// The same by family and match kind, and by label: counted here per packet, so that
    /// the metrics take whole increments once a second instead of a labelled counter
    /// update per packet.
    pub verdicts: VerdictCounts,
    /// Verdicts reached by a middlebox undo, and the rewrites they undid by kind (as
    /// index of [`Rewrite`]).
    pub undone: u64,
    pub rewrites: [u64; Rewrite::COUNT],
    /// Scan detection (its ended scans go to the source table).
    pub scans: ScanTracker,
    /// SYN flood detection, and its start / end events not yet taken
    /// ([`Pipeline::take_flood_events`]).
    pub floods: FloodDetector,
    flood_events: Vec<FloodEvent>,
}

/// Verdicts counted by family and match kind, and by the database's label.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VerdictCounts {
    pub by_family: [[u64; MatchKind::COUNT]; Family::COUNT],
    /// By label id of the current database (a reload starts again at zero).
    pub by_label: Vec<u64>,
    /// No label (unknown).
    pub unlabelled: u64,
    /// Inferred verdicts by their probability's bucket of [`INFERRED_P_BOUNDS`] (the
    /// last: above every bound), and the sum of those probabilities.
    pub inferred_p: [u64; INFERRED_P_BOUNDS.len() + 1],
    pub inferred_p_sum: f64,
}

/// Upper bounds of the buckets of inferred verdicts' probability.
pub const INFERRED_P_BOUNDS: [f64; 7] = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99];

impl VerdictCounts {
    fn for_database(db: &Database) -> VerdictCounts {
        VerdictCounts {
            by_label: vec![0; db.labels.len()],
            ..VerdictCounts::default()
        }
    }

    fn count(&mut self, v: &Verdict<'_>) {
        self.by_family[v.family() as usize][v.kind as usize] += 1;
        match v.label {
            Some(l) => match self.by_label.get_mut(l.id as usize) {
                Some(n) => *n += 1,
                None => {
                    self.by_label.resize(l.id as usize + 1, 0);
                    self.by_label[l.id as usize] = 1;
                }
            },
            None => self.unlabelled += 1,
        }
        if let (MatchKind::Inferred, Some(p)) = (v.kind, v.p) {
            let p = p as f64;
            let b = INFERRED_P_BOUNDS.iter().position(|&le| p <= le);
            self.inferred_p[b.unwrap_or(INFERRED_P_BOUNDS.len())] += 1;
            self.inferred_p_sum += p;
        }
    }
}

/// How many sources in the table have which clock estimate (computed on demand).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockEstimates {
    /// Sources with clock state (some event analysed).
    pub sources: u64,
    /// Sources with a TSval rate.
    pub with_rate: u64,
    /// Sources with a boot time (boot-relative clocks).
    pub with_boot_time: u64,
    /// Sources with more than one machine behind the address.
    pub multi_machine: u64,
}

impl ClockEstimates {
    /// Counts one source's clock summary.
    pub fn count(&mut self, sum: &crate::analysis::clock::ClockSummary) {
        self.sources += 1;
        self.with_rate += sum.clock.hz_raw.is_some() as u64;
        self.with_boot_time += sum.clock.boot_time.is_some() as u64;
        self.multi_machine += (sum.hosts.count > 1) as u64;
    }
}

impl Pipeline {
    /// A pipeline that fingerprints with `db` and keeps at most `max_sources` sources.
    pub fn with_database(db: Arc<Database>, max_sources: usize) -> Self {
        // The detection window's own cap (its per-source target table is the big part),
        // never above the table's.
        let scan = ScanConfig {
            max_sources: max_sources.min(ScanConfig::default().max_sources),
            ..ScanConfig::default()
        };
        Self::configured(db, max_sources, DEFAULT_CLOCK_SOURCES, scan)
    }

    /// Like [`Pipeline::with_database`], with the clock-state cap and scan thresholds.
    pub fn configured(
        db: Arc<Database>,
        max_sources: usize,
        max_clock_sources: usize,
        scan: ScanConfig,
    ) -> Self {
        Pipeline {
            records: 0,
            option_problems: [0; OptionProblem::COUNT],
            verdicts: VerdictCounts::for_database(&db),
            fingerprinter: Fingerprinter::new(db),
            sources: SourceTable::with_clock_cap(max_sources, max_clock_sources),
            matches: [0; MatchKind::COUNT],
            undone: 0,
            rewrites: [0; Rewrite::COUNT],
            floods: FloodDetector::new(scan.syn_flood_rate, scan.syn_flood_quiet_ms),
            flood_events: Vec::new(),
            scans: ScanTracker::new(scan),
        }
    }

    /// A reload: a new database, table cap and scan thresholds; returns the database
    /// as installed. Label ids in the table move to the new database by name; labels it
    /// lacks are carried into it without signatures, so past verdicts keep their names.
    /// Scans ended by a smaller scan cap go to `scan_events`.
    pub fn reconfigure(
        &mut self,
        mut db: Database,
        max_sources: usize,
        max_clock_sources: usize,
        scan: ScanConfig,
        scan_events: &mut Vec<ScanEvent>,
    ) -> Arc<Database> {
        let old = self.fingerprinter.db_arc().clone();
        let key = |l: &Label| (l.display_name(), l.direction, l.class.clone(), l.inferred);
        let mut ids: std::collections::HashMap<_, u32> =
            db.labels.iter().map(|l| (key(l), l.id)).collect();
        self.sources.remap_labels(|id| {
            let l = old.label(id);
            Some(*ids.entry(key(l)).or_insert_with(|| {
                let mut carried = l.clone();
                carried.id = db.labels.len() as u32;
                db.labels.push(carried);
                db.labels.len() as u32 - 1
            }))
        });
        let db = Arc::new(db);
        let config = self.fingerprinter.config;
        self.fingerprinter = Fingerprinter::new(db.clone());
        self.verdicts.by_label = vec![0; db.labels.len()];
        self.fingerprinter.config = config;
        self.sources.set_caps(max_sources, max_clock_sources);
        self.floods
            .set_thresholds(scan.syn_flood_rate, scan.syn_flood_quiet_ms);
        self.scan_stage(scan_events, |t, out| t.reconfigure(scan, out));
        db
    }

    /// Runs `f` on the scan tracker and records the scan events it appends to
    /// `scan_events` in the source table.
    fn scan_stage(
        &mut self,
        scan_events: &mut Vec<ScanEvent>,
        f: impl FnOnce(&mut ScanTracker, &mut Vec<ScanEvent>),
    ) {
        let start = scan_events.len();
        f(&mut self.scans, scan_events);
        for e in &scan_events[start..] {
            self.sources.record_scan(e);
        }
    }

    /// Ends scans idle at `now_ns` (live capture: packets stop, time goes on).
    pub fn expire(&mut self, now_ns: u64, scan_events: &mut Vec<ScanEvent>) {
        self.scan_stage(scan_events, |t, out| t.expire(now_ns, out));
        self.floods.advance(now_ns, &mut self.flood_events);
    }

    /// Closes the SYN-rate seconds before `now_ns` (a flood can end without packets).
    pub fn expire_floods(&mut self, now_ns: u64) {
        self.floods.advance(now_ns, &mut self.flood_events);
    }

    /// Whether SYN flood events wait to be taken.
    pub fn has_flood_events(&self) -> bool {
        !self.flood_events.is_empty()
    }

    /// SYN flood start / end events since the last call.
    pub fn take_flood_events(&mut self) -> std::vec::Drain<'_, FloodEvent> {
        self.flood_events.drain(..)
    }

    /// Every stage for one event: scan detection (start / end events appended to
    /// `scan_events`, ended scans recorded in the source table), fingerprinting of SYN
    /// and SYN-ACKs, then the clock / IP ID state of the event's source (only for
    /// sources in the table, i.e. with a fingerprinted packet or a scan).
    pub fn observe(
        &mut self,
        ev: &Event,
        scan_events: &mut Vec<ScanEvent>,
    ) -> Option<(Signature, Verdict<'_>)> {
        self.scan_stage(scan_events, |t, out| t.observe(ev, out));
        self.floods.observe(ev, &mut self.flood_events);
        let Some(s) = self.fingerprinter.signature(ev) else {
            self.sources.observe_clock(ev);
            return None;
        };
        let v = self.fingerprinter.classify_event(ev, &s);
        self.matches[v.kind as usize] += 1;
        self.verdicts.count(&v);
        if !v.middlebox.is_empty() {
            self.undone += 1;
            for k in v.middlebox.iter() {
                self.rewrites[k as usize] += 1;
            }
        }
        // Fingerprint and clock state in one lookup of the source.
        self.sources.observe_with_clock(ev, &s, &v);
        Some((s, v))
    }

    /// End of input (a file, or shutdown): ends every scan in progress, records them
    /// and appends their end events to `scan_events`.
    pub fn end_of_input(&mut self, scan_events: &mut Vec<ScanEvent>) {
        self.scan_stage(scan_events, |t, out| t.flush(out));
        self.floods.finish(&mut self.flood_events);
    }

    /// Scan counters (started by kind, probes by kind, evictions).
    pub fn scan_counters(&self) -> &ScanCounters {
        &self.scans.counters
    }

    /// Clock counters summed over all sources, evicted ones included.
    pub fn clock_counters(&self) -> ClockCounters {
        self.sources.clock_counters()
    }

    /// Counts of sources by clock estimate. Runs every source's clock analysis: call it
    /// at report time, not per packet.
    pub fn clock_estimates(&self) -> ClockEstimates {
        let mut e = ClockEstimates::default();
        for (_, s) in self.sources.iter() {
            if let Some(c) = &s.clock {
                e.count(&c.summary());
            }
        }
        e
    }

    pub fn process(&mut self, record: &PacketRecord) -> Event {
        let ev = Event::decode(record);
        self.count_decoded(&ev);
        ev
    }

    /// [`Pipeline::process`] into a reused event (the live consumer's path).
    pub fn process_into(&mut self, record: &PacketRecord, ev: &mut Event) {
        ev.decode_into(record);
        self.count_decoded(ev);
    }

    fn count_decoded(&mut self, ev: &Event) {
        self.records += 1;
        for p in ev.options.problems() {
            self.option_problems[p as usize] += 1;
        }
    }

    pub fn option_problem(&self, p: OptionProblem) -> u64 {
        self.option_problems[p as usize]
    }
}
