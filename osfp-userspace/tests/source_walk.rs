//! The source table's slots: a walk in steps (the API's index walk, between ring
//! batches) sees every source that stayed in the table exactly once. Apart from
//! `source_table.rs`, whose allocation count must not see this test's allocations.

use std::net::{IpAddr, Ipv4Addr};

use osfp::sources::SourceTable;

/// A walk of the table's slots in steps, with sources coming and going between the
/// steps (as the API's index walk runs between ring batches), sees every source that
/// stayed in the table throughout exactly once; after a shrinking reload the slots are
/// renumbered and a walk sees exactly the table.
#[test]
fn a_walk_in_steps_sees_every_source_that_stayed_once() {
    const CAP: usize = 1000;
    let (db, sig) = osfp_tests::table_fixture::linux_syn();
    let v = db.classify(&sig, false);
    let ip = |i: u32| IpAddr::V4(Ipv4Addr::from(i));
    let mut t = SourceTable::new(CAP);
    // 600 established sources (seen twice) that churn cannot evict, 400 in probation.
    for i in 0..CAP as u32 {
        t.observe(ip(i), 0, &sig, &v);
        if i < 600 {
            t.observe(ip(i), 0, &sig, &v);
        }
    }
    let mut seen: Vec<IpAddr> = Vec::new();
    let mut next = 0u32;
    let mut i = 0;
    while i < t.slots() {
        let end = (i + 97).min(t.slots());
        seen.extend((i..end).filter_map(|s| t.slot(s).map(|(a, _)| a)));
        i = end;
        // Between two steps, 50 new one-packet sources evict probation's oldest.
        for _ in 0..50 {
            t.observe(ip(1_000_000 + next), 0, &sig, &v);
            next += 1;
        }
    }
    assert_eq!(t.len(), CAP);
    assert!(t.slots() <= CAP, "slots {} beyond the cap", t.slots());
    for a in (0..600).map(ip) {
        assert_eq!(seen.iter().filter(|x| **x == a).count(), 1, "{a}");
    }
    // Every address seen was a source, and none twice.
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), seen.len());

    t.set_caps(300, 100);
    let walked: Vec<IpAddr> = (0..t.slots())
        .filter_map(|s| t.slot(s).map(|(a, _)| a))
        .collect();
    assert_eq!(t.slots(), 300);
    assert_eq!(walked.len(), t.len());
    let mut all: Vec<IpAddr> = t.iter().map(|(a, _)| *a).collect();
    all.sort_unstable();
    let mut w = walked.clone();
    w.sort_unstable();
    assert_eq!(w, all);
    // New sources after the reload take slots within the new cap.
    for k in 0..500 {
        t.observe(ip(5_000_000 + k), 0, &sig, &v);
    }
    assert!(t.slots() <= 300);
}
