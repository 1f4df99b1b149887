//! The record the XDP program writes into the ring buffer, and everything else the
//! kernel and userspace sides must agree on: selection reasons, malformed reasons,
//! counter slots and tunables. `no_std` so that the eBPF crate can use it.
#![no_std]

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Most TCP option bytes a header can carry (data offset 15 => 60 - 20).
pub const MAX_TCP_OPTION_BYTES: usize = 40;

/// Longest chain of IPv6 extension headers walked before TCP; longer is malformed.
pub const MAX_IPV6_EXT_HEADERS: usize = 6;

/// Most bytes of IPv6 extension headers walked before TCP; more is malformed
/// (chain too long). Keeps the verifier's view of packet offsets bounded.
pub const MAX_IPV6_EXT_BYTES: usize = 1024;

/// Most headers walked before TCP (each VLAN tag, MPLS label, IP, UDP, GRE... is one).
pub const MAX_LAYERS: usize = 16;

/// Most GTP-U extension headers skipped.
pub const GTP_MAX_EXTENSIONS: usize = 4;

/// TCP must start within this many bytes of the frame; keeps offsets bounded.
pub const MAX_HEADER_BYTES: usize = 2048;

/// Protocols of the header walk: EtherType values, plus pseudo-types for headers that
/// have no EtherType of their own. Shared so the kernel and the pcap path walk alike.
pub mod layer {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86DD;
    pub const VLAN_8021Q: u16 = 0x8100;
    pub const VLAN_8021AD: u16 = 0x88A8;
    pub const VLAN_QINQ_OLD: u16 = 0x9100;
    pub const MPLS_UC: u16 = 0x8847;
    pub const MPLS_MC: u16 = 0x8848;
    pub const PPPOE_SESSION: u16 = 0x8864;
    /// 802.1ah provider backbone bridging: I-TAG then a customer Ethernet header.
    pub const PBB: u16 = 0x88E7;
    /// Cisco FabricPath: FTag/TTL word then the original Ethernet header.
    pub const FABRICPATH: u16 = 0x8903;
    /// Transparent Ethernet bridging (GRE, Geneve): an Ethernet header follows.
    pub const TEB: u16 = 0x6558;
    pub const ERSPAN_2: u16 = 0x88BE;
    pub const ERSPAN_3: u16 = 0x22EB;
    /// Cisco VN-Tag: 4-byte tag, then an EtherType.
    pub const VNTAG: u16 = 0x8926;
    /// 802.1BR E-Tag: 6-byte tag, then an EtherType.
    pub const ETAG: u16 = 0x893F;
    /// Aruba's GRE protocol type for 802.11 frames.
    pub const ARUBA_WLAN: u16 = 0x8200;
    // Pseudo-types (not EtherTypes in use).
    pub const ETHERNET: u16 = 0xFFF0;
    pub const GRE: u16 = 0xFFF1;
    pub const UDP: u16 = 0xFFF2;
    /// An 802.11 data frame (CAPWAP payload, radiotap captures).
    pub const WLAN: u16 = 0xFFF3;
    /// An 802.2 LLC/SNAP header carrying an EtherType.
    pub const LLC_SNAP: u16 = 0xFFF4;
    /// An 802.11 data frame whose frame-control bytes are swapped (Cisco CAPWAP,
    /// Wireshark's default reading).
    pub const WLAN_SWAPPED: u16 = 0xFFF5;
    /// A PPP frame: optional 0xFF 0x03, then the PPP protocol.
    pub const PPP: u16 = 0xFFF6;

    pub const UDP_VXLAN: u16 = 4789;
    pub const UDP_GENEVE: u16 = 6081;
    pub const UDP_GTP_U: u16 = 2152;
    pub const UDP_CAPWAP_DATA: u16 = 5247;
    pub const UDP_GRE: u16 = 4754;
    pub const UDP_VXLAN_GPE: u16 = 4790;
    pub const UDP_L2TP: u16 = 1701;
    pub const UDP_AYIYA: u16 = 5072;

