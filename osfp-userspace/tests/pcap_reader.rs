//! The capture-file reader on crafted files (`osfp_tests::craft::capture`): what it
//! reads and what it reports for each lenient case — records longer than the snap
//! length, sub-second fields of a second or more, nanosecond and big-endian files,
//! files that end inside a record — and pcapng's interfaces and timestamp units.

use std::process::Command;

use osfp::capture::{
    file::{for_each_frame, for_each_frame_in, FileReport},
    frame::{Link, SelectConfig, Selector},
};
use osfp_tests::craft::{
    capture::{Pcap, Pcapng},
    links,
    tunnels::{plain_v4, plain_v6},
};

type Frames = Vec<(Link, Vec<u8>, u64)>;

fn read(bytes: &[u8]) -> (Frames, anyhow::Result<FileReport>) {
    let mut frames = Vec::new();
    let res = for_each_frame_in(bytes, |l, f, ts| frames.push((l, f.to_vec(), ts)));
    (frames, res)
}

const SEC: u32 = 1_700_000_000;
const NS: u64 = SEC as u64 * 1_000_000_000;

#[test]
fn byte_orders_resolutions_and_kuznetzov() {
    let (a, b) = (plain_v4(), plain_v6());
    for big_endian in [false, true] {
        for nanos in [false, true] {
            let frac = if nanos { 250_000_000 } else { 250_000 };
            let mut p = Pcap::new(1, 65535, big_endian, nanos);
            p.record(SEC, frac, &a).record(SEC + 1, 0, &b);
            let (frames, rep) = read(&p.bytes);
            let rep = rep.unwrap();
            let what = format!("big_endian {big_endian} nanos {nanos}");
            assert_eq!(
                rep,
                FileReport {
                    frames: 2,
                    ..Default::default()
                },
                "{what}"
            );
            assert_eq!(
                frames,
                vec![
                    (Link::Ethernet, a.clone(), NS + 250_000_000),
                    (Link::Ethernet, b.clone(), NS + 1_000_000_000)
                ],
                "{what}"
            );
        }
        let mut k = Pcap::kuznetzov(1, big_endian);
        k.record(SEC, 7, &a);
        let (frames, rep) = read(&k.bytes);
        assert_eq!(rep.unwrap().frames, 1);
        assert_eq!(frames, vec![(Link::Ethernet, a.clone(), NS + 7_000)]);
    }
}

/// Records longer than the file's snap length are taken as they are (pcap-file
/// refuses them; libpcap reads them), up to 1 MiB; a longer one means the file is
/// corrupt: reading stops there, reported, the frames before it kept.
#[test]
fn records_longer_than_the_snap_length() {
    let a = plain_v4();
    let mut p = Pcap::new(1, 64, false, false);
    p.record(SEC, 0, &a);
    let big = vec![0u8; 1 << 20];
    p.record(SEC, 1, &big);
    let (frames, rep) = read(&p.bytes);
    assert_eq!(
        rep.unwrap(),
        FileReport {
            frames: 2,
            ..Default::default()
        }
    );
    assert_eq!((frames[0].1.len(), frames[1].1.len()), (a.len(), 1 << 20));

    p.record_with_len(SEC, 2, (1 << 20) + 1, &a);
    p.record(SEC, 3, &a);
    let (frames, rep) = read(&p.bytes);
    let rep = rep.unwrap();
    assert_eq!(frames.len(), 2, "the frames before the corrupt record");
    assert_eq!(rep.frames, 2);
    assert_eq!(
        rep.read_error.as_deref(),
        Some("record of 1048577 bytes: corrupt file")
    );
}

