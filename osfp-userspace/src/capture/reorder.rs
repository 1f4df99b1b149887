//! Capture order across interfaces. Each interface has its own ring buffer, drained on
//! its own schedule, so a SYN-ACK seen on one interface can reach userspace before the
//! SYN it answers, seen on another. Scan detection (answered targets, handshake
//! completion) and the clock fits need capture order, as `osfp pcap` has it. Records
//! are held for [`HOLD`] and released in capture-time order: every ring is drained at
//! least every 10 ms, so a record is late only when userspace is overloaded, and then
//! it is processed late rather than dropped.

use std::{
    cmp::{Ordering, Reverse},
    collections::BinaryHeap,
    time::Duration,
};

use osfp_common::PacketRecord;

/// How long a record waits for earlier ones from other interfaces.
pub const HOLD: Duration = Duration::from_millis(50);
/// Held records beyond which the oldest are released at once (memory bound: 144
/// bytes an entry, the heap's vector up to twice that count, about 300 MB; reached
/// only when userspace falls seconds behind a flood).
pub const MAX_HELD: usize = 1 << 20;

struct Held {
    ts_ns: u64,
    seq: u64,
    rec: PacketRecord,
}

impl PartialEq for Held {
    fn eq(&self, o: &Self) -> bool {
        (self.ts_ns, self.seq) == (o.ts_ns, o.seq)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Held {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.ts_ns, self.seq).cmp(&(o.ts_ns, o.seq))
    }
}

/// A min-heap by capture time; arrival order breaks ties.
#[derive(Default)]
pub struct Reorder {
    heap: BinaryHeap<Reverse<Held>>,
    seq: u64,
}

impl Reorder {
    pub fn push(&mut self, rec: PacketRecord) {
        self.seq += 1;
        self.heap.push(Reverse(Held {
            ts_ns: rec.ts_ns,
            seq: self.seq,
            rec,
        }));
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Records captured before `now_ns - HOLD` (all of them with `now_ns = u64::MAX`),
    /// and the oldest beyond [`MAX_HELD`], oldest first.
    pub fn release(&mut self, now_ns: u64, mut f: impl FnMut(&PacketRecord)) {
        let until = now_ns.saturating_sub(HOLD.as_nanos() as u64);
        while let Some(Reverse(h)) = self.heap.peek() {
            if h.ts_ns > until && self.heap.len() <= MAX_HELD {
                break;
            }
            let Reverse(h) = self.heap.pop().expect("peeked");
            f(&h.rec);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ts: u64, sport: u16) -> PacketRecord {
        let mut r = PacketRecord::zeroed();
        r.ts_ns = ts;
        r.sport = sport;
        r
    }

    #[test]
    fn released_in_capture_order_after_the_hold() {
        let ms = 1_000_000u64;
        let mut q = Reorder::default();
        // Interface A's batch arrives first with later records than B's.
        for (ts, p) in [(100, 1), (130, 2), (160, 3)] {
            q.push(rec(ts * ms, p));
        }
        for (ts, p) in [(110, 4), (130, 5)] {
            q.push(rec(ts * ms, p));
        }
        let mut out = Vec::new();
        q.release(170 * ms, |r| out.push(r.sport));
        assert_eq!(out, [1, 4], "only what is older than the hold");
        q.release(u64::MAX, |r| out.push(r.sport));
        assert_eq!(out, [1, 4, 2, 5, 3], "time order, ties in arrival order");
        assert!(q.is_empty());
    }
}
