//! What one event says, each analysis apart: the p0f signature and its match
//! ([`fingerprint`]), the TSval clock and IP ID behaviour of its source ([`clock`],
//! [`ipid`]), scan probes and sweeps ([`scan`]), SYN floods ([`flood`]), and FoxIO's JA4T ([`ja4t`], opt-in).

pub mod clock;
pub mod fingerprint;
pub mod flood;
pub mod ipid;
#[cfg(feature = "ja4t")]
pub mod ja4t;
pub mod scan;
