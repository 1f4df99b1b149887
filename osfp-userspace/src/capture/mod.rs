//! Where records come from. The XDP program ([`xdp`]; which build of it the kernel
//! gets: [`kernel`]) and capture files ([`file`])
//! both end in [`osfp_common::PacketRecord`]s: files through [`frame::Selector`], the
//! userspace twin of the kernel's parse and selection rules. [`reorder`] merges several
//! interfaces' ring buffers into capture order.

pub mod file;
pub mod frame;
pub mod kernel;
pub mod reorder;
pub mod xdp;
