//! Builds Ethernet frames carrying TCP, for tests, benchmarks and the demo lab. Checksums
//! are computed so that the frames are also acceptable to a real stack.

use std::net::IpAddr;

#[derive(Clone, Debug)]
pub struct TcpFrame {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    /// The 12 flag bits (osfp_common::tcp_flag).
    pub flags: u16,
    pub window: u16,
    pub urg_ptr: u16,
    /// Raw option bytes; padded with zeros to a multiple of 4.
    pub options: Vec<u8>,
    pub payload: Vec<u8>,
    pub ttl: u8,
    pub tos: u8,
    pub ip_id: u16,
    pub df: bool,
    pub flow_label: u32,
    /// VLAN tags, outermost first, as (TPID, TCI).
    pub vlans: Vec<(u16, u16)>,
    /// IPv4 option bytes (padded to a multiple of 4).
    pub ip_options: Vec<u8>,
    /// Overrides the data offset (in words) to craft malformed headers.
    pub doff_override: Option<u8>,
}

impl TcpFrame {
    pub fn syn(src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> Self {
        TcpFrame {
            src,
            dst,
            sport,
            dport,
            seq: 0x1234_5678,
            ack: 0,
            flags: osfp_common::tcp_flag::SYN,
            window: 64240,
            urg_ptr: 0,
            // Linux: MSS 1460, SACK_PERM, TS, NOP, WS 7.
            options: vec![
                2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 1, 0xe2, 0x40, 0, 0, 0, 0, 1, 3, 3, 7,
            ],
            payload: Vec::new(),
            ttl: 64,
            tos: 0,
            ip_id: 0,
            df: true,
            flow_label: 0,
            vlans: Vec::new(),
            ip_options: Vec::new(),
            doff_override: None,
        }
    }

    /// The TCP header and payload (checksum filled in).
    pub fn tcp_segment(&self) -> Vec<u8> {
        let mut opts = self.options.clone();
        while !opts.len().is_multiple_of(4) {
            opts.push(0);
        }
        let doff = self.doff_override.unwrap_or((5 + opts.len() / 4) as u8);
        let mut t = Vec::with_capacity(20 + opts.len() + self.payload.len());
        t.extend_from_slice(&self.sport.to_be_bytes());
        t.extend_from_slice(&self.dport.to_be_bytes());
        t.extend_from_slice(&self.seq.to_be_bytes());
        t.extend_from_slice(&self.ack.to_be_bytes());
        t.push((doff << 4) | ((self.flags >> 8) as u8 & 0x0f));
        t.push(self.flags as u8);
        t.extend_from_slice(&self.window.to_be_bytes());
        t.extend_from_slice(&[0, 0]);
        t.extend_from_slice(&self.urg_ptr.to_be_bytes());
        t.extend_from_slice(&opts);
        t.extend_from_slice(&self.payload);
        let sum = match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let mut p = Vec::with_capacity(12);
                p.extend_from_slice(&s.octets());
                p.extend_from_slice(&d.octets());
                p.extend_from_slice(&[0, 6]);
                p.extend_from_slice(&(t.len() as u16).to_be_bytes());
                checksum(&[&p, &t])
            }
            (s, d) => {
                let mut p = Vec::with_capacity(40);
                p.extend_from_slice(&v6(s));
                p.extend_from_slice(&v6(d));
                p.extend_from_slice(&(t.len() as u32).to_be_bytes());
                p.extend_from_slice(&[0, 0, 0, 6]);
                checksum(&[&p, &t])
            }
        };
        t[16..18].copy_from_slice(&sum.to_be_bytes());
        t
    }

    /// The IP packet (no link layer).
    pub fn ip_packet(&self) -> Vec<u8> {
        let tcp = self.tcp_segment();
        match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let mut ipo = self.ip_options.clone();
                while !ipo.len().is_multiple_of(4) {
                    ipo.push(0);
                }
                let hlen = 20 + ipo.len();
                let mut h = Vec::with_capacity(hlen + tcp.len());
                h.push(0x40 | (hlen / 4) as u8);
                h.push(self.tos);
                h.extend_from_slice(&((hlen + tcp.len()) as u16).to_be_bytes());
                h.extend_from_slice(&self.ip_id.to_be_bytes());
                h.extend_from_slice(&(if self.df { 0x4000u16 } else { 0 }).to_be_bytes());
                h.push(self.ttl);
                h.push(6);
                h.extend_from_slice(&[0, 0]);
                h.extend_from_slice(&s.octets());
                h.extend_from_slice(&d.octets());
                h.extend_from_slice(&ipo);
                let sum = checksum(&[&h]);
                h[10..12].copy_from_slice(&sum.to_be_bytes());
                h.extend_from_slice(&tcp);
                h
            }
            (s, d) => {
                let mut h = Vec::with_capacity(40 + tcp.len());
                let w = (6u32 << 28) | ((self.tos as u32) << 20) | (self.flow_label & 0xfffff);
                h.extend_from_slice(&w.to_be_bytes());
                h.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
                h.push(6);
                h.push(self.ttl);
                h.extend_from_slice(&v6(s));
                h.extend_from_slice(&v6(d));
                h.extend_from_slice(&tcp);
                h
            }
        }
    }

    /// The Ethernet frame, with VLAN tags if any.
    pub fn frame(&self) -> Vec<u8> {
        self.frame_with_macs([0x02, 0, 0, 0, 0, 2], [0x02, 0, 0, 0, 0, 1])
    }

    pub fn frame_with_macs(&self, dst_mac: [u8; 6], src_mac: [u8; 6]) -> Vec<u8> {
        let ip = self.ip_packet();
        let mut f = Vec::with_capacity(18 + 4 * self.vlans.len() + ip.len());
        f.extend_from_slice(&dst_mac);
        f.extend_from_slice(&src_mac);
        for (tpid, tci) in &self.vlans {
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&tci.to_be_bytes());
        }
        let et: u16 = if self.src.is_ipv4() { 0x0800 } else { 0x86DD };
        f.extend_from_slice(&et.to_be_bytes());
        f.extend_from_slice(&ip);
        f
    }
}

