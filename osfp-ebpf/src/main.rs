//! osfp's XDP program. Parses Ethernet (up to two VLAN tags), IPv4 or IPv6 (extension
//! headers walked, bounded) and the fixed TCP header; selects SYNs, SYN-ACKs, scan-like
//! packets and rate-limited timestamp samples; copies their header fields and raw option
//! bytes into the ring buffer. Option parsing and everything else is userspace's job.
//! Always XDP_PASS: the sensor never alters traffic.
#![no_std]
#![no_main]

use core::{ffi::c_void, mem::size_of, ptr::read_unaligned};

use aya_ebpf::{
    bindings::{xdp_action, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    helpers::{bpf_ktime_get_ns, bpf_xdp_load_bytes},
    macros::{map, xdp},
    maps::{LruHashMap, PerCpuArray, RingBuf},
    programs::XdpContext,
};
use osfp_common::{
    counter, ip_flag, reason, rec_flag, tcp_flag, ts_option_offset, tunable, FlowKey, FlowState,
    Malformed, PacketRecord, MAX_IPV6_EXT_BYTES, MAX_IPV6_EXT_HEADERS, MAX_TCP_OPTION_BYTES,
    MAX_VLAN_TAGS,
};

/// Default 8 MiB; the loader may resize it (`EbpfLoader::map_max_entries`).
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(8 * 1024 * 1024, 0);

#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counter::COUNT, 0);

/// Flows whose SYN or SYN-ACK was seen, keyed in the sender's direction.
#[map]
static FLOWS: LruHashMap<FlowKey, FlowState> =
    LruHashMap::with_max_entries(tunable::FLOW_MAP_ENTRIES, 0);

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

const ETH_HLEN: usize = 14;
const ETH_P_IPV4: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86DD;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88A8;
const IPPROTO_TCP: u8 = 6;

#[xdp]
pub fn osfp(ctx: XdpContext) -> u32 {
    count(counter::SEEN);
    if let Err(m) = inspect(&ctx) {
        count(counter::malformed(m));
    }
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
    let start = ctx.data() + off;
    if start + size_of::<T>() > ctx.data_end() {
        return None;
    }
    Some(start as *const T)
}

#[inline(always)]
fn be16(p: *const u8) -> u16 {
    // SAFETY: callers pass pointers checked by `at`.
    u16::from_be(unsafe { read_unaligned(p as *const u16) })
}

#[inline(always)]
fn be32(p: *const u8) -> u32 {
    // SAFETY: as for be16.
    u32::from_be(unsafe { read_unaligned(p as *const u32) })
}

/// What the IP layer tells us, gathered before we know whether the packet is selected.
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

#[inline(always)]
fn inspect(ctx: &XdpContext) -> Result<(), Malformed> {
    let eth = at::<[u8; ETH_HLEN]>(ctx, 0).ok_or(Malformed::EthernetTruncated)? as *const u8;
    let mut proto = be16(unsafe { eth.add(12) });
    let mut off = ETH_HLEN;
    for _ in 0..MAX_VLAN_TAGS {
        if proto != ETH_P_8021Q && proto != ETH_P_8021AD {
            break;
        }
        let tag = at::<[u8; 4]>(ctx, off).ok_or(Malformed::VlanTruncated)? as *const u8;
        proto = be16(unsafe { tag.add(2) });
        off += 4;
    }
    let ip = match proto {
        ETH_P_IPV4 => ipv4(ctx, off)?,
        ETH_P_IPV6 => ipv6(ctx, off)?,
        ETH_P_8021Q | ETH_P_8021AD => return Err(Malformed::VlanTooDeep),
        _ => None,
    };
    match ip {
        Some(ip) => tcp(ctx, &ip),
        None => Ok(()),
    }
}

/// `Ok(None)`: not TCP, or a non-first fragment.
#[inline(always)]
fn ipv4(ctx: &XdpContext, off: usize) -> Result<Option<Ip>, Malformed> {
    let h = at::<[u8; 20]>(ctx, off).ok_or(Malformed::Ipv4Truncated)? as *const u8;
    let b = unsafe { &*(h as *const [u8; 20]) };
    if b[0] >> 4 != 4 {
        return Err(Malformed::IpBadVersion);
    }
    let ihl = (b[0] & 0x0f) as usize;
    if ihl < 5 {
        return Err(Malformed::Ipv4BadHeaderLength);
    }
    let hlen = ihl * 4;
    if ctx.data() + off + hlen > ctx.data_end() {
        return Err(Malformed::Ipv4Truncated);
    }
    let total = be16(unsafe { h.add(2) });
    if (total as usize) < hlen {
        return Err(Malformed::Ipv4BadTotalLength);
    }
    if b[9] != IPPROTO_TCP {
        return Ok(None);
    }
    let frag = be16(unsafe { h.add(6) });
    if frag & 0x1fff != 0 {
        count(counter::FRAGMENT_SKIPPED);
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
    Ok(Some(Ip {
        family: 4,
        ttl: b[8],
        tos: b[1],
        ip_len: total,
        ip_opt_len: (hlen - 20) as u8,
        ip_flags,
        ip_id: be16(unsafe { h.add(4) }) as u32,
        flow_label: 0,
        addr_off: off + 12,
        l4: off + hlen,
        l4_len: total as usize - hlen,
    }))
}

#[inline(always)]
fn ipv6(ctx: &XdpContext, off: usize) -> Result<Option<Ip>, Malformed> {
    let h = at::<[u8; 40]>(ctx, off).ok_or(Malformed::Ipv6Truncated)? as *const u8;
    let b = unsafe { &*(h as *const [u8; 8]) };
    if b[0] >> 4 != 6 {
        return Err(Malformed::IpBadVersion);
    }
    let payload = be16(unsafe { h.add(4) }) as usize;
    let mut next = b[6];
    let mut ext = 0usize;
    let mut ip_flags = 0u8;
    let mut ip_id = 0u32;
    for _ in 0..MAX_IPV6_EXT_HEADERS {
        match next {
            0 | 43 | 60 => {
                let e = at::<[u8; 2]>(ctx, off + 40 + ext)
                    .ok_or(Malformed::Ipv6ExtensionTruncated)?
                    as *const [u8; 2];
                let e = unsafe { *e };
                next = e[0];
                ext += (e[1] as usize + 1) * 8;
            }
            44 => {
                let e = at::<[u8; 8]>(ctx, off + 40 + ext)
                    .ok_or(Malformed::Ipv6ExtensionTruncated)? as *const u8;
                let e8 = unsafe { &*(e as *const [u8; 8]) };
                next = e8[0];
                let fo = be16(unsafe { e.add(2) });
                ip_flags |= ip_flag::V6_FRAG_HEADER;
                if fo & 1 != 0 {
                    ip_flags |= ip_flag::MF;
                }
                ip_id = be32(unsafe { e.add(4) });
                if fo >> 3 != 0 {
                    count(counter::FRAGMENT_SKIPPED);
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
    if next != IPPROTO_TCP {
        return Ok(None);
    }
    if payload < ext {
        return Err(Malformed::Ipv6ExtensionTruncated);
    }
    Ok(Some(Ip {
        family: 6,
        ttl: b[7],
        tos: (b[0] << 4) | (b[1] >> 4),
        ip_len: (payload as u16).wrapping_add(40),
        ip_opt_len: ext.min(255) as u8,
        ip_flags,
        ip_id,
        flow_label: ((b[1] as u32 & 0x0f) << 16) | ((b[2] as u32) << 8) | b[3] as u32,
        addr_off: off + 8,
        l4: off + 40 + ext,
        l4_len: payload - ext,
    }))
}

#[inline(always)]
fn is_scan_like(flags: u16, urg_ptr: u16) -> bool {
    use tcp_flag::*;
    let syn = flags & SYN != 0;
    flags & (FIN | SYN | RST | PSH | ACK | URG) == 0
        || flags & (FIN | ACK) == FIN
        || flags & (FIN | PSH | URG) == FIN | PSH | URG
        || (syn && flags & (FIN | RST) != 0)
        || flags & RESERVED != 0
        || (urg_ptr != 0 && flags & URG == 0)
}

#[inline(always)]
fn tcp(ctx: &XdpContext, ip: &Ip) -> Result<(), Malformed> {
    let t = at::<[u8; 20]>(ctx, ip.l4).ok_or(Malformed::TcpTruncated)? as *const u8;
    let b = unsafe { &*(t as *const [u8; 20]) };
    count(counter::TCP);
    let doff = b[12] >> 4;
    if doff < 5 {
        return Err(Malformed::TcpBadDataOffset);
    }
    let flags = ((b[12] as u16 & 0x0f) << 8) | b[13] as u16;
    let urg_ptr = be16(unsafe { t.add(18) });

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
    let avail = ctx.data_end().saturating_sub(ctx.data() + opt_start);
    let mut opt_len = if claimed < avail { claimed } else { avail };
    let truncated = opt_len < claimed || claimed + 20 > ip.l4_len;
    if truncated {
        count(counter::malformed(Malformed::TcpOptionsTruncated));
    }
    if opt_len > MAX_TCP_OPTION_BYTES {
        opt_len = MAX_TCP_OPTION_BYTES;
    }

    let now = unsafe { bpf_ktime_get_ns() };
    let key = || flow_key(ctx, ip, t);
    if why & (reason::SYN | reason::SYNACK) != 0 {
        let state = FlowState {
            last_ns: now,
            samples: 0,
            _pad: 0,
        };
        let _ = FLOWS.insert(&key(), &state, 0);
    } else if why == 0 {
        // Timestamp sample: only packets whose options start with the timestamp option,
        // only on flows we saw open, rate-limited per flow.
        let Some(first) = at::<[u8; 4]>(ctx, opt_start) else {
            return Ok(());
        };
        if ts_option_offset(unsafe { *first }, opt_len).is_none() {
            return Ok(());
        }
        let Some(state) = FLOWS.get_ptr_mut(&key()) else {
            return Ok(());
        };
        // SAFETY: map value pointer from the kernel; racing CPUs may over-sample by one.
        let state = unsafe { &mut *state };
        let interval = unsafe { core::ptr::read_volatile(&TS_SAMPLE_INTERVAL_NS) };
        let max = unsafe { core::ptr::read_volatile(&TS_SAMPLE_MAX_PER_FLOW) };
        if state.samples >= max || now.wrapping_sub(state.last_ns) < interval {
            return Ok(());
        }
        state.samples += 1;
        state.last_ns = now;
        why = reason::TS_SAMPLE;
    }
    if why == 0 {
        return Ok(());
    }

    let Some(mut entry) = EVENTS.reserve::<PacketRecord>(0) else {
        count(counter::RINGBUF_FULL);
        return Ok(());
    };
    let r = entry.as_mut_ptr();
    // SAFETY: `r` points at reserved ring-buffer memory of the record's size; every
    // field is written before submit.
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
        (*r).sport = be16(t);
        (*r).dport = be16(t.add(2));
        (*r).seq = be32(t.add(4));
        (*r).ack = be32(t.add(8));
        (*r).tcp_flags = flags;
        (*r).window = be16(t.add(14));
        (*r).urg_ptr = urg_ptr;
        (*r).payload_len = ip.l4_len.saturating_sub(doff as usize * 4) as u16;
        (*r).doff = doff;
        (*r).opt_len = 0;
        (*r).rec_flags = if truncated {
            rec_flag::OPTIONS_TRUNCATED
        } else {
            0
        };
        (*r)._pad = [0; 5];
        (*r).options = [0; MAX_TCP_OPTION_BYTES];
        write_addrs(ctx, ip, &mut (*r).src, &mut (*r).dst);
        let n = (opt_len & 0x3f) as u32;
        if n > 0
            && n <= MAX_TCP_OPTION_BYTES as u32
            && bpf_xdp_load_bytes(
                ctx.ctx,
                opt_start as u32,
                (*r).options.as_mut_ptr() as *mut c_void,
                n,
            ) == 0
        {
            (*r).opt_len = n as u8;
        }
    }
    entry.submit(wakeup_flags());

    let mut bit = 0;
    while bit < 4 {
        if why & (1 << bit) != 0 {
            count(counter::SELECTED_BASE + bit);
        }
        bit += 1;
    }
    Ok(())
}

/// Wake the consumer once every WAKEUP_BATCH records per CPU; userspace also polls on a
/// short timer, so a quiet link never strands a record.
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

#[inline(always)]
fn write_addrs(ctx: &XdpContext, ip: &Ip, src: &mut [u8; 16], dst: &mut [u8; 16]) {
    *src = [0; 16];
    *dst = [0; 16];
    if ip.family == 4 {
        if let Some(a) = at::<[u8; 8]>(ctx, ip.addr_off) {
            let a = unsafe { *a };
            src[..4].copy_from_slice(&a[..4]);
            dst[..4].copy_from_slice(&a[4..]);
        }
    } else if let Some(a) = at::<[u8; 32]>(ctx, ip.addr_off) {
        let a = unsafe { &*a };
        src.copy_from_slice(&a[..16]);
        dst.copy_from_slice(&a[16..]);
    }
}

#[inline(always)]
fn flow_key(ctx: &XdpContext, ip: &Ip, t: *const u8) -> FlowKey {
    let mut k = FlowKey {
        src: [0; 16],
        dst: [0; 16],
        sport: be16(t),
        dport: be16(unsafe { t.add(2) }),
        family: ip.family,
        _pad: [0; 3],
    };
    write_addrs(ctx, ip, &mut k.src, &mut k.dst);
    k
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[link_section = "license"]
#[no_mangle]
static LICENSE: [u8; 4] = *b"GPL\0";
