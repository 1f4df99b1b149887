//! `osfp run`'s settings: a TOML file whose keys are exactly the long flags (one struct
//! derives both, so every key is also a flag). The flags given, as a TOML table, are laid
//! over the file's table; the result is checked into a [`RunConfig`]. Every problem is
//! reported as `file:line:column: what (text)`, or `--flag: what` for a flag.

use std::{
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::{
    analysis::scan::{ScanConfig, ScanTracker},
    capture::{kernel::VARIANTS, xdp::AttachMode},
    export::eventlog::LogTarget,
    sources::{SourceTable, DEFAULT_CAP, DEFAULT_CLOCK_SOURCES},
};

/// What `osfp run` prints per selected record on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Records {
    Off,
    Text,
    Json,
}

/// The settings, as flags and as TOML keys (`ring-mib = 16`, `iface = ["eth0"]`, a
/// `[scan]` table). `None` (empty) = not given here, and not serialized, so the table of
/// a `Settings` holds exactly the keys given.
#[derive(Args, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    /// Interface to attach to (repeatable). [default: the interface of the default route]
    #[arg(long = "iface", short = 'i')]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub iface: Vec<String>,
    /// XDP attach mode. [default: auto]
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xdp_mode: Option<AttachMode>,
    /// Build of the XDP program: auto (the most capable build this kernel offers and
    /// its verifier accepts), osfp (bpf_loop walker, Linux 5.17 or newer) or
    /// osfp_bounded (bounded-loop walker). [default: auto]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xdp_program: Option<String>,
    /// Ring buffer size per interface in MiB, a power of two up to 1024. [default: 8]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ring_mib: Option<u32>,
    /// Serve /metrics and the JSON API on this address, "off" for neither.
    /// [default: 127.0.0.1:9184]
    #[arg(long, alias = "metrics-addr")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Print the kernel counters to stderr this often, 0 for only at exit. [default: 0s]
    #[arg(long, value_parser = humantime::parse_duration)]
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub stats_every: Option<Duration>,
    /// Fingerprint database (p0f.fp format), reloaded on SIGHUP. [default: built in]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db: Option<PathBuf>,
    /// Minimum gap between timestamp samples of one flow. [default: 1s]
    #[arg(long, value_parser = humantime::parse_duration)]
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub ts_sample_interval: Option<Duration>,
    /// Most timestamp samples taken from one flow, 0 for none. [default: 16]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts_samples_per_flow: Option<u32>,
    /// Most sources kept in the per-source table (least recently seen evicted).
    /// [default: 65536]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_sources: Option<usize>,
    /// Most sources holding clock state (TSval fits, ~15 KB each at most); further
    /// sources' clock events are counted, not analysed. [default: 12288]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_clock_sources: Option<usize>,
    /// The signature matcher only, every match a verdict, as p0f does: no middlebox
    /// undo, no classifier. [default: false]
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// A SYN no signature explains gets the classifier's family when its probability
    /// reaches this (0..1), else it is unknown. [default: the model's, 0.45]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub infer_threshold: Option<f32>,
    /// The classifier's class prior: target (the Internet client population it was
    /// calibrated for) or flat (every class alike: IoT-heavy or unusual networks).
    /// [default: target]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub infer_prior: Option<String>,
    /// Records on stdout: off, text or json. [default: text]
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<Records>,
    /// NDJSON event log (new verdicts, unknown fingerprints, scans, several hosts, clock
    /// estimates): a file, reopened on SIGHUP, or "-" for stdout. [default: none]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_log: Option<String>,
    /// A scan-detection threshold, `KEY=VALUE` (repeatable; keys as in the `[scan]`
    /// table, e.g. `port_sweep_min_ports=50`).
    #[arg(long = "scan", value_name = "KEY=VALUE")]
    #[serde(skip)]
    pub scan_set: Vec<String>,
    /// The `[scan]` table of the file.
    #[arg(skip)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<toml::Table>,
}

