#!/usr/bin/env python3
"""SYNTHETIC SYNs, clearly marked: (a) stacks we cannot run, from their source code or
documented defaults; (b) every specific, non-tool [tcp:request] signature of p0f 3.09b's
p0f.fp (LGPL-2.1, Michal Zalewski), wildcards expanded with typical values.
Each synthetic "host" is one draw of a stack's parameters and sends 3 SYNs (new port, ISN,
IP ID step, TSval) from its own address. Deterministic (seeded).

Writes OUT/synthetic_facts.pcap, OUT/synthetic_p0f.pcap and labels/synthetic_labels.tsv:
  path, src, label, family, evidence, group (= host), split (35 % of hosts held out, per label).
Usage: synthetic.py OUTDIR
"""
import hashlib, ipaddress, os, random, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from synlib import build, PcapWriter

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../work/synth")
LABELS = os.path.join(HERE, "../labels/synthetic_labels.tsv")
R = random.Random(20261201)

def pick(d):
    x = R.random() * sum(d.values()); acc = 0
    for k, w in d.items():
        acc += w
        if x <= acc: return k
    return k

HOPS = lambda: R.randint(0, 22)
LOCAL_MSS4 = {1460: 85, 1440: 4, 1400: 3, 1380: 3, 1452: 3, 1360: 2}

def ts(): return ("ts", (R.getrandbits(32) or 1, 0))

