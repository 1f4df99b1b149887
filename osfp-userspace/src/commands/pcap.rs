//! `osfp pcap FILE...`

use std::io::{self, BufWriter};

use anyhow::Result;

use crate::{
    capture_file,
    cli::PcapArgs,
    frame::{FrameCounters, SelectConfig, Selector},
    output::Output,
    pipeline::Pipeline,
    scan::{ScanConfig, ScanEvent, ScanTracker},
    stats,
};

pub fn run(args: &PcapArgs) -> Result<i32> {
    let cfg = SelectConfig {
        ts_sample_interval_ns: args.select.ts_sample_interval.as_nanos() as u64,
        ts_sample_max_per_flow: args.select.ts_samples_per_flow,
        ..SelectConfig::default()
    };
    let stdout = io::stdout().lock();
    let mut out = Output::new(
        BufWriter::with_capacity(1 << 16, stdout),
        super::format(&args.output),
    );
    let mut pipeline = Pipeline::new();
    let mut totals = FrameCounters::default();
    let mut failed = 0;
    for path in &args.files {
        // Flow state is per file: files are separate captures.
        let mut sel = Selector::new(cfg);
        let mut scans = args.scans.then(|| ScanTracker::new(ScanConfig::default()));
        let mut scan_events: Vec<ScanEvent> = Vec::new();
        let mut write_err = None;
        let res = capture_file::for_each_frame(path, |link, frame, ts| {
            if let Some(rec) = sel.frame(link, frame, ts) {
                let ev = pipeline.process(&rec);
                if !args.quiet && write_err.is_none() {
                    write_err = out.event(&ev).err();
                }
                if let Some(t) = scans.as_mut() {
                    t.observe(&ev, &mut scan_events);
                    for e in scan_events.drain(..) {
                        if write_err.is_none() {
                            write_err = out.line(&e.to_json_line()).err();
                        }
                    }
                }
            }
        });
        if let Some(t) = scans.as_mut() {
            t.flush(&mut scan_events);
            for e in scan_events.drain(..) {
                if write_err.is_none() {
                    write_err = out.line(&e.to_json_line()).err();
                }
            }
        }
        if let Some(e) = write_err {
            if e.kind() == io::ErrorKind::BrokenPipe {
                return Ok(0);
            }
            return Err(e.into());
        }
        match res {
            Ok(report) => {
                if let Some(e) = &report.read_error {
                    eprintln!("osfp: {}: stopped early: {e}", path.display());
                }
                for (lt, n) in &report.unsupported_link {
                    eprintln!(
                        "osfp: {}: {n} frames of unsupported link type {lt} skipped",
                        path.display()
                    );
                }
            }
            Err(e) => {
                eprintln!("osfp: {e:#}");
                failed += 1;
            }
        }
        totals.add(&sel.counters);
    }
    out.flush()?;
    eprintln!("osfp: {}", stats::summary(&totals, &pipeline, 0));
    Ok(if failed > 0 { 1 } else { 0 })
}
