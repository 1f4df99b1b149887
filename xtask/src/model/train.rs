//! Training, exactly as eval/README.md "Model" specifies (and eval/scripts/evaluate.py
//! did with scikit-learn): the vocabulary of feature strings seen at least twice in the
//! fit rows, class-balanced row weights (each host's SYNs one unit, times its data
//! kind's factor), C chosen on the calibration split (20 % of the training groups) by
//! the NLL of its real-stack rows, the prior shift to the target family shares, the
//! temperature fit on out-of-fold logits of the real training rows (5 group folds),
//! and the threshold that leaves 2 % of those rows unlabelled (at most 0.5).

use std::collections::{BTreeMap, HashMap};

use osfp::analysis::fingerprint::{features, model::ModelFile};

use super::{
    data::{sha1_prefix, Row, FAMS},
    fit::{fit, Fit, Sample},
};

/// The target population's family shares (the lead's set by User-Agent: Android
/// 2259, Windows 1555, iOS 1072 + macOS 1046, ChromeOS 289 + Linux 287, others ~0).
pub fn target() -> BTreeMap<&'static str, f64> {
    let raw = [
        ("android", 2259.0),
        ("windows", 1555.0),
        ("apple", 1072.0 + 1046.0),
        ("linux", 289.0 + 287.0),
        ("bsd", 5.0),
        ("embedded", 5.0),
        ("other", 5.0),
    ];
    let sum: f64 = raw.iter().map(|x| x.1).sum();
    raw.iter().map(|(k, v)| (*k, v / sum)).collect()
}

pub const CS: [f64; 5] = [0.03, 0.1, 0.3, 1.0, 3.0];

/// Rows with their feature strings.
pub struct Prepared<'a> {
    pub row: &'a Row,
    pub feats: Vec<String>,
    pub y: Option<usize>,
}

pub fn prepare<'a>(rows: &'a [Row], classes: &[String]) -> Vec<Prepared<'a>> {
    rows.iter()
        .map(|r| {
            let ev = r.event();
            let s = r.signature(&ev);
            Prepared {
                row: r,
                feats: features::strings(&ev, &s),
                y: r.fine
                    .as_ref()
                    .and_then(|f| classes.iter().position(|c| c == f)),
            }
        })
        .collect()
}

pub fn classes_of(rows: &[Row]) -> Vec<String> {
    let mut c: Vec<String> = rows.iter().filter_map(|r| r.fine.clone()).collect();
    c.sort();
    c.dedup();
    c
}

/// `int(sha1(prefix + group)[:8], 16) / 0xFFFFFFFF`.
pub fn group_hash(s: &str) -> f64 {
    sha1_prefix(s) as f64 / 0xFFFF_FFFFu32 as f64
}

pub fn in_calibration(r: &Row) -> bool {
    group_hash(&format!("cal|{}", r.group)) < 0.2
}

struct Vocab(HashMap<String, u32>, Vec<String>);

impl Vocab {
    fn of(rows: &[&Prepared]) -> Vocab {
        let mut c: HashMap<&str, u32> = HashMap::new();
        for r in rows {
            for f in &r.feats {
                *c.entry(f).or_default() += 1;
            }
        }
        let mut v: Vec<String> = c
            .into_iter()
            .filter(|(_, n)| *n >= 2)
            .map(|(k, _)| k.to_string())
            .collect();
        v.sort();
        Vocab(
            v.iter()
                .enumerate()
                .map(|(i, t)| (t.clone(), i as u32))
                .collect(),
            v,
        )
    }

    fn x(&self, r: &Prepared) -> Vec<u32> {
        r.feats
            .iter()
            .filter_map(|f| self.0.get(f).copied())
            .collect()
    }
}

/// Class-balanced weights: host weight x kind factor, then each class scaled to the
/// same total, the total being the row count.
fn weights(rows: &[&Prepared], k: usize) -> Vec<f64> {
    let w: Vec<f64> = rows
        .iter()
        .map(|r| r.row.w_host * r.row.kind.weight())
        .collect();
    let mut tot = vec![0.0; k];
    for (r, wi) in rows.iter().zip(&w) {
        tot[r.y.unwrap()] += wi;
    }
    let present = tot.iter().filter(|t| **t > 0.0).count() as f64;
    rows.iter()
        .zip(&w)
        .map(|(r, wi)| wi / tot[r.y.unwrap()] * rows.len() as f64 / present)
        .collect()
}

