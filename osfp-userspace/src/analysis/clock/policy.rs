//! How a source sets its TSval offsets, judged from pairs of its connections:
//! Linux up to 4.10 (and many other stacks) count from boot, so every connection lies
//! on one line; Linux 4.11+ adds a per address-pair offset (one line per peer); Linux
//! 4.10 and again since 2026 (6.12.y backport) a per-connection offset (no shared line).
//! Random offsets make "boot time" meaningless, so it is only ever reported for
//! `BootRelative`.

use std::net::IpAddr;

use serde::Serialize;

use super::fit::TS_PERIOD;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OffsetPolicy {
    /// Connections to different peers share one clock line: TSval counts from boot.
    BootRelative,
    /// One line per peer address, different lines for different peers.
    PerPeer,
    /// Connections to the same peer lie on different lines.
    PerConnection,
    /// Not enough connections (or only one peer) to tell.
    Unknown,
}

/// One connection as the cross-connection analysis sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConnLine {
    pub peer: IpAddr,
    pub sport: u16,
    pub dport: u16,
    /// Service port served (SYN-ACK sender) or used (SYN sender).
    pub port: u16,
    /// Rate group's rate (Hz) used for `offset`.
    pub hz: f64,
    /// Capture time minus TSval/hz at the connection's start (unix seconds): the boot
    /// time if the clock is boot-relative, a random value otherwise.
    pub offset: f64,
    pub first_s: f64,
    pub last_s: f64,
}

/// Tolerance (s) for two connections to be on the same line: capture delay (Wi-Fi
/// power saving holds frames for tens of ms), two ticks, and 100 ppm clock skew over
/// the time between them. Random offsets spread over 2^32 ticks (49.7 days at
/// 1000 Hz), so a chance match stays negligible.
pub fn tolerance(a: &ConnLine, b: &ConnLine) -> f64 {
    0.1 + 2.0 / a.hz.min(b.hz) + 1e-4 * (a.first_s - b.first_s).abs()
}

/// Offset difference modulo the clock's 32-bit period (a clock that wrapped between
/// two connections is still the same clock).
pub fn offset_distance(a: &ConnLine, b: &ConnLine) -> f64 {
    let p = TS_PERIOD / a.hz;
    let d = (a.offset - b.offset).rem_euclid(p);
    d.min(p - d)
}

pub fn same_line(a: &ConnLine, b: &ConnLine) -> bool {
    a.hz == b.hz && offset_distance(a, b) <= tolerance(a, b)
}

/// Pair counts by (same peer?, same line?).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub same_peer_same_line: u32,
    pub same_peer_other_line: u32,
    pub cross_peer_same_line: u32,
    pub cross_peer_other_line: u32,
}

/// Counts pairs within the same rate group; a reused 4-tuple is not a new connection
/// for this purpose (stacks that hash ports into the offset repeat it).
pub fn evidence(conns: &[ConnLine]) -> Evidence {
    let mut e = Evidence::default();
    for (i, a) in conns.iter().enumerate() {
        for b in &conns[i + 1..] {
            if a.hz != b.hz || (a.peer == b.peer && a.sport == b.sport && a.dport == b.dport) {
                continue;
            }
            let same = same_line(a, b);
            let slot = match (a.peer == b.peer, same) {
                (true, true) => &mut e.same_peer_same_line,
                (true, false) => &mut e.same_peer_other_line,
                (false, true) => &mut e.cross_peer_same_line,
                (false, false) => &mut e.cross_peer_other_line,
            };
            *slot = slot.saturating_add(1);
        }
    }
    e
}

pub fn decide(e: &Evidence) -> OffsetPolicy {
    if e.cross_peer_same_line > 0 {
        // Random offsets toward different peers essentially never coincide (2^32 ticks).
        OffsetPolicy::BootRelative
    } else if e.same_peer_same_line > 0 && e.cross_peer_other_line > 0 {
        OffsetPolicy::PerPeer
    } else if e.same_peer_other_line > 0 && e.same_peer_same_line == 0 {
        OffsetPolicy::PerConnection
    } else {
        OffsetPolicy::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(peer: u8, sport: u16, offset: f64, first_s: f64) -> ConnLine {
        ConnLine {
            peer: IpAddr::from([10, 0, 0, peer]),
            sport,
            dport: 80,
            port: 80,
            hz: 1000.0,
            offset,
            first_s,
            last_s: first_s + 1.0,
        }
    }

    #[test]
    fn decisions() {
        let boot = [line(1, 1, 5.0, 100.0), line(2, 2, 5.01, 200.0)];
        assert_eq!(decide(&evidence(&boot)), OffsetPolicy::BootRelative);
        let peer = [
            line(1, 1, 5.0, 100.0),
            line(1, 2, 5.0, 110.0),
            line(2, 3, 9e5, 120.0),
        ];
        assert_eq!(decide(&evidence(&peer)), OffsetPolicy::PerPeer);
        let conn = [line(1, 1, 5.0, 100.0), line(1, 2, 7e5, 110.0)];
        assert_eq!(decide(&evidence(&conn)), OffsetPolicy::PerConnection);
        // Only one peer, one line: boot-relative or per peer, cannot tell.
        let one = [line(1, 1, 5.0, 100.0), line(1, 2, 5.0, 110.0)];
        assert_eq!(decide(&evidence(&one)), OffsetPolicy::Unknown);
        // A reused 4-tuple is not evidence.
        let reuse = [line(1, 1, 5.0, 100.0), line(1, 1, 5.0, 110.0)];
        assert_eq!(evidence(&reuse), Evidence::default());
        assert_eq!(decide(&evidence(&[])), OffsetPolicy::Unknown);
    }

    #[test]
    fn wrapped_clock_is_the_same_line() {
        let p = TS_PERIOD / 1000.0;
        let a = line(1, 1, 1_000.0, 100.0);
        let b = line(2, 2, 1_000.0 + p + 0.01, 200.0);
        assert!(same_line(&a, &b));
        assert!(!same_line(&a, &line(2, 2, 1_001.0, 200.0)));
    }
}
