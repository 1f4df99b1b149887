//! Clock analysis on real captures from the corpus, fed through the production pcap
//! path (selection, decoding, the pipeline and its source table).

use std::{net::IpAddr, path::PathBuf};

use osfp::analysis::{clock::policy::OffsetPolicy, ipid::IpIdClass};
use osfp_tests::{run_pcap, PcapRun};

fn corpus() -> PathBuf {
    osfp_tests::corpus::locate()
        .expect("corpus not found: set OSFP_CORPUS or put shared/ beside the checkout")
}

fn table(rel: &str) -> PcapRun {
    let path = corpus().join(rel);
    assert!(path.exists(), "corpus file missing: {}", path.display());
    let run = run_pcap(&path);
    assert!(run.read_error.is_none(), "{rel}: {:?}", run.read_error);
    run
}

/// Lists, for every corpus file, the sources with three or more timestamped
/// connections and what the tracker makes of them. Run by hand:
/// `cargo test -p osfp-userspace --test clock_corpus survey -- --ignored --nocapture`
#[test]
#[ignore]
fn survey() {
    let index = std::fs::read_to_string(corpus().join("INDEX.tsv")).unwrap();
    for line in index.lines().skip(1) {
        let rel = line.split('\t').next().unwrap();
        let syns: u32 = line
            .split('\t')
            .nth(4)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let synacks: u32 = line
            .split('\t')
            .nth(5)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if syns + synacks < 3 {
            continue;
        }
        let tab = table(rel);
        for (src, t) in tab.clocks() {
            let s = t.summary();
            if s.clock.connections >= 3 {
                println!(
                    "{rel}\t{src}\tconns={}\tpolicy={:?}\thz={:?}\traw={:?}\tq={:.2}\tboot={:?}\thosts={}\tipid={:?}/{:?}\tev={:?}",
                    s.clock.connections,
                    s.clock.offset_policy,
                    s.clock.hz,
                    s.clock.hz_raw.map(|h| (h * 10.0).round() / 10.0),
                    s.clock.quality,
                    s.clock.boot_time.map(|b| b.round()),
                    s.hosts.count,
                    s.ip_id.class,
                    s.ip_id.per_flow_class,
                    s.clock.evidence,
                );
            }
        }
    }
}

/// Boot time from each connection on its own: its fitted line's value at its start,
/// or its SYN's TSval, over the source's rate; in the epoch nearest the median.
fn per_connection_boots(tab: &PcapRun, a: &str) -> (f64, Vec<f64>) {
    let a: IpAddr = a.parse().unwrap();
    let t = tab.clock(&a).unwrap_or_else(|| panic!("{a} not seen"));
    let hz = t.summary().clock.hz.expect("a common rate");
    let p = 4_294_967_296.0 / hz;
    let mut boots: Vec<f64> = t
        .connections()
        .iter()
        // A connection whose own fit shows another rate is not this clock.
        .filter(|c| c.fit.is_none_or(|f| f.quality < 0.2 || f.hz == hz))
        .map(|c| c.zero_time(hz))
        .collect();
    boots.sort_by(f64::total_cmp);
    let m = boots[boots.len() / 2];
    let boots = boots
        .into_iter()
        .map(|b| m + (b - m + p / 2.0).rem_euclid(p) - p / 2.0)
        .collect();
    (hz, boots)
}

