#!/usr/bin/env python3
"""AUGMENTATION, marked as such: documented middlebox rewrites applied to clean real (corpus,
lab) and synthetic SYNs. Each input SYN of a labelled host yields K rewritten copies, each with
1-3 rewrites drawn from:
  nop_ts     timestamp option overwritten with NOPs in place (Linux mss,sok,ts,nop,ws ->
             mss,sok,nop*11,ws; Apple mss,nop,ws,nop,nop,ts,sok,eol+1 -> mss,nop,ws,nop*12,sok,eol+1)
  strip_ts   timestamp option removed, options re-padded with NOPs (header shrinks)
  ts_zero    TSval overwritten with 0
  mss_clamp  MSS lowered to 1360-1400 (also 1412/1420/1440/1452: PPPoE, tunnels); window untouched
  ws_strip   window-scale option overwritten with NOPs
  ws_rewrite window-scale value rewritten
  win_rewrite window rewritten (65535, 65280, 16384, 8192, or halved)
  ttl_reset  TTL set to 64, 128 or 255 (less 0-3 hops after the box)
  ecn_bleach ECE/CWR flags and the ECN field cleared
  id_rewrite IP ID replaced by a random non-zero value
  df_clear   DF cleared
The copy keeps its host's address, label and split (the host is the group), and its rewrites.
Reads extract.py output (JSONL) + a labels TSV; writes OUT/<name>.pcap and a labels TSV with
path 'aug:<name>.pcap' and evidence 'augmented:<rewrites>; <original evidence>'.
Usage: augment.py --syns S.jsonl --labels L.tsv --name NAME --out DIR --labels-out OUT.tsv [--k 2] [--seed N]
"""
import argparse, csv, json, os, random, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from synlib import build, spec_from_rec, PcapWriter, opt_bytes

W = {"nop_ts": 30, "strip_ts": 6, "ts_zero": 4, "mss_clamp": 30, "ws_strip": 6, "ws_rewrite": 5,
     "win_rewrite": 7, "ttl_reset": 12, "ecn_bleach": 5, "id_rewrite": 5, "df_clear": 3}

def pad_opts(opts):
    n = len(opt_bytes(opts))
    return opts + [("nop",)] * ((4 - n % 4) % 4)

def apply(spec, kind, R):
    o = spec["opts"]
    has = {x[0] for x in o}
    if kind == "nop_ts":
        if "ts" not in has: return False
        spec["opts"] = sum(([("nop",)] * 10 if x[0] == "ts" else [x] for x in o), [])
    elif kind == "strip_ts":
        if "ts" not in has: return False
        spec["opts"] = pad_opts([x for x in o if x[0] != "ts"])
    elif kind == "ts_zero":
        if "ts" not in has: return False
        spec["opts"] = [("ts", (0, x[1][1])) if x[0] == "ts" else x for x in o]
    elif kind == "mss_clamp":
        c = R.choice(list(range(1360, 1401, 4)) + [1380, 1400, 1412, 1420, 1440, 1452])
        if "mss" not in has or all(x[1] <= c for x in o if x[0] == "mss"): return False
        spec["opts"] = [("mss", min(x[1], c)) if x[0] == "mss" else x for x in o]
    elif kind == "ws_strip":
        if "ws" not in has: return False
        spec["opts"] = sum(([("nop",)] * 3 if x[0] == "ws" else [x] for x in o), [])
    elif kind == "ws_rewrite":
        if "ws" not in has: return False
        v = R.choice([0, 2, 4, 6, 7, 8, 9, 10, 14])
        spec["opts"] = [("ws", v) if x[0] == "ws" else x for x in o]
    elif kind == "win_rewrite":
        spec["window"] = R.choice([65535, 65280, 16384, 8192, max(1, spec["window"] // 2)])
    elif kind == "ttl_reset":
        spec["ttl"] = R.choice([64, 128, 255]) - R.randint(0, 3)
    elif kind == "ecn_bleach":
        if not (spec["flags"] & 0xC0 or spec["tos"] & 3): return False
        spec["flags"] &= ~0xC0; spec["tos"] &= ~3
    elif kind == "id_rewrite":
        if spec["ipv"] != 4: return False
        spec["ip_id"] = R.randint(1, 65535)
    elif kind == "df_clear":
        if spec["ipv"] != 4 or not spec["df"]: return False
        spec["df"] = False
    return True

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--syns", required=True); ap.add_argument("--labels", required=True)
    ap.add_argument("--name", required=True); ap.add_argument("--out", required=True)
    ap.add_argument("--labels-out", required=True); ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7); ap.add_argument("--max-per-host", type=int, default=6)
    a = ap.parse_args()
    R = random.Random(a.seed)
    labs = {}
    with open(a.labels) as f:
        for r in csv.DictReader(f, delimiter="\t"):
            labs[(r["path"], r["src"])] = r
    os.makedirs(a.out, exist_ok=True)
    pw = PcapWriter(os.path.join(a.out, a.name + ".pcap"))
    side = os.path.join(a.out, a.name + ".rewrites.jsonl")
    if os.path.exists(side): os.remove(side)
    seen = {}
    hostix, newsrc = {}, {}
    out_rows = {}
    for line in open(a.syns):
        d = json.loads(line)
        key = (d["file"], d["rec"]["src"])
        if key not in labs: continue
        if "scan_probe" in (d["rec"].get("reasons") or []): continue
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > a.max_per_host: continue
        for _ in range(a.k):
            spec = spec_from_rec(d["rec"])
            # every original (file, host) gets its own address in the augmented capture
            hix = hostix.setdefault(key, len(hostix) + 1)
            spec["src"] = (f"10.{128 + (hix >> 16)}.{(hix >> 8) & 255}.{hix & 255}" if spec["ipv"] == 4
                           else f"fd77::{hix:x}")
            spec["dst"] = "10.250.0.1" if spec["ipv"] == 4 else "fd00:250::1"
            newsrc[key] = spec["src"]
            kinds = []
            for _ in range(R.choice([1, 1, 2, 2, 3])):
                ks = [k for k in W if k not in kinds]
                k = R.choices(ks, [W[x] for x in ks])[0]
                if apply(spec, k, R): kinds.append(k)
            if not kinds: continue
            try:
                pw.write(build(spec))
            except Exception as e:  # noqa: malformed originals we cannot rebuild
                continue
            # one label row per (host, rewrite set); the record's rewrites are re-derived at eval time
            # from the per-packet sidecar below
            out_rows.setdefault(key, set()).update(kinds)
            with open(os.path.join(a.out, a.name + ".rewrites.jsonl"), "a") as sf:
                sf.write(json.dumps({"src": spec["src"], "sport": spec["sport"], "dport": spec["dport"],
                                     "orig_file": d["file"], "rewrites": kinds}) + "\n")
    pw.close()
    with open(a.labels_out, "w") as f:
        f.write("path\tsrc\tlabel\tfamily\tevidence\tgroup\tsyns\tsplit\n")
        for key, kinds in out_rows.items():
            r = labs[key]
            f.write("\t".join(["aug:" + a.name + ".pcap", newsrc[key], r["label"], r["family"],
                               "augmented:" + ",".join(sorted(kinds)) + "; " + r["evidence"][:200],
                               r["group"], r["syns"], r["split"]]) + "\n")

if __name__ == "__main__":
    main()
