//! Middlebox rewrites of a SYN: what boxes on the path are documented to do to a
//! stack's SYN (NAT gateways, carrier TCP optimisers, firewalls, VPN concentrators),
//! applied to a record. One module for two users: the middlebox undo's unit tests (a
//! real stack's SYN, rewritten here, must be recognised) and the classifier's training
//! data (`cargo xtask train-model` augments clean SYNs with these rewrites).
//!
//! The kinds the undo recognises ([`Rewrite::UNDONE`]) are the verdict's
//! `middlebox` list and the `osfp_middlebox_rewrites_total{kind}` label set; the other
//! three ([`Rewrite::TsStrip`], [`Rewrite::IdRewrite`], [`Rewrite::DfClear`]) are only
//! applied (augmentation): they leave nothing to undo that a signature could tell.

use osfp_common::{ip_flag, tcp_flag, PacketRecord};
use serde::Serialize;
use strum::{EnumCount, EnumIter, IntoStaticStr};

/// One kind of rewrite.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, IntoStaticStr, EnumIter, EnumCount,
)]
#[serde(into = "&'static str")]
#[strum(serialize_all = "snake_case")]
pub enum Rewrite {
    /// The timestamp option overwritten with NOPs in place (Linux
    /// `mss,sok,ts,nop,ws` -> `mss,sok,nop*11,ws`).
    TsNop,
    /// TSval overwritten with 0.
    TsZero,
    /// MSS lowered to the path's (1360-1452: tunnels, PPPoE, mobile carriers); the
    /// window still follows the stack's own MSS.
    MssClamp,
    /// The window-scale option overwritten with NOPs.
    WsStrip,
    /// The window-scale value rewritten (applied only, see [`Rewrite::UNDONE`]).
    WsRewrite,
    /// The window rewritten (applied only).
    WinRewrite,
    /// The TTL set anew (a box that re-originates or normalises TTL), so the stack's
    /// initial TTL is lost.
    TtlRewrite,
    /// ECN setup flags (ECE, CWR) and the IP ECN field cleared.
    EcnBleach,
    /// The timestamp option removed and the options padded again with NOPs (applied
    /// only: nothing says where it was).
    TsStrip,
    /// The IPv4 ID replaced by a random non-zero one (applied only).
    IdRewrite,
    /// DF cleared (applied only).
    DfClear,
}

impl Rewrite {
    /// The kinds the middlebox undo recognises, in the order they are listed. A
    /// rewritten window or window scale is not undone: explaining a SYN by "any
    /// window" or "any scale" named the wrong family about 40 % of the time on the
    /// eval/ data (`cargo xtask eval-model`, undo by kinds), against 90-95 % for these;
    /// the classifier takes such SYNs.
    pub const UNDONE: [Rewrite; 6] = [
        Rewrite::TsNop,
        Rewrite::TsZero,
        Rewrite::MssClamp,
        Rewrite::WsStrip,
        Rewrite::TtlRewrite,
        Rewrite::EcnBleach,
    ];

    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The kind of a name (as [`Rewrite::name`] gives it).
    pub fn from_name(s: &str) -> Option<Rewrite> {
        use strum::IntoEnumIterator;
        Rewrite::iter().find(|k| k.name() == s)
    }
}

/// A set of rewrites (what a verdict's undo assumed), `Copy`, no allocation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rewrites(pub u16);

impl Rewrites {
    pub const NONE: Rewrites = Rewrites(0);

    pub fn with(self, k: Rewrite) -> Rewrites {
        Rewrites(self.0 | 1 << k as u16)
    }

    pub fn has(self, k: Rewrite) -> bool {
        self.0 & (1 << k as u16) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn len(self) -> u32 {
        self.0.count_ones()
    }

    /// The kinds, in [`Rewrite`] order.
    pub fn iter(self) -> impl Iterator<Item = Rewrite> {
        use strum::IntoEnumIterator;
        Rewrite::iter().filter(move |k| self.has(*k))
    }
}

impl FromIterator<Rewrite> for Rewrites {
    fn from_iter<I: IntoIterator<Item = Rewrite>>(it: I) -> Self {
        it.into_iter().fold(Rewrites::NONE, Rewrites::with)
    }
}

/// One option of a record: kind, offset and length in `options`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Opt {
    kind: u8,
    at: usize,
    len: usize,
}

/// The options of a record by their length fields, up to the first malformed one (a
/// rewrite never touches what it cannot parse).
fn options(r: &PacketRecord) -> Vec<Opt> {
    let b = &r.options[..(r.opt_len as usize).min(r.options.len())];
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            0 => {
                out.push(Opt {
                    kind: 0,
                    at: i,
                    len: b.len() - i,
                });
                break;
            }
            1 => {
                out.push(Opt {
                    kind: 1,
                    at: i,
                    len: 1,
                });
                i += 1;
            }
            k => {
                let Some(&len) = b.get(i + 1) else { break };
                let len = len as usize;
                if len < 2 || i + len > b.len() {
                    break;
                }
                out.push(Opt {
                    kind: k,
                    at: i,
                    len,
                });
                i += len;
            }
        }
    }
    out
}

