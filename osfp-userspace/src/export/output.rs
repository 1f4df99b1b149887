//! Line output of events: human-readable text or NDJSON.

use std::io::{self, Write};

use super::record::{text_line, write_json, Fingerprinted};
use crate::{
    analysis::fingerprint::{Database, Signature, Verdict},
    decode::Event,
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
        self.record(ev, None)
    }

    /// A SYN / SYN-ACK with its fingerprint and verdict.
    pub fn event_fingerprinted(
        &mut self,
        ev: &Event,
        db: &Database,
        sig: &Signature,
        verdict: &Verdict<'_>,
    ) -> io::Result<()> {
        self.record(ev, Some(Fingerprinted { db, sig, verdict }))
    }

    fn record(&mut self, ev: &Event, fp: Option<Fingerprinted<'_>>) -> io::Result<()> {
        match self.format {
            Format::Text => writeln!(self.out, "{}", text_line(ev, fp)),
            Format::Json => {
                self.line.clear();
                write_json(&mut self.line, ev, fp);
                self.line.push(b'\n');
                self.out.write_all(&self.line)
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

impl<W: Write> Output<W> {
    /// The writer underneath.
    pub fn writer(&self) -> &W {
        &self.out
    }
}

/// stdout behind a writer thread and a bounded queue, for `osfp run`: a slow or paused
/// reader of stdout must not stall packet processing, metrics and signals. A flush hands
/// the buffered lines to the thread; when its queue is full they are dropped and counted.
pub struct StdoutPipe {
    buf: Vec<u8>,
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    /// Closed by the thread when it has written everything.
    done: std::sync::mpsc::Receiver<()>,
    /// Lines dropped because the queue was full.
    pub dropped_lines: u64,
}

impl StdoutPipe {
    /// Batches (flushes) that may wait for the writer thread.
    pub const QUEUE: usize = 256;

    pub fn new() -> StdoutPipe {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(Self::QUEUE);
        let (done_tx, done) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            // fd 1 itself, not `io::stdout()`: a write blocked on a full pipe would hold
            // std's stdout lock, which the process takes again at exit.
            use std::os::fd::FromRawFd;
            // SAFETY: fd 1 is open for the life of the process; ManuallyDrop never
            // closes it.
            let mut out = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(1) });
            for b in rx {
                // A closed stdout is not our problem to report per line.
                let _ = out.write_all(&b);
            }
            drop(done_tx);
        });
        StdoutPipe {
            buf: Vec::new(),
            tx: Some(tx),
            done,
            dropped_lines: 0,
        }
    }
}

impl Default for StdoutPipe {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for StdoutPipe {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let b = std::mem::take(&mut self.buf);
        if let Some(tx) = &self.tx {
            if let Err(std::sync::mpsc::TrySendError::Full(b)) = tx.try_send(b) {
                self.dropped_lines += b.iter().filter(|c| **c == b'\n').count() as u64;
            }
        }
        Ok(())
    }
}

impl Drop for StdoutPipe {
    /// Hands over what is left and gives the thread 2 s to write it all: a reader that
    /// stopped reading must not keep the process from exiting.
    fn drop(&mut self) {
        let _ = self.flush();
        self.tx = None;
        let _ = self.done.recv_timeout(std::time::Duration::from_secs(2));
    }
}
