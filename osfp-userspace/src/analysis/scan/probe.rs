//! Per-packet classification: which scan probe (if any) one selected packet is, and
//! which tool its on-the-wire traits point to. Every trait carries its evidence.

use osfp_common::tcp_flag::{ACK, CWR, ECE, FIN, PSH, RESERVED, RST, SYN, URG};
use serde::Serialize;
use strum::{EnumCount, EnumIter, IntoStaticStr};

use crate::decode::options::OptKind;
use crate::decode::Event;

/// What one packet is, as a probe.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, IntoStaticStr, EnumIter, EnumCount,
)]
#[serde(into = "&'static str")]
#[strum(serialize_all = "snake_case")]
pub enum ProbeKind {
    /// No flags at all (nmap -sN).
    Null,
    /// FIN without ACK (nmap -sF).
    Fin,
    /// FIN+PSH+URG without SYN/RST (nmap -sX).
    Xmas,
    SynFin,
    SynRst,
    /// One of the three reserved bits set (and not nmap's ECN probe).
    Reserved,
    /// Urgent pointer non-zero without URG.
    UrgNoUrg,
    /// One of nmap's OS-detection probes (SEQ 1-6, ECN, T2-T7).
    NmapOs,
    /// nmap's raw-socket SYN (-sS).
    NmapSyn,
    /// masscan's SYN.
    Masscan,
    /// zmap's SYN.
    Zmap,
}

impl ProbeKind {
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// A scanner named from its packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tool {
    Nmap,
    Masscan,
    Zmap,
}

/// nmap's TCP options for T2-T7 (T7 has window scale 15 instead of 10).
/// Evidence: nmap book "TCP/IP Fingerprinting Methods" (seeds/nmap-os-detection-methods.txt),
/// and on the wire in chrissanders-packets/activeosfingerprinting.pcapng.
const NMAP_T_OPTS: [u8; 20] = [
    0x03, 0x03, 0x0a, 0x01, 0x02, 0x04, 0x01, 0x09, 0x08, 0x0a, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0,
    0x04, 0x02,
];

/// Windows of nmap's OS probes: SEQ #1-#6 (1, 63, 4, 4, 16, 512), ECN (3), T2-T7 (128, 256,
/// 1024, 31337, 32768, 65535). Same sources as above.
const NMAP_OS_WINDOWS: [u16; 13] = [1, 63, 4, 16, 512, 3, 128, 256, 1024, 31337, 32768, 65535, 4];

/// Urgent pointer of nmap's ECN probe (sent without URG). nmap book, "TCP explicit
/// congestion notification (ECN)"; 63477 in activeosfingerprinting.pcapng frame 13.
const NMAP_ECN_URG_PTR: u16 = 0xF7F5;

/// Windows nmap uses for its raw SYN/FIN/NULL/Xmas probes. 1024: nmap 7.93/7.94 on the
/// wire (victorialugi-nmap/*.pcap, our own -sS run); 2048: older nmap in ndpi/synscan.pcap;
/// all four are p0f's `NMap:SYN scan` signatures (/etc/p0f/p0f.fp).
const NMAP_SCAN_WINDOWS: [u16; 4] = [1024, 2048, 3072, 4096];

/// Highest TTL an nmap raw packet can arrive with: nmap picks the initial TTL as
/// `(random % 23) + 37`, i.e. 37..=59, unless --ttl is given (nmap tcpip.cc
/// `build_tcp_raw`, and `get_hoplimit` for IPv6; observed 37..59 in victorialugi-nmap).
const NMAP_MAX_TTL: u8 = 59;

/// zmap's fixed IP ID: 54321. Observed with Debian zmap 2.1.1 between two namespaces
/// (ip.id 0xd431, window 65535, TTL 255, no TCP options), and from an internet scanner,
/// 78.128.114.46, in the background of victorialugi-nmap/syn_scan.pcap.
const ZMAP_IP_ID: u32 = 54321;
const ZMAP_WINDOW: u16 = 65535;

/// masscan's default SYN window (masscan's templates; seen in
/// esnet-curated masscan capture (masscan 1.0.4) and Debian masscan 1.3.2 live).
const MASSCAN_WINDOW: u16 = 1024;

fn base_flags(ev: &Event) -> u16 {
    ev.record.tcp_flags & (FIN | SYN | RST | PSH | ACK | URG)
}