    /// Is this UDP destination port a tunnel we open?
    #[inline(always)]
    pub fn udp_tunnel(port: u16) -> bool {
        matches!(
            port,
            UDP_VXLAN
                | UDP_VXLAN_GPE
                | UDP_GENEVE
                | UDP_GTP_U
                | UDP_CAPWAP_DATA
                | UDP_GRE
                | UDP_L2TP
                | UDP_AYIYA
        )
    }

    /// The tunnel a UDP header leads into: by destination port, else by source port
    /// (replies of CAPWAP, AYIYA... come from the well-known port).
    #[inline(always)]
    pub fn udp_tunnel_port(sport: u16, dport: u16) -> Option<u16> {
        if udp_tunnel(dport) {
            Some(dport)
        } else if udp_tunnel(sport) {
            Some(sport)
        } else {
            None
        }
    }

    /// The walk protocol for an IP protocol number, if we follow it.
    #[inline(always)]
    pub fn from_ip_proto(p: u8) -> Option<u16> {
        match p {
            4 => Some(IPV4),
            41 => Some(IPV6),
            47 => Some(GRE),
            17 => Some(UDP),
            _ => None,
        }
    }

    /// The walk protocol for the first nibble of an IP header (MPLS, GTP payloads).
    #[inline(always)]
    pub fn from_ip_version(nibble: u8) -> Option<u16> {
        match nibble {
            4 => Some(IPV4),
            6 => Some(IPV6),
            _ => None,
        }
    }
}

/// Most VLAN tags (802.1Q / 802.1ad) parsed; a deeper stack is malformed.
pub const MAX_VLAN_TAGS: usize = 4;

/// Why a packet was selected: a bit set, since a packet can be several things at once
/// (nmap's ECN probe is both a SYN and scan-like).
pub mod reason {
    /// SYN without ACK.
    pub const SYN: u8 = 1 << 0;
    /// SYN with ACK.
    pub const SYNACK: u8 = 1 << 1;
    /// A flag combination or header value a normal stack does not send.
    pub const SCAN_PROBE: u8 = 1 << 2;
    /// A rate-limited sample of the TCP timestamp option on a flow whose SYN or
    /// SYN-ACK was seen.
    pub const TS_SAMPLE: u8 = 1 << 3;
    /// The pure ACK (ACK only, no payload, not scan-like) that completes the handshake
    /// of a tracked SYN, in the SYN's direction: at most one per SYN. Lets userspace
    /// tell connect scans from half-open ones.
    pub const HANDSHAKE_ACK: u8 = 1 << 4;
    pub const ALL: u8 = SYN | SYNACK | SCAN_PROBE | TS_SAMPLE | HANDSHAKE_ACK;
    /// Number of reason bits (counter slots SELECTED_BASE..).
    pub const COUNT: u32 = 5;
    /// The name of each bit, in bit order: JSON `reasons` and `kind`, the `reason`
    /// label of the selection metric, the counter summary.
    pub const NAMES: [&str; COUNT as usize] =
        ["syn", "synack", "scan_probe", "ts_sample", "handshake_ack"];
}

/// TCP flag bits as they sit in the 16-bit data-offset/flags word, data offset removed.
pub mod tcp_flag {
    pub const FIN: u16 = 0x001;
    pub const SYN: u16 = 0x002;
    pub const RST: u16 = 0x004;
    pub const PSH: u16 = 0x008;
    pub const ACK: u16 = 0x010;
    pub const URG: u16 = 0x020;
    pub const ECE: u16 = 0x040;
    pub const CWR: u16 = 0x080;
    /// Formerly NS (RFC 3540), now AE (AccECN).
    pub const AE: u16 = 0x100;
    /// The three bits still reserved by RFC 9293.
    pub const RESERVED: u16 = 0xE00;
    pub const ALL: u16 = 0xFFF;
}

/// Bits of [`PacketRecord::ip_flags`].
pub mod ip_flag {
    /// IPv4 Don't Fragment.
    pub const DF: u8 = 1 << 0;
    /// IPv4 More Fragments, or the M bit of an IPv6 fragment header.
    pub const MF: u8 = 1 << 1;
    /// IPv4 reserved ("evil") bit.
    pub const RESERVED: u8 = 1 << 2;
    /// An IPv6 fragment header was present (its identification is in `ip_id`).
    pub const V6_FRAG_HEADER: u8 = 1 << 3;
}