/// The option of `kind` with its expected length, if present.
fn find(r: &PacketRecord, kind: u8, len: usize) -> Option<Opt> {
    options(r)
        .into_iter()
        .find(|o| o.kind == kind && o.len == len)
}

/// Overwrites an option with NOPs in place; false if absent.
fn nop_out(r: &mut PacketRecord, kind: u8, len: usize) -> bool {
    match find(r, kind, len) {
        Some(o) => {
            r.options[o.at..o.at + o.len].fill(1);
            true
        }
        None => false,
    }
}

/// The timestamp option overwritten with NOPs.
pub fn ts_nop(r: &mut PacketRecord) -> bool {
    nop_out(r, 8, 10)
}

/// The window-scale option overwritten with NOPs.
pub fn ws_strip(r: &mut PacketRecord) -> bool {
    nop_out(r, 3, 3)
}

/// The timestamp option removed, the rest padded with NOPs to a multiple of 4 bytes;
/// the TCP header and the IP length shrink accordingly.
pub fn ts_strip(r: &mut PacketRecord) -> bool {
    let Some(ts) = find(r, 8, 10) else {
        return false;
    };
    let n = r.opt_len as usize;
    let mut b: Vec<u8> = r.options[..ts.at].to_vec();
    b.extend_from_slice(&r.options[ts.at + ts.len..n]);
    while !b.len().is_multiple_of(4) {
        b.push(1);
    }
    let shrink = n.div_ceil(4) * 4 - b.len();
    r.options = [0; osfp_common::MAX_TCP_OPTION_BYTES];
    r.options[..b.len()].copy_from_slice(&b);
    r.opt_len = b.len() as u8;
    r.doff = 5 + (b.len() / 4) as u8;
    r.ip_len = r.ip_len.saturating_sub(shrink as u16);
    true
}

/// TSval set to 0.
pub fn ts_zero(r: &mut PacketRecord) -> bool {
    match find(r, 8, 10) {
        Some(o) => {
            r.options[o.at + 2..o.at + 6].fill(0);
            true
        }
        None => false,
    }
}

/// MSS lowered to `to`; false without an MSS option or if it is not above `to`.
pub fn mss_clamp(r: &mut PacketRecord, to: u16) -> bool {
    let Some(o) = find(r, 2, 4) else {
        return false;
    };
    let mss = u16::from_be_bytes([r.options[o.at + 2], r.options[o.at + 3]]);
    if mss <= to {
        return false;
    }
    r.options[o.at + 2..o.at + 4].copy_from_slice(&to.to_be_bytes());
    true
}

/// The window-scale value set to `to`; false without the option or if it already is.
pub fn ws_rewrite(r: &mut PacketRecord, to: u8) -> bool {
    match find(r, 3, 3) {
        Some(o) if r.options[o.at + 2] != to => {
            r.options[o.at + 2] = to;
            true
        }
        _ => false,
    }
}

/// The window set to `to`; false if it already is.
pub fn win_rewrite(r: &mut PacketRecord, to: u16) -> bool {
    let changed = r.window != to;
    r.window = to;
    changed
}

/// The TTL set to `to`; false if it already is.
pub fn ttl_rewrite(r: &mut PacketRecord, to: u8) -> bool {
    let changed = r.ttl != to;
    r.ttl = to;
    changed
}

/// ECE, CWR and the IP ECN field cleared; false if none was set.
pub fn ecn_bleach(r: &mut PacketRecord) -> bool {
    let flags = tcp_flag::ECE | tcp_flag::CWR;
    if r.tcp_flags & flags == 0 && r.tos & 3 == 0 {
        return false;
    }
    r.tcp_flags &= !flags;
    r.tos &= !3;
    true
}

/// The IPv4 ID set to `to` (non-zero); false for IPv6.
pub fn id_rewrite(r: &mut PacketRecord, to: u16) -> bool {
    if r.family != 4 {
        return false;
    }
    r.ip_id = to.max(1) as u32;
    true
}

/// DF cleared; false for IPv6 or without DF.
pub fn df_clear(r: &mut PacketRecord) -> bool {
    if r.family != 4 || r.ip_flags & ip_flag::DF == 0 {
        return false;
    }
    r.ip_flags &= !ip_flag::DF;
    true
}

/// A rewrite with its parameter, as the augmentation draws it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edit {
    TsNop,
    TsStrip,
    TsZero,
    MssClamp(u16),
    WsStrip,
    WsRewrite(u8),
    WinRewrite(u16),
    TtlRewrite(u8),
    EcnBleach,
    IdRewrite(u16),
    DfClear,
}

