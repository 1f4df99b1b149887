//! Line output of events: human-readable text or NDJSON.

use std::{
    collections::HashMap,
    io::{self, Write},
    sync::{
        mpsc::{channel, sync_channel, Receiver, SyncSender},
        Arc,
    },
    thread::JoinHandle,
};

use super::record::{text_line, write_json, Fingerprinted};
use crate::{
    analysis::fingerprint::{Candidate, Database, MatchKind, Signature, StoredVerdict, Verdict},
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
    nearest: NearestCache,
}

/// The nearest candidates printed with unknown verdicts, by signature: the search reads
/// every signature of the direction (a tenth of `pcap --json`'s time), and the same
/// unknown stack comes back packet after packet. Keyed by the fields
/// `matcher::similarity` reads (not TSval or header length); emptied when full or when
/// the database changes.
#[derive(Default)]
struct NearestCache {
    db: u64,
    map: HashMap<Signature, NearestIds, ahash::RandomState>,
}

/// Up to three candidates as (label id, signature line, score).
type NearestIds = [Option<(u32, u32, f32)>; 3];

impl NearestCache {
    const CAP: usize = 4096;

    fn with_candidates<'db>(
        &mut self,
        db: &'db Database,
        s: &Signature,
        v: Verdict<'db>,
    ) -> Verdict<'db> {
        if v.kind != MatchKind::Unknown {
            return v;
        }
        if self.db != db.instance || self.map.len() >= Self::CAP {
            self.map.clear();
            self.db = db.instance;
        }
        let mut key = *s;
        key.ts1 = 0;
        key.tot_hdr = 0;
        let found = *self.map.entry(key).or_insert_with(|| {
            db.nearest(s)
                .map(|c| c.map(|c| (c.label.id, c.line, c.score)))
        });
        let mut v = v;
        v.candidates = found.map(|c| {
            c.map(|(label, line, score)| Candidate {
                label: db.label(label),
                line,
                score,
            })
        });
        v
    }
}