/// Weights that give each family its target share (calibration and OOF rows).
fn target_weights(rows: &[&Prepared]) -> Vec<f64> {
    let t = target();
    let mut famc: HashMap<&str, f64> = HashMap::new();
    for r in rows {
        *famc.entry(&r.row.fam).or_default() += r.row.w_host;
    }
    rows.iter()
        .map(|r| {
            r.row.w_host * t.get(r.row.fam.as_str()).copied().unwrap_or(0.0)
                / famc[r.row.fam.as_str()]
        })
        .collect()
}

pub fn softmax(z: &[f64]) -> Vec<f64> {
    let mx = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - mx).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

fn nll(logits: &[Vec<f64>], ys: &[usize], w: &[f64], t: f64) -> f64 {
    let mut num = 0.0;
    let mut den = 0.0;
    for ((z, y), wi) in logits.iter().zip(ys).zip(w) {
        let zt: Vec<f64> = z.iter().map(|v| v / t).collect();
        let p = softmax(&zt)[*y].clamp(1e-12, 1.0);
        num -= wi * p.ln();
        den += wi;
    }
    num / den.max(1e-12)
}

fn fit_temperature(logits: &[Vec<f64>], ys: &[usize], w: &[f64]) -> f64 {
    let (lo, hi) = (0.2f64.ln(), 8.0f64.ln());
    let mut best = (f64::INFINITY, 1.0);
    for i in 0..120 {
        let t = (lo + (hi - lo) * i as f64 / 119.0).exp();
        let v = nll(logits, ys, w, t);
        if v < best.0 {
            best = (v, t);
        }
    }
    best.1
}

fn samples<'a>(rows: &[&Prepared], xs: &'a [Vec<u32>], w: &[f64]) -> Vec<Sample<'a>> {
    rows.iter()
        .zip(xs)
        .zip(w)
        .map(|((r, x), wi)| Sample {
            x,
            y: r.y.unwrap(),
            w: *wi,
        })
        .collect()
}

/// What the trainer reports beside the model.
#[derive(Debug)]
pub struct Report {
    pub nll_by_c: Vec<(f64, f64)>,
    pub c: f64,
    pub temperature: f64,
    pub threshold: f64,
    pub rows_fit: usize,
    pub rows_calib: usize,
    pub rows_oof: usize,
    pub iterations: usize,
}

const MAX_ITER: usize = 3000;

