//! The middlebox undo: a SYN that no signature explains as seen may be a known stack
//! after a box on the path rewrote it ([`super::rewrite`]). Each specific, non-tool
//! signature of the SYN's direction is tried against the SYN with the fewest documented
//! rewrites undone that make it match exactly:
//!
//! - `ts_nop`: a run of >= 10 NOPs where the timestamp option was (the layout is tried
//!   with `ts` put back at each place in the run; the TSval counts as non-zero);
//! - `ws_strip`: a run of >= 3 NOPs where the window-scale option was (any scale);
//! - `ts_zero`: TSval 0 (`ts1-`) where the signature has a non-zero one;
//! - `mss_clamp`: an MSS below the signature's, or a window that is a multiple of a
//!   common Ethernet/tunnel MSS above the observed one (the stack's own);
//! - `ttl_rewrite`: a TTL outside the signature's range (any initial TTL);
//! - `ecn_bleach`: the signature has `ecn`, the SYN not.
//!
//! Everything else (IP version, IP options, other quirks, EOL padding, payload class)
//! must match as it is. The fewest rewrites win, then file order; when signatures of
//! two families explain the SYN with equally few rewrites (Android's and Linux's, once
//! the window scale is unknown), nothing is undone and the classifier decides. The
//! verdict is an exact match with the rewrites in `middlebox` and a lower score (see
//! [`score`]).

use super::{
    db::{Database, DbSig},
    matcher::{ref_quirks, window_ok, MatchKind, Verdict},
    quirks::Quirks,
    rewrite::{Rewrite, Rewrites},
    sig::{Direction, Signature, WinMulti, MAX_DIST, MAX_OPTS},
};

/// Most rewrites assumed for one SYN.
pub const MAX_REWRITES: u32 = 3;

/// MSSes a clamped SYN's window may still be a multiple of (Ethernet, PPPoE, IPv6 and
/// tunnel MSSes), above the observed MSS.
const STACK_MSS: [u16; 10] = [1460, 1452, 1448, 1440, 1436, 1432, 1420, 1412, 1400, 1380];

/// The score of a middlebox-undone exact match: 0.8 with one rewrite, 0.1 less for each
/// further one (a clean exact match is 1.0, generic 0.9).
pub fn score(rewrites: Rewrites) -> f32 {
    (0.9 - 0.1 * rewrites.len() as f32).max(0.5)
}

/// A layout to try: the SYN's, or one with an option put back into a NOP run.
#[derive(Clone, Copy)]
struct Layout {
    kinds: [u8; MAX_OPTS],
    cnt: usize,
    undone: Rewrites,
    /// The timestamp was put back (its value counts as non-zero).
    ts_back: bool,
    /// The window scale was put back (any value).
    ws_back: bool,
}

impl Layout {
    fn of(s: &Signature) -> Layout {
        Layout {
            kinds: s.layout,
            cnt: s.opt_cnt as usize,
            undone: Rewrites::NONE,
            ts_back: false,
            ws_back: false,
        }
    }

    fn kinds(&self) -> &[u8] {
        &self.kinds[..self.cnt]
    }

    /// This layout with the run `[at, at + n)` of NOPs replaced by `k` NOPs, `kind`, and
    /// the rest of the run as NOPs, for every `k`; `size` is the option's byte count.
    fn put_back(&self, kind: u8, size: usize, out: &mut Vec<Layout>) {
        let l = self.kinds();
        let mut i = 0;
        while i < l.len() {
            if l[i] != 1 {
                i += 1;
                continue;
            }
            let start = i;
            while i < l.len() && l[i] == 1 {
                i += 1;
            }
            let n = i - start;
            if n < size {
                continue;
            }
            for k in 0..=(n - size) {
                let mut v = Vec::with_capacity(l.len());
                v.extend_from_slice(&l[..start]);
                v.extend(std::iter::repeat_n(1u8, k));
                v.push(kind);
                v.extend(std::iter::repeat_n(1u8, n - size - k));
                v.extend_from_slice(&l[i..]);
                let mut c = *self;
                c.kinds = [0; MAX_OPTS];
                c.kinds[..v.len()].copy_from_slice(&v);
                c.cnt = v.len();
                if kind == 8 {
                    c.undone = c.undone.with(Rewrite::TsNop);
                    c.ts_back = true;
                } else {
                    c.undone = c.undone.with(Rewrite::WsStrip);
                    c.ws_back = true;
                }
                out.push(c);
            }
        }
    }
}

