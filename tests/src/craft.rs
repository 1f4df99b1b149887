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

/// Encapsulations the header walker opens (`capture::frame::Selector`, the XDP
/// program's walk), built around an inner frame or packet. Outer headers carry
/// addresses and ports of their own; only what the walker reads is meaningful.
pub mod encap {
    use super::checksum;

    pub const OUTER_DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xee, 2];
    pub const OUTER_SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xee, 1];

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    /// Ethernet: MACs, `ethertype`, `payload`.
    pub fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        cat(&[
            &OUTER_DST_MAC,
            &OUTER_SRC_MAC,
            &ethertype.to_be_bytes(),
            payload,
        ])
    }

    /// An 802.3 frame (length field) with LLC/SNAP carrying `ethertype`.
    pub fn llc_snap_frame(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let body = snap(ethertype, payload);
        assert!(body.len() <= 1500, "802.3 length field");
        cat(&[
            &OUTER_DST_MAC,
            &OUTER_SRC_MAC,
            &(body.len() as u16).to_be_bytes(),
            &body,
        ])
    }

    /// An LLC/SNAP header (AA AA 03, OUI 0) carrying `ethertype`, then `payload`.
    pub fn snap(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        cat(&[
            &[0xaa, 0xaa, 0x03, 0, 0, 0],
            &ethertype.to_be_bytes(),
            payload,
        ])
    }

    /// An outer IPv4 header (198.51.100.1 -> .2, TTL 255, checksum) for protocol `proto`.
    pub fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
        let mut h = vec![0x45, 0];
        h.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
        h.extend_from_slice(&[0x12, 0x34, 0x40, 0, 255, proto, 0, 0]);
        h.extend_from_slice(&[198, 51, 100, 1, 198, 51, 100, 2]);
        let sum = checksum(&[&h]);
        h[10..12].copy_from_slice(&sum.to_be_bytes());
        cat(&[&h, payload])
    }

    /// An outer IPv6 header (2001:db8:ee::1 -> ::2, hop limit 255), next header `next`.
    pub fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
        let mut h = vec![0x60, 0, 0, 0];
        h.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        h.extend_from_slice(&[next, 255]);
        let a = |last: u8| {
            [
                0x20, 0x01, 0x0d, 0xb8, 0, 0xee, 0, 0, 0, 0, 0, 0, 0, 0, 0, last,
            ]
        };
        h.extend_from_slice(&a(1));
        h.extend_from_slice(&a(2));
        cat(&[&h, payload])
    }

    /// UDP (checksum 0, as tunnels over IPv4 send it).
    pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        cat(&[
            &sport.to_be_bytes(),
            &dport.to_be_bytes(),
            &((8 + payload.len()) as u16).to_be_bytes(),
            &[0, 0],
            payload,
        ])
    }

    /// An MPLS label stack (bottom of stack on the last label), TTL 64.
    pub fn mpls(labels: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        for (i, l) in labels.iter().enumerate() {
            let bottom = (i + 1 == labels.len()) as u32;
            v.extend_from_slice(&((l << 12) | (bottom << 8) | 64).to_be_bytes());
        }
        cat(&[&v, payload])
    }

    /// The pseudowire control word (first nibble 0) before an Ethernet frame over MPLS.
    pub const PW_CONTROL_WORD: [u8; 4] = [0, 0, 0, 0x2a];

    /// A PPPoE session header (session 1), then the PPP protocol and `payload`.
    pub fn pppoe_session(ppp_proto: u16, payload: &[u8]) -> Vec<u8> {
        let len = (2 + payload.len()) as u16;
        cat(&[
            &[0x11, 0x00, 0x00, 0x01],
            &len.to_be_bytes(),
            &ppp_proto.to_be_bytes(),
            payload,
        ])
    }

    /// GRE flag bits (first byte of the header).
    pub const GRE_CSUM: u8 = 0x80;
    pub const GRE_KEY: u8 = 0x20;
    pub const GRE_SEQ: u8 = 0x10;

    /// GRE version 0 with the optional words `flags` asks for (checksum, key, sequence).
    pub fn gre(flags: u8, proto: u16, payload: &[u8]) -> Vec<u8> {
        let mut h = vec![flags, 0];
        h.extend_from_slice(&proto.to_be_bytes());
        for (bit, word) in [
            (GRE_CSUM, [0, 0, 0, 0]),
            (GRE_KEY, [0, 0, 0x10, 0x01]),
            (GRE_SEQ, [0, 0, 0, 7]),
        ] {
            if flags & bit != 0 {
                h.extend_from_slice(&word);
            }
        }
        cat(&[&h, payload])
    }

    /// ERSPAN type II header (version 1, session 5), then the mirrored frame.
    pub fn erspan2(frame: &[u8]) -> Vec<u8> {
        cat(&[&[0x10, 0x00, 0x00, 0x05, 0, 0, 0, 0], frame])
    }

    /// ERSPAN type III header (version 2), with the optional 8-byte platform-specific
    /// subheader (O bit) if `platform`, then the mirrored frame.
    pub fn erspan3(platform: bool, frame: &[u8]) -> Vec<u8> {
        let mut h = vec![0x20, 0x00, 0x00, 0x05, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 0];
        if platform {
            h[11] |= 1;
            h.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 0, 0]);
        }
        cat(&[&h, frame])
    }

    /// 802.1ah I-TAG (I-SID 0x123456), then the customer frame.
    pub fn pbb(frame: &[u8]) -> Vec<u8> {
        cat(&[&[0x00, 0x12, 0x34, 0x56], frame])
    }

    /// Cisco FabricPath's FTag/TTL word, then the original frame.
    pub fn fabricpath(frame: &[u8]) -> Vec<u8> {
        cat(&[&[0x00, 0x3f], frame])
    }

    /// Cisco VN-Tag (4 bytes), then `ethertype` and `payload`.
    pub fn vntag(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        cat(&[&[0x80, 0x01, 0x00, 0x02], &ethertype.to_be_bytes(), payload])
    }

    /// 802.1BR E-Tag (6 bytes), then `ethertype` and `payload`.
    pub fn etag(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        cat(&[
            &[0x00, 0x00, 0x10, 0x01, 0x00, 0x00],
            &ethertype.to_be_bytes(),
            payload,
        ])
    }

    /// VXLAN (I flag, VNI 42), then an Ethernet frame.
    pub fn vxlan(frame: &[u8]) -> Vec<u8> {
        cat(&[&[0x08, 0, 0, 0, 0, 0, 42, 0], frame])
    }

    /// VXLAN-GPE next-protocol values.
    pub const GPE_IPV4: u8 = 1;
    pub const GPE_IPV6: u8 = 2;
    pub const GPE_ETHERNET: u8 = 3;

    /// VXLAN-GPE (I and P flags, VNI 42) with next protocol `next`.
    pub fn vxlan_gpe(next: u8, payload: &[u8]) -> Vec<u8> {
        cat(&[&[0x0c, 0, 0, next, 0, 0, 42, 0], payload])
    }

    /// Geneve (VNI 42) with protocol `proto` and `opt_words` 4-byte words of options
    /// (one option TLV filling them).
    pub fn geneve(proto: u16, opt_words: u8, payload: &[u8]) -> Vec<u8> {
        let mut h = vec![opt_words & 0x3f, 0];
        h.extend_from_slice(&proto.to_be_bytes());
        h.extend_from_slice(&[0, 0, 42, 0]);
        if opt_words > 0 {
            // Class 0x0101, type 1, length in words after the 4-byte option header.
            h.extend_from_slice(&[0x01, 0x01, 0x01, opt_words - 1]);
            h.resize(8 + opt_words as usize * 4, 0xab);
        }
        cat(&[&h, payload])
    }

    /// GTP-U G-PDU (TEID 0x1234) carrying an IP packet; with `extensions` (each its
    /// content, padded to make its length a multiple of 4 with the length and
    /// next-type bytes) the E flag and the optional word are set.
    pub fn gtp_u(extensions: &[&[u8]], packet: &[u8]) -> Vec<u8> {
        let mut opt = Vec::new();
        if !extensions.is_empty() {
            // Sequence number, N-PDU number, first extension type (PDU session container).
            opt.extend_from_slice(&[0, 0, 0, 0x85]);
            for (i, content) in extensions.iter().enumerate() {
                let words = (content.len() + 2).div_ceil(4);
                let mut e = vec![words as u8];
                e.extend_from_slice(content);
                e.resize(words * 4 - 1, 0);
                e.push(if i + 1 < extensions.len() { 0x85 } else { 0 });
                opt.extend_from_slice(&e);
            }
        }
        let flags = if extensions.is_empty() { 0x30 } else { 0x34 };
        let len = (opt.len() + packet.len()) as u16;
        cat(&[
            &[flags, 0xff],
            &len.to_be_bytes(),
            &[0, 0, 0x12, 0x34],
            &opt,
            packet,
        ])
    }

    /// L2TPv2 data message (tunnel 1, session 2) carrying PPP (`ff 03`, then IPv4 or
    /// IPv6): with the length field if `length`, Ns/Nr if `sequence`, an offset field
    /// and that many bytes of padding if `offset` is given.
    pub fn l2tp_v2(length: bool, sequence: bool, offset: Option<u16>, packet: &[u8]) -> Vec<u8> {
        let mut b0 = 0u8;
        if length {
            b0 |= 0x40;
        }
        if sequence {
            b0 |= 0x08;
        }
        if offset.is_some() {
            b0 |= 0x02;
        }
        let proto: u16 = if packet.first().is_some_and(|b| b >> 4 == 6) {
            0x0057
        } else {
            0x0021
        };
        let mut tail = vec![0, 1, 0, 2];
        if sequence {
            tail.extend_from_slice(&[0, 3, 0, 4]);
        }
        if let Some(n) = offset {
            tail.extend_from_slice(&n.to_be_bytes());
            tail.resize(tail.len() + n as usize, 0);
        }
        tail.extend_from_slice(&[0xff, 0x03]);
        tail.extend_from_slice(&proto.to_be_bytes());
        tail.extend_from_slice(packet);
        let mut h = vec![b0, 0x02];
        if length {
            h.extend_from_slice(&((tail.len() + 4) as u16).to_be_bytes());
        }
        cat(&[&h, &tail])
    }

    /// AYIYA carrying IPv6: a 16-byte identity (idlen 4), a 20-byte signature (siglen 5,
    /// SHA-1), opcode forward.
    pub fn ayiya(ipv6_packet: &[u8]) -> Vec<u8> {
        let mut h = vec![0x41, 0x52, 0x11, 41, 0x5f, 0x00, 0x00, 0x01];
        h.extend_from_slice(&[0x20; 16]);
        h.extend_from_slice(&[0x5a; 20]);
        cat(&[&h, ipv6_packet])
    }

    /// CAPWAP data (HLEN 2 words, WBID 1 = IEEE 802.11, T = native frame), then an
    /// 802.11 frame.
    pub fn capwap(wlan_frame: &[u8]) -> Vec<u8> {
        cat(&[&[0x00, 0x10, 0x03, 0x00, 0, 0, 0, 0], wlan_frame])
    }

    /// An 802.11 data frame to the AP (QoS data with a QoS control field if `qos`,
    /// four addresses if `wds`, an HT control field if `htc`; frame-control bytes
    /// swapped if `swapped`, as Cisco's CAPWAP sends them), then `payload` (LLC/SNAP).
    pub fn wlan_data(qos: bool, wds: bool, htc: bool, swapped: bool, payload: &[u8]) -> Vec<u8> {
        let fc0 = if qos { 0x88 } else { 0x08 };
        let fc1 = (if wds { 0x03 } else { 0x01 }) | if htc { 0x80 } else { 0 };
        let mut h = if swapped {
            vec![fc1, fc0]
        } else {
            vec![fc0, fc1]
        };
        h.extend_from_slice(&[0, 0]);
        for a in 1..=3u8 {
            h.extend_from_slice(&[0x02, 0, 0, 0, 0x11, a]);
        }
        h.extend_from_slice(&[0x10, 0]);
        if wds {
            h.extend_from_slice(&[0x02, 0, 0, 0, 0x11, 4]);
        }
        if qos {
            h.extend_from_slice(&[0, 0]);
            if htc {
                h.extend_from_slice(&[0, 0, 0, 0]);
            }
        }
        cat(&[&h, payload])
    }
}

