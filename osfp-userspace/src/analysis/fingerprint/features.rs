//! The classifier's features of one SYN: categorical strings `name=value`, one-hot.
//! A port of `eval/scripts/features.py`, rule for rule (the test
//! `tests/classifier_parity.rs` compares the two on the same records): every feature
//! comes from the SYN's own IP and TCP headers.
//!
//! | name | value |
//! |---|---|
//! | `layout` | option kinds in wire order (p0f names), runs of >= 4 NOPs as `nop*N`, `eol+N` |
//! | `canon` | the real options only (no NOP / EOL): unchanged by NOP-over-TS |
//! | `noprun` | longest NOP run: 0-3 or `>=4` |
//! | `eol` | `none` or `eol+N` |
//! | `ittl`, `ipv`, `df`, `ipid`, `ecn`, `flow` | initial TTL class, IP version, DF, ID zero, ECN flags (+`/ect`), flow label |
//! | `ws`, `mss` | window scale (`exws` above 14), MSS bucket (`loop` for loopback MSSes) |
//! | `win`, `win_log2` | a common window's value (else `other`), the window's bit length |
//! | `win_mss`, `win_1460`, `win_rule` | window = K x MSS (or x (MSS-12)); K x 1460/1448/1440; floor(65535/MSS) x MSS |
//! | `ts`, `quirks` | timestamp (`val0`, `/ecr+`); p0f's other quirks (+ `payload`) |
//! | `x_*` | crosses of two of the above, joined by `\|` |

use osfp_common::tcp_flag;

use super::sig::Signature;
use crate::decode::Event;

const COMMON_WIN: [u16; 26] = [
    65535, 64240, 65280, 29200, 14600, 5840, 8192, 16384, 32768, 4128, 1024, 512, 65160, 64800,
    28960, 26883, 5720, 14480, 43690, 42340, 62727, 17520, 16616, 4096, 2048, 63443,
];
const LOOPBACK_MSS: [u16; 9] = [16344, 16384, 16396, 16376, 65495, 65476, 3884, 3924, 16436];

/// One option as `features.py`'s `parse_opts` reads `options_hex`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opt {
    Eol,
    /// Zero bytes after EOL.
    Pad(usize),
    Nop,
    Mss,
    Ws,
    Sok,
    /// (TSval, TSecr).
    Ts(u32, u32),
    /// An unknown kind, a bad length, or a truncated option.
    Raw,
}

fn parse_opts(b: &[u8]) -> Vec<Opt> {
    let mut out = Vec::with_capacity(12);
    let mut i = 0;
    while i < b.len() {
        let k = b[i];
        if k == 0 {
            out.push(Opt::Eol);
            if b.len() - i - 1 > 0 {
                out.push(Opt::Pad(b.len() - i - 1));
            }
            break;
        }
        if k == 1 {
            out.push(Opt::Nop);
            i += 1;
            continue;
        }
        if i + 1 >= b.len() {
            out.push(Opt::Raw);
            break;
        }
        let ln = b[i + 1] as usize;
        if ln < 2 || i + ln > b.len() {
            out.push(Opt::Raw);
            break;
        }
        out.push(match (k, ln) {
            (2, 4) => Opt::Mss,
            (3, 3) => Opt::Ws,
            (4, 2) => Opt::Sok,
            (8, 10) => {
                let be = |at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
                Opt::Ts(be(i + 2), be(i + 6))
            }
            _ => Opt::Raw,
        });
        i += ln;
    }
    out
}

fn name(o: Opt) -> &'static str {
    match o {
        Opt::Eol => "eol",
        Opt::Pad(_) => "pad",
        Opt::Nop => "nop",
        Opt::Mss => "mss",
        Opt::Ws => "ws",
        Opt::Sok => "sok",
        Opt::Ts(..) => "ts",
        Opt::Raw => "raw",
    }
}

