//! TCP option parsing (userspace only: the kernel copies the raw bytes).
//!
//! Follows the wire order exactly and never fails: a malformed option list is parsed
//! as far as it goes and flagged, like p0f's `bad` quirk.

use arrayvec::ArrayVec;
use serde::Serialize;
use strum::{EnumCount, EnumIter, IntoStaticStr};

/// p0f stops at this many options and calls the list malformed.
pub const MAX_OPTIONS: usize = 24;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OptKind {
    Eol,
    Nop,
    Mss,
    Ws,
    SackOk,
    Sack,
    Ts,
    /// Any other kind, by number.
    Unknown(u8),
}

impl OptKind {
    pub fn from_kind(kind: u8) -> Self {
        match kind {
            0 => OptKind::Eol,
            1 => OptKind::Nop,
            2 => OptKind::Mss,
            3 => OptKind::Ws,
            4 => OptKind::SackOk,
            5 => OptKind::Sack,
            8 => OptKind::Ts,
            k => OptKind::Unknown(k),
        }
    }

    /// The option's kind number on the wire.
    pub fn number(self) -> u8 {
        match self {
            OptKind::Eol => 0,
            OptKind::Nop => 1,
            OptKind::Mss => 2,
            OptKind::Ws => 3,
            OptKind::SackOk => 4,
            OptKind::Sack => 5,
            OptKind::Ts => 8,
            OptKind::Unknown(k) => k,
        }
    }
}

/// Why an option list is malformed. The first problem found is kept.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    IntoStaticStr,
    EnumIter,
    EnumCount,
)]
#[serde(into = "&'static str")]
pub enum OptionProblem {
    /// A length byte of 0 or 1.
    #[strum(serialize = "option_length_too_short")]
    LengthTooShort,
    /// An option (or its length byte) runs past the end of the option bytes.
    #[strum(serialize = "option_runs_past_header")]
    RunsPastHeader,
    /// A known option with the wrong length (e.g. MSS not 4 bytes).
    #[strum(serialize = "option_wrong_length")]
    WrongLength,
    /// More than [`MAX_OPTIONS`] options (40 bytes of NOPs, say).
    #[strum(serialize = "too_many_options")]
    TooManyOptions,
    /// Non-zero bytes after EOL (p0f's `opt+`; not `bad` by itself).
    #[strum(serialize = "data_after_eol")]
    DataAfterEol,
    /// The TCP header claimed more option bytes than the packet held.
    #[strum(serialize = "options_truncated")]
    Truncated,
}