/// `osfp run`'s command line: a configuration file under the flags.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// TOML configuration file; its keys are the long flags below (flags given here
    /// win). Reloaded with the database on SIGHUP.
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Shorthand for --records json.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub settings: Settings,
}

/// Checked settings with defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct RunConfig {
    /// What the XDP program's load and attach use: a reload cannot change it.
    pub attach: AttachConfig,
    pub stats_every: Option<Duration>,
    pub db: Option<PathBuf>,
    pub max_sources: usize,
    pub max_clock_sources: usize,
    pub records: Records,
    pub event_log: Option<LogTarget>,
    pub scan: ScanConfig,
    /// Strict mode, the classifier's threshold and prior.
    pub verdicts: crate::analysis::fingerprint::VerdictConfig,
}

/// The settings a running sensor keeps until it restarts: the programs' load and attach,
/// and the listener. Serialized under the keys' names, to name the keys a reload changed.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct AttachConfig {
    /// Empty: the interface of the default route.
    #[serde(rename = "iface")]
    pub ifaces: Vec<String>,
    pub xdp_mode: AttachMode,
    /// A build of the XDP program by name; None: chosen for the kernel.
    pub xdp_program: Option<String>,
    pub ring_mib: u32,
    pub listen: Option<SocketAddr>,
    #[serde(with = "humantime_serde")]
    pub ts_sample_interval: Duration,
    pub ts_samples_per_flow: u32,
}

impl AttachConfig {
    pub fn ring_bytes(&self) -> u32 {
        self.ring_mib << 20
    }

    /// The keys whose value differs in `new`: what a reload reports and keeps.
    pub fn changed_keys(&self, new: &AttachConfig) -> Vec<String> {
        let (a, b) = (table_of(self), table_of(new));
        a.keys()
            .chain(b.keys().filter(|k| !a.contains_key(*k)))
            .filter(|k| a.get(*k) != b.get(*k))
            .cloned()
            .collect()
    }
}

