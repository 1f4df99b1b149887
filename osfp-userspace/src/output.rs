//! Line output of events: human-readable text or NDJSON.

use std::io::{self, Write};

use crate::{
    event::Event,
    fingerprint::{json, Database, Signature, Verdict},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

pub struct Output<W: Write> {
    out: W,
    format: Format,
    /// One JSON line is serialised here, then written at once: serde_json's many small
    /// writes are much cheaper into a `Vec` than through a `BufWriter`.
    line: Vec<u8>,
}

impl<W: Write> Output<W> {
    pub fn new(out: W, format: Format) -> Self {
        Output {
            out,
            format,
            line: Vec::with_capacity(1024),
        }
    }

    /// Serialises `v` as one line and writes it.
    fn write_json(&mut self, v: &impl serde::Serialize) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, v)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)
    }

    pub fn event(&mut self, ev: &Event) -> io::Result<()> {
        match self.format {
            Format::Text => writeln!(self.out, "{}", ev.to_text()),
            Format::Json => self.write_json(&ev.to_json()),
        }
    }

    /// A SYN / SYN-ACK with its fingerprint and verdict.
    pub fn event_fingerprinted(
        &mut self,
        ev: &Event,
        db: &Database,
        s: &Signature,
        v: &Verdict<'_>,
    ) -> io::Result<()> {
        match self.format {
            Format::Text => writeln!(self.out, "{}{}", ev.to_text(), json::text_suffix(s, v)),
            Format::Json => {
                let mut j = ev.to_json();
                j.signature = Some(s.p0f().to_string());
                // Nearest candidates are found here, for printed verdicts only.
                j.os = Some(json::os_json(&v.with_candidates(db, s)));
                j.tcp_fp = Some(json::tcp_fp_json(db, ev, s, v));
                #[cfg(feature = "ja4t")]
                let r = {
                    let fp = crate::ja4t::ja4t(&ev.record);
                    let (ja4t, ja4ts) = if ev.is_syn() {
                        (Some(fp), None)
                    } else {
                        (None, Some(fp))
                    };
                    let j = WithJa4t {
                        ev: &j,
                        ja4t,
                        ja4ts,
                    };
                    self.write_json(&j)
                };
                #[cfg(not(feature = "ja4t"))]
                let r = self.write_json(&j);
                r
            }
        }
    }

    /// Any serializable line (summaries).
    pub fn json_line(&mut self, v: &impl serde::Serialize) -> io::Result<()> {
        self.write_json(v)
    }

    /// A text line.
    pub fn text_line(&mut self, s: &str) -> io::Result<()> {
        writeln!(self.out, "{s}")
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A record with its JA4T (SYN) or JA4TS (SYN-ACK) string.
#[cfg(feature = "ja4t")]
#[derive(serde::Serialize)]
struct WithJa4t<'a> {
    #[serde(flatten)]
    ev: &'a crate::event::EventJson,
    #[serde(skip_serializing_if = "Option::is_none")]
    ja4t: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ja4ts: Option<String>,
}