/// Trains the model on the training split of `rows`.
pub fn train(rows: &[Row]) -> (ModelFile, Report) {
    let classes = classes_of(rows);
    let k = classes.len();
    let prep = prepare(rows, &classes);
    let train: Vec<&Prepared> = prep.iter().filter(|p| !p.row.heldout).collect();
    let calib: Vec<&Prepared> = train
        .iter()
        .copied()
        .filter(|p| in_calibration(p.row))
        .collect();
    let fit_rows: Vec<&Prepared> = train
        .iter()
        .copied()
        .filter(|p| !in_calibration(p.row) && p.y.is_some())
        .collect();
    let vocab = Vocab::of(&fit_rows);
    let v = vocab.1.len();
    let xf: Vec<Vec<u32>> = fit_rows.iter().map(|p| vocab.x(p)).collect();
    let wf = weights(&fit_rows, k);
    // Prior shift: the fit is class-balanced (uniform prior); the target prior splits a
    // family's share evenly over its classes, Windows 90/8/2 % over 10/11, 7/8, XP.
    let t = target();
    let mut pri = vec![0.0; k];
    for (i, c) in classes.iter().enumerate() {
        let fam = c.split(':').next().unwrap();
        let n = classes
            .iter()
            .filter(|x| x.split(':').next() == Some(fam))
            .count() as f64;
        pri[i] = t.get(fam).copied().unwrap_or(0.0) / n;
        if fam == "windows" {
            let share = match c.as_str() {
                "windows:10/11" => Some(0.9),
                "windows:7/8" => Some(0.08),
                "windows:xp" => Some(0.02),
                _ => None,
            };
            if let Some(s) = share {
                pri[i] = t["windows"] * s;
            }
        }
    }
    let shift: Vec<f64> = pri
        .iter()
        .map(|p| (p + 1e-9).ln() - (1.0 / k as f64 + 1e-9).ln())
        .collect();
    // C on the calibration rows of real stacks.
    let cal_y: Vec<&Prepared> = calib.iter().copied().filter(|p| p.y.is_some()).collect();
    let wc = target_weights(&cal_y);
    let wr: Vec<f64> = cal_y
        .iter()
        .zip(&wc)
        .map(|(p, w)| if p.row.kind.real() { *w } else { 0.0 })
        .collect();
    let yc: Vec<usize> = cal_y.iter().map(|p| p.y.unwrap()).collect();
    let xc: Vec<Vec<u32>> = cal_y.iter().map(|p| vocab.x(p)).collect();
    let mut best: Option<(f64, f64, Fit)> = None;
    let mut nll_by_c = Vec::new();
    for c in CS {
        let m = fit(&samples(&fit_rows, &xf, &wf), k, v, c, MAX_ITER);
        let lg: Vec<Vec<f64>> = xc
            .iter()
            .map(|x| m.logits(x).iter().zip(&shift).map(|(a, b)| a + b).collect())
            .collect();
        let n = nll(&lg, &yc, &wr, 1.0);
        nll_by_c.push((c, n));
        if best.as_ref().is_none_or(|b| n < b.0) {
            best = Some((n, c, m));
        }
    }
    let (_, c, lr) = best.unwrap();
    // Temperature: out-of-fold logits of the real-stack training rows, 5 group folds.
    let train_y: Vec<&Prepared> = train.iter().copied().filter(|p| p.y.is_some()).collect();
    let fold = |g: &str| sha1_prefix(&format!("fold|{g}")) % 5;
    let mut oof_l = Vec::new();
    let mut oof_y = Vec::new();
    let mut oof_r: Vec<&Prepared> = Vec::new();
    for f in 0..5 {
        let tr: Vec<&Prepared> = train_y
            .iter()
            .copied()
            .filter(|p| fold(&p.row.group) != f)
            .collect();
        let te: Vec<&Prepared> = train_y
            .iter()
            .copied()
            .filter(|p| fold(&p.row.group) == f && p.row.kind.real())
            .collect();
        if te.is_empty() {
            continue;
        }
        let vk = Vocab::of(&tr);
        let xk: Vec<Vec<u32>> = tr.iter().map(|p| vk.x(p)).collect();
        let wk = weights(&tr, k);
        let mk = fit(&samples(&tr, &xk, &wk), k, vk.1.len(), c, MAX_ITER);
        for p in te {
            let z = mk.logits(&vk.x(p));
            oof_l.push(
                z.iter()
                    .zip(&shift)
                    .map(|(a, b)| a + b)
                    .collect::<Vec<f64>>(),
            );
            oof_y.push(p.y.unwrap());
            oof_r.push(p);
        }
    }
    let wo = target_weights(&oof_r);
    let temp = fit_temperature(&oof_l, &oof_y, &wo);
    // Threshold: leaves 2 % (target-weighted) of the out-of-fold real rows unlabelled.
    let fam_of = |c: &str| {
        FAMS.iter()
            .position(|f| *f == c.split(':').next().unwrap())
            .unwrap()
    };
    let mut pm: Vec<(f64, f64)> = oof_l
        .iter()
        .zip(&wo)
        .map(|(z, w)| {
            let p = softmax(&z.iter().map(|v| v / temp).collect::<Vec<_>>());
            let mut fam = [0.0; 7];
            for (i, pc) in p.iter().enumerate() {
                fam[fam_of(&classes[i])] += pc;
            }
            (fam.iter().copied().fold(0.0, f64::max), *w)
        })
        .collect();
    pm.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = pm.iter().map(|x| x.1).sum();
    let mut cum = 0.0;
    let mut thr = pm.last().map_or(0.0, |x| x.0);
    for (p, w) in &pm {
        cum += w / total;
        if cum >= 0.02 {
            thr = *p;
            break;
        }
    }
    let thr = thr.min(0.5);
    let r5 = |x: f64| (x * 1e5).round() / 1e5;
    let file = ModelFile {
        kind: "multinomial-logreg".into(),
        classes: classes.clone(),
        families: FAMS.iter().map(|s| s.to_string()).collect(),
        vocab: vocab.1.clone(),
        coef: lr
            .coef
            .iter()
            .map(|r| r.iter().map(|x| r5(*x)).collect())
            .collect(),
        intercept: lr.intercept.iter().map(|x| r5(*x)).collect(),
        prior_shift: shift.iter().map(|x| r5(*x)).collect(),
        temperature: r5(temp),
        threshold: r5(thr),
        c,
        training: Some(serde_json::json!({
            "made_by": "cargo xtask train-model",
            "rows": {"fit": fit_rows.len(), "calibration": cal_y.len(), "out_of_fold_real": oof_r.len()},
            "nll_by_C": nll_by_c.iter().map(|(c, n)| serde_json::json!([c, r5(*n)])).collect::<Vec<_>>(),
            "target_family_shares": target(),
        })),
    };
    let report = Report {
        nll_by_c,
        c,
        temperature: temp,
        threshold: thr,
        rows_fit: fit_rows.len(),
        rows_calib: cal_y.len(),
        rows_oof: oof_r.len(),
        iterations: lr.iterations,
    };
    (file, report)
}
