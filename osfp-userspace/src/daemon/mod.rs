//! `osfp run`: the start-up sequence ([`start`]), configuration ([`config`]), the ring
//! buffers' reader ([`rings`]), the consumer loop ([`consumer`]) and its reload
//! ([`reload`]).

pub mod config;
mod consumer;
pub mod reload;
pub mod rings;
pub mod start;
