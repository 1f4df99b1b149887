//! A record's line, built in one place from the event and, for a fingerprinted SYN /
//! SYN-ACK, its signature and verdict: the JSON object (field names are an interface,
//! documented in the README) and the human-readable text.

use std::{fmt::Write as _, net::IpAddr};

use osfp_common::ip_flag;
use serde::Serialize;

use crate::{
    analysis::fingerprint::{
        initial_ttl, link_guess, nmap_options, Database, MatchKind, Signature, Verdict,
    },
    decode::{flags_string, layout_string, put_flags, put_layout, Event},
};

/// A fingerprinted SYN / SYN-ACK's part of its line.
#[derive(Clone, Copy)]
pub struct Fingerprinted<'a> {
    pub db: &'a Database,
    pub sig: &'a Signature,
    pub verdict: &'a Verdict<'a>,
}

/// The JSON object of one record.
#[derive(Serialize)]
pub struct RecordJson {
    pub kind: &'static str,
    pub reasons: Vec<&'static str>,
    pub ts: f64,
    pub ifindex: u32,
    pub ip_version: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub ttl: u8,
    pub tos: u8,
    pub df: bool,
    pub mf: bool,
    pub ip_id: u32,
    pub ip_len: u16,
    pub ip_opt_len: u8,
    pub flow_label: u32,
    pub seq: u32,
    pub ack: u32,
    pub flags: String,
    pub flags_raw: u16,
    pub window: u16,
    pub urg_ptr: u16,
    pub payload_len: u16,
    pub doff: u8,
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_ok: bool,
    pub tsval: Option<u32>,
    pub tsecr: Option<u32>,
    pub options: String,
    pub eol_pad: u8,
    pub options_malformed: Option<&'static str>,
    pub options_hex: String,
    /// p0f v3 signature (SYN / SYN-ACK, when fingerprinting).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The database verdict for `signature`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<OsJson>,
    /// TTL guess, hops, MTU/link guess, nmap's O and W.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_fp: Option<TcpFpJson>,
    /// FoxIO's JA4T of a SYN (feature `ja4t`).
    #[cfg(feature = "ja4t")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja4t: Option<String>,
    /// FoxIO's JA4TS of a SYN-ACK (feature `ja4t`).
    #[cfg(feature = "ja4t")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja4ts: Option<String>,
}

/// `os` of a record.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct OsJson {
    /// `name flavor`; null when unknown.
    pub label: Option<String>,
    pub family: &'static str,
    #[serde(rename = "match")]
    pub kind: &'static str,
    pub score: f32,
    /// Present (true) when the label is a tool or application (`!`), not an OS.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tool: bool,
    /// Database line of the matching signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Inferred verdicts: the classifier's probability of the family.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p: Option<f32>,
    /// The middlebox rewrites undone to reach the match (`ts_nop`, `ts_zero`,
    /// `mss_clamp`, `ws_strip`, `ws_rewrite`, `win_rewrite`, `ttl_rewrite`,
    /// `ecn_bleach`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub middlebox: Vec<&'static str>,
    /// Nearest labels for an unknown signature.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<CandidateJson>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CandidateJson {
    pub label: String,
    pub family: &'static str,
    pub score: f32,
    pub line: u32,
}

/// `tcp_fp` of a record: what the signature says beyond the match.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TcpFpJson {
    /// Initial TTL guess (32, 64, 128, 255).
    pub ittl: u8,
    /// Hop distance (from the matched signature when in range, else guessed).
    pub hops: u8,
    /// MTU implied by the MSS, and its `[mtu]` label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// nmap's O (options) and W (window, hex) test values.
    pub nmap_o: String,
    pub nmap_w: String,
}

