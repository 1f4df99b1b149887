//! `osfp run` fingerprints what the XDP program selects exactly like `osfp pcap`:
//! real Linux connections (IPv4, IPv6) between two namespaces are recognised as Linux
//! by the built-in database, and a bad `--db` stops the sensor before it attaches.

use std::{net::SocketAddr, process::Command, time::Duration};

use osfp_tests::{
    connect_from_ns, http_get_in_ns, listen_in_ns, metric, osfp_bin, privileged, Lab, Sensor,
};
use serde_json::Value;

fn find_syn<'a>(recs: &'a [Value], src: &str, dport: u16) -> Option<&'a Value> {
    recs.iter()
        .find(|r| r["kind"] == "syn" && r["src"] == src && r["dport"] == dport)
}

/// The XDP attachment of `vb` as `ip link` shows it (empty when none).
fn xdp_on_vb(lab: &Lab) -> bool {
    lab.exec(&lab.ns_b, "ip link show vb")
        .unwrap()
        .contains("xdp")
}

#[test]
fn linux_syns_fingerprinted_live() {
    if !privileged("linux_syns_fingerprinted_live") {
        return;
    }
    let lab = Lab::new().unwrap();
    let sensor = Sensor::start(&lab.ns_b, &lab.veth_b, "skb", &[]).unwrap();
    let mut stops = Vec::new();
    let cases = [(lab.b4, 8080u16, lab.a4), (lab.b6, 8086, lab.a6)];
    for (addr, port, _) in cases {
        let to = SocketAddr::new(addr, port);
        stops.push(listen_in_ns(&lab.ns_b, to, |_| Ok(())).unwrap());
        // The stack's defaults: nothing set on the socket.
        connect_from_ns(&lab, &lab.ns_a, to, |_| Ok(())).unwrap();
    }
    let recs = sensor.wait_for(Duration::from_secs(5), |r| {
        cases
            .iter()
            .all(|(_, port, src)| find_syn(r, &src.to_string(), *port).is_some())
    });
    for (_, port, src) in cases {
        let r = find_syn(&recs, &src.to_string(), port)
            .unwrap_or_else(|| panic!("no SYN from {src} in {recs:#?}\n{}", sensor.stderr()));
        let sig = r["signature"].as_str().unwrap_or_else(|| {
            panic!("SYN from {src} has no signature: {r}");
        });
        assert_eq!(r["os"]["family"], "linux", "{src} sig={sig}: {r}");
        assert_eq!(r["os"]["match"], "exact", "{src} sig={sig}: {r}");
        assert!(
            r["os"]["label"].as_str().unwrap().starts_with("Linux"),
            "{r}"
        );
        // Same fields as `osfp pcap --json`.
        let ver = if src.is_ipv4() { "4:" } else { "6:" };
        assert!(sig.starts_with(ver), "{sig}");
        assert_eq!(r["tcp_fp"]["ittl"], 64, "{r}");
        assert_eq!(r["tcp_fp"]["hops"], 0, "{r}");
        assert!(r["tcp_fp"]["nmap_o"].as_str().unwrap().starts_with('M'));
    }
    drop(stops);
    // The verdicts in the metrics: the same two Linux SYNs (at least; the namespace
    // has no other TCP), counted under a fixed label set.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let text = http_get_in_ns(&lab, &lab.ns_b, 9184, "/metrics").unwrap();
        let exact = metric(
            &text,
            "osfp_verdicts_total{family=\"linux\",match=\"exact\"}",
        );
        if exact.is_some_and(|v| v >= 2.0) {
            assert_eq!(
                metric(&text, "osfp_unknown_fingerprints_total"),
                Some(0.0),
                "{text}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "linux exact verdicts {exact:?}\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, err) = sensor.stop().unwrap();
    assert!(status.success(), "sensor exit {status}: {err}");
    assert!(err.contains("detached"), "{err}");
}

#[test]
fn bad_database_refused_before_attach() {
    if !privileged("bad_database_refused_before_attach") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("osfp-baddb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.fp");
    // Line 7 has a bad window scale at column 25, line 8 an unknown option.
    std::fs::write(
        &bad,
        "classes = win,unix,other\n\
         \n\
         [tcp:request]\n\
         label = s:unix:Linux:3.x\n\
         sig   = *:64:0:*:mss*10,0:mss,sok,ts,nop,ws:df,id+:0\n\
         label = s:unix:Linux:2.x\n\
         sig   = *:64:0:*:mss*10,zz:mss,sok,ts,nop,ws:df,id+:0\n\
         sig   = *:64:0:*:mss*10,0:mss,bogus,ts,nop,ws:df,id+:0\n",
    )
    .unwrap();
    let lab = Lab::new().unwrap();
    // The check below can see an attachment: a good sensor shows up in `ip link`.
    let good = Sensor::start(&lab.ns_b, &lab.veth_b, "skb", &[]).unwrap();
    assert!(
        xdp_on_vb(&lab),
        "a running sensor is not visible in ip link"
    );
    good.stop().unwrap();
    assert!(!xdp_on_vb(&lab));

    let out = Command::new("ip")
        .args(["netns", "exec", &lab.ns_b])
        .arg(osfp_bin())
        .args([
            "run",
            "--json",
            "--iface",
            "vb",
            "--xdp-mode",
            "skb",
            "--db",
        ])
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "bad database accepted: {err}");
    assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
    let loc = format!("{}:7:25", bad.display());
    assert!(err.contains(&loc), "no {loc} in: {err}");
    assert!(!err.contains("attached"), "{err}");
    assert!(out.stdout.is_empty());
    assert!(
        !xdp_on_vb(&lab),
        "XDP program left on vb after a refused start"
    );

    // A missing file is refused the same way (file:0:0, nothing to point at).
    let missing = dir.join("missing.fp");
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.ns_b])
        .arg(osfp_bin())
        .args(["run", "--iface", "vb", "--db"])
        .arg(&missing)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(&format!("{}:0:0", missing.display())), "{err}");
    assert!(!xdp_on_vb(&lab));
    let _ = std::fs::remove_dir_all(&dir);
}
