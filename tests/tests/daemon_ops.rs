//! Operating `osfp run`: the TOML configuration (bad files refused with their location),
//! the JSON API (answers, filters, pagination, clear errors), the NDJSON event log
//! (verdicts as they appear, reopened on SIGHUP for rotation) and SIGHUP reloads that
//! keep the running configuration and database when the new ones are bad.

use std::{
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use osfp_tests::{
    connect_from_ns, http_get_in_ns, listen_in_ns, metric, osfp_bin, privileged, Lab, Sensor,
};
use serde_json::Value;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("osfp-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `osfp run --config FILE`: exit status and stderr. The configuration is checked before
/// anything needs privileges, so this runs unprivileged too.
fn run_with_config(path: &Path) -> (i32, String) {
    let out = Command::new(osfp_bin())
        .args(["run", "--config"])
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_configuration_refused_with_file_line_and_text() {
    let dir = TempDir::new("badcfg");
    // Malformed TOML: one error, where the parser stopped.
    let p = dir.write("broken.toml", "records = \"json\"\nring-mib = [8\n");
    let (code, err) = run_with_config(&p);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("{}:2:", p.display())), "{err}");
    assert!(err.contains("ring-mib = [8"), "{err}");

    // An unknown key (a typo).
    let p = dir.write("typo.toml", "ring-mib = 8\nmax_sources = 10\n");
    let (code, err) = run_with_config(&p);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("{}:2:1: unknown field `max_sources`", p.display())),
        "{err}"
    );

    // Impossible values: every one reported at its line, nothing attached.
    let p = dir.write(
        "values.toml",
        "ring-mib = 3\nlisten = \"localhost\"\nmax-sources = 0\nrecords = \"xml\"\n",
    );
    let (code, err) = run_with_config(&p);
    assert_eq!(code, 2, "{err}");
    // `records` fails while parsing, so it is the one reported first and alone.
    assert!(
        err.contains(&format!("{}:4:11: unknown variant `xml`", p.display())),
        "{err}"
    );
    let p = dir.write(
        "values.toml",
        "ring-mib = 3\nlisten = \"localhost\"\nmax-sources = 0\n",
    );
    let (code, err) = run_with_config(&p);
    assert_eq!(code, 2, "{err}");
    for (line, key) in [
        (1, "ring-mib: 3"),
        (2, "listen: \"localhost\""),
        (3, "max-sources: 0"),
    ] {
        assert!(
            err.contains(&format!("{}:{line}:1: {key}", p.display())),
            "{err}"
        );
    }
    assert!(!err.contains("attached"), "{err}");

    // A missing file.
    let (code, err) = run_with_config(&dir.0.join("absent.toml"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("absent.toml: cannot read"), "{err}");
}

/// The status code and body of an HTTP/1.0 response.
fn http(lab: &Lab, path: &str) -> (u16, String) {
    let r = http_get_in_ns(lab, &lab.ns_b, 9184, path).unwrap();
    let code = r
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = r.split_once("\r\n\r\n").map_or("", |x| x.1).to_string();
    (code, body)
}