impl RecordJson {
    /// The record of `ev`; with `fp`, its signature, verdict (nearest candidates found
    /// here, for printed verdicts only) and TCP fingerprint facts.
    pub fn new(ev: &Event, fp: Option<Fingerprinted<'_>>) -> RecordJson {
        let r = &ev.record;
        let reasons = osfp_common::reason::NAMES
            .iter()
            .enumerate()
            .filter(|(bit, _)| r.reason & (1 << bit) != 0)
            .map(|(_, name)| *name)
            .collect();
        RecordJson {
            kind: ev.kind.name(),
            reasons,
            ts: ev.ts_ns as f64 / 1e9,
            ifindex: r.ifindex,
            ip_version: r.family,
            src: ev.src,
            dst: ev.dst,
            sport: r.sport,
            dport: r.dport,
            ttl: r.ttl,
            tos: r.tos,
            df: ev.df(),
            mf: r.ip_flags & ip_flag::MF != 0,
            ip_id: r.ip_id,
            ip_len: r.ip_len,
            ip_opt_len: r.ip_opt_len,
            flow_label: r.flow_label,
            seq: r.seq,
            ack: r.ack,
            flags: flags_string(r.tcp_flags),
            flags_raw: r.tcp_flags,
            window: r.window,
            urg_ptr: r.urg_ptr,
            payload_len: r.payload_len,
            doff: r.doff,
            mss: ev.options.mss,
            wscale: ev.options.wscale,
            sack_ok: ev.options.sack_permitted,
            tsval: ev.options.timestamp.map(|t| t.0),
            tsecr: ev.options.timestamp.map(|t| t.1),
            options: layout_string(&ev.options),
            eol_pad: ev.options.eol_pad,
            options_malformed: ev.options.malformed.map(|p| p.name()),
            options_hex: hex(&r.options[..(r.opt_len as usize).min(40)]),
            signature: fp.map(|f| f.sig.p0f().to_string()),
            os: fp.map(|f| os_json(&f.verdict.with_candidates(f.db, f.sig))),
            tcp_fp: fp.map(|f| tcp_fp_json(f.db, ev, f.sig, f.verdict)),
            #[cfg(feature = "ja4t")]
            ja4t: fp
                .filter(|_| ev.is_syn())
                .map(|_| crate::analysis::ja4t::ja4t(r)),
            #[cfg(feature = "ja4t")]
            ja4ts: fp
                .filter(|_| !ev.is_syn())
                .map(|_| crate::analysis::ja4t::ja4t(r)),
        }
    }
}

/// Appends `ev`'s JSON object (no newline) to `buf`: the bytes `serde_json` writes for
/// [`RecordJson::new`], without building it. The record stream's hot path: serde's
/// per-field calls, string escaping and the per-record `String`s were most of
/// `osfp pcap --json`'s time. The nested `os` and `tcp_fp` objects still go through
/// serde (their fields are few and optional); `tests/record_json.rs` proves the bytes
/// equal over the corpus.
pub fn write_json(buf: &mut Vec<u8>, ev: &Event, fp: Option<Fingerprinted<'_>>) {
    let r = &ev.record;
    let mut w = JsonWriter { buf, first: true };
    w.key("kind");
    w.raw_str(ev.kind.name());
    w.key("reasons");
    w.buf.push(b'[');
    let mut first = true;
    for (bit, name) in osfp_common::reason::NAMES.iter().enumerate() {
        if r.reason & (1 << bit) != 0 {
            if !first {
                w.buf.push(b',');
            }
            first = false;
            w.raw_str(name);
        }
    }
    w.buf.push(b']');
    w.key("ts");
    w.serde(&(ev.ts_ns as f64 / 1e9));
    w.uint("ifindex", r.ifindex as u64);
    w.uint("ip_version", r.family as u64);
    w.key("src");
    w.ip(ev.src);
    w.key("dst");
    w.ip(ev.dst);
    w.uint("sport", r.sport as u64);
    w.uint("dport", r.dport as u64);
    w.uint("ttl", r.ttl as u64);
    w.uint("tos", r.tos as u64);
    w.bool("df", ev.df());
    w.bool("mf", r.ip_flags & ip_flag::MF != 0);
    w.uint("ip_id", r.ip_id as u64);
    w.uint("ip_len", r.ip_len as u64);
    w.uint("ip_opt_len", r.ip_opt_len as u64);
    w.uint("flow_label", r.flow_label as u64);
    w.uint("seq", r.seq as u64);
    w.uint("ack", r.ack as u64);
    w.key("flags");
    w.buf.push(b'"');
    put_flags(w.buf, r.tcp_flags);
    w.buf.push(b'"');
    w.uint("flags_raw", r.tcp_flags as u64);
    w.uint("window", r.window as u64);
    w.uint("urg_ptr", r.urg_ptr as u64);
    w.uint("payload_len", r.payload_len as u64);
    w.uint("doff", r.doff as u64);
    let o = &ev.options;
    w.opt_uint("mss", o.mss.map(u64::from));
    w.opt_uint("wscale", o.wscale.map(u64::from));
    w.bool("sack_ok", o.sack_permitted);
    w.opt_uint("tsval", o.timestamp.map(|t| t.0 as u64));
    w.opt_uint("tsecr", o.timestamp.map(|t| t.1 as u64));
    w.key("options");
    w.buf.push(b'"');
    put_layout(w.buf, o.layout.iter().copied(), o.eol_pad);
    w.buf.push(b'"');
    w.uint("eol_pad", o.eol_pad as u64);
    w.key("options_malformed");
    match o.malformed {
        Some(p) => w.str(p.name()),
        None => w.buf.extend_from_slice(b"null"),
    }
    w.key("options_hex");
    w.buf.push(b'"');
    hex_into(w.buf, &r.options[..(r.opt_len as usize).min(40)]);
    w.buf.push(b'"');
    if let Some(f) = fp {
        w.key("signature");
        w.buf.push(b'"');
        f.sig.put_p0f(w.buf);
        w.buf.push(b'"');
        w.key("os");
        write_os(w.buf, &f.verdict.with_candidates(f.db, f.sig));
        w.key("tcp_fp");
        write_tcp_fp(w.buf, f.db, ev, f.sig, f.verdict);
        #[cfg(feature = "ja4t")]
        {
            w.key(if ev.is_syn() { "ja4t" } else { "ja4ts" });
            w.str(&crate::analysis::ja4t::ja4t(r));
        }
    }
    w.buf.push(b'}');
}

