//! The pcap path's twin of the XDP program: the same parse, the same selection rules,
//! the same [`PacketRecord`] out. The parity test runs both over corpus frames and
//! compares the records byte for byte; keep the two in step.

use std::num::NonZeroUsize;

use lru::LruCache;
use osfp_common::{
    counter, ip_flag, reason, rec_flag, tcp_flag, ts_option_offset, tunable, FlowKey, FlowState,
    Malformed, PacketRecord, MAX_IPV6_EXT_BYTES, MAX_IPV6_EXT_HEADERS, MAX_TCP_OPTION_BYTES,
    MAX_VLAN_TAGS,
};

/// Link types a capture file may have (pcap LINKTYPE_* numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    Ethernet,
    /// Linux cooked capture v1 (16-byte header).
    LinuxSll,
    /// Linux cooked capture v2 (20-byte header).
    LinuxSll2,
    /// Raw IPv4 or IPv6, version from the first nibble.
    RawIp,
    Ipv4,
    Ipv6,
    /// BSD loopback: 4-byte address family in host order of the capturing machine.
    Null,
    /// OpenBSD loopback: 4-byte address family, network order.
    Loop,
}

impl Link {
    pub fn from_linktype(lt: u32) -> Option<Self> {
        Some(match lt {
            1 => Link::Ethernet,
            113 => Link::LinuxSll,
            276 => Link::LinuxSll2,
            12 | 14 | 101 => Link::RawIp,
            228 => Link::Ipv4,
            229 => Link::Ipv6,
            0 => Link::Null,
            108 => Link::Loop,
            _ => return None,
        })
    }
}

/// Selection tunables; the same defaults as the XDP program's globals.
#[derive(Clone, Copy, Debug)]
pub struct SelectConfig {
    pub ts_sample_interval_ns: u64,
    pub ts_sample_max_per_flow: u32,
    pub flow_entries: usize,
}

impl Default for SelectConfig {
    fn default() -> Self {
        SelectConfig {
            ts_sample_interval_ns: tunable::DEFAULT_TS_SAMPLE_INTERVAL_NS,
            ts_sample_max_per_flow: tunable::DEFAULT_TS_SAMPLE_MAX_PER_FLOW,
            flow_entries: tunable::FLOW_MAP_ENTRIES as usize,
        }
    }
}

/// Counters in the kernel's slot layout, so both paths report the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameCounters(pub [u64; counter::COUNT as usize]);

impl Default for FrameCounters {
    fn default() -> Self {
        FrameCounters([0; counter::COUNT as usize])
    }
}

impl FrameCounters {
    fn bump(&mut self, slot: u32) {
        self.0[slot as usize] += 1;
    }
    pub fn get(&self, slot: u32) -> u64 {
        self.0[slot as usize]
    }
    pub fn malformed(&self, m: Malformed) -> u64 {
        self.get(counter::malformed(m))
    }
    pub fn add(&mut self, other: &FrameCounters) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }
}

/// Parses frames and selects records with the XDP program's rules, keeping the same
/// bounded per-flow state for timestamp sampling (keyed by capture time).
pub struct Selector {
    cfg: SelectConfig,
    flows: LruCache<FlowKey, FlowState>,
    pub counters: FrameCounters,
}

struct Ip<'a> {
    family: u8,
    ttl: u8,
    tos: u8,
    ip_len: u16,
    ip_opt_len: u8,
    ip_flags: u8,
    ip_id: u32,
    flow_label: u32,
    src: [u8; 16],
    dst: [u8; 16],
    /// From the TCP header to the end of the captured frame.
    l4: &'a [u8],
    l4_len: usize,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

const ETH_P_IPV4: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86DD;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88A8;

impl Selector {
    pub fn new(cfg: SelectConfig) -> Self {
        let cap = NonZeroUsize::new(cfg.flow_entries.max(1)).unwrap();
        Selector {
            cfg,
            flows: LruCache::new(cap),
            counters: FrameCounters::default(),
        }
    }

