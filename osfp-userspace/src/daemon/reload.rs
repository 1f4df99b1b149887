//! SIGHUP: reopen the event log (log rotation, whatever else happens), check the
//! configuration file and the database it names; apply both only if both are good, else
//! keep the running ones and say why. What the XDP program's load and attach use
//! ([`AttachConfig`]) needs a restart: a reload names the keys it changed and keeps them.

use std::io::{self, Write};

use super::{
    config::{self, AttachConfig, RunConfig},
    consumer::{records_output, unix_now_ns, Daemon},
    start::load_database,
};
use crate::export::eventlog::{EventLog, LogTarget};

/// What a reload installs: the new configuration with the running attach settings, and
/// the keys of those that it would have changed.
pub fn plan(running: &AttachConfig, new: RunConfig) -> (RunConfig, Vec<String>) {
    let changed = running.changed_keys(&new.attach);
    (
        RunConfig {
            attach: running.clone(),
            ..new
        },
        changed,
    )
}

impl Daemon {
    /// Reloads (see the module comment).
    pub(super) fn reload(&mut self) {
        self.generation += 1;
        if let Some(l) = self.log.as_mut() {
            if let Err(e) = l.reopen() {
                eprintln!("osfp: reopening the event log {:?}: {e}", l.target());
            }
        }
        let fail = |d: &mut Daemon, why: String| {
            eprintln!(
                "osfp: reload refused, keeping the running configuration and database: {why}"
            );
            d.metrics.reloaded(false);
        };
        let cfg = match config::load(self.config_path.as_deref(), &self.flags) {
            Ok(c) => c,
            Err(e) => return fail(self, format!("\n{e}")),
        };
        let db = match load_database(cfg.db.as_ref()) {
            Ok(db) => db,
            Err(e) => return fail(self, e),
        };
        // A new log target must open before anything changes (the same one reopened).
        let log = match (&cfg.event_log, self.log.as_mut()) {
            (Some(t), Some(l)) if t == l.target() => None,
            (Some(t), _) => match EventLog::open(t.clone()) {
                Ok(l) => Some(Some(l)),
                Err(e) => return fail(self, format!("event log {t:?}: {e}")),
            },
            (None, _) => Some(None),
        };
        let (cfg, restart) = plan(&self.cfg.attach, cfg);
        for k in restart {
            eprintln!("osfp: reload: {k} changed; it takes effect at the next restart");
        }
        if let Some(mut l) = log {
            if let Some(old) = self.log.as_mut() {
                old.flush();
                if let Some(new) = l.as_mut() {
                    new.carry_over(old);
                }
            }
            self.log = l;
        }
        // Verdicts counted by the old database's labels go to the metrics first.
        self.metrics.update_pipeline(&self.pipeline);
        let db = self.pipeline.reconfigure(
            db,
            cfg.max_sources,
            cfg.max_clock_sources,
            cfg.scan.clone(),
            &mut self.scan_events,
        );
        self.pipeline.fingerprinter.config = cfg.verdicts;
        self.emit_scans(unix_now_ns());
        self.metrics.set_database(&db);
        if cfg.records != self.cfg.records {
            self.flush();
            if let Some(o) = &self.records {
                self.records_dropped_before += o.writer().dropped_lines;
            }
            self.records = records_output(cfg.records);
        }
        eprintln!(
            "osfp: reloaded: database {} ({} signatures), {} sources max, event log {}",
            db.name,
            db.sigs[0].len() + db.sigs[1].len(),
            cfg.max_sources,
            match &cfg.event_log {
                None => "off".to_string(),
                Some(LogTarget::Stdout) => "stdout".to_string(),
                Some(LogTarget::File(p)) => p.display().to_string(),
            }
        );
        self.cfg = cfg;
        self.db = db;
        self.metrics.reloaded(true);
        let _ = io::stderr().flush();
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn cfg(text: &str) -> RunConfig {
        let s = config::parse(text, Path::new("/etc/osfp/osfp.toml")).unwrap();
        s.check(None).unwrap()
    }

    #[test]
    fn a_reload_keeps_what_needs_a_restart_and_takes_the_rest() {
        let running = cfg("iface = [\"eth0\"]\nring-mib = 8\nmax-sources = 100\n");
        let new = cfg(
            "iface = [\"eth1\"]\nring-mib = 16\nmax-sources = 200\nts-sample-interval = \"2s\"\nrecords = \"off\"\n",
        );
        let (installed, restart) = plan(&running.attach, new.clone());
        assert_eq!(installed.attach, running.attach, "attach settings kept");
        assert_eq!(installed.max_sources, 200, "the rest is the new file's");
        assert_eq!(installed.records, config::Records::Off);
        assert_eq!(restart, vec!["iface", "ring-mib", "ts-sample-interval"]);
        let (again, none) = plan(&running.attach, running.clone());
        assert_eq!(again, running);
        assert!(none.is_empty());
    }
}
