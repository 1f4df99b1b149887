//! Where the shared capture corpus lives, for tests and benchmarks: `$OSFP_CORPUS`, else
//! `shared/corpus` beside the checkout (CI's layout), else beside a worktree's parent.

use std::path::{Path, PathBuf};

/// The corpus directory (the one holding INDEX.tsv), if it can be found.
pub fn locate() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("OSFP_CORPUS") {
        return Some(PathBuf::from(p));
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        crate_dir.join("../../shared/corpus"),
        crate_dir.join("../../../shared/corpus"),
    ]
    .into_iter()
    .find(|p| p.join("INDEX.tsv").exists())
}
