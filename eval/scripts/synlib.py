"""Small helpers shared by the eval scripts: build a TCP SYN (IPv4/IPv6 over Ethernet) from a
parameter dict, parse osfp's option hex back into a list, write pcap files. Standard library only.

A SYN spec (dict):
  ipv 4|6, ttl, df (bool), ip_id (int), tos (int, low 2 bits = ECN field), flow (IPv6 label),
  window, flags (int; 0x02 SYN, |0x40 ECE |0x80 CWR), seq,
  opts: list of (kind, value) in wire order: ("mss",1460) ("nop",) ("ws",8) ("sok",) ("ts",(val,ecr))
        ("eol",) followed by padding count ("pad",N) (zero bytes after EOL)
  src, dst (strings), sport, dport
"""
import ipaddress, struct

def opt_bytes(opts):
    b = bytearray()
    for o in opts:
        k = o[0]
        if k == "mss": b += struct.pack("!BBH", 2, 4, o[1])
        elif k == "nop": b += b"\x01"
        elif k == "ws": b += struct.pack("!BBB", 3, 3, o[1])
        elif k == "sok": b += b"\x04\x02"
        elif k == "ts": b += struct.pack("!BBII", 8, 10, o[1][0], o[1][1])
        elif k == "eol": b += b"\x00"
        elif k == "pad": b += b"\x00" * o[1]
        elif k == "raw": b += o[1]
        else: raise ValueError(k)
    return bytes(b)

def parse_opts(hexstr):
    """options_hex -> list of (kind, value) as above (unknown kinds as ('raw', bytes))."""
    b = bytes.fromhex(hexstr or ""); i = 0; out = []
    while i < len(b):
        k = b[i]
        if k == 0:
            out.append(("eol",))
            if len(b) - i - 1: out.append(("pad", len(b) - i - 1))
            break
        if k == 1: out.append(("nop",)); i += 1; continue
        if i + 1 >= len(b): out.append(("raw", b[i:])); break
        ln = b[i + 1]
        if ln < 2 or i + ln > len(b): out.append(("raw", b[i:])); break
        v = b[i + 2:i + ln]
        if k == 2 and ln == 4: out.append(("mss", struct.unpack("!H", v)[0]))
        elif k == 3 and ln == 3: out.append(("ws", v[0]))
        elif k == 4 and ln == 2: out.append(("sok",))
        elif k == 8 and ln == 10: out.append(("ts", struct.unpack("!II", v)))
        else: out.append(("raw", b[i:i + ln]))
        i += ln
    return out

def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF

def build(spec):
    ob = opt_bytes(spec.get("opts", []))
    ob += b"\x00" * ((4 - len(ob) % 4) % 4)
    doff = 5 + len(ob) // 4
    tcp = struct.pack("!HHIIBBHHH", spec.get("sport", 40000), spec.get("dport", 443), spec.get("seq", 12345),
                      spec.get("ack", 0), doff << 4, spec.get("flags", 0x02), spec["window"], 0,
                      spec.get("urg", 0)) + ob
    ipv = spec.get("ipv", 4)
    if ipv == 4:
        src = ipaddress.IPv4Address(spec.get("src", "10.1.0.1")).packed
        dst = ipaddress.IPv4Address(spec.get("dst", "10.2.0.1")).packed
        ph = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", csum(ph + tcp)) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, spec.get("tos", 0), 20 + len(tcp), spec.get("ip_id", 0) & 0xFFFF,
                         0x4000 if spec.get("df", True) else 0, spec["ttl"], 6, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        return b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + ip + tcp
    src = ipaddress.IPv6Address(spec.get("src", "fd00:1::1")).packed
    dst = ipaddress.IPv6Address(spec.get("dst", "fd00:2::1")).packed
    ph = src + dst + struct.pack("!IxxxB", len(tcp), 6)
    tcp = tcp[:16] + struct.pack("!H", csum(ph + tcp)) + tcp[18:]
    tc = spec.get("tos", 0)
    first = (6 << 28) | (tc << 20) | (spec.get("flow", 0) & 0xFFFFF)
    ip = struct.pack("!IHBB16s16s", first, len(tcp), 6, spec["ttl"], src, dst)
    return b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x86\xdd" + ip + tcp

class PcapWriter:
    def __init__(self, path):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        self.t = 1700000000.0
    def write(self, frame, t=None):
        self.t = t if t is not None else self.t + 0.01
        self.f.write(struct.pack("<IIII", int(self.t), int((self.t % 1) * 1e6), len(frame), len(frame)))
        self.f.write(frame)
    def close(self):
        self.f.close()

def spec_from_rec(r):
    """osfp JSON record -> SYN spec (to re-emit a real SYN, e.g. rewritten by a middlebox model)."""
    return {"ipv": r["ip_version"], "ttl": r["ttl"], "df": r["df"], "ip_id": r["ip_id"] or 0,
            "tos": r.get("tos") or 0, "flow": r.get("flow_label") or 0, "window": r["window"],
            "flags": r["flags_raw"], "seq": r.get("seq") or 1, "ack": r.get("ack") or 0,
            "urg": r.get("urg_ptr") or 0, "opts": parse_opts(r.get("options_hex")),
            "sport": r["sport"], "dport": r["dport"]}