impl<W: Write> Output<W> {
    pub fn new(out: W, format: Format) -> Self {
        Output {
            out,
            format,
            line: Vec::with_capacity(1024),
            nearest: NearestCache::default(),
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
                let v;
                let fp = match fp {
                    Some(f) if f.verdict.kind == MatchKind::Unknown => {
                        v = self.nearest.with_candidates(f.db, f.sig, *f.verdict);
                        Some(Fingerprinted { verdict: &v, ..f })
                    }
                    fp => fp,
                };
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

/// One line for [`OutputThread`], owned: a record (with its signature and verdict when
/// fingerprinted) or a ready text line. Nearly every line is a record: boxing them
/// would allocate per record to save queue space for rare text lines.
#[allow(clippy::large_enum_variant)]
enum Line {
    Record(Event, Option<(Signature, StoredVerdict)>),
    Text(String),
}

/// An [`Output`] on a thread of its own, for `osfp pcap`: the capture is read and
/// fingerprinted on one core while its lines are formatted and written on another
/// (formatting JSON costs more than fingerprinting). Lines go in batches through a
/// bounded queue, so they keep their order and the reader waits when the writer is
/// behind; emptied batches come back for reuse. The first write error stops the
/// writer; [`Self::finish`] returns it.
pub struct OutputThread<W: Write + Send + 'static> {
    batch: Vec<Line>,
    tx: Option<SyncSender<Vec<Line>>>,
    spare: Receiver<Vec<Line>>,
    thread: JoinHandle<(Output<W>, io::Result<()>)>,
}

impl<W: Write + Send + 'static> OutputThread<W> {
    const BATCH: usize = 256;

    pub fn spawn(mut out: Output<W>, db: Arc<Database>) -> OutputThread<W> {
        let (tx, rx) = sync_channel::<Vec<Line>>(8);
        let (spare_tx, spare) = channel::<Vec<Line>>();
        let thread = std::thread::Builder::new()
            .name("osfp-output".into())
            .spawn(move || {
                for mut batch in rx {
                    for line in batch.drain(..) {
                        let r = match line {
                            Line::Record(ev, None) => out.event(&ev),
                            Line::Record(ev, Some((s, v))) => {
                                out.event_fingerprinted(&ev, &db, &s, &v.resolve(&db))
                            }
                            Line::Text(t) => out.text_line(&t),
                        };
                        if let Err(e) = r {
                            return (out, Err(e));
                        }
                    }
                    let _ = spare_tx.send(batch);
                }
                (out, Ok(()))
            })
            .expect("spawning the output thread");
        OutputThread {
            batch: Vec::with_capacity(Self::BATCH),
            tx: Some(tx),
            spare,
            thread,
        }
    }

    /// A record, fingerprinted or not, as [`Output::event_fingerprinted`] or
    /// [`Output::event`] writes it.
    pub fn record(&mut self, ev: Event, fp: Option<(&Signature, &Verdict<'_>)>) {
        self.push(Line::Record(ev, fp.map(|(s, v)| (*s, v.stored()))));
    }

    pub fn text_line(&mut self, line: String) {
        self.push(Line::Text(line));
    }

    /// The writer has stopped on an error (lines given now are dropped).
    pub fn failed(&self) -> bool {
        self.tx.is_none()
    }

    fn push(&mut self, line: Line) {
        if self.tx.is_none() {
            return;
        }
        self.batch.push(line);
        if self.batch.len() >= Self::BATCH {
            self.send();
        }
    }

    fn send(&mut self) {
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(Self::BATCH));
        let full = std::mem::replace(&mut self.batch, next);
        if let Some(tx) = &self.tx {
            if tx.send(full).is_err() {
                // The writer returned on an error: `finish` reports it.
                self.tx = None;
            }
        }
    }

    /// Writes what is left and gives the output back (for summaries and the flush),
    /// with the first write error if there was one.
    pub fn finish(mut self) -> (Output<W>, io::Result<()>) {
        if !self.batch.is_empty() {
            self.send();
        }
        drop(self.tx.take());
        self.thread
            .join()
            .expect("the output thread does not panic")
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

#[cfg(test)]
mod tests {
    use osfp_common::{reason, tcp_flag, PacketRecord};

    use super::*;
    use crate::analysis::fingerprint::DEFAULT_DB;

    /// An IPv4 SYN no signature takes (window 3, MSS 1000, TTL 50, one option).
    fn odd_syn(tsval: u32) -> Signature {
        let mut r = PacketRecord::zeroed();
        r.family = 4;
        r.reason = reason::SYN;
        r.ttl = 50;
        r.ip_len = 52;
        r.ip_id = 7;
        r.seq = 1;
        r.tcp_flags = tcp_flag::SYN;
        r.window = 3;
        let opts = [2, 4, 0x03, 0xe8, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0];
        r.options[..opts.len()].copy_from_slice(&opts);
        r.options[6..10].copy_from_slice(&tsval.to_be_bytes());
        r.opt_len = opts.len() as u8;
        r.doff = 5 + opts.len().div_ceil(4) as u8;
        Signature::from_event(&Event::decode(&r), 0).expect("a SYN")
    }

    #[test]
    fn cached_candidates_are_the_databases_and_follow_a_new_database() {
        let db = Database::parse(DEFAULT_DB, "osfp.fp").unwrap();
        let mut cache = NearestCache::default();
        let first = odd_syn(1000);
        let v = db.classify(&first, false);
        assert_eq!(v.kind, MatchKind::Unknown);
        let want = db.nearest(&first);
        assert!(want[0].is_some());
        assert_eq!(cache.with_candidates(&db, &first, v).candidates, want);
        // Another TSval is the same entry, answered from the cache with the same list.
        let again = odd_syn(99_999);
        assert_eq!(cache.map.len(), 1);
        assert_eq!(
            cache
                .with_candidates(&db, &again, db.classify(&again, false))
                .candidates,
            db.nearest(&again)
        );
        assert_eq!(cache.map.len(), 1);
        // Another database (one label only): its own candidates, the old entries gone.
        let small = Database::parse(
            "classes = unix\n[tcp:request]\nlabel = s:unix:Only:1\nsig = *:64:0:*:mss*10,0:mss:df:0\n",
            "small.fp",
        )
        .unwrap();
        let got = cache
            .with_candidates(&small, &first, small.classify(&first, false))
            .candidates;
        assert_eq!(got, small.nearest(&first));
        assert_eq!(got[0].map(|c| c.label.name.as_str()), Some("Only"));
        assert_eq!(cache.db, small.instance);
    }
}
