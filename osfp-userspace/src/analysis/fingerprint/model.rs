//! The embedded classifier: a multinomial logistic regression over the one-hot
//! features of [`super::features`], for SYNs no signature explains. The model file
//! (`db/osfp-model.json`) sits beside the database and is built into the binary like
//! it; `cargo xtask train-model` rebuilds it from its data (eval/).
//!
//! Scoring, as `eval/scripts/score_ref.py` specifies it:
//! `z_c = b_c + sum of W[c][i] over the SYN's feature strings i in the vocabulary`,
//! then `z_c = (z_c + s_c) / T` (prior shift `s`, temperature `T`), `p = softmax(z)`;
//! `p(family)` is the sum over the family's classes; the verdict is the most probable
//! family and, within it, its most probable class (Windows 10/11, 7/8, XP).
//! Unknown below the threshold.

use std::{collections::HashMap, sync::OnceLock};

use serde::{Deserialize, Serialize};

use super::sig::Signature;
use crate::decode::Event;

/// The model file built into the binary.
pub const DEFAULT_MODEL: &str = include_str!("../../../db/osfp-model.json");

/// The model as stored (the JSON fields of `results/model_lr.json`, plus what the
/// trainer records about its data).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelFile {
    pub kind: String,
    /// Fine classes, `family` or `family:version`.
    pub classes: Vec<String>,
    pub families: Vec<String>,
    pub vocab: Vec<String>,
    /// `coef[class][feature]`.
    pub coef: Vec<Vec<f64>>,
    pub intercept: Vec<f64>,
    /// `log pi_target(c) - log(1/K)`: the fit is class-balanced.
    pub prior_shift: Vec<f64>,
    pub temperature: f64,
    /// Unknown below this p(family) (the default of the `infer-threshold` setting).
    pub threshold: f64,
    #[serde(rename = "C")]
    pub c: f64,
    /// What the trainer wrote about the data and the fit (not used for scoring).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<serde_json::Value>,
}

/// Which class prior the scores are shifted to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Prior {
    /// The target population of the model (the family shares the shift was fit for).
    #[default]
    Target,
    /// No shift: every class equally likely a priori (IoT-heavy or unusual networks).
    Flat,
}

impl Prior {
    pub fn name(self) -> &'static str {
        match self {
            Prior::Target => "target",
            Prior::Flat => "flat",
        }
    }

    pub fn from_name(s: &str) -> Option<Prior> {
        match s {
            "target" => Some(Prior::Target),
            "flat" => Some(Prior::Flat),
            _ => None,
        }
    }
}

/// A model ready for scoring.
#[derive(Debug)]
pub struct Model {
    pub file: ModelFile,
    vocab: HashMap<String, u32>,
    /// `coef_t[i * K + c]`: a feature's weights for every class, side by side.
    coef_t: Vec<f64>,
    /// Family index (into `file.families`) of each class.
    class_family: Vec<usize>,
}

/// What the model says about one SYN.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Inference {
    /// Index of the winning family (into [`ModelFile::families`]).
    pub family: usize,
    /// p(family).
    pub p: f64,
    /// The most probable class of that family (into [`ModelFile::classes`]).
    pub class: usize,
    /// The SYN's real options in order, or those with its initial TTL class, never
    /// occurred in the training data: a stack the model has not seen, whatever `p` says
    /// (a linear model extrapolates with confidence far from its data).
    pub novel: bool,
}

/// Features whose value the training data must have had for an inference to count:
/// the option kinds in order (without NOPs and EOL, so a NOP-over-TS rewrite is still
/// known) and the same with the initial TTL class.
const MUST_KNOW: [&str; 2] = ["canon=", "x_canon_ittl="];

/// Most classes a model may have (scores live on the stack).
pub const MAX_CLASSES: usize = 16;

impl Model {
    pub fn parse(text: &str) -> Result<Model, String> {
        let file: ModelFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
        Model::new(file)
    }

