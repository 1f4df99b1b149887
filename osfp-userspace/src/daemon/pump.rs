//! The ring pump: moves records from one interface's ring buffer to the consumer loop in
//! batches, and drains the ring one last time when told to stop.

use std::io;

use anyhow::Result;
use aya::maps::{MapData, RingBuf};
use osfp_common::PacketRecord;
use tokio::{
    io::unix::AsyncFd,
    sync::{mpsc, watch},
    time::interval,
};

use crate::capture::xdp::{self, MonoToUnix, POLL_INTERVAL};

/// Records handed from a ring buffer to the consumer loop at a time.
pub const BATCH: usize = 1024;
/// Batches in flight; when the loop falls behind, records wait in the ring buffer,
/// and the kernel counts what no longer fits there.
pub const BATCHES_IN_FLIGHT: usize = 64;

/// Records drained from one ring buffer.
pub struct Batch {
    pub records: Vec<PacketRecord>,
    /// Entries of the wrong size (not a record), skipped.
    pub bad_size: usize,
}

/// Moves records from `ring` to `tx` until the loop hangs up or `stop` turns true (then
/// one last drain). Records keep the kernel's monotonic capture time: the loop orders
/// interfaces on it and converts to Unix time once, with one clock (a wall-clock step
/// cannot hold or misorder records).
pub async fn pump(
    ring: RingBuf<MapData>,
    tx: mpsc::Sender<Batch>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    // SAFETY: the ring buffer owns its map fd, which stays open and unchanged until the
    // AsyncFd (and the RingBuf inside it) is dropped.
    let mut ring = unsafe { AsyncFd::register(ring) }.map_err(io::Error::from)?;
    let mut tick = interval(POLL_INTERVAL);
    let raw = MonoToUnix::identity();
    loop {
        let last = tokio::select! {
            g = ring.readable_mut() => { g?.clear_ready(); false }
            _ = tick.tick() => false,
            _ = stop.changed() => true,
        };
        loop {
            let mut records = Vec::with_capacity(BATCH);
            let (n, bad_size) = xdp::drain(ring.get_mut(), &raw, BATCH, |r| records.push(r));
            if n + bad_size == 0 {
                break;
            }
            if tx.send(Batch { records, bad_size }).await.is_err() {
                return Ok(());
            }
            if n + bad_size < BATCH {
                break;
            }
        }
        if last {
            return Ok(());
        }
    }
}
