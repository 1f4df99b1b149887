//! `cargo xtask demo`: a network-namespace lab with the sensor attached, real Linux
//! connections, crafted Windows 11 / macOS / unknown SYNs and an nmap SYN scan, then a
//! short report of verdicts, scans and metrics. Everything it creates is removed on exit,
//! on error and on Ctrl-C (namespaces by their fixed names, processes by their ids).

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    net::{IpAddr, SocketAddr, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use osfp_tests::craft::stacks;
use osfp_tests::{http_get_netns, in_netns, send_frames, sh};
use serde_json::Value;

/// The sensor's namespace and one namespace per kind of client, each on its own veth
/// pair (a real link per client, so the sensor watches three interfaces).
const SERVER: &str = "osfpdemo-server";
struct Client {
    ns: &'static str,
    /// The veth end in the server namespace (where the sensor attaches).
    link: &'static str,
    /// 10.77.N.1 is the server's side, 10.77.N.2 the client's.
    net: u8,
}
const CLIENTS: [Client; 3] = [
    Client {
        ns: "osfpdemo-linux",
        link: "linux0",
        net: 1,
    },
    Client {
        ns: "osfpdemo-crafted",
        link: "crafted0",
        net: 2,
    },
    Client {
        ns: "osfpdemo-scanner",
        link: "scan0",
        net: 3,
    },
];
const METRICS_PORT: u16 = 9184;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn check_stop() -> Result<()> {
    if STOP.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}

pub fn run(keep: bool, release: bool) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "the demo needs root (network namespaces, XDP attach): run `sudo -E cargo xtask demo`"
        );
    }
    for tool in ["ip", "nmap", "python3"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            bail!("the demo needs `{tool}` (scripts/setup.sh installs it)");
        }
    }
    let t0 = Instant::now();
    let bin = build(release)?;
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let mut lab = DemoLab::create()?;
    let result = lab.play(&bin, keep);
    let ran = t0.elapsed();
    drop(lab);
    println!("\nlab removed (namespaces {SERVER}, osfpdemo-*); demo took {ran:.1?}");
    result
}

/// Builds the `osfp` binary and returns its path. Debug by default: it shares the build
/// `cargo test` makes, the XDP program inside is optimised either way, and a demo's few
/// hundred packets need no optimised userspace.
fn build(release: bool) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let profile = if release { "release" } else { "debug" };
    println!(
        "building osfp ({profile}{}) ...",
        if release {
            ""
        } else {
            "; the XDP program is optimised anyway, --release for an optimised userspace"
        }
    );
    let mut cmd = Command::new(&cargo);
    cmd.args(["build", "--quiet", "-p", "osfp-userspace", "--bin", "osfp"]);
    if release {
        cmd.arg("--release");
    }
    if !cmd.status()?.success() {
        bail!("cargo build failed");
    }
    let meta = Command::new(&cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()?;
    let meta: Value = serde_json::from_slice(&meta.stdout).context("cargo metadata")?;
    let dir = meta["target_directory"]
        .as_str()
        .context("cargo metadata: no target_directory")?;
    let bin = PathBuf::from(dir).join(profile).join("osfp");
    if !bin.exists() {
        bail!("{} missing after the build", bin.display());
    }
    Ok(bin)
}

fn server_addr(net: u8) -> IpAddr {
    IpAddr::from([10, 77, net, 1])
}

struct DemoLab {
    children: Vec<Child>,
    records: Arc<Mutex<Vec<Value>>>,
    sensor_err: Arc<Mutex<String>>,
}

impl DemoLab {
    fn create() -> Result<DemoLab> {
        // A lab left over by a killed run would make `ip netns add` fail.
        remove_namespaces();
        let mut cmds = vec![format!(
            "ip netns add {SERVER} && ip -n {SERVER} link set lo up"
        )];
        for c in &CLIENTS {
            let (ns, link, n) = (c.ns, c.link, c.net);
            cmds.push(format!(
                "ip netns add {ns} && ip -n {ns} link set lo up && \
                 ip link add eth0 netns {ns} type veth peer name {link} netns {SERVER} && \
                 ip -n {SERVER} addr add 10.77.{n}.1/24 dev {link} && \
                 ip -n {ns} addr add 10.77.{n}.2/24 dev eth0 && \
                 ip -n {SERVER} addr add fd77:{n}::1/64 dev {link} nodad && \
                 ip -n {ns} addr add fd77:{n}::2/64 dev eth0 nodad && \
                 ip -n {SERVER} link set {link} up && ip -n {ns} link set eth0 up"
            ));
        }
        let lab = DemoLab {
            children: Vec::new(),
            records: Arc::default(),
            sensor_err: Arc::default(),
        };
        for c in cmds {
            sh(&c).context("creating the demo namespaces")?;
        }
        Ok(lab)
    }

