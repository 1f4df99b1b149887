//! `cargo xtask fuzz-seeds`: writes the fuzz targets' seed corpus (`fuzz/seeds/TARGET/`)
//! from the test suite's crafted frames (`osfp_tests::craft`). The shipped database and
//! `deploy/config/osfp.toml` are seeds too: `scripts/fuzz.sh` adds them at run time, so
//! they are not copied here. The test below keeps the committed seeds in step.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use osfp::capture::frame::Link;
use osfp_tests::craft::{
    capture::{Pcap, Pcapng},
    links, stacks, tunnels, TcpFrame,
};
use strum::IntoEnumIterator;

/// The seed files: target -> (file name -> bytes).
pub fn seeds() -> BTreeMap<&'static str, BTreeMap<String, Vec<u8>>> {
    let mut all = BTreeMap::new();
    let link_index = |l: Link| Link::iter().position(|x| x == l).unwrap() as u8;
    let ethernet = link_index(Link::Ethernet);

    // frame: the link index, then a frame of every tunnel and every link type.
    let mut frame = BTreeMap::new();
    for c in tunnels::cases() {
        frame.insert(c.name.to_string(), [&[ethernet][..], &c.frame].concat());
    }
    for c in links::cases() {
        let link = Link::from_linktype(c.linktype).expect("a link osfp parses");
        frame.insert(
            format!("link-{}", c.name),
            [&[link_index(link)][..], &c.frame].concat(),
        );
    }
    all.insert("frame", frame);

    // capture_file: a pcap of the SYN for every link type; pcap variants and a pcapng
    // of a whole handshake with timestamp samples; a few tunnels.
    let mut files = BTreeMap::new();
    for c in links::cases() {
        let mut p = Pcap::new(c.linktype, 65535, false, false);
        p.record(1_700_000_000, 1, &c.frame);
        files.insert(format!("{}.pcap", c.name), p.bytes);
    }
    let (syn, synack, acks) = handshake();
    let mut be = Pcap::new(1, 65535, true, true);
    let mut k = Pcap::kuznetzov(1, false);
    let mut ng = Pcapng::new();
    ng.interface(1, None)
        .interface(1, Some(9))
        .interface(101, Some(0x80 | 20));
    for (i, f) in [&syn, &synack].into_iter().chain(&acks).enumerate() {
        let t = i as u32 * 400_000_000;
        be.record(1_700_000_000 + t / 1_000_000_000, t % 1_000_000_000, f);
        k.record(1_700_000_000, t / 1_000, f);
        ng.packet((i % 2) as u32, 1_700_000_000_000_000 + t as u64, f);
    }
    ng.simple_packet(&syn)
        .packet(2, 1 << 20, &tunnels::syn_v4().ip_packet());
    files.insert("handshake-big-endian-ns.pcap".into(), be.bytes);
    files.insert("handshake-kuznetzov.pcap".into(), k.bytes);
    files.insert("handshake.pcapng".into(), ng.bytes);
    let mut tun = Pcap::new(1, 65535, false, false);
    for c in tunnels::cases().iter().step_by(5) {
        tun.record(1_700_000_000, 0, &c.frame);
    }
    files.insert("tunnels.pcap".into(), tun.bytes);
    all.insert("capture_file", files);

    // tcp_options: the flag byte (0: not cut), then option bytes of real stacks and of
    // every malformed case the decoder names.
    let (s, d) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
    let mut opts = BTreeMap::new();
    for (name, shape) in [
        ("linux", TcpFrame::syn as stacks::Shape),
        ("windows11", stacks::windows11),
        ("macos", stacks::macos),
        ("unknown-stack", stacks::unknown_stack),
    ] {
        opts.insert(
            name.to_string(),
            [&[0][..], &shape(s, d, 1, 2).options].concat(),
        );
    }
    for (name, bytes, cut) in [
        ("length-zero", &[2u8, 0, 5, 0xb4][..], 0u8),
        ("runs-past-header", &[1, 1, 8, 10, 0, 0, 0, 1], 0),
        ("too-many", &[1; 40], 0),
        ("data-after-eol", &[2, 4, 5, 0xb4, 0, 0, 9, 0], 0),
        ("wrong-length", &[2, 3, 5, 0], 0),
        ("cut", &[2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0], 1),
        (
            "sack-blocks-unknown-kinds",
            &[5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 30, 4, 1, 2, 254, 2],
            0,
        ),
    ] {
        opts.insert(name.to_string(), [&[cut][..], bytes].concat());
    }
    all.insert("tcp_options", opts);

    // p0f_db: small texts (the shipped database is added at run time).
    let mut db = BTreeMap::new();
    db.insert(
        "one-label.fp".to_string(),
        b"classes = win,unix\n\n[tcp:request]\nlabel = s:unix:Linux:3.11 and newer\n\
          sig   = *:64:0:*:mss*20,10:mss,sok,ts,nop,ws:df,id+:0\n\
          label = g:win:Windows:7 or 8\nsys   = Windows\n\
          sig   = *:128:0:*:8192,8:mss,nop,ws,nop,nop,sok:df,id+:0\n\n\
          [tcp:response]\nlabel = s:unix:Linux:3.x\nsig   = *:64:0:*:mss*10,0:mss:df:0\n"
            .to_vec(),
    );
    db.insert(
        "errors.fp".to_string(),
        b"classes = win\n[tcp:request]\nlabel = s:nope:Linux:x\nsig = 7:64:0:*:mss*20,10:mss:df:0\n\
          sig = *:999:0:*:*,*:bogus::0\n[mtu]\nlabel = Ethernet\nsig = 1500\n"
            .to_vec(),
    );
    all.insert("p0f_db", db);

    // config: small tables (deploy/config/osfp.toml is added at run time).
    let mut cfg = BTreeMap::new();
    cfg.insert(
        "scan-table.toml".to_string(),
        b"ring-mib = 16\nlisten = \"off\"\nmax-sources = 1024\n[scan]\nwindow_ms = 1000\n".to_vec(),
    );
    cfg.insert(
        "bad-values.toml".to_string(),
        b"ring-mib = 3\nlisten = \"nowhere\"\nts-sample-interval = \"-1s\"\nrecords = \"xml\"\n"
            .to_vec(),
    );
    all.insert("config", cfg);

    // api_query: query strings as a client sends them.
    let mut api = BTreeMap::new();
    for (name, q) in [
        ("family-limit", "family=linux&limit=10"),
        ("unknown-after-v4", "unknown=true&after=10.0.0.1"),
        ("scanning-hosts", "scanning=1&multiple_hosts=false"),
        ("after-v6-max", "after=2001%3Adb8%3A%3A1&limit=1000"),
        ("bad", "family=windows%20&limit=0&x=%ZZ"),
    ] {
        api.insert(name.to_string(), q.as_bytes().to_vec());
    }
    all.insert("api_query", api);
    all
}

