//! osfp's XDP program. Parses Ethernet (up to two VLAN tags), IPv4 or IPv6 (extension
//! headers walked, bounded) and the fixed TCP header; selects SYNs, SYN-ACKs, scan-like
//! packets, rate-limited timestamp samples and the ACK completing a tracked SYN's
//! handshake; copies their header fields and raw option bytes into the ring buffer.
//! Option parsing and everything else is userspace's job.
//! Always XDP_PASS: the sensor never alters traffic.
//!
//! Every packet byte is read with direct packet access (no `bpf_xdp_load_bytes`, which
//! Linux 5.10 lacks), and the program comes in two entry points built from the same
//! code, which differ only in how the slow header walk loops (see `walk`):
//! `osfp` with the `bpf_loop` helper (Linux 5.17+), `osfp_bounded` with a plain
//! bounded loop over a global (separately verified) function (Linux 5.6+; ring buffers
//! need 5.8). Both walk MAX_LAYERS headers and select the same packets.
#![no_std]
#![no_main]
#![feature(asm_experimental_arch)]

use core::{ffi::c_void, mem::size_of, ptr::read_unaligned};

use aya_ebpf::{
    bindings::xdp_md,
    bindings::{xdp_action, BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    helpers::{bpf_ktime_get_ns, bpf_loop},
    macros::{map, xdp},
    maps::{Array, PerCpuArray, RingBuf},
    programs::XdpContext,
};
use osfp_common::{
    counter, flow_flag, flow_hash_words, flow_slot, ip_flag, is_pure_ack, is_scan_like, layer,
    reason, rec_flag, shard_of, source_hash, tcp_flag, ts_option_offset, tunable, FlowSlot,
    HashKey, Malformed, PacketRecord, GTP_MAX_EXTENSIONS, MAX_HEADER_BYTES, MAX_IPV6_EXT_BYTES,
    MAX_IPV6_EXT_HEADERS, MAX_LAYERS, MAX_TCP_OPTION_BYTES, MAX_VLAN_TAGS,
};

/// The ring buffers, one per consumer shard: a source's records all go to the ring of
/// its shard (`source_hash`, keyed). Default 8 MiB for the first; the loader sizes the
/// rings in use (`EbpfLoader::map_max_entries`) and leaves the others at one page.
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(8 * 1024 * 1024, 0);
#[map]
static EVENTS_1: RingBuf = RingBuf::with_byte_size(4096, 0);
#[map]
static EVENTS_2: RingBuf = RingBuf::with_byte_size(4096, 0);
#[map]
static EVENTS_3: RingBuf = RingBuf::with_byte_size(4096, 0);
#[map]
static EVENTS_4: RingBuf = RingBuf::with_byte_size(4096, 0);
#[map]
static EVENTS_5: RingBuf = RingBuf::with_byte_size(4096, 0);
#[map]
static EVENTS_6: RingBuf = RingBuf::with_byte_size(4096, 0);
#[map]
static EVENTS_7: RingBuf = RingBuf::with_byte_size(4096, 0);
#[map]
static EVENTS_8: RingBuf = RingBuf::with_byte_size(4096, 0);
#[map]
static EVENTS_9: RingBuf = RingBuf::with_byte_size(4096, 0);
#[map]
static EVENTS_10: RingBuf = RingBuf::with_byte_size(4096, 0);
#[map]
static EVENTS_11: RingBuf = RingBuf::with_byte_size(4096, 0);
#[map]
static EVENTS_12: RingBuf = RingBuf::with_byte_size(4096, 0);
#[map]
static EVENTS_13: RingBuf = RingBuf::with_byte_size(4096, 0);
#[map]
static EVENTS_14: RingBuf = RingBuf::with_byte_size(4096, 0);
#[map]
static EVENTS_15: RingBuf = RingBuf::with_byte_size(4096, 0);

/// `$body` with `$r` bound to the ring buffer of shard `$shard` (0..16).
macro_rules! on_ring {
    ($shard:expr, |$r:ident| $body:expr) => {
        match $shard {
            0 => {
                let $r = &EVENTS;
                $body
            }
            1 => {
                let $r = &EVENTS_1;
                $body
            }
            2 => {
                let $r = &EVENTS_2;
                $body
            }
            3 => {
                let $r = &EVENTS_3;
                $body
            }
            4 => {
                let $r = &EVENTS_4;
                $body
            }
            5 => {
                let $r = &EVENTS_5;
                $body
            }
            6 => {
                let $r = &EVENTS_6;
                $body
            }
            7 => {
                let $r = &EVENTS_7;
                $body
            }
            8 => {
                let $r = &EVENTS_8;
                $body
            }
            9 => {
                let $r = &EVENTS_9;
                $body
            }
            10 => {
                let $r = &EVENTS_10;
                $body
            }
            11 => {
                let $r = &EVENTS_11;
                $body
            }
            12 => {
                let $r = &EVENTS_12;
                $body
            }
            13 => {
                let $r = &EVENTS_13;
                $body
            }
            14 => {
                let $r = &EVENTS_14;
                $body
            }
            _ => {
                let $r = &EVENTS_15;
                $body
            }
        }
    };
}

/// Sources seen recently (their `source_hash` and when), written and read only while
/// the ring buffer is filling up: a direct-mapped table, racy by design (a lost update
/// only keeps or sheds one SYN more).
#[map]
static SEEN: Array<SeenSlot> = Array::with_max_entries(tunable::SEEN_SLOTS, 0);

#[repr(C)]
#[derive(Clone, Copy)]
struct SeenSlot {
    hash: u64,
    last_ns: u64,
}

/// Sources that completed a handshake (the `source_hash` of a handshake ACK's sender):
/// written only by handshake ACKs, so a flood of spoofed SYNs cannot push a real client
/// out; direct-mapped, a newer client takes the slot.
#[map]
static CLIENTS: Array<u64> = Array::with_max_entries(tunable::CLIENT_SLOTS, 0);

/// Per-CPU count of SYNs of seen sources while shedding (one in SHED_SAMPLE is kept).
#[map]
static SHED_TICK: PerCpuArray<u32> = PerCpuArray::with_max_entries(1, 0);

#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counter::COUNT, 0);

/// Flows whose SYN or SYN-ACK was seen, in the sender's direction: a direct-mapped
/// table (see osfp_common::FlowSlot). Array lookups are inlined by the verifier.
#[map]
static FLOWS: Array<FlowSlot> = Array::with_max_entries(tunable::FLOW_TABLE_SLOTS, 0);

/// Where `tcp` builds a record before copying it into EVENTS (see there).
#[map]
static RECORD: PerCpuArray<PacketRecord> = PerCpuArray::with_max_entries(1, 0);

/// Per-CPU count of records submitted without waking the consumer.
#[map]
static WAKEUP: PerCpuArray<u32> = PerCpuArray::with_max_entries(1, 0);

// Tunables, written by the loader into .rodata before the program is loaded.
#[no_mangle]
static TS_SAMPLE_INTERVAL_NS: u64 = tunable::DEFAULT_TS_SAMPLE_INTERVAL_NS;
#[no_mangle]
static TS_SAMPLE_MAX_PER_FLOW: u32 = tunable::DEFAULT_TS_SAMPLE_MAX_PER_FLOW;
#[no_mangle]
static WAKEUP_BATCH: u32 = tunable::DEFAULT_WAKEUP_BATCH;
#[no_mangle]
static HASH_KEY: HashKey = HashKey { k0: 0, k1: 0 };
#[no_mangle]
static SHARDS: u32 = 1;
#[no_mangle]
static RING_BYTES: u64 = 8 * 1024 * 1024;

#[inline(always)]
fn hash_key() -> HashKey {
    // SAFETY: a read of a global the loader wrote before the load.
    unsafe { core::ptr::read_volatile(&HASH_KEY) }
}

const IPPROTO_TCP: u8 = 6;

/// The walk loops with `bpf_loop` (Linux 5.17+). osfp_common::program::LOOP.
#[xdp]
pub fn osfp(ctx: XdpContext) -> u32 {
    run::<LOOP_HELPER>(&ctx)
}

/// The walk loops with a bounded loop (Linux 5.6+, ring buffers 5.8+).
/// osfp_common::program::BOUNDED.
#[xdp]
pub fn osfp_bounded(ctx: XdpContext) -> u32 {
    run::<LOOP_BOUNDED>(&ctx)
}

/// How `walk` loops over the headers: `run::<LOOP_HELPER>` or `run::<LOOP_BOUNDED>`.
const LOOP_HELPER: bool = false;
const LOOP_BOUNDED: bool = true;

#[inline(always)]
fn run<const BOUNDED: bool>(ctx: &XdpContext) -> u32 {
    count(counter::SEEN);
    if let Err(m) = inspect::<BOUNDED>(ctx) {
        count(counter::malformed(m));
    }
    xdp_action::XDP_PASS
}

/// Benchmark baseline: the cheapest possible XDP program.
#[xdp]
pub fn osfp_baseline(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

#[inline(always)]
fn count(slot: u32) {
    if let Some(p) = COUNTERS.get_ptr_mut(slot) {
        // SAFETY: per-CPU slot, no concurrent writer on this CPU.
        unsafe { *p += 1 }
    }
}

/// Bounds-checked pointer into the packet: the form the verifier accepts.
#[inline(always)]
fn at<T>(ctx: &XdpContext, off: usize) -> Option<*const T> {
    if size_of::<T>() == 1 {
        return at_pinned(ctx, off);
    }
    let start = ctx.data() + off;
    if start + size_of::<T>() > ctx.data_end() {
        return None;
    }
    Some(start as *const T)
}

/// As `at`, with the pointer computed once and hidden from LLVM, so that the pointer
/// checked against data_end is the pointer read through. Otherwise LLVM may recompute
/// the read pointer from the offset with other constants folded in (a new pointer,
/// whose range the verifier does not know), or turn `start + 1 > data_end` into
/// `start >= data_end` (which tells the verifier of no readable byte). The x86-64 JIT
/// emits nothing for the barrier's self-move.
#[inline(always)]
fn at_pinned<T>(ctx: &XdpContext, off: usize) -> Option<*const T> {
    let start = opaque(ctx.data() + off);
    let end = opaque(start + size_of::<T>());
    if end > ctx.data_end() {
        return None;
    }
    Some(start as *const T)
}

#[inline(always)]
fn be16(p: *const u8) -> u16 {
    // SAFETY: callers pass pointers checked by `at`.
    u16::from_be(unsafe { read_unaligned(p as *const u16) })
}

/// What the IP layer tells us, gathered before we know whether the packet is selected.
#[derive(Clone, Copy)]
#[repr(C)]
struct Ip {
    family: u8,
    ttl: u8,
    tos: u8,
    ip_len: u16,
    ip_opt_len: u8,
    ip_flags: u8,
    ip_id: u32,
    flow_label: u32,
    /// Offset of the address pair (IPv4 src at +0, dst at +4; IPv6 src +0, dst +16).
    addr_off: usize,
    /// Offset of the TCP header.
    l4: usize,
    /// Bytes after the IP headers by the IP length fields.
    l4_len: usize,
}

/// Largest offset the slow path reads at. Headers start within MAX_HEADER_BYTES (the
/// walker's check), and one header reads at most ~4.1 KiB past its start (GTP-U's four
/// extension headers of up to 1020 bytes): no read of a well-formed walk starts beyond
/// ~6.2 KiB, so the check below never turns a readable byte into a miss. A power of two
/// minus one, also used as a mask.
const MAX_READ_OFF: usize = 0x1fff;

/// Hides a value from LLVM (an empty asm statement): it can then neither drop a bound
/// check nor a mask as redundant, nor apply them to a copy in another register — the
/// verifier (Linux 5.10 has no bounds propagation between register copies) must see the
/// bound on the very register that is added to the packet pointer.
#[inline(always)]
fn opaque(mut v: usize) -> usize {
    // SAFETY: an empty asm statement; it only claims to change `v`.
    unsafe {
        core::arch::asm!("{0} = {0}", inout(reg) v, options(pure, nomem, nostack, preserves_flags))
    };
    v
}

/// `N` bytes at an offset the verifier knows nothing about (the slow path's, read back
/// from the walk state): direct packet access, with the offset checked and masked where
/// the verifier sees it. Replaces `bpf_xdp_load_bytes` (Linux 5.18+), and copies nothing.
#[inline(always)]
fn load<const N: usize>(ctx: &XdpContext, off: usize) -> Option<&'static [u8; N]> {
    if off > MAX_READ_OFF {
        return None;
    }
    let off = opaque(off) & MAX_READ_OFF;
    // SAFETY: checked against data_end; packet memory outlives the run.
    at_pinned::<[u8; N]>(ctx, off).map(|p| unsafe { &*p })
}

/// `N` bytes at `off`: plain `at` when the offset comes from the fast path (bounded
/// by construction), else `load`.
#[inline(always)]
fn read<const N: usize>(ctx: &XdpContext, off: usize, fast: bool) -> Option<&'static [u8; N]> {
    if fast {
        // SAFETY: as in `load`.
        at::<[u8; N]>(ctx, off).map(|p| unsafe { &*p })
    } else {
        load::<N>(ctx, off)
    }
}

