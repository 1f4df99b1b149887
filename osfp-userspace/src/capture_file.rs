//! Reads pcap and pcapng files frame by frame: link type, capture time, bytes.
//! Truncated files and unsupported link types end or skip cleanly, and are reported.

use std::{fs::File, io::BufReader, path::Path};

use anyhow::{bail, Context, Result};
use pcap_file::{
    pcap::PcapReader,
    pcapng::{blocks::interface_description::InterfaceDescriptionOption, Block, PcapNgReader},
};

use crate::frame::Link;

/// What reading one file came to, besides its frames.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileReport {
    pub frames: u64,
    /// Frames whose link type we do not parse (by pcap LINKTYPE number).
    pub unsupported_link: Vec<(u32, u64)>,
    /// The file ended inside a record, or a block was corrupt: reading stopped there.
    pub read_error: Option<String>,
}

impl FileReport {
    fn unsupported(&mut self, lt: u32) {
        match self.unsupported_link.iter_mut().find(|(l, _)| *l == lt) {
            Some((_, n)) => *n += 1,
            None => self.unsupported_link.push((lt, 1)),
        }
    }
}

/// Calls `f(link, frame, unix_ns)` for every frame of a pcap or pcapng file.
pub fn for_each_frame(path: &Path, mut f: impl FnMut(Link, &[u8], u64)) -> Result<FileReport> {
    let mut file = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut magic = [0u8; 4];
    std::io::Read::read_exact(&mut file, &mut magic)
        .with_context(|| format!("{}: too short for a capture file", path.display()))?;
    std::io::Seek::rewind(&mut file)?;
    let reader = BufReader::with_capacity(1 << 16, file);
    let mut report = FileReport::default();
    match u32::from_le_bytes(magic) {
        0x0A0D0D0A => pcapng(reader, &mut report, &mut f),
        0xA1B2C3D4 | 0xD4C3B2A1 | 0xA1B23C4D | 0x4D3CB2A1 => pcap(reader, &mut report, &mut f),
        m => bail!(
            "{}: not a pcap or pcapng file (magic {m:#010x})",
            path.display()
        ),
    }
    .with_context(|| format!("{}: cannot read", path.display()))?;
    Ok(report)
}

fn pcap(
    reader: BufReader<File>,
    report: &mut FileReport,
    f: &mut impl FnMut(Link, &[u8], u64),
) -> Result<()> {
    let mut r = PcapReader::new(reader)?;
    let lt: u32 = r.header().datalink.into();
    let link = Link::from_linktype(lt);
    // pcap-file already scales microsecond and nanosecond files; its Duration is exact.
    while let Some(p) = r.next_packet() {
        let p = match p {
            Ok(p) => p,
            Err(e) => {
                report.read_error = Some(e.to_string());
                break;
            }
        };
        report.frames += 1;
        match link {
            Some(link) => f(link, &p.data, p.timestamp.as_nanos() as u64),
            None => report.unsupported(lt),
        }
    }
    Ok(())
}

/// One pcapng interface: link type and nanoseconds per timestamp unit.
struct Iface {
    lt: u32,
    /// Timestamp units: multiply (power of ten) or general divisor.
    ts: TsUnit,
}

#[derive(Clone, Copy)]
enum TsUnit {
    /// Units are 10^-n s.
    Dec(u8),
    /// Units are 2^-n s.
    Bin(u8),
}

impl TsUnit {
    fn to_ns(self, raw: u64) -> u64 {
        match self {
            TsUnit::Dec(n) if n <= 9 => raw.saturating_mul(10u64.pow(9 - n as u32)),
            TsUnit::Dec(n) => raw / 10u64.pow((n.min(19) - 9) as u32),
            TsUnit::Bin(n) => ((raw as u128 * 1_000_000_000) >> n.min(63)) as u64,
        }
    }
}

fn pcapng(
    reader: BufReader<File>,
    report: &mut FileReport,
    f: &mut impl FnMut(Link, &[u8], u64),
) -> Result<()> {
    let mut r = PcapNgReader::new(reader)?;
    let mut ifaces: Vec<Iface> = Vec::new();
    while let Some(b) = r.next_block() {
        let b = match b {
            Ok(b) => b,
            Err(e) => {
                report.read_error = Some(e.to_string());
                break;
            }
        };
        // pcap-file reads the raw 64-bit timestamp into a Duration of that many ns.
        let (iface, raw_ts, data) = match &b {
            Block::SectionHeader(_) => {
                ifaces.clear();
                continue;
            }
            Block::InterfaceDescription(d) => {
                let mut ts = TsUnit::Dec(6);
                for o in &d.options {
                    if let InterfaceDescriptionOption::IfTsResol(v) = o {
                        ts = if v & 0x80 != 0 {
                            TsUnit::Bin(v & 0x7f)
                        } else {
                            TsUnit::Dec(*v)
                        };
                    }
                }
                ifaces.push(Iface {
                    lt: d.linktype.into(),
                    ts,
                });
                continue;
            }
            Block::EnhancedPacket(p) => (
                p.interface_id as usize,
                p.timestamp.as_nanos() as u64,
                &p.data,
            ),
            Block::Packet(p) => (p.interface_id as usize, p.timestamp, &p.data),
            Block::SimplePacket(p) => (0, 0, &p.data),
            _ => continue,
        };
        report.frames += 1;
        let Some(i) = ifaces.get(iface) else {
            report.unsupported(u32::MAX);
            continue;
        };
        match Link::from_linktype(i.lt) {
            Some(link) => f(link, data, i.ts.to_ns(raw_ts)),
            None => report.unsupported(i.lt),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::TsUnit;

    #[test]
    fn timestamp_units() {
        assert_eq!(TsUnit::Dec(6).to_ns(1_500_000), 1_500_000_000);
        assert_eq!(TsUnit::Dec(9).to_ns(7), 7);
        assert_eq!(TsUnit::Dec(12).to_ns(7_000), 7);
        assert_eq!(TsUnit::Bin(10).to_ns(1024), 1_000_000_000);
    }
}