    fn play(&mut self, bin: &PathBuf, keep: bool) -> Result<()> {
        println!(
            "lab: namespace {SERVER} (the sensor, an HTTP server on port 80) joined by a veth \
             pair each to {}, {} and {}",
            CLIENTS[0].ns, CLIENTS[1].ns, CLIENTS[2].ns
        );
        self.start_sensor(bin)?;
        check_stop()?;
        self.start_http_server()?;
        check_stop()?;

        // 1. Real connections from the Linux stack of the client namespace.
        let linux = &CLIENTS[0];
        let mut ok = 0;
        for to in [server_addr(linux.net), "fd77:1::1".parse()?] {
            for _ in 0..2 {
                let r = http_get_netns(linux.ns, SocketAddr::new(to, 80), "/")?;
                ok += r.starts_with("HTTP/1.0 200") as u32;
            }
        }
        println!(
            "traffic: 4 HTTP GETs (IPv4, IPv6) from {}: {ok} answered 200",
            linux.ns
        );
        check_stop()?;

        // 2. Crafted SYNs from three made-up hosts behind the crafted client's link.
        let crafted = &CLIENTS[1];
        let dst = server_addr(crafted.net);
        let shapes: [(&str, stacks::Shape); 3] = [
            ("Windows 11", stacks::windows11),
            ("macOS", stacks::macos),
            ("an unknown stack", stacks::unknown_stack),
        ];
        let mut frames = Vec::new();
        for (i, (name, shape)) in shapes.iter().enumerate() {
            let src = IpAddr::from([10, 77, crafted.net, 11 + i as u8]);
            for k in 0..3u16 {
                frames.push(
                    shape(
                        src,
                        dst,
                        49152 + 10 * i as u16 + k,
                        [443, 80, 8443][k as usize],
                    )
                    .frame(),
                );
            }
            println!("traffic: 3 crafted SYNs shaped like {name} from {src}");
        }
        send_frames(crafted.ns, "eth0", frames)?;
        check_stop()?;

        // 3. A real nmap SYN scan.
        let scanner = &CLIENTS[2];
        let target = server_addr(scanner.net);
        println!(
            "traffic: nmap -sS -T5 -p 1-300 {target} from {} ...",
            scanner.ns
        );
        let t = Instant::now();
        let out = Command::new("ip")
            .args([
                "netns", "exec", scanner.ns, "nmap", "-n", "-Pn", "-sS", "-T5",
            ])
            .args(["--max-retries", "0", "-p", "1-300"])
            .arg(target.to_string())
            .output()?;
        check_stop()?;
        if !out.status.success() {
            bail!("nmap failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        for l in String::from_utf8_lossy(&out.stdout).lines() {
            if l.contains("/tcp") || l.starts_with("Nmap done") {
                println!("  nmap: {l}");
            }
        }
        println!("  ({:.1?})", t.elapsed());

        // The sensor refreshes its table gauges (scanners, sources) every 15 s.
        println!("waiting for the sensor's table refresh (at most 20 s) ...");
        let metrics_at = SocketAddr::from(([127, 0, 0, 1], METRICS_PORT));
        let deadline = Instant::now() + Duration::from_secs(20);
        let metrics = loop {
            check_stop()?;
            let text = http_get_netns(SERVER, metrics_at, "/metrics")?;
            if sum(&text, "osfp_scanners_active") > 0.0 || Instant::now() > deadline {
                break text;
            }
            thread::sleep(Duration::from_millis(500));
        };
        let api = http_get_netns(SERVER, metrics_at, "/api/v1/sources?limit=1000")?;
        let api: Value = api
            .split_once("\r\n\r\n")
            .and_then(|(_, body)| serde_json::from_str(body).ok())
            .with_context(|| format!("bad answer from /api/v1/sources: {api}"))?;
        self.report(&metrics, &api);

        if keep {
            println!(
                "\nThe lab stays up until Ctrl-C. Try:\n  \
                 ip netns exec {SERVER} curl -s 127.0.0.1:{METRICS_PORT}/metrics | grep -v '^#'\n  \
                 ip netns exec {SERVER} curl -s '127.0.0.1:{METRICS_PORT}/api/v1/sources?unknown=true'\n  \
                 ip netns exec {SERVER} curl -s 127.0.0.1:{METRICS_PORT}/api/v1/sources/10.77.3.2\n  \
                 ip netns exec {} curl -s -o /dev/null http://10.77.1.1/   # a Linux SYN\n  \
                 ip netns exec {} nmap -sF -p 1-50 10.77.3.1          # a FIN scan\n  \
                 ip netns exec {SERVER} bpftool net show                   # the XDP program\n\
                 The sensor's JSON records go to stdout of this command from now on.",
                CLIENTS[0].ns, CLIENTS[2].ns
            );
            let mut shown = self.records.lock().unwrap().len();
            while !STOP.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(200));
                let recs = self.records.lock().unwrap();
                for r in &recs[shown..] {
                    println!("{r}");
                }
                shown = recs.len();
            }
        }
        Ok(())
    }

    fn start_sensor(&mut self, bin: &PathBuf) -> Result<()> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", SERVER])
            .arg(bin)
            .args(["run", "--json"]);
        for c in &CLIENTS {
            cmd.args(["--iface", c.link]);
        }
        cmd.args(["--listen", &format!("127.0.0.1:{METRICS_PORT}")]);
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
        let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        self.children.push(child);
        let recs = self.records.clone();
        thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line) {
                    recs.lock().unwrap().push(v);
                }
            }
        });
        let (tx, rx) = mpsc::channel();
        let log = self.sensor_err.clone();
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if line.contains("attached to") {
                    let _ = tx.send(line.clone());
                }
                log.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        for _ in &CLIENTS {
            match rx.recv_timeout(Duration::from_secs(20)) {
                Ok(line) => println!("sensor: {line}"),
                Err(_) => bail!(
                    "the sensor did not attach:\n{}",
                    self.sensor_err.lock().unwrap()
                ),
            }
        }
        Ok(())
    }

    fn start_http_server(&mut self) -> Result<()> {
        let child = Command::new("ip")
            .args(["netns", "exec", SERVER, "python3", "-m", "http.server"])
            .args(["--bind", "::", "80"])
            .current_dir(std::env::temp_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.children.push(child);
        let to = SocketAddr::new(server_addr(1), 80);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !in_netns(SERVER, move || TcpStream::connect(to).is_ok()).unwrap_or(false) {
            if Instant::now() > deadline {
                bail!("python3 -m http.server did not start in {SERVER}");
            }
            thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    fn report(&self, metrics: &str, api: &Value) {
        // Scan kinds as they started (the API lists a scan under `scans` once it ended;
        // while it runs, the source has `scan_active`).
        let mut started: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in self.records.lock().unwrap().iter() {
            if r["event"] == "scan" && r["phase"] == "start" {
                let tool = r["tool"]
                    .as_str()
                    .map(|t| format!(" by {t}"))
                    .unwrap_or_default();
                started
                    .entry(r["src"].as_str().unwrap_or("?").to_string())
                    .or_default()
                    .push(format!("{}{tool}", r["kind"].as_str().unwrap_or("?")));
            }
        }
        let empty = Vec::new();
        let sources = api["sources"].as_array().unwrap_or(&empty);
        println!(
            "\n=== sources (GET /api/v1/sources: {} tracked) ===",
            api["total"]
        );
        println!(
            "{:<12} {:<8} {:>7}  verdicts (label xcount match)",
            "source", "family", "packets"
        );
        for s in sources {
            let v: Vec<String> = s["os"]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .map(|o| {
                    let label = o["label"].as_str().unwrap_or("unknown OS");
                    let tool = if o["tool"] == true { " (tool)" } else { "" };
                    format!(
                        "{label}{tool} x{} {}",
                        o["count"],
                        o["match"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            println!(
                "{:<12} {:<8} {:>7}  {}",
                s["src"].as_str().unwrap_or("?"),
                s["family"].as_str().unwrap_or("?"),
                s["packets"].as_u64().unwrap_or(0),
                v.join("; ")
            );
        }
        println!("\n=== scans (the API's scan_active and ended scans; kinds from scan events) ===");
        let mut any = false;
        for s in sources {
            let ended = s["scans"].as_array().map_or(0, |v| v.len());
            if s["scan_active"] == true || ended > 0 {
                any = true;
                let src = s["src"].as_str().unwrap_or("?");
                let kinds = started.get(src).map_or("?".into(), |k| k.join(", "));
                println!(
                    "{src:<12} {kinds}: {} now, {ended} ended",
                    if s["scan_active"] == true {
                        "active"
                    } else {
                        "not active"
                    }
                );
            }
        }
        if !any {
            println!("(none detected)");
        }
        println!("\n=== /metrics (non-zero samples of the main series) ===");
        const SHOWN: [&str; 8] = [
            "osfp_packets_selected_total",
            "osfp_records_total",
            "osfp_ringbuf_dropped_total",
            "osfp_verdicts_total",
            "osfp_unknown_fingerprints_total",
            "osfp_sources",
            "osfp_scan_events_total",
            "osfp_scanners_active",
        ];
        for l in metrics.lines().filter(|l| !l.starts_with('#')) {
            let name = l.split(['{', ' ']).next().unwrap_or("");
            let zero = l.rsplit(' ').next() == Some("0");
            if SHOWN.contains(&name) && !zero {
                println!("  {l}");
            }
        }
        let dropped = sum(metrics, "osfp_ringbuf_dropped_total");
        if dropped > 0.0 {
            println!("  ({dropped} records dropped: ring buffer full)");
        }
    }
}

/// The sum of every sample of metric `name` in a Prometheus text exposition.
fn sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b' ' | b'{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn remove_namespaces() {
    for ns in std::iter::once(SERVER).chain(CLIENTS.iter().map(|c| c.ns)) {
        if std::path::Path::new("/var/run/netns").join(ns).exists() {
            let _ = sh(&format!("ip netns del {ns}"));
        }
    }
}

impl Drop for DemoLab {
    fn drop(&mut self) {
        for c in &mut self.children {
            // SAFETY: signalling our own child; SIGTERM lets the sensor detach cleanly.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        }
        for c in &mut self.children {
            let end = Instant::now() + Duration::from_secs(3);
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < end {
                thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        remove_namespaces();
    }
}