impl OptionProblem {
    /// The label value (JSON `options_malformed`, metrics).
    pub fn name(self) -> &'static str {
        self.into()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TcpOptions {
    /// Kinds in wire order (EOL included, once, where it occurred).
    pub layout: ArrayVec<OptKind, MAX_OPTIONS>,
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_permitted: bool,
    /// TSval, TSecr.
    pub timestamp: Option<(u32, u32)>,
    /// Bytes after EOL (p0f's `eol+N`).
    pub eol_pad: u8,
    /// Some of those bytes are non-zero (p0f's `opt+`).
    pub nonzero_after_eol: bool,
    /// The list is malformed (p0f's `bad`): the first structural problem.
    pub malformed: Option<OptionProblem>,
    /// The kind bytes of `layout`, zero after them: what p0f's signature holds, so
    /// that the fingerprinter copies them instead of converting `layout` again.
    #[serde(skip)]
    pub kinds: [u8; MAX_OPTIONS],
    /// A SACK, or WS or TS more than once: where p0f's walk and this parse differ even
    /// on a well-formed list (p0f refuses a 2-byte SACK; its quirks look at every WS
    /// and TS, this parse keeps the last).
    #[serde(skip)]
    pub p0f_apart: bool,
}

impl TcpOptions {
    /// Every problem worth counting: the structural one and data after EOL.
    pub fn problems(&self) -> impl Iterator<Item = OptionProblem> {
        self.malformed.into_iter().chain(
            self.nonzero_after_eol
                .then_some(OptionProblem::DataAfterEol),
        )
    }
}

/// Parses raw option bytes. `truncated`: the header claimed more than `bytes`.
pub fn parse(bytes: &[u8], truncated: bool) -> TcpOptions {
    let mut o = TcpOptions::default();
    parse_into(bytes, truncated, &mut o);
    o
}

/// [`parse`] into `o` (whatever it held before), so that the live path parses into
/// the event it reuses: a parsed list copied into place reads the layout back, just
/// written a byte at a time, in 16-byte loads, which stall on this CPU.
///
/// One branch on the raw kind byte and length per option (this runs for every record:
/// a match on [`OptKind`], then on the expected length, then on the kind again cost
/// three jump tables an option).
#[inline]
pub fn parse_into(bytes: &[u8], truncated: bool, o: &mut TcpOptions) {
    o.layout.clear();
    o.mss = None;
    o.wscale = None;
    o.sack_permitted = false;
    o.timestamp = None;
    o.eol_pad = 0;
    o.nonzero_after_eol = false;
    o.malformed = None;
    o.kinds = [0; MAX_OPTIONS];
    o.p0f_apart = false;
    let bad = |o: &mut TcpOptions, p: OptionProblem| {
        o.malformed.get_or_insert(p);
    };
    let mut i = 0;
    while i < bytes.len() {
        if o.layout.is_full() {
            bad(o, OptionProblem::TooManyOptions);
            break;
        }
        let kind = bytes[i];
        o.kinds[o.layout.len()] = kind;
        o.layout.push(OptKind::from_kind(kind));
        if kind == 0 {
            // EOL: what follows is padding.
            let rest = &bytes[i + 1..];
            o.eol_pad = rest.len() as u8;
            o.nonzero_after_eol = rest.iter().any(|&b| b != 0);
            break;
        }
        if kind == 1 {
            i += 1;
            continue;
        }
        let Some(&len) = bytes.get(i + 1) else {
            bad(o, OptionProblem::RunsPastHeader);
            break;
        };
        let len = len as usize;
        if len < 2 {
            bad(o, OptionProblem::LengthTooShort);
            break;
        }
        let Some(body) = bytes.get(i + 2..i + len) else {
            bad(o, OptionProblem::RunsPastHeader);
            break;
        };
        match (kind, body) {
            (2, &[a, b]) => o.mss = Some(u16::from_be_bytes([a, b])),
            (3, &[s]) => {
                o.p0f_apart |= o.wscale.is_some();
                o.wscale = Some(s)
            }
            (4, []) => o.sack_permitted = true,
            (8, &[v0, v1, v2, v3, e0, e1, e2, e3]) => {
                o.p0f_apart |= o.timestamp.is_some();
                o.timestamp = Some((
                    u32::from_be_bytes([v0, v1, v2, v3]),
                    u32::from_be_bytes([e0, e1, e2, e3]),
                ))
            }
            // MSS, WS, SACK_PERM or TS of another length; a SACK not whole blocks.
            (2 | 3 | 4 | 8, _) => bad(o, OptionProblem::WrongLength),
            (5, _) => {
                o.p0f_apart = true;
                if !body.len().is_multiple_of(8) {
                    bad(o, OptionProblem::WrongLength)
                }
            }
            _ => {}
        }
        i += len;
    }
    if truncated {
        bad(o, OptionProblem::Truncated);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OptKind::*;

    #[test]
    fn linux_syn() {
        // MSS 1460, SACK_PERM, TS, NOP, WS 7: Linux's SYN.
        let b = [
            2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        let o = parse(&b, false);
        assert_eq!(o.layout.as_slice(), &[Mss, SackOk, Ts, Nop, Ws]);
        assert_eq!(o.mss, Some(1460));
        assert_eq!(o.wscale, Some(7));
        assert!(o.sack_permitted);
        assert_eq!(o.timestamp, Some((1, 0)));
        assert_eq!(o.malformed, None);
    }

    #[test]
    fn length_zero_and_one_are_malformed() {
        for l in [0u8, 1] {
            let o = parse(&[2, l, 5, 0xb4], false);
            assert_eq!(o.malformed, Some(OptionProblem::LengthTooShort), "len {l}");
            assert_eq!(o.mss, None);
        }
    }

    #[test]
    fn option_running_past_header() {
        assert_eq!(
            parse(&[8, 10, 0, 0], false).malformed,
            Some(OptionProblem::RunsPastHeader)
        );
        // A kind byte with no room for its length.
        assert_eq!(
            parse(&[1, 1, 3], false).malformed,
            Some(OptionProblem::RunsPastHeader)
        );
    }

    #[test]
    fn forty_nops_are_too_many_options() {
        let o = parse(&[1; 40], false);
        assert_eq!(o.malformed, Some(OptionProblem::TooManyOptions));
        assert_eq!(o.layout.len(), MAX_OPTIONS);
    }

    #[test]
    fn eol_padding_zero_and_nonzero() {
        let o = parse(&[2, 4, 5, 0xb4, 0, 0, 0, 0], false);
        assert_eq!(o.layout.as_slice(), &[Mss, Eol]);
        assert_eq!(
            (o.eol_pad, o.nonzero_after_eol, o.malformed),
            (3, false, None)
        );
        let o = parse(&[2, 4, 5, 0xb4, 0, 0, 7, 0], false);
        assert_eq!((o.eol_pad, o.nonzero_after_eol), (3, true));
        assert_eq!(
            o.problems().collect::<Vec<_>>(),
            vec![OptionProblem::DataAfterEol]
        );
    }

    #[test]
    fn wrong_length_known_option() {
        let o = parse(&[2, 3, 5, 1, 1, 1], false);
        assert_eq!(o.malformed, Some(OptionProblem::WrongLength));
        assert_eq!(o.layout.as_slice(), &[Mss, Nop, Nop, Nop]);
    }

    #[test]
    fn unknown_kinds_kept_in_order() {
        let o = parse(&[30, 4, 0, 0, 1, 34, 2], false);
        assert_eq!(o.layout.as_slice(), &[Unknown(30), Nop, Unknown(34)]);
        assert_eq!(o.malformed, None);
    }

    #[test]
    fn truncated_flag() {
        assert_eq!(
            parse(&[2, 4, 5, 0xb4], true).malformed,
            Some(OptionProblem::Truncated)
        );
    }
}