/// Capture files in memory: legacy pcap (either byte order, micro- or nanosecond
/// timestamps, Kuznetzov's format) and pcapng.
pub mod capture {
    /// A legacy pcap file being written.
    pub struct Pcap {
        pub bytes: Vec<u8>,
        big_endian: bool,
        kuznetzov: bool,
    }

    impl Pcap {
        /// A file header: `nanos` picks the nanosecond magic, `kuznetzov` the patched
        /// format with 24-byte record headers.
        pub fn new(linktype: u32, snaplen: u32, big_endian: bool, nanos: bool) -> Self {
            Self::with_magic(
                if nanos { 0xA1B2_3C4D } else { 0xA1B2_C3D4 },
                linktype,
                snaplen,
                big_endian,
            )
        }

        /// Kuznetzov's patched pcap (magic 0xA1B2CD34): 8 more bytes per record header.
        pub fn kuznetzov(linktype: u32, big_endian: bool) -> Self {
            Self::with_magic(0xA1B2_CD34, linktype, 65535, big_endian)
        }

        fn with_magic(magic: u32, linktype: u32, snaplen: u32, big_endian: bool) -> Self {
            let mut p = Pcap {
                bytes: Vec::new(),
                big_endian,
                kuznetzov: magic == 0xA1B2_CD34,
            };
            p.u32(magic);
            p.u16(2);
            p.u16(4);
            p.u32(0);
            p.u32(0);
            p.u32(snaplen);
            p.u32(linktype);
            p
        }

