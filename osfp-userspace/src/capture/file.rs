//! Reads pcap and pcapng files frame by frame: link type, capture time, bytes.
//! Truncated files and unsupported link types end or skip cleanly, and are reported.

use std::{
    fs::File,
    io::{BufReader, Read},
    path::Path,
};

use anyhow::{bail, Context, Result};
use pcap_file::pcapng::{
    blocks::interface_description::InterfaceDescriptionOption, Block, PcapNgReader,
};

use crate::capture::frame::Link;

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
pub fn for_each_frame(path: &Path, f: impl FnMut(Link, &[u8], u64)) -> Result<FileReport> {
    let file = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    for_each_frame_in(file, f).with_context(|| path.display().to_string())
}

/// [`for_each_frame`] over any reader: a capture file's bytes, from its first byte.
pub fn for_each_frame_in(
    mut input: impl Read,
    mut f: impl FnMut(Link, &[u8], u64),
) -> Result<FileReport> {
    let mut magic = [0u8; 4];
    input
        .read_exact(&mut magic)
        .context("too short for a capture file")?;
    let reader = BufReader::with_capacity(1 << 16, (&magic[..]).chain(input));
    let mut report = FileReport::default();
    match u32::from_le_bytes(magic) {
        0x0A0D0D0A => pcapng(reader, &mut report, &mut f),
        0xA1B2C3D4 | 0xD4C3B2A1 | 0xA1B23C4D | 0x4D3CB2A1 | 0xA1B2CD34 | 0x34CDB2A1 => {
            pcap(reader, &mut report, &mut f)
        }
        m => bail!("not a pcap or pcapng file (magic {m:#010x})"),
    }
    .context("cannot read")?;
    Ok(report)
}

/// Largest record accepted; libpcap's own limit is 256 KiB, jumbo captures stay below.
const MAX_RECORD: usize = 1 << 20;

/// Legacy pcap, read as leniently as libpcap: records longer than the snap length and
/// sub-second fields of a second or more are taken as they are (pcap-file refuses them).
fn pcap(
    mut reader: impl Read,
    report: &mut FileReport,
    f: &mut impl FnMut(Link, &[u8], u64),
) -> Result<()> {
    let mut h = [0u8; 24];
    reader.read_exact(&mut h).context("pcap header cut short")?;
    let magic = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    let le = matches!(magic, 0xA1B2C3D4 | 0xA1B23C4D | 0xA1B2CD34);
    let rd = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let nanos = matches!(magic, 0xA1B23C4D | 0x4D3CB2A1);
    // Kuznetzov's patched format adds 8 bytes to every record header.
    let rec_hdr = if matches!(magic, 0xA1B2CD34 | 0x34CDB2A1) {
        24
    } else {
        16
    };
    // The upper bits may carry FCS information; the link type is the low 16.
    let lt = rd(&h[20..24]) & 0xFFFF;
    let link = Link::from_linktype(lt);
    let mut rh = [0u8; 24];
    let mut data = Vec::with_capacity(65536);
    loop {
        match read_full(&mut reader, &mut rh[..rec_hdr]) {
            Ok(0) => break,
            Ok(n) if n < rec_hdr => {
                report.read_error = Some("file ends inside a record header".into());
                break;
            }
            Ok(_) => {}
            Err(e) => {
                report.read_error = Some(e.to_string());
                break;
            }
        }
        let (sec, frac, incl) = (
            rd(&rh[0..4]) as u64,
            rd(&rh[4..8]) as u64,
            rd(&rh[8..12]) as usize,
        );
        if incl > MAX_RECORD {
            report.read_error = Some(format!("record of {incl} bytes: corrupt file"));
            break;
        }
        data.resize(incl, 0);
        if let Err(e) = reader.read_exact(&mut data) {
            report.read_error = Some(format!("file ends inside a record: {e}"));
            break;
        }
        report.frames += 1;
        let ts = sec * 1_000_000_000 + if nanos { frac } else { frac * 1_000 };
        match link {
            Some(link) => f(link, &data, ts),
            None => report.unsupported(lt),
        }
    }
    Ok(())
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
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
    reader: impl Read,
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
                &p.data[..],
            ),
            Block::Packet(p) => (p.interface_id as usize, p.timestamp, &p.data[..]),
            // The block's data is padded to 4 bytes; the packet is at most its
            // original length.
            Block::SimplePacket(p) => {
                let n = (p.original_len as usize).min(p.data.len());
                (0, 0, &p.data[..n])
            }
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
