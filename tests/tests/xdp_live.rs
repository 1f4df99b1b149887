//! The XDP program attached to a veth in a network namespace, natively and in skb mode,
//! on the host's kernel: real Linux TCP (IPv4 and IPv6), crafted VLAN and scan-like
//! frames, with the expectations of `osfp_tests::live` (the kernel matrix runs the same
//! checks in its guests), and the clear errors of `osfp run`.

use osfp_tests::{privileged, Lab, Sensor};

#[test]
fn syn_fields_native() {
    if privileged("syn_fields_native") {
        osfp_tests::live::syn_fields("native", &[]);
    }
}

#[test]
fn syn_fields_skb() {
    if privileged("syn_fields_skb") {
        osfp_tests::live::syn_fields("skb", &[]);
    }
}

#[test]
fn synack_fields_native() {
    if privileged("synack_fields_native") {
        osfp_tests::live::synack_fields("native", &[]);
    }
}

#[test]
fn synack_fields_skb() {
    if privileged("synack_fields_skb") {
        osfp_tests::live::synack_fields("skb", &[]);
    }
}

#[test]
fn crafted_frames_native() {
    if privileged("crafted_frames_native") {
        osfp_tests::live::crafted("native", &[]);
    }
}

#[test]
fn crafted_frames_skb() {
    if privileged("crafted_frames_skb") {
        osfp_tests::live::crafted("skb", &[]);
    }
}

/// The failures `osfp run` must explain in one line with a non-zero exit.
#[test]
fn clear_errors() {
    if !privileged("clear_errors") {
        return;
    }
    let bin = osfp_tests::osfp_bin();
    let out = std::process::Command::new(&bin)
        .args(["run", "--iface", "nosuch0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown interface \"nosuch0\""), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // Not root: the same binary as nobody, without capabilities.
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(&bin)
        .args(["run", "--iface", "lo"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs root, or the capabilities"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // Someone else's XDP program already attached: the first sensor holds the interface.
    let lab = Lab::new().unwrap();
    let first = Sensor::start(&lab.ns_b, &lab.veth_b, "skb", &[]).unwrap();
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &lab.ns_b])
        .arg(&bin)
        // Its own listener off: the first sensor holds the port too.
        .args([
            "run",
            "--iface",
            "vb",
            "--xdp-mode",
            "skb",
            "--listen",
            "off",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already has an XDP program attached"), "{err}");
    first.stop().unwrap();
}