        fn u32(&mut self, v: u32) {
            let b = if self.big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            self.bytes.extend_from_slice(&b);
        }
        fn u16(&mut self, v: u16) {
            let b = if self.big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            self.bytes.extend_from_slice(&b);
        }

        /// A record whose header says `incl_len` bytes follow (normally `data.len()`).
        pub fn record_with_len(&mut self, sec: u32, frac: u32, incl_len: u32, data: &[u8]) {
            self.u32(sec);
            self.u32(frac);
            self.u32(incl_len);
            self.u32(data.len() as u32);
            if self.kuznetzov {
                self.u32(0); // ifindex
                self.u16(0x0800); // protocol
                self.bytes.extend_from_slice(&[0, 0]); // packet type, padding
            }
            self.bytes.extend_from_slice(data);
        }

        /// A record of `data` at `sec` + `frac` (micro- or nanoseconds, per the magic).
        pub fn record(&mut self, sec: u32, frac: u32, data: &[u8]) -> &mut Self {
            self.record_with_len(sec, frac, data.len() as u32, data);
            self
        }
    }

    /// A little-endian pcapng file being written: one section, interfaces, packets.
    pub struct Pcapng {
        pub bytes: Vec<u8>,
    }

    impl Default for Pcapng {
        fn default() -> Self {
            Self::new()
        }
    }