    /// One frame in, a record out if the XDP program would have selected it.
    pub fn frame(&mut self, link: Link, frame: &[u8], ts_ns: u64) -> Option<PacketRecord> {
        self.counters.bump(counter::SEEN);
        match self.inspect(link, frame, ts_ns) {
            Ok(r) => r,
            Err(m) => {
                self.counters.bump(counter::malformed(m));
                None
            }
        }
    }

    fn inspect(
        &mut self,
        link: Link,
        f: &[u8],
        ts: u64,
    ) -> Result<Option<PacketRecord>, Malformed> {
        let (proto, off) = match link {
            Link::Ethernet => ethernet(f)?,
            Link::LinuxSll => {
                let h = f.get(..16).ok_or(Malformed::EthernetTruncated)?;
                vlan_walk(f, be16(h, 14), 16)?
            }
            Link::LinuxSll2 => {
                let h = f.get(..20).ok_or(Malformed::EthernetTruncated)?;
                vlan_walk(f, be16(h, 0), 20)?
            }
            Link::RawIp => match f.first().map(|b| b >> 4) {
                Some(4) => (ETH_P_IPV4, 0),
                Some(6) => (ETH_P_IPV6, 0),
                Some(_) => return Err(Malformed::IpBadVersion),
                None => return Err(Malformed::Ipv4Truncated),
            },
            Link::Ipv4 => (ETH_P_IPV4, 0),
            Link::Ipv6 => (ETH_P_IPV6, 0),
            Link::Null | Link::Loop => {
                let h = f.get(..4).ok_or(Malformed::EthernetTruncated)?;
                let fam = if link == Link::Loop {
                    be32(h, 0)
                } else {
                    // Host order of the capturing machine: accept either.
                    let le = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
                    if le < 256 {
                        le
                    } else {
                        be32(h, 0)
                    }
                };
                match fam {
                    2 => (ETH_P_IPV4, 4),
                    // AF_INET6 differs by OS: Linux 10, BSDs 24, 28, 30.
                    10 | 24 | 28 | 30 => (ETH_P_IPV6, 4),
                    _ => return Ok(None),
                }
            }
        };
        let ip = match proto {
            ETH_P_IPV4 => self.ipv4(&f[off..])?,
            ETH_P_IPV6 => self.ipv6(&f[off..])?,
            _ => None,
        };
        match ip {
            Some(ip) => self.tcp(&ip, ts),
            None => Ok(None),
        }
    }