/// Boot-relative hosts (Philips Hue bridge, Android phones and tunnels, a 2015 IPv6
/// host): every connection's own clock line gives the same boot time.
#[test]
fn boot_times_agree_across_connections() {
    // (file, source, rate, least connections)
    let cases = [
        (
            "iot-sentinel/HueBridge/Setup-C-12-STA.pcap",
            "10.10.10.6",
            100.0,
            20,
        ),
        ("ndpi/tunnelbear.pcap", "10.8.0.1", 250.0, 5),
        ("ndpi/weibo.pcap", "192.168.1.105", 250.0, 5),
        ("arkime/ospf.pcap", "2001:bef::a00:27ff:fe0d:5c3c", 250.0, 5),
        ("ndpi/ocs.pcap", "192.168.180.2", 100.0, 3),
    ];
    for (file, host, rate, least) in cases {
        let tab = table(file);
        let (hz, boots) = per_connection_boots(&tab, host);
        let spread = boots.last().unwrap() - boots.first().unwrap();
        let s = tab.clock(&host.parse().unwrap()).unwrap().summary();
        println!(
            "{file} {host}: {hz} Hz, {} connections, boot spread {spread:.3} s, policy {:?}, boot {:?}, machines {}",
            boots.len(),
            s.clock.offset_policy,
            s.clock.boot_time,
            s.hosts.count
        );
        assert_eq!(hz, rate, "{file}");
        assert!(boots.len() >= least, "{file}: {} connections", boots.len());
        // Stated tolerance: 0.1 s between any two connections' boot estimates.
        assert!(
            spread < 0.1,
            "{file}: boot estimates spread {spread} s: {boots:?}"
        );
        assert_eq!(s.clock.offset_policy, OffsetPolicy::BootRelative, "{file}");
        assert_eq!(s.hosts.count, 1, "{file}: {:#?}", s.hosts);
        let b = s.clock.boot_time.expect("boot time");
        let med = boots[boots.len() / 2];
        // The reported boot is the clock's zero time, or 300 s before a zero the
        // host passed within 5 minutes of being seen (Linux jiffies start at -300 s).
        let period = 4_294_967_296.0 / hz;
        let shift = b - med;
        let jiffies = [-300.0, period - 300.0]
            .iter()
            .any(|j| (shift - j).abs() < 0.1);
        assert!(
            shift.abs() < 0.1 || jiffies,
            "{file}: reported {b} vs per-connection {med}"
        );
        println!(
            "  reported boot {b:.3}, uptime {:?}, jiffies-corrected {jiffies}",
            s.clock.uptime
        );
    }
}

/// Linux hands out IP IDs from a per-socket counter with a random start (incremental
/// within a connection, random across connections) and sends 0 in DF SYN-ACKs (nmap's
/// Linux entries: TI=Z).
#[test]
fn linux_ip_ids_classified_consistently() {
    // Linux VNC server (file name: "vnc-mac-to-linux"): its SYN-ACKs.
    let tab = table("zeek/rfb__vnc-mac-to-linux.pcap");
    let s = tab.clock(&src(&tab, "192.168.2.125")).unwrap().summary();
    println!("vnc linux server: {:?}", s.ip_id);
    assert_eq!(s.ip_id.handshake_class, Some(IpIdClass::Z));
    // Android 10 client (Linux kernel): per-connection counters.
    let tab = table("ndpi/googledns_android10.pcap");
    let s = tab.clock(&src(&tab, "192.168.1.159")).unwrap().summary();
    println!("android 10 client: {:?}", s.ip_id);
    assert_eq!(s.ip_id.per_flow_class, Some(IpIdClass::I));
    assert_eq!(s.ip_id.handshake_class, Some(IpIdClass::Rd));
    assert_eq!(s.ip_id.class, Some(IpIdClass::Rd));
    // The same device class in another capture.
    let tab = table("ndpi/android.pcap");
    let s = tab.clock(&src(&tab, "192.168.2.16")).unwrap().summary();
    println!("android client: {:?}", s.ip_id);
    assert_eq!(s.ip_id.handshake_class, Some(IpIdClass::Rd));
}

fn src(t: &PcapRun, a: &str) -> IpAddr {
    let a: IpAddr = a.parse().unwrap();
    assert!(t.clock(&a).is_some(), "{a} not seen");
    a
}

/// Prints one source's connections and machines. Run by hand:
/// `OSFP_FILE=ndpi/android.pcap OSFP_SRC=192.168.2.16 cargo test -p osfp-userspace --test clock_corpus inspect -- --ignored --nocapture`
#[test]
#[ignore]
fn inspect() {
    let (Ok(f), Ok(a)) = (std::env::var("OSFP_FILE"), std::env::var("OSFP_SRC")) else {
        return;
    };
    let tab = table(&f);
    let t = tab.clock(&src(&tab, &a)).unwrap();
    let s = t.summary();
    let hz = s.clock.hz.or(s.clock.hz_raw).unwrap_or(1000.0);
    for c in t.connections() {
        println!(
            "{:?} port {} first {:.3} last {:.3} tsval0 {:.0} zero@{hz} {:.3} fit {:?}",
            c.key,
            c.port,
            c.first_ns as f64 / 1e9,
            c.last_ns as f64 / 1e9,
            c.tsval_at_first,
            c.zero_time(hz),
            c.fit.map(|f| (f.hz_raw, f.hz, f.quality, f.inliers, f.n))
        );
    }
    println!("{}", serde_json::to_string_pretty(&s).unwrap());
}