/// The window rule of `r` under the SYN with another MSS and TSval (p0f's
/// `detect_win_multi` on the changed packet).
fn window_with(r: &DbSig, s: &Signature, mss: u16, ts1: u32) -> bool {
    let mut t = *s;
    t.mss = mss;
    t.ts1 = ts1;
    t.win_multi = WinMulti::NONE;
    t.win_multi = t.detect_win_multi(0);
    window_ok(r, &t)
}

/// The rewrites that make `r` match the SYN laid out as `l`, if few enough.
fn explain(r: &DbSig, s: &Signature, l: &Layout) -> Option<Rewrites> {
    let mut need = l.undone;
    if r.ver.is_some_and(|v| v != s.ver)
        || r.eol_pad != s.eol_pad
        || r.olen != s.ip_opt_len
        || r.pclass.is_some_and(|p| p != s.pay)
    {
        return None;
    }
    // Quirks: a zero TSval and bleached ECN may be undone; nothing else.
    let rq = ref_quirks(r, s);
    let mut q = s.quirks.0;
    if q & Quirks::OPT_ZERO_TS1 != 0 && rq & Quirks::OPT_ZERO_TS1 == 0 {
        q &= !Quirks::OPT_ZERO_TS1;
        need = need.with(Rewrite::TsZero);
    }
    if rq & Quirks::ECN != 0 && q & Quirks::ECN == 0 {
        q |= Quirks::ECN;
        need = need.with(Rewrite::EcnBleach);
    }
    if rq != q {
        return None;
    }
    // TTL.
    let in_range = if r.bad_ttl {
        r.ttl >= s.ttl
    } else {
        r.ttl >= s.ttl && r.ttl - s.ttl <= MAX_DIST
    };
    if !in_range {
        if r.bad_ttl {
            return None;
        }
        need = need.with(Rewrite::TtlRewrite);
    }
    // Window scale: as seen, or any when the option was put back.
    if let Some(w) = r.wscale {
        if !l.ws_back && w != s.wscale {
            return None;
        }
    }
    // MSS and window: the stack's MSS may be above the observed one.
    let ts1 = if l.ts_back || need.has(Rewrite::TsZero) {
        s.ts1.max(1)
    } else {
        s.ts1
    };
    let mss_ok = r.mss.is_none_or(|m| m == s.mss);
    if mss_ok && window_with(r, s, s.mss, ts1) {
        // as seen
    } else {
        let clamp = STACK_MSS
            .iter()
            .copied()
            .filter(|&m| m > s.mss && s.mss >= 536)
            .filter(|&m| r.mss.is_none_or(|rm| rm == m))
            .any(|m| window_with(r, s, m, ts1));
        let clamp = clamp
            || r.mss
                .is_some_and(|m| m > s.mss && s.mss >= 536 && window_with(r, s, m, ts1));
        if !clamp {
            return None;
        }
        need = need.with(Rewrite::MssClamp);
    }
    let n = need.len();
    if n == 0 || n > MAX_REWRITES {
        return None;
    }
    Some(need)
}

/// The best match of a SYN with middlebox rewrites undone, if any.
pub fn undo<'db>(db: &'db Database, s: &Signature) -> Option<Verdict<'db>> {
    if s.dir != Direction::Request {
        return None;
    }
    let base = Layout::of(s);
    let mut layouts = vec![base];
    base.put_back(8, 10, &mut layouts);
    base.put_back(3, 3, &mut layouts);
    let d = s.dir as usize;
    let mut best: Option<(&DbSig, Rewrites)> = None;
    // Another family explains the SYN with as few rewrites: the stack underneath is
    // not known, and the classifier decides.
    let mut ambiguous = false;
    for l in &layouts {
        for &i in db.index[d].bucket(l.kinds()) {
            let r = &db.sigs[d][i as usize];
            if r.generic || r.tool || db.label(r.label).candidate {
                continue;
            }
            let Some(need) = explain(r, s, l) else {
                continue;
            };
            match best {
                Some((b, bn)) if need.len() == bn.len() => {
                    if db.label(b.label).family != db.label(r.label).family {
                        ambiguous = true;
                    }
                    if r.line < b.line {
                        best = Some((r, need));
                    }
                }
                Some((_, bn)) if need.len() > bn.len() => {}
                _ => {
                    best = Some((r, need));
                    ambiguous = false;
                }
            }
        }
    }
    if ambiguous {
        return None;
    }
    let (r, need) = best?;
    let mut v = db.verdict(r, s, MatchKind::Exact);
    v.score = score(need);
    v.middlebox = need;
    Some(v)
}