/// Bits of [`PacketRecord::rec_flags`]: facts about the capture itself.
pub mod rec_flag {
    /// The TCP header claimed more option bytes than the packet holds; `opt_len` is
    /// what was actually there.
    pub const OPTIONS_TRUNCATED: u8 = 1 << 0;
}

/// An enum whose variants carry their counter slot (the discriminant) and their name,
/// written once: the enum, `ALL` in slot order, `COUNT`, `name()` and `from_repr()` come
/// from the one list (no_std, so the kernel uses the same table).
macro_rules! named_slots {
    (
        $(#[$meta:meta])*
        pub enum $ty:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $slot:literal => $name:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[repr(u8)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $ty {
            $( $(#[$vmeta])* $variant = $slot, )+
        }

        impl $ty {
            /// Every variant, in slot order.
            pub const ALL: [$ty; [$($slot),+].len()] = [$($ty::$variant),+];
            pub const COUNT: usize = Self::ALL.len();

            /// Label value for metrics and JSON: a small fixed set.
            pub const fn name(self) -> &'static str {
                match self {
                    $( $ty::$variant => $name, )+
                }
            }

            /// The variant in slot `v`.
            pub const fn from_repr(v: u8) -> Option<$ty> {
                match v {
                    $( $slot => Some($ty::$variant), )+
                    _ => None,
                }
            }
        }

        // Slots are 0..COUNT in order, so `ALL[i] as usize == i`.
        const _: () = {
            let mut i = 0;
            while i < $ty::COUNT {
                assert!($ty::ALL[i] as usize == i);
                i += 1;
            }
        };
    };
}

named_slots! {
    /// Why a frame could not be parsed up to its TCP header. Shared so that the kernel
    /// counters and the pcap path's counters have the same slots and names.
    pub enum Malformed {
        EthernetTruncated = 0 => "ethernet_truncated",
        VlanTruncated = 1 => "vlan_truncated",
        VlanTooDeep = 2 => "vlan_too_deep",
        Ipv4Truncated = 3 => "ipv4_truncated",
        Ipv4BadHeaderLength = 4 => "ipv4_bad_header_length",
        Ipv4BadTotalLength = 5 => "ipv4_bad_total_length",
        Ipv6Truncated = 6 => "ipv6_truncated",
        Ipv6ExtensionTruncated = 7 => "ipv6_extension_truncated",
        Ipv6ExtensionChainTooLong = 8 => "ipv6_extension_chain_too_long",
        TcpTruncated = 9 => "tcp_truncated",
        TcpBadDataOffset = 10 => "tcp_bad_data_offset",
        TcpOptionsTruncated = 11 => "tcp_options_truncated",
        /// The version nibble disagrees with the EtherType (or an unknown raw-IP version).
        IpBadVersion = 12 => "ip_bad_version",
        /// A tunnel or link header (MPLS, PPPoE, GRE, ERSPAN, VXLAN, Geneve, GTP-U,
        /// CAPWAP, 802.11, ...) cut short.
        TunnelTruncated = 13 => "tunnel_truncated",
        /// More than [`MAX_LAYERS`] headers before TCP, or headers past [`MAX_HEADER_BYTES`].
        EncapsulationTooDeep = 14 => "encapsulation_too_deep",
    }
}

/// Slots of the per-CPU counter array the XDP program increments.
pub mod counter {
    use super::Malformed;
    /// Every frame the program ran on.
    pub const SEEN: u32 = 0;
    /// Frames that carried TCP over IPv4/IPv6 and parsed cleanly up to the TCP header.
    pub const TCP: u32 = 1;
    /// Selected, by reason bit: SELECTED_BASE + bit index (0 SYN .. 4 HANDSHAKE_ACK).
    pub const SELECTED_BASE: u32 = 2;
    /// Selected records the ring buffer had no room for (dropped, never blocking).
    pub const RINGBUF_FULL: u32 = SELECTED_BASE + super::reason::COUNT;
    /// Non-first IPv4/IPv6 fragments passed over (no TCP header in them).
    pub const FRAGMENT_SKIPPED: u32 = RINGBUF_FULL + 1;
    /// Malformed frames: MALFORMED_BASE + Malformed as u32.
    pub const MALFORMED_BASE: u32 = FRAGMENT_SKIPPED + 1;
    /// Records shed by design while the ring buffer was filling up, by reason bit:
    /// SHED_BASE + bit index (see the XDP program's `shed`).
    pub const SHED_BASE: u32 = MALFORMED_BASE + Malformed::COUNT as u32;
    pub const COUNT: u32 = SHED_BASE + super::reason::COUNT;

    pub const fn malformed(m: Malformed) -> u32 {
        MALFORMED_BASE + m as u32
    }
}

/// Tunables the loader writes into the program's read-only globals before loading.
pub mod tunable {
    /// Name of the global: minimum gap between timestamp samples of one flow (ns).
    pub const TS_SAMPLE_INTERVAL_NS: &str = "TS_SAMPLE_INTERVAL_NS";
    /// Name of the global: most timestamp samples taken from one flow.
    pub const TS_SAMPLE_MAX_PER_FLOW: &str = "TS_SAMPLE_MAX_PER_FLOW";
    /// Name of the global: the ring buffer is woken every this many records.
    pub const WAKEUP_BATCH: &str = "WAKEUP_BATCH";
    pub const DEFAULT_TS_SAMPLE_INTERVAL_NS: u64 = 1_000_000_000;
    pub const DEFAULT_TS_SAMPLE_MAX_PER_FLOW: u32 = 64;
    pub const DEFAULT_WAKEUP_BATCH: u32 = 512;
    /// Slots of the flow table that gates timestamp samples (a power of two).
    pub const FLOW_TABLE_SLOTS: u32 = 65_536;
    /// Name of the global: the [`super::HashKey`] of the flow table and of the choice of
    /// ring buffer.
    pub const HASH_KEY: &str = "HASH_KEY";
    /// Name of the global: how many ring buffers (consumer shards) are in use, a power of
    /// two up to [`MAX_SHARDS`]; a source's records all go to one of them.
    pub const SHARDS: &str = "SHARDS";
    /// Name of the global: each ring buffer's size in bytes (for the shedding thresholds).
    pub const RING_BYTES: &str = "RING_BYTES";
    /// Ring buffers in the object.
    pub const MAX_SHARDS: u32 = 16;
    /// Slots of the table of sources recently seen, used only while shedding.
    pub const SEEN_SLOTS: u32 = 16_384;
    /// While the ring is between half and three quarters full, a SYN from a source seen
    /// within this long is kept one time in [`SHED_SAMPLE`].
    pub const SEEN_FOR_NS: u64 = 1_000_000_000;
    pub const SHED_SAMPLE: u32 = 16;
    /// Slots of the table of sources whose handshake ACK was seen (real clients: their
    /// SYNs are never shed).
    pub const CLIENT_SLOTS: u32 = 16_384;
}

/// Names of the maps in the eBPF object.
pub mod map_name {
    /// The ring buffer of shard 0; `EVENTS_1`.. `EVENTS_15` for the others ([`events`]).
    pub const EVENTS: &str = "EVENTS";
    const EVENTS_N: [&str; super::tunable::MAX_SHARDS as usize] = [
        "EVENTS",
        "EVENTS_1",
        "EVENTS_2",
        "EVENTS_3",
        "EVENTS_4",
        "EVENTS_5",
        "EVENTS_6",
        "EVENTS_7",
        "EVENTS_8",
        "EVENTS_9",
        "EVENTS_10",
        "EVENTS_11",
        "EVENTS_12",
        "EVENTS_13",
        "EVENTS_14",
        "EVENTS_15",
    ];
    /// The ring buffer of shard `i`.
    pub const fn events(i: usize) -> &'static str {
        EVENTS_N[i]
    }
    pub const SEEN: &str = "SEEN";
    pub const CLIENTS: &str = "CLIENTS";
    pub const COUNTERS: &str = "COUNTERS";
    pub const FLOWS: &str = "FLOWS";
    pub const WAKEUP: &str = "WAKEUP";
}

/// The builds of the XDP program in the object (one source, two header walkers; the
/// same selection, records and counters).
pub mod program {
    /// Walks encapsulation headers one per `bpf_loop` iteration (Linux 5.17 or newer).
    pub const LOOP: &str = "osfp";
    /// The same walk as a plain loop of at most [`super::MAX_LAYERS`] calls to a global
    /// BPF function (verified once, on its own): any kernel with ring buffers and BTF.
    pub const BOUNDED: &str = "osfp_bounded";
    /// Every build, preferred first.
    pub const ALL: [&str; 2] = [LOOP, BOUNDED];
}
/// An XDP_PASS-only program in the same object: the benchmarks' baseline.
pub const BASELINE_PROGRAM_NAME: &str = "osfp_baseline";

/// One selected packet's header features. Written by the XDP program into the ring
/// buffer, and by the pcap path from a file: the same bytes either way.
///
/// Every byte is written explicitly (`_pad` included) so that the kernel never hands
/// out uninitialised ring-buffer memory and two records compare equal byte for byte.
/// `IntoBytes` fails to compile if the layout ever gets implicit padding; `FromBytes`
/// says every bit pattern is a record.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct PacketRecord {
    /// Capture time in ns: CLOCK_MONOTONIC from the kernel (userspace converts it to
    /// Unix time), Unix time from a file.
    pub ts_ns: u64,
    pub ifindex: u32,
    /// 4 or 6.
    pub family: u8,
    /// Bit set of [`reason`].
    pub reason: u8,
    /// TTL or hop limit.
    pub ttl: u8,
    /// TOS or traffic class, ECN bits included.
    pub tos: u8,
    /// Source address; IPv4 in the first four bytes, the rest zero.
    pub src: [u8; 16],
    pub dst: [u8; 16],
    /// IPv4 total length; IPv6 payload length + 40.
    pub ip_len: u16,
    /// IPv4 options bytes (IHL * 4 - 20); IPv6 extension header bytes before TCP.
    pub ip_opt_len: u8,
    /// Bit set of [`ip_flag`].
    pub ip_flags: u8,
    /// IPv4 identification, or the IPv6 fragment header's identification.
    pub ip_id: u32,
    /// IPv6 flow label (20 bits); 0 for IPv4.
    pub flow_label: u32,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    /// The 12 flag bits of [`tcp_flag`].
    pub tcp_flags: u16,
    pub window: u16,
    pub urg_ptr: u16,
    /// TCP payload bytes by the IP length fields (not by what was captured).
    pub payload_len: u16,
    /// TCP data offset in 32-bit words.
    pub doff: u8,
    /// Option bytes copied into `options`.
    pub opt_len: u8,
    /// Bit set of [`rec_flag`].
    pub rec_flags: u8,
    pub _pad: [u8; 5],
    /// Raw TCP option bytes in wire order; bytes past `opt_len` are zero.
    pub options: [u8; MAX_TCP_OPTION_BYTES],
}

impl PacketRecord {
    pub const SIZE: usize = core::mem::size_of::<PacketRecord>();

    pub const fn zeroed() -> Self {
        PacketRecord {
            ts_ns: 0,
            ifindex: 0,
            family: 0,
            reason: 0,
            ttl: 0,
            tos: 0,
            src: [0; 16],
            dst: [0; 16],
            ip_len: 0,
            ip_opt_len: 0,
            ip_flags: 0,
            ip_id: 0,
            flow_label: 0,
            sport: 0,
            dport: 0,
            seq: 0,
            ack: 0,
            tcp_flags: 0,
            window: 0,
            urg_ptr: 0,
            payload_len: 0,
            doff: 0,
            opt_len: 0,
            rec_flags: 0,
            _pad: [0; 5],
            options: [0; MAX_TCP_OPTION_BYTES],
        }
    }

    /// The record as bytes.
    pub fn as_bytes(&self) -> &[u8; Self::SIZE] {
        zerocopy::transmute_ref!(self)
    }

    /// Reads a record from ring-buffer bytes, whatever their alignment; `None` if the
    /// length is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Self::read_from_bytes(bytes).ok()
    }
}