/// A SYN, its SYN-ACK and the client's ACKs with timestamps, over Ethernet.
fn handshake() -> (Vec<u8>, Vec<u8>, Vec<Vec<u8>>) {
    let syn = tunnels::syn_v4();
    let mut synack = syn.clone();
    std::mem::swap(&mut synack.src, &mut synack.dst);
    std::mem::swap(&mut synack.sport, &mut synack.dport);
    synack.flags = osfp_common::tcp_flag::SYN | osfp_common::tcp_flag::ACK;
    let acks = (0..4u32)
        .map(|i| {
            let mut a = syn.clone();
            a.flags = osfp_common::tcp_flag::ACK;
            let ts = (1_000 + 400 * i).to_be_bytes();
            a.options = vec![1, 1, 8, 10, ts[0], ts[1], ts[2], ts[3], 0, 0, 0, 1];
            a.frame()
        })
        .collect();
    (syn.frame(), synack.frame(), acks)
}

pub fn seed_dir() -> PathBuf {
    osfp_tests::workspace_root().join("fuzz/seeds")
}

/// Writes every seed under `dir`, removing files of ours that are no longer seeds.
pub fn write(dir: &Path) -> Result<()> {
    for (target, files) in seeds() {
        let d = dir.join(target);
        if d.exists() {
            std::fs::remove_dir_all(&d).with_context(|| d.display().to_string())?;
        }
        std::fs::create_dir_all(&d).with_context(|| d.display().to_string())?;
        for (name, bytes) in files {
            std::fs::write(d.join(&name), bytes).with_context(|| name.clone())?;
        }
    }
    Ok(())
}

pub fn run() -> Result<()> {
    let dir = seed_dir();
    write(&dir)?;
    println!("seeds written to {}", dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed seeds are what the generator writes (`cargo xtask fuzz-seeds`).
    #[test]
    fn committed_seeds_are_current() {
        let dir = seed_dir();
        for (target, files) in seeds() {
            let d = dir.join(target);
            let mut on_disk: Vec<String> = std::fs::read_dir(&d)
                .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            on_disk.sort();
            let names: Vec<String> = files.keys().cloned().collect();
            assert_eq!(on_disk, names, "{target}: run cargo xtask fuzz-seeds");
            for (name, bytes) in files {
                let got = std::fs::read(d.join(&name)).unwrap();
                assert!(got == bytes, "{target}/{name}: run cargo xtask fuzz-seeds");
            }
        }
    }
}