#[inline(always)]
fn b16(b: &[u8], at: usize) -> u16 {
    ((b[at] as u16) << 8) | b[at + 1] as u16
}

#[inline(always)]
fn b32(b: &[u8], at: usize) -> u32 {
    ((b16(b, at) as u32) << 16) | b16(b, at + 2) as u32
}

#[inline(always)]
fn is_vlan(p: u16) -> bool {
    p == layer::VLAN_8021Q || p == layer::VLAN_8021AD || p == layer::VLAN_QINQ_OLD
}

/// Fast path, direct packet access: Ethernet, up to two VLAN tags, IPv4 or IPv6 with
/// TCP right behind. Anything else that may lead to TCP goes to `walk`, which mirrors
/// the pcap path's walker step for step; other packets stop here.
#[inline(always)]
fn inspect<const BOUNDED: bool>(ctx: &XdpContext) -> Result<(), Malformed> {
    let eth = at::<[u8; 14]>(ctx, 0).ok_or(Malformed::EthernetTruncated)? as *const u8;
    let mut proto = be16(unsafe { eth.add(12) });
    if proto <= 1500 {
        return slow::<BOUNDED>(ctx, layer::LLC_SNAP, 14, 1, 0);
    }
    let mut off = 14usize;
    let mut vlans = 0usize;
    while vlans < 2 && is_vlan(proto) {
        let tag = at::<[u8; 4]>(ctx, off).ok_or(Malformed::VlanTruncated)? as *const u8;
        proto = be16(unsafe { tag.add(2) });
        off += 4;
        vlans += 1;
    }
    let layers = 1 + vlans;
    if proto == layer::IPV4 {
        let h = at::<[u8; 20]>(ctx, off).ok_or(Malformed::Ipv4Truncated)?;
        let b = unsafe { &*h };
        let (hlen, total) = ipv4_lengths(b, off, frame_len(ctx))?;
        let p = b[9];
        if p != IPPROTO_TCP && layer::from_ip_proto(p).is_none() {
            return Ok(());
        }
        if b16(b, 6) & 0x1fff != 0 {
            count(counter::FRAGMENT_SKIPPED);
            return Ok(());
        }
        if p == IPPROTO_TCP {
            let th = at::<[u8; 20]>(ctx, off + hlen).ok_or(Malformed::TcpTruncated)?;
            let th = unsafe { &*th };
            let q = quick(th, off + hlen, total - hlen, frame_len(ctx));
            let key = || {
                flow_hash_words(
                    &hash_key(),
                    4,
                    [le32(b, 12), 0],
                    [le32(b, 16), 0],
                    b16(th, 0),
                    b16(th, 2),
                )
            };
            if q == Quick::Never
                || (q == Quick::PureAck && !awaiting(key()))
                || (q == Quick::TrackedOnly && !tracked(key()))
            {
                count(counter::TCP);
                return Ok(());
            }
            let ip = ipv4_fields(b, off, hlen, total);
            return tcp(ctx, &ip, th, true);
        }
        if !tunnel_worth_walking(ctx, p, off + hlen) {
            return Ok(());
        }
        return slow::<BOUNDED>(ctx, layer::IPV4, off, layers, vlans);
    }
    if proto == layer::IPV6 {
        let h = at::<[u8; 40]>(ctx, off).ok_or(Malformed::Ipv6Truncated)?;
        let b = unsafe { &*h };
        if b[0] >> 4 != 6 {
            return Err(Malformed::IpBadVersion);
        }
        let next = b[6];
        if next == IPPROTO_TCP {
            let th = at::<[u8; 20]>(ctx, off + 40).ok_or(Malformed::TcpTruncated)?;
            let th = unsafe { &*th };
            let payload = b16(b, 4) as usize;
            let q = quick(th, off + 40, payload, frame_len(ctx));
            let key = || {
                let (s, d) = ([le64(b, 8), le64(b, 16)], [le64(b, 24), le64(b, 32)]);
                flow_hash_words(&hash_key(), 6, s, d, b16(th, 0), b16(th, 2))
            };
            if q == Quick::Never
                || (q == Quick::PureAck && !awaiting(key()))
                || (q == Quick::TrackedOnly && !tracked(key()))
            {
                count(counter::TCP);
                return Ok(());
            }
            let ip = ipv6_fields(b, off, 0, 0, 0);
            return tcp(ctx, &ip, th, true);
        }
        let ext = matches!(next, 0 | 43 | 44 | 60);
        if !ext && !tunnel_worth_walking(ctx, next, off + 40) {
            return Ok(());
        }
        return slow::<BOUNDED>(ctx, layer::IPV6, off, layers, vlans);
    }
    if is_vlan(proto) || walked(proto) {
        return slow::<BOUNDED>(ctx, proto, off, layers, vlans);
    }
    Ok(())
}