fn json(lab: &Lab, path: &str) -> Value {
    let (code, body) = http(lab, path);
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

fn srcs(v: &Value) -> Vec<String> {
    v["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["src"].as_str().unwrap().to_string())
        .collect()
}

/// Event log lines so far.
fn events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn wait_events(path: &Path, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let e = events(path);
        if pred(&e) || Instant::now() > end {
            return e;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn verdict_for<'a>(ev: &'a [Value], src: &str) -> Option<&'a Value> {
    ev.iter()
        .find(|e| e["event"] == "verdict" && e["src"] == src)
}

fn wait_metric(lab: &Lab, series: &str, want: f64) -> Option<f64> {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let v = metric(&http(lab, "/metrics").1, series);
        if v == Some(want) || Instant::now() > end {
            return v;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn api_event_log_and_reload() {
    if !privileged("api_event_log_and_reload") {
        return;
    }
    let lab = Lab::new().unwrap();
    let dir = TempDir::new("ops");
    let log = dir.0.join("events.ndjson");
    // Relative paths are relative to the file.
    let good = "event-log = \"events.ndjson\"\nmax-sources = 1000\n";
    let cfg = dir.write("osfp.toml", good);
    let cfg_arg = cfg.display().to_string();
    let sensor = Sensor::start(&lab.ns_b, &lab.veth_b, "skb", &["--config", &cfg_arg]).unwrap();
    let mut stops = Vec::new();
    for port in [8080, 8081, 8082] {
        for addr in [lab.b4, lab.b6] {
            stops.push(listen_in_ns(&lab.ns_b, SocketAddr::new(addr, port), |_| Ok(())).unwrap());
        }
    }
    let (a4, a6) = (lab.a4.to_string(), lab.a6.to_string());
    for to in [lab.b4, lab.b6] {
        connect_from_ns(&lab, &lab.ns_a, SocketAddr::new(to, 8080), |_| Ok(())).unwrap();
    }

    // The event log: one verdict per source, as it happens.
    let ev = wait_events(&log, |e| {
        verdict_for(e, &a4).is_some() && verdict_for(e, &a6).is_some()
    });
    let first_label = {
        let v = verdict_for(&ev, &a4).unwrap_or_else(|| panic!("{ev:#?}\n{}", sensor.stderr()));
        assert_eq!(v["os"]["family"], "linux", "{v}");
        assert_eq!(v["os"]["match"], "exact", "{v}");
        assert_eq!(v["dport"], 8080, "{v}");
        assert!(v["ts"].as_f64().unwrap() > 1.7e9, "{v}");
        v["os"]["label"].as_str().unwrap().to_string()
    };

    // The API.
    let all = json(&lab, "/api/v1/sources");
    assert_eq!(all["total"], 2, "{all}");
    let mut want = vec![a4.clone(), a6.clone()];
    want.sort_by_key(|a| a.parse::<std::net::IpAddr>().unwrap());
    assert_eq!(srcs(&all), want, "ordered by address");
    let one = json(&lab, &format!("/api/v1/sources/{a4}"));
    assert_eq!(one["src"], a4.as_str());
    assert_eq!(one["family"], "linux");
    assert_eq!(one["os"][0]["label"], first_label.as_str());
    assert_eq!(one["scan_active"], false);
    // Pagination: one per page, `next` leads to the second, then no more.
    let p1 = json(&lab, "/api/v1/sources?limit=1");
    assert_eq!(srcs(&p1), want[..1], "{p1}");
    assert_eq!(p1["next"], want[0].as_str());
    let p2 = json(&lab, &format!("/api/v1/sources?limit=1&after={}", want[0]));
    assert_eq!(srcs(&p2), want[1..], "{p2}");
    assert_eq!(p2["next"], Value::Null);
    // Filters.
    assert_eq!(srcs(&json(&lab, "/api/v1/sources?family=linux")), want);
    assert_eq!(json(&lab, "/api/v1/sources?family=windows")["total"], 0);
    assert_eq!(json(&lab, "/api/v1/sources?unknown=true")["total"], 0);
    assert_eq!(
        json(&lab, "/api/v1/sources?unknown=false&scanning=false")["total"],
        2
    );
    // Bad requests: a clear error each.
    for (path, code, text) in [
        (
            "/api/v1/sources/10.0.0.300",
            400,
            "not an IPv4 or IPv6 address",
        ),
        ("/api/v1/sources/192.0.2.1", 404, "no source 192.0.2.1"),
        (
            "/api/v1/sources?family=plan9",
            400,
            "expected one of windows",
        ),
        ("/api/v1/sources?limit=0", 400, "expected 1 to 1000"),
        ("/api/v1/sources?after=nowhere", 400, "not an IP address"),
        ("/api/v1/sources?scaning=true", 400, "unknown parameter"),
        ("/api/v2/sources", 404, "no such endpoint"),
    ] {
        let (c, body) = http(&lab, path);
        assert_eq!(c, code, "{path}: {body}");
        let e: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
        assert!(
            e["error"].as_str().unwrap().contains(text),
            "{path}: {body}"
        );
    }
    assert_eq!(http(&lab, "/healthz"), (200, "ok\n".to_string()));
    let ready = json(&lab, "/readyz");
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["interfaces"][0], lab.veth_b.as_str());

    // Log rotation, then SIGHUP with a bad database: refused with its location, the
    // running one stays; the log is reopened all the same.
    std::fs::rename(&log, dir.0.join("events.ndjson.1")).unwrap();
    dir.write(
        "bad.fp",
        "classes = win,unix\n[tcp:request]\nlabel = s:unix:Linux:x\nsig = *:64:0:*:mss*10,7:mss,sok,bogus:df:0\n",
    );
    dir.write("osfp.toml", &format!("{good}db = \"bad.fp\"\n"));
    sensor.signal(libc::SIGHUP);
    let err = sensor.wait_stderr(Duration::from_secs(5), "reload refused");
    assert!(err.contains("reload refused"), "{err}");
    let at = format!(
        "{}:4:33: unknown TCP option: bogus",
        dir.0.join("bad.fp").display()
    );
    assert!(err.contains(&at), "{err}");
    assert_eq!(
        wait_metric(&lab, "osfp_config_last_reload_successful", 0.0),
        Some(0.0)
    );
    assert!(log.exists(), "reopened although the reload was refused");
    // Still fingerprinting with the old database.
    connect_from_ns(&lab, &lab.ns_a, SocketAddr::new(lab.b4, 8081), |_| Ok(())).unwrap();
    let recs = sensor.wait_for(Duration::from_secs(5), |r| {
        r.iter().any(|x| x["kind"] == "syn" && x["dport"] == 8081)
    });
    let r = recs
        .iter()
        .find(|x| x["kind"] == "syn" && x["dport"] == 8081)
        .unwrap();
    assert_eq!(r["os"]["label"], first_label.as_str(), "{r}");

    // SIGHUP with malformed TOML: refused with its location.
    dir.write("osfp.toml", "ring-mib = [\n");
    sensor.signal(libc::SIGHUP);
    let err = sensor.wait_stderr(Duration::from_secs(5), "osfp.toml:1:");
    assert!(err.contains(&format!("{}:1:", cfg.display())), "{err}");
    assert_eq!(json(&lab, "/readyz")["ready"], true, "still serving");

    // A good reload: p0f's database, a restart-only key changed.
    dir.write(
        "osfp.toml",
        &format!("{good}db = \"/etc/p0f/p0f.fp\"\nring-mib = 16\n"),
    );
    sensor.signal(libc::SIGHUP);
    let err = sensor.wait_stderr(Duration::from_secs(5), "osfp: reloaded");
    assert!(
        err.contains("osfp: reloaded: database /etc/p0f/p0f.fp"),
        "{err}"
    );
    assert!(
        err.contains("ring-mib changed; it takes effect at the next restart"),
        "{err}"
    );
    assert_eq!(
        wait_metric(&lab, "osfp_config_last_reload_successful", 1.0),
        Some(1.0)
    );
    assert!(log.exists(), "the event log is reopened by name");
    connect_from_ns(&lab, &lab.ns_a, SocketAddr::new(lab.b4, 8082), |_| Ok(())).unwrap();
    let ev = wait_events(&log, |e| verdict_for(e, &a4).is_some());
    let v = verdict_for(&ev, &a4).unwrap_or_else(|| panic!("{ev:#?}\n{}", sensor.stderr()));
    assert_eq!(v["dport"], 8082, "{v}");
    assert_eq!(v["os"]["family"], "linux", "{v}");
    assert_ne!(v["os"]["label"], first_label.as_str(), "p0f's label: {v}");
    // The table kept the earlier verdicts across the reload.
    let one = json(&lab, &format!("/api/v1/sources/{a4}"));
    assert_eq!(one["packets"], 3, "{one}");
    let old = events(&dir.0.join("events.ndjson.1"));
    assert_eq!(
        old.iter().filter(|e| e["event"] == "verdict").count(),
        2,
        "{old:#?}"
    );

    let (status, err) = sensor.stop().unwrap();
    assert!(status.success(), "{err}");
    drop(stops);
}

#[test]
fn shipped_configuration_is_valid() {
    let p = osfp_tests::workspace_root().join("deploy/config/osfp.toml");
    let c = osfp::daemon::config::load(Some(&p), &osfp::daemon::config::Settings::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.records, osfp::daemon::config::Records::Off);
    assert_eq!(c.attach.listen, Some("127.0.0.1:9184".parse().unwrap()));
    assert_eq!(
        c.event_log,
        Some(osfp::export::eventlog::LogTarget::File(
            "/var/log/osfp/events.ndjson".into()
        ))
    );
}

/// One sensor on two interfaces: every kernel counter is kept per interface, and the
/// records name their interface.
#[test]
fn counters_per_interface() {
    if !privileged("counters_per_interface") {
        return;
    }
    let lab = Lab::new().unwrap();
    // `lo` of the sensor's namespace is the second interface: local connections cross it.
    let sensor = Sensor::start(&lab.ns_b, &lab.veth_b, "skb", &["--iface", "lo"]).unwrap();
    assert!(
        sensor.stderr().contains("attached to lo"),
        "{}",
        sensor.stderr()
    );
    // The memory bound, printed before attaching: both interfaces' 8 MiB rings.
    let bound = sensor
        .stderr()
        .lines()
        .find(|l| l.starts_with("osfp: memory bound at these caps: source table "))
        .map(str::to_string);
    assert!(
        bound
            .as_deref()
            .is_some_and(|l| l.ends_with(", ring buffers 16 MiB")),
        "{}",
        sensor.stderr()
    );
    let stops = [
        listen_in_ns(&lab.ns_b, SocketAddr::new(lab.b4, 8080), |_| Ok(())).unwrap(),
        listen_in_ns(&lab.ns_b, "127.0.0.1:8081".parse().unwrap(), |_| Ok(())).unwrap(),
    ];
    for _ in 0..3 {
        connect_from_ns(&lab, &lab.ns_a, SocketAddr::new(lab.b4, 8080), |_| Ok(())).unwrap();
    }
    for _ in 0..2 {
        connect_from_ns(&lab, &lab.ns_b, "127.0.0.1:8081".parse().unwrap(), |_| {
            Ok(())
        })
        .unwrap();
    }
    let syns = |r: &[Value], port: u16| {
        r.iter()
            .filter(|x| x["kind"] == "syn" && x["dport"] == port)
            .count()
    };
    let recs = sensor.wait_for(Duration::from_secs(5), |r| {
        syns(r, 8080) == 3 && syns(r, 8081) == 2
    });
    assert_eq!((syns(&recs, 8080), syns(&recs, 8081)), (3, 2), "{recs:#?}");
    let ifindex = |name: &str| {
        lab.exec(&lab.ns_b, &format!("cat /sys/class/net/{name}/ifindex"))
            .unwrap()
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    let on = |port: u16| -> Vec<u64> {
        recs.iter()
            .filter(|x| x["kind"] == "syn" && x["dport"] == port)
            .map(|x| x["ifindex"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(on(8080), vec![ifindex(&lab.veth_b); 3]);
    assert_eq!(on(8081), vec![ifindex("lo"); 2]);
    // The lab's SYNs arrive on vb only (its SYN-ACKs leave by vb: XDP sees arrivals).
    // Local connections cross lo both ways, so lo counts each SYN and its SYN-ACK; our
    // own metric scrapes are local connections too, hence at least 2.
    let sel = |text: &str, iface: &str, reason: &str| {
        let s = format!("osfp_packets_selected_total{{iface=\"{iface}\",reason=\"{reason}\"}}");
        metric(text, &s).unwrap_or_else(|| panic!("no {s} in {text}"))
    };
    let vb = lab.veth_b.as_str();
    let end = Instant::now() + Duration::from_secs(5);
    let text = loop {
        let t = http(&lab, "/metrics").1;
        if (sel(&t, vb, "syn") == 3.0 && sel(&t, "lo", "syn") >= 2.0) || Instant::now() > end {
            break t;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(sel(&text, vb, "syn"), 3.0, "{text}");
    assert_eq!(sel(&text, vb, "synack"), 0.0, "{text}");
    let lo_syn = sel(&text, "lo", "syn");
    assert!(lo_syn >= 2.0, "{text}");
    assert_eq!(sel(&text, "lo", "synack"), lo_syn, "{text}");
    let seen = |i: &str| metric(&text, &format!("osfp_packets_seen_total{{iface=\"{i}\"}}"));
    assert!(
        seen(vb).unwrap() >= 6.0 && seen("lo").unwrap() >= 4.0,
        "{text}"
    );
    drop(stops);
    sensor.stop().unwrap();
}

/// A reader of stdout that never reads: records go through a writer thread and a bounded
/// queue, so the sensor keeps consuming, serving /metrics and answering signals; what
/// did not fit is counted.
#[test]
fn unread_stdout_does_not_stall_the_sensor() {
    if !privileged("unread_stdout_does_not_stall_the_sensor") {
        return;
    }
    let lab = Lab::new().unwrap();
    // 20,000 SYNs: about 14 MB of JSON lines, far beyond the pipe.
    let text = with_unread_stdout(&lab, &["--json"], 1, |i| (lab.a4, 10_000 + i));
    let dropped = metric(&text, "osfp_records_output_dropped_total").unwrap();
    assert!(dropped < N as f64, "{text}");
}

/// The same for the event log on stdout: 20,000 new sources, a verdict line each (about
/// 6 MB), through the same writer thread; the lines that did not fit are counted. A
/// blocking writer stalls at the pipe's 64 KiB: no more records counted, no /metrics.
#[test]
fn unread_stdout_event_log_does_not_stall_the_sensor() {
    if !privileged("unread_stdout_event_log_does_not_stall_the_sensor") {
        return;
    }
    let lab = Lab::new().unwrap();
    // Flood detection off: it would hold back the verdict lines of one-SYN sources.
    let args = ["--records=off", "--event-log=-", "--scan=syn_flood_rate=0"];
    // In 400 rounds of 50, each its own batch: more batches than the queue holds, so
    // some are dropped whatever the pipe takes.
    let text = with_unread_stdout(&lab, &args, 400, |i| {
        let src = std::net::Ipv4Addr::new(198, 18, (i >> 8) as u8, i as u8);
        (src.into(), 40_000)
    });
    let logged: f64 = ["verdict", "unknown_fingerprint"]
        .iter()
        .filter_map(|k| metric(&text, &format!("osfp_events_logged_total{{event=\"{k}\"}}")))
        .sum();
    assert_eq!(logged, N as f64, "a line per new source\n{text}");
    let dropped = metric(&text, "osfp_event_log_dropped_total").unwrap();
    eprintln!("event log lines dropped: {dropped} of {N}");
    assert!(dropped > 0.0 && dropped < N as f64, "{text}");
}

/// SYNs the unread-stdout tests send.
const N: u16 = 20_000;

/// Kills the sensor if a test fails before it ended.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `osfp run ARGS` on the lab's veth with a stdout nobody reads, fed [`N`] SYNs (SYN `i`
/// from `src(i)`, an address and port) in `rounds` 20 ms apart: /metrics once every
/// record is counted. Then SIGTERM must still end the sensor cleanly.
fn with_unread_stdout(
    lab: &Lab,
    args: &[&str],
    rounds: usize,
    src: impl Fn(u16) -> (IpAddr, u16),
) -> String {
    let mut child = Child(
        Command::new("ip")
            .args(["netns", "exec", &lab.ns_b])
            .arg(osfp_bin())
            .args(["run", "--iface", &lab.veth_b, "--xdp-mode", "skb"])
            .args(args)
            .stdout(std::process::Stdio::piped()) // never read: the pipe fills at 64 KiB
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Attached once /metrics answers.
    let end = Instant::now() + Duration::from_secs(20);
    while http_get_in_ns(lab, &lab.ns_b, 9184, "/metrics").is_err() {
        assert!(Instant::now() < end, "the sensor did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let dst_mac = lab.mac(&lab.ns_b, "vb").unwrap();
    let src_mac = lab.mac(&lab.ns_a, "va").unwrap();
    let frames: Vec<Vec<u8>> = (0..N)
        .map(|i| {
            let (a, port) = src(i);
            osfp_tests::craft::TcpFrame::syn(a, lab.b4, port, 80).frame_with_macs(dst_mac, src_mac)
        })
        .collect();
    for round in frames.chunks(frames.len().div_ceil(rounds)) {
        lab.send_frames(&lab.ns_a, "va", round.to_vec()).unwrap();
        if rounds > 1 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let end = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let t = http(lab, "/metrics").1;
        if metric(&t, "osfp_records_total") == Some(N as f64) || Instant::now() > end {
            break t;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        metric(&text, "osfp_records_total"),
        Some(N as f64),
        "{text}"
    );
    // Still answering signals: SIGTERM ends it although stdout is still not read.
    // SAFETY: signalling our own child (`ip netns exec` execs osfp in place).
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    let end = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > end {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.is_some_and(|s| s.success()),
        "no clean exit within 10 s with stdout unread: {status:?}"
    );
    text
}
