//! Where records come from. The XDP program ([`xdp`]) and capture files ([`file`])
//! both end in [`osfp_common::PacketRecord`]s: files through [`frame::Selector`], the
//! userspace twin of the kernel's parse and selection rules. [`reorder`] merges several
//! interfaces' ring buffers into capture order.

pub mod file;
pub mod frame;
pub mod reorder;
pub mod xdp;
