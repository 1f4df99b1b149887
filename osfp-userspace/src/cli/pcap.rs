//! `osfp pcap FILE...`

use std::{
    io::{self, BufWriter},
    sync::Arc,
};

use anyhow::{Context, Result};

use super::args::PcapArgs;
use crate::{
    analysis::{
        fingerprint::{self, Database, MatchKind},
        scan::ScanEvent,
    },
    capture::{
        file as capture_file,
        frame::{FrameCounters, SelectConfig, Selector},
    },
    export::{
        output::{Format, Output, OutputThread},
        stats,
    },
    hashing,
    pipeline::Pipeline,
    sources::{SourceJson, SourceTable},
};

pub fn run(args: &PcapArgs) -> Result<i32> {
    // The caps size tables up front: a wrong one must not abort on the allocation.
    let bad = crate::daemon::config::check_source_caps(args.max_sources, args.max_clock_sources);
    if !bad.is_empty() {
        for (key, msg) in bad {
            eprintln!("osfp: --{key}: {msg}");
        }
        return Ok(2);
    }
    if let Some(seed) = args.hash_seed {
        hashing::use_seed(seed);
    }
    let cfg = SelectConfig {
        ts_sample_interval_ns: args.select.ts_sample_interval.as_nanos() as u64,
        ts_sample_max_per_flow: args.select.ts_samples_per_flow,
        hash_key: hashing::process_key(),
    };
    let db = match &args.db {
        Some(p) => Database::load(p).with_context(|| format!("{}: bad database", p.display()))?,
        None => fingerprint::default_database().context("built-in database")?,
    };
    let db = Arc::new(db);
    // `Stdout`, not its lock (which cannot go to another thread): the buffer takes
    // the lock once per 64 KiB.
    let out = Output::new(
        BufWriter::with_capacity(1 << 16, io::stdout()),
        super::format(&args.output),
    );
    let format = out.format();
    let mut out = OutputThread::spawn(out, db.clone());
    let mut pipeline = Pipeline::with_database(db.clone(), args.max_sources);
    pipeline.sources = SourceTable::with_clock_cap(args.max_sources, args.max_clock_sources);
    pipeline.fingerprinter.config.strict = args.strict;
    if let Some(t) = args.infer_threshold {
        anyhow::ensure!(
            (0.0..=1.0).contains(&t),
            "--infer-threshold {t}: not from 0 to 1"
        );
        pipeline.fingerprinter.config.threshold = t;
    }
    pipeline.fingerprinter.config.prior =
        fingerprint::Prior::from_name(&args.infer_prior).unwrap_or_default();
    let print_records = !args.quiet && !args.summary;
    let mut totals = FrameCounters::default();
    let mut failed = 0;
    for path in &args.files {
        // Flow state is per file: files are separate captures.
        let mut sel = Selector::new(cfg);
        let mut scan_events: Vec<ScanEvent> = Vec::new();
        // Scan events always feed the summary; they and SYN flood events are printed
        // only with --scans.
        let print_scans =
            |events: &mut Vec<ScanEvent>, pipeline: &mut Pipeline, out: &mut OutputThread<_>| {
                let floods = pipeline.take_flood_events().map(|e| e.to_json_line());
                let lines = events.drain(..).map(|e| e.to_json_line()).chain(floods);
                for line in lines {
                    if args.scans {
                        out.text_line(line);
                    }
                }
            };
        let res = capture_file::for_each_frame(path, |link, frame, ts| {
            if let Some(rec) = sel.frame(link, frame, ts) {
                let ev = pipeline.process(&rec);
                let fp = pipeline.observe(&ev, &mut scan_events);
                if print_records {
                    out.record(ev, fp.as_ref().map(|(s, v)| (s, v)));
                }
                print_scans(&mut scan_events, &mut pipeline, &mut out);
            }
        });
        // Scans are per file too: files are separate captures.
        pipeline.end_of_input(&mut scan_events);
        print_scans(&mut scan_events, &mut pipeline, &mut out);
        if out.failed() {
            break;
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
    let (mut out, written) = out.finish();
    if let Err(e) = written {
        if e.kind() == io::ErrorKind::BrokenPipe {
            return Ok(0);
        }
        return Err(e.into());
    }
    if args.summary {
        for (src, st) in pipeline.sources.iter() {
            let j = st.to_json(*src, &db);
            let r = match format {
                Format::Json => out.json_line(&j),
                Format::Text => out.text_line(&summary_text(&j)),
            };
            if let Err(e) = r {
                if e.kind() == io::ErrorKind::BrokenPipe {
                    return Ok(0);
                }
                return Err(e.into());
            }
        }
    }
    out.flush()?;
    eprintln!("osfp: {}", stats::summary(&totals, &pipeline, 0));
    let m = pipeline.matches;
    let (evictions, refused) = (
        pipeline.sources.evictions(),
        pipeline.sources.clock_events_refused,
    );
    eprintln!(
        "osfp: fingerprinted exact={} generic={} fuzzy={} inferred={} unknown={} middlebox={} sources_evicted={evictions} clock_events_refused={refused}",
        m[MatchKind::Exact as usize],
        m[MatchKind::Generic as usize],
        m[MatchKind::Fuzzy as usize],
        m[MatchKind::Inferred as usize],
        m[MatchKind::Unknown as usize],
        pipeline.undone
    );
    // The command ends the process: its tables (up to hundreds of thousands of
    // allocations) go with it, which is much faster than freeing them one by one.
    std::mem::forget(pipeline);
    Ok(if failed > 0 { 1 } else { 0 })
}

fn summary_text(j: &SourceJson) -> String {
    let os: Vec<String> =
        j.os.iter()
            .map(|o| {
                format!(
                    "{}({},{})x{}",
                    o.label.as_deref().unwrap_or("???"),
                    o.family,
                    o.kind,
                    o.count
                )
            })
            .collect();
    format!(
        "{} packets={} os=[{}] hops={:?} sigs={}{}",
        j.src,
        j.packets,
        os.join(" "),
        j.hops,
        j.signatures.len(),
        if j.nat_hint { " nat_hint" } else { "" }
    )
}