// The ring-buffer record size both sides agree on.
const _: () = assert!(PacketRecord::SIZE == 128);

/// The flow table's key of a flow, in the direction of the packet: a keyed 64-bit hash
/// of the 5-tuple (8 bytes hash and compare faster than 40). A collision only makes two
/// flows share a sampling budget. The pcap path uses the same function.
#[inline(always)]
pub fn flow_hash(
    key: &HashKey,
    family: u8,
    src: &[u8; 16],
    dst: &[u8; 16],
    sport: u16,
    dport: u16,
) -> u64 {
    flow_hash_words(key, family, addr_words(src), addr_words(dst), sport, dport)
}

/// The secret of the hashes of what the network sends (addresses, ports): chosen at
/// random by userspace for each run and written into the XDP program, so that no sender
/// can pick flows that collide in the flow table's slots or sources that all land in one
/// consumer's ring buffer. Not a cryptographic MAC: a keyed multiply-xorshift mix.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HashKey {
    pub k0: u64,
    /// Made odd where it is used as a multiplier.
    pub k1: u64,
}

/// One keyed mixing round of `w` into `h`.
#[inline(always)]
const fn mix(h: u64, w: u64, m: u64) -> u64 {
    let h = (h ^ w).wrapping_mul(m);
    h ^ (h >> 31)
}

