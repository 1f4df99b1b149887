//! JA4T / JA4TS: FoxIO's TCP fingerprint strings of a SYN (JA4T) and a SYN-ACK
//! (JA4TS), `window_optionkinds_mss_wscale`, e.g. `64240_2-1-3-1-1-4_1460_8`.
//!
//! - window: the raw TCP window field;
//! - option kinds in wire order joined by `-`, NOPs kept; reading stops at EOL (kind
//!   0, not listed: FoxIO's Zeek script does the same) or at a malformed length (the
//!   kind is listed, nothing after it). FoxIO's tshark-based tools list EOL and each
//!   padding byte after it as `0` (macOS: `..._2-1-3-1-1-8-4-0-0_...`), so strings of
//!   EOL-padded SYNs differ from theirs by that tail;
//! - MSS and window scale in decimal, `00` when the option is absent.
//!
//! Only the base string: JA4TS's SYN-ACK retransmission delays need the flow's later
//! packets, which the sensor does not keep.
//!
//! Licence: the JA4T / JA4TS methods are FoxIO's, under the FoxIO License 1.1, which
//! allows non-commercial use only (JA4 for TLS is BSD-3, JA4T is not). Hence this
//! module exists only with the opt-in cargo feature `ja4t`.

use osfp_common::PacketRecord;

/// The JA4T string of a SYN, or JA4TS of a SYN-ACK (the same layout).
pub fn ja4t(rec: &PacketRecord) -> String {
    let n = (rec.opt_len as usize).min(rec.options.len());
    let opts = &rec.options[..n];
    let mut kinds: Vec<String> = Vec::new();
    let (mut mss, mut ws) = (None, None);
    let mut i = 0;
    while i < opts.len() {
        let kind = opts[i];
        if kind == 0 {
            break;
        }
        kinds.push(kind.to_string());
        if kind == 1 {
            i += 1;
            continue;
        }
        let Some(&len) = opts.get(i + 1) else { break };
        let len = len as usize;
        if len < 2 || i + len > opts.len() {
            break;
        }
        match (kind, len) {
            (2, 4) => mss = Some(u16::from_be_bytes([opts[i + 2], opts[i + 3]])),
            (3, 3) => ws = Some(opts[i + 2]),
            _ => {}
        }
        i += len;
    }
    let or00 = |v: Option<String>| v.unwrap_or_else(|| "00".into());
    format!(
        "{}_{}_{}_{}",
        rec.window,
        kinds.join("-"),
        or00(mss.map(|m| m.to_string())),
        or00(ws.map(|w| w.to_string()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(window: u16, opts: &[u8]) -> PacketRecord {
        let mut r = PacketRecord::zeroed();
        r.window = window;
        r.opt_len = opts.len() as u8;
        r.options[..opts.len()].copy_from_slice(opts);
        r
    }

    #[test]
    fn windows_10_syn() {
        // mss 1460, nop, ws 8, nop, nop, sackok: FoxIO's Windows 10 example.
        let r = rec(64240, &[2, 4, 5, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2]);
        assert_eq!(ja4t(&r), "64240_2-1-3-1-1-4_1460_8");
    }

    #[test]
    fn linux_syn_with_timestamps() {
        let r = rec(
            64240,
            &[
                2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
            ],
        );
        assert_eq!(ja4t(&r), "64240_2-4-8-1-3_1460_7");
    }

    #[test]
    fn absent_mss_and_scale_are_00() {
        assert_eq!(ja4t(&rec(5840, &[4, 2])), "5840_4_00_00");
        assert_eq!(ja4t(&rec(1024, &[])), "1024__00_00");
    }

    #[test]
    fn stops_at_eol_and_at_bad_length() {
        // mss, EOL, then a window scale that must not be read.
        let r = rec(65535, &[2, 4, 5, 0xb4, 0, 3, 3, 6]);
        assert_eq!(ja4t(&r), "65535_2_1460_00");
        // sackok with length 1: listed, reading stops.
        let r = rec(65535, &[1, 4, 1, 3, 3, 6]);
        assert_eq!(ja4t(&r), "65535_1-4_00_00");
        // mss running past the end.
        let r = rec(100, &[2, 4, 5]);
        assert_eq!(ja4t(&r), "100_2_00_00");
    }
}
