//! The XDP program attached to a veth in a network namespace, natively or in skb mode,
//! watching real TCP connections from the running kernel's own stack (IPv4 and IPv6)
//! and crafted frames (VLAN-tagged, every scan-like flag combination). Expected values
//! come from the sending stack's own settings: sysctls of its namespace and its socket
//! options. `tests/xdp_live.rs` runs these on the host; the kernel matrix runs them in
//! each guest kernel (with `extra` naming the build of the program, if any).

use std::{net::SocketAddr, time::Duration};

use osfp_common::tcp_flag::*;
use serde_json::Value;

use crate::{
    connect_from_ns, craft::TcpFrame, http_get_in_ns, linux, listen_in_ns, metric, patience, Lab,
    Sensor,
};

fn find<'a>(recs: &'a [Value], kind: &str, src: &str, dport: u16) -> Option<&'a Value> {
    recs.iter()
        .find(|r| r["kind"] == kind && r["src"] == src && r["dport"] == dport)
}

struct SenderSettings {
    ts: bool,
    sack: bool,
    ws: bool,
    rmem_default: u32,
    rmem_max_tcp: u32,
    rmem_max_core: u32,
}

fn settings(lab: &Lab, ns: &str) -> SenderSettings {
    let get = |k: &str| lab.sysctl(ns, k).unwrap();
    let rmem: Vec<u32> = get("net.ipv4.tcp_rmem")
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    SenderSettings {
        ts: get("net.ipv4.tcp_timestamps") != "0",
        sack: get("net.ipv4.tcp_sack") != "0",
        ws: get("net.ipv4.tcp_window_scaling") != "0",
        rmem_default: rmem[1],
        rmem_max_tcp: rmem[2],
        // Per network namespace only in newer kernels (6.1 and 5.10 keep net.core
        // global, and do not show it inside a namespace): then the initial one's applies.
        rmem_max_core: lab
            .sysctl(ns, "net.core.rmem_max")
            .or_else(|_| crate::sh("sysctl -n net.core.rmem_max").map(|s| s.trim().to_string()))
            .unwrap()
            .parse()
            .unwrap(),
    }
}

/// Client SYNs from namespace a to b, seen by the sensor on b's veth.
pub fn syn_fields(mode: &str, extra: &[&str]) {
    let lab = Lab::new().unwrap();
    // A non-default combination in the sender's namespace, to be sure the values are
    // the stack's and not constants: no SACK, a larger tcp_rmem.
    lab.exec(
        &lab.ns_a,
        "sysctl -qw net.ipv4.tcp_sack=0 net.ipv4.tcp_rmem=\"4096 262144 8388608\"",
    )
    .unwrap();
    let sensor = Sensor::start(&lab.ns_b, &lab.veth_b, mode, extra).unwrap();
    let mut cases = Vec::new();
    for (addr, port, ttl, mss) in [(lab.b4, 8080u16, 77u32, 1200u32), (lab.b6, 8086, 61, 1100)] {
        let to = SocketAddr::new(addr, port);
        let stop = listen_in_ns(&lab.ns_b, to, |_| Ok(())).unwrap();
        connect_from_ns(&lab, &lab.ns_a, to, move |s| {
            if to.is_ipv4() {
                s.set_ttl_v4(ttl)?;
            } else {
                s.set_unicast_hops_v6(ttl)?;
            }
            s.set_tcp_mss(mss)
        })
        .unwrap();
        cases.push((to, ttl, mss, stop));
    }
    let st = settings(&lab, &lab.ns_a);
    let src4 = lab.a4.to_string();
    let src6 = lab.a6.to_string();
    let recs = sensor.wait_for(patience(Duration::from_secs(5)), |r| {
        find(r, "syn", &src4, 8080).is_some() && find(r, "syn", &src6, 8086).is_some()
    });
    for (to, ttl, mss, _stop) in &cases {
        let src = if to.is_ipv4() { &src4 } else { &src6 };
        let r = find(&recs, "syn", src, to.port())
            .unwrap_or_else(|| panic!("{mode}: no SYN to {to} in {recs:#?}\n{}", sensor.stderr()));
        assert_eq!(r["ttl"], *ttl, "{mode} {to}: IP_TTL / IPV6_UNICAST_HOPS");
        assert_eq!(r["mss"], *mss, "{mode} {to}: TCP_MAXSEG");
        assert_eq!(
            r["window"],
            linux::window(st.rmem_default, *mss),
            "{mode} {to}: window"
        );
        assert_eq!(
            r["wscale"],
            linux::wscale(st.rmem_max_tcp, st.rmem_max_core),
            "{mode} {to}"
        );
        assert_eq!(
            r["options"],
            linux::layout(st.ts, st.sack, st.ws),
            "{mode} {to}: layout"
        );
        assert_eq!(r["flags"], "S");
        assert_eq!(r["tsecr"], if st.ts { Value::from(0) } else { Value::Null });
        assert_eq!(r["ip_version"], if to.is_ipv4() { 4 } else { 6 });
        if to.is_ipv4() {
            // Linux sets DF on TCP (ip_no_pmtu_disc 0) and IP ID 0 on DF SYNs... or not:
            // only DF is a documented default; the ID is left to the record.
            assert_eq!(r["df"], true);
        }
        assert!(r["ifindex"].as_u64().unwrap() > 0);
    }
    let (status, err) = sensor.stop().unwrap();
    assert!(status.success(), "{mode}: sensor exit {status}: {err}");
    assert!(err.contains("detached"), "{err}");
    let link = lab.exec(&lab.ns_b, "ip link show vb").unwrap();
    assert!(
        !link.contains("xdp"),
        "XDP still attached after SIGTERM: {link}"
    );
}

