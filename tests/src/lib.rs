//! Harness for osfp's integration tests: root checks, network namespaces joined by a veth
//! pair, running code or commands inside a namespace, and the `osfp` binary as a sensor.

pub mod alloc_count;
pub mod corpus;
pub mod craft;
pub mod fuzz;
pub mod live;
pub mod matrix;
pub mod parity;
pub mod promtext;
pub mod table_fixture;

use std::{
    fs::File,
    io::{BufRead, BufReader},
    net::IpAddr,
    os::fd::AsRawFd,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicU32, Ordering},
        mpsc, Arc, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

/// `d` scaled by `$OSFP_TEST_TIME_SCALE` (default 1): a guest kernel under QEMU's
/// software emulation runs several times slower than the host, so waits for the system
/// (a sensor's attach, a connection) stretch there; what is asserted does not change.
pub fn patience(d: Duration) -> Duration {
    let scale = std::env::var("OSFP_TEST_TIME_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s >= 1.0)
        .unwrap_or(1.0);
    d.mul_f64(scale)
}

/// True when the test may use privileged kernel features (root). Otherwise a test that
/// cannot run: see [`cannot_run`].
pub fn privileged(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    cannot_run(&format!(
        "{test}: needs root (XDP attach, netns, BPF_PROG_TEST_RUN)"
    ));
    false
}

/// `v` through when it is there; `None` is a test that cannot run ([`cannot_run`]).
pub fn require<T>(v: Option<T>, what: &str) -> Option<T> {
    if v.is_none() {
        cannot_run(what);
    }
    v
}

/// A test that cannot run here: under `CI=true` a failure naming what is missing; else a
/// loud skip, counted in `target/osfp-skipped.txt` (scripts/test.sh prints the count).
pub fn cannot_run(what: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("cannot run in CI: {what}");
    }
    eprintln!("\n!!!! SKIPPED {what} !!!!\n");
    let list = workspace_root().join("target/osfp-skipped.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(list)
    {
        use std::io::Write;
        let _ = writeln!(f, "{what}");
    }
}

/// The workspace root (the tests crate sits one level below it).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The shared corpus: $OSFP_CORPUS, else ../shared/corpus beside the checkout.
pub fn corpus_dir() -> PathBuf {
    std::env::var_os("OSFP_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/corpus"))
}

/// Every corpus file listed in INDEX.tsv.
pub fn corpus_files() -> Vec<PathBuf> {
    let dir = corpus_dir();
    let index = std::fs::read_to_string(dir.join("INDEX.tsv"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join("INDEX.tsv").display()));
    index
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .map(|f| dir.join(f))
        .collect()
}

/// The `osfp` binary cargo built next to this executable (a test in
/// `target/<profile>/deps`, or a binary in `target/<profile>`).
pub fn osfp_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let mut dir = exe.parent().unwrap();
    if dir.ends_with("deps") {
        dir = dir.parent().unwrap();
    }
    let bin = dir.join("osfp");
    assert!(
        bin.exists(),
        "{} missing: run the tests through `cargo test` at the workspace root",
        bin.display()
    );
    bin
}

pub fn sh(cmd: &str) -> Result<String> {
    let out = Command::new("sh").arg("-c").arg(cmd).output()?;
    if !out.status.success() {
        bail!(
            "`{cmd}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `f` on a thread that has joined namespace `ns`; sockets it creates live there.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let path = format!("/var/run/netns/{ns}");
    thread::spawn(move || -> Result<T> {
        let fd = File::open(&path).with_context(|| format!("open {path}"))?;
        // SAFETY: a valid namespace fd; setns only affects this thread.
        if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            bail!("setns {path}: {}", std::io::Error::last_os_error());
        }
        Ok(f())
    })
    .join()
    .map_err(|_| anyhow::anyhow!("thread in {ns} panicked"))?
}

/// Sends raw Ethernet frames out of `iface` in namespace `ns` (AF_PACKET).
pub fn send_frames(ns: &str, iface: &str, frames: Vec<Vec<u8>>) -> Result<()> {
    let iface = iface.to_string();
    in_netns(ns, move || -> Result<()> {
        let idx = osfp::capture::xdp::ifindex(&iface)?;
        // SAFETY: plain socket syscalls with valid arguments; the fd is closed below.
        unsafe {
            let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
            if fd < 0 {
                bail!("AF_PACKET socket: {}", std::io::Error::last_os_error());
            }
            let mut sll: libc::sockaddr_ll = std::mem::zeroed();
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_ifindex = idx as i32;
            sll.sll_halen = 6;
            for f in &frames {
                let n = libc::sendto(
                    fd,
                    f.as_ptr() as *const _,
                    f.len(),
                    0,
                    &sll as *const _ as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                );
                if n < 0 {
                    let e = std::io::Error::last_os_error();
                    libc::close(fd);
                    bail!("sendto: {e}");
                }
            }
            libc::close(fd);
        }
        Ok(())
    })?
}

/// GET `path` from `to` inside namespace `ns`: the whole HTTP/1.0 response.
pub fn http_get_netns(ns: &str, to: std::net::SocketAddr, path: &str) -> Result<String> {
    let path = path.to_string();
    in_netns(ns, move || -> Result<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect_timeout(&to, Duration::from_secs(3))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut body = String::new();
        s.read_to_string(&mut body)?;
        Ok(body)
    })?
}