/// The slow path, then TCP behind it.
#[inline(always)]
fn slow<const BOUNDED: bool>(
    ctx: &XdpContext,
    proto: u16,
    off: usize,
    used: usize,
    vlans: usize,
) -> Result<(), Malformed> {
    match walk::<BOUNDED>(ctx, proto, off, used, vlans) {
        FOUND_TCP => {
            let Some(w) = WALK.get_ptr(0) else {
                return Ok(());
            };
            // SAFETY: this CPU's slot, filled by `walk`; `tcp` reads the IP summary in
            // place (the entry frame plus `tcp`'s must stay within 512 bytes).
            let w = unsafe { &*w };
            let l4 = unsafe { core::ptr::read_volatile(&w.ip.l4) };
            let th = load::<20>(ctx, l4).ok_or(Malformed::TcpTruncated)?;
            tcp(ctx, &w.ip, th, false)
        }
        RUNNING => Err(Malformed::EncapsulationTooDeep),
        MALFORMED => {
            let m = WALK
                .get_ptr(0)
                .map(|w| unsafe { core::ptr::read_volatile(&(*w).malformed) })
                .unwrap_or(0);
            Err(malformed_from(m))
        }
        _ => Ok(()),
    }
}

/// What the fast path decides from the fixed TCP header alone.
#[derive(PartialEq, Eq)]
enum Quick {
    /// Needs `tcp`.
    Tcp,
    /// `tcp` would count it and pass over it without a record: no SYN, not scan-like,
    /// no room for a timestamp option (data offset < 8), options whole, not a pure ACK.
    /// The commonest packets (data segments, FIN/RST) return without building the IP
    /// summary or calling `tcp`.
    Never,
    /// As `Never`, but a pure ACK: selected only if it completes a tracked SYN's
    /// handshake, which the caller checks in the flow table before calling `tcp`.
    PureAck,
    /// As `Never`, but with room for a timestamp option: selected only on a flow in the
    /// flow table (a timestamp sample, or a handshake ACK carrying timestamps), which the
    /// caller checks before calling `tcp`.
    TrackedOnly,
}

/// Must never answer `Never` where `tcp` would select or count something more.
#[inline(always)]
fn quick(th: &[u8; 20], l4: usize, l4_len: usize, frame_len: usize) -> Quick {
    let doff = (th[12] >> 4) as usize;
    let flags = ((th[12] as u16 & 0x0f) << 8) | th[13] as u16;
    if !(doff >= 5
        && flags & tcp_flag::SYN == 0
        && !is_scan_like(flags, b16(th, 18))
        && l4 + doff * 4 <= frame_len
        && doff * 4 <= l4_len)
    {
        return Quick::Tcp;
    }
    if doff >= 8 {
        Quick::TrackedOnly
    } else if is_pure_ack(flags, l4_len - doff * 4) {
        Quick::PureAck
    } else {
        Quick::Never
    }
}

/// Is the flow of `key` a tracked SYN awaiting its completing ACK?
#[inline(always)]
/// Whether the flow of `key` holds its slot in the flow table.
fn tracked(key: u64) -> bool {
    match FLOWS.get_ptr(flow_slot(key)) {
        // SAFETY: array value pointer from the kernel.
        Some(s) => unsafe { (*s).hash == key },
        None => false,
    }
}

fn awaiting(key: u64) -> bool {
    match FLOWS.get_ptr(flow_slot(key)) {
        // SAFETY: array value pointer from the kernel.
        Some(s) => unsafe { (*s).hash == key && (*s).flags & flow_flag::AWAITING_ACK != 0 },
        None => false,
    }
}

#[inline(always)]
fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes([
        b[at],
        b[at + 1],
        b[at + 2],
        b[at + 3],
        b[at + 4],
        b[at + 5],
        b[at + 6],
        b[at + 7],
    ])
}

#[inline(always)]
fn le32(b: &[u8], at: usize) -> u64 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as u64
}

/// EtherTypes the walker follows (besides IP and VLAN).
#[inline(always)]
fn walked(p: u16) -> bool {
    matches!(
        p,
        layer::MPLS_UC
            | layer::MPLS_MC
            | layer::PPPOE_SESSION
            | layer::PBB
            | layer::FABRICPATH
            | layer::VNTAG
            | layer::ETAG
    )
}

/// May an IP payload of protocol `p` at `l4` lead to TCP? UDP only on tunnel ports
/// (read directly, so ordinary UDP costs no helper call).
#[inline(always)]
fn tunnel_worth_walking(ctx: &XdpContext, p: u8, l4: usize) -> bool {
    match layer::from_ip_proto(p) {
        None => false,
        Some(layer::UDP) => match at::<[u8; 8]>(ctx, l4) {
            Some(u) => {
                let u = u as *const u8;
                layer::udp_tunnel_port(be16(u), be16(unsafe { u.add(2) })).is_some()
            }
            // Cut short: the walker counts it.
            None => true,
        },
        Some(_) => true,
    }
}