/// Sub-second fields of a second or more are added as they are, as libpcap does
/// (pcap-file refuses the record).
#[test]
fn sub_second_fields_of_a_second_or_more() {
    let a = plain_v4();
    let mut us = Pcap::new(1, 65535, false, false);
    us.record(SEC, 1_000_000, &a)
        .record(SEC, 2_500_000, &a)
        .record(SEC, u32::MAX, &a);
    let ts: Vec<u64> = read(&us.bytes).0.iter().map(|f| f.2).collect();
    assert_eq!(
        ts,
        vec![
            NS + 1_000_000_000,
            NS + 2_500_000_000,
            NS + u32::MAX as u64 * 1_000
        ]
    );
    let mut ns = Pcap::new(1, 65535, true, true);
    ns.record(SEC, 1_000_000_000, &a).record(SEC, u32::MAX, &a);
    let ts: Vec<u64> = read(&ns.bytes).0.iter().map(|f| f.2).collect();
    assert_eq!(ts, vec![NS + 1_000_000_000, NS + u32::MAX as u64]);
}

/// A file that ends inside a record (its header or its data): the complete records are
/// read, and the report says where it stopped.
#[test]
fn a_record_cut_midway() {
    let a = plain_v4();
    let mut p = Pcap::new(1, 65535, false, false);
    p.record(SEC, 0, &a).record(SEC, 1, &a);
    let whole = p.bytes.len();
    let second = 24 + 16 + a.len();
    for (len, err) in [
        (whole, None),
        (second, None),
        (second + 10, Some("file ends inside a record header")),
        (
            second + 16,
            Some("file ends inside a record: failed to fill whole buffer"),
        ),
        (
            whole - 1,
            Some("file ends inside a record: failed to fill whole buffer"),
        ),
    ] {
        let (frames, rep) = read(&p.bytes[..len]);
        let rep = rep.unwrap();
        let n = if len == whole { 2 } else { 1 };
        assert_eq!((frames.len(), rep.frames), (n, n as u64), "cut at {len}");
        assert_eq!(rep.read_error.as_deref(), err, "cut at {len}");
    }
}

#[test]
fn short_and_foreign_files_are_refused() {
    let err = |b: &[u8]| format!("{:#}", read(b).1.unwrap_err());
    assert_eq!(
        err(&[0xd4, 0xc3]),
        "too short for a capture file: failed to fill whole buffer"
    );
    let p = Pcap::new(1, 65535, false, false);
    assert_eq!(
        err(&p.bytes[..20]),
        "cannot read: pcap header cut short: failed to fill whole buffer"
    );
    assert_eq!(
        err(b"GET / HTTP/1.1\r\n"),
        "not a pcap or pcapng file (magic 0x20544547)"
    );
}

/// Frames of link types osfp does not parse are counted by type, not passed on; the
/// FCS bits above the low 16 bits of the link type are ignored.
#[test]
fn link_types() {
    let a = plain_v4();
    let mut user0 = Pcap::new(147, 65535, false, false);
    user0.record(SEC, 0, &a).record(SEC, 0, &a);
    let (frames, rep) = read(&user0.bytes);
    assert!(frames.is_empty());
    assert_eq!(rep.unwrap().unsupported_link, vec![(147, 2)]);

    let mut fcs = Pcap::new(0x1000_0001, 65535, true, false);
    fcs.record(SEC, 0, &a);
    assert_eq!(read(&fcs.bytes).0[0].0, Link::Ethernet);

    let ip = osfp_tests::craft::tunnels::syn_v4().ip_packet();
    let mut raw = Pcap::new(101, 65535, false, false);
    raw.record(SEC, 0, &ip);
    assert_eq!(read(&raw.bytes).0, vec![(Link::RawIp, ip, NS)]);
}

