//! The verdict cache changes no verdict: over every SYN / SYN-ACK of the corpus, in
//! capture order, the verdict the cached fingerprinter gives equals the one a
//! fingerprinter with an empty cache gives for the same packet, under the full verdict
//! order and under `--strict`, with the built-in database and p0f's. The same holds for
//! each packet again with another non-zero TSval (the key keeps of the TSval only
//! whether it is zero), which must come from the cache.

use std::sync::Arc;

use osfp::{
    analysis::fingerprint::{self, Database, Fingerprinter},
    decode::Event,
};
use osfp_common::PacketRecord;

/// The offset of the TSval in the record's options, if it carries a timestamp option.
fn tsval_offset(r: &PacketRecord) -> Option<usize> {
    let o = &r.options[..(r.opt_len as usize).min(r.options.len())];
    let mut i = 0;
    while i < o.len() {
        match o[i] {
            0 => return None,
            1 => i += 1,
            8 if i + 10 <= o.len() && o[i + 1] == 10 => return Some(i + 2),
            _ => match o.get(i + 1) {
                Some(&l) if l >= 2 => i += l as usize,
                _ => return None,
            },
        }
    }
    None
}

/// (records compared, cache hits, cache misses) of one database and mode.
fn compare(db: Database, strict: bool, records: &[PacketRecord]) -> (usize, u64, u64) {
    let db = Arc::new(db);
    let mut cached = Fingerprinter::new(db.clone());
    let mut fresh = Fingerprinter::new(db.clone());
    cached.config.strict = strict;
    fresh.config.strict = strict;
    let mut compared = 0;
    for r in records {
        let ev = Event::decode(r);
        let (Some(s), Some(s2)) = (cached.signature(&ev), fresh.signature(&ev)) else {
            continue;
        };
        assert_eq!(s, s2);
        let mut again = vec![(ev, s)];
        let request = s.dir == fingerprint::Direction::Request;
        if let Some(at) = tsval_offset(r).filter(|_| request && s.ts1 != 0) {
            // The same SYN with another non-zero TSval.
            let mut r2 = *r;
            let ts = u32::from_be_bytes(r.options[at..at + 4].try_into().unwrap());
            let other = ts.wrapping_add(0x0101_0101).max(1);
            r2.options[at..at + 4].copy_from_slice(&other.to_be_bytes());
            let ev2 = Event::decode(&r2);
            let s2 = fingerprint::Signature::from_event(&ev2, 0).expect("a SYN");
            assert_ne!(s2.ts1, s.ts1, "the TSval was changed");
            again.push((ev2, s2));
        }
        for (ev, s) in &again {
            let hits = cached.cache.hits;
            let got = cached.classify_event(ev, s);
            fresh.cache.clear();
            let want = fresh.classify_event(ev, s);
            assert_eq!(got, want, "{s:?} (strict {strict})");
            if !std::ptr::eq(ev, &again[0].0) {
                assert_eq!(cached.cache.hits, hits + 1, "a new TSval hits the cache");
            }
            compared += 1;
        }
    }
    (compared, cached.cache.hits, cached.cache.misses)
}

#[test]
fn cached_verdicts_equal_fresh_ones_over_the_corpus() {
    let records = osfp_tests::corpus::syn_records();
    assert!(records.len() > 5_000, "corpus SYNs: {}", records.len());
    let p0f =
        std::fs::read_to_string("/etc/p0f/p0f.fp").expect("/etc/p0f/p0f.fp (apt install p0f)");
    for (name, strict) in [
        ("built-in", false),
        ("built-in", true),
        ("p0f", false),
        ("p0f", true),
    ] {
        let db = match name {
            "built-in" => fingerprint::default_database().unwrap(),
            _ => Database::parse(&p0f, "p0f.fp").unwrap(),
        };
        let (n, hits, misses) = compare(db, strict, &records);
        eprintln!(
            "{name}, strict {strict}: {n} verdicts equal; cache {hits} hits, {misses} misses"
        );
        assert!(n > records.len(), "{n} compared");
        // The corpus's stacks repeat: most lookups are hits.
        assert!(hits > 4 * misses, "{hits} hits, {misses} misses");
    }
}
