//! The labelled SYN set of eval/ as rows: labels from `eval/labels/*.tsv`, SYNs
//! extracted at run time through the production path (capture file -> Selector ->
//! decode -> signature) from the corpus (`../shared/corpus`, never copied), our lab
//! captures (`eval/data/lab`) and the synthetic captures (`eval/data/synth`, made by
//! `eval/scripts/synthetic.py`); plus the middlebox augmentation of those SYNs with
//! the library's rewrite module (`analysis::fingerprint::rewrite`), deterministic.
//! p0f's verdict of every row comes from running `p0f -r FILE -o LOG` on the same file.

use std::{
    collections::HashMap,
    io::Write as _,
    net::IpAddr,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result};
use osfp::{
    analysis::fingerprint::{rewrite::Edit, Rewrite, Rewrites, Signature},
    capture::{
        file as capture_file,
        frame::{SelectConfig, Selector},
    },
    decode::Event,
};
use osfp_common::{ip_flag, reason, tcp_flag, PacketRecord};

pub const FAMS: [&str; 7] = [
    "windows", "linux", "android", "apple", "bsd", "embedded", "other",
];

/// Where a row comes from (the research's data kinds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Corpus,
    Lab,
    SynthFacts,
    SynthP0f,
    AugCorpus,
    AugLab,
    AugSynth,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Corpus => "corpus",
            Kind::Lab => "lab",
            Kind::SynthFacts => "synth-facts",
            Kind::SynthP0f => "synth-p0f",
            Kind::AugCorpus => "aug-corpus",
            Kind::AugLab => "aug-lab",
            Kind::AugSynth => "aug-synth",
        }
    }

    /// Training weight of the kind (eval/README.md "Model").
    pub fn weight(self) -> f64 {
        match self {
            Kind::Corpus => 3.0,
            Kind::Lab => 2.0,
            Kind::SynthFacts => 1.0,
            Kind::SynthP0f => 0.3,
            Kind::AugCorpus => 1.5,
            Kind::AugLab => 1.0,
            Kind::AugSynth => 0.7,
        }
    }

    /// Real stacks (corpus, lab, and their rewrites).
    pub fn real(self) -> bool {
        matches!(
            self,
            Kind::Corpus | Kind::Lab | Kind::AugCorpus | Kind::AugLab
        )
    }
}

/// One labelled SYN.
#[derive(Clone)]
pub struct Row {
    /// The capture (`corpus path`, `lab:...`, `synth:...`, `aug:...`).
    pub file: String,
    pub src: IpAddr,
    #[allow(dead_code)] // for reports and debugging
    pub label: String,
    pub fam: String,
    /// The training class (`windows:10/11`...); `None` for a Windows host without a
    /// version in its evidence.
    pub fine: Option<String>,
    pub heldout: bool,
    pub group: String,
    pub kind: Kind,
    /// A synthetic host from documented facts (not from p0f.fp), or a rewrite of one.
    pub fact: bool,
    pub rec: PacketRecord,
    /// p0f's verdict: its `os` (or `app`) text, and whether it is an application.
    pub p0f: Option<(String, bool)>,
    /// Rewrites applied (augmented rows).
    #[allow(dead_code)] // for reports and debugging
    pub rewrites: Rewrites,
    /// Each (file, source) counts once: 1 / its SYNs.
    pub w_host: f64,
}

impl Row {
    pub fn event(&self) -> Event {
        Event::decode(&self.rec)
    }

    pub fn signature(&self, ev: &Event) -> Signature {
        Signature::from_event(ev, 0).expect("a SYN")
    }

    pub fn host(&self) -> (String, IpAddr) {
        (self.file.clone(), self.src)
    }
}

pub fn fine_of(label: &str, fam: &str) -> Option<String> {
    if fam != "windows" {
        return Some(fam.to_string());
    }
    if label.contains("10") && label.contains("11") {
        Some("windows:10/11".into())
    } else if label.contains('7') && label.contains('8') {
        Some("windows:7/8".into())
    } else if label.contains("XP") {
        Some("windows:xp".into())
    } else {
        None
    }
}

