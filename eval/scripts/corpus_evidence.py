#!/usr/bin/env python3
"""Pass 1 over the shared corpus: per file, collect the independent (non-TCP/IP) evidence
about each source address: HTTP User-Agents of its requests, DHCP vendor class (option 60)
and hostname (option 12) joined to the address through the client MAC, and the MAC of every
SYN sender. Output: eval/work/evidence.jsonl (one object per file), a cache, not committed.

Usage: corpus_evidence.py [--corpus DIR] [--out FILE]
"""
import argparse, json, os, subprocess, sys
from collections import defaultdict

FIELDS = ["frame.number", "eth.src", "ip.src", "ipv6.src", "tcp.flags", "http.user_agent",
          "dhcp.option.vendor_class_id", "dhcp.option.hostname", "dhcp.option.requested_ip_address",
          "dhcp.ip.your", "dhcp.hw.mac_addr", "dhcp.option.dhcp", "dhcpv6.vendorclass.data",
          "http.server", "ip.dst", "ipv6.dst"]

def run(path):
    cmd = ["tshark", "-n", "-r", path, "-Y",
           "http.request || http.response || dhcp || dhcpv6 || (tcp.flags.syn==1 && tcp.flags.ack==0)",
           "-T", "fields", "-E", "separator=/t", "-E", "occurrence=l"]
    for f in FIELDS:
        cmd += ["-e", f]
    p = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=300)
    ev = {"ua": defaultdict(list), "dhcp_vendor": defaultdict(set), "dhcp_host": defaultdict(set),
          "server": defaultdict(set)}
    mac_of_ip = defaultdict(set)
    dhcp_by_mac = defaultdict(lambda: {"vendor": set(), "host": set()})
    ip_of_mac = defaultdict(set)
    for line in p.stdout.splitlines():
        c = line.split("\t")
        c += [""] * (len(FIELDS) - len(c))
        d = dict(zip(FIELDS, c))
        src = d["ip.src"] or d["ipv6.src"]
        if d["http.user_agent"] and src:
            ua = d["http.user_agent"]
            if ua not in ev["ua"][src]:
                ev["ua"][src].append(ua)
        if d["http.server"]:
            ev["server"][src].add(d["http.server"])
        if d["tcp.flags"] and src and d["eth.src"]:
            mac_of_ip[src].add(d["eth.src"])
        mac = d["dhcp.hw.mac_addr"]
        # option 60 / 12 only from the client's own messages (Discover, Request, Inform): a server's
        # Offer/Ack carries the client's MAC in chaddr and may carry the server's vendor class
        if mac and d["dhcp.option.dhcp"] in ("1", "3", "8"):
            if d["dhcp.option.vendor_class_id"]:
                dhcp_by_mac[mac]["vendor"].add(d["dhcp.option.vendor_class_id"])
            if d["dhcp.option.hostname"]:
                dhcp_by_mac[mac]["host"].add(d["dhcp.option.hostname"])
            for k in ("dhcp.option.requested_ip_address", "dhcp.ip.your"):
                if d[k] and d[k] != "0.0.0.0":
                    ip_of_mac[mac].add(d[k])
        if d["dhcpv6.vendorclass.data"] and src:
            ev["dhcp_vendor"][src].add(d["dhcpv6.vendorclass.data"])
    # join DHCP evidence to addresses: leased/requested IP, or the MAC seen on SYNs
    for mac, v in dhcp_by_mac.items():
        # the leased / requested address; failing that, the one address this MAC sent SYNs from
        # (a MAC seen with several source addresses is a router or an AP bridging others' traffic)
        ips = set(ip_of_mac.get(mac, set()))
        if not ips:
            from_mac = {ip for ip, macs in mac_of_ip.items() if mac in macs}
            if len(from_mac) == 1:
                ips = from_mac
        for ip in ips:
            ev["dhcp_vendor"][ip] |= v["vendor"]
            ev["dhcp_host"][ip] |= v["host"]
    out = {k: {ip: sorted(v) if isinstance(v, set) else v for ip, v in m.items() if v}
           for k, m in ev.items()}
    out["macs"] = {ip: sorted(m) for ip, m in mac_of_ip.items()}
    return out, p.returncode

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=os.path.join(os.path.dirname(__file__), "../../../shared/corpus"))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "../work/evidence.jsonl"))
    a = ap.parse_args()
    corpus = os.path.abspath(a.corpus)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(corpus, "INDEX.tsv"))][1:]
    with open(a.out, "w") as fo:
        for i, r in enumerate(rows):
            path = r[0]
            try:
                ev, rc = run(os.path.join(corpus, path))
            except Exception as e:  # noqa
                ev, rc = {}, str(e)
            ev["path"] = path
            ev["rc"] = rc
            fo.write(json.dumps(ev) + "\n")
            if i % 100 == 0:
                print(i, path, file=sys.stderr, flush=True)

if __name__ == "__main__":
    main()