/// `layout_tokens`: runs of >= 4 NOPs collapsed, EOL with its padding.
fn layout(opts: &[Opt]) -> String {
    let mut out: Vec<String> = Vec::with_capacity(opts.len());
    let mut run = 0usize;
    let flush = |out: &mut Vec<String>, run: &mut usize| {
        if *run > 0 {
            if *run < 4 {
                out.extend(std::iter::repeat_n("nop".to_string(), *run));
            } else {
                out.push(format!("nop*{run}"));
            }
        }
        *run = 0;
    };
    for &o in opts {
        if o == Opt::Nop {
            run += 1;
            continue;
        }
        flush(&mut out, &mut run);
        match o {
            Opt::Pad(n) => {
                if let Some(last) = out.last_mut() {
                    if last == "eol+0" {
                        *last = format!("eol+{n}");
                    }
                }
            }
            Opt::Eol => out.push("eol+0".into()),
            Opt::Raw => out.push("?".into()),
            o => out.push(name(o).into()),
        }
    }
    flush(&mut out, &mut run);
    out.join(",")
}

fn ittl(t: u8) -> u8 {
    match t {
        0..=32 => 32,
        33..=64 => 64,
        65..=128 => 128,
        _ => 255,
    }
}

fn mss_bucket(m: Option<u16>) -> &'static str {
    let Some(m) = m else { return "none" };
    if LOOPBACK_MSS.contains(&m) {
        return "loop";
    }
    match m {
        0..=535 => "<536",
        536 => "536",
        537..=1219 => "537-1219",
        1220..=1359 => "1220-1359",
        1360..=1399 => "1360-1399",
        1400..=1439 => "1400-1439",
        1440 => "1440",
        1441..=1459 => "1441-1459",
        1460 => "1460",
        1461..=8999 => "1461-8999",
        _ => ">=9000",
    }
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// Calls `f` once per feature string (`name=value`) of a SYN, in `features.py`'s
/// order; the string is only valid during the call.
pub fn for_each(ev: &Event, s: &Signature, mut f: impl FnMut(&str)) {
    let r = &ev.record;
    let n = (r.opt_len as usize).min(r.options.len()).min(40);
    let opts = parse_opts(&r.options[..n]);
    let lay = layout(&opts);
    let real: Vec<&str> = opts
        .iter()
        .filter(|o| !matches!(o, Opt::Nop | Opt::Eol | Opt::Pad(_)))
        .map(|o| name(*o))
        .collect();
    let (mut longest, mut cur) = (0, 0);
    for o in &opts {
        cur = if *o == Opt::Nop { cur + 1 } else { 0 };
        longest = longest.max(cur);
    }
    let mss = ev.options.mss;
    let win = r.window;
    let ws = ev.options.wscale;
    let v6 = r.family == 6;
    let t = ittl(r.ttl);

    let layout_v = if lay.is_empty() {
        "none".to_string()
    } else {
        lay
    };
    let canon = if real.is_empty() {
        "none".to_string()
    } else {
        real.join(",")
    };
    let noprun = match longest {
        0 => "0",
        1 => "1",
        2 => "2",
        3 => "3",
        _ => ">=4",
    };
    let eol = layout_v
        .split(',')
        .find(|x| x.starts_with("eol"))
        .unwrap_or("none")
        .to_string();
    let df = if v6 { "v6" } else { py_bool(ev.df()) };
    let ipid = if v6 {
        "v6"
    } else if r.ip_id == 0 {
        "zero"
    } else {
        "nonzero"
    };
    let fl = r.tcp_flags;
    let ece_cwr = tcp_flag::ECE | tcp_flag::CWR;
    let mut ecn = String::from(if fl & ece_cwr == ece_cwr {
        "ece+cwr"
    } else if fl & tcp_flag::ECE != 0 {
        "ece"
    } else if fl & tcp_flag::CWR != 0 {
        "cwr"
    } else {
        "none"
    });
    if r.tos & 3 != 0 {
        ecn.push_str("/ect");
    }
    let flow = if !v6 {
        "v4"
    } else if r.flow_label != 0 {
        "nonzero"
    } else {
        "zero"
    };
    let ws_v = match ws {
        None => "none".to_string(),
        Some(w) if w <= 14 => w.to_string(),
        Some(_) => "exws".to_string(),
    };
    let win_v = if COMMON_WIN.contains(&win) {
        win.to_string()
    } else {
        "other".to_string()
    };
    let win_log2 = (16 - win.leading_zeros()).to_string();
    let m = mss.unwrap_or(0) as u32;
    let w = win as u32;
    let win_mss = if m != 0 && w != 0 && w.is_multiple_of(m) {
        if w / m <= 64 {
            format!("mss*{}", w / m)
        } else {
            "mss*big".to_string()
        }
    } else if m > 12 && w != 0 && w.is_multiple_of(m - 12) {
        format!("mss12*{}", w / (m - 12))
    } else {
        "no".to_string()
    };
    let win_1460 = [1460u32, 1448, 1440]
        .iter()
        .find(|&&b| w != 0 && w.is_multiple_of(b) && w / b <= 64)
        .map_or_else(|| "no".to_string(), |&b| format!("{b}*{}", w / b));
    let win_rule = py_bool(m != 0 && w == (65535 / m) * m);
    let ts = match opts.iter().find_map(|o| match o {
        Opt::Ts(v, e) => Some((*v, *e)),
        _ => None,
    }) {
        None => "none".to_string(),
        Some((v, e)) => {
            let mut t = String::from(if v == 0 { "val0" } else { "ok" });
            if e != 0 {
                t.push_str("/ecr+");
            }
            t
        }
    };
    let mut q: Vec<&str> = s
        .quirks
        .names()
        .filter(|x| !matches!(*x, "df" | "id+" | "id-" | "ecn" | "flow"))
        .collect();
    q.sort_unstable();
    if r.payload_len != 0 {
        q.push("payload");
    }
    let quirks = if q.is_empty() {
        "none".to_string()
    } else {
        q.join(",")
    };
    let ttl_s = t.to_string();

    let mut buf = String::with_capacity(96);
    let mut emit = |k: &str, parts: &[&str]| {
        buf.clear();
        buf.push_str(k);
        buf.push('=');
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                buf.push('|');
            }
            buf.push_str(p);
        }
        f(&buf);
    };
    emit("layout", &[&layout_v]);
    emit("canon", &[&canon]);
    emit("noprun", &[noprun]);
    emit("eol", &[&eol]);
    emit("ittl", &[&ttl_s]);
    emit("ipv", &[if v6 { "6" } else { "4" }]);
    emit("df", &[df]);
    emit("ipid", &[ipid]);
    emit("ecn", &[&ecn]);
    emit("flow", &[flow]);
    emit("ws", &[&ws_v]);
    emit("mss", &[mss_bucket(mss)]);
    emit("win", &[&win_v]);
    emit("win_log2", &[&win_log2]);
    emit("win_mss", &[&win_mss]);
    emit("win_1460", &[&win_1460]);
    emit("win_rule", &[win_rule]);
    emit("ts", &[&ts]);
    emit("quirks", &[&quirks]);
    emit("x_canon_ittl", &[&canon, &ttl_s]);
    emit("x_layout_ittl", &[&layout_v, &ttl_s]);
    emit("x_win_ws", &[&win_v, &ws_v]);
    emit("x_winmss_canon", &[&win_mss, &canon]);
    emit("x_win1460_canon", &[&win_1460, &canon]);
    emit("x_ipid_df_ittl", &[ipid, df, &ttl_s]);
    emit("x_win_canon", &[&win_v, &canon]);
}

