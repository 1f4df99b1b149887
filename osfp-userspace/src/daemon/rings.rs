//! The ring buffers of `osfp run`, read by the consumer loop itself (no reader task, no
//! channel, no allocation per batch): a bounded number of records per ring and turn, so
//! that API queries and timers are answered between turns.
//!
//! A turn first copies the batch out of the ring into one reused buffer, then hands the
//! records to the pipeline. Reading them in place was measured slower (bench-live: the
//! most consumed fell from ~3.4 to ~2.9 M records/s): the kernel wrote them from another
//! core, and one tight copy loop takes those cache misses many at a time, where the
//! pipeline would take them one by one between its own work.

use std::{future::poll_fn, io, task::Poll};

use aya::maps::{MapData, RingBuf};
use osfp_common::PacketRecord;
use tokio::io::unix::AsyncFd;

/// Records taken from one ring buffer per turn of the consumer loop.
pub const BATCH: usize = 1024;

/// The rings of every attached interface, in interface order.
pub struct Rings {
    rings: Vec<AsyncFd<RingBuf<MapData>>>,
    /// One ring's batch, copied out of the ring.
    batch: Vec<PacketRecord>,
}

/// What one turn read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Turn {
    pub records: usize,
    /// Entries of the wrong size (not a record), skipped.
    pub bad_size: usize,
    /// Some ring gave a full batch: there may be more waiting (take another turn
    /// without waiting for a wake-up).
    pub more: bool,
}

impl Rings {
    pub fn new(rings: Vec<RingBuf<MapData>>) -> io::Result<Rings> {
        let rings = rings
            .into_iter()
            // SAFETY: the ring buffer owns its map fd, which stays open and unchanged
            // until the AsyncFd (and the RingBuf inside it) is dropped.
            .map(|r| unsafe { AsyncFd::register(r) }.map_err(io::Error::from))
            .collect::<io::Result<_>>()?;
        Ok(Rings {
            rings,
            batch: Vec::with_capacity(BATCH),
        })
    }

    /// Waits until the kernel signals new data in some ring (records submitted with
    /// BPF_RB_NO_WAKEUP signal nothing: the caller also takes a turn on a timer).
    pub async fn readable(&self) -> io::Result<()> {
        poll_fn(|cx| {
            let mut ready = false;
            for r in &self.rings {
                match r.poll_read_ready(cx) {
                    Poll::Ready(Ok(mut g)) => {
                        g.clear_ready();
                        ready = true;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {}
                }
            }
            if ready {
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            }
        })
        .await
    }

    /// Up to `max` records from each ring, in ring order, each given to `f` (the
    /// kernel's monotonic capture time unchanged).
    pub fn turn(&mut self, max: usize, mut f: impl FnMut(&PacketRecord)) -> Turn {
        let mut t = Turn::default();
        for r in &mut self.rings {
            self.batch.clear();
            let (n, bad) = read(r.get_mut(), max, |rec| self.batch.push(rec));
            self.batch.iter().for_each(&mut f);
            t.records += n;
            t.bad_size += bad;
            t.more |= n + bad == max;
        }
        t
    }

    /// Everything left in every ring (after the programs are detached, so it ends).
    pub fn last_turn(&mut self, mut f: impl FnMut(&PacketRecord)) -> Turn {
        let mut total = Turn::default();
        loop {
            let t = self.turn(BATCH, &mut f);
            total.records += t.records;
            total.bad_size += t.bad_size;
            if !t.more {
                return total;
            }
        }
    }
}

/// Reads up to `max` entries of one ring; returns the records and the entries of the
/// wrong size (counted, never fatal).
fn read(
    ring: &mut RingBuf<MapData>,
    max: usize,
    mut f: impl FnMut(PacketRecord),
) -> (usize, usize) {
    let (mut n, mut bad) = (0, 0);
    while n + bad < max {
        let Some(item) = ring.next() else { break };
        match PacketRecord::from_bytes(&item) {
            Some(r) => {
                f(r);
                n += 1;
            }
            None => bad += 1,
        }
    }
    (n, bad)
}