/// murmur3's fmix64: every input bit reaches every output bit.
#[inline(always)]
const fn fmix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// [`flow_hash`] of addresses given as little-endian 64-bit words (an IPv4 address is
/// `[u32::from_le_bytes(a) as u64, 0]`): lets the XDP fast path hash straight from
/// packet words, without building the 16-byte arrays.
#[inline(always)]
pub fn flow_hash_words(
    key: &HashKey,
    family: u8,
    src: [u64; 2],
    dst: [u64; 2],
    sport: u16,
    dport: u16,
) -> u64 {
    let m = key.k1 | 1;
    let mut h = key.k0 ^ family as u64;
    h = mix(h, src[0], m);
    h = mix(h, src[1], m);
    h = mix(h, dst[0], m);
    h = mix(h, dst[1], m);
    h = mix(h, (sport as u64) << 16 | dport as u64, m);
    // Never 0: that marks an empty slot.
    fmix(h) | 1
}

/// The keyed hash of a source address (words as in [`flow_hash_words`]): which consumer
/// shard a source's records go to, and its slot while shedding.
#[inline(always)]
pub fn source_hash(key: &HashKey, family: u8, src: [u64; 2]) -> u64 {
    let m = key.k1 | 1;
    let mut h = key.k0 ^ (family as u64) << 8;
    h = mix(h, src[0], m);
    h = mix(h, src[1], m);
    fmix(h) | 1
}

