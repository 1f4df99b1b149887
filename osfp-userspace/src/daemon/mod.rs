//! `osfp run`: configuration ([`config`]), the consumer loop ([`run`]) with its ring
//! pumps and reload.

pub mod config;
pub mod run;