struct LabelRow {
    path: String,
    src: IpAddr,
    label: String,
    family: String,
    evidence: String,
    group: String,
    heldout: bool,
}

fn read_labels(path: &Path) -> Result<Vec<LabelRow>> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 8 {
            continue;
        }
        out.push(LabelRow {
            path: f[0].to_string(),
            src: f[1]
                .parse()
                .with_context(|| format!("{}: address {}", path.display(), f[1]))?,
            label: f[2].to_string(),
            family: f[3].to_string(),
            evidence: f[4].to_string(),
            group: f[5].to_string(),
            heldout: f[7] == "heldout",
        });
    }
    Ok(out)
}

/// p0f's address text: dotted quad, or eight unpadded hex groups.
fn p0f_addr(a: IpAddr) -> String {
    match a {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => a
            .segments()
            .iter()
            .map(|g| format!("{g:x}"))
            .collect::<Vec<_>>()
            .join(":"),
    }
}

type P0fKey = (String, u16, String, u16);

/// p0f's SYN verdicts of a file, by (client, port, server, port), in order.
pub fn p0f_verdicts(file: &Path, tmp: &Path) -> HashMap<P0fKey, Vec<(String, bool)>> {
    let log = tmp.join(format!("p0f-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let ok = Command::new("p0f")
        .arg("-r")
        .arg(file)
        .arg("-o")
        .arg(&log)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    let mut out: HashMap<P0fKey, Vec<(String, bool)>> = HashMap::new();
    if !ok {
        return out;
    }
    let text = std::fs::read(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    for line in String::from_utf8_lossy(&text).lines() {
        let Some(body) = line.split_once("] ").map(|x| x.1) else {
            continue;
        };
        let f: HashMap<&str, &str> = body
            .split('|')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        if f.get("mod") != Some(&"syn") {
            continue;
        }
        let (Some(cli), Some(srv)) = (f.get("cli"), f.get("srv")) else {
            continue;
        };
        let (Some((ca, cp)), Some((sa, sp))) = (cli.rsplit_once('/'), srv.rsplit_once('/')) else {
            continue;
        };
        let (os, app) = match (f.get("os"), f.get("app")) {
            (_, Some(a)) => (a.to_string(), true),
            (Some(o), None) => (o.to_string(), false),
            _ => ("???".to_string(), false),
        };
        let key = (
            ca.to_string(),
            cp.parse().unwrap_or(0),
            sa.to_string(),
            sp.parse().unwrap_or(0),
        );
        out.entry(key).or_default().push((os, app));
    }
    out
}

/// The client SYNs of a capture through the production path: selected as a SYN, not
/// a scan probe, SYN without ACK.
pub fn syns(path: &Path) -> Vec<PacketRecord> {
    let mut sel = Selector::new(SelectConfig::default());
    let mut out = Vec::new();
    let _ = capture_file::for_each_frame(path, |link, frame, ts| {
        if let Some(r) = sel.frame(link, frame, ts) {
            let syn = r.tcp_flags & tcp_flag::SYN != 0 && r.tcp_flags & tcp_flag::ACK == 0;
            if syn && r.reason & reason::SYN != 0 && r.reason & reason::SCAN_PROBE == 0 {
                out.push(r);
            }
        }
    });
    out
}

fn addr(r: &PacketRecord, dst: bool) -> IpAddr {
    let a = if dst { &r.dst } else { &r.src };
    if r.family == 4 {
        IpAddr::from([a[0], a[1], a[2], a[3]])
    } else {
        IpAddr::from(*a)
    }
}

/// Labelled rows of one label file whose captures are under `root`.
fn rows_of(
    labels: &[LabelRow],
    root: &Path,
    strip: &str,
    kind_of: impl Fn(&LabelRow) -> Kind,
    tmp: &Path,
) -> Result<Vec<Row>> {
    let mut by_file: Vec<(String, Vec<&LabelRow>)> = Vec::new();
    for l in labels {
        match by_file.iter_mut().find(|(p, _)| *p == l.path) {
            Some((_, v)) => v.push(l),
            None => by_file.push((l.path.clone(), vec![l])),
        }
    }
    let mut out = Vec::new();
    for (file, ls) in by_file {
        let path = root.join(file.strip_prefix(strip).unwrap_or(&file));
        if !path.exists() {
            anyhow::bail!("{}: missing (labels name it)", path.display());
        }
        let recs = syns(&path);
        let p0f = p0f_verdicts(&path, tmp);
        let mut used: HashMap<P0fKey, usize> = HashMap::new();
        for r in recs {
            let src = addr(&r, false);
            let Some(l) = ls.iter().find(|l| l.src == src) else {
                continue;
            };
            let key = (p0f_addr(src), r.sport, p0f_addr(addr(&r, true)), r.dport);
            let k = used.entry(key.clone()).or_default();
            let v = p0f.get(&key).and_then(|v| v.get(*k).or(v.last())).cloned();
            *k += 1;
            out.push(Row {
                file: file.clone(),
                src,
                label: l.label.clone(),
                fam: l.family.clone(),
                fine: fine_of(&l.label, &l.family),
                heldout: l.heldout,
                group: l.group.clone(),
                kind: kind_of(l),
                fact: l.evidence.starts_with("synthetic-fact"),
                rec: r,
                p0f: v,
                rewrites: Rewrites::NONE,
                w_host: 1.0,
            });
        }
    }
    Ok(out)
}

/// SplitMix64: a small deterministic generator for the augmentation.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn choice<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len())]
    }
    /// In lo..=hi.
    pub fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.below((hi - lo + 1) as usize) as u32
    }
}