/// The shard of a [`source_hash`] among `shards` (a power of two): from the hash's high
/// bits, apart from the slot bits the tables use.
#[inline(always)]
pub fn shard_of(hash: u64, shards: u32) -> u32 {
    ((hash >> 40) as u32) & (shards.max(1) - 1)
}

/// The 16-byte address as the two little-endian words the hashes take.
#[inline(always)]
pub fn addr_words(a: &[u8; 16]) -> [u64; 2] {
    #[inline(always)]
    fn word(a: &[u8; 16], i: usize) -> u64 {
        u64::from_le_bytes([
            a[i],
            a[i + 1],
            a[i + 2],
            a[i + 3],
            a[i + 4],
            a[i + 5],
            a[i + 6],
            a[i + 7],
        ])
    }
    [word(a, 0), word(a, 8)]
}

/// One slot of the flow table: timestamp-sampling and handshake state of the flow whose
/// hash it holds.
///
/// The table is direct-mapped (slot = hash mod size): a newer flow replaces an older
/// one in its slot. Bounded by construction, and one inlined array access per packet
/// where an LRU hash map's insert measured ~110 ns here (BENCHMARKS.md).
///
/// `FromZeros`: the pcap path's mirror of the table is allocated zeroed (an empty
/// table), which costs no page until a slot is written.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, zerocopy::FromZeros)]
pub struct FlowSlot {
    /// [`flow_hash`] of the flow; 0 = empty.
    pub hash: u64,
    /// Capture time of the last sample, or of the SYN / SYN-ACK.
    pub last_ns: u64,
    /// Samples taken so far.
    pub samples: u32,
    /// Bit set of [`flow_flag`].
    pub flags: u32,
}

