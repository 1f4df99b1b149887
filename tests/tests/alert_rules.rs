//! The deployment files under `deploy/`: the Prometheus alerting rules pass `promtool check
//! rules` and their unit tests (`promtool test rules`), every alert is tested firing and not
//! firing, and rules use only metric names osfp exports.

use std::{collections::BTreeSet, path::PathBuf, process::Command};

use osfp_tests::workspace_root;

/// Metric names osfp exports: those registered by the sensor's metrics (built here with
/// the built-in database, as `osfp run` does). Rules and dashboard may use nothing else
/// (besides Prometheus' own `up`).
fn osfp_metrics() -> Vec<String> {
    let db = osfp::analysis::fingerprint::default_database().unwrap();
    let at = osfp::capture::kernel::Attachment {
        release: "6.1.0".into(),
        program: osfp_common::program::LOOP,
        ifaces: vec![("eth0".into(), "native")],
    };
    let m = osfp::export::metrics::Metrics::new(&at, &db);
    let names: Vec<String> = m
        .registry
        .gather()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    assert!(
        names.iter().any(|n| n == "osfp_packets_seen_total"),
        "{names:?}"
    );
    names
}

fn deploy(path: &str) -> PathBuf {
    workspace_root().join("deploy").join(path)
}

/// promtool from PATH; a missing promtool is a failure, not a skip.
fn promtool() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("promtool"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "promtool not found in PATH: install the Debian package `prometheus` \
                 (scripts/setup.sh does)"
            )
        })
}

/// Runs promtool with `args`: success and the whole output.
fn promtool_output(args: &[&str]) -> (bool, String) {
    let out = Command::new(promtool())
        .args(args)
        .output()
        .expect("running promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Runs promtool with `args`; panics with its whole output unless it succeeds.
fn run_promtool(args: &[&str]) -> String {
    let (ok, text) = promtool_output(args);
    assert!(ok, "promtool {} failed:\n{text}", args.join(" "));
    text
}

#[test]
fn promtool_check_rules() {
    let rules = deploy("prometheus/osfp-alerts.yml");
    let out = run_promtool(&["check", "rules", rules.to_str().unwrap()]);
    let n = alert_names().len();
    assert!(
        out.contains(&format!("SUCCESS: {n} rules found")),
        "promtool did not find the {n} alerts of the file:\n{out}"
    );
}

#[test]
fn promtool_test_rules() {
    let tests = deploy("prometheus/osfp-alerts.test.yml");
    let out = run_promtool(&["test", "rules", tests.to_str().unwrap()]);
    assert!(out.contains("SUCCESS"), "{out}");
}

/// Alert names of the rules file (`- alert: Name` lines).
fn alert_names() -> Vec<String> {
    let text = std::fs::read_to_string(deploy("prometheus/osfp-alerts.yml")).unwrap();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("- alert:"))
        .map(|n| n.trim().to_string())
        .collect()
}

/// Every alert has a unit test where it fires (non-empty `exp_alerts`) and one where it
/// does not (`exp_alerts: []`).
#[test]
fn every_alert_tested_firing_and_silent() {
    let text = std::fs::read_to_string(deploy("prometheus/osfp-alerts.test.yml")).unwrap();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut firing = BTreeSet::new();
    let mut silent = BTreeSet::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(name) = l.strip_prefix("alertname:") else {
            continue;
        };
        match lines.get(i + 1) {
            Some(&"exp_alerts: []") => silent.insert(name.trim()),
            Some(&"exp_alerts:") => firing.insert(name.trim()),
            other => panic!("alertname {name} not followed by exp_alerts: {other:?}"),
        };
    }
    let names = alert_names();
    assert!(names.len() >= 5, "too few alerts: {names:?}");
    for n in &names {
        assert!(firing.contains(n.as_str()), "no test where {n} fires");
        assert!(
            silent.contains(n.as_str()),
            "no test where {n} stays silent"
        );
    }
}

