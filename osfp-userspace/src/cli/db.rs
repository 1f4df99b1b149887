//! `osfp db check FILE`

use anyhow::Result;

use super::args::DbCommand;
use crate::analysis::fingerprint::{Database, Direction};

pub fn run(cmd: &DbCommand) -> Result<i32> {
    match cmd {
        DbCommand::Check { file } => {
            let name = file.display().to_string();
            let text = match std::fs::read_to_string(file) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("{name}:0:0: cannot read: {e}");
                    return Ok(1);
                }
            };
            let (db, errors) = Database::parse_lenient(&text, &name);
            for e in &errors {
                println!("{e}");
            }
            let tools = db.file_labels().filter(|l| l.is_tool()).count();
            let skipped: Vec<String> = db
                .skipped
                .iter()
                .map(|s| format!("[{}] ({} sigs)", s.name, s.sigs))
                .collect();
            println!(
                "{name}: {} errors; {} labels ({tools} tools), {} request + {} response signatures, {} mtu entries; skipped sections: {}",
                errors.len(),
                db.file_labels().count(),
                db.sig_count(Direction::Request),
                db.sig_count(Direction::Response),
                db.mtu.len(),
                if skipped.is_empty() { "none".to_string() } else { skipped.join(", ") }
            );
            Ok(if errors.is_empty() { 0 } else { 1 })
        }
    }
}
