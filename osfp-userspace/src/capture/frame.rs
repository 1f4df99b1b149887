//! The pcap path's twin of the XDP program: the same parse, the same selection rules,
//! the same [`PacketRecord`] out. The parity test runs both over corpus frames and
//! compares the records byte for byte; keep the two in step.

use osfp_common::{
    counter, flow_flag, flow_hash, flow_slot, ip_flag, is_pure_ack, is_scan_like, layer, reason,
    rec_flag, tcp_flag, ts_option_offset, tunable, FlowSlot, HashKey, Malformed, PacketRecord,
    GTP_MAX_EXTENSIONS, MAX_HEADER_BYTES, MAX_IPV6_EXT_BYTES, MAX_IPV6_EXT_HEADERS, MAX_LAYERS,
    MAX_TCP_OPTION_BYTES, MAX_VLAN_TAGS,
};
use zerocopy::FromZeros;

/// Link types a capture file may have (pcap LINKTYPE_* numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::EnumIter, strum::EnumCount)]
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
    /// 802.11 with a radiotap header.
    Radiotap,
    /// 802.11 without a radio header.
    Wlan,
    /// PPP, with or without HDLC framing.
    Ppp,
    /// Cisco HDLC: address, control, EtherType.
    CiscoHdlc,
    Fddi,
    /// IP over InfiniBand: EtherType and 2 reserved bytes.
    IpOverIb,
    /// Linux NFLOG: TLVs, the packet in TLV type 9.
    Nflog,
    /// Linux ARCNET.
    Arcnet,
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
            127 => Link::Radiotap,
            105 => Link::Wlan,
            9 | 50 => Link::Ppp,
            104 => Link::CiscoHdlc,
            10 => Link::Fddi,
            242 => Link::IpOverIb,
            239 => Link::Nflog,
            129 => Link::Arcnet,
            _ => return None,
        })
    }
}

/// Selection tunables; the same defaults as the XDP program's globals.
#[derive(Clone, Copy, Debug)]
pub struct SelectConfig {
    pub ts_sample_interval_ns: u64,
    pub ts_sample_max_per_flow: u32,
    /// The flow table's hash key (the XDP program's `HASH_KEY`).
    pub hash_key: HashKey,
}