    impl Pcapng {
        /// A section header block.
        pub fn new() -> Self {
            let mut p = Pcapng { bytes: Vec::new() };
            let mut body = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
            body.extend_from_slice(&1u16.to_le_bytes());
            body.extend_from_slice(&0u16.to_le_bytes());
            body.extend_from_slice(&(-1i64).to_le_bytes());
            p.block(0x0A0D_0D0A, &body);
            p
        }

        /// A block of `kind` with `body` (padded to 4 bytes).
        pub fn block(&mut self, kind: u32, body: &[u8]) -> &mut Self {
            let mut body = body.to_vec();
            while !body.len().is_multiple_of(4) {
                body.push(0);
            }
            let len = (12 + body.len()) as u32;
            self.bytes.extend_from_slice(&kind.to_le_bytes());
            self.bytes.extend_from_slice(&len.to_le_bytes());
            self.bytes.extend_from_slice(&body);
            self.bytes.extend_from_slice(&len.to_le_bytes());
            self
        }

        /// An interface description block; `tsresol` is the if_tsresol option if given
        /// (10^-n s, or 2^-n s with the top bit set).
        pub fn interface(&mut self, linktype: u16, tsresol: Option<u8>) -> &mut Self {
            let mut body = linktype.to_le_bytes().to_vec();
            body.extend_from_slice(&[0, 0]);
            body.extend_from_slice(&65535u32.to_le_bytes());
            if let Some(r) = tsresol {
                body.extend_from_slice(&9u16.to_le_bytes());
                body.extend_from_slice(&1u16.to_le_bytes());
                body.extend_from_slice(&[r, 0, 0, 0]);
                body.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
            }
            self.block(1, &body)
        }

        /// An enhanced packet block on interface `iface` at raw timestamp `ts` (units
        /// of the interface's resolution).
        pub fn packet(&mut self, iface: u32, ts: u64, data: &[u8]) -> &mut Self {
            let mut body = iface.to_le_bytes().to_vec();
            body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
            body.extend_from_slice(&(ts as u32).to_le_bytes());
            body.extend_from_slice(&(data.len() as u32).to_le_bytes());
            body.extend_from_slice(&(data.len() as u32).to_le_bytes());
            body.extend_from_slice(data);
            self.block(6, &body)
        }

        /// A simple packet block (interface 0, no timestamp).
        pub fn simple_packet(&mut self, data: &[u8]) -> &mut Self {
            let mut body = (data.len() as u32).to_le_bytes().to_vec();
            body.extend_from_slice(data);
            self.block(3, &body)
        }
    }
}

/// One crafted frame per encapsulation the header walker opens, each carrying the same
/// TCP SYN as [`tunnels::plain_v4`] or [`tunnels::plain_v6`], with where cutting the
/// frame short is counted.
pub mod tunnels {
    use std::net::IpAddr;

    use osfp_common::Malformed::{self, *};

    use super::{encap::*, TcpFrame};

