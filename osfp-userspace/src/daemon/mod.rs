//! `osfp run`: the start-up sequence ([`start`]), configuration ([`config`]), the ring
//! pumps ([`pump`]), the consumer loop ([`consumer`]) and its reload ([`reload`]).

pub mod config;
mod consumer;
pub mod pump;
pub mod reload;
pub mod start;
