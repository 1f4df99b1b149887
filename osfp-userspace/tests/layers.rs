//! The library's rooms follow the data, and each imports only the rooms before it (the
//! order in `src/lib.rs`); inside `analysis/`, the analyses likewise. A `crate::` path
//! that points later (or a cycle) fails this test with the file and the path.

use std::path::{Path, PathBuf};

/// The rooms in data order: a room may use itself and the rooms before it.
const ROOMS: [&str; 9] = [
    "hashing", "capture", "decode", "analysis", "sources", "pipeline", "export", "daemon", "cli",
];
/// The analyses in the order they may build on each other.
const ANALYSES: [&str; 5] = ["ipid", "clock", "fingerprint", "scan", "ja4t"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The room of a file (relative to src/): its folder, or its stem at the top level.
fn room_of(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// Every path a text names after `crate::`, as its segments: `use crate::{a::b, c}` gives
/// `[a, b]` and `[c]`. Comments are skipped.
fn crate_paths(text: &str) -> Vec<Vec<String>> {
    let code: String = text
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        // `$crate::` and identifiers ending in "crate" are not this crate's root.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        tree(rest, Vec::new(), &mut out);
    }
    out
}

/// Expands one use tree starting at `s` (after a `::`) into paths.
fn tree(s: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let s = s.trim_start();
    if let Some(inner) = s.strip_prefix('{') {
        // Split the group at top-level commas.
        let (mut depth, mut start) = (0, 0);
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    item(&inner[start..i], &prefix, out);
                    return;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    item(&inner[start..i], &prefix, out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        return;
    }
    item(s, &prefix, out);
}

fn item(s: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let s = s.trim();
    let name: String = s
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if name.is_empty() {
        return;
    }
    let mut path = prefix.to_vec();
    path.push(name.clone());
    match s[name.len()..].strip_prefix("::") {
        Some(more)
            if more.trim_start().starts_with('{') || more.starts_with(char::is_alphabetic) =>
        {
            tree(more, path, out)
        }
        _ => out.push(path),
    }
}

/// Why `file` (in `room`, and in analysis `sub` if any) may not name `path`.
fn violation(room: &str, sub: Option<&str>, path: &[String]) -> Option<String> {
    let rank = |r: &str| ROOMS.iter().position(|x| *x == r);
    let target = path.first()?;
    let (Some(from), Some(to)) = (rank(room), rank(target)) else {
        return Some(format!(
            "crate::{} is not a room of {ROOMS:?}",
            path.join("::")
        ));
    };
    if to > from {
        return Some(format!(
            "{room} (room {from}) uses crate::{}, a later room ({to})",
            path.join("::")
        ));
    }
    if let (Some(sub), "analysis", Some(other)) = (sub, target.as_str(), path.get(1)) {
        let arank = |a: &str| ANALYSES.iter().position(|x| *x == a);
        match (arank(sub), arank(other)) {
            (Some(f), Some(t)) if t > f => {
                return Some(format!(
                    "analysis {sub} uses crate::{}, a later analysis",
                    path.join("::")
                ))
            }
            (_, None) => return Some(format!("{other} is not an analysis of {ANALYSES:?}")),
            _ => {}
        }
    }
    None
}

#[test]
fn every_room_imports_only_the_rooms_before_it() {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let lib = std::fs::read_to_string(root.join("lib.rs")).unwrap();
    for r in ROOMS {
        assert!(
            lib.contains(&format!("pub mod {r};")),
            "lib.rs should declare room {r}"
        );
    }
    let mut bad = Vec::new();
    let mut checked = 0;
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap();
        if rel == Path::new("lib.rs") || rel == Path::new("main.rs") {
            continue;
        }
        let room = room_of(rel);
        let sub = (room == "analysis")
            .then(|| rel.components().nth(1))
            .flatten()
            .map(|c| {
                c.as_os_str()
                    .to_string_lossy()
                    .trim_end_matches(".rs")
                    .to_string()
            })
            .filter(|s| s != "mod");
        let text = std::fs::read_to_string(f).unwrap();
        for p in crate_paths(&text) {
            checked += 1;
            if let Some(why) = violation(&room, sub.as_deref(), &p) {
                bad.push(format!("{}: {why}", rel.display()));
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} crate:: paths found: the scan is broken"
    );
    assert!(
        bad.is_empty(),
        "imports against the data's order:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_check_sees_grouped_paths_and_later_rooms() {
    let paths = crate_paths(
        "use crate::{\n    analysis::{clock::X, scan}, // crate::export::nothing\n    decode::Event,\n};\nfn f() { crate::export::api::x(); }",
    );
    let joined: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        joined,
        [
            "analysis::clock::X",
            "analysis::scan",
            "decode::Event",
            "export::api::x"
        ]
    );
    assert!(
        violation("sources", None, &paths[3]).is_some(),
        "export is after sources"
    );
    assert!(violation("sources", None, &paths[0]).is_none());
    assert!(
        violation("analysis", Some("ipid"), &paths[0]).is_some(),
        "clock after ipid"
    );
    assert!(violation("analysis", Some("scan"), &paths[0]).is_none());
}
