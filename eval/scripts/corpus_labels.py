#!/usr/bin/env python3
"""Label SYN sources of the shared corpus from evidence independent of TCP/IP: HTTP
User-Agent of the source's own requests, DHCP vendor class / hostname (joined by MAC),
the INDEX `gt` column / README notes (IoT Sentinel: the device's address only). Writes
eval/labels/corpus_labels.tsv: path, src, label, family, evidence, group, split.

Rules (in this order; the first that yields a family wins):
 1. ground truth of the file (GT table below, from INDEX.tsv `gt` + README; IoT Sentinel by device address);
 2. DHCP vendor class: "MSFT 5.0" -> Windows, "android-dhcp-N" -> Android N, "dhcpcd-*:Linux" -> Linux,
    "udhcp *" -> embedded Linux (busybox) — only when the MAC of the DHCP client sent the SYNs;
 3. HTTP User-Agents of the source (OS token: Android, CrOS, iPhone/iPad, Macintosh/Mac OS X/darwin,
    Windows NT x.y or Windows system agents with a version, X11 Linux / linux-gnu / Ubuntu / APT);
    agents without an OS token (curl/x.y, Go-http-client, Java, Wget without platform...) say nothing.
    An "X11; Linux" agent is overridden by an Android agent or DHCP Android evidence of the same source
    (Chrome's desktop mode on Android sends X11 Linux).
 Sources whose evidence names two families (a NAT, a proxy, a VM host) are dropped and listed as conflicts.
 Sources flagged as scanners/tools by the gt are not labelled (they are tools, not OS stacks).
Split: by group, stratified per family, deterministic (sha1 of the group); group = the IoT Sentinel
device folder, else the capture file (with known duplicate traces merged), so one host is never on
both sides.
"""
import collections, hashlib, json, os, re, sys

HERE = os.path.dirname(os.path.abspath(__file__))
EV = os.path.join(HERE, "../work/evidence.jsonl")
SYNS = os.path.join(HERE, "../work/corpus_syns.jsonl")
OUT = os.path.join(HERE, "../labels/corpus_labels.tsv")

# from INDEX.tsv gt column and README (hosts named in scripts/db-coverage.py GT_HOSTS); tools excluded
GT = {
    "arkime/fbzero-android.pcap": {"192.168.1.111": ("Android", "android")},
    "chrissanders-packets/activeosfingerprinting.pcapng": {"172.16.16.150": ("Windows", "windows")},
    "huginn-net/macos_tcp_flags.pcap": {"172.16.5.16": ("macOS", "apple")},
    "ndpi/android.pcap": {"192.168.2.16": ("Android", "android")},
    "ndpi/googledns_android10.pcap": {"192.168.1.159": ("Android 10", "android")},
    "ndpi/windowsupdate_over_http.pcap": {"10.0.2.15": ("Windows", "windows")},
    "pypi-pypacker/linuxcc.pcap": {"10.50.247.1": ("Linux", "linux")},
    "zeek/dce-rpc__cs_window7-join_stream092.pcap": {"192.168.122.145": ("Windows 7/8", "windows")},
    "zeek/ldap__ctu-sme-11-win7ad-1-ldap-tcp-50041.pcap": {
        "192.168.1.105": ("Windows 7/8", "windows"), "192.168.1.107": ("Windows 7/8", "windows"),
        "192.168.1.108": ("Windows 7/8", "windows")},
    "zeek/rfb__vnc-mac-to-linux.pcap": {"192.168.2.115": ("macOS", "apple"), "192.168.2.125": ("Linux", "linux")},
}
IOT = {"Aria": "10.10.10.123", "D-LinkCam": "10.10.10.37", "D-LinkDoorSensor": "10.10.10.87",
       "D-LinkSiren": "10.10.10.39", "EdimaxPlug1101W": "10.10.10.186", "EdnetGateway": "10.10.10.149",
       "HueBridge": "10.10.10.6", "TP-LinkPlugHS100": "10.10.10.228", "WeMoInsightSwitch": "10.10.10.158",
       "WeMoLink": "10.10.10.144", "Withings": "10.10.10.21"}
