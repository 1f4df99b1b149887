//! `export::record::write_json`, the record stream's hand-written JSON, writes exactly
//! the bytes serde_json writes for `RecordJson` (the documented schema's reference):
//! every record of every corpus file, fingerprinted or not, through the production
//! pipeline.

use osfp::{
    analysis::{fingerprint, scan::ScanEvent},
    capture::{
        file as capture_file,
        frame::{SelectConfig, Selector},
    },
    export::record::{write_json, Fingerprinted, RecordJson},
    pipeline::Pipeline,
};

#[test]
fn hand_written_json_equals_serde_over_the_corpus() {
    let db = std::sync::Arc::new(fingerprint::default_database().unwrap());
    let (mut records, mut fingerprinted, mut differ) = (0u64, 0u64, Vec::new());
    let mut ours = Vec::new();
    for path in osfp_tests::corpus_files() {
        let mut sel = Selector::new(SelectConfig::default());
        let mut pipe = Pipeline::with_database(db.clone(), 4096);
        let mut scans: Vec<ScanEvent> = Vec::new();
        let _ = capture_file::for_each_frame(&path, |link, frame, ts| {
            let Some(rec) = sel.frame(link, frame, ts) else {
                return;
            };
            let ev = pipe.process(&rec);
            let fp = pipe.observe(&ev, &mut scans);
            let fp = fp.as_ref().map(|(sig, verdict)| Fingerprinted {
                db: &db,
                sig,
                verdict,
            });
            records += 1;
            fingerprinted += fp.is_some() as u64;
            ours.clear();
            write_json(&mut ours, &ev, fp);
            let serde = serde_json::to_vec(&RecordJson::new(&ev, fp)).unwrap();
            if ours != serde && differ.len() < 3 {
                differ.push(format!(
                    "{}:\n ours:  {}\n serde: {}",
                    path.display(),
                    String::from_utf8_lossy(&ours),
                    String::from_utf8_lossy(&serde)
                ));
            }
        });
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    assert!(
        records > 15_000 && fingerprinted > 11_000,
        "{records} {fingerprinted}"
    );
}