/// Every feature string of a SYN (tests, training data).
pub fn strings(ev: &Event, s: &Signature) -> Vec<String> {
    let mut v = Vec::with_capacity(26);
    for_each(ev, s, |x| v.push(x.to_string()));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_as_features_py_writes_them() {
        // Linux with its timestamp overwritten by NOPs: 11 NOPs in a row.
        let mut b = vec![2, 4, 5, 180, 4, 2];
        b.extend([1; 11]);
        b.extend([3, 3, 7]);
        assert_eq!(layout(&parse_opts(&b)), "mss,sok,nop*11,ws");
        // Apple's EOL with one byte of padding, and an unknown kind.
        let b = [2, 4, 5, 180, 1, 3, 3, 6, 30, 2, 0, 0];
        assert_eq!(layout(&parse_opts(&b)), "mss,nop,ws,?,eol+1");
        // A truncated option is one raw token and ends the walk.
        assert_eq!(layout(&parse_opts(&[2, 4, 5])), "?");
        assert_eq!(layout(&parse_opts(&[])), "");
    }

    #[test]
    fn buckets() {
        assert_eq!(mss_bucket(Some(65495)), "loop");
        assert_eq!(mss_bucket(Some(1400)), "1400-1439");
        assert_eq!(mss_bucket(Some(0)), "<536");
        assert_eq!(mss_bucket(None), "none");
        assert_eq!((ittl(64), ittl(65), ittl(200)), (64, 128, 255));
    }
}