/// TSval 0xFFFFFFFF with TSecr 0 and one of nmap's OS-probe windows, or nmap's ECN SYN.
fn is_nmap_os(ev: &Event) -> bool {
    let r = &ev.record;
    let f = r.tcp_flags;
    // ECN probe: SYN+ECE+CWR, a reserved bit, urgent pointer 0xF7F5 without URG, window 3.
    if f & (SYN | ECE | CWR) == SYN | ECE | CWR
        && f & URG == 0
        && r.urg_ptr == NMAP_ECN_URG_PTR
        && r.window == 3
    {
        return true;
    }
    if ev.options.timestamp == Some((0xFFFF_FFFF, 0)) && NMAP_OS_WINDOWS.contains(&r.window) {
        return true;
    }
    // T2-T7 even if the timestamp were stripped: the exact option bytes.
    let opts = &r.options[..(r.opt_len as usize).min(40)];
    opts.len() == 20 && opts[..2] == NMAP_T_OPTS[..2] && opts[3..] == NMAP_T_OPTS[3..]
}

/// IPv4 masscan SYN: its IP ID is `dst ^ dport ^ seq` (low 16 bits), because masscan
/// derives the ID from its stateless SYN cookie (masscan `tcp_create_packet`); all 1,001
/// SYNs of esnet-curated/attacks__scanners__masscan__tcp_0_1000_20190821.pcap satisfy it.
fn is_masscan(ev: &Event) -> bool {
    let r = &ev.record;
    if r.family != 4 || r.window != MASSCAN_WINDOW {
        return false;
    }
    let dst = u32::from_be_bytes([r.dst[0], r.dst[1], r.dst[2], r.dst[3]]);
    (dst ^ r.dport as u32 ^ r.seq) & 0xFFFF == r.ip_id
}

fn is_zmap(ev: &Event) -> bool {
    let r = &ev.record;
    r.family == 4 && r.ip_id == ZMAP_IP_ID && r.window == ZMAP_WINDOW
}

/// The traits nmap's raw probes share: no DF (raw packets, DF only with --df), a scan
/// window, over IPv4 a random initial TTL of at most 59. `syn`: the only option is MSS
/// 1460 (as nmap -sS sends it, over IPv6 too); otherwise no options at all
/// (-sN/-sF/-sX). Over IPv6 nmap 7.93's port-scan probes leave with hop limit 255
/// (observed between namespaces: `nmap -6 -sS` / `-sX`), so the TTL test is IPv4-only.
fn nmap_raw_traits(ev: &Event, syn: bool) -> bool {
    let r = &ev.record;
    let opts_ok = if syn {
        ev.options.layout.as_slice() == [OptKind::Mss] && ev.options.mss == Some(1460)
    } else {
        r.opt_len == 0
    };
    let ttl_ok = r.family == 6 || r.ttl <= NMAP_MAX_TTL;
    !ev.df() && ttl_ok && NMAP_SCAN_WINDOWS.contains(&r.window) && opts_ok
}

/// Classifies one selected packet. `None`: an ordinary SYN, SYN-ACK or sample.
pub fn classify(ev: &Event) -> Option<ProbeKind> {
    let r = &ev.record;
    if ev.is_synack() {
        return None;
    }
    if is_nmap_os(ev) {
        return Some(ProbeKind::NmapOs);
    }
    let f = r.tcp_flags;
    let b = base_flags(ev);
    let syn = b & SYN != 0;
    if b == 0 {
        return Some(ProbeKind::Null);
    }
    if syn && b & FIN != 0 {
        return Some(ProbeKind::SynFin);
    }
    if syn && b & RST != 0 {
        return Some(ProbeKind::SynRst);
    }
    if b & (FIN | PSH | URG) == FIN | PSH | URG && b & (RST | ACK) == 0 {
        return Some(ProbeKind::Xmas);
    }
    if b & (FIN | ACK) == FIN {
        return Some(ProbeKind::Fin);
    }
    if f & RESERVED != 0 {
        return Some(ProbeKind::Reserved);
    }
    if r.urg_ptr != 0 && f & URG == 0 {
        return Some(ProbeKind::UrgNoUrg);
    }
    if b == SYN {
        if is_zmap(ev) {
            return Some(ProbeKind::Zmap);
        }
        // nmap's traits first: an nmap SYN (window 1024, random IP ID) meets masscan's
        // IP ID rule one time in 65,536, and a 1,000-port scan would then also count
        // as masscan; masscan's own SYNs leave with TTL 255 (252 in the corpus'
        // capture, 1.0.4), past nmap's rule of at most 59.
        if nmap_raw_traits(ev, true) {
            return Some(ProbeKind::NmapSyn);
        }
        if is_masscan(ev) {
            return Some(ProbeKind::Masscan);
        }
    }
    None
}

