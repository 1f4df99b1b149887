//! The one decoder: a [`osfp_common::PacketRecord`] (from the ring buffer or a file)
//! becomes an [`Event`] with addresses, kind and parsed TCP options.

mod event;
pub mod options;

pub use event::{flags_string, layout_string, put_flags, put_layout, Event, Kind};
pub use options::{OptKind, OptionProblem, TcpOptions};
