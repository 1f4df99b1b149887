//! End to end with real parts: the real Prometheus server (Debian package) scrapes the
//! sensor attached in a namespace lab and evaluates the shipped alerting rules; real
//! Linux connections, a real nmap SYN scan and crafted SYNs that match no signature are
//! sent; Prometheus's HTTP API must then show OsfpUnknownOsSeen and OsfpScanInProgress
//! firing and OsfpSensorDown not, and the sensor's API must name the scanner and the
//! unknown source.

use std::{
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use osfp_tests::craft::stacks;
use osfp_tests::{
    connect_from_ns, http_get_in_ns, listen_in_ns, privileged, workspace_root, Lab, Sensor,
};
use serde_json::Value;

// Both listen on 127.0.0.1 of the lab's own namespace, so these ports are always free.
const SENSOR_PORT: u16 = 9184;
const PROM_PORT: u16 = 9090;

/// Prometheus in the sensor's namespace (so it scrapes 127.0.0.1 there); killed on drop.
struct Prometheus {
    child: Child,
    dir: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The shipped rules with every `for:` cut to 2s, so that the test takes seconds instead
/// of the 1-5 minutes the rules wait in production. The expressions are kept exactly as
/// shipped (their windows and thresholds are what is under test).
fn rules_with_short_for(shipped: &Path) -> String {
    let text = std::fs::read_to_string(shipped).unwrap();
    let alerts = text.matches("- alert:").count();
    let mut cut = 0;
    let out: Vec<String> = text
        .lines()
        .map(|l| match l.trim_start().strip_prefix("for: ") {
            Some(_) => {
                cut += 1;
                format!("{}for: 2s", &l[..l.len() - l.trim_start().len()])
            }
            None => l.to_string(),
        })
        .collect();
    assert!(alerts >= 6, "{alerts} alerts in {}", shipped.display());
    assert_eq!(cut, alerts, "every alert has one `for:` line");
    out.join("\n") + "\n"
}

fn start_prometheus(lab: &Lab) -> Prometheus {
    let dir = std::env::temp_dir().join(format!("osfp-prom-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rules = rules_with_short_for(&workspace_root().join("deploy/prometheus/osfp-alerts.yml"));
    std::fs::write(dir.join("osfp-alerts.yml"), rules).unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: osfp\n    static_configs:\n      \
             - targets: [\"127.0.0.1:{SENSOR_PORT}\"]\n",
            dir.join("osfp-alerts.yml").display()
        ),
    )
    .unwrap();
    let out = Command::new("promtool")
        .arg("check")
        .arg("config")
        .arg(dir.join("prometheus.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check config: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let child = Command::new("ip")
        .args(["netns", "exec", &lab.ns_b, "prometheus"])
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{PROM_PORT}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn prometheus");
    Prometheus { child, dir }
}

/// GET from Prometheus's HTTP API in the lab; the JSON body.
fn prom_api(lab: &Lab, path: &str) -> Option<Value> {
    let resp = http_get_in_ns(lab, &lab.ns_b, PROM_PORT, path).ok()?;
    let (_, body) = resp.split_once("\r\n\r\n")?;
    serde_json::from_str(body).ok()
}

/// Active alerts: (alertname, state) pairs.
fn alerts(lab: &Lab) -> Vec<(String, String)> {
    prom_api(lab, "/api/v1/alerts")
        .and_then(|v| v["data"]["alerts"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|a| {
            (
                a["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                a["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn wait(what: &str, timeout: Duration, mut f: impl FnMut() -> bool, diag: impl Fn() -> String) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(
            Instant::now() < end,
            "timed out waiting for {what}\n{}",
            diag()
        );
        thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn prometheus_fires_unknown_os_and_scan_alerts() {
    if !privileged("prometheus_fires_unknown_os_and_scan_alerts") {
        return;
    }
    for tool in ["prometheus", "promtool", "nmap"] {
        if osfp_tests::sh(&format!("command -v {tool}")).is_err() {
            osfp_tests::cannot_run(&format!(
                "prometheus_fires_unknown_os_and_scan_alerts: `{tool}` not installed \
                 (scripts/setup.sh installs it)"
            ));
            return;
        }
    }
    let t0 = Instant::now();
    let lab = Lab::new().unwrap();
    let sensor = Sensor::start(
        &lab.ns_b,
        &lab.veth_b,
        "skb",
        &["--listen", &format!("127.0.0.1:{SENSOR_PORT}")],
    )
    .unwrap();
    let prom = start_prometheus(&lab);
    let prom_log = || std::fs::read_to_string(prom.dir.join("prometheus.log")).unwrap_or_default();

    // Traffic must come after a first scrape: increase() needs a sample before the change.
    wait(
        "Prometheus to scrape the sensor (up{job=\"osfp\"} == 1)",
        Duration::from_secs(30),
        || {
            prom_api(&lab, "/api/v1/query?query=up")
                .and_then(|v| v["data"]["result"].as_array().cloned())
                .is_some_and(|r| {
                    r.iter()
                        .any(|s| s["metric"]["job"] == "osfp" && s["value"][1] == "1")
                })
        },
        prom_log,
    );
    assert!(alerts(&lab)
        .iter()
        .all(|(n, _)| n != "OsfpUnknownOsSeen" && n != "OsfpScanInProgress"));

    // Real Linux connections (IPv6, so that the scanner's IPv4 address is only a scanner).
    let to = SocketAddr::new(lab.b6, 8080);
    let stop = listen_in_ns(&lab.ns_b, to, |_| Ok(())).unwrap();
    for _ in 0..3 {
        connect_from_ns(&lab, &lab.ns_a, to, |_| Ok(())).unwrap();
    }
    // Crafted SYNs that match no signature, from an address of the client's subnet.
    let IpAddr::V4(a4) = lab.a4 else {
        unreachable!()
    };
    let o = a4.octets();
    let unknown_src = IpAddr::from([o[0], o[1], o[2], 77]);
    let frames = (0..3)
        .map(|i| stacks::unknown_stack(unknown_src, lab.b4, 40000 + i, 443).frame())
        .collect();
    lab.send_frames(&lab.ns_a, &lab.veth_a, frames).unwrap();
    // A real nmap SYN scan from the client's own address.
    let st = Command::new("ip")
        .args([
            "netns", "exec", &lab.ns_a, "nmap", "-n", "-Pn", "-sS", "-T5",
        ])
        .args(["--max-retries", "0", "-p", "1-200"])
        .arg(lab.b4.to_string())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "nmap: {st}");
    drop(stop);

    // The sensor saw what was sent (so a missing alert below is Prometheus's side).
    let unknown_s = unknown_src.to_string();
    let (a4s, a6s) = (lab.a4.to_string(), lab.a6.to_string());
    let recs = sensor.wait_for(Duration::from_secs(10), |r| {
        r.iter()
            .any(|x| x["event"] == "scan" && x["src"] == a4s.as_str())
            && r.iter().any(|x| x["src"] == unknown_s.as_str())
    });
    let unknown_syns: Vec<&Value> = recs
        .iter()
        .filter(|r| r["kind"] == "syn" && r["src"] == unknown_s.as_str())
        .collect();
    assert_eq!(unknown_syns.len(), 3, "{}", sensor.stderr());
    assert!(unknown_syns.iter().all(|r| r["os"]["match"] == "unknown"));
    assert!(recs
        .iter()
        .any(|r| r["kind"] == "syn" && r["src"] == a6s.as_str() && r["os"]["family"] == "linux"));
    assert!(
        recs.iter()
            .any(|r| r["event"] == "scan" && r["src"] == a4s.as_str()),
        "no scan event from {a4s}"
    );

    // The shipped rules, evaluated by Prometheus over what it scraped.
    let firing =
        |lab: &Lab, name: &str| alerts(lab).iter().any(|(n, s)| n == name && s == "firing");
    let t_alerts = Instant::now();
    wait(
        "OsfpUnknownOsSeen and OsfpScanInProgress firing",
        Duration::from_secs(60),
        || firing(&lab, "OsfpUnknownOsSeen") && firing(&lab, "OsfpScanInProgress"),
        || format!("alerts: {:?}\n{}", alerts(&lab), prom_log()),
    );
    eprintln!(
        "alerts firing {:.1?} after the traffic ({:.1?} since start)",
        t_alerts.elapsed(),
        t0.elapsed()
    );
    let active = alerts(&lab);
    for quiet in [
        "OsfpSensorDown",
        "OsfpSensorAbsent",
        "OsfpRingbufDrops",
        "OsfpConfigReloadFailed",
    ] {
        assert!(
            active.iter().all(|(n, _)| n != quiet),
            "{quiet} active: {active:?}"
        );
    }
    drop(prom);

    // The sensor's API names the hosts behind the alerts.
    let sources = |query: &str| -> Vec<String> {
        let r = http_get_in_ns(
            &lab,
            &lab.ns_b,
            SENSOR_PORT,
            &format!("/api/v1/sources?{query}"),
        )
        .unwrap();
        let body: Value = serde_json::from_str(r.split_once("\r\n\r\n").unwrap().1)
            .unwrap_or_else(|e| panic!("{query}: {e}: {r}"));
        let list = body["sources"].as_array().unwrap();
        assert_eq!(body["total"], list.len(), "{query}: one page: {body}");
        list.iter()
            .map(|s| s["src"].as_str().unwrap().to_string())
            .collect()
    };
    let scanning = sources("scanning=true");
    assert!(scanning.contains(&a4s), "scanner {a4s} not in {scanning:?}");
    assert!(!scanning.contains(&unknown_s), "{scanning:?}");
    let unknown = sources("unknown=true");
    assert!(
        unknown.contains(&unknown_s),
        "{unknown_s} not in {unknown:?}"
    );
    assert!(
        !unknown.contains(&a4s) && !unknown.contains(&a6s),
        "{unknown:?}"
    );
    let r = http_get_in_ns(
        &lab,
        &lab.ns_b,
        SENSOR_PORT,
        &format!("/api/v1/sources/{unknown_s}"),
    )
    .unwrap();
    let one: Value = serde_json::from_str(r.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(one["src"], unknown_s.as_str(), "{one}");
    assert_eq!(one["os"][0]["match"], "unknown", "{one}");
    assert_eq!(one["os"][0]["count"], 3, "{one}");

    let (status, err) = sensor.stop().unwrap();
    assert!(status.success(), "sensor: {err}");
}
