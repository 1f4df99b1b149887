//! Runs inside a guest kernel booted by the kernel matrix (`tests/kernel_matrix.rs`): what
//! the kernel offers, which builds of the XDP program its verifier accepts (with the
//! instructions it went through) or refuses (with `osfp run`'s one-line reason), the
//! live checks of `osfp_tests::live` on a veth pair in native and skb mode, and the
//! kernel/pcap parity of every accepted build on a corpus subset. Prints one JSON report
//! (the last line of stdout); exits non-zero if a check failed.
//!
//! `osfp-guest --parity-list FILE` (corpus files one a line; none: no parity).

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use osfp::capture::{
    kernel::{load_first, Kernel, LoadFailure, VARIANTS},
    xdp::{self, LoadConfig},
};
use osfp_tests::{live, osfp_bin, parity, Lab, Sensor};
use serde_json::{json, Value};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let list = args
        .iter()
        .position(|a| a == "--parity-list")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let kernel = Kernel::probe();
    let mut failed = Vec::new();
    let mut report = json!({
        "release": kernel.release,
        "ringbuf": kernel.ringbuf,
        "bpf_loop": kernel.bpf_loop,
    });

    // Each build on its own: accepted (instructions verified) or refused (why).
    let mut programs = Vec::new();
    let mut accepted = Vec::new();
    for v in &VARIANTS {
        let t = Instant::now();
        let entry = match load_first(&LoadConfig::default(), &kernel, &[v]) {
            Ok(l) => {
                accepted.push(v.name);
                json!({"name": v.name, "loads": true, "verified_insns": verified(l.ebpf, v.name),
                       "load_seconds": t.elapsed().as_secs_f64()})
            }
            Err(LoadFailure::Rejected(r)) => {
                json!({"name": v.name, "loads": false, "rejection": r[0].to_string()})
            }
            Err(LoadFailure::Other(e)) => {
                failed.push(format!("loading {}: {e}", v.name));
                json!({"name": v.name, "loads": false, "error": e})
            }
        };
        programs.push(entry);
    }
    report["programs"] = Value::from(programs);
    let chosen = kernel.candidates(None).ok().and_then(|c| {
        c.iter()
            .find(|v| accepted.contains(&v.name))
            .map(|v| v.name)
    });
    report["auto"] = json!(chosen);
    if chosen.is_none() {
        failed.push("no build of the XDP program loads on this kernel".into());
    }

    // The live checks, through `osfp run` as users run it (auto choice of build).
    let mut checks = Vec::new();
    let mut check = |name: &str, f: &dyn Fn()| {
        let t = Instant::now();
        let r = catch_unwind(AssertUnwindSafe(f));
        let ok = r.is_ok();
        let error = r.err().map(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        });
        if !ok {
            failed.push(format!("{name}: {}", error.clone().unwrap_or_default()));
        }
        checks.push(json!({"name": name, "ok": ok, "error": error,
                           "seconds": t.elapsed().as_secs_f64()}));
    };
    if chosen.is_some() {
        check("syn_fields native", &|| live::syn_fields("native", &[]));
        check("syn_fields skb", &|| live::syn_fields("skb", &[]));
        check("synack_fields native", &|| {
            live::synack_fields("native", &[])
        });
        check("crafted_frames skb", &|| live::crafted("skb", &[]));
        check("auto start line and metric", &|| {
            auto_start(chosen.unwrap(), &kernel)
        });
    }
    for v in VARIANTS.iter().filter(|v| !accepted.contains(&v.name)) {
        check(&format!("refusal of {} is one line", v.name), &|| {
            refusal(v.name, &kernel)
        });
    }
    report["checks"] = Value::from(checks);

    // Kernel and pcap path agree, for every accepted build.
    if let Some(list) = list {
        let files = parity::read_list(&list).expect("parity list");
        let mut out = Vec::new();
        for name in &accepted {
            let t = Instant::now();
            match parity::run(name, &files) {
                Ok(r) => {
                    if !r.mismatches.is_empty() {
                        failed.push(format!("parity {name}: {:?}", r.mismatches));
                    }
                    let mut v = serde_json::to_value(&r).unwrap();
                    v["seconds"] = json!(t.elapsed().as_secs_f64());
                    out.push(v);
                }
                Err(e) => failed.push(format!("parity {name}: {e:#}")),
            }
        }
        report["parity"] = Value::from(out);
    }
    report["failed"] = json!(failed);
    println!("{report}");
    std::process::exit(if failed.is_empty() { 0 } else { 1 });
}

/// Instructions the verifier went through (bpf_prog_info, Linux 5.16 or newer).
fn verified(mut ebpf: aya::Ebpf, name: &str) -> Option<u32> {
    xdp::program(&mut ebpf, name)
        .ok()?
        .info()
        .ok()?
        .verified_instruction_count()
}

/// `osfp run` left to choose: its start-up line names the kernel and the build, and
/// /metrics has the build under `osfp_sensor_info`.
fn auto_start(expect: &str, kernel: &Kernel) {
    let lab = Lab::new().unwrap();
    let sensor = Sensor::start(&lab.ns_b, &lab.veth_b, "skb", &[]).unwrap();
    let err = sensor.stderr();
    let line = format!("osfp: Linux {}: XDP program {expect} (", kernel.release);
    assert!(err.contains(&line), "no {line:?} in {err}");
    let deadline = Instant::now() + osfp_tests::patience(Duration::from_secs(5));
    let series = format!(
        "osfp_sensor_info{{iface=\"{}\",kernel=\"{}\",mode=\"skb\",program=\"{expect}\"}}",
        lab.veth_b, kernel.release
    );
    loop {
        let text =
            osfp_tests::http_get_in_ns(&lab, &lab.ns_b, 9184, "/metrics").unwrap_or_default();
        if osfp_tests::metric(&text, &series) == Some(1.0) {
            break;
        }
        assert!(Instant::now() < deadline, "no {series} in\n{text}");
        std::thread::sleep(Duration::from_millis(200));
    }
    sensor.stop().unwrap();
}

/// A build this kernel's verifier refuses, asked for by name: one line naming the
/// kernel, the build, the instruction and the reason, the whole log in the file it
/// names, a non-zero exit, and nothing attached.
fn refusal(name: &str, kernel: &Kernel) {
    let lab = Lab::new().unwrap();
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.ns_b])
        .arg(osfp_bin())
        .args([
            "run",
            "--iface",
            &lab.veth_b,
            "--xdp-program",
            name,
            "--listen",
            "off",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    let want = format!(
        "osfp: Linux {} rejected XDP program {name} (",
        kernel.release
    );
    let line = lines
        .iter()
        .find(|l| l.starts_with(&want))
        .unwrap_or_else(|| panic!("no {want:?} in {err}"));
    let path = line
        .rsplit_once("(verifier log: ")
        .map(|(_, p)| p.trim_end_matches(')'))
        .unwrap_or_else(|| panic!("no log path in {line}"));
    let log = std::fs::read_to_string(path).unwrap();
    // The instruction the verifier stopped at, when it got to one.
    let (insn, reason) = osfp::capture::kernel::summarize(&log);
    match insn {
        Some(i) => assert!(
            line.contains(&format!(": at instruction {i}: {reason}")),
            "{line}"
        ),
        None => assert!(
            line.contains(&format!("): {reason} (verifier log")),
            "{line}"
        ),
    }
    assert_eq!(lines.last(), Some(&"osfp: nothing was attached"), "{err}");
    let link = lab.exec(&lab.ns_b, "ip link show vb").unwrap();
    assert!(!link.contains("xdp"), "attached after a refusal: {link}");
}