impl Edit {
    pub fn kind(self) -> Rewrite {
        match self {
            Edit::TsNop => Rewrite::TsNop,
            Edit::TsStrip => Rewrite::TsStrip,
            Edit::TsZero => Rewrite::TsZero,
            Edit::MssClamp(_) => Rewrite::MssClamp,
            Edit::WsStrip => Rewrite::WsStrip,
            Edit::WsRewrite(_) => Rewrite::WsRewrite,
            Edit::WinRewrite(_) => Rewrite::WinRewrite,
            Edit::TtlRewrite(_) => Rewrite::TtlRewrite,
            Edit::EcnBleach => Rewrite::EcnBleach,
            Edit::IdRewrite(_) => Rewrite::IdRewrite,
            Edit::DfClear => Rewrite::DfClear,
        }
    }

    /// Applies the rewrite; false if it does not apply to this record (nothing changed).
    pub fn apply(self, r: &mut PacketRecord) -> bool {
        match self {
            Edit::TsNop => ts_nop(r),
            Edit::TsStrip => ts_strip(r),
            Edit::TsZero => ts_zero(r),
            Edit::MssClamp(to) => mss_clamp(r, to),
            Edit::WsStrip => ws_strip(r),
            Edit::WsRewrite(to) => ws_rewrite(r, to),
            Edit::WinRewrite(to) => win_rewrite(r, to),
            Edit::TtlRewrite(to) => ttl_rewrite(r, to),
            Edit::EcnBleach => ecn_bleach(r),
            Edit::IdRewrite(to) => id_rewrite(r, to),
            Edit::DfClear => df_clear(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Linux 6.x's SYN options: mss 1460, sok, ts, nop, ws 10.
    const LINUX: [u8; 20] = [
        2, 4, 5, 180, 4, 2, 8, 10, 0, 1, 2, 3, 0, 0, 0, 0, 1, 3, 3, 10,
    ];

    fn rec() -> PacketRecord {
        let mut r = PacketRecord::zeroed();
        r.family = 4;
        r.ttl = 64;
        r.ip_flags = ip_flag::DF;
        r.ip_id = 77;
        r.tcp_flags = tcp_flag::SYN | tcp_flag::ECE | tcp_flag::CWR;
        r.window = 64240;
        r.options[..20].copy_from_slice(&LINUX);
        r.opt_len = 20;
        r.doff = 10;
        r.ip_len = 60;
        r
    }

    #[test]
    fn each_rewrite_changes_what_it_says() {
        let mut r = rec();
        assert!(ts_nop(&mut r));
        assert_eq!(&r.options[6..16], &[1; 10]);
        assert!(!ts_nop(&mut r), "nothing left to overwrite");

        let mut r = rec();
        assert!(ts_strip(&mut r));
        assert_eq!(&r.options[..12], &[2, 4, 5, 180, 4, 2, 1, 3, 3, 10, 1, 1]);
        assert_eq!((r.opt_len, r.doff, r.ip_len), (12, 8, 52));

        let mut r = rec();
        assert!(ts_zero(&mut r));
        assert_eq!(&r.options[8..12], &[0; 4]);

        let mut r = rec();
        assert!(!mss_clamp(&mut r, 1460), "not above");
        assert!(mss_clamp(&mut r, 1380));
        assert_eq!(&r.options[2..4], &1380u16.to_be_bytes());

        let mut r = rec();
        assert!(ws_strip(&mut r));
        assert_eq!(&r.options[17..20], &[1, 1, 1]);
        assert!(!ws_rewrite(&mut r, 7), "no window scale left");

        let mut r = rec();
        assert!(ws_rewrite(&mut r, 7) && r.options[19] == 7);
        assert!(ecn_bleach(&mut r) && r.tcp_flags == tcp_flag::SYN);
        assert!(!ecn_bleach(&mut r));
        assert!(df_clear(&mut r) && r.ip_flags & ip_flag::DF == 0);
        assert!(id_rewrite(&mut r, 0) && r.ip_id == 1);
        assert!(ttl_rewrite(&mut r, 128) && r.ttl == 128);
        assert!(win_rewrite(&mut r, 65535) && r.window == 65535);
    }

    #[test]
    fn sets_and_names() {
        let s: Rewrites = [Rewrite::TtlRewrite, Rewrite::TsNop].into_iter().collect();
        assert_eq!(s.len(), 2);
        let names: Vec<_> = s.iter().map(Rewrite::name).collect();
        assert_eq!(names, ["ts_nop", "ttl_rewrite"]);
        for k in Rewrite::UNDONE {
            assert_eq!(Rewrite::from_name(k.name()), Some(k));
        }
    }
}
