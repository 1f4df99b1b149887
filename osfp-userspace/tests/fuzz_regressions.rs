//! The fuzz targets' bodies (`osfp_tests::fuzz`) over their seeds (`fuzz/seeds/`, the
//! shipped database, `deploy/config/osfp.toml`) and over every input the fuzzer crashed
//! on (`fuzz/regressions/TARGET/`, each named for what it found): none may panic.
//! Each crash also has a test of its own that says what the fix guarantees.

use std::path::{Path, PathBuf};

use osfp_tests::{fuzz, workspace_root};

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd.map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

#[test]
fn seeds_and_regressions_run_clean() {
    let root = workspace_root();
    for (target, run) in fuzz::TARGETS {
        let seeds = files(&fuzz::dir().join("seeds").join(target));
        assert!(!seeds.is_empty(), "{target}: no seeds");
        let mut inputs = seeds;
        inputs.extend(files(&fuzz::dir().join("regressions").join(target)));
        match target {
            "p0f_db" => inputs.push(root.join("osfp-userspace/db/osfp.fp")),
            "config" => inputs.push(root.join("deploy/config/osfp.toml")),
            _ => {}
        }
        for path in inputs {
            let data = std::fs::read(&path).unwrap();
            if std::panic::catch_unwind(|| run(&data)).is_err() {
                panic!("{target}: {} panics", path.display());
            }
        }
    }
}
