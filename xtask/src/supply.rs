//! Supply-chain checks, offline: `cargo xtask audit` (RustSec advisories affecting the
//! lock files) and `cargo xtask licenses` (every crate's licence against the
//! allow-list). What they accept is in `supply-chain.toml` at the workspace root.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use rustsec::{
    advisory::Informational,
    database::{Database, Query},
    Collection, Lockfile,
};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub advisories: Advisories,
    pub licenses: Licenses,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Advisories {
    pub db: PathBuf,
    pub locks: Vec<PathBuf>,
    pub ignore: Vec<Accepted>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accepted {
    pub id: String,
    pub why: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Licenses {
    pub allow: Vec<String>,
    pub exceptions: Vec<Exception>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    pub name: String,
    pub license: String,
    pub why: String,
}

pub fn workspace_root() -> PathBuf {
    osfp_tests::workspace_root()
}

pub fn config() -> Result<Config> {
    let path = workspace_root().join("supply-chain.toml");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let cfg: Config = toml::from_str(&text).with_context(|| path.display().to_string())?;
    for a in &cfg.advisories.ignore {
        if a.why.trim().is_empty() {
            bail!("{}: ignored {} without a reason", path.display(), a.id);
        }
    }
    Ok(cfg)
}

/// The advisory database's folder: $OSFP_ADVISORY_DB, else the configured one.
pub fn db_path(cfg: &Config) -> PathBuf {
    match std::env::var_os("OSFP_ADVISORY_DB") {
        Some(p) => PathBuf::from(p),
        None => workspace_root().join(&cfg.advisories.db),
    }
}

/// Loads the database from plain files (no git); fails if it is missing, if an
/// advisory cannot be read, or if it holds no crate advisories (a wrong folder would
/// otherwise pass everything).
///
/// Some advisories of the snapshot have a `url` or `references` entry that is not a
/// URL (a link rewritten as text), which the `rustsec` crate refuses, and with it the
/// whole database. Those entries only point to reading; the advisory is loaded without
/// them (and said so), through a copy of the database in a temporary folder. Any other
/// unreadable advisory fails the check.
pub fn open_db(path: &Path) -> Result<(Database, Vec<String>)> {
    if !path.join("crates").is_dir() {
        bail!(
            "no RustSec advisory database at {} (expected its crates/ folder; set OSFP_ADVISORY_DB)",
            path.display()
        );
    }
    let copy = tempdir()?;
    let mut repaired = Vec::new();
    for collection in ["crates", "rust"] {
        let dir = path.join(collection);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for pkg in entries {
            let pkg = pkg?;
            if !pkg.file_type()?.is_dir() {
                continue;
            }
            let out = copy.path.join(collection).join(pkg.file_name());
            std::fs::create_dir_all(&out)?;
            for adv in std::fs::read_dir(pkg.path())? {
                let adv = adv?.path();
                let Some(name) = adv.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                if name.starts_with('.') {
                    continue;
                }
                let text =
                    std::fs::read_to_string(&adv).with_context(|| adv.display().to_string())?;
                let text = match text.parse::<rustsec::Advisory>() {
                    Ok(_) => text,
                    Err(first) => {
                        let (fixed, dropped) = drop_non_url_links(&text)
                            .with_context(|| format!("{}: {first}", adv.display()))?;
                        fixed.parse::<rustsec::Advisory>().map_err(|e| {
                            anyhow::anyhow!("{}: cannot be read: {first}; {e}", adv.display())
                        })?;
                        repaired.push(format!(
                            "{collection}/{}/{name}: {dropped}",
                            pkg.file_name().to_string_lossy()
                        ));
                        fixed
                    }
                };
                std::fs::write(out.join(name), text)?;
            }
        }
    }
    let db = Database::open(&copy.path)
        .with_context(|| format!("{}: cannot load the advisory database", path.display()))?;
    let n = db
        .iter()
        .filter(|a| a.metadata.collection == Some(Collection::Crates))
        .count();
    if n < 100 {
        bail!(
            "{}: only {n} crate advisories: not the database",
            path.display()
        );
    }
    repaired.sort();
    Ok((db, repaired))
}

/// The advisory text without the `url` and `references` entries of its front matter
/// that are not http(s) URLs; also says what was dropped. Errors if there is nothing
/// of the kind to drop (the advisory is broken some other way).
fn drop_non_url_links(text: &str) -> Result<(String, String)> {
    let body = text
        .strip_prefix("```toml\n")
        .context("no TOML front matter")?;
    let end = body.find("\n```").context("front matter not closed")?;
    let (front, rest) = body.split_at(end);
    let mut t: toml::Table = toml::from_str(front).context("front matter")?;
    let adv = t
        .get_mut("advisory")
        .and_then(|a| a.as_table_mut())
        .context("no [advisory]")?;
    let is_url = |v: &toml::Value| {
        v.as_str()
            .is_some_and(|s| s.starts_with("https://") || s.starts_with("http://"))
    };
    let mut dropped = Vec::new();
    if adv.get("url").is_some_and(|u| !is_url(u)) {
        dropped.push(format!("url {}", adv.remove("url").unwrap()));
    }
    if let Some(refs) = adv.get_mut("references").and_then(|r| r.as_array_mut()) {
        refs.retain(|r| {
            let keep = is_url(r);
            if !keep {
                dropped.push(format!("reference {r}"));
            }
            keep
        });
    }
    if dropped.is_empty() {
        bail!("not a link problem");
    }
    let front = toml::to_string(&t).context("front matter")?;
    Ok((
        format!("```toml\n{}{rest}", front.trim_end()),
        format!("dropped {} (not a URL)", dropped.join(", ")),
    ))
}

/// A folder under the system's temporary one, removed when dropped.
struct TempDir {
    path: PathBuf,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn tempdir() -> Result<TempDir> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "osfp-advisory-db-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path).with_context(|| path.display().to_string())?;
    Ok(TempDir { path })
}

/// The snapshot's date as SNAPSHOT.md gives it, if it does.
pub fn snapshot_date(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path.join("SNAPSHOT.md")).ok()?;
    text.split(|c: char| c.is_whitespace() || c == ',')
        .find(|w| {
            let b = w.as_bytes();
            b.len() == 10
                && b[4] == b'-'
                && b[7] == b'-'
                && w.chars().filter(char::is_ascii_digit).count() == 8
        })
        .map(str::to_string)
}

/// One advisory that affects a locked package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub id: String,
    pub package: String,
    pub version: String,
    /// "vulnerability", "unsound", "unmaintained", "notice", ...
    pub kind: String,
    pub title: String,
    pub patched: String,
    /// Fails the check.
    pub fails: bool,
}