fn table_of(v: &impl Serialize) -> toml::Table {
    toml::Table::try_from(v).expect("settings serialize to a table")
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9184";
/// Above this the table alone is several GiB (see `SourceTable::approx_bytes`).
pub const MAX_SOURCES_LIMIT: usize = 10_000_000;
/// The most the clock state of the sources allowed it may take at its worst (~15 KiB a
/// source): 4 GiB is ~280,000 sources, 23 times the default, which no deployment needs
/// (a source's clock only needs a few timestamps), while a cap with a digit too many
/// would otherwise let the sensor grow until the machine runs out of memory.
pub const CLOCK_BUDGET: usize = 4 << 30;
/// The most the scan tracker may take at its caps (every tracked source with its targets
/// full, see `ScanTracker::memory_bound`): 1 GiB is three times the default's ~340 MiB.
/// Scanners are few; a larger product of the two caps is a mistake, not a need.
pub const SCAN_BUDGET: usize = 1 << 30;
/// The longest scan window, idle end or flood quiet time: a day. Longer keeps a
/// source's state for no purpose (and `ms * 1e6` nanoseconds stays far from overflow).
pub const MAX_SCAN_MS: u64 = 86_400_000;

/// The source table's caps, each in its range and the clock state they allow within
/// [`CLOCK_BUDGET`]: the problems as (key, what). `osfp pcap` checks its flags with it.
pub fn check_source_caps(
    max_sources: usize,
    max_clock_sources: usize,
) -> Vec<(&'static str, String)> {
    let mut errors = Vec::new();
    if !(1..=MAX_SOURCES_LIMIT).contains(&max_sources) {
        errors.push((
            "max-sources",
            format!("{max_sources} is not from 1 to {MAX_SOURCES_LIMIT}"),
        ));
    }
    if max_clock_sources > MAX_SOURCES_LIMIT {
        errors.push((
            "max-clock-sources",
            format!("{max_clock_sources} is above {MAX_SOURCES_LIMIT}"),
        ));
    }
    let clocks = SourceTable::clock_bytes_at(max_sources, max_clock_sources);
    if errors.is_empty() && clocks > CLOCK_BUDGET {
        errors.push((
            "max-clock-sources",
            format!(
                "{max_clock_sources} with max-sources {max_sources}: clock state up to {} MiB, above the {} MiB budget (lower max-clock-sources or max-sources)",
                clocks >> 20,
                CLOCK_BUDGET >> 20
            ),
        ));
    }
    errors
}

/// Every problem found, one line each.
#[derive(Debug, PartialEq)]
pub struct ConfigError(pub Vec<String>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for ConfigError {}

/// The file, if any, under the command line's flags, checked.
pub fn load(file: Option<&Path>, flags: &Settings) -> Result<RunConfig, ConfigError> {
    let Some(path) = file else {
        return flags.clone().check(None);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(vec![format!("{}: cannot read: {e}", path.display())]))?;
    let from_file = parse(&text, path)?;
    let given: Vec<String> = table_of(flags).keys().cloned().collect();
    flags
        .over(from_file)
        .check_located(Some((path, &text)), &given)
}

/// Parses a TOML text; errors carry `path:line:column`.
pub fn parse(text: &str, path: &Path) -> Result<Settings, ConfigError> {
    let mut s: Settings = toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        ConfigError(vec![located(path, text, at, e.message())])
    })?;
    // Paths in the file are relative to the file.
    let dir = path.parent().unwrap_or(Path::new("."));
    if let Some(db) = &mut s.db {
        if db.is_relative() {
            *db = dir.join(&*db);
        }
    }
    if let Some(log) = &mut s.event_log {
        if log != "-" && Path::new(log).is_relative() {
            *log = dir.join(&*log).display().to_string();
        }
    }
    Ok(s)
}

/// `path:line:column: message (the line's text)` for a byte offset.
fn located(path: &Path, text: &str, at: usize, message: &str) -> String {
    let at = at.min(text.len());
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_no = text[..at].matches('\n').count() + 1;
    let col = text[line_start..at].chars().count() + 1;
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    let message = message.trim_end();
    format!("{}:{line_no}:{col}: {message} ({line:?})", path.display())
}

/// Where `key = ...` (or a `[key]` table) is in the file, for value errors.
fn key_offset(text: &str, key: &str) -> Option<usize> {
    let mut off = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        if t.trim_end() == format!("[{key}]") {
            return Some(off + (line.len() - t.len()));
        }
        if let Some(rest) = t.strip_prefix(key) {
            if rest.trim_start().starts_with('=') {
                return Some(off + (line.len() - t.len()));
            }
        }
        off += line.len();
    }
    None
}

impl Settings {
    /// These flags over `file`'s keys: each key given here replaces the file's (tables
    /// laid one over the other), the file fills the rest. `--scan` pairs go over the
    /// file's `[scan]` table when checked.
    pub fn over(&self, file: Settings) -> Settings {
        let mut t = table_of(&file);
        t.extend(table_of(self));
        let mut s: Settings = t.try_into().expect("a table of settings is settings");
        s.scan_set = self.scan_set.clone();
        s
    }

    /// Fills defaults and checks every value; `file` locates errors of keys it set.
    pub fn check(self, file: Option<(&Path, &str)>) -> Result<RunConfig, ConfigError> {
        self.check_located(file, &[])
    }