/// Checks an IPv4 header at `off` (version, IHL, whole header present, total length)
/// and returns (header length, total length). Shared by the fast path and the walker.
#[inline(always)]
fn ipv4_lengths(b: &[u8; 20], off: usize, frame_len: usize) -> Result<(usize, usize), Malformed> {
    if b[0] >> 4 != 4 {
        return Err(Malformed::IpBadVersion);
    }
    let ihl = (b[0] & 0x0f) as usize;
    if ihl < 5 {
        return Err(Malformed::Ipv4BadHeaderLength);
    }
    let hlen = ihl * 4;
    if off + hlen > frame_len {
        return Err(Malformed::Ipv4Truncated);
    }
    let total = b16(b, 2) as usize;
    if total < hlen {
        return Err(Malformed::Ipv4BadTotalLength);
    }
    Ok((hlen, total))
}

#[inline(always)]
fn ipv4_fields(b: &[u8; 20], off: usize, hlen: usize, total: usize) -> Ip {
    let frag = b16(b, 6);
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
    Ip {
        family: 4,
        ttl: b[8],
        tos: b[1],
        ip_len: total as u16,
        ip_opt_len: (hlen - 20) as u8,
        ip_flags,
        ip_id: b16(b, 4) as u32,
        flow_label: 0,
        addr_off: off + 12,
        l4: off + hlen,
        l4_len: total - hlen,
    }
}

#[inline(always)]
fn ipv6_fields(b: &[u8; 40], off: usize, ext: usize, ip_flags: u8, ip_id: u32) -> Ip {
    let payload = b16(b, 4) as usize;
    Ip {
        family: 6,
        ttl: b[7],
        tos: (b[0] << 4) | (b[1] >> 4),
        ip_len: (payload as u16).wrapping_add(40),
        ip_opt_len: if ext > 255 { 255 } else { ext as u8 },
        ip_flags,
        ip_id,
        flow_label: ((b[1] as u32 & 0x0f) << 16) | ((b[2] as u32) << 8) | b[3] as u32,
        addr_off: off + 8,
        l4: off + 40 + ext,
        l4_len: payload.wrapping_sub(ext),
    }
}

/// Where one IP header leads.
enum Step {
    Tcp(Ip),
    Next(u16, usize),
    Stop,
}

/// What one step of the slow walk found.
enum Flow {
    Continue,
    Stop,
    Tcp(Ip),
}

/// The slow walk's state. It lives in a per-CPU map rather than on the stack, and is
/// read and written with volatile accesses: the verifier knows nothing of map contents,
/// so the per-header step is checked against one general state instead of every
/// constant a walk can carry (which blew past the 1M-instruction limit), and LLVM cannot
/// carry values from one step to the next. XDP runs without migration, so one slot per
/// CPU suffices.
#[repr(C)]
#[derive(Clone, Copy)]
struct Walk {
    off: usize,
    vlans: usize,
    proto: u16,
    /// RUNNING, STOPPED, FOUND_TCP or MALFORMED.
    outcome: u16,
    malformed: u16,
    ip: Ip,
}

#[map]
static WALK: PerCpuArray<Walk> = PerCpuArray::with_max_entries(1, 0);

/// What the bpf_loop callback gets: the packet context (a pointer may not go into a map).
#[repr(C)]
struct LoopCtx {
    xdp: *mut xdp_md,
}

const RUNNING: u16 = 0;
const STOPPED: u16 = 1;
const FOUND_TCP: u16 = 2;
const MALFORMED: u16 = 3;

/// The slow path: every header the pcap path's walker opens, one header per iteration,
/// at most MAX_LAYERS - `used` of them. Keep in step with osfp-userspace/src/capture/frame.rs
/// (`walk`). Returns the outcome; with FOUND_TCP the IP header is in the WALK slot.
/// Returns rather than calling `tcp` so that the two stack frames are never live
/// together (the kernel caps the chain at 512 bytes), and a code rather than a struct
/// (BPF calls take at most five arguments, a returned struct would need a sixth).
///
/// The two ways to loop, one per entry point, run the same `walk_one`:
/// - LOOP_HELPER: `bpf_loop` (Linux 5.17+) with a static callback, which the verifier
///   checks once.
/// - LOOP_BOUNDED: a plain loop of at most MAX_LAYERS iterations, each calling
///   `osfp_walk_step`, a global function: the verifier checks a global function once,
///   on its own, with arguments it knows nothing about (Linux 5.6+), so each iteration
///   costs the caller a call's worth of instructions instead of a whole header parse.
#[inline(never)]
fn walk<const BOUNDED: bool>(
    ctx: &XdpContext,
    proto: u16,
    off: usize,
    used: usize,
    vlans: usize,
) -> u16 {
    let Some(w) = WALK.get_ptr_mut(0) else {
        return STOPPED;
    };
    // SAFETY: this CPU's slot; nothing else runs on it meanwhile.
    unsafe {
        core::ptr::write_volatile(&mut (*w).off, off);
        core::ptr::write_volatile(&mut (*w).vlans, vlans);
        core::ptr::write_volatile(&mut (*w).proto, proto);
        core::ptr::write_volatile(&mut (*w).outcome, RUNNING);
        core::ptr::write_volatile(&mut (*w).malformed, 0);
    }
    let n = MAX_LAYERS - used;
    if BOUNDED {
        let mut i = 0;
        while i < MAX_LAYERS {
            if i >= n || osfp_walk_step(ctx.ctx) != 0 {
                break;
            }
            i += 1;
        }
    } else {
        let mut lc = LoopCtx { xdp: ctx.ctx };
        // SAFETY: the callback only reads `lc` during this call.
        unsafe {
            bpf_loop(
                n as u32,
                walk_step as *mut c_void,
                &mut lc as *mut LoopCtx as *mut c_void,
                0,
            )
        };
    }
    // SAFETY: as above.
    unsafe { core::ptr::read_volatile(&(*w).outcome) }
}

fn malformed_from(v: u16) -> Malformed {
    let mut i = 0;
    while i < Malformed::COUNT {
        if Malformed::ALL[i] as u16 == v {
            return Malformed::ALL[i];
        }
        i += 1;
    }
    Malformed::EncapsulationTooDeep
}

/// bpf_loop callback: one header. Returns 1 to stop the loop.
#[inline(never)]
extern "C" fn walk_step(_index: u64, data: *mut c_void) -> i64 {
    // SAFETY: `data` is the LoopCtx passed to bpf_loop above.
    let lc = unsafe { &*(data as *const LoopCtx) };
    walk_one(&XdpContext::new(lc.xdp))
}

/// The bounded loop's step: one header. Returns non-zero to stop the loop. Global (not
/// mangled, public) so that the verifier checks it once rather than per iteration; its
/// arguments may only be the context and scalars (Linux 5.10), hence the map state.
#[no_mangle]
#[inline(never)]
pub extern "C" fn osfp_walk_step(xdp: *mut xdp_md) -> i64 {
    walk_one(&XdpContext::new(xdp))
}