/// Every advisory of `db` (not withdrawn) affecting a package of `lock`, except the
/// accepted ones. Vulnerabilities and unsound advisories fail; the rest are notes.
pub fn audit_lock(db: &Database, lock: &Lockfile, ignore: &[Accepted]) -> Vec<Finding> {
    let query = Query::new().collection(Collection::Crates).withdrawn(false);
    let mut out: Vec<Finding> = db
        .query_vulnerabilities(lock, &query)
        .into_iter()
        .filter(|v| !ignore.iter().any(|a| a.id == v.advisory.id.as_str()))
        .map(|v| {
            let (kind, fails) = match &v.advisory.informational {
                None => ("vulnerability".to_string(), true),
                Some(Informational::Unsound) => ("unsound".to_string(), true),
                Some(i) => (i.as_str().to_string(), false),
            };
            let patched: Vec<String> = v.versions.patched().iter().map(|r| r.to_string()).collect();
            Finding {
                id: v.advisory.id.to_string(),
                package: v.package.name.to_string(),
                version: v.package.version.to_string(),
                kind,
                title: v.advisory.title.clone(),
                patched: if patched.is_empty() {
                    "no fixed version".into()
                } else {
                    patched.join(", ")
                },
                fails,
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.package, &a.id).cmp(&(&b.package, &b.id)));
    out
}

/// Checks `locks` (the configured ones if empty); errors if anything fails.
pub fn audit(locks: Vec<PathBuf>) -> Result<()> {
    let cfg = config()?;
    let path = db_path(&cfg);
    let (db, repaired) = open_db(&path)?;
    println!(
        "advisory database: {} ({} advisories, snapshot of {})",
        path.display(),
        db.iter().count(),
        snapshot_date(&path).unwrap_or_else(|| "unknown date".into())
    );
    if !repaired.is_empty() {
        println!(
            "  {} advisories read without links that are not URLs:",
            repaired.len()
        );
        for r in &repaired {
            println!("    {r}");
        }
    }
    let locks = if locks.is_empty() {
        cfg.advisories
            .locks
            .iter()
            .map(|l| workspace_root().join(l))
            .collect()
    } else {
        locks
    };
    let mut failing = 0;
    for l in &locks {
        let lock = Lockfile::load(l).with_context(|| l.display().to_string())?;
        let findings = audit_lock(&db, &lock, &cfg.advisories.ignore);
        println!(
            "{}: {} packages, {} advisories",
            l.display(),
            lock.packages.len(),
            findings.len()
        );
        for f in &findings {
            println!(
                "  {} {} {} {}: {} (patched: {}){}",
                if f.fails { "FAIL" } else { "note" },
                f.id,
                f.package,
                f.version,
                f.kind,
                f.patched,
                format_args!("\n      {}", f.title)
            );
            failing += f.fails as usize;
        }
    }
    for a in &cfg.advisories.ignore {
        println!("accepted: {}: {}", a.id, a.why);
    }
    if failing > 0 {
        bail!("{failing} vulnerable or unsound packages");
    }
    Ok(())
}

/// Does `expr` (a crate's `license` field) pass with these accepted licences?
pub fn license_ok(expr: &str, allow: &[String]) -> Result<bool, String> {
    let e = spdx::Expression::parse_mode(expr, spdx::ParseMode::LAX)
        .map_err(|e| format!("not an SPDX expression: {e}"))?;
    Ok(e.evaluate(|req| allow.iter().any(|a| *a == req.to_string())))
}

/// Every package of the workspace's dependency tree (all targets, all features).
pub fn licenses() -> Result<()> {
    let cfg = config()?;
    let meta = cargo_metadata::MetadataCommand::new()
        .manifest_path(workspace_root().join("Cargo.toml"))
        .features(cargo_metadata::CargoOpt::AllFeatures)
        .other_options(vec!["--locked".to_string()])
        .exec()
        .context("cargo metadata")?;
    let mut by_license: BTreeMap<String, usize> = BTreeMap::new();
    let mut bad = Vec::new();
    for p in &meta.packages {
        let name = p.name.as_str();
        let exception = cfg.licenses.exceptions.iter().find(|e| e.name == name);
        let verdict = match (&p.license, exception) {
            (_, Some(e)) => Ok(format!("exception: {} ({})", e.license, e.why)),
            (Some(l), None) => match license_ok(l, &cfg.licenses.allow) {
                Ok(true) => Ok(l.clone()),
                Ok(false) => Err(format!("{l}: not accepted")),
                Err(e) => Err(format!("{l}: {e}")),
            },
            (None, None) => Err("no licence field".to_string()),
        };
        match verdict {
            Ok(l) => *by_license.entry(l).or_default() += 1,
            Err(e) => bad.push(format!("{} {}: {e}", name, p.version)),
        }
    }
    println!("{} packages:", meta.packages.len());
    for (l, n) in &by_license {
        println!("  {n:4}  {l}");
    }
    if !bad.is_empty() {
        for b in &bad {
            println!("FAIL {b}");
        }
        bail!(
            "{} packages with a licence not in supply-chain.toml",
            bad.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name)
    }

    fn db() -> Database {
        let cfg = config().unwrap();
        open_db(&db_path(&cfg))
            .expect("the advisory database (CI: ../shared/advisory-db)")
            .0
    }

    fn ids(f: &[Finding]) -> Vec<(&str, &str, bool)> {
        f.iter()
            .map(|f| (f.id.as_str(), f.kind.as_str(), f.fails))
            .collect()
    }

    /// lru 0.12.5 (what osfp locked before): both unsound advisories, failing.
    #[test]
    fn lru_0_12_5_fails() {
        let lock = Lockfile::load(fixture("lru-0.12.5.Cargo.lock")).unwrap();
        let f = audit_lock(&db(), &lock, &[]);
        assert_eq!(
            ids(&f),
            vec![
                ("RUSTSEC-2026-0002", "unsound", true),
                ("RUSTSEC-2026-0253", "unsound", true)
            ]
        );
        assert_eq!(f[0].patched, ">=0.16.3");
        // Accepting one leaves the other.
        let one = [Accepted {
            id: "RUSTSEC-2026-0002".into(),
            why: "test".into(),
        }];
        assert_eq!(ids(&audit_lock(&db(), &lock, &one)).len(), 1);
    }

    /// lru 0.6.6: a vulnerability (use after free) besides the unsound advisory.
    #[test]
    fn lru_0_6_6_vulnerability_fails() {
        let lock = Lockfile::load(fixture("lru-0.6.6.Cargo.lock")).unwrap();
        assert_eq!(
            ids(&audit_lock(&db(), &lock, &[])),
            vec![
                ("RUSTSEC-2021-0130", "vulnerability", true),
                ("RUSTSEC-2026-0253", "unsound", true)
            ]
        );
    }

    /// The workspace's lock passes (what `cargo xtask audit` checks in CI).
    #[test]
    fn workspace_lock_passes() {
        let lock = Lockfile::load(workspace_root().join("Cargo.lock")).unwrap();
        let f = audit_lock(&db(), &lock, &config().unwrap().advisories.ignore);
        assert!(f.iter().all(|f| !f.fails), "{f:#?}");
    }

    /// An advisory whose links are text is read without them; one broken otherwise
    /// is refused.
    #[test]
    fn advisories_with_text_for_links() {
        let text = "```toml\n[advisory]\nid = \"RUSTSEC-2099-0001\"\npackage = \"x\"\n\
                    date = \"2099-01-01\"\nurl = \"the crates registry/crates/x\"\n\
                    references = [\"https://example.com/a\", \"the crates registry/b\"]\n\n\
                    [versions]\npatched = [\">= 1.0.0\"]\n```\n\n# Title\n\nText.\n";
        assert!(text.parse::<rustsec::Advisory>().is_err());
        let (fixed, what) = drop_non_url_links(text).unwrap();
        let a: rustsec::Advisory = fixed.parse().unwrap();
        assert_eq!(a.metadata.references.len(), 1);
        assert_eq!(a.metadata.title, "Title");
        assert!(what.contains("url") && what.contains("reference"), "{what}");
        let broken = text.replace("patched = [\">= 1.0.0\"]", "patched = [\"one\"]");
        assert!(drop_non_url_links(&broken)
            .and_then(|(f, _)| Ok(f.parse::<rustsec::Advisory>()?))
            .is_err());
    }

    #[test]
    fn a_wrong_database_folder_fails() {
        assert!(open_db(Path::new("/nonexistent")).is_err());
        assert!(open_db(&fixture("")).is_err());
    }

    #[test]
    fn licence_expressions() {
        let allow = config().unwrap().licenses.allow;
        for ok in [
            "MIT",
            "MIT OR Apache-2.0",
            "MIT/Apache-2.0",
            "Apache-2.0 WITH LLVM-exception",
            "(MIT OR Apache-2.0) AND Unicode-3.0",
            "(MIT OR Apache-2.0) AND NCSA",
            "Unlicense OR MIT",
            "MIT OR GPL-3.0-or-later",
        ] {
            assert_eq!(license_ok(ok, &allow), Ok(true), "{ok}");
        }
        for refused in [
            "GPL-3.0-only",
            "LGPL-2.1-or-later",
            "MIT AND GPL-2.0-only",
            "Unlicense",
            "AGPL-3.0-only OR SSPL-1.0",
        ] {
            assert_eq!(license_ok(refused, &allow), Ok(false), "{refused}");
        }
        assert!(license_ok("MIT AND", &allow).is_err());
    }

    #[test]
    fn snapshot_date_is_read() {
        let cfg = config().unwrap();
        let d = snapshot_date(&db_path(&cfg)).expect("SNAPSHOT.md with a date");
        assert_eq!(d.len(), 10);
    }
}
