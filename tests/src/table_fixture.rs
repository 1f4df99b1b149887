//! The cheapest fingerprinted packet, for source-table tests: a database of one Linux
//! label and the signature of a SYN it matches exactly.

use osfp::{
    analysis::fingerprint::{Database, Signature},
    decode::Event,
};
use osfp_common::{reason, tcp_flag, PacketRecord};

/// The database and the SYN's signature (`db.classify(&sig, false)` gives the verdict).
pub fn linux_syn() -> (Database, Signature) {
    let db = Database::parse(
        "classes = unix\n[tcp:request]\nlabel = s:unix:Linux:test\nsig = *:64:0:*:*,*:mss::0\n",
        "t.fp",
    )
    .expect("the fixture database parses");
    let mut r = PacketRecord::zeroed();
    r.family = 4;
    r.reason = reason::SYN;
    r.ttl = 60;
    r.seq = 1;
    r.ip_id = 1;
    r.tcp_flags = tcp_flag::SYN;
    r.window = 100;
    r.doff = 6;
    r.opt_len = 4;
    r.options[..4].copy_from_slice(&[2, 4, 5, 0xb4]);
    let sig = Signature::from_event(&Event::decode(&r), 0).expect("a SYN's signature");
    (db, sig)
}
