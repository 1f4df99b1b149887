//! `osfp pcap`'s output over the whole corpus is an interface: `--json` records, text
//! records and `--summary --json`, and the counter lines. Their SHA-256 digests are kept
//! in `tests/golden/pcap_output.sha256`; a change that alters any byte fails here.
//!
//! When a change is meant to alter the output (a new field, a better verdict), look at
//! what changed (`scripts/output-snapshot.sh OLD_BIN DIR1`, the same with the new
//! binary, `diff -r`), say so in the commit, and write the new digests with
//! `OSFP_UPDATE_GOLDEN=1 cargo test -p osfp-userspace --test output_snapshot`.

use std::{fmt::Write as _, path::PathBuf, process::Command};

use sha2::{Digest, Sha256};

/// Lower-case hex of the SHA-256 of `data`, as `sha256sum` prints it.
fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn golden() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/pcap_output.sha256")
}

#[test]
fn pcap_output_over_the_corpus_is_unchanged() {
    let corpus = osfp_tests::corpus::locate().expect("corpus (OSFP_CORPUS or ../shared/corpus)");
    let index = std::fs::read_to_string(corpus.join("INDEX.tsv")).unwrap();
    let files: Vec<PathBuf> = index
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .map(|f| corpus.join(f))
        .collect();
    assert!(files.len() > 1000, "{} corpus files", files.len());
    let mut digests = String::new();
    for (name, args) in [
        ("json", &["pcap", "--json"][..]),
        ("text", &["pcap"][..]),
        ("summary.json", &["pcap", "--summary", "--json"][..]),
    ] {
        // A fixed hash key: which flows share a slot of the bounded tables depends on it.
        let out = Command::new(env!("CARGO_BIN_EXE_osfp"))
            .args(args)
            .args(["--hash-seed", "1"])
            .args(&files)
            .output()
            .unwrap();
        // The counter lines; per-file notes name paths, which differ between checkouts.
        let stderr = String::from_utf8_lossy(&out.stderr);
        let counters: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("osfp: frames=") || l.starts_with("osfp: fingerprinted"))
            .collect();
        assert_eq!(counters.len(), 2, "{name}: counter lines in {stderr}");
        let _ = writeln!(digests, "{}  {name}", sha256_hex(&out.stdout));
        let _ = writeln!(
            digests,
            "{}  {name}.counters",
            sha256_hex(counters.join("\n").as_bytes())
        );
    }
    if std::env::var_os("OSFP_UPDATE_GOLDEN").is_some() {
        std::fs::write(golden(), &digests).unwrap();
        eprintln!("wrote {}", golden().display());
        return;
    }
    let want = std::fs::read_to_string(golden()).unwrap();
    assert_eq!(
        digests, want,
        "osfp pcap's output changed; see this file's comment for how to look and to accept"
    );
}