/// SYNs shaped like known stacks, for the demo lab and the live tests. Each one equals a
/// signature of the embedded database (`db/osfp.fp`) exactly, or (`unknown_stack`) none.
pub mod stacks {
    use std::net::IpAddr;

    use super::TcpFrame;

    /// A SYN builder: (src, dst, sport, dport) -> frame.
    pub type Shape = fn(IpAddr, IpAddr, u16, u16) -> TcpFrame;

    /// Windows 10/11 (`*:128:0:*:mss*44,8:mss,nop,ws,nop,nop,sok:df,id+:0`): TTL 128,
    /// window 44 x MSS, scale 8, DF with a non-zero IP ID.
    pub fn windows11(src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> TcpFrame {
        let mut f = TcpFrame::syn(src, dst, sport, dport);
        f.ttl = 128;
        f.window = 44 * 1460;
        f.ip_id = (sport ^ 0x5a5a) | 1;
        f.options = vec![2, 4, 5, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2];
        f
    }

    /// macOS 10.12+ (`*:64:0:*:65535,6:mss,nop,ws,nop,nop,ts,sok,eol+1:df:0`): window
    /// 65535, scale 6, the xnu option order ending in EOL plus one pad byte, IP ID 0.
    pub fn macos(src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> TcpFrame {
        let mut f = TcpFrame::syn(src, dst, sport, dport);
        f.window = 65535;
        f.ip_id = 0;
        let ts = (sport as u32).wrapping_mul(7919).to_be_bytes();
        f.options = vec![
            2, 4, 5, 0xb4, 1, 3, 3, 6, 1, 1, 8, 10, ts[0], ts[1], ts[2], ts[3], 0, 0, 0, 0, 4, 2,
            0, 0,
        ];
        f
    }

    /// A stack no signature describes: initial TTL 255, an odd window and option order
    /// (SACK first, window scale before MSS).
    pub fn unknown_stack(src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> TcpFrame {
        let mut f = TcpFrame::syn(src, dst, sport, dport);
        f.ttl = 255;
        f.window = 4321;
        f.ip_id = sport;
        f.options = vec![4, 2, 1, 3, 3, 3, 2, 4, 5, 0x64];
        f
    }
}

fn v6(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
    }
}

/// The Internet checksum over the concatenation of `parts`.
pub fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    let mut odd: Option<u8> = None;
    for p in parts {
        for &b in *p {
            match odd.take() {
                Some(hi) => sum += u16::from_be_bytes([hi, b]) as u32,
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += (hi as u32) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