    /// As [`Settings::check`]; errors of `flag_keys` name the flag, not the file.
    fn check_located(
        self,
        file: Option<(&Path, &str)>,
        flag_keys: &[String],
    ) -> Result<RunConfig, ConfigError> {
        let mut errors = Vec::new();
        let mut bad = |key: &str, msg: String| {
            let file = file.filter(|_| !flag_keys.iter().any(|k| k == key));
            let at = file.and_then(|(p, t)| key_offset(t, key).map(|o| (p, t, o)));
            errors.push(match at {
                Some((p, t, o)) => located(p, t, o, &format!("{key}: {msg}")),
                None => format!("--{key}: {msg}"),
            });
        };
        let xdp_program = match self.xdp_program.as_deref() {
            None | Some("auto") => None,
            Some(p) if VARIANTS.iter().any(|v| v.name == p) => Some(p.to_string()),
            Some(p) => {
                let names: Vec<&str> = VARIANTS.iter().map(|v| v.name).collect();
                bad(
                    "xdp-program",
                    format!("{p:?} is not auto or one of {}", names.join(", ")),
                );
                None
            }
        };
        let ring_mib = self.ring_mib.unwrap_or(8);
        if !(1..=1024).contains(&ring_mib) || !ring_mib.is_power_of_two() {
            bad(
                "ring-mib",
                format!("{ring_mib} is not a power of two from 1 to 1024"),
            );
        }
        let listen = match self.listen.as_deref().unwrap_or(DEFAULT_LISTEN) {
            "off" => None,
            a => match a.parse::<SocketAddr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    bad(
                        "listen",
                        format!("{a:?} is not an address:port (or \"off\")"),
                    );
                    None
                }
            },
        };
        let ts_sample_interval = self.ts_sample_interval.unwrap_or(Duration::from_secs(1));
        if ts_sample_interval < Duration::from_millis(1)
            || ts_sample_interval > Duration::from_secs(3600)
        {
            bad(
                "ts-sample-interval",
                format!("{ts_sample_interval:?} is not from 1ms to 1h"),
            );
        }
        let ts_samples_per_flow = self
            .ts_samples_per_flow
            .unwrap_or(osfp_common::tunable::DEFAULT_TS_SAMPLE_MAX_PER_FLOW);
        if ts_samples_per_flow > 1_000_000 {
            bad(
                "ts-samples-per-flow",
                format!("{ts_samples_per_flow} is above 1000000"),
            );
        }
        let max_sources = self.max_sources.unwrap_or(DEFAULT_CAP);
        let max_clock_sources = self.max_clock_sources.unwrap_or(DEFAULT_CLOCK_SOURCES);
        for (key, msg) in check_source_caps(max_sources, max_clock_sources) {
            bad(key, msg);
        }
        let mut verdicts = crate::analysis::fingerprint::VerdictConfig {
            strict: self.strict.unwrap_or(false),
            ..Default::default()
        };
        if let Some(t) = self.infer_threshold {
            if !(0.0..=1.0).contains(&t) {
                bad("infer-threshold", format!("{t} is not from 0 to 1"));
            }
            verdicts.threshold = t;
        }
        if let Some(p) = self.infer_prior.as_deref() {
            match crate::analysis::fingerprint::Prior::from_name(p) {
                Some(p) => verdicts.prior = p,
                None => bad("infer-prior", format!("{p:?} is not target or flat")),
            }
        }
        for i in &self.iface {
            if i.is_empty() || i.len() >= libc::IFNAMSIZ || i.contains(['/', ' ', '\0']) {
                bad("iface", format!("{i:?} is not an interface name"));
            }
        }
        let event_log = match self.event_log.as_deref() {
            None | Some("") => None,
            Some("-") => Some(LogTarget::Stdout),
            Some(p) => Some(LogTarget::File(PathBuf::from(p))),
        };
        let records = self.records.unwrap_or(Records::Text);
        if event_log == Some(LogTarget::Stdout) && records != Records::Off {
            // Two writers on one stream would interleave inside lines.
            bad(
                "event-log",
                "\"-\" (stdout) needs records = \"off\": both would share stdout".into(),
            );
        }
        let scan = match scan_config(self.scan.clone(), &self.scan_set) {
            Ok(s) => s,
            Err(es) => {
                es.into_iter().for_each(|e| bad("scan", e));
                ScanConfig::default()
            }
        };
        if !errors.is_empty() {
            return Err(ConfigError(errors));
        }
        Ok(RunConfig {
            attach: AttachConfig {
                ifaces: self.iface,
                xdp_mode: self.xdp_mode.unwrap_or(AttachMode::Auto),
                xdp_program,
                ring_mib,
                listen,
                ts_sample_interval,
                ts_samples_per_flow,
            },
            stats_every: self.stats_every.filter(|d| !d.is_zero()),
            db: self.db,
            max_sources,
            max_clock_sources,
            records,
            event_log,
            scan,
            verdicts,
        })
    }
}