/// SYN-ACKs from a listener in namespace a, for connections from b.
pub fn synack_fields(mode: &str, extra: &[&str]) {
    let lab = Lab::new().unwrap();
    let sensor = Sensor::start(&lab.ns_b, &lab.veth_b, mode, extra).unwrap();
    let st = settings(&lab, &lab.ns_a);
    let peer = settings(&lab, &lab.ns_b);
    let (ttl, mss) = (99u32, 1300u32);
    let to = SocketAddr::new(lab.a4, 9090);
    let _stop = listen_in_ns(&lab.ns_a, to, move |s| {
        s.set_ttl_v4(ttl)?;
        s.set_tcp_mss(mss)
    })
    .unwrap();
    connect_from_ns(&lab, &lab.ns_b, to, |_| Ok(())).unwrap();
    let src = lab.a4.to_string();
    let recs = sensor.wait_for(patience(Duration::from_secs(5)), |r| {
        r.iter().any(|x| x["kind"] == "synack" && x["src"] == src)
    });
    let r = recs
        .iter()
        .find(|x| x["kind"] == "synack" && x["src"] == src && x["sport"] == 9090)
        .unwrap_or_else(|| panic!("{mode}: no SYN-ACK in {recs:#?}"));
    let ts = st.ts && peer.ts;
    assert_eq!(r["ttl"], ttl);
    assert_eq!(r["mss"], mss);
    // tcp_openreq_init_rwin: the window's MSS leaves room for the timestamp option.
    let wmss = if ts { mss - 12 } else { mss };
    assert_eq!(
        r["window"],
        linux::window(st.rmem_default, wmss),
        "{mode}: window"
    );
    assert_eq!(
        r["wscale"],
        linux::wscale(st.rmem_max_tcp, st.rmem_max_core)
    );
    assert_eq!(
        r["options"],
        linux::layout(ts, st.sack && peer.sack, st.ws && peer.ws)
    );
    assert_eq!(r["flags"], "SA");
    let (status, err) = sensor.stop().unwrap();
    assert!(status.success(), "{err}");
}

/// Crafted frames from a's raw socket: VLAN tags and every scan-like flag combination.
pub fn crafted(mode: &str, extra: &[&str]) {
    let lab = Lab::new().unwrap();
    let sensor = Sensor::start(&lab.ns_b, &lab.veth_b, mode, extra).unwrap();
    let dst_mac = lab.mac(&lab.ns_b, "vb").unwrap();
    let src_mac = lab.mac(&lab.ns_a, "va").unwrap();
    let mut frames = Vec::new();
    let mut want = Vec::new();
    let base = TcpFrame::syn(lab.a4, lab.b4, 1000, 80);
    let mut vlan1 = base.clone();
    vlan1.sport = 1001;
    vlan1.vlans = vec![(0x8100, 42)];
    let mut qinq = base.clone();
    qinq.sport = 1002;
    qinq.vlans = vec![(0x88a8, 7), (0x8100, 42)];
    qinq.ttl = 33;
    for f in [vlan1, qinq] {
        want.push((f.sport, "syn", f.flags, f.ttl));
        frames.push(f.frame_with_macs(dst_mac, src_mac));
    }
    let combos: [(u16, u16); 8] = [
        (0, 0),
        (FIN, 0),
        (FIN | PSH | URG, 0),
        (SYN | FIN, 0),
        (SYN | RST, 0),
        (ACK | 0x400, 0),
        (ACK, 0xF7F5),
        (SYN | ECE | CWR | 0x800, 0xF7F5),
    ];
    for (i, (flags, urg)) in combos.into_iter().enumerate() {
        let mut f = base.clone();
        f.sport = 2000 + i as u16;
        f.flags = flags;
        f.urg_ptr = urg;
        want.push((f.sport, "scan_probe", flags, f.ttl));
        frames.push(f.frame_with_macs(dst_mac, src_mac));
    }
    lab.send_frames(&lab.ns_a, "va", frames).unwrap();
    let n = want.len();
    let recs = sensor.wait_for(patience(Duration::from_secs(5)), |r| r.len() >= n);
    for (sport, kind, flags, ttl) in want {
        let r = recs
            .iter()
            .find(|r| r["sport"] == sport)
            .unwrap_or_else(|| panic!("{mode}: frame from port {sport} not reported: {recs:#?}"));
        assert_eq!(r["kind"], kind, "port {sport}");
        assert_eq!(r["flags_raw"], flags, "port {sport}");
        assert_eq!(r["ttl"], ttl);
        assert_eq!(r["src"], lab.a4.to_string());
    }
    // The same packets in the metrics (refreshed every second).
    let deadline = std::time::Instant::now() + patience(Duration::from_secs(5));
    loop {
        let text = http_get_in_ns(&lab, &lab.ns_b, 9184, "/metrics").unwrap();
        // Per interface: the label is the interface attached to.
        let sel = |r: &str| {
            let series = format!(
                "osfp_packets_selected_total{{iface=\"{}\",reason=\"{r}\"}}",
                lab.veth_b
            );
            metric(&text, &series)
        };
        let (scan, syn) = (sel("scan_probe"), sel("syn"));
        // 8 scan-like frames (one also a SYN), 2 VLAN SYNs; the namespace has no
        // other traffic towards vb that is selected.
        if scan == Some(8.0) && syn == Some(5.0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{mode}: metrics scan {scan:?} syn {syn:?}\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    sensor.stop().unwrap();
}