/// Rule expressions use only osfp's metric names and `up`.
#[test]
fn rules_use_known_metrics() {
    let text = std::fs::read_to_string(deploy("prometheus/osfp-alerts.yml")).unwrap();
    // An expression is `expr: ...` on one line or a `|` block of deeper-indented lines.
    let lines: Vec<&str> = text.lines().collect();
    let mut exprs = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if let Some(rest) = l.trim().strip_prefix("expr:") {
            let indent = l.len() - l.trim_start().len();
            if rest.trim() == "|" {
                let mut e = String::new();
                while i + 1 < lines.len()
                    && lines[i + 1].len() - lines[i + 1].trim_start().len() > indent
                {
                    i += 1;
                    e.push_str(lines[i]);
                    e.push('\n');
                }
                exprs.push(e);
            } else {
                exprs.push(rest.to_string());
            }
        }
        i += 1;
    }
    assert_eq!(exprs.len(), alert_names().len(), "one expr per alert");
    for e in &exprs {
        let names = metric_names(e);
        assert!(!names.is_empty(), "no metric found in {e}");
        for n in names {
            assert!(
                n == "up" || osfp_metrics().contains(&n),
                "unknown metric {n} in rule expression {e}"
            );
        }
    }
}

/// Metric names in a PromQL expression: identifiers that are not functions, keywords,
/// label names (inside `{}` or `by (...)`-style lists), durations, strings or Grafana
/// variables.
fn metric_names(expr: &str) -> Vec<String> {
    // Aggregations may put `by (...)` between their name and `(`.
    const KEYWORDS: &[&str] = &[
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "inf",
        "nan",
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    ];
    const LABEL_LISTS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let c: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch == '"' || ch == '\'' || ch == '`' {
            // string literal
            i += 1;
            while i < c.len() && c[i] != ch {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if ch == '{' || ch == '[' {
            // label matchers or range/subquery: skip to the matching close, strings inside
            let close = if ch == '{' { '}' } else { ']' };
            while i < c.len() && c[i] != close {
                if c[i] == '"' {
                    i += 1;
                    while i < c.len() && c[i] != '"' {
                        i += if c[i] == '\\' { 2 } else { 1 };
                    }
                }
                i += 1;
            }
            i += 1;
        } else if ch == '$' {
            // Grafana variable such as $__rate_interval or ${DS}
            i += 1;
            while i < c.len() && (c[i].is_alphanumeric() || "_{}".contains(c[i])) {
                i += 1;
            }
        } else if ch.is_ascii_digit() || (ch == '.' && i + 1 < c.len() && c[i + 1].is_ascii_digit())
        {
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '.') {
                i += 1;
            }
        } else if ch.is_ascii_alphabetic() || ch == '_' || ch == ':' {
            let start = i;
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_' || c[i] == ':') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            let mut j = i;
            while j < c.len() && c[j].is_whitespace() {
                j += 1;
            }
            let lower = word.to_ascii_lowercase();
            if LABEL_LISTS.contains(&lower.as_str()) {
                // skip the label list that follows, if any
                if j < c.len() && c[j] == '(' {
                    while j < c.len() && c[j] != ')' {
                        j += 1;
                    }
                    i = j + 1;
                }
            } else if j < c.len() && c[j] == '(' || KEYWORDS.contains(&lower.as_str()) {
                // function call or operator keyword
            } else {
                names.push(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn metric_names_parses_promql() {
    assert_eq!(
        metric_names(
            r#"sum by (job, kind) (rate(osfp_scan_events_total{job="osfp",kind=~"a|b"}[$__rate_interval]))
               / ignoring (kind) group_left osfp_sources_cap > 0.9 and on () up offset 5m"#
        ),
        ["osfp_scan_events_total", "osfp_sources_cap", "up"]
    );
    assert_eq!(
        metric_names(r#"histogram_quantile(0.99, sum(rate(x_bucket[5m])) by (le))"#),
        ["x_bucket"]
    );
    assert!(metric_names("vector(1) + 2e3").is_empty());
}

/// The Grafana dashboard: panels with their queries (title, expr), rows flattened.
fn dashboard() -> serde_json::Value {
    let path = deploy("grafana/osfp-dashboard.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn dashboard_panels(d: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels array") {
        if p["type"] == "row" {
            out.extend(p["panels"].as_array().cloned().unwrap_or_default());
        } else {
            out.push(p.clone());
        }
    }
    out
}

/// Grafana's variables replaced by values Prometheus accepts, for parsing.
fn expand_grafana_vars(expr: &str) -> String {
    expr.replace("$__rate_interval", "5m")
        .replace("$__range", "1h")
        .replace("$job", "osfp")
        .replace("$instance", ".*")
}

/// The dashboard is JSON Grafana can import with a Prometheus datasource variable; every
/// panel queries through that variable; its queries use only osfp's metric names and
/// together cover what the sensor exports about packets, verdicts, sources and scans.
#[test]
fn dashboard_is_valid_and_uses_known_metrics() {
    let d = dashboard();
    assert!(d["schemaVersion"].as_u64().unwrap() >= 36, "schemaVersion");
    let vars = d["templating"]["list"].as_array().expect("templating.list");
    assert!(
        vars.iter().any(|v| v["name"] == "DS_PROMETHEUS"
            && v["type"] == "datasource"
            && v["query"] == "prometheus"),
        "no DS_PROMETHEUS datasource variable"
    );
    let panels = dashboard_panels(&d);
    let mut ids = BTreeSet::new();
    let mut used = BTreeSet::new();
    for p in &panels {
        let title = p["title"].as_str().unwrap_or("?");
        assert!(
            ids.insert(p["id"].as_u64().expect("panel id")),
            "duplicate id: {title}"
        );
        let g = &p["gridPos"];
        assert!(
            g["x"].as_u64().unwrap() + g["w"].as_u64().unwrap() <= 24,
            "{title} is wider than the grid"
        );
        assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("{title}: no targets"));
        assert!(!targets.is_empty(), "{title}: no targets");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
            let expr = t["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("{title}: no expr"));
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{title}: no metric in {expr}");
            for n in names {
                assert!(
                    osfp_metrics().contains(&n),
                    "{title}: unknown metric {n} in {expr}"
                );
                used.insert(n);
            }
        }
    }
    for m in [
        "osfp_build_info",
        "osfp_packets_seen_total",
        "osfp_packets_selected_total",
        "osfp_packets_malformed_total",
        "osfp_ringbuf_dropped_total",
        "osfp_verdicts_total",
        "osfp_unknown_fingerprints_total",
        "osfp_sources",
        "osfp_sources_tracked",
        "osfp_sources_cap",
        "osfp_scanners_active",
        "osfp_scan_events_total",
    ] {
        assert!(used.contains(m), "no panel shows {m}");
    }
}

/// Every dashboard query is valid PromQL: each becomes a recording rule of a scratch rules
/// file that `promtool check rules` parses.
#[test]
fn dashboard_queries_parse() {
    let d = dashboard();
    let mut yaml = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let mut n = 0;
    for p in dashboard_panels(&d) {
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = expand_grafana_vars(t["expr"].as_str().unwrap());
            // A JSON string is a valid YAML double-quoted scalar.
            yaml.push_str(&format!(
                "      - record: dashboard:panel_{}_{}\n        expr: {}\n",
                p["id"],
                t["refId"].as_str().unwrap(),
                serde_json::to_string(&expr).unwrap()
            ));
            n += 1;
        }
    }
    assert!(n >= 10, "only {n} queries");
    let path =
        std::env::temp_dir().join(format!("osfp-dashboard-{}.rules.yml", std::process::id()));
    std::fs::write(&path, yaml).unwrap();
    let (ok, out) = promtool_output(&["check", "rules", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    assert!(
        ok,
        "promtool check rules on the dashboard queries failed:\n{out}"
    );
    assert!(out.contains(&format!("SUCCESS: {n} rules found")), "{out}");
}

/// The systemd unit passes `systemd-analyze verify` (on a copy whose ExecStart points at an
/// executable that exists here) and `systemd-analyze security` rates it below 2.0 ("OK").
/// Without systemd-analyze it cannot run (a failure under CI=true).
#[test]
fn systemd_unit_verifies() {
    let Some(analyze) = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("systemd-analyze"))
        .find(|p| p.is_file())
    else {
        osfp_tests::cannot_run("systemd_unit_verifies: no systemd-analyze in PATH");
        return;
    };
    let unit = std::fs::read_to_string(deploy("systemd/osfp.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/osfp run $OSFP_ARGS"));
    let exe = std::env::current_exe().unwrap();
    let dir = std::env::temp_dir().join(format!("osfp-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("osfp.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/osfp", exe.to_str().unwrap()),
    )
    .unwrap();
    let verify = Command::new(&analyze)
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let security = Command::new(&analyze)
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&copy)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    assert!(
        verify.status.success() && text(&verify).trim().is_empty(),
        "systemd-analyze verify:\n{}",
        text(&verify)
    );
    let out = text(&security);
    let level: f64 = out
        .lines()
        .find_map(|l| l.split("Overall exposure level for osfp.service: ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{out}"));
    assert!(level < 2.0, "exposure {level}:\n{out}");
}
