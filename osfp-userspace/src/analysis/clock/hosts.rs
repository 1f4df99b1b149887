//! Machines behind one address (tmap's method): connections whose clocks lie on one
//! line (same rate, same offset) come from one machine; several lines mean several
//! machines (NAT, load balancer).

use serde::Serialize;

use super::{
    fit::TS_PERIOD,
    policy::{offset_distance, tolerance, ConnLine},
};

/// Connections on one clock line.
#[derive(Clone, Debug, PartialEq)]
pub struct Cluster {
    pub hz: f64,
    /// Indices into the slice given to [`cluster`].
    pub members: Vec<usize>,
    /// Median offset (s), in the epoch of the most recent member (the clock may have
    /// wrapped since older ones).
    pub offset: f64,
}

/// Single-linkage clustering of `idx` by offset within each rate, circular modulo the
/// 32-bit period. Largest clusters first.
pub fn cluster(conns: &[ConnLine], idx: &[usize]) -> Vec<Cluster> {
    let mut rates: Vec<f64> = idx.iter().map(|&i| conns[i].hz).collect();
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    let mut out = Vec::new();
    for hz in rates {
        let p = TS_PERIOD / hz;
        let mut g: Vec<usize> = idx.iter().copied().filter(|&i| conns[i].hz == hz).collect();
        g.sort_by(|&a, &b| {
            conns[a]
                .offset
                .rem_euclid(p)
                .total_cmp(&conns[b].offset.rem_euclid(p))
        });
        let near = |a: usize, b: usize| {
            offset_distance(&conns[a], &conns[b]) <= tolerance(&conns[a], &conns[b])
        };
        let mut runs: Vec<Vec<usize>> = Vec::new();
        for &i in &g {
            match runs.last_mut() {
                Some(r) if near(*r.last().unwrap(), i) => r.push(i),
                _ => runs.push(vec![i]),
            }
        }
        // The first and last runs meet across the period boundary.
        if runs.len() > 1 {
            let first = runs[0][0];
            let last = *runs.last().unwrap().last().unwrap();
            if near(first, last) {
                let tail = runs.pop().unwrap();
                runs[0].extend(tail);
            }
        }
        for members in runs {
            let newest = *members
                .iter()
                .max_by(|&&a, &&b| conns[a].first_s.total_cmp(&conns[b].first_s))
                .unwrap();
            let reference = conns[newest].offset;
            let mut offs: Vec<f64> = members
                .iter()
                .map(|&i| {
                    let d = (conns[i].offset - reference + p / 2.0).rem_euclid(p) - p / 2.0;
                    reference + d
                })
                .collect();
            offs.sort_by(f64::total_cmp);
            let offset = offs[offs.len() / 2];
            out.push(Cluster {
                hz,
                members,
                offset,
            });
        }
    }
    out.sort_by_key(|c| std::cmp::Reverse(c.members.len()));
    out
}

/// One machine in the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Machine {
    pub hz: f64,
    /// Unix seconds; only for boot-relative clocks seen toward two or more peers.
    pub boot_time: Option<f64>,
    /// Share of the source's analysed connections.
    pub share: f64,
    pub connections: u32,
    /// Service ports it serves (SYN-ACKs) or uses (SYNs), most used first, bounded.
    pub ports: Vec<u16>,
}

/// What the machine count rests on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Stable clock lines (boot-relative, or per peer seen toward one peer).
    ClockLines,
    /// Random offsets: only distinct rates separate machines (a lower bound).
    RatesOnly,
    /// No timestamps.
    None,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Hosts {
    pub count: u32,
    pub basis: Basis,
    pub machines: Vec<Machine>,
}

/// The `max` most frequent ports, ties by port number.
pub fn top_ports(ports: impl IntoIterator<Item = u16>, max: usize) -> Vec<u16> {
    let mut counts: Vec<(u16, u32)> = Vec::new();
    for p in ports {
        match counts.iter_mut().find(|(q, _)| *q == p) {
            Some((_, n)) => *n += 1,
            None => counts.push((p, 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    counts.into_iter().take(max).map(|(p, _)| p).collect()
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    fn line(peer: u8, hz: f64, offset: f64, first_s: f64) -> ConnLine {
        ConnLine {
            peer: IpAddr::from([10, 0, 0, peer]),
            sport: peer as u16,
            dport: 80,
            port: 80,
            hz,
            offset,
            first_s,
            last_s: first_s,
        }
    }

    #[test]
    fn clusters_by_rate_and_offset() {
        let p = TS_PERIOD / 1000.0;
        let conns = [
            line(1, 1000.0, 100.0, 10.0),
            line(2, 1000.0, 100.02, 20.0),
            line(3, 1000.0, 100.0 + p, 30.0), // wrapped since: same machine
            line(4, 1000.0, 5000.0, 40.0),
            line(5, 100.0, 100.0, 50.0), // same offset, other rate: other machine
        ];
        let c = cluster(&conns, &[0, 1, 2, 3, 4]);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].members.len(), 3);
        // Reported in the newest member's epoch.
        assert!((c[0].offset - (100.0 + p)).abs() < 0.05, "{}", c[0].offset);
    }

    #[test]
    fn ports_bounded_and_ordered() {
        assert_eq!(top_ports([80, 443, 443, 25, 80, 443], 2), vec![443, 80]);
        assert_eq!(top_ports([], 8), Vec::<u16>::new());
    }
}