# traces present twice in the corpus (same capture under two names): one group
DUP = {"chrissanders-packets/synscan.pcapng": "ndpi/synscan.pcap"}

WIN_NT = {"10.0": "Windows 10/11", "6.3": "Windows 7/8", "6.2": "Windows 7/8", "6.1": "Windows 7/8",
          "6.0": "Windows 7/8", "5.1": "Windows XP", "5.2": "Windows XP"}

def ua_os(ua):
    u = ua
    m = re.search(r"Android[ /]?(\d+)?", u)
    if m and "Like-Android" not in u:
        return ("Android" + (" " + m.group(1) if m.group(1) else ""), "android", "ua")
    if "CrOS" in u:
        return ("ChromeOS", "linux", "ua")
    if re.search(r"iPhone|iPad|iPod|CPU OS \d+_|iOS/\d", u):
        return ("iOS", "apple", "ua")
    if re.search(r"Macintosh|Mac OS X|apple-darwin|\(darwin|com\.apple\.|CFNetwork/", u):
        return ("macOS" if re.search(r"Macintosh|Mac OS X|apple-darwin|\(darwin", u) else "Apple", "apple", "ua")
    m = re.search(r"Windows NT (\d+\.\d+)", u) or re.search(
        r"(?:Microsoft-CryptoAPI|Microsoft-Delivery-Optimization|Microsoft-WebDAV-MiniRedir|Windows-Update-Agent|Microsoft BITS)/(\d+\.\d+)", u)
    if m:
        return (WIN_NT.get(m.group(1), "Windows"), "windows", "ua")
    if re.search(r"Windows NT|Microsoft NCSI|Microsoft WinRM Client|WinHTTP|Windows; U; Win", u):
        return ("Windows", "windows", "ua")
    if re.search(r"X11; (?:U; )?(?:Ubuntu; )?Linux|linux-gnu|Ubuntu|Fedora|Debian APT|redhat-linux|\(Linux [0-9]", u):
        return ("Linux", "linux", "ua-x11" if "X11" in u else "ua")
    return None

def dhcp_os(vendors, hosts):
    for v in vendors:
        m = re.match(r"android-dhcp-(\d+)", v)
        if m: return ("Android " + m.group(1), "android", "dhcp60:" + v)
        if v.startswith("MSFT"): return ("Windows", "windows", "dhcp60:" + v)
        if v.startswith("dhcpcd") and "Linux" in v: return ("Linux", "linux", "dhcp60:" + v)
        if v.startswith("udhcp"): return ("Embedded Linux (busybox udhcp)", "embedded", "dhcp60:" + v)
    for h in hosts:
        if re.match(r"android-[0-9a-f]{8,}", h, re.I): return ("Android", "android", "dhcp12:" + h)
        if re.match(r"(DESKTOP|LAPTOP)-[A-Z0-9]{7}$", h): return ("Windows 10/11", "windows", "dhcp12:" + h)
    return None

def split_of(group, family, groups_by_fam):
    gs = sorted(groups_by_fam[family], key=lambda g: hashlib.sha1(g.encode()).hexdigest())
    n_hold = max(1, round(len(gs) * 0.35)) if len(gs) >= 2 else 0
    return "heldout" if group in gs[:n_hold] else "train"