/// The rewrites drawn and their weights (eval/scripts/augment.py).
const DRAW: [(Rewrite, u32); 11] = [
    (Rewrite::TsNop, 30),
    (Rewrite::TsStrip, 6),
    (Rewrite::TsZero, 4),
    (Rewrite::MssClamp, 30),
    (Rewrite::WsStrip, 6),
    (Rewrite::WsRewrite, 5),
    (Rewrite::WinRewrite, 7),
    (Rewrite::TtlRewrite, 12),
    (Rewrite::EcnBleach, 5),
    (Rewrite::IdRewrite, 5),
    (Rewrite::DfClear, 3),
];

/// The edit of a drawn kind, its parameter drawn as augment.py does.
fn edit(k: Rewrite, r: &PacketRecord, g: &mut Rng) -> Edit {
    match k {
        Rewrite::TsNop => Edit::TsNop,
        Rewrite::TsStrip => Edit::TsStrip,
        Rewrite::TsZero => Edit::TsZero,
        Rewrite::MssClamp => {
            let mut c: Vec<u16> = (1360..=1400).step_by(4).collect();
            c.extend([1380, 1400, 1412, 1420, 1440, 1452]);
            Edit::MssClamp(g.choice(&c))
        }
        Rewrite::WsStrip => Edit::WsStrip,
        Rewrite::WsRewrite => Edit::WsRewrite(g.choice(&[0, 2, 4, 6, 7, 8, 9, 10, 14])),
        Rewrite::WinRewrite => {
            Edit::WinRewrite(g.choice(&[65535, 65280, 16384, 8192, (r.window / 2).max(1)]))
        }
        Rewrite::TtlRewrite => Edit::TtlRewrite(g.choice(&[64u8, 128, 255]) - g.range(0, 3) as u8),
        Rewrite::EcnBleach => Edit::EcnBleach,
        Rewrite::IdRewrite => Edit::IdRewrite(g.range(1, 65535) as u16),
        Rewrite::DfClear => Edit::DfClear,
    }
}

/// 1-3 rewrites drawn without replacement by weight and applied; the kinds that
/// applied (empty: none did).
pub fn rewrite(r: &mut PacketRecord, g: &mut Rng) -> Rewrites {
    let n = g.choice(&[1, 1, 2, 2, 3]);
    let mut drawn: Vec<Rewrite> = Vec::new();
    let mut done = Rewrites::NONE;
    for _ in 0..n {
        let left: Vec<(Rewrite, u32)> = DRAW
            .iter()
            .copied()
            .filter(|(k, _)| !drawn.contains(k))
            .collect();
        let total: u32 = left.iter().map(|x| x.1).sum();
        let mut x = g.below(total as usize) as u32;
        let mut k = left[0].0;
        for (kk, w) in &left {
            if x < *w {
                k = *kk;
                break;
            }
            x -= w;
        }
        drawn.push(k);
        if edit(k, r, g).apply(r) {
            done = done.with(k);
        }
    }
    done
}

