//! Where the shared capture corpus lives, for tests and benchmarks: `$OSFP_CORPUS`, else
//! `shared/corpus` beside the checkout (CI's layout), else beside a worktree's parent.

use std::path::{Path, PathBuf};

use osfp::capture::{
    file as capture_file,
    frame::{SelectConfig, Selector},
};
use osfp_common::{tcp_flag, PacketRecord};

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

/// Every SYN and SYN-ACK record the selector takes from the corpus's files, in INDEX.tsv
/// order (the benchmarks' input). Panics without the corpus.
pub fn syn_records() -> Vec<PacketRecord> {
    let dir = locate().expect("corpus (set OSFP_CORPUS)");
    let index = std::fs::read_to_string(dir.join("INDEX.tsv")).expect("the corpus's INDEX.tsv");
    let mut out = Vec::new();
    for rel in index.lines().skip(1).filter_map(|l| l.split('\t').next()) {
        let mut sel = Selector::new(SelectConfig::default());
        let _ = capture_file::for_each_frame(&dir.join(rel), |link, frame, ts| {
            if let Some(r) = sel.frame(link, frame, ts) {
                if r.tcp_flags & tcp_flag::SYN != 0 {
                    out.push(r);
                }
            }
        });
    }
    out
}