    fn ipv4<'a>(&mut self, b: &'a [u8]) -> Result<Option<Ip<'a>>, Malformed> {
        if b.len() < 20 {
            return Err(Malformed::Ipv4Truncated);
        }
        if b[0] >> 4 != 4 {
            return Err(Malformed::IpBadVersion);
        }
        let ihl = (b[0] & 0x0f) as usize;
        if ihl < 5 {
            return Err(Malformed::Ipv4BadHeaderLength);
        }
        let hlen = ihl * 4;
        if b.len() < hlen {
            return Err(Malformed::Ipv4Truncated);
        }
        let total = be16(b, 2);
        if (total as usize) < hlen {
            return Err(Malformed::Ipv4BadTotalLength);
        }
        if b[9] != 6 {
            return Ok(None);
        }
        let frag = be16(b, 6);
        if frag & 0x1fff != 0 {
            self.counters.bump(counter::FRAGMENT_SKIPPED);
            return Ok(None);
        }
        let mut ip_flags = 0;
        if frag & 0x4000 != 0 {
            ip_flags |= ip_flag::DF;
        }
        if frag & 0x2000 != 0 {
            ip_flags |= ip_flag::MF;
        }
        if frag & 0x8000 != 0 {
            ip_flags |= ip_flag::RESERVED;
        }
        let mut src = [0; 16];
        let mut dst = [0; 16];
        src[..4].copy_from_slice(&b[12..16]);
        dst[..4].copy_from_slice(&b[16..20]);
        Ok(Some(Ip {
            family: 4,
            ttl: b[8],
            tos: b[1],
            ip_len: total,
            ip_opt_len: (hlen - 20) as u8,
            ip_flags,
            ip_id: be16(b, 4) as u32,
            flow_label: 0,
            src,
            dst,
            l4: &b[hlen..],
            l4_len: total as usize - hlen,
        }))
    }

    fn ipv6<'a>(&mut self, b: &'a [u8]) -> Result<Option<Ip<'a>>, Malformed> {
        if b.len() < 40 {
            return Err(Malformed::Ipv6Truncated);
        }
        if b[0] >> 4 != 6 {
            return Err(Malformed::IpBadVersion);
        }
        let payload = be16(b, 4) as usize;
        let mut next = b[6];
        let mut ext = 0usize;
        let mut ip_flags = 0u8;
        let mut ip_id = 0u32;
        for _ in 0..MAX_IPV6_EXT_HEADERS {
            let at = 40 + ext;
            match next {
                0 | 43 | 60 => {
                    let e = b.get(at..at + 2).ok_or(Malformed::Ipv6ExtensionTruncated)?;
                    next = e[0];
                    ext += (e[1] as usize + 1) * 8;
                }
                44 => {
                    let e = b.get(at..at + 8).ok_or(Malformed::Ipv6ExtensionTruncated)?;
                    next = e[0];
                    let fo = be16(e, 2);
                    ip_flags |= ip_flag::V6_FRAG_HEADER;
                    if fo & 1 != 0 {
                        ip_flags |= ip_flag::MF;
                    }
                    ip_id = be32(e, 4);
                    if fo >> 3 != 0 {
                        self.counters.bump(counter::FRAGMENT_SKIPPED);
                        return Ok(None);
                    }
                    ext += 8;
                }
                _ => break,
            }
            if ext > MAX_IPV6_EXT_BYTES {
                return Err(Malformed::Ipv6ExtensionChainTooLong);
            }
        }
        if matches!(next, 0 | 43 | 44 | 60) {
            return Err(Malformed::Ipv6ExtensionChainTooLong);
        }
        if next != 6 {
            return Ok(None);
        }
        if payload < ext {
            return Err(Malformed::Ipv6ExtensionTruncated);
        }
        let mut src = [0; 16];
        let mut dst = [0; 16];
        src.copy_from_slice(&b[8..24]);
        dst.copy_from_slice(&b[24..40]);
        Ok(Some(Ip {
            family: 6,
            ttl: b[7],
            tos: (b[0] << 4) | (b[1] >> 4),
            ip_len: (payload as u16).wrapping_add(40),
            ip_opt_len: ext.min(255) as u8,
            ip_flags,
            ip_id,
            flow_label: ((b[1] as u32 & 0x0f) << 16) | ((b[2] as u32) << 8) | b[3] as u32,
            src,
            dst,
            l4: b.get(40 + ext..).unwrap_or(&[]),
            l4_len: payload - ext,
        }))
    }

    fn tcp(&mut self, ip: &Ip, now: u64) -> Result<Option<PacketRecord>, Malformed> {
        let t = ip.l4;
        if t.len() < 20 {
            return Err(Malformed::TcpTruncated);
        }
        self.counters.bump(counter::TCP);
        let doff = t[12] >> 4;
        if doff < 5 {
            return Err(Malformed::TcpBadDataOffset);
        }
        let flags = ((t[12] as u16 & 0x0f) << 8) | t[13] as u16;
        let urg_ptr = be16(t, 18);

        let mut why = 0u8;
        if flags & tcp_flag::SYN != 0 {
            why = if flags & tcp_flag::ACK != 0 {
                reason::SYNACK
            } else {
                reason::SYN
            };
        }
        if is_scan_like(flags, urg_ptr) {
            why |= reason::SCAN_PROBE;
        }

        let claimed = doff as usize * 4 - 20;
        let avail = t.len() - 20;
        let opt_len = claimed.min(avail);
        let truncated = opt_len < claimed || claimed + 20 > ip.l4_len;
        if truncated {
            self.counters
                .bump(counter::malformed(Malformed::TcpOptionsTruncated));
        }
        let opt_len = opt_len.min(MAX_TCP_OPTION_BYTES);
        let opts = &t[20..20 + opt_len];

        let key = FlowKey {
            src: ip.src,
            dst: ip.dst,
            sport: be16(t, 0),
            dport: be16(t, 2),
            family: ip.family,
            _pad: [0; 3],
        };
        if why & (reason::SYN | reason::SYNACK) != 0 {
            self.flows.put(
                key,
                FlowState {
                    last_ns: now,
                    samples: 0,
                    _pad: 0,
                },
            );
        } else if why == 0 {
            let Some(first) = t.get(20..24) else {
                return Ok(None);
            };
            if ts_option_offset([first[0], first[1], first[2], first[3]], opt_len).is_none() {
                return Ok(None);
            }
            let Some(state) = self.flows.get_mut(&key) else {
                return Ok(None);
            };
            if state.samples >= self.cfg.ts_sample_max_per_flow
                || now.wrapping_sub(state.last_ns) < self.cfg.ts_sample_interval_ns
            {
                return Ok(None);
            }
            state.samples += 1;
            state.last_ns = now;
            why = reason::TS_SAMPLE;
        }
        if why == 0 {
            return Ok(None);
        }

        let mut r = PacketRecord::zeroed();
        r.ts_ns = now;
        r.family = ip.family;
        r.reason = why;
        r.ttl = ip.ttl;
        r.tos = ip.tos;
        r.src = ip.src;
        r.dst = ip.dst;
        r.ip_len = ip.ip_len;
        r.ip_opt_len = ip.ip_opt_len;
        r.ip_flags = ip.ip_flags;
        r.ip_id = ip.ip_id;
        r.flow_label = ip.flow_label;
        r.sport = key.sport;
        r.dport = key.dport;
        r.seq = be32(t, 4);
        r.ack = be32(t, 8);
        r.tcp_flags = flags;
        r.window = be16(t, 14);
        r.urg_ptr = urg_ptr;
        r.payload_len = ip.l4_len.saturating_sub(doff as usize * 4) as u16;
        r.doff = doff;
        r.opt_len = opt_len as u8;
        r.rec_flags = if truncated {
            rec_flag::OPTIONS_TRUNCATED
        } else {
            0
        };
        r.options[..opt_len].copy_from_slice(opts);
        for bit in 0..4 {
            if why & (1 << bit) != 0 {
                self.counters.bump(counter::SELECTED_BASE + bit);
            }
        }
        Ok(Some(r))
    }
}

