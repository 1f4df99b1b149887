//! Userspace throughput: the decoder alone (record -> event), and the pcap path
//! (frame -> selection -> record -> event) over in-memory corpus frames.

use std::time::Instant;

use anyhow::Result;
use osfp::capture::{
    file as capture_file,
    frame::{Link, SelectConfig, Selector},
};
use osfp_common::PacketRecord;

use crate::median;

pub fn run(rounds: u32) -> Result<()> {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    let corpus = std::env::var_os("OSFP_CORPUS")
        .map(Into::into)
        .unwrap_or(corpus);
    let index = std::fs::read_to_string(corpus.join("INDEX.tsv"))?;
    let mut frames: Vec<(Link, Vec<u8>, u64)> = Vec::new();
    for l in index.lines().skip(1) {
        let path = corpus.join(l.split('\t').next().unwrap());
        let _ =
            capture_file::for_each_frame(&path, |link, f, ts| frames.push((link, f.to_vec(), ts)));
    }
    let mut sel = Selector::new(SelectConfig::default());
    let records: Vec<PacketRecord> = frames
        .iter()
        .filter_map(|(l, f, t)| sel.frame(*l, f, *t))
        .collect();

    let mut decode = Vec::new();
    let mut path = Vec::new();
    for _ in 0..rounds {
        let mut p = osfp_tests::pipeline();
        let t = Instant::now();
        let mut sink = 0u64;
        for _ in 0..20 {
            for r in &records {
                sink = sink.wrapping_add(p.process(r).options.layout.len() as u64);
            }
        }
        decode.push((records.len() * 20) as f64 / t.elapsed().as_secs_f64());
        std::hint::black_box(sink);

        let mut sel = Selector::new(SelectConfig::default());
        let mut p = osfp_tests::pipeline();
        let t = Instant::now();
        for (l, f, ts) in &frames {
            if let Some(r) = sel.frame(*l, f, *ts) {
                std::hint::black_box(p.process(&r));
            }
        }
        path.push(frames.len() as f64 / t.elapsed().as_secs_f64());
    }
    println!(
        "corpus in memory: {} frames, {} records; {rounds} rounds, median",
        frames.len(),
        records.len()
    );
    println!(
        "decoder (record -> event, options parsed): {:.2} M records/s",
        median(decode) / 1e6
    );
    println!(
        "pcap path (frame -> select -> decode): {:.2} M frames/s",
        median(path) / 1e6
    );
    Ok(())
}