static LAB_SEQ: AtomicU32 = AtomicU32::new(0);

/// Two network namespaces, `a` (client side) and `b` (sensor side), joined by a veth pair
/// with IPv4 10.N.0.1/.2 and IPv6 fd00:N::1/::2. Removed on drop.
pub struct Lab {
    pub ns_a: String,
    pub ns_b: String,
    pub veth_a: String,
    pub veth_b: String,
    pub a4: IpAddr,
    pub b4: IpAddr,
    pub a6: IpAddr,
    pub b6: IpAddr,
}

impl Lab {
    pub fn new() -> Result<Lab> {
        let n = (std::process::id() % 200) as u32 * 8 + LAB_SEQ.fetch_add(1, Ordering::SeqCst) % 8;
        let tag = format!(
            "{}{}",
            std::process::id() % 100000,
            LAB_SEQ.load(Ordering::SeqCst)
        );
        let (oct2, oct3) = (200 + (n / 250) % 50, n % 250);
        let lab = Lab {
            ns_a: format!("osfpA{tag}"),
            ns_b: format!("osfpB{tag}"),
            veth_a: "va".into(),
            veth_b: "vb".into(),
            a4: format!("10.{oct2}.{oct3}.1").parse()?,
            b4: format!("10.{oct2}.{oct3}.2").parse()?,
            a6: format!("fd00:{oct2}:{oct3}::1").parse()?,
            b6: format!("fd00:{oct2}:{oct3}::2").parse()?,
        };
        let (a, b) = (&lab.ns_a, &lab.ns_b);
        let setup = format!(
            "ip netns add {a} && ip netns add {b} && \
             ip link add va netns {a} type veth peer name vb netns {b} && \
             ip -n {a} link set lo up && ip -n {b} link set lo up && \
             ip -n {a} addr add {}/24 dev va && ip -n {b} addr add {}/24 dev vb && \
             ip -n {a} addr add {}/64 dev va nodad && ip -n {b} addr add {}/64 dev vb nodad && \
             ip -n {a} link set va up && ip -n {b} link set vb up",
            lab.a4, lab.b4, lab.a6, lab.b6
        );
        sh(&setup).context("creating the namespace lab")?;
        Ok(lab)
    }

    /// Runs a shell command inside namespace `ns`.
    pub fn exec(&self, ns: &str, cmd: &str) -> Result<String> {
        sh(&format!("ip netns exec {ns} sh -c '{cmd}'"))
    }

    pub fn sysctl(&self, ns: &str, key: &str) -> Result<String> {
        Ok(self
            .exec(ns, &format!("sysctl -n {key}"))?
            .trim()
            .to_string())
    }

    /// Runs `f` on a thread that has joined namespace `ns`; sockets it creates live there.
    pub fn in_ns<T: Send + 'static>(
        &self,
        ns: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        in_netns(ns, f)
    }

    /// Sends raw Ethernet frames out of `iface` in namespace `ns` (AF_PACKET).
    pub fn send_frames(&self, ns: &str, iface: &str, frames: Vec<Vec<u8>>) -> Result<()> {
        send_frames(ns, iface, frames)
    }

    /// MAC address of an interface in a namespace.
    pub fn mac(&self, ns: &str, iface: &str) -> Result<[u8; 6]> {
        let s = self.exec(ns, &format!("cat /sys/class/net/{iface}/address"))?;
        let mut m = [0u8; 6];
        for (i, p) in s.trim().split(':').enumerate().take(6) {
            m[i] = u8::from_str_radix(p, 16)?;
        }
        Ok(m)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = sh(&format!(
            "ip netns del {}; ip netns del {}",
            self.ns_a, self.ns_b
        ));
    }
}

/// `osfp run --json` attached in a namespace, its records collected as JSON values.
pub struct Sensor {
    child: Child,
    records: Arc<Mutex<Vec<serde_json::Value>>>,
    stderr: Arc<Mutex<String>>,
    /// The stdout reader; joined by [`Sensor::finish`] so no line is lost.
    reader: Option<thread::JoinHandle<()>>,
}

