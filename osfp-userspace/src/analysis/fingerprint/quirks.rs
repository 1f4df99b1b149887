//! p0f's quirks: a bit set, with the names and the print order of p0f 3.09b.

/// A set of quirks. The bit order is the order p0f prints them in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Quirks(pub u32);

impl Quirks {
    pub const DF: u32 = 1 << 0;
    pub const NZ_ID: u32 = 1 << 1;
    pub const ZERO_ID: u32 = 1 << 2;
    pub const ECN: u32 = 1 << 3;
    pub const NZ_MBZ: u32 = 1 << 4;
    pub const FLOW: u32 = 1 << 5;
    pub const ZERO_SEQ: u32 = 1 << 6;
    pub const NZ_ACK: u32 = 1 << 7;
    pub const ZERO_ACK: u32 = 1 << 8;
    pub const NZ_URG: u32 = 1 << 9;
    pub const URG: u32 = 1 << 10;
    pub const PUSH: u32 = 1 << 11;
    pub const OPT_ZERO_TS1: u32 = 1 << 12;
    pub const OPT_NZ_TS2: u32 = 1 << 13;
    pub const OPT_EOL_NZ: u32 = 1 << 14;
    pub const OPT_EXWS: u32 = 1 << 15;
    pub const OPT_BAD: u32 = 1 << 16;

    /// Quirks that only exist in IPv4 headers (p0f rejects them on `6:` signatures).
    pub const IPV4_ONLY: u32 = Self::DF | Self::NZ_ID | Self::ZERO_ID | Self::NZ_MBZ;
    /// p0f masks these off a `*:` signature when matching an IPv6 packet (`0+` is not
    /// among them: p0f keeps it).
    pub const MASK_FOR_V6: u32 = Self::DF | Self::NZ_ID | Self::ZERO_ID;

    /// Names in print order; index i is bit i.
    pub const NAMES: [&'static str; 17] = [
        "df", "id+", "id-", "ecn", "0+", "flow", "seq-", "ack+", "ack-", "uptr+", "urgf+",
        "pushf+", "ts1-", "ts2+", "opt+", "exws", "bad",
    ];

    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }

    /// The bit of a quirk name, if it is one.
    pub fn bit(name: &str) -> Option<u32> {
        Self::NAMES.iter().position(|n| *n == name).map(|i| 1 << i)
    }

    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, n)| *n)
    }
}

impl std::fmt::Display for Quirks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, n) in self.names().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(n)?;
        }
        Ok(())
    }
}