/// The frame of a record (Ethernet, its IP header rebuilt, options as they are).
pub fn frame(r: &PacketRecord, src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let n = r.opt_len as usize;
    let mut f = osfp_tests::craft::TcpFrame::syn(src, dst, r.sport, r.dport);
    f.seq = r.seq;
    f.ack = r.ack;
    f.flags = r.tcp_flags;
    f.window = r.window;
    f.urg_ptr = r.urg_ptr;
    f.options = r.options[..n].to_vec();
    f.ttl = r.ttl;
    f.tos = r.tos;
    f.ip_id = r.ip_id as u16;
    f.df = r.ip_flags & ip_flag::DF != 0;
    f.flow_label = r.flow_label;
    f.ip_options = vec![0; r.ip_opt_len as usize];
    f.doff_override = Some(r.doff);
    // Bytes beyond the copied options (a header longer than 40 option bytes is not
    // possible; zero padding up to doff).
    let want = (r.doff as usize).saturating_sub(5) * 4;
    while f.options.len() < want {
        f.options.push(0);
    }
    f.frame()
}

/// A pcap file of Ethernet frames.
pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) -> Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    w.write_all(&0xa1b2c3d4u32.to_le_bytes())?;
    w.write_all(&2u16.to_le_bytes())?;
    w.write_all(&4u16.to_le_bytes())?;
    w.write_all(&[0; 8])?;
    w.write_all(&65535u32.to_le_bytes())?;
    w.write_all(&1u32.to_le_bytes())?;
    for (i, f) in frames.iter().enumerate() {
        let t = 1_700_000_000u32 + (i / 100) as u32;
        w.write_all(&t.to_le_bytes())?;
        w.write_all(&(((i % 100) * 10_000) as u32).to_le_bytes())?;
        w.write_all(&(f.len() as u32).to_le_bytes())?;
        w.write_all(&(f.len() as u32).to_le_bytes())?;
        w.write_all(f)?;
    }
    Ok(())
}

/// Augmented copies of `rows` (augment.py's rules): each host's first `max_per_host`
/// SYNs, `k` copies each with 1-3 rewrites; every original host gets its own address.
/// The copies are written to a pcap and read back through the production path (p0f
/// reads the same file).
pub fn augment(
    rows: &[Row],
    kind: Kind,
    name: &str,
    k: usize,
    max_per_host: usize,
    seed: u64,
    tmp: &Path,
) -> Result<Vec<Row>> {
    let mut g = Rng::new(seed);
    let mut seen: HashMap<(String, IpAddr), usize> = HashMap::new();
    let mut hosts: HashMap<(String, IpAddr), u32> = HashMap::new();
    let mut meta: Vec<(Row, IpAddr, Rewrites)> = Vec::new();
    let mut frames = Vec::new();
    for row in rows {
        let key = row.host();
        let c = seen.entry(key.clone()).or_default();
        *c += 1;
        if *c > max_per_host {
            continue;
        }
        let next = hosts.len() as u32 + 1;
        let hix = *hosts.entry(key).or_insert(next);
        let (src, dst): (IpAddr, IpAddr) = if row.rec.family == 4 {
            (
                IpAddr::from([10, (128 + (hix >> 16)) as u8, (hix >> 8) as u8, hix as u8]),
                IpAddr::from([10, 250, 0, 1]),
            )
        } else {
            (
                format!("fd77::{hix:x}").parse().unwrap(),
                "fd00:250::1".parse().unwrap(),
            )
        };
        for _ in 0..k {
            let mut r = row.rec;
            let done = rewrite(&mut r, &mut g);
            if done.is_empty() {
                continue;
            }
            frames.push(frame(&r, src, dst));
            meta.push((row.clone(), src, done));
        }
    }
    let path = tmp.join(format!("{name}.pcap"));
    write_pcap(&path, &frames)?;
    let back = syns(&path);
    anyhow::ensure!(
        back.len() == meta.len(),
        "{name}: {} frames written, {} SYNs read back",
        meta.len(),
        back.len()
    );
    let p0f = p0f_verdicts(&path, tmp);
    let mut used: HashMap<P0fKey, usize> = HashMap::new();
    let mut out = Vec::new();
    for ((orig, src, done), rec) in meta.into_iter().zip(back) {
        let key = (
            p0f_addr(src),
            rec.sport,
            p0f_addr(addr(&rec, true)),
            rec.dport,
        );
        let kk = used.entry(key.clone()).or_default();
        let v = p0f.get(&key).and_then(|v| v.get(*kk).or(v.last())).cloned();
        *kk += 1;
        out.push(Row {
            file: format!("aug:{name}.pcap"),
            src,
            kind,
            rec,
            p0f: v,
            rewrites: done,
            ..orig
        });
    }
    Ok(out)
}