/// pcapng: each interface's link type and timestamp resolution (default microseconds,
/// if_tsresol in powers of ten or two); simple packet blocks belong to interface 0 and
/// have no time; a packet of an interface the section did not describe is counted as
/// link type 0xFFFFFFFF; a new section forgets the interfaces.
#[test]
fn pcapng_interfaces_and_resolutions() {
    let (a, b) = (plain_v4(), plain_v6());
    let ip = osfp_tests::craft::tunnels::syn_v4().ip_packet();
    let mut p = Pcapng::new();
    p.interface(1, None)
        .interface(101, Some(9))
        .interface(1, Some(0x80 | 10))
        .packet(0, SEC as u64 * 1_000_000 + 5, &a)
        .packet(1, NS + 5, &ip)
        .packet(2, 3 * 1024 + 512, &b)
        .simple_packet(&b)
        .packet(7, 0, &a);
    let (frames, rep) = read(&p.bytes);
    assert_eq!(
        frames,
        vec![
            (Link::Ethernet, a.clone(), NS + 5_000),
            (Link::RawIp, ip, NS + 5),
            (Link::Ethernet, b.clone(), 3_500_000_000),
            (Link::Ethernet, b.clone(), 0),
        ]
    );
    let rep = rep.unwrap();
    assert_eq!((rep.frames, rep.read_error), (5, None));
    assert_eq!(rep.unsupported_link, vec![(u32::MAX, 1)]);

    // A second section without interfaces.
    let mut again = p.bytes.clone();
    again.extend_from_slice(&Pcapng::new().packet(0, 0, &a).bytes);
    let rep = read(&again).1.unwrap();
    assert_eq!(rep.unsupported_link, vec![(u32::MAX, 2)]);

    // Cut inside the last block: the blocks before it are read, the stop reported.
    let (frames, rep) = read(&p.bytes[..p.bytes.len() - 10]);
    let rep = rep.unwrap();
    assert_eq!((frames.len(), rep.frames), (4, 4));
    assert!(rep.read_error.is_some());
}

/// The path reader is the byte reader with the path in its errors.
#[test]
fn path_and_bytes_read_alike() {
    let dir = std::env::temp_dir().join(format!("osfp-pcap-reader-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut p = Pcap::new(1, 65535, true, true);
    p.record(SEC, 1, &plain_v4()).record(SEC, 2, &plain_v6());
    let cut = &p.bytes[..p.bytes.len() - 3];
    let path = dir.join("cut.pcap");
    std::fs::write(&path, cut).unwrap();
    let mut from_path = Vec::new();
    let rep = for_each_frame(&path, |l, f, ts| from_path.push((l, f.to_vec(), ts))).unwrap();
    let (from_bytes, rep2) = read(cut);
    assert_eq!((from_path, rep), (from_bytes, rep2.unwrap()));

    let short = dir.join("short.pcap");
    std::fs::write(&short, [0xa1]).unwrap();
    let e = for_each_frame(&short, |_, _, _| {}).unwrap_err();
    assert_eq!(
        format!("{e:#}"),
        format!(
            "{}: too short for a capture file: failed to fill whole buffer",
            short.display()
        )
    );

    // `osfp pcap` prints the records it read and says where it stopped.
    let out = Command::new(env!("CARGO_BIN_EXE_osfp"))
        .args(["pcap", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains(r#""src":"192.0.2.1""#), "{stdout}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "osfp: {}: stopped early: file ends inside a record: failed to fill whole buffer",
            path.display()
        )),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A SYN framed for each link type, in a pcap file and in a pcapng file: the record is
/// the one of the same SYN sent over Ethernet.
#[test]
fn every_link_type_gives_the_plain_syns_record() {
    let cases = links::cases();
    let mut types: Vec<u32> = cases.iter().map(|c| c.linktype).collect();
    types.dedup();
    let linked: Vec<u32> = (0..300)
        .filter(|&t| Link::from_linktype(t).is_some())
        .collect();
    let mut sorted = types.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, linked, "a case for every link type");
    for c in cases {
        let want = Selector::new(SelectConfig::default())
            .frame(Link::Ethernet, &c.plain, NS)
            .unwrap();
        let mut pcap = Pcap::new(c.linktype, 65535, false, false);
        pcap.record(SEC, 0, &c.frame);
        let mut ng = Pcapng::new();
        ng.interface(c.linktype as u16, None)
            .packet(0, SEC as u64 * 1_000_000, &c.frame);
        for file in [pcap.bytes, ng.bytes] {
            let mut sel = Selector::new(SelectConfig::default());
            let mut got = Vec::new();
            let rep =
                for_each_frame_in(&file[..], |l, f, ts| got.extend(sel.frame(l, f, ts))).unwrap();
            assert_eq!(rep.unsupported_link, vec![], "{}", c.name);
            assert_eq!(got, vec![want], "{}", c.name);
        }
    }
}