/// Bits of [`FlowSlot::flags`].
pub mod flow_flag {
    /// The slot was opened by a SYN (no ACK) whose completing ACK has not been seen:
    /// the next pure ACK of the flow is reported ([`super::reason::HANDSHAKE_ACK`]) and
    /// clears it.
    pub const AWAITING_ACK: u32 = 1 << 0;
}

/// Is this segment a candidate for completing a handshake: ACK without SYN/RST/FIN and
/// no payload? Shared so the kernel and the pcap path agree on it.
#[inline(always)]
pub fn is_pure_ack(flags: u16, payload_len: usize) -> bool {
    flags & (tcp_flag::ACK | tcp_flag::SYN | tcp_flag::RST | tcp_flag::FIN) == tcp_flag::ACK
        && payload_len == 0
}

const _: () = assert!(core::mem::size_of::<FlowSlot>() == 24);

/// The flag combinations a normal stack does not send, selected as scan probes: no flags
/// (of FIN/SYN/RST/PSH/ACK/URG), FIN without ACK, FIN+PSH+URG, SYN with FIN or RST, any
/// reserved bit, an urgent pointer without URG. Shared so the kernel and the pcap path
/// select alike.
#[inline(always)]
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

/// The slot of a flow hash.
#[inline(always)]
pub fn flow_slot(hash: u64) -> u32 {
    (hash & (tunable::FLOW_TABLE_SLOTS as u64 - 1)) as u32
}

/// The timestamp option's fast-path test, shared by kernel and userspace: every
/// mainstream stack sends it first on non-SYN segments, as `NOP NOP TS` or bare `TS`.
/// Returns the offset of the kind byte within the options, if found.
#[inline(always)]
pub fn ts_option_offset(first4: [u8; 4], opt_len: usize) -> Option<usize> {
    if opt_len >= 12 && first4 == [1, 1, 8, 10] {
        Some(2)
    } else if opt_len >= 10 && first4[0] == 8 && first4[1] == 10 {
        Some(0)
    } else {
        None
    }
}

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain-old-data, repr(C), no implicit padding.
    unsafe impl aya::Pod for super::PacketRecord {}
    unsafe impl aya::Pod for super::FlowSlot {}
    unsafe impl aya::Pod for super::HashKey {}
}

#[cfg(test)]
mod tests {
    use super::PacketRecord;

    #[test]
    fn record_bytes_round_trip_at_any_alignment() {
        let mut r = PacketRecord::zeroed();
        r.ts_ns = 0x0102_0304_0506_0708;
        r.sport = 0xabcd;
        r.options[39] = 0xee;
        let b = *r.as_bytes();
        // Native byte order, fields at their repr(C) offsets.
        assert_eq!(b[..8], 0x0102_0304_0506_0708u64.to_ne_bytes());
        assert_eq!(b[127], 0xee);
        let mut buf = [0u8; PacketRecord::SIZE + 1];
        for off in 0..2 {
            buf[off..off + PacketRecord::SIZE].copy_from_slice(&b);
            let back = PacketRecord::from_bytes(&buf[off..off + PacketRecord::SIZE]);
            assert_eq!(back, Some(r), "offset {off}");
        }
        assert_eq!(PacketRecord::from_bytes(&buf), None, "129 bytes");
        assert_eq!(PacketRecord::from_bytes(&b[..127]), None, "127 bytes");
    }
}
