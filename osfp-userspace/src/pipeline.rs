//! The one pipeline both sources feed: record -> decoded event (-> later stages), with
//! counters of what the decoder found wrong.

use osfp_common::PacketRecord;

use crate::{event::Event, options::OptionProblem};

#[derive(Default)]
pub struct Pipeline {
    pub records: u64,
    /// Option-list problems by [`OptionProblem`] (as index).
    pub option_problems: [u64; OptionProblem::ALL.len()],
}

impl Pipeline {
    pub fn new() -> Self {
        Self::default()
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