impl Default for SelectConfig {
    fn default() -> Self {
        SelectConfig {
            ts_sample_interval_ns: tunable::DEFAULT_TS_SAMPLE_INTERVAL_NS,
            ts_sample_max_per_flow: tunable::DEFAULT_TS_SAMPLE_MAX_PER_FLOW,
            hash_key: crate::hashing::process_key(),
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
    /// The XDP program's direct-mapped flow table, mirrored.
    flows: Box<[FlowSlot]>,
    pub counters: FrameCounters,
}

/// Where one step of the IP layer leads.
enum Step {
    /// TCP follows this IP header.
    Tcp(Ip),
    /// Another header follows: (walk protocol, offset).
    Next(u16, usize),
    /// Nothing we follow.
    Stop,
}

struct Ip {
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
    /// Offset of the TCP header in the frame.
    l4: usize,
    l4_len: usize,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Selector {
    pub fn new(cfg: SelectConfig) -> Self {
        Selector {
            cfg,
            flows: <[FlowSlot]>::new_box_zeroed_with_elems(tunable::FLOW_TABLE_SLOTS as usize)
                .expect("flow table allocation"),
            counters: FrameCounters::default(),
        }
    }

    /// One frame in, a record out if the XDP program would have selected it.
    pub fn frame(&mut self, link: Link, frame: &[u8], ts_ns: u64) -> Option<PacketRecord> {
        self.counters.bump(counter::SEEN);
        let res = match link_start(link, frame) {
            Ok(Some((proto, off))) => self.walk(frame, proto, off),
            Ok(None) => Ok(None),
            Err(m) => Err(m),
        };
        match res.and_then(|ip| match ip {
            Some(ip) => self.tcp(frame, &ip, ts_ns),
            None => Ok(None),
        }) {
            Ok(r) => r,
            Err(m) => {
                self.counters.bump(counter::malformed(m));
                None
            }
        }
    }

    /// Walks headers from `proto` at `off` to the innermost IP header carrying TCP,
    /// opening the tunnels the XDP program opens. `Ok(None)`: not TCP, or not followed.
    fn walk(&mut self, f: &[u8], mut proto: u16, mut off: usize) -> Result<Option<Ip>, Malformed> {
        let mut vlans = 0;
        for _ in 0..MAX_LAYERS {
            if off > MAX_HEADER_BYTES {
                return Err(Malformed::EncapsulationTooDeep);
            }
            match proto {
                layer::ETHERNET => {
                    let e = get(f, off, 14, Malformed::EthernetTruncated)?;
                    proto = be16(e, 12);
                    off += 14;
                    vlans = 0;
                    if proto <= 1500 {
                        // 802.3 length field: an LLC header follows.
                        proto = layer::LLC_SNAP;
                    }
                }
                layer::VNTAG => {
                    proto = be16(get(f, off, 6, Malformed::VlanTruncated)?, 4);
                    off += 6;
                }
                layer::ETAG => {
                    proto = be16(get(f, off, 8, Malformed::VlanTruncated)?, 6);
                    off += 8;
                }
                layer::VLAN_8021Q | layer::VLAN_8021AD | layer::VLAN_QINQ_OLD => {
                    if vlans == MAX_VLAN_TAGS {
                        return Err(Malformed::VlanTooDeep);
                    }
                    let t = get(f, off, 4, Malformed::VlanTruncated)?;
                    proto = be16(t, 2);
                    off += 4;
                    vlans += 1;
                }
                layer::MPLS_UC | layer::MPLS_MC => {
                    let l = get(f, off, 4, Malformed::TunnelTruncated)?;
                    let bottom = l[2] & 1 != 0;
                    off += 4;
                    if bottom {
                        let n = get(f, off, 1, Malformed::TunnelTruncated)?[0] >> 4;
                        proto = match n {
                            0 => {
                                // Pseudowire control word, then Ethernet.
                                off += 4;
                                layer::ETHERNET
                            }
                            n => match layer::from_ip_version(n) {
                                Some(p) => p,
                                None => return Ok(None),
                            },
                        };
                    }
                }
                layer::PPPOE_SESSION => {
                    get(f, off, 6, Malformed::TunnelTruncated)?;
                    off += 6;
                    proto = layer::PPP;
                }
                layer::PPP => {
                    let h = get(f, off, 2, Malformed::TunnelTruncated)?;
                    if h == [0xff, 0x03] {
                        off += 2;
                    }
                    proto = match be16(get(f, off, 2, Malformed::TunnelTruncated)?, 0) {
                        0x0021 => layer::IPV4,
                        0x0057 => layer::IPV6,
                        _ => return Ok(None),
                    };
                    off += 2;
                }
                layer::PBB => {
                    get(f, off, 4, Malformed::TunnelTruncated)?;
                    off += 4;
                    proto = layer::ETHERNET;
                }
                layer::FABRICPATH => {
                    get(f, off, 2, Malformed::TunnelTruncated)?;
                    off += 2;
                    proto = layer::ETHERNET;
                }
                layer::TEB => proto = layer::ETHERNET,
                layer::ERSPAN_2 => {
                    get(f, off, 8, Malformed::TunnelTruncated)?;
                    off += 8;
                    proto = layer::ETHERNET;
                }
                layer::ERSPAN_3 => {
                    let h = get(f, off, 12, Malformed::TunnelTruncated)?;
                    off += if h[11] & 1 != 0 { 20 } else { 12 };
                    proto = layer::ETHERNET;
                }
                layer::IPV4 => match self.ipv4(f, off)? {
                    Step::Tcp(ip) => return Ok(Some(ip)),
                    Step::Next(p, o) => (proto, off) = (p, o),
                    Step::Stop => return Ok(None),
                },
                layer::IPV6 => match self.ipv6(f, off)? {
                    Step::Tcp(ip) => return Ok(Some(ip)),
                    Step::Next(p, o) => (proto, off) = (p, o),
                    Step::Stop => return Ok(None),
                },
                layer::GRE => {
                    let h = get(f, off, 4, Malformed::TunnelTruncated)?;
                    // Version 0 only (v1 is PPTP); no RFC 1701 routing.
                    if h[1] & 7 != 0 || h[0] & 0x40 != 0 {
                        return Ok(None);
                    }
                    let opt = [0x80u8, 0x20, 0x10]
                        .iter()
                        .filter(|b| h[0] & **b != 0)
                        .count();
                    proto = match be16(h, 2) {
                        // ERSPAN type I: no sequence number and no ERSPAN header.
                        layer::ERSPAN_2 if h[0] & 0x10 == 0 => layer::ETHERNET,
                        layer::ARUBA_WLAN => layer::WLAN,
                        p => p,
                    };
                    off += 4 + 4 * opt;
                }
                layer::UDP => {
                    let u = get(f, off, 8, Malformed::TunnelTruncated)?;
                    let Some(port) = layer::udp_tunnel_port(be16(u, 0), be16(u, 2)) else {
                        return Ok(None);
                    };
                    off += 8;
                    proto = match port {
                        layer::UDP_VXLAN => {
                            get(f, off, 8, Malformed::TunnelTruncated)?;
                            off += 8;
                            layer::ETHERNET
                        }
                        layer::UDP_GENEVE => {
                            let g = get(f, off, 8, Malformed::TunnelTruncated)?;
                            off += 8 + (g[0] & 0x3f) as usize * 4;
                            be16(g, 2)
                        }
                        layer::UDP_GTP_U => match gtp_u(f, off)? {
                            Some((p, o)) => {
                                off = o;
                                p
                            }
                            None => return Ok(None),
                        },
                        layer::UDP_GRE => layer::GRE,
                        layer::UDP_VXLAN_GPE => {
                            let h = get(f, off, 8, Malformed::TunnelTruncated)?;
                            off += 8;
                            match h[3] {
                                1 => layer::IPV4,
                                2 => layer::IPV6,
                                3 => layer::ETHERNET,
                                _ => return Ok(None),
                            }
                        }
                        layer::UDP_L2TP => {
                            // L2TPv2 data messages: flags, optional length, ids,
                            // optional Ns/Nr and offset; then PPP.
                            let h = get(f, off, 2, Malformed::TunnelTruncated)?;
                            let (b0, ver) = (h[0], h[1] & 0x0f);
                            if b0 & 0x80 != 0 || ver != 2 {
                                return Ok(None);
                            }
                            let mut len = 6;
                            if b0 & 0x40 != 0 {
                                len += 2;
                            }
                            if b0 & 0x08 != 0 {
                                len += 4;
                            }
                            if b0 & 0x02 != 0 {
                                let o = get(f, off + len, 2, Malformed::TunnelTruncated)?;
                                len += 2 + be16(o, 0) as usize;
                            }
                            off += len;
                            layer::PPP
                        }
                        layer::UDP_AYIYA => {
                            // Identity of 2^idlen bytes, signature of siglen words.
                            let h = get(f, off, 8, Malformed::TunnelTruncated)?;
                            if h[3] != 41 {
                                return Ok(None);
                            }
                            off += 8 + (1usize << (h[0] >> 4)) + (h[1] >> 4) as usize * 4;
                            layer::IPV6
                        }
                        _ => {
                            // CAPWAP data: 802.11 payloads only (T=1, WBID=1).
                            let c = get(f, off, 8, Malformed::TunnelTruncated)?;
                            let hlen = (c[1] >> 3) as usize * 4;
                            if c[2] & 1 == 0 || (c[2] >> 1) & 0x1f != 1 || hlen < 8 {
                                return Ok(None);
                            }
                            off += hlen;
                            layer::WLAN_SWAPPED
                        }
                    };
                }
                layer::WLAN | layer::WLAN_SWAPPED => {
                    let h = get(f, off, 24, Malformed::TunnelTruncated)?;
                    let (fc0, fc1) = if proto == layer::WLAN {
                        (h[0], h[1])
                    } else {
                        (h[1], h[0])
                    };
                    let subtype = fc0 >> 4;
                    // Data frames with data, unprotected.
                    if (fc0 >> 2) & 3 != 2 || subtype & 4 != 0 || fc1 & 0x40 != 0 {
                        return Ok(None);
                    }
                    let qos = subtype & 8 != 0;
                    off += 24
                        + if fc1 & 3 == 3 { 6 } else { 0 }
                        + if qos { 2 } else { 0 }
                        + if qos && fc1 & 0x80 != 0 { 4 } else { 0 };
                    proto = layer::LLC_SNAP;
                }
                layer::LLC_SNAP => {
                    let l = get(f, off, 8, Malformed::TunnelTruncated)?;
                    if l[..3] != [0xAA, 0xAA, 0x03] {
                        return Ok(None);
                    }
                    proto = be16(l, 6);
                    off += 8;
                }
                _ => return Ok(None),
            }
        }
        Err(Malformed::EncapsulationTooDeep)
    }

    fn ipv4(&mut self, f: &[u8], off: usize) -> Result<Step, Malformed> {
        let b = f.get(off..).unwrap_or(&[]);
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
        let frag = be16(b, 6);
        let proto = b[9];
        if proto != 6 && layer::from_ip_proto(proto).is_none() {
            return Ok(Step::Stop);
        }
        if frag & 0x1fff != 0 {
            self.counters.bump(counter::FRAGMENT_SKIPPED);
            return Ok(Step::Stop);
        }
        if proto != 6 {
            return Ok(Step::Next(layer::from_ip_proto(proto).unwrap(), off + hlen));
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
        Ok(Step::Tcp(Ip {
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
            l4: off + hlen,
            l4_len: total as usize - hlen,
        }))
    }

    fn ipv6(&mut self, f: &[u8], off: usize) -> Result<Step, Malformed> {
        let b = f.get(off..).unwrap_or(&[]);
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
                        return Ok(Step::Stop);
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
            return Ok(match layer::from_ip_proto(next) {
                Some(p) => Step::Next(p, off + 40 + ext),
                None => Step::Stop,
            });
        }
        if payload < ext {
            return Err(Malformed::Ipv6ExtensionTruncated);
        }
        let mut src = [0; 16];
        let mut dst = [0; 16];
        src.copy_from_slice(&b[8..24]);
        dst.copy_from_slice(&b[24..40]);
        Ok(Step::Tcp(Ip {
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
            l4: off + 40 + ext,
            l4_len: payload - ext,
        }))
    }

    fn tcp(&mut self, f: &[u8], ip: &Ip, now: u64) -> Result<Option<PacketRecord>, Malformed> {
        let t = f.get(ip.l4..).unwrap_or(&[]);
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

        let (sport, dport) = (be16(t, 0), be16(t, 2));
        let key = flow_hash(
            &self.cfg.hash_key,
            ip.family,
            &ip.src,
            &ip.dst,
            sport,
            dport,
        );
        let slot = &mut self.flows[flow_slot(key) as usize];
        if why & (reason::SYN | reason::SYNACK) != 0 {
            *slot = FlowSlot {
                hash: key,
                last_ns: now,
                samples: 0,
                flags: if why & reason::SYN != 0 {
                    flow_flag::AWAITING_ACK
                } else {
                    0
                },
            };
        } else if why == 0 {
            let pure_ack = is_pure_ack(flags, ip.l4_len.saturating_sub(doff as usize * 4));
            let ts = t
                .get(20..24)
                .is_some_and(|f| ts_option_offset([f[0], f[1], f[2], f[3]], opt_len).is_some());
            if (!pure_ack && !ts) || slot.hash != key {
                return Ok(None);
            }
            if pure_ack && slot.flags & flow_flag::AWAITING_ACK != 0 {
                slot.flags &= !flow_flag::AWAITING_ACK;
                why = reason::HANDSHAKE_ACK;
            }
            if ts
                && slot.samples < self.cfg.ts_sample_max_per_flow
                && now.wrapping_sub(slot.last_ns) >= self.cfg.ts_sample_interval_ns
            {
                slot.samples += 1;
                slot.last_ns = now;
                why |= reason::TS_SAMPLE;
            }
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
        r.sport = sport;
        r.dport = dport;
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
        for bit in 0..reason::COUNT {
            if why & (1 << bit) != 0 {
                self.counters.bump(counter::SELECTED_BASE + bit);
            }
        }
        Ok(Some(r))
    }
}

/// Where the header walk starts for a link type: (walk protocol, offset).
/// `Ok(None)`: a frame of that link type that carries no IP (e.g. another family).
fn link_start(link: Link, f: &[u8]) -> Result<Option<(u16, usize)>, Malformed> {
    let need = |n: usize| f.get(..n).ok_or(Malformed::EthernetTruncated);
    Ok(Some(match link {
        Link::Ethernet => (layer::ETHERNET, 0),
        Link::LinuxSll => (be16(need(16)?, 14), 16),
        Link::LinuxSll2 => (be16(need(20)?, 0), 20),
        Link::RawIp => match f.first().map(|b| b >> 4) {
            Some(4) => (layer::IPV4, 0),
            Some(6) => (layer::IPV6, 0),
            Some(_) => return Err(Malformed::IpBadVersion),
            None => return Err(Malformed::Ipv4Truncated),
        },
        Link::Ipv4 => (layer::IPV4, 0),
        Link::Ipv6 => (layer::IPV6, 0),
        Link::Null | Link::Loop => {
            let h = need(4)?;
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
                2 => (layer::IPV4, 4),
                // AF_INET6 differs by OS: Linux 10, BSDs 24, 28, 30.
                10 | 24 | 28 | 30 => (layer::IPV6, 4),
                _ => return Ok(None),
            }
        }
        Link::Radiotap => {
            let h = need(4)?;
            (layer::WLAN, u16::from_le_bytes([h[2], h[3]]) as usize)
        }
        Link::Wlan => (layer::WLAN, 0),
        // PPP links sometimes carry Cisco HDLC (address 0x0F or 0x8F), as Wireshark
        // also recognises.
        Link::Ppp if matches!(need(1)?[0], 0x0f | 0x8f) => (be16(need(4)?, 2), 4),
        Link::Ppp => (layer::PPP, 0),
        Link::CiscoHdlc => (be16(need(4)?, 2), 4),
        Link::Fddi => (layer::LLC_SNAP, 13),
        // RFC 4391 pseudo-header: source and destination hardware addresses (40
        // bytes), then EtherType and 2 reserved bytes.
        Link::IpOverIb => (be16(need(44)?, 40), 44),
        // Linux ARCNET: source, destination, offset (4 bytes), protocol id; RFC 1201
        // adds split flag and sequence number.
        Link::Arcnet => match need(5)?[4] {
            240 => (layer::IPV4, 5),
            212 => (layer::IPV4, 8),
            _ => return Ok(None),
        },
        Link::Nflog => match nflog_payload(f) {
            Some(off) => match f.get(off).and_then(|b| layer::from_ip_version(b >> 4)) {
                Some(p) => (p, off),
                None => return Ok(None),
            },
            None => return Ok(None),
        },
    }))
}

/// `n` bytes at `off`, or the malformed reason `m`.
fn get(f: &[u8], off: usize, n: usize, m: Malformed) -> Result<&[u8], Malformed> {
    f.get(off..off + n).ok_or(m)
}

/// Offset of the packet payload TLV (type 9) of an NFLOG record.
fn nflog_payload(f: &[u8]) -> Option<usize> {
    let mut off = 4;
    while off + 4 <= f.len() {
        let len = u16::from_le_bytes([f[off], f[off + 1]]) as usize;
        let ty = u16::from_le_bytes([f[off + 2], f[off + 3]]);
        if len < 4 {
            return None;
        }
        if ty == 9 {
            return Some(off + 4);
        }
        off += (len + 3) & !3;
    }
    None
}

/// GTP-U (G-PDU only): skips the header and its extension headers; returns where the
/// inner IP header starts. `Ok(None)`: not a G-PDU carrying IP.
fn gtp_u(f: &[u8], mut off: usize) -> Result<Option<(u16, usize)>, Malformed> {
    let g = f.get(off..off + 8).ok_or(Malformed::TunnelTruncated)?;
    if g[0] >> 5 != 1 || g[0] & 0x10 == 0 || g[1] != 0xff {
        return Ok(None);
    }
    off += 8;
    if g[0] & 0x07 != 0 {
        let e = f.get(off..off + 4).ok_or(Malformed::TunnelTruncated)?;
        let mut next = e[3];
        off += 4;
        for _ in 0..GTP_MAX_EXTENSIONS {
            if next == 0 {
                break;
            }
            let len = *f.get(off).ok_or(Malformed::TunnelTruncated)? as usize * 4;
            if len == 0 {
                return Err(Malformed::TunnelTruncated);
            }
            next = *f.get(off + len - 1).ok_or(Malformed::TunnelTruncated)?;
            off += len;
        }
        if next != 0 {
            return Err(Malformed::EncapsulationTooDeep);
        }
    }
    let v = f.get(off).ok_or(Malformed::TunnelTruncated)? >> 4;
    Ok(layer::from_ip_version(v).map(|p| (p, off)))
}
