//! Scan-detection thresholds and bounds; every field has a default chosen so that busy
//! benign clients stay quiet (see the tests in `tracker.rs`).

use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScanConfig {
    /// Sliding window over which sweep targets and probe counts are judged (ms).
    pub window_ms: u64,
    /// A source's scans end after this long without a packet from it (ms).
    pub idle_end_ms: u64,
    /// NULL/FIN/Xmas/odd-flag probes needed when they carry no tool's traits: a broken
    /// stack or a middlebox may emit one or two.
    pub min_probes: u32,
    /// Probes needed when they match a tool's template (nmap OS probes, nmap/masscan/zmap
    /// SYNs, nmap's NULL/FIN/Xmas): these templates are not sent by ordinary stacks.
    pub tool_min_probes: u32,
    /// Distinct ports on one host (plain SYNs, within the window) for a port sweep.
    pub port_sweep_min_ports: u32,
    /// Distinct hosts on one port (plain SYNs, within the window) for a host sweep.
    pub host_sweep_min_hosts: u32,
    /// A sweep needs at most this share of its SYNs answered by a SYN-ACK: clients that
    /// really talk to many ports (FTP passive) or hosts (a browser) get answers, scans
    /// mostly hit closed ports or nobody.
    pub sweep_max_answered_share: f64,
    /// Hard cap on tracked sources (LRU eviction beyond, counted).
    pub max_sources: usize,
    /// Hard cap on remembered (host, port) targets per source; beyond it targets are
    /// counted as dropped and event counts become lower bounds (`targets_truncated`).
    pub max_targets_per_source: usize,
    /// Targets listed in an event's sample.
    pub sample_size: usize,
    /// SYNs in one second that start a `syn_flood` event (0: no flood detection). A
    /// busy server's real clients stay far below the default; a single hping3 or a
    /// botnet's flood passes it within the first second.
    pub syn_flood_rate: u64,
    /// A flood ends after this long below half the rate (ms, rounded up to seconds).
    pub syn_flood_quiet_ms: u64,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            window_ms: 60_000,
            idle_end_ms: 60_000,
            min_probes: 3,
            tool_min_probes: 1,
            port_sweep_min_ports: 24,
            host_sweep_min_hosts: 64,
            sweep_max_answered_share: 0.5,
            max_sources: 8192,
            max_targets_per_source: 256,
            sample_size: 8,
            syn_flood_rate: 20_000,
            syn_flood_quiet_ms: 5_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ScanConfig;

    #[test]
    fn partial_config_keeps_defaults_and_rejects_typos() {
        let c: ScanConfig =
            serde_json::from_str(r#"{"port_sweep_min_ports": 10, "max_sources": 100}"#).unwrap();
        assert_eq!(c.port_sweep_min_ports, 10);
        assert_eq!(c.max_sources, 100);
        assert_eq!(
            c.host_sweep_min_hosts,
            ScanConfig::default().host_sweep_min_hosts
        );
        assert!(serde_json::from_str::<ScanConfig>(r#"{"port_sweep_min_port": 1}"#).is_err());
    }
}