/// One header of the walk, state in this CPU's WALK slot. Returns 1 to stop.
#[inline(always)]
fn walk_one(ctx: &XdpContext) -> i64 {
    let Some(w) = WALK.get_ptr_mut(0) else {
        return 1;
    };
    // SAFETY: this CPU's slot; volatile so that nothing is carried between steps.
    let (mut proto, mut off, mut vlans) = unsafe {
        (
            core::ptr::read_volatile(&(*w).proto),
            core::ptr::read_volatile(&(*w).off),
            core::ptr::read_volatile(&(*w).vlans),
        )
    };
    // SAFETY: as above.
    unsafe {
        match step(ctx, &mut proto, &mut off, &mut vlans) {
            Ok(Flow::Continue) => {
                core::ptr::write_volatile(&mut (*w).proto, proto);
                core::ptr::write_volatile(&mut (*w).off, off);
                core::ptr::write_volatile(&mut (*w).vlans, vlans);
                0
            }
            Ok(Flow::Stop) => {
                core::ptr::write_volatile(&mut (*w).outcome, STOPPED);
                1
            }
            Ok(Flow::Tcp(ip)) => {
                core::ptr::write_volatile(&mut (*w).ip, ip);
                core::ptr::write_volatile(&mut (*w).outcome, FOUND_TCP);
                1
            }
            Err(m) => {
                core::ptr::write_volatile(&mut (*w).malformed, m as u16);
                core::ptr::write_volatile(&mut (*w).outcome, MALFORMED);
                1
            }
        }
    }
}

#[inline(always)]
fn step(
    ctx: &XdpContext,
    proto_: &mut u16,
    off_: &mut usize,
    vlans_: &mut usize,
) -> Result<Flow, Malformed> {
    let (mut proto, mut off, mut vlans) = (*proto_, *off_, *vlans_);
    if off > MAX_HEADER_BYTES {
        return Err(Malformed::EncapsulationTooDeep);
    }
    match proto {
        layer::ETHERNET => {
            let e: &[u8; 14] = load(ctx, off).ok_or(Malformed::EthernetTruncated)?;
            proto = b16(e, 12);
            off += 14;
            vlans = 0;
            if proto <= 1500 {
                proto = layer::LLC_SNAP;
            }
        }
        layer::VNTAG => {
            let t: &[u8; 6] = load(ctx, off).ok_or(Malformed::VlanTruncated)?;
            proto = b16(t, 4);
            off += 6;
        }
        layer::ETAG => {
            let t: &[u8; 8] = load(ctx, off).ok_or(Malformed::VlanTruncated)?;
            proto = b16(t, 6);
            off += 8;
        }
        layer::VLAN_8021Q | layer::VLAN_8021AD | layer::VLAN_QINQ_OLD => {
            if vlans == MAX_VLAN_TAGS {
                return Err(Malformed::VlanTooDeep);
            }
            let t: &[u8; 4] = load(ctx, off).ok_or(Malformed::VlanTruncated)?;
            proto = b16(t, 2);
            off += 4;
            vlans += 1;
        }
        layer::MPLS_UC | layer::MPLS_MC => {
            let l: &[u8; 4] = load(ctx, off).ok_or(Malformed::TunnelTruncated)?;
            off += 4;
            if l[2] & 1 != 0 {
                let n: &[u8; 1] = load(ctx, off).ok_or(Malformed::TunnelTruncated)?;
                let n = n[0] >> 4;
                if n == 0 {
                    off += 4;
                    proto = layer::ETHERNET;
                } else {
                    match layer::from_ip_version(n) {
                        Some(p) => proto = p,
                        None => return Ok(Flow::Stop),
                    }
                }
            }
        }
        layer::PPPOE_SESSION => {
            let _: &[u8; 6] = load(ctx, off).ok_or(Malformed::TunnelTruncated)?;
            off += 6;
            proto = layer::PPP;
        }
        layer::PPP => {
            let h: &[u8; 2] = load(ctx, off).ok_or(Malformed::TunnelTruncated)?;
            if h[0] == 0xff && h[1] == 0x03 {
                off += 2;
            }
            let p: &[u8; 2] = load(ctx, off).ok_or(Malformed::TunnelTruncated)?;
            proto = match b16(p, 0) {
                0x0021 => layer::IPV4,
                0x0057 => layer::IPV6,
                _ => return Ok(Flow::Stop),
            };
            off += 2;
        }
        layer::PBB => {
            let _: &[u8; 4] = load(ctx, off).ok_or(Malformed::TunnelTruncated)?;
            off += 4;
            proto = layer::ETHERNET;
        }
        layer::FABRICPATH => {
            let _: &[u8; 2] = load(ctx, off).ok_or(Malformed::TunnelTruncated)?;
            off += 2;
            proto = layer::ETHERNET;
        }
        layer::TEB => proto = layer::ETHERNET,
        layer::ERSPAN_2 => {
            let _: &[u8; 8] = load(ctx, off).ok_or(Malformed::TunnelTruncated)?;
            off += 8;
            proto = layer::ETHERNET;
        }
        layer::ERSPAN_3 => {
            let h: &[u8; 12] = load(ctx, off).ok_or(Malformed::TunnelTruncated)?;
            off += if h[11] & 1 != 0 { 20 } else { 12 };
            proto = layer::ETHERNET;
        }
        layer::IPV4 => match walk_ipv4(ctx, off)? {
            Step::Tcp(ip) => return Ok(Flow::Tcp(ip)),
            Step::Next(p, o) => {
                proto = p;
                off = o;
            }
            Step::Stop => return Ok(Flow::Stop),
        },
        layer::IPV6 => match walk_ipv6(ctx, off)? {
            Step::Tcp(ip) => return Ok(Flow::Tcp(ip)),
            Step::Next(p, o) => {
                proto = p;
                off = o;
            }
            Step::Stop => return Ok(Flow::Stop),
        },
        layer::GRE => {
            let h: &[u8; 4] = load(ctx, off).ok_or(Malformed::TunnelTruncated)?;
            if h[1] & 7 != 0 || h[0] & 0x40 != 0 {
                return Ok(Flow::Stop);
            }
            let opt = ((h[0] >> 7) & 1) + ((h[0] >> 5) & 1) + ((h[0] >> 4) & 1);
            proto = b16(h, 2);
            if proto == layer::ERSPAN_2 && h[0] & 0x10 == 0 {
                proto = layer::ETHERNET;
            } else if proto == layer::ARUBA_WLAN {
                proto = layer::WLAN;
            }
            off += 4 + 4 * opt as usize;
        }
        layer::UDP => {
            let u: &[u8; 8] = load(ctx, off).ok_or(Malformed::TunnelTruncated)?;
            let Some(port) = layer::udp_tunnel_port(b16(u, 0), b16(u, 2)) else {
                return Ok(Flow::Stop);
            };
            off += 8;
            match udp_tunnel(ctx, port, off)? {
                Some((p, o)) => {
                    proto = p;
                    off = o;
                }
                None => return Ok(Flow::Stop),
            }
        }
        layer::WLAN | layer::WLAN_SWAPPED => {
            let h: &[u8; 24] = load(ctx, off).ok_or(Malformed::TunnelTruncated)?;
            let (fc0, fc1) = if proto == layer::WLAN {
                (h[0], h[1])
            } else {
                (h[1], h[0])
            };
            let subtype = fc0 >> 4;
            if (fc0 >> 2) & 3 != 2 || subtype & 4 != 0 || fc1 & 0x40 != 0 {
                return Ok(Flow::Stop);
            }
            let qos = subtype & 8 != 0;
            off += 24;
            if fc1 & 3 == 3 {
                off += 6;
            }
            if qos {
                off += 2;
                if fc1 & 0x80 != 0 {
                    off += 4;
                }
            }
            proto = layer::LLC_SNAP;
        }
        layer::LLC_SNAP => {
            let l: &[u8; 8] = load(ctx, off).ok_or(Malformed::TunnelTruncated)?;
            if l[0] != 0xAA || l[1] != 0xAA || l[2] != 0x03 {
                return Ok(Flow::Stop);
            }
            proto = b16(l, 6);
            off += 8;
        }
        _ => return Ok(Flow::Stop),
    }
    *proto_ = proto;
    *off_ = off;
    *vlans_ = vlans;
    Ok(Flow::Continue)
}

