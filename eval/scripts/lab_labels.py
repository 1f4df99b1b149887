#!/usr/bin/env python3
"""Labels of our own Linux captures (eval/data/lab/<kernel>/manifest.jsonl, made by netlab.py):
the client of every variant is Linux <kernel>; variants with Android's documented TCP buffer
sizes (net.tcp.buffersize.*) are labelled Android, marked 'emulated' (a real upstream kernel
configured like Android, not an Android device). Split: by kernel (one boot = one host):
6.12 held out, 5.10 / 6.1 / 6.18 train.
Usage: lab_labels.py [LABDIR] > labels/lab_labels.tsv
"""
import json, os, sys
HERE = os.path.dirname(os.path.abspath(__file__))
LAB = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../data/lab")
HELD = ("6.12",)
print("path\tsrc\tlabel\tfamily\tevidence\tgroup\tsyns\tsplit")
for k in sorted(os.listdir(LAB)):
    m = os.path.join(LAB, k, "manifest.jsonl")
    if not os.path.isfile(m): continue
    for line in open(m):
        v = json.loads(line)
        if v["lo"]:
            src = "127.0.0.1" if v["ipv"] == 4 else "::1"
        else:
            src = "10.99.0.1" if v["ipv"] == 4 else "fd99::1"
        ok = all(a["ok"] for a in v["applied"])
        if not ok: continue
        android = v["tag"].startswith("rmem-android")
        kv = ".".join(k.split(".")[:2])
        label = "Android (emulated)" if android else "Linux"
        fam = "android" if android else "linux"
        ev = (f"lab: Linux {k} netns veth mtu {v['mtu']} ipv{v['ipv']} sysctl {' '.join(v['sysctl']) or 'default'}"
              + (f" SO_RCVBUF {v['rcvbuf']}" if v["rcvbuf"] else "") + ("; emulated Android buffer sizes" if android else ""))
        split = "heldout" if kv in HELD else "train"
        print("\t".join([f"lab:{k}/{v['pcap']}", src, label, fam, ev, f"lab/{k}", "3", split]))