    pub struct TunnelCase {
        pub name: &'static str,
        pub frame: Vec<u8>,
        /// The same SYN as a plain Ethernet frame.
        pub plain: Vec<u8>,
        /// Frame lengths to cut the frame to, and the malformed reason each is counted
        /// under.
        pub cuts: Vec<(usize, Malformed)>,
    }

    /// The inner IPv4 SYN (Linux-shaped options).
    pub fn syn_v4() -> TcpFrame {
        let (s, d): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        TcpFrame::syn(s, d, 40000, 80)
    }

    /// The inner IPv6 SYN.
    pub fn syn_v6() -> TcpFrame {
        let (s, d): (IpAddr, IpAddr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        let mut f = TcpFrame::syn(s, d, 40001, 443);
        f.flow_label = 0x12345;
        f
    }

    pub fn plain_v4() -> Vec<u8> {
        syn_v4().frame()
    }
    pub fn plain_v6() -> Vec<u8> {
        syn_v6().frame()
    }

    const IPV4: u16 = 0x0800;
    const IPV6: u16 = 0x86DD;
    /// Outer Ethernet (14) + IPv4 (20): where a tunnel over IPv4 starts.
    const O4: usize = 34;
    /// Outer Ethernet + IPv4 + UDP: where a UDP tunnel's header starts.
    const U4: usize = 42;

    fn over_udp4(dport: u16, payload: &[u8]) -> Vec<u8> {
        ethernet(IPV4, &ipv4(17, &udp(49152, dport, payload)))
    }
    fn over_gre4(flags: u8, proto: u16, payload: &[u8]) -> Vec<u8> {
        ethernet(IPV4, &ipv4(47, &gre(flags, proto, payload)))
    }

    /// Every case. In each, a cut inside the tunnel's own fixed header is counted as
    /// `tunnel_truncated` (VN-Tag and E-Tag: `vlan_truncated`, as tags); IP-in-IP has
    /// no header of its own (the IP headers are counted as such). Parts the walker
    /// skips by a length without reading them (GRE's optional words, the pseudowire
    /// control word, Geneve options, AYIYA's identity and signature, ERSPAN III's
    /// platform subheader, L2TP's offset padding) are counted under the header that
    /// should follow them — in the XDP program too.
    pub fn cases() -> Vec<TunnelCase> {
        let (ip4, ip6) = (syn_v4().ip_packet(), syn_v6().ip_packet());
        let (eth4, eth6) = (plain_v4(), plain_v6());
        let snap4 = snap(IPV4, &ip4);
        let v4 = |name, frame, cuts| TunnelCase {
            name,
            frame,
            plain: plain_v4(),
            cuts,
        };
        let v6 = |name, frame, cuts| TunnelCase {
            name,
            frame,
            plain: plain_v6(),
            cuts,
        };
        vec![
            // Link-layer encapsulations.
            v4(
                "mpls",
                ethernet(0x8847, &mpls(&[100, 200], &ip4)),
                // The walker reads the inner version nibble with the bottom label.
                vec![
                    (15, TunnelTruncated),
                    (21, TunnelTruncated),
                    (22, TunnelTruncated),
                    (23, Ipv4Truncated),
                ],
            ),
            v6(
                "mpls-ipv6",
                ethernet(0x8848, &mpls(&[16], &ip6)),
                vec![(17, TunnelTruncated), (19, Ipv6Truncated)],
            ),
            v4(
                "mpls-pseudowire-cw",
                ethernet(
                    0x8847,
                    &mpls(&[100, 300], &[&PW_CONTROL_WORD[..], &eth4].concat()),
                ),
                vec![
                    (17, TunnelTruncated),
                    (22, TunnelTruncated),
                    (24, EthernetTruncated),
                    (30, EthernetTruncated),
                ],
            ),
            v4(
                "pppoe",
                ethernet(0x8864, &pppoe_session(0x0021, &ip4)),
                vec![
                    (15, TunnelTruncated),
                    (19, TunnelTruncated),
                    (21, TunnelTruncated),
                    (23, Ipv4Truncated),
                ],
            ),
            v6(
                "pppoe-ipv6",
                ethernet(0x8864, &pppoe_session(0x0057, &ip6)),
                vec![(20, TunnelTruncated), (30, Ipv6Truncated)],
            ),
            v4(
                "pbb",
                ethernet(0x88E7, &pbb(&eth4)),
                vec![
                    (15, TunnelTruncated),
                    (17, TunnelTruncated),
                    (20, EthernetTruncated),
                ],
            ),
            v4(
                "fabricpath",
                ethernet(0x8903, &fabricpath(&eth4)),
                vec![(15, TunnelTruncated), (20, EthernetTruncated)],
            ),
            v4(
                "vn-tag",
                ethernet(0x8926, &vntag(IPV4, &ip4)),
                vec![
                    (15, VlanTruncated),
                    (19, VlanTruncated),
                    (21, Ipv4Truncated),
                ],
            ),
            v6(
                "e-tag",
                ethernet(0x893F, &etag(IPV6, &ip6)),
                vec![
                    (15, VlanTruncated),
                    (21, VlanTruncated),
                    (23, Ipv6Truncated),
                ],
            ),
            v4(
                "llc-snap",
                llc_snap_frame(IPV4, &ip4),
                vec![
                    (15, TunnelTruncated),
                    (21, TunnelTruncated),
                    (23, Ipv4Truncated),
                ],
            ),
            // IP in IP.
            v4(
                "ipip-4in4",
                ethernet(IPV4, &ipv4(4, &ip4)),
                vec![(30, Ipv4Truncated), (40, Ipv4Truncated)],
            ),
            v6(
                "ipip-6in4",
                ethernet(IPV4, &ipv4(41, &ip6)),
                vec![(30, Ipv4Truncated), (40, Ipv6Truncated)],
            ),
            v4(
                "ipip-4in6",
                ethernet(IPV6, &ipv6(4, &ip4)),
                vec![(30, Ipv6Truncated), (60, Ipv4Truncated)],
            ),
            v6(
                "ipip-6in6",
                ethernet(IPV6, &ipv6(41, &ip6)),
                vec![(30, Ipv6Truncated), (60, Ipv6Truncated)],
            ),
            // GRE and what it carries.
            v4(
                "gre",
                over_gre4(0, IPV4, &ip4),
                vec![
                    (O4 + 1, TunnelTruncated),
                    (O4 + 3, TunnelTruncated),
                    (O4 + 5, Ipv4Truncated),
                ],
            ),
            v4(
                "gre-csum-key-seq",
                over_gre4(GRE_CSUM | GRE_KEY | GRE_SEQ, IPV4, &ip4),
                vec![
                    (O4 + 3, TunnelTruncated),
                    (O4 + 6, Ipv4Truncated),
                    (O4 + 20, Ipv4Truncated),
                ],
            ),
            v6(
                "gre-over-ipv6",
                ethernet(IPV6, &ipv6(47, &gre(GRE_KEY, IPV6, &ip6))),
                vec![
                    (14 + 40 + 2, TunnelTruncated),
                    (14 + 40 + 10, Ipv6Truncated),
                ],
            ),
            v4(
                "erspan-i",
                over_gre4(0, 0x88BE, &eth4),
                vec![(O4 + 2, TunnelTruncated), (O4 + 6, EthernetTruncated)],
            ),
            v4(
                "erspan-ii",
                over_gre4(GRE_SEQ, 0x88BE, &erspan2(&eth4)),
                vec![
                    (O4 + 2, TunnelTruncated),
                    (O4 + 9, TunnelTruncated),
                    (O4 + 15, TunnelTruncated),
                    (O4 + 17, EthernetTruncated),
                ],
            ),
            v4(
                "erspan-iii",
                over_gre4(GRE_SEQ, 0x22EB, &erspan3(false, &eth4)),
                vec![
                    (O4 + 9, TunnelTruncated),
                    (O4 + 19, TunnelTruncated),
                    (O4 + 21, EthernetTruncated),
                ],
            ),
            v6(
                "erspan-iii-platform-subheader",
                over_gre4(GRE_SEQ, 0x22EB, &erspan3(true, &eth6)),
                vec![(O4 + 19, TunnelTruncated), (O4 + 22, EthernetTruncated)],
            ),
            v4(
                "gre-teb",
                over_gre4(GRE_KEY, 0x6558, &eth4),
                vec![(O4 + 2, TunnelTruncated), (O4 + 10, EthernetTruncated)],
            ),
            v4(
                "gre-aruba-80211",
                over_gre4(0, 0x8200, &wlan_data(false, false, false, false, &snap4)),
                // 802.11 header at O4+4 (24 bytes), LLC/SNAP after it.
                vec![
                    (O4 + 2, TunnelTruncated),
                    (O4 + 20, TunnelTruncated),
                    (O4 + 30, TunnelTruncated),
                    (O4 + 36, Ipv4Truncated),
                ],
            ),
            v4(
                "gre-aruba-80211-qos-htc",
                over_gre4(0, 0x8200, &wlan_data(true, false, true, false, &snap4)),
                vec![
                    (O4 + 30, TunnelTruncated),
                    (O4 + 40, TunnelTruncated),
                    (O4 + 44, Ipv4Truncated),
                ],
            ),
            // UDP tunnels.
            v4(
                "gre-in-udp",
                over_udp4(4754, &gre(0, IPV4, &ip4)),
                vec![
                    (O4 + 3, TunnelTruncated),
                    (U4 + 1, TunnelTruncated),
                    (U4 + 5, Ipv4Truncated),
                ],
            ),
            v4(
                "vxlan",
                over_udp4(4789, &vxlan(&eth4)),
                vec![
                    (O4 + 7, TunnelTruncated),
                    (U4 + 3, TunnelTruncated),
                    (U4 + 9, EthernetTruncated),
                ],
            ),
            v6(
                "vxlan-over-ipv6",
                ethernet(IPV6, &ipv6(17, &udp(49152, 4789, &vxlan(&eth6)))),
                vec![
                    (14 + 40 + 12, TunnelTruncated),
                    (14 + 40 + 20, EthernetTruncated),
                ],
            ),
            v4(
                "vxlan-gpe-ipv4",
                over_udp4(4790, &vxlan_gpe(GPE_IPV4, &ip4)),
                vec![(U4 + 3, TunnelTruncated), (U4 + 9, Ipv4Truncated)],
            ),
            v6(
                "vxlan-gpe-ipv6",
                over_udp4(4790, &vxlan_gpe(GPE_IPV6, &ip6)),
                vec![(U4 + 7, TunnelTruncated), (U4 + 9, Ipv6Truncated)],
            ),
            v4(
                "vxlan-gpe-ethernet",
                over_udp4(4790, &vxlan_gpe(GPE_ETHERNET, &eth4)),
                vec![(U4 + 7, TunnelTruncated), (U4 + 9, EthernetTruncated)],
            ),
            v4(
                "geneve-teb",
                over_udp4(6081, &geneve(0x6558, 0, &eth4)),
                vec![(U4 + 4, TunnelTruncated), (U4 + 10, EthernetTruncated)],
            ),
            v4(
                "geneve-options-ipv4",
                over_udp4(6081, &geneve(IPV4, 3, &ip4)),
                vec![
                    (U4 + 4, TunnelTruncated),
                    (U4 + 12, Ipv4Truncated),
                    (U4 + 22, Ipv4Truncated),
                ],
            ),
            v4(
                "gtp-u",
                over_udp4(2152, &gtp_u(&[], &ip4)),
                // The walker reads the inner version nibble with the header.
                vec![
                    (U4 + 5, TunnelTruncated),
                    (U4 + 8, TunnelTruncated),
                    (U4 + 9, Ipv4Truncated),
                ],
            ),
            v6(
                "gtp-u-extensions",
                over_udp4(2152, &gtp_u(&[&[0x00, 0x09], &[1, 2, 3, 4, 5]], &ip6)),
                // Optional word U4+8..+12, extensions +12..+16 and +16..+24.
                vec![
                    (U4 + 10, TunnelTruncated),
                    (U4 + 14, TunnelTruncated),
                    (U4 + 18, TunnelTruncated),
                    (U4 + 24, TunnelTruncated),
                    (U4 + 30, Ipv6Truncated),
                ],
            ),
            v4(
                "l2tp-v2",
                over_udp4(1701, &l2tp_v2(false, false, None, &ip4)),
                vec![
                    (U4 + 1, TunnelTruncated),
                    (U4 + 5, TunnelTruncated),
                    (U4 + 9, TunnelTruncated),
                    (U4 + 11, Ipv4Truncated),
                ],
            ),
            v6(
                "l2tp-v2-length-sequence-offset",
                over_udp4(1701, &l2tp_v2(true, true, Some(4), &ip6)),
                // Flags, length, ids, Ns/Nr: +0..+12; offset size +12..+14; padding
                // +14..+18; PPP +18..+22.
                vec![
                    (U4 + 13, TunnelTruncated),
                    (U4 + 16, TunnelTruncated),
                    (U4 + 21, TunnelTruncated),
                    (U4 + 25, Ipv6Truncated),
                ],
            ),
            v6(
                "ayiya",
                over_udp4(5072, &ayiya(&ip6)),
                vec![
                    (U4 + 4, TunnelTruncated),
                    (U4 + 20, Ipv6Truncated),
                    (U4 + 50, Ipv6Truncated),
                ],
            ),
            v4(
                "capwap-80211",
                over_udp4(5247, &capwap(&wlan_data(false, false, false, true, &snap4))),
                // CAPWAP +0..+8, 802.11 +8..+32, LLC/SNAP +32..+40.
                vec![
                    (U4 + 4, TunnelTruncated),
                    (U4 + 20, TunnelTruncated),
                    (U4 + 36, TunnelTruncated),
                    (U4 + 42, Ipv4Truncated),
                ],
            ),
            v4(
                "capwap-80211-qos-wds-from-ac-port",
                ethernet(
                    IPV4,
                    &ipv4(
                        17,
                        &udp(
                            5247,
                            49152,
                            &capwap(&wlan_data(true, true, false, true, &snap4)),
                        ),
                    ),
                ),
                vec![(U4 + 30, TunnelTruncated), (U4 + 44, TunnelTruncated)],
            ),
        ]
    }
}

/// The SYN of [`tunnels::syn_v4`] / [`tunnels::syn_v6`] framed for every link type a
/// capture file may have (what `capture::frame::Link::from_linktype` accepts).
pub mod links {
    use super::{
        encap::{snap, wlan_data},
        tunnels::{syn_v4, syn_v6},
    };