/// The payload of a UDP tunnel at `off`: (walk protocol, offset), or None.
#[inline(always)]
fn udp_tunnel(
    ctx: &XdpContext,
    port: u16,
    mut off: usize,
) -> Result<Option<(u16, usize)>, Malformed> {
    match port {
        layer::UDP_VXLAN => {
            let _: &[u8; 8] = load(ctx, off).ok_or(Malformed::TunnelTruncated)?;
            Ok(Some((layer::ETHERNET, off + 8)))
        }
        layer::UDP_GENEVE => {
            let g: &[u8; 8] = load(ctx, off).ok_or(Malformed::TunnelTruncated)?;
            Ok(Some((b16(g, 2), off + 8 + (g[0] & 0x3f) as usize * 4)))
        }
        layer::UDP_GTP_U => gtp_u(ctx, off),
        layer::UDP_GRE => Ok(Some((layer::GRE, off))),
        layer::UDP_VXLAN_GPE => {
            let h: &[u8; 8] = load(ctx, off).ok_or(Malformed::TunnelTruncated)?;
            Ok(match h[3] {
                1 => Some((layer::IPV4, off + 8)),
                2 => Some((layer::IPV6, off + 8)),
                3 => Some((layer::ETHERNET, off + 8)),
                _ => None,
            })
        }
        layer::UDP_L2TP => {
            let h: &[u8; 2] = load(ctx, off).ok_or(Malformed::TunnelTruncated)?;
            if h[0] & 0x80 != 0 || h[1] & 0x0f != 2 {
                return Ok(None);
            }
            let mut len = 6;
            if h[0] & 0x40 != 0 {
                len += 2;
            }
            if h[0] & 0x08 != 0 {
                len += 4;
            }
            if h[0] & 0x02 != 0 {
                let o: &[u8; 2] = load(ctx, off + len).ok_or(Malformed::TunnelTruncated)?;
                len += 2 + b16(o, 0) as usize;
            }
            Ok(Some((layer::PPP, off + len)))
        }
        layer::UDP_AYIYA => {
            let h: &[u8; 8] = load(ctx, off).ok_or(Malformed::TunnelTruncated)?;
            if h[3] != 41 {
                return Ok(None);
            }
            off += 8 + (1usize << (h[0] >> 4)) + (h[1] >> 4) as usize * 4;
            Ok(Some((layer::IPV6, off)))
        }
        _ => {
            // CAPWAP data: 802.11 payloads only (T=1, WBID=1).
            let c: &[u8; 8] = load(ctx, off).ok_or(Malformed::TunnelTruncated)?;
            let hlen = (c[1] >> 3) as usize * 4;
            if c[2] & 1 == 0 || (c[2] >> 1) & 0x1f != 1 || hlen < 8 {
                return Ok(None);
            }
            Ok(Some((layer::WLAN_SWAPPED, off + hlen)))
        }
    }
}

#[inline(always)]
fn gtp_u(ctx: &XdpContext, mut off: usize) -> Result<Option<(u16, usize)>, Malformed> {
    let g: &[u8; 8] = load(ctx, off).ok_or(Malformed::TunnelTruncated)?;
    if g[0] >> 5 != 1 || g[0] & 0x10 == 0 || g[1] != 0xff {
        return Ok(None);
    }
    off += 8;
    if g[0] & 0x07 != 0 {
        let e: &[u8; 4] = load(ctx, off).ok_or(Malformed::TunnelTruncated)?;
        let mut next = e[3];
        off += 4;
        for _ in 0..GTP_MAX_EXTENSIONS {
            if next == 0 {
                break;
            }
            let l: &[u8; 1] = load(ctx, off).ok_or(Malformed::TunnelTruncated)?;
            let len = l[0] as usize * 4;
            if len == 0 {
                return Err(Malformed::TunnelTruncated);
            }
            let n: &[u8; 1] = load(ctx, off + len - 1).ok_or(Malformed::TunnelTruncated)?;
            next = n[0];
            off += len;
        }
        if next != 0 {
            return Err(Malformed::EncapsulationTooDeep);
        }
    }
    let v: &[u8; 1] = load(ctx, off).ok_or(Malformed::TunnelTruncated)?;
    Ok(layer::from_ip_version(v[0] >> 4).map(|p| (p, off)))
}

#[inline(always)]
fn walk_ipv4(ctx: &XdpContext, off: usize) -> Result<Step, Malformed> {
    let b: &[u8; 20] = load(ctx, off).ok_or(Malformed::Ipv4Truncated)?;
    let (hlen, total) = ipv4_lengths(b, off, frame_len(ctx))?;
    let proto = b[9];
    let next = layer::from_ip_proto(proto);
    if proto != IPPROTO_TCP && next.is_none() {
        return Ok(Step::Stop);
    }
    if b16(b, 6) & 0x1fff != 0 {
        count(counter::FRAGMENT_SKIPPED);
        return Ok(Step::Stop);
    }
    match next {
        Some(p) if proto != IPPROTO_TCP => Ok(Step::Next(p, off + hlen)),
        _ => Ok(Step::Tcp(ipv4_fields(b, off, hlen, total))),
    }
}

#[inline(always)]
fn walk_ipv6(ctx: &XdpContext, off: usize) -> Result<Step, Malformed> {
    let b: &[u8; 40] = load(ctx, off).ok_or(Malformed::Ipv6Truncated)?;
    if b[0] >> 4 != 6 {
        return Err(Malformed::IpBadVersion);
    }
    let payload = b16(b, 4) as usize;
    let mut next = b[6];
    let mut ext = 0usize;
    let mut ip_flags = 0u8;
    let mut ip_id = 0u32;
    for _ in 0..MAX_IPV6_EXT_HEADERS {
        let at = off + 40 + ext;
        if next == 0 || next == 43 || next == 60 {
            let e: &[u8; 2] = load(ctx, at).ok_or(Malformed::Ipv6ExtensionTruncated)?;
            next = e[0];
            ext += (e[1] as usize + 1) * 8;
        } else if next == 44 {
            let e: &[u8; 8] = load(ctx, at).ok_or(Malformed::Ipv6ExtensionTruncated)?;
            next = e[0];
            let fo = b16(e, 2);
            ip_flags |= ip_flag::V6_FRAG_HEADER;
            if fo & 1 != 0 {
                ip_flags |= ip_flag::MF;
            }
            ip_id = b32(e, 4);
            if fo >> 3 != 0 {
                count(counter::FRAGMENT_SKIPPED);
                return Ok(Step::Stop);
            }
            ext += 8;
        } else {
            break;
        }
        if ext > MAX_IPV6_EXT_BYTES {
            return Err(Malformed::Ipv6ExtensionChainTooLong);
        }
    }
    if matches!(next, 0 | 43 | 44 | 60) {
        return Err(Malformed::Ipv6ExtensionChainTooLong);
    }
    if next != IPPROTO_TCP {
        return Ok(match layer::from_ip_proto(next) {
            Some(p) => Step::Next(p, off + 40 + ext),
            None => Step::Stop,
        });
    }
    if payload < ext {
        return Err(Malformed::Ipv6ExtensionTruncated);
    }
    Ok(Step::Tcp(ipv6_fields(b, off, ext, ip_flags, ip_id)))
}