/// Paths of the data.
pub struct Sources {
    pub eval: PathBuf,
    pub corpus: PathBuf,
    pub tmp: PathBuf,
}

impl Sources {
    pub fn locate() -> Result<Sources> {
        let root = osfp_tests::workspace_root();
        let corpus =
            osfp_tests::corpus::locate().context("the corpus (../shared/corpus or OSFP_CORPUS)")?;
        let tmp = std::env::temp_dir().join(format!("osfp-model-{}", std::process::id()));
        std::fs::create_dir_all(&tmp)?;
        Ok(Sources {
            eval: root.join("eval"),
            corpus,
            tmp,
        })
    }
}

impl Drop for Sources {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

/// Every row: corpus, lab, synthetic, and their augmentations.
pub fn load(s: &Sources) -> Result<Vec<Row>> {
    let corpus = read_labels(&s.eval.join("labels/corpus_labels.tsv"))?;
    let lab = read_labels(&s.eval.join("labels/lab_labels.tsv"))?;
    let synth = read_labels(&s.eval.join("labels/synthetic_labels.tsv"))?;
    let mut rows = rows_of(&corpus, &s.corpus, "", |_| Kind::Corpus, &s.tmp)?;
    let n_corpus = rows.len();
    rows.extend(rows_of(
        &lab,
        &s.eval.join("data/lab"),
        "lab:",
        |_| Kind::Lab,
        &s.tmp,
    )?);
    let n_lab = rows.len();
    rows.extend(rows_of(
        &synth,
        &s.eval.join("data/synth"),
        "synth:",
        |l| {
            if l.path.contains("p0f") {
                Kind::SynthP0f
            } else {
                Kind::SynthFacts
            }
        },
        &s.tmp,
    )?);
    let aug_c = augment(
        &rows[..n_corpus],
        Kind::AugCorpus,
        "aug_corpus",
        3,
        6,
        11,
        &s.tmp,
    )?;
    let aug_l = augment(
        &rows[n_corpus..n_lab],
        Kind::AugLab,
        "aug_lab",
        3,
        3,
        13,
        &s.tmp,
    )?;
    let aug_s = augment(
        &rows[n_lab..],
        Kind::AugSynth,
        "aug_synth",
        1,
        3,
        12,
        &s.tmp,
    )?;
    rows.extend(aug_c);
    rows.extend(aug_l);
    rows.extend(aug_s);
    let mut n: HashMap<(String, IpAddr), usize> = HashMap::new();
    for r in &rows {
        *n.entry(r.host()).or_default() += 1;
    }
    for r in &mut rows {
        r.w_host = 1.0 / n[&r.host()] as f64;
    }
    Ok(rows)
}

/// SHA-1 (FIPS 180-1), for the research's group hashes (folds and calibration split).
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([
                chunk[4 * i],
                chunk[4 * i + 1],
                chunk[4 * i + 2],
                chunk[4 * i + 3],
            ]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

/// `int(sha1(s).hexdigest()[:8], 16)`.
pub fn sha1_prefix(s: &str) -> u32 {
    let d = sha1(s.as_bytes());
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_known_answers() {
        let hex = |d: [u8; 20]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(hex(sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }
}
