//! The one pipeline both sources feed: record -> decoded event (-> later stages), with
//! counters of what the decoder found wrong.

use std::sync::Arc;

use osfp_common::PacketRecord;

use crate::{
    event::Event,
    fingerprint::{Database, Fingerprinter, Signature, SourceTable, Verdict},
    options::OptionProblem,
};

#[derive(Default)]
pub struct Pipeline {
    pub records: u64,
    /// Option-list problems by [`OptionProblem`] (as index).
    pub option_problems: [u64; OptionProblem::ALL.len()],
    /// Fingerprinting stage, when a database is loaded.
    pub fingerprinter: Option<Fingerprinter>,
    /// Per-source table, fed by the fingerprinting stage.
    pub sources: Option<SourceTable>,
    /// Fingerprinted SYN / SYN-ACKs by match kind (exact, generic, fuzzy, unknown).
    pub matches: [u64; 4],
}

impl Pipeline {
    pub fn new() -> Self {
        Self::default()
    }

    /// A pipeline that fingerprints with `db` and keeps at most `max_sources` sources.
    pub fn with_database(db: Arc<Database>, max_sources: usize) -> Self {
        Pipeline {
            fingerprinter: Some(Fingerprinter::new(db)),
            sources: Some(SourceTable::new(max_sources)),
            ..Self::default()
        }
    }

    /// Fingerprints a SYN or SYN-ACK event, classifies it and updates the source
    /// table; `None` for other events or without a database.
    pub fn fingerprint(&mut self, ev: &Event) -> Option<(Signature, Verdict<'_>)> {
        let fp = self.fingerprinter.as_mut()?;
        let s = fp.signature(ev)?;
        let v = self.fingerprinter.as_ref()?.classify(&s);
        self.matches[v.kind as usize] += 1;
        if let Some(t) = self.sources.as_mut() {
            t.observe(ev.src, ev.ts_ns, &s, &v);
        }
        Some((s, v))
    }

    pub fn process(&mut self, record: &PacketRecord) -> Event {
        let ev = Event::decode(record);
        self.records += 1;
        for p in ev.options.problems() {
            self.option_problems[p as usize] += 1;
        }
        ev
    }

    pub fn option_problem(&self, p: OptionProblem) -> u64 {
        self.option_problems[p as usize]
    }
}