#[inline(always)]
fn frame_len(ctx: &XdpContext) -> usize {
    ctx.data_end() - ctx.data()
}

#[inline(never)]
fn tcp(ctx: &XdpContext, ip: &Ip, b: &[u8; 20], fast: bool) -> Result<(), Malformed> {
    count(counter::TCP);
    let doff = b[12] >> 4;
    if doff < 5 {
        return Err(Malformed::TcpBadDataOffset);
    }
    let flags = ((b[12] as u16 & 0x0f) << 8) | b[13] as u16;
    let urg_ptr = b16(b, 18);

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

    // Option bytes: what the header claims, cut to what the packet holds.
    let claimed = (doff as usize) * 4 - 20;
    let opt_start = ip.l4 + 20;
    let avail = frame_len(ctx).saturating_sub(opt_start);
    let mut opt_len = if claimed < avail { claimed } else { avail };
    let truncated = opt_len < claimed || claimed + 20 > ip.l4_len;
    if truncated {
        count(counter::malformed(Malformed::TcpOptionsTruncated));
    }
    if opt_len > MAX_TCP_OPTION_BYTES {
        opt_len = MAX_TCP_OPTION_BYTES;
    }

    let now;
    let addrs;
    let sport = b16(b, 0);
    let dport = b16(b, 2);
    if why == 0 {
        // Both need the flow's slot: a pure ACK may complete a tracked SYN's handshake;
        // a segment whose options start with the timestamp option may be sampled (on
        // flows we saw open, rate-limited per flow). Cheapest tests first.
        let pure_ack = is_pure_ack(flags, ip.l4_len.saturating_sub(doff as usize * 4));
        let mut ts = false;
        if opt_len >= 10 {
            let first = read::<4>(ctx, opt_start, fast);
            ts = first.is_some_and(|f| ts_option_offset(*f, opt_len).is_some());
        }
        if !pure_ack && !ts {
            return Ok(());
        }
        addrs = read_addrs(ctx, ip, fast);
        let key = flow_hash_words(&hash_key(), ip.family, addrs.0, addrs.1, sport, dport);
        let Some(slot) = FLOWS.get_ptr_mut(flow_slot(key)) else {
            return Ok(());
        };
        // SAFETY: array value pointer from the kernel; racing CPUs may over-sample by one
        // or report a completion twice.
        let state = unsafe { &mut *slot };
        if state.hash != key {
            return Ok(());
        }
        let complete = pure_ack && state.flags & flow_flag::AWAITING_ACK != 0;
        let max = unsafe { core::ptr::read_volatile(&TS_SAMPLE_MAX_PER_FLOW) };
        let sample = ts && state.samples < max;
        if !complete && !sample {
            return Ok(());
        }
        now = unsafe { bpf_ktime_get_ns() };
        if complete {
            state.flags &= !flow_flag::AWAITING_ACK;
            why = reason::HANDSHAKE_ACK;
        }
        let interval = unsafe { core::ptr::read_volatile(&TS_SAMPLE_INTERVAL_NS) };
        if sample && now.wrapping_sub(state.last_ns) >= interval {
            state.samples += 1;
            state.last_ns = now;
            why |= reason::TS_SAMPLE;
        }
        if why == 0 {
            return Ok(());
        }
    } else {
        addrs = read_addrs(ctx, ip, fast);
        now = unsafe { bpf_ktime_get_ns() };
        if why & (reason::SYN | reason::SYNACK) != 0 {
            let key = flow_hash_words(&hash_key(), ip.family, addrs.0, addrs.1, sport, dport);
            if let Some(slot) = FLOWS.get_ptr_mut(flow_slot(key)) {
                // SAFETY: array value pointer; a newer flow takes the slot. A client's
                // SYN awaits its completing ACK; a SYN-ACK's slot only samples.
                unsafe {
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
                }
            }
        }
    }

    // The record is built in this CPU's scratch slot, then copied into the reserved
    // ring-buffer entry by straight-line code: verifiers before Linux 6.4 compare a
    // reservation's reference id literally, so no path between reserve and submit is
    // ever pruned, and the option copy's branches multiplied with every path into it
    // past the 1M-instruction limit (6.1, 5.10). bpf_ringbuf_output instead of the copy
    // measured ~20 ns slower per record.
    // The ring of the source's shard, and shedding by design before it overflows.
    let shards = unsafe { core::ptr::read_volatile(&SHARDS) };
    let src_hash = source_hash(&hash_key(), ip.family, addrs.0);
    let sh = shard_of(src_hash, shards);
    if why & reason::HANDSHAKE_ACK != 0 {
        if let Some(slot) = CLIENTS.get_ptr_mut(client_slot(src_hash)) {
            // SAFETY: array value pointer; a racing CPU writes another client's hash.
            unsafe { *slot = src_hash };
        }
    } else if why & reason::SYNACK == 0 && shed(sh, why, src_hash, now) {
        return Ok(());
    }
    let Some(r) = RECORD.get_ptr_mut(0) else {
        return Ok(());
    };
    // SAFETY: this CPU's slot; every field is written before the copy.
    unsafe {
        (*r).ts_ns = now;
        (*r).ifindex = ctx.ingress_ifindex() as u32;
        (*r).family = ip.family;
        (*r).reason = why;
        (*r).ttl = ip.ttl;
        (*r).tos = ip.tos;
        (*r).ip_len = ip.ip_len;
        (*r).ip_opt_len = ip.ip_opt_len;
        (*r).ip_flags = ip.ip_flags;
        (*r).ip_id = ip.ip_id;
        (*r).flow_label = ip.flow_label;
        (*r).sport = sport;
        (*r).dport = dport;
        (*r).seq = b32(b, 4);
        (*r).ack = b32(b, 8);
        (*r).tcp_flags = flags;
        (*r).window = b16(b, 14);
        (*r).urg_ptr = urg_ptr;
        (*r).payload_len = ip.l4_len.saturating_sub(doff as usize * 4) as u16;
        (*r).doff = doff;
        (*r).opt_len = opt_len as u8;
        (*r).rec_flags = if truncated {
            rec_flag::OPTIONS_TRUNCATED
        } else {
            0
        };
        // Volatile stores, so that LLVM does not merge the zeroing of `_pad` (83..88)
        // and `options` (88..128) into a call of compiler-builtins' byte-wise memset.
        core::ptr::write_volatile(&mut (*r)._pad[0], 0);
        core::ptr::write_volatile((*r)._pad.as_mut_ptr().add(1) as *mut u32, 0);
        let o = (*r).options.as_mut_ptr() as *mut u64;
        let mut i = 0;
        while i < MAX_TCP_OPTION_BYTES / 8 {
            core::ptr::write_volatile(o.add(i), 0);
            i += 1;
        }
        // The words' little-endian bytes are the addresses' wire bytes.
        let a = (*r).src.as_mut_ptr() as *mut u64;
        core::ptr::write_unaligned(a, addrs.0[0]);
        core::ptr::write_unaligned(a.add(1), addrs.0[1]);
        let a = (*r).dst.as_mut_ptr() as *mut u64;
        core::ptr::write_unaligned(a, addrs.1[0]);
        core::ptr::write_unaligned(a.add(1), addrs.1[1]);
        (*r).opt_len = copy_options(ctx, opt_start, fast, r);
    }
    let Some(mut entry) = on_ring!(sh, |ring| ring.reserve::<PacketRecord>(0)) else {
        count(counter::RINGBUF_FULL);
        return Ok(());
    };
    // Straight-line copy: nothing between reserve and submit branches (but the
    // wake-up batching's two tests). Volatile so that it stays sixteen word moves.
    // SAFETY: both are 128-byte, 8-aligned records.
    unsafe {
        let src = r as *const u64;
        let dst = entry.as_mut_ptr() as *mut u64;
        let mut i = 0;
        while i < PacketRecord::SIZE / 8 {
            core::ptr::write_volatile(dst.add(i), core::ptr::read_volatile(src.add(i)));
            i += 1;
        }
    }
    entry.submit(wakeup_flags());

    let mut bit = 0;
    while bit < reason::COUNT {
        if why & (1 << bit) != 0 {
            count(counter::SELECTED_BASE + bit);
        }
        bit += 1;
    }
    Ok(())
}