    pub struct LinkCase {
        pub name: &'static str,
        /// The pcap LINKTYPE number.
        pub linktype: u32,
        pub frame: Vec<u8>,
        /// The same SYN as a plain Ethernet frame.
        pub plain: Vec<u8>,
    }

    /// One case per framing (several per link type where the link has variants).
    pub fn cases() -> Vec<LinkCase> {
        let (ip4, ip6) = (syn_v4().ip_packet(), syn_v6().ip_packet());
        let (eth4, eth6) = (syn_v4().frame(), syn_v6().frame());
        let c = |name, linktype, parts: &[&[u8]], v6: bool| LinkCase {
            name,
            linktype,
            frame: parts.concat(),
            plain: if v6 { eth6.clone() } else { eth4.clone() },
        };
        let wlan = wlan_data(true, false, false, false, &snap(0x0800, &ip4));
        // NFLOG: family, version, resource id; a packet-header TLV; the payload TLV.
        let nflog_payload = {
            let len = (4 + ip6.len()) as u16;
            [&len.to_le_bytes()[..], &9u16.to_le_bytes()].concat()
        };
        vec![
            c("ethernet", 1, &[&eth4], false),
            c(
                "linux-sll",
                113,
                &[
                    &[0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00],
                    &ip4,
                ],
                false,
            ),
            c(
                "linux-sll2",
                276,
                &[
                    &[
                        0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0,
                    ],
                    &ip6,
                ],
                true,
            ),
            c("raw", 101, &[&ip4], false),
            c("raw-ipv6", 101, &[&ip6], true),
            c("raw-bsd", 12, &[&ip4], false),
            c("raw-openbsd", 14, &[&ip6], true),
            c("ipv4", 228, &[&ip4], false),
            c("ipv6", 229, &[&ip6], true),
            c("null", 0, &[&2u32.to_le_bytes(), &ip4], false),
            c(
                "null-big-endian-bsd-ipv6",
                0,
                &[&28u32.to_be_bytes(), &ip6],
                true,
            ),
            c("loop", 108, &[&24u32.to_be_bytes(), &ip6], true),
            c("radiotap", 127, &[&[0, 0, 8, 0, 0, 0, 0, 0], &wlan], false),
            c("ieee802-11", 105, &[&wlan], false),
            c("ppp", 9, &[&[0xff, 0x03, 0x00, 0x21], &ip4], false),
            c("ppp-no-address-field", 9, &[&[0x00, 0x57], &ip6], true),
            c("ppp-hdlc", 50, &[&[0x0f, 0x00, 0x08, 0x00], &ip4], false),
            c("cisco-hdlc", 104, &[&[0x8f, 0x00, 0x86, 0xdd], &ip6], true),
            c(
                "fddi",
                10,
                &[&[0x50], &[0x02; 6], &[0x04; 6], &snap(0x0800, &ip4)],
                false,
            ),
            c(
                "ip-over-ib",
                242,
                &[&[0x80; 40], &[0x86, 0xdd, 0, 0], &ip6],
                true,
            ),
            c(
                "nflog",
                239,
                &[
                    &[10, 0, 0, 1],
                    &[8, 0, 1, 0, 0x86, 0xdd, 1, 0],
                    &nflog_payload,
                    &ip6,
                ],
                true,
            ),
            c("arcnet-rfc1051", 129, &[&[1, 2, 0, 0, 240], &ip4], false),
            c(
                "arcnet-rfc1201",
                129,
                &[&[1, 2, 0, 0, 212, 0, 0, 1], &ip4],
                false,
            ),
        ]
    }
}