    pub fn new(file: ModelFile) -> Result<Model, String> {
        let k = file.classes.len();
        let v = file.vocab.len();
        if k == 0 || k > MAX_CLASSES {
            return Err(format!("{k} classes (1..={MAX_CLASSES})"));
        }
        if file.coef.len() != k
            || file.coef.iter().any(|r| r.len() != v)
            || file.intercept.len() != k
            || file.prior_shift.len() != k
        {
            return Err("coef, intercept and prior_shift must match classes x vocab".into());
        }
        if file.temperature.is_nan() || file.temperature <= 0.0 {
            return Err("temperature must be positive".into());
        }
        let mut class_family = Vec::with_capacity(k);
        for c in &file.classes {
            let fam = c.split(':').next().unwrap_or(c);
            match file.families.iter().position(|f| f == fam) {
                Some(i) => class_family.push(i),
                None => return Err(format!("class {c:?} has no family in {:?}", file.families)),
            }
        }
        let mut coef_t = vec![0.0; k * v];
        for (c, row) in file.coef.iter().enumerate() {
            for (i, w) in row.iter().enumerate() {
                coef_t[i * k + c] = *w;
            }
        }
        let vocab = file
            .vocab
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        Ok(Model {
            file,
            vocab,
            coef_t,
            class_family,
        })
    }

    pub fn classes(&self) -> &[String] {
        &self.file.classes
    }

    /// The family index of class `c`.
    pub fn class_family(&self, c: usize) -> usize {
        self.class_family[c]
    }

    /// Vocabulary index of a feature string.
    pub fn index(&self, feature: &str) -> Option<u32> {
        self.vocab.get(feature).copied()
    }

    /// Class probabilities for a set of vocabulary indices.
    pub fn probs(&self, idx: impl IntoIterator<Item = u32>, prior: Prior) -> ArrayProbs {
        let k = self.file.classes.len();
        let mut z = [0.0f64; MAX_CLASSES];
        z[..k].copy_from_slice(&self.file.intercept);
        for i in idx {
            let w = &self.coef_t[i as usize * k..(i as usize + 1) * k];
            for (zc, wc) in z.iter_mut().zip(w) {
                *zc += wc;
            }
        }
        let t = self.file.temperature;
        for (c, zc) in z[..k].iter_mut().enumerate() {
            let shift = match prior {
                Prior::Target => self.file.prior_shift[c],
                Prior::Flat => 0.0,
            };
            *zc = (*zc + shift) / t;
        }
        let mx = z[..k].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut sum = 0.0;
        for v in &mut z[..k] {
            *v = (*v - mx).exp();
            sum += *v;
        }
        for v in &mut z[..k] {
            *v /= sum;
        }
        ArrayProbs { p: z, k }
    }

    /// The family probabilities and the verdict from class probabilities.
    pub fn decide(&self, p: &ArrayProbs) -> Inference {
        let mut fam = [0.0f64; MAX_CLASSES];
        for c in 0..p.k {
            fam[self.class_family[c]] += p.p[c];
        }
        let nf = self.file.families.len().min(MAX_CLASSES);
        // First maximum, as Python's max() over the dict in class order would: the
        // families in order of their first class.
        let mut best = self.class_family[0];
        for c in 0..p.k {
            let f = self.class_family[c];
            if fam[f] > fam[best] {
                best = f;
            }
        }
        debug_assert!(best < nf);
        let mut class = usize::MAX;
        for c in 0..p.k {
            if self.class_family[c] == best && (class == usize::MAX || p.p[c] > p.p[class]) {
                class = c;
            }
        }
        Inference {
            family: best,
            p: fam[best],
            class,
            novel: false,
        }
    }

    /// Family probabilities (by [`ModelFile::families`] index).
    pub fn family_probs(&self, p: &ArrayProbs) -> Vec<f64> {
        let mut fam = vec![0.0; self.file.families.len()];
        for c in 0..p.k {
            fam[self.class_family[c]] += p.p[c];
        }
        fam
    }

    /// Scores one SYN.
    pub fn infer(&self, ev: &Event, s: &Signature, prior: Prior) -> Inference {
        let mut idx: arrayvec::ArrayVec<u32, 32> = arrayvec::ArrayVec::new();
        let mut novel = false;
        super::features::for_each(ev, s, |f| match self.index(f) {
            Some(i) => {
                let _ = idx.try_push(i);
            }
            None => novel |= MUST_KNOW.iter().any(|k| f.starts_with(k)),
        });
        Inference {
            novel,
            ..self.decide(&self.probs(idx, prior))
        }
    }
}

/// Class probabilities, on the stack.
#[derive(Clone, Copy, Debug)]
pub struct ArrayProbs {
    pub p: [f64; MAX_CLASSES],
    pub k: usize,
}

impl ArrayProbs {
    pub fn as_slice(&self) -> &[f64] {
        &self.p[..self.k]
    }
}

/// The model built into the binary (parsed once).
pub fn embedded() -> &'static Model {
    static M: OnceLock<Model> = OnceLock::new();
    M.get_or_init(|| Model::parse(DEFAULT_MODEL).expect("the embedded model is valid"))
}