/// The few JSON shapes [`write_json`] needs, written as serde_json writes them.
struct JsonWriter<'a> {
    buf: &'a mut Vec<u8>,
    first: bool,
}

impl JsonWriter<'_> {
    /// `{"key":` or `,"key":` (keys are ours: nothing to escape).
    #[inline(always)]
    fn key(&mut self, k: &str) {
        self.buf.push(if self.first { b'{' } else { b',' });
        self.first = false;
        self.buf.push(b'"');
        self.buf.extend_from_slice(k.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    #[inline(always)]
    fn uint(&mut self, k: &str, v: u64) {
        self.key(k);
        put_uint(self.buf, v);
    }

    /// An address as its `Display` writes it, in quotes (IPv4 without the formatter).
    fn ip(&mut self, a: IpAddr) {
        self.buf.push(b'"');
        match a {
            IpAddr::V4(a) => {
                let [b0, b1, b2, b3] = a.octets();
                put_uint(self.buf, b0 as u64);
                for b in [b1, b2, b3] {
                    self.buf.push(b'.');
                    put_uint(self.buf, b as u64);
                }
            }
            IpAddr::V6(a) => {
                use std::io::Write as _;
                let _ = write!(self.buf, "{a}");
            }
        }
        self.buf.push(b'"');
    }

    /// A score or probability as serde_json writes an `f32`.
    fn f32(&mut self, k: &str, v: f32) {
        self.key(k);
        self.serde(&v);
    }

    /// A label's display name (`name flavor`), escaped where it must be.
    fn label(&mut self, k: &str, l: &crate::analysis::fingerprint::Label) {
        self.key(k);
        if needs_escape(&l.name) || needs_escape(&l.flavor) {
            let _ = serde_json::to_writer(&mut *self.buf, &l.display_name());
            return;
        }
        self.buf.push(b'"');
        self.buf.extend_from_slice(l.name.as_bytes());
        if !l.flavor.is_empty() {
            self.buf.push(b' ');
            self.buf.extend_from_slice(l.flavor.as_bytes());
        }
        self.buf.push(b'"');
    }

    /// Closes an object this writer opened (`{}` if it wrote no key).
    fn close(self) {
        if self.first {
            self.buf.push(b'{');
        }
        self.buf.push(b'}');
    }

    fn opt_uint(&mut self, k: &str, v: Option<u64>) {
        match v {
            Some(v) => self.uint(k, v),
            None => {
                self.key(k);
                self.buf.extend_from_slice(b"null");
            }
        }
    }

    fn bool(&mut self, k: &str, v: bool) {
        self.key(k);
        self.buf
            .extend_from_slice(if v { b"true" } else { b"false" });
    }

    /// A string of our own names (no quote, backslash or control character).
    #[inline(always)]
    fn raw_str(&mut self, s: &str) {
        debug_assert!(!needs_escape(s));
        self.buf.push(b'"');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(b'"');
    }

    /// Any string, escaped as serde_json escapes it where it must be.
    fn str(&mut self, s: &str) {
        if needs_escape(s) {
            let _ = serde_json::to_writer(&mut *self.buf, s);
        } else {
            self.raw_str(s);
        }
    }

    fn serde(&mut self, v: &impl Serialize) {
        let _ = serde_json::to_writer(&mut *self.buf, v);
    }
}

fn needs_escape(s: &str) -> bool {
    needs_escape_bytes(s.as_bytes())
}

fn needs_escape_bytes(b: &[u8]) -> bool {
    b.iter().any(|&c| c == b'"' || c == b'\\' || c < 0x20)
}

/// Decimal digits of `v`.
#[inline(always)]
fn put_uint(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Upper-case hex digits of `v` (`{:X}`).
fn put_hex_upper(buf: &mut Vec<u8>, v: u32) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut d = [0u8; 8];
    let mut i = d.len();
    let mut v = v;
    loop {
        i -= 1;
        d[i] = DIGITS[(v & 15) as usize];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&d[i..]);
}

/// [`os_json`]'s object written into `buf`, field for field as serde writes it.
fn write_os(buf: &mut Vec<u8>, v: &Verdict<'_>) {
    let mut w = JsonWriter { buf, first: true };
    match v.label {
        Some(l) => w.label("label", l),
        None => {
            w.key("label");
            w.buf.extend_from_slice(b"null");
        }
    }
    w.key("family");
    w.raw_str(v.family().name());
    w.key("match");
    w.raw_str(v.kind.name());
    w.f32("score", (v.score * 1000.0).round() / 1000.0);
    if v.is_tool {
        w.bool("tool", true);
    }
    if !matches!(v.kind, MatchKind::Unknown | MatchKind::Inferred) {
        w.uint("line", v.line as u64);
    }
    if let Some(p) = v.p {
        w.f32("p", (p * 1000.0).round() / 1000.0);
    }
    if !v.middlebox.is_empty() {
        w.key("middlebox");
        w.buf.push(b'[');
        for (i, k) in v.middlebox.iter().enumerate() {
            if i > 0 {
                w.buf.push(b',');
            }
            w.raw_str(k.name());
        }
        w.buf.push(b']');
    }
    if v.candidates.iter().any(Option::is_some) {
        w.key("candidates");
        w.buf.push(b'[');
        for (i, c) in v.candidates.iter().flatten().enumerate() {
            if i > 0 {
                w.buf.push(b',');
            }
            let mut cw = JsonWriter {
                buf: &mut *w.buf,
                first: true,
            };
            cw.label("label", c.label);
            cw.key("family");
            cw.raw_str(c.label.family.name());
            cw.f32("score", (c.score * 1000.0).round() / 1000.0);
            cw.uint("line", c.line as u64);
            cw.close();
        }
        w.buf.push(b']');
    }
    w.close();
}

/// [`tcp_fp_json`]'s object written into `buf`.
fn write_tcp_fp(buf: &mut Vec<u8>, db: &Database, ev: &Event, s: &Signature, v: &Verdict<'_>) {
    use crate::decode::options::OptKind;
    let mut w = JsonWriter { buf, first: true };
    w.uint("ittl", initial_ttl(s.ttl) as u64);
    w.uint("hops", v.dist as u64);
    if let Some((mtu, link)) = link_guess(db, s) {
        w.uint("mtu", mtu as u64);
        if let Some(l) = link {
            w.key("link");
            w.str(l);
        }
    }
    // nmap_options, written here.
    w.key("nmap_o");
    w.buf.push(b'"');
    let o = &ev.options;
    for k in &o.layout {
        match k {
            OptKind::Eol => w.buf.push(b'L'),
            OptKind::Nop => w.buf.push(b'N'),
            OptKind::Mss => {
                w.buf.push(b'M');
                put_hex_upper(w.buf, o.mss.unwrap_or(0) as u32);
            }
            OptKind::Ws => {
                w.buf.push(b'W');
                put_hex_upper(w.buf, o.wscale.unwrap_or(0) as u32);
            }
            OptKind::SackOk => w.buf.push(b'S'),
            OptKind::Ts => {
                let (t, e) = o.timestamp.unwrap_or((0, 0));
                w.buf
                    .extend_from_slice(&[b'T', b'0' + (t != 0) as u8, b'0' + (e != 0) as u8]);
            }
            OptKind::Sack | OptKind::Unknown(_) => {}
        }
    }
    w.buf.push(b'"');
    w.key("nmap_w");
    w.buf.push(b'"');
    put_hex_upper(w.buf, s.win as u32);
    w.buf.push(b'"');
    w.close();
}

pub fn os_json(v: &Verdict<'_>) -> OsJson {
    OsJson {
        label: v.label.map(|l| l.display_name()),
        family: v.family().name(),
        kind: v.kind.name(),
        score: (v.score * 1000.0).round() / 1000.0,
        tool: v.is_tool,
        line: (!matches!(v.kind, MatchKind::Unknown | MatchKind::Inferred)).then_some(v.line),
        p: v.p.map(|p| (p * 1000.0).round() / 1000.0),
        middlebox: v.middlebox.iter().map(|k| k.name()).collect(),
        candidates: v
            .candidates
            .iter()
            .flatten()
            .map(|c| CandidateJson {
                label: c.label.display_name(),
                family: c.label.family.name(),
                score: (c.score * 1000.0).round() / 1000.0,
                line: c.line,
            })
            .collect(),
    }
}

fn tcp_fp_json(db: &Database, ev: &Event, s: &Signature, v: &Verdict<'_>) -> TcpFpJson {
    let link = link_guess(db, s);
    TcpFpJson {
        ittl: initial_ttl(s.ttl),
        hops: v.dist,
        mtu: link.map(|l| l.0),
        link: link.and_then(|l| l.1.map(str::to_string)),
        nmap_o: nmap_options(&ev.options),
        nmap_w: format!("{:X}", s.win),
    }
}

/// One human-readable line; with `fp`, the signature and verdict at its end.
pub fn text_line(ev: &Event, fp: Option<Fingerprinted<'_>>) -> String {
    let r = &ev.record;
    let mut s = String::with_capacity(160);
    let _ = write!(
        s,
        "{} {:<10} {} -> {} ttl={} win={} flags={}",
        humantime::format_rfc3339_micros(
            std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ev.ts_ns)
        ),
        ev.kind.name(),
        sock(ev.src, r.sport),
        sock(ev.dst, r.dport),
        r.ttl,
        r.window,
        flags_string(r.tcp_flags),
    );
    if ev.df() {
        s.push_str(" df");
    }
    let o = &ev.options;
    if let Some(m) = o.mss {
        let _ = write!(s, " mss={m}");
    }
    if let Some(w) = o.wscale {
        let _ = write!(s, " ws={w}");
    }
    if let Some((v, e)) = o.timestamp {
        let _ = write!(s, " ts={v}/{e}");
    }
    let _ = write!(s, " opts={}", layout_string(o));
    if let Some(p) = o.malformed {
        let _ = write!(s, " malformed={}", p.name());
    }
    if let Some(f) = fp {
        let v = f.verdict;
        let label = v
            .label
            .map_or_else(|| "???".to_string(), |l| l.display_name());
        let _ = write!(
            s,
            " sig={} {}=\"{}\" match={} score={:.2}",
            f.sig.p0f(),
            if v.is_tool { "tool" } else { "os" },
            label,
            v.kind.name(),
            v.score
        );
        if !v.middlebox.is_empty() {
            let kinds: Vec<&str> = v.middlebox.iter().map(|k| k.name()).collect();
            let _ = write!(s, " middlebox={}", kinds.join(","));
        }
    }
    s
}

fn sock(a: IpAddr, port: u16) -> String {
    match a {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

fn hex(b: &[u8]) -> String {
    let mut v = Vec::with_capacity(b.len() * 2);
    hex_into(&mut v, b);
    String::from_utf8(v).expect("hex digits")
}

fn hex_into(out: &mut Vec<u8>, b: &[u8]) {
    // By table, not `write!`: the formatter was a visible share of JSON output time.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for x in b {
        out.push(DIGITS[(x >> 4) as usize]);
        out.push(DIGITS[(x & 15) as usize]);
    }
}
