#!/usr/bin/env python3
"""Real Linux SYNs from the running kernel: two network namespaces joined by a veth pair
(or loopback), client sysctl variants, a TCP listener, and an AF_PACKET capture of every
SYN / SYN+ACK on the server side. Runs as root on the host or inside a virtme-ng guest
(see eval/scripts/run_netlab_vms.sh). Writes OUT/<tag>.pcap per variant (SYN and SYN+ACK
frames only) and appends a line per variant to OUT/manifest.jsonl. Removes its namespaces
at the end, on error and on SIGTERM.

Usage: netlab.py OUTDIR [--quick]
"""
import json, os, platform, signal, socket, struct, subprocess, sys, time

OUT = sys.argv[1]
QUICK = "--quick" in sys.argv
KREL = platform.release()
NS_C, NS_S = "osfpev-c", "osfpev-s"
CONNS = 3  # connections per variant (three SYNs: same stack, different ports/ISNs)

def sh(*a, check=True):
    return subprocess.run(list(a), check=check, capture_output=True, text=True)

def ns(n, *a, check=True):
    return sh("ip", "netns", "exec", n, *a, check=check)

def cleanup():
    for n in (NS_C, NS_S):
        sh("ip", "netns", "del", n, check=False)

def setup(mtu):
    cleanup()
    sh("ip", "netns", "add", NS_C); sh("ip", "netns", "add", NS_S)
    sh("ip", "link", "add", "osfpev0", "type", "veth", "peer", "name", "osfpev1")
    sh("ip", "link", "set", "osfpev0", "netns", NS_C)
    sh("ip", "link", "set", "osfpev1", "netns", NS_S)
    for n, dev, a4, a6 in ((NS_C, "osfpev0", "10.99.0.1/24", "fd99::1/64"),
                           (NS_S, "osfpev1", "10.99.0.2/24", "fd99::2/64")):
        ns(n, "ip", "link", "set", "lo", "up")
        ns(n, "ip", "link", "set", dev, "mtu", str(mtu))
        ns(n, "ip", "addr", "add", a4, "dev", dev)
        ns(n, "ip", "-6", "addr", "add", a6, "dev", dev, "nodad")
        ns(n, "ip", "link", "set", dev, "up")

# The capture and the listener run in the server namespace as one helper process.
HELPER = r'''
import socket, struct, sys, time, os
iface, out, dur = sys.argv[1], sys.argv[2], float(sys.argv[3])
ETH_P_ALL = 3
cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
cap.bind((iface, 0)); cap.settimeout(0.2)
ls = []
for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
    s = socket.socket(fam, socket.SOCK_STREAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, 8080)); s.listen(64); s.setblocking(False); ls.append(s)
f = open(out, "wb")
lt = 1 if iface != "lo" else 1
f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, lt))
print("ready", flush=True)
end = time.time() + dur
import signal
signal.signal(signal.SIGTERM, lambda *a: globals().__setitem__("end", 0))
def is_syn(fr):
    et = struct.unpack("!H", fr[12:14])[0]; o = 14
    if et == 0x0800:
        ihl = (fr[o] & 15) * 4
        if fr[o+9] != 6: return False
        t = o + ihl
    elif et == 0x86dd:
        if fr[o+6] != 6: return False
        t = o + 40
    else: return False
    return len(fr) > t + 13 and (fr[t+13] & 0x02)
while time.time() < end:
    for s in ls:
        try:
            c, _ = s.accept(); c.close()
        except BlockingIOError: pass
    try:
        fr, addr = cap.recvfrom(65535)
    except socket.timeout: continue
    if addr[2] == socket.PACKET_OUTGOING and iface == "lo": continue  # lo: each frame is seen twice
    if is_syn(fr):
        t = time.time(); fr = fr[:256]
        f.write(struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(fr), len(fr))); f.write(fr)
f.close()
'''

CLIENT = r'''
import socket, sys, time
fam = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
dst, n, rcvbuf = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for i in range(n):
    s = socket.socket(fam, socket.SOCK_STREAM)
    if rcvbuf: s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(3)
    try: s.connect((dst, 8080))
    except Exception as e: print("connect", e, file=sys.stderr)
    s.close(); time.sleep(0.05)
'''