# ---- (a) facts: each returns (label, family, evidence, spec-maker) ---------------------------
def windows10():
    ipv = 6 if R.random() < 0.25 else 4
    mss = 1440 if ipv == 6 else pick(LOCAL_MSS4)
    scale = pick({8: 90, 4: 4, 2: 3, 0: 3})
    with_ts = R.random() < 0.04
    win = (65535 // mss) * mss                        # receive window rounded down to an MSS multiple
    if scale == 0 and R.random() < 0.5: win = 65535
    opts = ([("mss", mss), ("nop",), ("ws", scale), ("sok",), ts()] if with_ts else
            [("mss", mss), ("nop",), ("ws", scale), ("nop",), ("nop",), ("sok",)])
    return ("Windows 10/11", "windows",
            "doc: Windows 10/11 defaults (TTL 128, 64K receive window rounded down to an MSS multiple, "
            "autotuning 'normal' scale 8; Tcp1323Opts: no timestamps on SYN)",
            dict(ipv=ipv, ttl=128, df=True, window=win, opts=opts, idstep=True, flow=R.random() < 0.5))

def windows7():
    scale = pick({8: 60, 2: 30, None: 10})
    opts = [("mss", 1460), ("nop",), ("ws", scale), ("nop",), ("nop",), ("sok",)] if scale is not None else \
           [("mss", 1460), ("nop",), ("nop",), ("sok",)]
    return ("Windows 7/8", "windows", "doc: Windows Vista/7/8 default SYN window 8192 (p0f 3.09b)",
            dict(ipv=4 if R.random() < 0.9 else 6, ttl=128, df=True, window=8192, opts=opts, idstep=True))

def apple():
    ipv = 6 if R.random() < 0.3 else 4
    mss = 1440 if ipv == 6 else pick(LOCAL_MSS4)
    scale = pick({6: 55, 5: 35, 4: 5, 7: 5})
    opts = [("mss", mss), ("nop",), ("ws", scale), ("nop",), ("nop",), ts(), ("sok",), ("eol",), ("pad", 1)]
    return ("macOS/iOS", "apple",
            "source: apple-oss-distributions/xnu bsd/netinet/tcp_output.c (MSS, NOP+WS, NOP NOP TS, SACK-permitted last, "
            "EOL pad), window 65535 (rcvbuf > TCP_MAXWIN), scale from tcp_autorcvbuf_max (5/6), IP ID 0 with DF; "
            "tcp_subr.c tcp_ecn_outbound = 2 (heuristic ECN setup on some SYNs)",
            dict(ipv=ipv, ttl=64, df=True, window=65535, opts=opts, idzero=True, ecn=R.random() < 0.3,
                 flow=True))

def freebsd():
    return ("FreeBSD 13-14", "bsd", "source: freebsd-src tcp_output.c tcp_addoptions(), tcp_recvspace 64K, SB_MAX 2MB, ip_rfc6864",
            dict(ipv=4 if R.random() < 0.8 else 6, ttl=64, df=True, window=65535,
                 opts=[("mss", 1460), ("nop",), ("ws", 6), ("sok",), ts()], idzero=True))

def openbsd():
    return ("OpenBSD 7", "bsd", "source: openbsd/src tcp_output.c, TCP_RECVSPACE 16K, SB_MAX 2MB, ip_randomid()",
            dict(ipv=4, ttl=64, df=True, window=16384,
                 opts=[("mss", 1460), ("nop",), ("nop",), ("sok",), ("nop",), ("ws", 6), ("nop",), ("nop",), ts()]))

def lwip():
    mss = pick({1460: 50, 536: 20, 1152: 15, 1024: 15})
    return ("Embedded lwIP", "embedded", "doc: lwIP opt.h (IP_DEFAULT_TTL 255, TCP_WND 4*TCP_MSS, MSS option only, no DF)",
            dict(ipv=4, ttl=255, df=False, window=4 * mss, opts=[("mss", mss)], idstep=True))

FACTS = [(windows10, 400), (windows7, 120), (apple, 400), (freebsd, 60), (openbsd, 40), (lwip, 40)]

# ---- (b) p0f.fp specific signatures ------------------------------------------------------------
def p0f_sigs(path="/etc/p0f/p0f.fp"):
    out, label, sect = [], None, None
    for line in open(path):
        line = line.strip()
        if line.startswith("["): sect = line
        if sect != "[tcp:request]": continue
        if line.startswith("label"):
            label = line.split("=", 1)[1].strip()
        elif line.startswith("sig") and label:
            typ, cls, name, flavor = label.split(":", 3)
            # tools, p0f's own tool, and two crawler entries that are Linux behind a rewriting box
            # (BaiduSpider: NOP-over-TS; Websense: TTL 64 Linux-style layout) are left out
            if typ != "s" or cls == "!" or name in ("p0f", "BaiduSpider") or "crawler" in flavor: continue
            out.append((name, flavor, line.split("=", 1)[1].strip()))
    return out

FAM = [("Linux", "linux"), ("Windows", "windows"), ("Mac OS X", "apple"), ("MacOS X", "apple"), ("iOS", "apple"),
       ("FreeBSD", "bsd"), ("OpenBSD", "bsd")]

def p0f_spec(name, flavor, sig):
    ver, ittl, olen, mss, wsz, olay, quirks, pclass = sig.split(":")
    wsize, scale = wsz.split(",")
    ipv = int(ver) if ver != "*" else (6 if R.random() < 0.2 else 4)
    mssv = int(mss) if mss != "*" else (1440 if ipv == 6 else pick(LOCAL_MSS4))
    scale = int(scale) if scale != "*" else R.choice([0, 2, 4, 6, 7, 8])
    if wsize.startswith("mss*"): win = int(wsize[4:]) * mssv
    elif wsize.startswith("mtu*"): win = int(wsize[4:]) * (mssv + 40)
    elif wsize == "*": win = R.choice([8192, 16384, 29200, 65535])
    else: win = int(wsize)
    win = min(win, 65535)
    opts = []
    for o in olay.split(","):
        if o == "mss": opts.append(("mss", mssv))
        elif o == "nop": opts.append(("nop",))
        elif o == "ws": opts.append(("ws", scale))
        elif o == "sok": opts.append(("sok",))
        elif o == "ts": opts.append(ts())
        elif o.startswith("eol+"): opts += [("eol",)] + ([("pad", int(o[4:]))] if int(o[4:]) else [])
    q = set(quirks.split(",")) - {""}
    df = "df" in q
    fam = next((f for p, f in FAM if name.startswith(p)), "other")
    label = (name + " " + flavor).strip()
    if "(Android)" in flavor: fam, label = "android", "Android (p0f: Linux (Android))"
    return (label, fam, "p0f.fp 3.09b signature " + sig,
            dict(ipv=ipv, ttl=int(ittl.rstrip("-")), df=df, window=win, opts=opts,
                 idzero=(df and "id+" not in q) or "id-" in q, idstep=not ((df and "id+" not in q) or "id-" in q),
                 loopback=mss in ("16396", "16376", "3884")))

def emit(pw, host_ix, subnet, make):
    label, fam, ev, p = make() if callable(make) else make
    ipv = p["ipv"]
    src = str(ipaddress.ip_address(subnet[ipv]) + host_ix)
    hops = 0 if p.get("loopback") else HOPS()
    ipid = R.getrandbits(16) or 1
    for k in range(3):
        opts = [(("ts", (R.getrandbits(32) or 1, 0)) if o[0] == "ts" else o) for o in p["opts"]]
        flags = 0x02 | (0xC0 if p.get("ecn") else 0)
        spec = dict(ipv=ipv, ttl=max(1, p["ttl"] - hops), df=p["df"], window=p["window"], opts=opts, flags=flags,
                    ip_id=0 if p.get("idzero") else ipid, src=src,
                    dst=("10.200.0.1" if ipv == 4 else "fd00:200::1"), sport=R.randint(32768, 60999),
                    dport=R.choice([80, 443, 443, 443]), seq=R.getrandbits(32),
                    flow=(R.getrandbits(20) or 1) if (ipv == 6 and p.get("flow")) else 0)
        ipid = (ipid + R.randint(1, 40)) & 0xFFFF or 1
        pw.write(build(spec))
    return src, label, fam, ev

def split_of(key, label):
    h = int(hashlib.sha1((label + "|" + key).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "heldout" if h < 0.35 else "train"

def main():
    os.makedirs(OUT, exist_ok=True)
    rows = []
    pw = PcapWriter(os.path.join(OUT, "synthetic_facts.pcap")); ix = 1
    subnet = {4: "10.64.0.0", 6: "fd64::"}
    for fn, n in FACTS:
        for _ in range(n):
            src, label, fam, ev = emit(pw, ix, subnet, fn); ix += 1
            rows.append(["synth:synthetic_facts.pcap", src, label, fam, "synthetic-fact; " + ev, "synth-facts/" + src])
    pw.close()
    pw = PcapWriter(os.path.join(OUT, "synthetic_p0f.pcap")); ix = 1
    subnet = {4: "10.65.0.0", 6: "fd65::"}
    for name, flavor, sig in p0f_sigs():
        for _ in range(6):
            src, label, fam, ev = emit(pw, ix, subnet, p0f_spec(name, flavor, sig)); ix += 1
            rows.append(["synth:synthetic_p0f.pcap", src, label, fam, "synthetic-p0f; " + ev, "synth-p0f/" + src])
    pw.close()
    with open(LABELS, "w") as f:
        f.write("path\tsrc\tlabel\tfamily\tevidence\tgroup\tsyns\tsplit\n")
        for r in rows:
            # p0f-signature hosts are training data only: held-out hosts drawn from the same signature
            # would measure nothing but memorisation
            sp = "train" if r[0].endswith("p0f.pcap") else split_of(r[1], r[2])
            f.write("\t".join(r + ["3", sp]) + "\n")
    print(len(rows), "synthetic hosts", file=sys.stderr)

if __name__ == "__main__":
    main()
