//! The command line ([`args`]) and the commands other than the daemon: `osfp pcap`
//! ([`pcap`]) and `osfp db` ([`db`]).

pub mod args;
pub mod db;
pub mod pcap;

pub use args::{Cli, Command};

use crate::export::output::Format;

fn format(o: &args::OutputArgs) -> Format {
    if o.json {
        Format::Json
    } else {
        Format::Text
    }
}
