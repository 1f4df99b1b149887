pub mod db;
pub mod pcap;
pub mod run;

use crate::{cli::OutputArgs, output::Format};

fn format(o: &OutputArgs) -> Format {
    if o.json {
        Format::Json
    } else {
        Format::Text
    }
}