fn ethernet(f: &[u8]) -> Result<(u16, usize), Malformed> {
    if f.len() < 14 {
        return Err(Malformed::EthernetTruncated);
    }
    vlan_walk(f, be16(f, 12), 14)
}

/// Walks up to two VLAN tags from `off`, where `proto` is the EtherType just read.
fn vlan_walk(f: &[u8], mut proto: u16, mut off: usize) -> Result<(u16, usize), Malformed> {
    for _ in 0..MAX_VLAN_TAGS {
        if proto != ETH_P_8021Q && proto != ETH_P_8021AD {
            break;
        }
        let tag = f.get(off..off + 4).ok_or(Malformed::VlanTruncated)?;
        proto = be16(tag, 2);
        off += 4;
    }
    if proto == ETH_P_8021Q || proto == ETH_P_8021AD {
        return Err(Malformed::VlanTooDeep);
    }
    Ok((proto, off))
}

/// The scan-like flag combinations (the XDP program has the same test).
pub fn is_scan_like(flags: u16, urg_ptr: u16) -> bool {
    use tcp_flag::*;
    let syn = flags & SYN != 0;
    flags & (FIN | SYN | RST | PSH | ACK | URG) == 0
        || flags & (FIN | ACK) == FIN
        || flags & (FIN | PSH | URG) == FIN | PSH | URG
        || (syn && flags & (FIN | RST) != 0)
        || flags & RESERVED != 0
        || (urg_ptr != 0 && flags & URG == 0)
}
