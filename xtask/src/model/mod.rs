//! `cargo xtask train-model` and `cargo xtask eval-model`: the embedded classifier
//! (`osfp-userspace/db/osfp-model.json`) rebuilt from its data, and its figures beside
//! the matcher's and p0f's on the eval/ split (train and held-out apart).

pub mod data;
pub mod eval;
pub mod fit;
pub mod train;

use std::{path::PathBuf, process::Command, sync::Arc};

use anyhow::{Context, Result};
use osfp::analysis::fingerprint::{self, model::ModelFile, Database, Model};

/// The database before this classifier (the matcher the figures compare with).
pub const BASELINE_COMMIT: &str = "e377fde";

pub fn model_path() -> PathBuf {
    osfp_tests::workspace_root().join("osfp-userspace/db/osfp-model.json")
}

/// The model file's text, as written (stable: the same data give the same bytes).
pub fn to_text(m: &ModelFile) -> String {
    let mut s = serde_json::to_string(m).expect("serialisable");
    s.push('\n');
    s
}

/// Loads the data and trains; returns the model file and the rows.
pub fn rebuild() -> Result<(ModelFile, train::Report, Vec<data::Row>)> {
    let src = data::Sources::locate()?;
    let rows = data::load(&src)?;
    let (m, rep) = train::train(&rows);
    Ok((m, rep, rows))
}

pub fn train_cmd(check: bool) -> Result<()> {
    let t = std::time::Instant::now();
    let (m, rep, rows) = rebuild()?;
    let text = to_text(&m);
    eprintln!(
        "{} rows ({} held out); fit {} rows, calibration {}, out-of-fold real {}; C {} (NLL by C {:?}), T {:.3}, threshold {:.3}; {} L-BFGS iterations; {:.1} s",
        rows.len(),
        rows.iter().filter(|r| r.heldout).count(),
        rep.rows_fit,
        rep.rows_calib,
        rep.rows_oof,
        rep.c,
        rep.nll_by_c,
        rep.temperature,
        rep.threshold,
        rep.iterations,
        t.elapsed().as_secs_f64()
    );
    let path = model_path();
    if check {
        let shipped = std::fs::read_to_string(&path)?;
        anyhow::ensure!(
            shipped == text,
            "{} differs from what train-model builds",
            path.display()
        );
        eprintln!("{}: equal to the rebuild", path.display());
        return Ok(());
    }
    std::fs::write(&path, text)?;
    eprintln!(
        "wrote {} ({} classes, {} features)",
        path.display(),
        m.classes.len(),
        m.vocab.len()
    );
    Ok(())
}

fn baseline_db() -> Option<Database> {
    let out = Command::new("git")
        .args([
            "show",
            &format!("{BASELINE_COMMIT}:osfp-userspace/db/osfp.fp"),
        ])
        .current_dir(osfp_tests::workspace_root())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Database::parse(&String::from_utf8_lossy(&out.stdout), "osfp.fp (baseline)").ok()
}

pub fn eval_cmd(errors: Option<&std::path::Path>) -> Result<()> {
    let src = data::Sources::locate()?;
    let rows = data::load(&src)?;
    let text = std::fs::read_to_string(model_path())?;
    let model: &'static Model =
        Box::leak(Box::new(Model::parse(&text).map_err(anyhow::Error::msg)?));
    let db = Arc::new(fingerprint::default_database().context("built-in database")?);
    let p0f_db = Arc::new(Database::load("/etc/p0f/p0f.fp").context("/etc/p0f/p0f.fp")?);
    let mut methods: Vec<(&str, eval::Method)> = Vec::new();
    if let Some(b) = baseline_db() {
        methods.push((
            "matcher before (main's osfp.fp)",
            eval::Method::Matcher(Arc::new(b)),
        ));
    }
    methods.push(("p0f 3.09b", eval::Method::P0f));
    methods.push((
        "matcher, new osfp.fp (--strict)",
        eval::Method::Matcher(db.clone()),
    ));
    methods.push(("classifier alone", eval::Method::Classifier(model)));
    methods.push((
        "osfp (verdict order)",
        eval::Method::Chain(db.clone(), model),
    ));
    methods.push((
        "osfp with p0f.fp (verdict order)",
        eval::Method::Chain(p0f_db, model),
    ));
    let held = rows.iter().filter(|r| r.heldout).count();
    println!(
        "# osfp classifier evaluation (cargo xtask eval-model)\n\n{} labelled SYNs: {} train, {held} held out. Model: {} classes, {} features, C {}, T {:.3}, threshold {:.3}.",
        rows.len(),
        rows.len() - held,
        model.file.classes.len(),
        model.file.vocab.len(),
        model.file.c,
        model.file.temperature,
        model.file.threshold
    );
    print!("{}", eval::report(&rows, &methods, model));
    if let Some(path) = errors {
        let chain = eval::Method::Chain(db, model);
        std::fs::write(path, eval::misses(&rows, &chain))
            .with_context(|| format!("{}", path.display()))?;
    }
    Ok(())
}