/// The `[scan]` table with `--scan KEY=VALUE` pairs on top, into a checked ScanConfig;
/// else every problem, one per key.
fn scan_config(table: Option<toml::Table>, pairs: &[String]) -> Result<ScanConfig, Vec<String>> {
    let mut t = table.unwrap_or_default();
    for p in pairs {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| vec![format!("{p:?} is not KEY=VALUE")])?;
        let v: toml::Value = format!("v = {v}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .ok_or_else(|| vec![format!("{p:?}: the value is not a number or string")])?;
        t.insert(k.trim().to_string(), v);
    }
    let c: ScanConfig = t
        .try_into()
        .map_err(|e: toml::de::Error| vec![format!("[scan]: {}", e.message().trim_end())])?;
    let mut errors = Vec::new();
    if !(0.0..=1.0).contains(&c.sweep_max_answered_share) {
        errors.push(format!(
            "sweep_max_answered_share {} is not from 0 to 1",
            c.sweep_max_answered_share
        ));
    }
    for (key, ms, min) in [
        ("window_ms", c.window_ms, 1),
        ("idle_end_ms", c.idle_end_ms, 1),
        // 0 is a second, as any value is rounded up to seconds.
        ("syn_flood_quiet_ms", c.syn_flood_quiet_ms, 0),
    ] {
        if !(min..=MAX_SCAN_MS).contains(&ms) {
            errors.push(format!(
                "{key} {ms} is not from {min} to {MAX_SCAN_MS} (a day)"
            ));
        }
    }
    for (key, n) in [
        ("min_probes", c.min_probes),
        ("tool_min_probes", c.tool_min_probes),
        ("port_sweep_min_ports", c.port_sweep_min_ports),
        ("host_sweep_min_hosts", c.host_sweep_min_hosts),
    ] {
        if n == 0 {
            errors.push(format!("{key} must be above 0"));
        }
    }
    let sources_ok = (1..=MAX_SOURCES_LIMIT).contains(&c.max_sources);
    if !sources_ok {
        errors.push(format!(
            "max_sources {} is not from 1 to {MAX_SOURCES_LIMIT}",
            c.max_sources
        ));
    }
    let targets_ok = (1..=65_536).contains(&c.max_targets_per_source);
    if !targets_ok {
        errors.push(format!(
            "max_targets_per_source {} is not from 1 to 65536",
            c.max_targets_per_source
        ));
    }
    if c.sample_size > 1024 {
        errors.push(format!("sample_size {} is above 1024", c.sample_size));
    }
    let bytes = ScanTracker::memory_bound(&c);
    if sources_ok && targets_ok && bytes > SCAN_BUDGET {
        errors.push(format!(
            "max_sources {} x max_targets_per_source {}: the scan tracker up to {} MiB, above the {} MiB budget (lower either)",
            c.max_sources,
            c.max_targets_per_source,
            bytes >> 20,
            SCAN_BUDGET >> 20
        ));
    }
    if errors.is_empty() {
        Ok(c)
    } else {
        Err(errors.into_iter().map(|e| format!("[scan]: {e}")).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        s: Settings,
    }

    fn flags(args: &[&str]) -> Settings {
        Cli::parse_from(std::iter::once("osfp").chain(args.iter().copied())).s
    }

    fn file(text: &str) -> Result<RunConfig, ConfigError> {
        let s = parse(text, Path::new("/etc/osfp/osfp.toml"))?;
        Settings::default()
            .over(s)
            .check(Some((Path::new("/etc/osfp/osfp.toml"), text)))
    }

    #[test]
    fn defaults() {
        let c = Settings::default().check(None).unwrap();
        assert_eq!(c.attach.listen, Some(DEFAULT_LISTEN.parse().unwrap()));
        assert_eq!(c.attach.ring_bytes(), 8 << 20);
        assert_eq!(c.records, Records::Text);
        assert_eq!(c.event_log, None);
        assert_eq!(c.scan, ScanConfig::default());
    }

    #[test]
    fn every_key_is_a_flag() {
        // The same struct is both; a key the file accepts is a flag clap accepts.
        let text = r#"
iface = ["eth1", "eth2"]
xdp-mode = "skb"
xdp-program = "osfp_bounded"
ring-mib = 16
listen = "127.0.0.1:9999"
stats-every = "30s"
db = "my.fp"
ts-sample-interval = "500ms"
ts-samples-per-flow = 4
max-sources = 1000
max-clock-sources = 500
records = "off"
event-log = "events.ndjson"
[scan]
port_sweep_min_ports = 50
"#;
        let c = file(text).unwrap();
        let f = flags(&[
            "--iface=eth1",
            "--iface=eth2",
            "--xdp-mode=skb",
            "--xdp-program=osfp_bounded",
            "--ring-mib=16",
            "--listen=127.0.0.1:9999",
            "--stats-every=30s",
            "--db=/etc/osfp/my.fp",
            "--ts-sample-interval=500ms",
            "--ts-samples-per-flow=4",
            "--max-sources=1000",
            "--max-clock-sources=500",
            "--records=off",
            "--event-log=/etc/osfp/events.ndjson",
            "--scan=port_sweep_min_ports=50",
        ])
        .check(None)
        .unwrap();
        assert_eq!(c, f);
        assert_eq!(c.scan.port_sweep_min_ports, 50);
        assert_eq!(
            c.db,
            Some(PathBuf::from("/etc/osfp/my.fp")),
            "relative to the file"
        );
    }

    #[test]
    fn flags_win_over_the_file() {
        let s = parse("ring-mib = 16\nmax-sources = 10\n", Path::new("f.toml")).unwrap();
        let c = flags(&["--ring-mib", "32"]).over(s).check(None).unwrap();
        assert_eq!(c.attach.ring_bytes(), 32 << 20);
        assert_eq!(c.max_sources, 10);
    }

    #[test]
    fn errors_carry_file_line_column_and_text() {
        let e = file("ring-mib = 16\nring_mb = 3\n").unwrap_err();
        assert_eq!(e.0.len(), 1);
        assert!(
            e.0[0].starts_with("/etc/osfp/osfp.toml:2:1: unknown field `ring_mb`"),
            "{e}"
        );
        assert!(e.0[0].ends_with("(\"ring_mb = 3\")"), "{e}");

        let e = file("listen = [\n").unwrap_err();
        assert!(e.0[0].starts_with("/etc/osfp/osfp.toml:"), "{e}");

        let e = file("max-sources = \"many\"\n").unwrap_err();
        assert!(
            e.0[0].starts_with("/etc/osfp/osfp.toml:1:15: invalid type"),
            "{e}"
        );
    }

    #[test]
    fn impossible_values_are_each_reported_where_they_are() {
        let e = file(
            "ring-mib = 3\nlisten = \"nowhere\"\nmax-sources = 0\nts-sample-interval = \"0s\"\niface = [\"a/b\"]\n[scan]\nsweep_max_answered_share = 2.0\n",
        )
        .unwrap_err();
        let want = [
            "osfp.toml:1:1: ring-mib: 3 is not a power of two",
            "osfp.toml:2:1: listen: \"nowhere\" is not an address",
            "osfp.toml:4:1: ts-sample-interval: 0ns is not from 1ms to 1h",
            "osfp.toml:3:1: max-sources: 0 is not from 1",
            "osfp.toml:5:1: iface: \"a/b\" is not an interface name",
            "osfp.toml:6:1: scan: [scan]: sweep_max_answered_share 2 is not from 0 to 1",
        ];
        assert_eq!(e.0.len(), want.len(), "{e}");
        for (got, w) in e.0.iter().zip(want) {
            assert!(got.contains(w), "{got:?} lacks {w:?}");
        }
        let e = flags(&["--xdp-program", "fast"]).check(None).unwrap_err();
        assert!(
            e.0[0].starts_with("--xdp-program: \"fast\" is not auto or one of osfp, osfp_bounded"),
            "{e}"
        );
        assert_eq!(
            flags(&["--xdp-program", "auto"])
                .check(None)
                .unwrap()
                .attach
                .xdp_program,
            None
        );
        // A bad flag names the flag.
        let e = flags(&["--ring-mib", "0"]).check(None).unwrap_err();
        assert!(e.0[0].starts_with("--ring-mib: 0"), "{e}");
        let e = flags(&["--scan", "window_ms"]).check(None).unwrap_err();
        assert!(e.0[0].contains("not KEY=VALUE"), "{e}");
        let e = flags(&["--scan", "no_such=1"]).check(None).unwrap_err();
        assert!(e.0[0].contains("unknown field `no_such`"), "{e}");
        // Values that would abort or silence the sensor later.
        for (arg, why) in [
            (
                "--scan=max_sources=1000000000000000",
                "[scan]: max_sources 1000000000000000 is not from 1 to 10000000",
            ),
            ("--scan=port_sweep_min_ports=0", "must be above 0"),
            ("--ts-sample-interval=600years", "is not from 1ms to 1h"),
        ] {
            let e = flags(&[arg]).check(None).unwrap_err();
            assert!(e.0[0].contains(why), "{arg}: {e}");
        }
        // The event log on stdout only without records there.
        let e = flags(&["--event-log=-"]).check(None).unwrap_err();
        assert!(
            e.0[0].starts_with("--event-log: \"-\" (stdout) needs records"),
            "{e}"
        );
        assert!(flags(&["--event-log=-", "--records=off"])
            .check(None)
            .is_ok());
    }

    #[test]
    fn each_scan_key_has_its_own_error() {
        let e = file(
            "[scan]\nwindow_ms = 0\nidle_end_ms = 86400001\nsyn_flood_quiet_ms = 100000000\nmin_probes = 0\nhost_sweep_min_hosts = 0\nmax_targets_per_source = 0\nsample_size = 2000\n",
        )
        .unwrap_err();
        let want = [
            "scan: [scan]: window_ms 0 is not from 1 to 86400000 (a day)",
            "scan: [scan]: idle_end_ms 86400001 is not from 1 to 86400000 (a day)",
            "scan: [scan]: syn_flood_quiet_ms 100000000 is not from 0 to 86400000 (a day)",
            "scan: [scan]: min_probes must be above 0",
            "scan: [scan]: host_sweep_min_hosts must be above 0",
            "scan: [scan]: max_targets_per_source 0 is not from 1 to 65536",
            "scan: [scan]: sample_size 2000 is above 1024",
        ];
        assert_eq!(e.0.len(), want.len(), "{e}");
        for (got, w) in e.0.iter().zip(want) {
            assert!(got.starts_with("/etc/osfp/osfp.toml:1:1: "), "{got}");
            assert!(got.contains(w), "{got:?} lacks {w:?}");
        }
        // A day is allowed, and a quiet time of 0 (rounded up to a second).
        let c = flags(&[
            "--scan=window_ms=86400000",
            "--scan=idle_end_ms=86400000",
            "--scan=syn_flood_quiet_ms=0",
        ])
        .check(None)
        .unwrap();
        assert_eq!(c.scan.window_ms, MAX_SCAN_MS);
    }

    #[test]
    fn products_of_caps_stay_within_their_budgets() {
        // Each cap alone is in range; together they are not.
        let e = flags(&["--max-sources=10000000", "--max-clock-sources=1000000"])
            .check(None)
            .unwrap_err();
        assert_eq!(e.0.len(), 1, "{e}");
        assert!(
            e.0[0].starts_with(
                "--max-clock-sources: 1000000 with max-sources 10000000: clock state up to "
            ),
            "{e}"
        );
        assert!(e.0[0].contains("above the 4096 MiB budget"), "{e}");
        // Only sources in the table hold clock state: a small table bounds it.
        assert!(
            flags(&["--max-sources=1000", "--max-clock-sources=10000000"])
                .check(None)
                .is_ok()
        );
        // The budget is where the bound crosses it, not somewhere below.
        let per = SourceTable::clock_bytes_at(1, 1) / 2;
        let most = CLOCK_BUDGET / per - 1;
        let ok = format!("--max-clock-sources={most}");
        let over = format!("--max-clock-sources={}", most + 1);
        assert!(flags(&["--max-sources=10000000", &ok]).check(None).is_ok());
        assert!(flags(&["--max-sources=10000000", &over])
            .check(None)
            .is_err());

        let e = flags(&[
            "--scan=max_sources=100000",
            "--scan=max_targets_per_source=65536",
        ])
        .check(None)
        .unwrap_err();
        assert_eq!(e.0.len(), 1, "{e}");
        assert!(
            e.0[0].starts_with(
                "--scan: [scan]: max_sources 100000 x max_targets_per_source 65536: the scan tracker up to "
            ),
            "{e}"
        );
        assert!(
            e.0[0].ends_with("above the 1024 MiB budget (lower either)"),
            "{e}"
        );
        // The defaults are well within both budgets.
        let d = ScanConfig::default();
        assert!(ScanTracker::memory_bound(&d) < SCAN_BUDGET / 2);
        assert!(
            SourceTable::clock_bytes_at(DEFAULT_CAP, DEFAULT_CLOCK_SOURCES) < CLOCK_BUDGET / 16
        );
        // Either cap alone moves the product.
        for (k, v) in [
            ("max_sources", 10_000_000),
            ("max_targets_per_source", 65_536),
        ] {
            let e = flags(&[&format!("--scan={k}={v}")])
                .check(None)
                .unwrap_err();
            assert!(e.0[0].contains("the scan tracker up to"), "{k}: {e}");
        }
    }

    #[test]
    fn a_bad_flag_is_the_flags_fault_not_the_files() {
        let dir = std::env::temp_dir().join(format!("osfp-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("osfp.toml");
        std::fs::write(&p, "ring-mib = 16\n").unwrap();
        let e = load(Some(&p), &flags(&["--ring-mib", "3"])).unwrap_err();
        assert!(e.0[0].starts_with("--ring-mib: 3"), "{e}");
        std::fs::write(&p, "ring-mib = 3\n").unwrap();
        let e = load(Some(&p), &flags(&[])).unwrap_err();
        assert!(e.0[0].contains("osfp.toml:1:1: ring-mib: 3"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn restart_keys_name_what_a_reload_cannot_change() {
        let a = file("ring-mib = 8\nmax-sources = 5\n").unwrap();
        let b = file("ring-mib = 16\nmax-sources = 6\nlisten = \"off\"\n").unwrap();
        assert_eq!(a.attach.changed_keys(&b.attach), vec!["listen", "ring-mib"]);
        assert!(a.attach.changed_keys(&a.attach).is_empty());
    }
}
