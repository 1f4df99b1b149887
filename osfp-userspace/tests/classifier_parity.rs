//! The Rust classifier against its specification, `eval/scripts/score_ref.py` (and its
//! feature encoding `eval/scripts/features.py`): the same records (our `--json` lines of
//! the lab captures and some corpus files, plus rewritten copies) give the same feature
//! strings and the same family probabilities, with the research's exported model
//! (`eval/results/model_lr.json`) and with the shipped one (`db/osfp-model.json`).

use std::{io::Write, path::Path, process::Command};

use osfp::{
    analysis::fingerprint::{self, features, rewrite::Edit, Model, Prior, Signature},
    capture::{
        file as capture_file,
        frame::{SelectConfig, Selector},
    },
    decode::Event,
    export::record::{Fingerprinted, RecordJson},
};
use osfp_common::{tcp_flag, PacketRecord};

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn syns(path: &Path, out: &mut Vec<PacketRecord>) {
    let mut sel = Selector::new(SelectConfig::default());
    let _ = capture_file::for_each_frame(path, |link, frame, ts| {
        if let Some(r) = sel.frame(link, frame, ts) {
            if r.tcp_flags & (tcp_flag::SYN | tcp_flag::ACK) == tcp_flag::SYN {
                out.push(r);
            }
        }
    });
}

const PY: &str = r#"
import json, sys
sys.path.insert(0, sys.argv[1])
from features import featurize
import score_ref
models = [score_ref.load(p) for p in sys.argv[2:]]
for line in sys.stdin:
    r = json.loads(line)
    F = featurize(r)
    feats = sorted(f"{k}={v}" for k, v in F.items())
    out = {"feats": feats, "scores": []}
    for m in models:
        s = score_ref.score(m, r)
        out["scores"].append(s["families"])
    print(json.dumps(out))
"#;

#[test]
fn features_and_probabilities_equal_score_ref() {
    if Command::new("python3").arg("-V").output().is_err() {
        osfp_tests::cannot_run("classifier_parity: python3 not installed");
        return;
    }
    let mut recs = Vec::new();
    let lab = root().join("eval/data/lab");
    for k in std::fs::read_dir(&lab).unwrap() {
        let k = k.unwrap().path();
        for f in std::fs::read_dir(&k).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "pcap") {
                syns(&f, &mut recs);
            }
        }
    }
    if let Some(c) = osfp_tests::corpus::locate() {
        for f in [
            "ndpi/android.pcap",
            "ndpi/windowsupdate_over_http.pcap",
            "zeek/rfb__vnc-mac-to-linux.pcap",
            "huginn-net/macos_tcp_flags.pcap",
            "iot-sentinel/Aria/Setup-A-2-STA.pcap",
            "ndpi/synscan.pcap",
        ] {
            syns(&c.join(f), &mut recs);
        }
    }
    // Rewritten copies: NOP runs, zero TSval, odd windows and TTLs, ECN bits.
    let n = recs.len();
    for (i, r) in recs[..n].to_vec().iter().enumerate() {
        let mut r = *r;
        let e = [
            Edit::TsNop,
            Edit::TsZero,
            Edit::WinRewrite(65280),
            Edit::TtlRewrite(250),
            Edit::WsStrip,
            Edit::TsStrip,
        ][i % 6];
        if e.apply(&mut r) {
            recs.push(r);
        }
    }
    assert!(recs.len() > 800, "{} SYNs", recs.len());
    let db = fingerprint::default_database().unwrap();
    let research = root().join("eval/results/model_lr.json");
    let shipped = root().join("osfp-userspace/db/osfp-model.json");
    let models: Vec<Model> = [&research, &shipped]
        .iter()
        .map(|p| Model::parse(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect();
    let mut input = Vec::new();
    let mut ours = Vec::new();
    for r in &recs {
        let ev = Event::decode(r);
        let s = Signature::from_event(&ev, 0).unwrap();
        let v = db.classify(&s, false);
        let j = RecordJson::new(
            &ev,
            Some(Fingerprinted {
                db: &db,
                sig: &s,
                verdict: &v,
            }),
        );
        serde_json::to_writer(&mut input, &j).unwrap();
        input.push(b'\n');
        let mut f = features::strings(&ev, &s);
        f.sort();
        let fam: Vec<Vec<f64>> = models
            .iter()
            .map(|m| {
                let idx: Vec<u32> = features::strings(&ev, &s)
                    .iter()
                    .filter_map(|x| m.index(x))
                    .collect();
                m.family_probs(&m.probs(idx, Prior::Target))
            })
            .collect();
        // The shortcut the verdict uses agrees with the full computation.
        for (m, fp) in models.iter().zip(&fam) {
            let inf = m.infer(&ev, &s, Prior::Target);
            assert!((inf.p - fp[inf.family]).abs() < 1e-12);
        }
        ours.push((f, fam));
    }
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(PY)
        .arg(root().join("eval/scripts"))
        .arg(&research)
        .arg(&shipped)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Written from a thread: python's answers fill its stdout pipe meanwhile.
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "python failed");
    let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(lines.len(), ours.len());
    let mut worst = 0.0f64;
    for (i, (line, (feats, fam))) in lines.iter().zip(&ours).enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let theirs: Vec<String> = v["feats"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect();
        assert_eq!(&theirs, feats, "record {i}: features differ");
        for (mi, m) in models.iter().enumerate() {
            let t = &v["scores"][mi];
            for (fi, name) in m.file.families.iter().enumerate() {
                let p = t.get(name).and_then(|x| x.as_f64()).unwrap_or(0.0);
                // score_ref rounds to 4 places.
                let d = (p - (fam[mi][fi] * 1e4).round() / 1e4).abs();
                worst = worst.max(d);
                assert!(
                    d < 1.5e-4,
                    "record {i} model {mi} {name}: python {p}, rust {}",
                    fam[mi][fi]
                );
            }
        }
    }
    eprintln!(
        "{} SYNs: features equal, largest probability difference {worst:.1e}",
        ours.len()
    );
}