def main():
    syn_srcs = collections.defaultdict(collections.Counter)
    for l in open(SYNS):
        d = json.loads(l)
        syn_srcs[d["file"]][d["rec"]["src"]] += 1
    rows, conflicts = [], []
    for l in open(EV):
        ev = json.loads(l)
        path = ev["path"]
        parts = path.split("/")
        srcs = syn_srcs.get(path, {})
        if "synthetic" in path:  # crafted traffic (arkime/*_synthetic.pcap: scapy SYNs, generated DHCP)
            continue
        for src in srcs:
            cands = []
            if path in GT and src in GT[path]:
                lab, fam = GT[path][src]; cands.append((lab, fam, "gt"))
            if parts[0] == "iot-sentinel" and IOT.get(parts[1]) == src:
                cands.append(("Embedded IoT: " + parts[1], "embedded", "gt:iot-sentinel"))
            d = dhcp_os(ev.get("dhcp_vendor", {}).get(src, []), ev.get("dhcp_host", {}).get(src, []))
            uas = [x for x in (ua_os(u) for u in ev.get("ua", {}).get(src, [])) if x]
            if cands:
                lab, fam, why = cands[0]
                # a disagreeing independent source is reported, gt wins
                others = {x[1] for x in uas + ([d] if d else [])} - {fam}
                if others: why += ";disagree:" + ",".join(sorted(others))
            elif d or uas:
                fams = collections.Counter(x[1] for x in uas)
                if d:
                    lab, fam, why = d
                    bad = set(fams) - {fam} - ({"linux"} if fam == "android" else set())
                    if bad:
                        conflicts.append((path, src, "dhcp=" + fam + " ua=" + ",".join(sorted(fams))))
                        continue
                else:
                    fs = set(fams)
                    if fs == {"android", "linux"} and any(x[1] == "android" for x in uas):
                        fs = {"android"}
                    if len(fs) > 1:
                        conflicts.append((path, src, "ua=" + ",".join(sorted(fams))))
                        continue
                    fam = fs.pop()
                    labs = collections.Counter(x[0] for x in uas if x[1] == fam)
                    # most specific label: prefer one with a version
                    lab = sorted(labs, key=lambda s: (-(" " in s or "/" in s), -labs[s]))[0]
                    why = "ua"
                    if any(x[2] == "ua-x11" for x in uas if x[1] == "linux") and fam == "linux":
                        why = "ua-x11"
                why += "|" + " || ".join(ev.get("ua", {}).get(src, []))[:300].replace("\t", " ")
            else:
                continue
            group = DUP.get(path, path)
            if parts[0] == "iot-sentinel":
                group = "iot-sentinel/" + parts[1]
            rows.append([path, src, lab, fam, why, group, srcs[src]])
    # groups: union of files that share a (source address, family) pair or the same content (sha):
    # the same machine recurs under several file names (zeek's Wget/darwin host in ~12 traces)
    sha = {}
    for l in open(os.path.join(HERE, "../../../shared/corpus/INDEX.tsv")).readlines()[1:]:
        c = l.rstrip("\n").split("\t"); sha[c[0]] = c[-1]
    parent = {}
    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]; x = parent[x]
        return x
    def union(a, b): parent[find(a)] = find(b)
    for r in rows:
        union(r[5], "host:" + r[1] + "/" + r[3]); union(r[5], "sha:" + sha.get(r[0], r[0]))
    names = collections.defaultdict(list)
    for r in rows:
        names[find(r[5])].append(r[5])
    for r in rows:
        r[5] = sorted(names[find(r[5])])[0]
    # each group gets one split, stratified by its most common family
    gfam = collections.defaultdict(collections.Counter)
    for r in rows:
        gfam[r[5]][r[3]] += 1
    by_fam = collections.defaultdict(set)
    for g, c in gfam.items():
        by_fam[c.most_common(1)[0][0]].add(g)
    prim = {g: c.most_common(1)[0][0] for g, c in gfam.items()}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("path\tsrc\tlabel\tfamily\tevidence\tgroup\tsyns\tsplit\n")
        for r in sorted(rows):
            r.append(split_of(r[5], prim[r[5]], by_fam))
            f.write("\t".join(map(str, r)) + "\n")
    with open(OUT.replace(".tsv", "_conflicts.tsv"), "w") as f:
        f.write("path\tsrc\twhy\n")
        for c in sorted(conflicts):
            f.write("\t".join(c) + "\n")
    c = collections.Counter((r[3], r[7]) for r in rows)
    print(sorted(c.items()), len(conflicts), "conflicts", file=sys.stderr)

if __name__ == "__main__":
    main()