impl Sensor {
    pub fn start(ns: &str, iface: &str, mode: &str, extra: &[&str]) -> Result<Sensor> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(osfp_bin())
            .args(["run", "--json", "--iface", iface, "--xdp-mode", mode])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let records = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().unwrap();
        let r = records.clone();
        let reader = thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line) {
                    r.lock().unwrap().push(v);
                }
            }
        });
        let err = child.stderr.take().unwrap();
        let e = stderr.clone();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                {
                    let mut s = e.lock().unwrap();
                    s.push_str(&line);
                    s.push('\n');
                }
                if line.contains("attached to") {
                    let _ = tx.send(());
                }
            }
        });
        // One "attached to" line per interface (each gets its own program instance).
        let ifaces = 1 + extra.iter().filter(|a| **a == "--iface").count();
        for _ in 0..ifaces {
            if rx.recv_timeout(patience(Duration::from_secs(20))).is_err() {
                let _ = child.kill();
                let _ = child.wait();
                bail!("sensor did not attach: {}", stderr.lock().unwrap());
            }
        }
        Ok(Sensor {
            child,
            records,
            stderr,
            reader: Some(reader),
        })
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until `pred` holds for the records seen so far (or the timeout passes).
    pub fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let end = Instant::now() + timeout;
        loop {
            let recs = self.records.lock().unwrap().clone();
            if pred(&recs) || Instant::now() > end {
                return recs;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `sig` (e.g. `libc::SIGHUP`) to the sensor.
    pub fn signal(&self, sig: i32) {
        // SAFETY: signalling our own child (`ip netns exec` execs osfp in place).
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Waits until the sensor's stderr contains `text`; the stderr either way.
    pub fn wait_stderr(&self, timeout: Duration, text: &str) -> String {
        let end = Instant::now() + timeout;
        loop {
            let e = self.stderr();
            if e.contains(text) || Instant::now() > end {
                return e;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then the exit status and the full stderr.
    pub fn stop(mut self) -> Result<(std::process::ExitStatus, String)> {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait()?;
        thread::sleep(Duration::from_millis(100));
        Ok((status, self.stderr()))
    }
}

impl Sensor {
    /// SIGTERM, then the exit status, the full stderr and every record printed up to
    /// the exit (what the sensor prints at shutdown included).
    pub fn finish(mut self) -> Result<(std::process::ExitStatus, String, Vec<serde_json::Value>)> {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait()?;
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        thread::sleep(Duration::from_millis(100));
        let recs = self.records.lock().unwrap().clone();
        Ok((status, self.stderr(), recs))
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP listener on a thread inside namespace `ns` that accepts and closes connections
/// until `stop` is dropped. `setup` configures the listening socket (TTL, MSS...).
pub fn listen_in_ns(
    ns: &str,
    addr: std::net::SocketAddr,
    setup: impl FnOnce(&socket2::Socket) -> std::io::Result<()> + Send + 'static,
) -> Result<mpsc::Sender<()>> {
    let path = format!("/var/run/netns/{ns}");
    let (ready_tx, ready_rx) = mpsc::channel::<std::result::Result<(), String>>();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    thread::spawn(move || {
        let run = || -> Result<socket2::Socket> {
            let fd = File::open(&path)?;
            // SAFETY: valid namespace fd; affects this thread only.
            if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                bail!("setns: {}", std::io::Error::last_os_error());
            }
            let s = socket2::Socket::new(
                socket2::Domain::for_address(addr),
                socket2::Type::STREAM,
                Some(socket2::Protocol::TCP),
            )?;
            s.set_reuse_address(true)?;
            setup(&s)?;
            s.bind(&addr.into())?;
            s.listen(64)?;
            s.set_nonblocking(true)?;
            Ok(s)
        };
        let s = match run() {
            Ok(s) => {
                let _ = ready_tx.send(Ok(()));
                s
            }
            Err(e) => {
                let _ = ready_tx.send(Err(e.to_string()));
                return;
            }
        };
        while let Err(mpsc::TryRecvError::Empty) = stop_rx.try_recv() {
            match s.accept() {
                Ok((c, _)) => drop(c),
                Err(_) => thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    match ready_rx.recv_timeout(patience(Duration::from_secs(5))) {
        Ok(Ok(())) => Ok(stop_tx),
        Ok(Err(e)) => bail!("listener in {ns}: {e}"),
        Err(_) => bail!("listener in {ns} did not start"),
    }
}

/// Connects from namespace `ns` to `to`, after `setup` configured the socket.
pub fn connect_from_ns(
    lab: &Lab,
    ns: &str,
    to: std::net::SocketAddr,
    setup: impl FnOnce(&socket2::Socket) -> std::io::Result<()> + Send + 'static,
) -> Result<()> {
    lab.in_ns(ns, move || -> Result<()> {
        let s = socket2::Socket::new(
            socket2::Domain::for_address(to),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        setup(&s)?;
        s.connect_timeout(&to.into(), patience(Duration::from_secs(5)))?;
        thread::sleep(Duration::from_millis(20));
        Ok(())
    })?
}

/// What Linux puts in a SYN or SYN-ACK, from its settings: the option order of
/// tcp_options_write(), the window of tcp_select_initial_window() and the scale of the
/// same function (see the test for the inputs).
pub mod linux {
    /// Option layout in p0f notation for the given sysctls.
    pub fn layout(ts: bool, sack: bool, ws: bool) -> String {
        let mut v: Vec<&str> = vec!["mss"];
        if ts {
            if sack {
                v.extend(["sok", "ts"]);
            } else {
                v.extend(["nop", "nop", "ts"]);
            }
        } else if sack {
            v.extend(["nop", "nop", "sok"]);
        }
        if ws {
            v.extend(["nop", "ws"]);
        }
        v.join(",")
    }

    /// Initial window: the receive space (half of tcp_rmem[1] by the default scaling
    /// ratio), rounded down to a multiple of the MSS used for the window, capped at
    /// 65535 because SYN windows are never scaled.
    pub fn window(rmem_default: u32, mss_for_window: u32) -> u32 {
        let space = rmem_default / 2;
        let space = if space > mss_for_window {
            space / mss_for_window * mss_for_window
        } else {
            space
        };
        space.min(65535)
    }

    /// Window scale: log2 of the largest buffer (tcp_rmem[2], rmem_max) minus 15, 0..14.
    pub fn wscale(rmem_max_tcp: u32, rmem_max_core: u32) -> u32 {
        let space = rmem_max_tcp.max(rmem_max_core);
        (31 - space.leading_zeros()).saturating_sub(15).min(14)
    }
}

/// GET http://127.0.0.1:`port``path` from inside namespace `ns` (where the sensor runs).
pub fn http_get_in_ns(_lab: &Lab, ns: &str, port: u16, path: &str) -> Result<String> {
    http_get_netns(ns, ([127, 0, 0, 1], port).into(), path)
}

/// The value of one sample line (`name{labels} value`) in a Prometheus text exposition.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A capture file through the production pcap path: selection, decoding, every stage
/// of the pipeline with the built-in database and the per-source table (what
/// `osfp pcap` does), with the scan events it produced.
pub struct PcapRun {
    pub pipeline: osfp::pipeline::Pipeline,
    pub scan_events: Vec<osfp::analysis::scan::ScanEvent>,
    /// Why reading stopped before the end of the file, if it did.
    pub read_error: Option<String>,
}

/// The production pipeline with the built-in database and the default caps.
pub fn pipeline() -> osfp::pipeline::Pipeline {
    let db = osfp::analysis::fingerprint::default_database().expect("built-in database");
    osfp::pipeline::Pipeline::with_database(Arc::new(db), osfp::sources::DEFAULT_CAP)
}

/// Runs `path` through [`PcapRun`]'s path; panics on a file that cannot be opened (a
/// file cut short is read as far as it goes, as `osfp pcap` does).
pub fn run_pcap(path: &std::path::Path) -> PcapRun {
    use osfp::capture::frame::{SelectConfig, Selector};
    let mut pipeline = pipeline();
    let mut scan_events = Vec::new();
    let mut sel = Selector::new(SelectConfig::default());
    let report = osfp::capture::file::for_each_frame(path, |link, frame, ts| {
        if let Some(rec) = sel.frame(link, frame, ts) {
            let ev = pipeline.process(&rec);
            pipeline.observe(&ev, &mut scan_events);
        }
    })
    .unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
    pipeline.end_of_input(&mut scan_events);
    PcapRun {
        pipeline,
        scan_events,
        read_error: report.read_error,
    }
}

impl PcapRun {
    /// The clock / IP ID state of `src` in the source table.
    pub fn clock(&self, src: &IpAddr) -> Option<&osfp::analysis::clock::ClockTracker> {
        self.pipeline.sources.get(src)?.clock.as_deref()
    }

    /// Every source with clock state.
    pub fn clocks(&self) -> impl Iterator<Item = (&IpAddr, &osfp::analysis::clock::ClockTracker)> {
        self.pipeline
            .sources
            .iter()
            .filter_map(|(a, s)| s.clock.as_deref().map(|c| (a, c)))
    }
}
