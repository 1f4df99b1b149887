//! Line output of events: human-readable text or NDJSON.

use std::io::{self, Write};

use crate::event::Event;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

pub struct Output<W: Write> {
    out: W,
    format: Format,
}

impl<W: Write> Output<W> {
    pub fn new(out: W, format: Format) -> Self {
        Output { out, format }
    }

    pub fn event(&mut self, ev: &Event) -> io::Result<()> {
        match self.format {
            Format::Text => writeln!(self.out, "{}", ev.to_text()),
            Format::Json => {
                serde_json::to_writer(&mut self.out, &ev.to_json())?;
                self.out.write_all(b"\n")
            }
        }
    }

    /// A line written as is (e.g. a scan event's NDJSON).
    pub fn line(&mut self, line: &str) -> io::Result<()> {
        writeln!(self.out, "{line}")
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