/// The tool a probe points to, where its traits say so.
pub fn tool(ev: &Event, kind: ProbeKind) -> Option<Tool> {
    match kind {
        ProbeKind::NmapOs | ProbeKind::NmapSyn => Some(Tool::Nmap),
        ProbeKind::Masscan => Some(Tool::Masscan),
        ProbeKind::Zmap => Some(Tool::Zmap),
        ProbeKind::Null | ProbeKind::Fin | ProbeKind::Xmas => {
            nmap_raw_traits(ev, false).then_some(Tool::Nmap)
        }
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::net::Ipv4Addr;

    use osfp_common::{ip_flag, reason, PacketRecord};

    use super::*;

    /// A crafted IPv4 record from `src` to `dst`; options as raw bytes.
    pub fn rec(flags: u16, window: u16, ttl: u8, opts: &[u8]) -> PacketRecord {
        let mut r = PacketRecord::zeroed();
        r.family = 4;
        r.src[..4].copy_from_slice(&[10, 0, 0, 1]);
        r.dst[..4].copy_from_slice(&[10, 0, 0, 2]);
        r.sport = 40000;
        r.dport = 80;
        r.seq = 0x1234_5678;
        r.tcp_flags = flags;
        r.window = window;
        r.ttl = ttl;
        r.ip_id = 0x4242;
        r.opt_len = opts.len() as u8;
        r.options[..opts.len()].copy_from_slice(opts);
        r.doff = 5 + (opts.len() as u8).div_ceil(4);
        r.reason = if flags & (SYN | ACK) == SYN {
            reason::SYN
        } else if flags & (SYN | ACK) == SYN | ACK {
            reason::SYNACK
        } else {
            0
        };
        if osfp_common::is_scan_like(flags, 0) {
            r.reason |= reason::SCAN_PROBE;
        }
        r
    }

    fn ev(r: PacketRecord) -> Event {
        Event::decode(&r)
    }

    const MSS1460: [u8; 4] = [2, 4, 5, 0xb4];
    const LINUX_SYN: [u8; 20] = [
        2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 1, 2, 3, 0, 0, 0, 0, 1, 3, 3, 7,
    ];

    #[test]
    fn flag_probes() {
        assert_eq!(classify(&ev(rec(0, 1024, 50, &[]))), Some(ProbeKind::Null));
        assert_eq!(classify(&ev(rec(FIN, 1024, 50, &[]))), Some(ProbeKind::Fin));
        assert_eq!(
            classify(&ev(rec(FIN | PSH, 1024, 50, &[]))),
            Some(ProbeKind::Fin)
        );
        assert_eq!(
            classify(&ev(rec(FIN | PSH | URG, 1024, 50, &[]))),
            Some(ProbeKind::Xmas)
        );
        assert_eq!(
            classify(&ev(rec(SYN | FIN, 1024, 50, &[]))),
            Some(ProbeKind::SynFin)
        );
        assert_eq!(
            classify(&ev(rec(SYN | RST, 1024, 50, &[]))),
            Some(ProbeKind::SynRst)
        );
        assert_eq!(
            classify(&ev(rec(SYN | 0x800, 5840, 64, &LINUX_SYN))),
            Some(ProbeKind::Reserved)
        );
        let mut r = rec(ACK, 500, 64, &[]);
        r.urg_ptr = 7;
        assert_eq!(classify(&ev(r)), Some(ProbeKind::UrgNoUrg));
        // FIN+ACK, plain ACK, URG with pointer: ordinary.
        assert_eq!(classify(&ev(rec(FIN | ACK, 500, 64, &[]))), None);
        let mut r = rec(ACK | URG, 500, 64, &[]);
        r.urg_ptr = 7;
        assert_eq!(classify(&ev(r)), None);
    }

    #[test]
    fn ordinary_stacks_are_not_probes() {
        // Linux SYN: DF, TTL 64, window 64240, full options.
        let mut r = rec(SYN, 64240, 64, &LINUX_SYN);
        r.ip_flags = ip_flag::DF;
        assert_eq!(classify(&ev(r)), None);
        // An ECN-setup SYN (CWR+ECE, no reserved bit) is ordinary.
        let mut r = rec(SYN | ECE | CWR, 64240, 64, &LINUX_SYN);
        r.ip_flags = ip_flag::DF;
        assert_eq!(classify(&ev(r)), None);
        // SYN-ACK with nmap-ish window is never a probe.
        assert_eq!(classify(&ev(rec(SYN | ACK, 1024, 50, &MSS1460))), None);
        // Window 1024 + MSS 1460 but TTL 64 (initial TTL above nmap's 59): not nmap.
        assert_eq!(classify(&ev(rec(SYN, 1024, 64, &MSS1460))), None);
        // Same with DF set (a real stack): not nmap.
        let mut r = rec(SYN, 1024, 50, &MSS1460);
        r.ip_flags = ip_flag::DF;
        assert_eq!(classify(&ev(r)), None);
    }

    #[test]
    fn nmap_syn() {
        for w in NMAP_SCAN_WINDOWS {
            let e = ev(rec(SYN, w, 45, &MSS1460));
            assert_eq!(classify(&e), Some(ProbeKind::NmapSyn), "window {w}");
            assert_eq!(tool(&e, ProbeKind::NmapSyn), Some(Tool::Nmap));
        }
        // IPv6: nmap's probes carry hop limit 255; the template still holds.
        let mut r = rec(SYN, 1024, 255, &MSS1460);
        r.family = 6;
        assert_eq!(classify(&ev(r)), Some(ProbeKind::NmapSyn));
        // MSS 1400 or an extra option: not nmap's template.
        assert_eq!(classify(&ev(rec(SYN, 1024, 45, &[2, 4, 5, 0x78]))), None);
        assert_eq!(
            classify(&ev(rec(SYN, 1024, 45, &[2, 4, 5, 0xb4, 1, 1, 4, 2]))),
            None
        );
    }

    #[test]
    fn nmap_flag_probe_attribution() {
        let e = ev(rec(FIN, 1024, 41, &[]));
        assert_eq!(tool(&e, ProbeKind::Fin), Some(Tool::Nmap));
        let e = ev(rec(FIN, 1024, 64, &[]));
        assert_eq!(tool(&e, ProbeKind::Fin), None);
        let e = ev(rec(0, 8192, 41, &[]));
        assert_eq!(tool(&e, ProbeKind::Null), None);
    }

    #[test]
    fn nmap_os_probes() {
        // SEQ probe #1 from activeosfingerprinting.pcapng: window 1, ws10,nop,mss,ts,sok.
        let p1: [u8; 20] = [
            3, 3, 10, 1, 2, 4, 5, 0xb4, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 4, 2,
        ];
        assert_eq!(classify(&ev(rec(SYN, 1, 44, &p1))), Some(ProbeKind::NmapOs));
        // SEQ #6: window 512, mss 265, sok, ts.
        let p6: [u8; 16] = [2, 4, 1, 9, 4, 2, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        assert_eq!(
            classify(&ev(rec(SYN, 512, 49, &p6))),
            Some(ProbeKind::NmapOs)
        );
        // T2 (NULL), T3 (SYN+FIN+PSH+URG), T7 (FIN+PSH+URG, ws 15) are OS probes, not
        // NULL/Xmas scans.
        assert_eq!(
            classify(&ev(rec(0, 128, 47, &NMAP_T_OPTS))),
            Some(ProbeKind::NmapOs)
        );
        assert_eq!(
            classify(&ev(rec(SYN | FIN | PSH | URG, 256, 55, &NMAP_T_OPTS))),
            Some(ProbeKind::NmapOs)
        );
        let mut t7 = NMAP_T_OPTS;
        t7[2] = 15;
        assert_eq!(
            classify(&ev(rec(FIN | PSH | URG, 65535, 38, &t7))),
            Some(ProbeKind::NmapOs)
        );
        // ECN: SYN+ECE+CWR+reserved bit, urgent pointer 0xF7F5, window 3.
        let mut r = rec(
            SYN | ECE | CWR | 0x800,
            3,
            59,
            &[3, 3, 10, 1, 2, 4, 5, 0xb4, 4, 2, 1, 1],
        );
        r.urg_ptr = 0xF7F5;
        let e = ev(r);
        assert_eq!(classify(&e), Some(ProbeKind::NmapOs));
        assert_eq!(tool(&e, ProbeKind::NmapOs), Some(Tool::Nmap));
        // The same SYN with a normal timestamp is an ordinary SYN.
        let mut normal = p1;
        normal[10..14].copy_from_slice(&[0, 1, 2, 3]);
        assert_eq!(classify(&ev(rec(SYN, 1, 44, &normal))), None);
    }

    #[test]
    fn masscan() {
        // masscan: window 1024, no options, IP ID = dst ^ dport ^ seq (low 16 bits).
        let mut r = rec(SYN, 1024, 250, &[]);
        let dst = u32::from(Ipv4Addr::new(10, 0, 0, 2));
        r.ip_id = (dst ^ 80 ^ r.seq) & 0xFFFF;
        let e = ev(r);
        assert_eq!(classify(&e), Some(ProbeKind::Masscan));
        assert_eq!(tool(&e, ProbeKind::Masscan), Some(Tool::Masscan));
        r.ip_id ^= 1;
        assert_eq!(classify(&ev(r)), None);
    }

    #[test]
    fn zmap() {
        let mut r = rec(SYN, 65535, 250, &[]);
        r.ip_id = 54321;
        assert_eq!(classify(&ev(r)), Some(ProbeKind::Zmap));
        r.window = 64240;
        assert_eq!(classify(&ev(r)), None);
    }
}