def variants():
    V = []
    def add(tag, mtu=1500, ipv=4, sysctl=(), rcvbuf=0, lo=False):
        V.append(dict(tag=tag, mtu=mtu, ipv=ipv, sysctl=list(sysctl), rcvbuf=rcvbuf, lo=lo))
    for mtu in (1500, 1492, 1400, 9000, 1280):
        for ipv in (4, 6):
            add(f"default-mtu{mtu}-v{ipv}", mtu, ipv)
    if QUICK:
        return V[:2]
    feats = {"nots": ["net.ipv4.tcp_timestamps=0"], "nosack": ["net.ipv4.tcp_sack=0"],
             "nows": ["net.ipv4.tcp_window_scaling=0"],
             "nots-nosack": ["net.ipv4.tcp_timestamps=0", "net.ipv4.tcp_sack=0"],
             "nots-nows": ["net.ipv4.tcp_timestamps=0", "net.ipv4.tcp_window_scaling=0"],
             "bare": ["net.ipv4.tcp_timestamps=0", "net.ipv4.tcp_sack=0", "net.ipv4.tcp_window_scaling=0"],
             "ecn": ["net.ipv4.tcp_ecn=1"], "ttl128": ["net.ipv4.ip_default_ttl=128"],
             "nopmtu": ["net.ipv4.ip_no_pmtu_disc=1"]}
    for k, s in feats.items():
        for ipv in (4, 6):
            add(f"{k}-v{ipv}", 1500, ipv, s)
        if k in ("nots", "nosack", "nows"):
            add(f"{k}-mtu1492-v4", 1492, 4, s)
    rmems = {"rmem-87380-6M": "4096 87380 6291456", "rmem-131072-6M": "4096 131072 6291456",
             "rmem-131072-32M": "4096 131072 33554432", "rmem-65536-16M": "4096 65536 16777216",
             # Android's documented net.tcp.buffersize.* (wifi/LTE class values, see eval/README)
             "rmem-android-wifi": "524288 1048576 2097152", "rmem-android-lte": "524288 1048576 8388608",
             "rmem-android-umts": "4094 87380 110208", "rmem-android-hspa": "4094 87380 262144",
             "rmem-262144-4M": "4096 262144 4194304", "rmem-big-64M": "4096 1048576 67108864"}
    for k, r in rmems.items():
        for mtu in ((1500, 1492) if k.startswith("rmem-android-wifi") else (1500,)):
            add(f"{k}-mtu{mtu}-v4", mtu, 4, [f"net.ipv4.tcp_rmem={r}"])
        add(f"{k}-v6", 1500, 6, [f"net.ipv4.tcp_rmem={r}"])
        add(f"{k}-nots-v4", 1500, 4, [f"net.ipv4.tcp_rmem={r}", "net.ipv4.tcp_timestamps=0"])
    for rb in (8192, 65535, 131072, 262144, 1048576, 4194304):
        add(f"sorcvbuf{rb}-v4", 1500, 4, (), rb)
    add("loopback-v4", 65536, 4, lo=True)
    add("loopback-v6", 65536, 6, lo=True)
    return V

def run_variant(v):
    iface = "lo" if v["lo"] else "osfpev1"
    if v["lo"]:
        cleanup(); sh("ip", "netns", "add", NS_S); ns(NS_S, "ip", "link", "set", "lo", "up")
        cns = NS_S; dst = "127.0.0.1" if v["ipv"] == 4 else "::1"
    else:
        setup(v["mtu"]); cns = NS_C; dst = "10.99.0.2" if v["ipv"] == 4 else "fd99::2"
    applied = []
    for s in v["sysctl"]:
        k, val = s.split("=", 1)
        r = ns(cns, "sysctl", "-w", f"{k}={val}", check=False)
        applied.append({"sysctl": s, "ok": r.returncode == 0})
    if v["rcvbuf"]:
        sh("sysctl", "-w", "net.core.rmem_max=16777216", check=False)
    out = os.path.join(OUT, v["tag"] + ".pcap")
    hp = subprocess.Popen(["ip", "netns", "exec", NS_S, sys.executable, "-c", HELPER, iface, out, "20"],
                          stdout=subprocess.PIPE, text=True)
    hp.stdout.readline()
    time.sleep(0.2)
    c = ns(cns, sys.executable, "-c", CLIENT, str(v["ipv"]), dst, str(CONNS), str(v["rcvbuf"]), check=False)
    time.sleep(0.4)
    hp.terminate(); hp.wait(timeout=30)
    rec = dict(v, kernel=KREL, pcap=os.path.basename(out), applied=applied, client_err=c.stderr[-300:])
    with open(os.path.join(OUT, "manifest.jsonl"), "a") as f:
        f.write(json.dumps(rec) + "\n")

def main():
    os.makedirs(OUT, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *a: (cleanup(), sys.exit(1)))
    try:
        for v in variants():
            # helper listens 6 s; shorten by sending SIGTERM? keep simple: fixed duration
            run_variant(v)
            print(v["tag"], flush=True)
    finally:
        cleanup()
        sh("ip", "link", "del", "osfpev0", check=False)

if __name__ == "__main__":
    main()