/// Whether to shed a record of reasons `why` (neither a SYN-ACK nor a handshake ACK)
/// because shard `sh`'s ring is filling up, rather than lose records at random once it is
/// full: from three quarters full, all of them; from half full, timestamp samples, and
/// SYNs of sources seen within the last second (`SEEN`) but one in `SHED_SAMPLE`, so that
/// every source's first SYN still gets through. SYN-ACKs and handshake ACKs are never
/// shed: a flood of spoofed SYNs has none, and they are what tells a real client; nor
/// are the SYNs of a source whose handshake ACK was seen (`CLIENTS`). Counted by reason
/// (`counter::SHED_BASE`).
#[inline(always)]
fn shed(sh: u32, why: u8, src_hash: u64, now: u64) -> bool {
    let used = on_ring!(sh, |ring| ring.query(BPF_RB_AVAIL_DATA as u64));
    let size = unsafe { core::ptr::read_volatile(&RING_BYTES) };
    if used * 2 < size {
        return false;
    }
    let drop = if why & reason::SYN != 0 && is_client(src_hash) {
        false
    } else if used * 4 >= size * 3 {
        true
    } else if why & reason::SCAN_PROBE != 0 {
        false
    } else if why & reason::SYN == 0 {
        true
    } else {
        seen_recently(src_hash, now) && !keep_one_in_sample()
    };
    if drop {
        let mut bit = 0;
        while bit < reason::COUNT {
            if why & (1 << bit) != 0 {
                count(counter::SHED_BASE + bit);
            }
            bit += 1;
        }
    }
    drop
}

#[inline(always)]
fn client_slot(src_hash: u64) -> u32 {
    // Middle bits: SEEN's slot takes the low ones, the shard bits 40 and up.
    ((src_hash >> 20) as u32) & (tunable::CLIENT_SLOTS - 1)
}

/// Did this source complete a handshake (its hash in `CLIENTS`)?
#[inline(always)]
fn is_client(src_hash: u64) -> bool {
    CLIENTS
        .get(client_slot(src_hash))
        .is_some_and(|h| *h == src_hash)
}

/// Was this source seen within `SEEN_FOR_NS`? Notes it as seen now either way.
#[inline(always)]
fn seen_recently(src_hash: u64, now: u64) -> bool {
    let Some(slot) = SEEN.get_ptr_mut((src_hash as u32) & (tunable::SEEN_SLOTS - 1)) else {
        return false;
    };
    // SAFETY: array value pointer; racing CPUs only blur one decision.
    let slot = unsafe { &mut *slot };
    let seen = slot.hash == src_hash && now.wrapping_sub(slot.last_ns) < tunable::SEEN_FOR_NS;
    slot.hash = src_hash;
    slot.last_ns = now;
    seen
}

/// True once in `SHED_SAMPLE` calls on this CPU.
#[inline(always)]
fn keep_one_in_sample() -> bool {
    match SHED_TICK.get_ptr_mut(0) {
        Some(n) => {
            // SAFETY: per-CPU slot.
            let n = unsafe { &mut *n };
            *n = n.wrapping_add(1);
            *n % tunable::SHED_SAMPLE == 0
        }
        None => true,
    }
}

/// Wake the consumer once every WAKEUP_BATCH records per CPU and submit the rest with
/// BPF_RB_NO_WAKEUP: a forced wake-up costs microseconds, and userspace also polls on
/// a short timer, so a quiet link never strands a record.
#[inline(always)]
fn wakeup_flags() -> u64 {
    let batch = unsafe { core::ptr::read_volatile(&WAKEUP_BATCH) };
    if let Some(n) = WAKEUP.get_ptr_mut(0) {
        // SAFETY: per-CPU slot.
        let n = unsafe { &mut *n };
        *n += 1;
        if *n >= batch {
            *n = 0;
            return BPF_RB_FORCE_WAKEUP as u64;
        }
        return BPF_RB_NO_WAKEUP as u64;
    }
    0
}

/// Source and destination as little-endian 64-bit words of their wire bytes (IPv4 in
/// the low half of the first word, the rest zero): what `flow_hash_words` hashes (the
/// same hash as `flow_hash` of the 16-byte arrays) and what the record stores. Words,
/// not byte arrays, keep the copies to a few loads and stores per path the verifier
/// walks. `fast`: offsets come from the fast path and are bounded by construction.
#[inline(always)]
fn read_addrs(ctx: &XdpContext, ip: &Ip, fast: bool) -> ([u64; 2], [u64; 2]) {
    if ip.family == 4 {
        if let Some(a) = read::<8>(ctx, ip.addr_off, fast) {
            return ([le32(a, 0), 0], [le32(a, 4), 0]);
        }
    } else if let Some(a) = read::<32>(ctx, ip.addr_off, fast) {
        return ([le64(a, 0), le64(a, 8)], [le64(a, 16), le64(a, 24)]);
    }
    ([0; 2], [0; 2])
}

/// Copies the option bytes into the record (its `opt_len` of them, at most 40, all
/// within the frame); returns how many. Direct packet access throughout: whole words,
/// then the one to three bytes of a cut-short tail. No helper writes into the record
/// (Linux 6.1's verifier could not prove such a helper's length non-zero, and 5.10 has
/// no bpf_xdp_load_bytes).
#[inline(always)]
fn copy_options(ctx: &XdpContext, start: usize, fast: bool, r: *mut PacketRecord) -> u8 {
    // SAFETY: `r` is this CPU's record slot. The length is read back through a volatile
    // load: LLVM then cannot see that it is at most 40 and drop the bound the verifier
    // needs, and no stack slot is spent on it (the tcp + entry frames are near 512).
    let out = unsafe { &mut (*r).options };
    let len = unsafe { core::ptr::read_volatile(&(*r).opt_len) } as usize;
    let mut n = 0;
    while n < MAX_TCP_OPTION_BYTES {
        if n + 4 > len {
            break;
        }
        let Some(w) = read::<4>(ctx, start + n, fast) else {
            return n as u8;
        };
        out[n] = w[0];
        out[n + 1] = w[1];
        out[n + 2] = w[2];
        out[n + 3] = w[3];
        n += 4;
    }
    // Cut short: the options end with the frame, not on a word. Where the tail starts
    // is derived afresh from the length read back again, not from `n`: the verifier
    // then checks the tail once, not once for each number of whole words.
    let len = unsafe { core::ptr::read_volatile(&(*r).opt_len) } as usize;
    let whole = opaque(len & !3);
    let rem = len & 3;
    if rem == 0 || whole > MAX_TCP_OPTION_BYTES - 4 {
        return whole as u8;
    }
    let mut k = 0;
    while k < 3 {
        if k >= rem {
            break;
        }
        let Some(c) = read::<1>(ctx, start + whole + k, fast) else {
            break;
        };
        out[whole + k] = c[0];
        k += 1;
    }
    (whole + k) as u8
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[link_section = "license"]
#[no_mangle]
static LICENSE: [u8; 4] = *b"GPL\0";
